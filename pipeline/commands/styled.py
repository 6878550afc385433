"""Lines of styled text (the run table): through Rich where it would style them, as plain text elsewhere.

A scheduled refresh writes its table to a log or a pipe, where Rich prints no colour: there it is written
without loading Rich (15 ms of a run in which every feed answers 304). Spans are text and a Rich style, never
markup, so nothing a feed or a plugin wrote can style the output or escape its brackets.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

Span = tuple[str, "str | None"]  # text, and the Rich style it is printed in on a terminal ("red"; None: none)

# C0 and C1 control characters but tab and line feed, and DEL: a plugin's message cannot move the cursor or
# rewrite a line of the terminal or of a log someone reads with `cat`.
_CONTROLS = dict.fromkeys([*range(0, 9), *range(11, 32), *range(127, 160)])


def styles(stream: TextIO) -> bool:
    """Whether Rich would style output to `stream`: its own rule (TTY_COMPATIBLE, then FORCE_COLOR, then
    whether the stream is a terminal)."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    if (force_color := os.environ.get("FORCE_COLOR")) is not None:
        return force_color != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or closed
        return False


def print_lines(lines: list[list[Span]], stderr: bool = False) -> None:
    """Print each line of spans on standard output (or error), each on one line however long."""
    stream = sys.stderr if stderr else sys.stdout
    if not styles(stream):
        stream.write("".join("".join(text for text, _ in line).translate(_CONTROLS) + "\n" for line in lines))
        return
    from rich.text import Text

    from pipeline.commands.core import _console

    console = _console(stderr)
    for line in lines:
        console.print(Text.assemble(*((text.translate(_CONTROLS), style) for text, style in line)), soft_wrap=True)
