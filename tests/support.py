"""Helpers shared by tests: an engine-event recorder and a wait_until for pilots (no bare sleeps)."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Callable
from typing import Any


class Recorder:
    """An `emit` callable that keeps every engine event for a test to wait on."""

    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue()

    def __call__(self, event: Any) -> None:
        self.q.put(event)

    def until(self, kinds: tuple[type, ...], timeout: float = 180) -> list[Any]:
        """Events up to and including the first of one of `kinds`."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.q.get(timeout=max(0.1, deadline - time.monotonic()))
            seen.append(event)
            if isinstance(event, kinds):
                return seen


async def wait_until(
    pilot: Any, predicate: Callable[[], bool], timeout: float = 60.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


def _engine_failure(app: Any) -> str:
    """The failure the status line shows, if the engine failed (so a wait stops at once)."""
    try:
        from vllm_tui.widgets.status_line import StatusLine

        status = app.chat.query_one(StatusLine)
    except Exception:  # noqa: BLE001 - not a vllm-tui app, or not mounted yet
        return ""
    return status.stage if status.state == "failed" and getattr(app, "_fail_fast", True) else ""
