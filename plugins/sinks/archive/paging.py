"""Lists longer than `site.PAGE_SIZE` are cut into pages, each with links to the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pipeline.site import PAGE_SIZE

T = TypeVar("T")
WINDOW = 2  # page links shown either side of the current one (the first and last always are)


@dataclass(frozen=True)
class Pager:
    number: int
    count: int
    links: list[tuple[int, str]]  # (page number, site path), with 0 for a gap ("…")
    previous: str  # site path, "" on the first page
    next: str  # "" on the last


def chunks(entries: Sequence[T], size: int = PAGE_SIZE) -> list[Sequence[T]]:
    """`entries` in pages of `size`; an empty list is one empty page."""
    return [entries[start:start + size] for start in range(0, len(entries), size)] or [entries[:0]]


def pager(number: int, count: int, path_of: Callable[[int], str]) -> Pager:
    near = {1, count, *range(max(1, number - WINDOW), min(count, number + WINDOW) + 1)}
    shown = sorted(near | {n + 1 for n in near if n + 2 in near})  # a gap of one page: its link, no wider than "…"
    links: list[tuple[int, str]] = []
    for n in shown:
        if links and n > links[-1][0] + 1:
            links.append((0, ""))
        links.append((n, path_of(n)))
    return Pager(number, count, links, path_of(number - 1) if number > 1 else "",
                 path_of(number + 1) if number < count else "")
