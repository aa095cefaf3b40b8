"""Bad input and untrusted output through the real widgets, on the shared real engine.

Huge pastes, empty prompts, prompts longer than the context, a resize storm while streaming, ctrl+c,
and model text full of terminal escapes and markup: shown literally, never sent to the terminal."""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any

import pytest
from textual import events

from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig
from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.message import AssistantMessage, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput

pytestmark = pytest.mark.engine


def make_app(engine: Any, log_path: Path, tmp_path: Path, max_tokens: int = 40) -> VllmTuiApp:
    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    profile.engine = copy.deepcopy(engine.settings)
    profile.sampling.max_tokens = max_tokens
    return VllmTuiApp(cfg, profile, log_path, engine=engine, store_path=tmp_path / "chats.sqlite3")


async def ready(pilot: Any) -> None:
    await wait_until(pilot, lambda: pilot.app.chat.engine_ready, what="engine ready")


async def test_megabyte_paste_longer_than_context_is_kept_and_not_sent(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path)
    text = ("A pasted log line with some words in it, number 12345.\n" * 19_000)[:1_000_000]
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        prompt = app.query_one(PromptInput)
        prompt.focus()
        prompt.post_message(events.Paste(text))
        # Held aside as one marker line (the TextArea would take minutes to lay out 1 MB), sent in full.
        await wait_until(pilot, lambda: prompt.full_text == text, timeout=30, what="paste applied")
        assert len(prompt.text) < 200
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.query(AssistantMessage)), timeout=60, what="turn shown")
        message = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not message.streaming, timeout=60, what="refused")
        assert message.error == "The conversation is longer than the model's context"
        assert "Nothing was sent" in str(message.query_one(".stats").render())
        assert app.is_running
        # Nothing lost: the whole paste is in the store, beside the refusal.
        assert app.store is not None and app.chat.chat_id is not None
        stored = app.store.messages(app.chat.chat_id)
        assert stored[0].content == text
        assert stored[1].state == "failed" and stored[1].content == ""
        # The next prompt still works (the refused turn did not join the history).
        await wait_until(pilot, lambda: prompt.text == "", what="prompt cleared")
        prompt.insert("hi")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 2, what="second answer")
        second = app.query(AssistantMessage)[1]
        await wait_until(pilot, lambda: not second.streaming, timeout=60, what="second answer done")
        assert second.finish_reason == "length" and second.error is None


@pytest.mark.parametrize("text", ["", " ", "\t\n  \n"])
async def test_empty_and_blank_prompts_send_nothing(
    text: str, app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        prompt = app.query_one(PromptInput)
        prompt.focus()
        prompt.insert(text)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not app.query(UserMessage) and not app.query(AssistantMessage)
        assert prompt.text == text  # whatever was typed stays
        assert app.store is not None and app.store.list_chats() == []


async def test_resize_storm_while_streaming(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path, max_tokens=1200)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        prompt = app.query_one(PromptInput)
        prompt.insert("hi")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.query(AssistantMessage)), what="answer")
        message = app.query_one(AssistantMessage)
        sizes = [(40, 12), (200, 60), (20, 8), (120, 40), (60, 15), (100, 30)]
        n = 0
        while message.streaming and app.is_running and n < 3000:
            await pilot.resize_terminal(*sizes[n % len(sizes)])
            n += 1
            await pilot.pause(0.02)
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.2)
        assert app.is_running and n > 20, "the app died, or the answer ended before the storm began"
        assert message.finish_reason == "length" and message.stats is not None
        assert message.stats.completion_tokens == 1200
        assert message.answer_text.lstrip().startswith("Hello! This tiny scripted model")
        assert app.store is not None and app.chat.chat_id is not None
        assert app.store.messages(app.chat.chat_id)[1].content == message.answer_text


async def test_ctrl_c_action_stops_the_answer_then_quits(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path, max_tokens=1800)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.query_one(PromptInput).insert("long")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and bool(app.query_one(AssistantMessage).answer_text),
            what="streaming",
        )
        message = app.query_one(AssistantMessage)
        await app.run_action("interrupt")  # what the ctrl+c binding calls
        await wait_until(pilot, lambda: not message.streaming, what="stopped")
        assert message.finish_reason == "abort" and app.is_running
        assert app.store is not None and app.chat.chat_id is not None
        stored = app.store.messages(app.chat.chat_id)[1]
        assert stored.state == "stopped" and stored.content == message.answer_text
        app._interrupted_at = 0.0  # type: ignore[attr-defined]  # a later, separate press
        await app.run_action("interrupt")  # idle now: the first press only warns
        assert app.is_running
        await app.run_action("interrupt")  # the second, within 2 s, quits
        await pilot.pause(0.2)
    assert app.return_code == 0


HOSTILE = (
    "title\x1b]0;pwned\x07 clip\x1b]52;c;ZWNobyBoaQ==\x07 csi\x1b[2J\x1b[31mred\x1b[0m "
    "c1\x9b31m osc8\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ bell\x07 "
    "[bold]RICH[/bold] [@click=app.quit]CLICK[/] [link=http://x]L[/link] $var {braces}\n\n"
)


def _visible(app: Any) -> str:
    """The screen as drawn: Textual's own export of what the compositor renders, tags removed."""
    svg = app.export_screenshot()
    assert "\x1b" not in svg and "\x07" not in svg
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_model_output_with_escapes_and_markup_is_shown_literally(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        # The tiny model cannot write these, so its events are fed through the app's own path.
        message = AssistantMessage("hostile", "hostile-1", stored_id=None)
        await app.query_one("#log").mount(message)
        # The chat screen's event routing is being reworked; the widgets are what draws model text.
        message.append_thinking(HOSTILE)
        for i in range(0, len(HOSTILE), 7):
            message.append_answer(HOSTILE[i : i + 7])
        message.finish("stop", AnswerStats(completion_tokens=9))
        await pilot.pause(0.5)
        # The text is kept byte for byte (the store and copy get what the model wrote) ...
        assert message.answer_text == HOSTILE and message.thinking_text == HOSTILE
        message.query_one(".thinking-block").collapsed = True
        await pilot.pause(0.3)
        # ... but what is drawn (every segment the compositor sends the terminal) holds no control
        # character, and markup stays text: no styling, no click actions, no links.
        shown = _visible(app)
        assert not any(c in shown for c in "\x1b\x07\x9b\x9d"), repr(shown)
        for literal in (
            "[bold]RICH[/bold]",
            "[@click=app.quit]CLICK[/]",
            "[link=http://x]L[/link]",
            "␛]0;pwned␇",
        ):
            assert literal in shown, (literal, shown)
        assert app.is_running
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "pwned" not in app.title
