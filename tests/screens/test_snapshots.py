"""How the screens look at 80×24 (the sidebar hidden there): a fixed conversation from the store,
a selected message, help, parallel samples and settings. The engine is the shared real one; its
figures on the status line are replaced by fixed ones so nothing depends on timing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig
from vllm_tui.engine.events import AnswerStats, EngineReady
from vllm_tui.store import ChatStore
from vllm_tui.widgets.prompt_input import PromptInput

pytestmark = pytest.mark.engine

SIZE = (80, 24)
ANSWER = (
    'Here is the classic first program:\n\n```python\nprint("Hello, world!")\n```\n\n'
    "Run it with `python hello.py`."
)


def _stats(tokens: int) -> AnswerStats:
    return AnswerStats(
        prompt_tokens=12,
        completion_tokens=tokens,
        reasoning_tokens=9,
        time_to_first_token=0.05,
        decode_seconds=tokens / 50,
    )


def make_app(engine: Any, log_path: Path, store_path: Path, samples: int = 1) -> VllmTuiApp:
    with ChatStore.open(store_path) as store:
        chat = store.create_chat().id
        store.add_user_message(chat, "Write hello world in Python")
        row = store.begin_answer(chat, "tiny-r1", "r1-distill-qwen-1.5b")
        store.finish_answer(row, "complete", _stats(40), content=ANSWER, thinking="The user wants code.")
        store.add_user_message(chat, "And in C?")
        for i in range(samples):
            row = store.begin_answer(chat, "tiny-r1", "r1-distill-qwen-1.5b", sample=i)
            text = f'Sample {i + 1}: use `printf("Hello\\n");` in `main`.' if samples > 1 else "In C you"
            store.finish_answer(
                row, "stopped" if samples == 1 else "complete", _stats(20 + i), content=text, thinking="C."
            )
    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    profile.sampling.max_tokens = 4096
    return VllmTuiApp(cfg, profile, log_path, engine=engine, store_path=store_path)


async def _ready(pilot: Pilot[Any]) -> None:
    app: VllmTuiApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
    await wait_until(pilot, lambda: len(app.chat.log_items()) >= 4, what="chat restored")
    app.chat.apply_engine_event(EngineReady("tiny-r1", 2048, 21.0, kv_cache_tokens=1_048_576))
    app.query_one(PromptInput).cursor_blink = False
    await pilot.pause(0.3)


@pytest.fixture(autouse=True)
def _outside_tmux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)  # no escape-time toast in the pictures


def test_chat_with_a_selected_message(
    app_engine: Any, log_path: Path, tmp_path: Path, snap_compare: Any
) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("ctrl+up", "up")  # the second prompt's answer, then the prompt itself
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help(app_engine: Any, log_path: Path, tmp_path: Path, snap_compare: Any) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("f1")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_samples(app_engine: Any, log_path: Path, tmp_path: Path, snap_compare: Any) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", samples=3)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("ctrl+up", "right")  # select the samples, show the second
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_settings_in_high_contrast(
    app_engine: Any, log_path: Path, tmp_path: Path, snap_compare: Any
) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")

    async def run_before(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        app.config.ui.theme = "high-contrast"  # so switching is not saved over the user's config
        app.theme = "high-contrast"
        await pilot.press("f2")
        await pilot.pause(0.5)
        for widget in app.screen.query("Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
