"""Keeps the garbage collector's full passes short while an answer streams.

CPython's full (generation 2) collection walks every object it tracks. In the chat app that was ~70 ms
a pass (Textual, the app's screens, the chat shown), and one fell about every second while an answer
streamed at 1,000 tok/s: the worst frames of the stream. What is alive at a quiet moment (the engine
just ready, a chat just opened, a turn just finished) mostly stays alive while the chat is shown, so
`settle()` moves it out of the collector's passes with `gc.freeze()`; passes during the next answer
walk only what that answer created.

Each settle unfreezes and collects first, so what became garbage since the last one (a chat closed,
an answer deleted) is freed then rather than kept.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect everything, then leave what survived out of later collections until the next settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
