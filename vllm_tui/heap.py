"""Keeps the garbage collector's full passes short while an answer streams.

CPython's full (generation 2) collection walks every object it tracks. In the chat app that was ~70 ms
a pass (Textual, the app's screens, the chat shown), and one fell about every second while an answer
streamed at 1,000 tok/s: the worst frames of the stream. What is alive at a quiet moment (the engine
just ready, a chat just opened, a turn just finished) mostly stays alive while the chat is shown, so
`settle()` moves it out of the collector's passes with `gc.freeze()`; passes during the next answer
walk only what that answer created.

Each settle unfreezes and collects first, so what became garbage since the last one (a chat closed,
an answer deleted) is freed then rather than kept.

A long answer grows its own long-lived set (the rendered lines of its closed chunks, each a `Strip`
with its caches), and full passes fall at a fixed rate of young passes, so each one walked more than
the last: at 5,000 tok/s a 30,000-token answer's passes went from 7 to 50-70 ms, the main reason its
last tenth cost more per token than its first. `tidy()`, called when a chunk of the answer is full,
collects what is not frozen and freezes what survived, so later passes walk only what came after.
What it freezes that dies later in a cycle (the lines on screen at that moment, ~1,200 objects) waits
for the next `settle()`, at the end of the turn.
"""

from __future__ import annotations

import gc
from time import monotonic

__all__ = ["configure", "settle", "tidy"]

YOUNG_THRESHOLD = 10_000
"""Container allocations between two young collections (CPython's default is 700); see `configure`."""

TIDY_INTERVAL = 1.0
"""Seconds between two tidies at most: with parallel samples, chunks fill several times a second."""

_last_tidy = 0.0


def configure() -> None:
    """Collect the young generation every YOUNG_THRESHOLD allocations instead of every 700.

    While an answer streams, the UI creates tens of thousands of container objects a second (each
    frame's Strips with their caches, Segments), most of them gone within the frame. At 700 that was
    ~60 young passes a second, and what lived across two of them (a frame's lines live ~25 ms) moved
    on to the older generations, so a full pass (10-29 ms, the stream's worst frames) came every second
    or two. At 10,000 a young pass comes about three times a second (~2 ms each, the same total) and
    no full pass fell in an 8 s stream of four samples (`bench.chat_load`); CPU and lag p99 were lower
    in 6 of 9 alternating runs.
    """
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settle() -> None:
    """Collect everything, then leave what survived out of later collections until the next settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def tidy() -> None:
    """Collect what is not frozen, then freeze what survived (at most once per TIDY_INTERVAL).

    Cheaper than `settle()`: frozen objects are not walked, so the pass costs what was created since
    the last freeze (1-15 ms measured), not the whole app (45-86 ms)."""
    global _last_tidy
    now = monotonic()
    if now - _last_tidy < TIDY_INTERVAL:
        return
    _last_tidy = now
    gc.collect()
    gc.freeze()
