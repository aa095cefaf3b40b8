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


def make_engineless_app(
    tmp_path: Any, config: Any = None, profile: Any = None, config_path: Any = None
) -> Any:
    """The app without a usable engine: its model is missing, so the load fails at once (and the
    failure does not fail the test). Its store is tmp_path/chats.sqlite3, as a test may fill it."""
    from vllm_tui.app import VllmTuiApp
    from vllm_tui.config import AppConfig, EngineSettings, Profile

    profile = profile or Profile(engine=EngineSettings(model=str(tmp_path / "no-model")))
    app = VllmTuiApp(
        config or AppConfig(),
        profile,
        tmp_path / "log.txt",
        store_path=tmp_path / "chats.sqlite3",
        config_path=config_path,
    )
    app._fail_fast = False
    return app


def make_app(engine: Any, log_path: Any, store: Any, max_tokens: int = 60) -> Any:
    """An app lent the shared engine, with its own store, R1 defaults and `max_tokens`."""
    import copy

    from vllm_tui.app import VllmTuiApp
    from vllm_tui.config import AppConfig

    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    profile.engine = copy.deepcopy(engine.settings)
    profile.sampling.max_tokens = max_tokens
    return VllmTuiApp(cfg, profile, log_path, engine=engine, store_path=store)


async def send_prompt(pilot: Any, text: str) -> None:
    """Type `text` into the prompt and press enter, as a user would."""
    from vllm_tui.widgets.prompt_input import PromptInput

    prompt = pilot.app.query_one(PromptInput)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")
