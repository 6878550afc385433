"""Keeping a long send's memory flat.

glibc gives each thread that allocates its own malloc arena, and memory freed in one is seldom
handed back to the system. A send has a dozen threads each building and dropping large request
bodies, which with one arena per thread would add about 20 MB of peak RSS per 100,000 recipients
for nothing. Two arenas (what MALLOC_ARENA_MAX=2 sets) cost no measurable speed here.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas() -> bool:
    """Ask glibc for at most two arenas, unless MALLOC_ARENA_MAX says otherwise; False where there is no glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:  # glibc's soname first: find_library runs `ldconfig -p`, a few milliseconds on every command
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        from ctypes.util import find_library  # here: it loads subprocess and tempfile, 10 ms on every command

        try:
            libc = ctypes.CDLL(find_library("c"))
        except (OSError, TypeError):
            return False
    try:
        return bool(libc.mallopt(M_ARENA_MAX, ARENAS))
    except AttributeError:  # not glibc (musl, macOS): nothing to tune
        return False
