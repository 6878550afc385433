"""A content pipeline and newsletter engine: sources -> transforms -> sinks, on pluggy."""

from pipeline.hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
