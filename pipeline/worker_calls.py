"""How a call runs in a worker process: with the cycle collector paused until it ends.

Parsing a feed or transforming a chunk makes hundreds of thousands of short-lived containers and
almost no reference cycles (none in the bench's 10,000 items), so the collector, which runs every
700 allocations and scans what is alive, only costs time there (see bench/README.md, "Past rounds").
Paused for the call, then resumed: what the call left in cycles is found by the first collection
after it, which scans only what the call kept. A worker's memory is still bounded by one call.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any


def call_with_gc_paused(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` with automatic garbage collection off, then on again (if it was on)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        return fn(*args)
    finally:
        if was_on:
            gc.enable()
