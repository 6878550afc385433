"""The `archive` sink: a static web archive of every issue (out_dir/archive)."""

from __future__ import annotations

from collections.abc import Callable

from pipeline import hookimpl
from pipeline.components import Sink
from plugins.sinks.archive.sink import ArchiveSink

__all__ = ["ArchiveSink"]


@hookimpl
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    register(ArchiveSink)
