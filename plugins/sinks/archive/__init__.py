"""The `archive` sink: the readers' site (out_dir), see sink.py."""

from __future__ import annotations

from collections.abc import Callable

from pipeline import hookimpl
from pipeline.components import Sink
from plugins.sinks.archive.sink import ArchiveSink

__all__ = ["ArchiveSink"]


@hookimpl
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    register(ArchiveSink)
