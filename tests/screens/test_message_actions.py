"""Message actions on the real engine (CPU build, scripted tiny R1 model): continue, regenerate, edit,
delete, parallel samples, copy, and the keys that reach them from the prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import Label

from tests.support import make_app as _make_app
from tests.support import send_prompt as send
from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.screens.confirm import ConfirmScreen
from vllm_tui.widgets.engine_card import EngineCard
from vllm_tui.widgets.message import AssistantMessage, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput
from vllm_tui.widgets.samples import SamplesView

pytestmark = pytest.mark.engine


def make_app(engine: Any, log_path: Path, store: Path, max_tokens: int = 30) -> VllmTuiApp:
    return _make_app(engine, log_path, store, max_tokens)  # type: ignore[no-any-return]


ANSWER = "Hello! This tiny scripted model runs on vLLM with random weights."


def answers(app: VllmTuiApp) -> list[AssistantMessage]:
    return [m for m in app.chat.query(AssistantMessage)]


async def settle(pilot: Any, app: VllmTuiApp, count: int) -> None:
    await wait_until(
        pilot,
        lambda: len(answers(app)) == count and not any(m.streaming for m in answers(app)),
        what=f"{count} finished answer(s)",
    )
    await pilot.pause(0.05)


def stored(app: VllmTuiApp) -> list[Any]:
    assert app.store is not None and app.chat.chat_id is not None
    return app.store.messages(app.chat.chat_id)


async def test_continue_appends_to_the_same_message_and_row(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=25)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await send(pilot, "hi")
        await settle(pilot, app, 1)
        msg = answers(app)[0]
        assert msg.finish_reason == "length"
        before = msg.answer_text
        assert before and ANSWER.startswith(before)
        row = stored(app)[1]
        # alt+g as a terminal sends it (ESC g): it carries "g" as its character, and must not be typed.
        app.post_message(events.Key("alt+g", "g"))
        await wait_until(pilot, lambda: msg.streaming, what="continuing")
        await wait_until(pilot, lambda: not msg.streaming, what="continued")
        assert app.query_one(PromptInput).text == ""
        assert answers(app) == [msg]  # the same widget, no new message
        assert msg.answer_text.startswith(before) and len(msg.answer_text) > len(before)
        # The continuation is answer text (not thinking), going on where the model stopped.
        assert ANSWER.startswith(msg.answer_text[: len(ANSWER)]) or msg.answer_text.startswith(ANSWER)
        assert msg.thinking_text.strip() == "Okay, the user greets me so I answer briefly"
        assert msg.stats is not None and msg.stats.completion_tokens == 50
        # The sidebar's "last answer" is the whole answer's rate too, not the continued part's.
        assert app.query_one(EngineCard).status.last_tokens_per_s == msg.stats.tokens_per_second
        rows = stored(app)
        assert [r.id for r in rows] == [rows[0].id, row.id]
        assert rows[1].content == msg.answer_text and rows[1].completion_tokens == 50
        assert app.chat.history[-1].content == msg.answer_text


async def test_regenerate_edit_and_delete(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await send(pilot, "first question")
        await settle(pilot, app, 1)
        old = answers(app)[0]
        old_text = old.answer_text
        await pilot.press("alt+r")
        await wait_until(pilot, lambda: bool(app.chat.query(SamplesView)), what="regenerating")
        await settle(pilot, app, 2)
        # The new answer goes beside the old one, as a tab, and is the one shown: a worse answer
        # does not cost the better one.
        view = app.chat.query_one(SamplesView)
        first_copy, new = view.messages
        assert view.active is new and not first_copy.display and old not in answers(app)
        assert first_copy.answer_text == old_text and first_copy.finish_reason == "length"
        rows = stored(app)
        assert [(r.role, r.sample) for r in rows] == [("user", 0), ("assistant", 0), ("assistant", 1)]
        assert first_copy.stored_id == rows[1].id and rows[1].content == old_text
        assert new.stored_id == rows[2].id and rows[2].content == new.answer_text
        assert [m.text for m in app.query(UserMessage)] == ["first question"]
        # The model hears the answer shown, once.
        assert [t.content for t in app.chat.history] == ["first question", new.answer_text]
        # r on the selected last answer (the tab shown): a third tab streams, and the focus is the
        # prompt's, not the question's above the replaced view (where y would copy the question).
        await pilot.press("ctrl+up")
        assert app.focused is new
        await pilot.press("r")
        await settle(pilot, app, 3)
        assert isinstance(app.focused, PromptInput)
        view = app.chat.query_one(SamplesView)
        assert view.active_index == 2
        assert [m.answer_text for m in view.messages][:2] == [old_text, new.answer_text]
        # The chat reopened (a restart, another chat and back) shows the tab that was shown, and
        # the model hears that one: the first tab, shown now.
        await pilot.press("ctrl+up")
        await pilot.press("left", "left")
        await wait_until(pilot, lambda: view.active_index == 0, what="the first tab")
        await pilot.pause(0.1)
        assert [r.shown for r in stored(app)][1:] == [True, False, False]
        assert app.chat.history[-1].content == old_text
        chat_id = app.chat.chat_id
        assert chat_id is not None
        await app.chat.load_chat(chat_id)
        await pilot.pause(0.2)
        view = app.chat.query_one(SamplesView)
        assert view.active_index == 0 and view.active.stored_id == rows[1].id
        assert "3 answers to this prompt · ctrl+↑ selects" in str(view.query_one(".samples-header").render())
        view.show(2)
        await pilot.pause(0.1)
        await pilot.press("escape")
        # alt+k keeps the one shown and deletes the others, rows and all, once asked (n: nothing).
        kept_text = view.active.answer_text
        await pilot.press("alt+k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked to keep")
        assert "Keep answer 3 and delete the other 2?" in str(app.screen.query_one(Label).render())
        await pilot.press("n")
        await pilot.pause(0.1)
        assert len(app.chat.query_one(SamplesView).messages) == 3
        await pilot.press("alt+k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked again")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.chat.query(SamplesView), what="kept")
        assert [(r.role, r.sample, r.content) for r in stored(app)][1:] == [("assistant", 2, kept_text)]
        assert any("Kept answer 3; deleted 2 others" in str(n.message) for n in app._notifications)
        assert isinstance(app.focused, PromptInput)

        # Edit: the last prompt comes back to the prompt box; enter resends it in its place. What
        # was being typed is set aside meanwhile: esc, or sending the edit, puts it back.
        prompt = app.query_one(PromptInput)
        await pilot.press(*"half typed")
        await pilot.press("alt+e")
        assert prompt.text == "first question" and app.chat.editing is not None
        await pilot.press("escape")
        assert prompt.text == "half typed" and app.chat.editing is None
        await pilot.press("alt+e")
        assert prompt.text == "first question"
        assert "enter replaces it and its answer ·" in str(prompt.border_title)
        prompt.clear()
        prompt.insert("edited question")
        await pilot.press("enter")
        await wait_until(pilot, lambda: [m.text for m in app.query(UserMessage)] == ["edited question"])
        assert prompt.text == "half typed"
        prompt.clear()
        await settle(pilot, app, 1)
        assert [r.content for r in stored(app) if r.role == "user"] == ["edited question"]
        assert [t.content for t in app.chat.history][0] == "edited question"

        # Select the answer from the keyboard (ctrl+up from the prompt) and delete it.
        await send(pilot, "second")
        await settle(pilot, app, 2)
        assert len(app.chat.history) == 4
        # An earlier answer selected: r and e act on the last exchange only, and g on an answer cut
        # off, so the footer shows them dimmed and they do nothing, rather than replace the last
        # answer while the first is selected.
        first, last = answers(app)
        await pilot.press("ctrl+up", "up", "up")
        assert app.focused is first
        await pilot.pause(0.1)
        keys = {b.binding.key: b.enabled for b in app.screen.active_bindings.values()}
        assert keys["r"] is False and keys["e"] is False and keys["y"] is True and keys["d"] is True
        await pilot.press("r")
        await pilot.pause(0.2)
        assert answers(app) == [first, last] and not last.streaming
        # Pressed anyway, it says why it did nothing.
        assert any("Only the last answer can be regenerated" in str(n.message) for n in app._notifications)
        await pilot.press("e")
        assert app.chat.editing is None and app.query_one(PromptInput).text == ""
        assert any("Only the last prompt can be edited" in str(n.message) for n in app._notifications)
        # The last answer selected: r is offered (g only for an answer that was cut off).
        await pilot.press("down", "down")
        assert app.focused is last
        await pilot.pause(0.1)
        keys = {b.binding.key: b.enabled for b in app.screen.active_bindings.values()}
        assert keys["r"] is True and keys["e"] is True and keys["g"] is last.can_continue
        await pilot.press("up", "up")
        assert app.focused is first
        # t opens the selected answer's folded thinking and folds it again: the keyboard's click.
        assert first._block.display and first._block.collapsed
        await pilot.press("t")
        assert not first._block.collapsed and "the user" in first.thinking_text
        await pilot.press("t")
        assert first._block.collapsed
        await pilot.press("escape")
        await pilot.press("ctrl+up")
        assert app.focused is answers(app)[1]
        await pilot.press("up")
        assert isinstance(app.focused, UserMessage) and app.focused.text == "second"
        await pilot.press("down", "d")
        # Asked first; n keeps it, and a second d does not reach the next message.
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        assert "Delete this answer?" in str(app.screen.query_one(Label).render())
        await pilot.press("d", "n")
        await wait_until(pilot, lambda: app.screen is app.chat, what="kept")
        assert len(answers(app)) == 2 and app.focused is answers(app)[1]
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked again")
        await pilot.press("y")
        await wait_until(pilot, lambda: len(answers(app)) == 1, what="deleted")
        assert [r.role for r in stored(app)] == ["user", "assistant", "user"]
        # The prompt whose answer is gone is no longer sent to the model.
        assert [t.content for t in app.chat.history] == ["edited question", answers(app)[0].answer_text]
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)

        # A prompt goes with its answer: left, that answer sat under the prompt before it.
        await pilot.press("ctrl+up", "up", "up")  # "second", the answer above it, then its prompt
        assert isinstance(app.focused, UserMessage) and app.focused.text == "edited question"
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked for the prompt")
        question = app.screen.query_one(Label)
        assert "Delete this prompt and its answer?" in str(question.render())
        assert question.parent is not None  # and the question fits the dialog, not cut at its edge
        assert question.region.right <= question.parent.content_region.right, question.region
        await pilot.press("y")
        await wait_until(pilot, lambda: not answers(app), what="prompt and answer deleted")
        assert [m.text for m in app.query(UserMessage)] == ["second"]
        assert str(app.query_one(PromptInput).border_subtitle) == "second"  # titled by its first prompt now
        assert [(r.role, r.content) for r in stored(app)] == [("user", "second")]
        assert app.chat.history == []


async def test_parallel_samples_keep_one(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        app.query_one(PromptInput).insert("pick one")
        await pilot.press("alt+s")
        await wait_until(pilot, lambda: bool(app.chat.query(SamplesView)), what="samples view")
        view = app.chat.query_one(SamplesView)
        await wait_until(pilot, lambda: not view.streaming, what="samples finished")
        assert len(view.messages) == 3
        assert all(m.answer_text.startswith("Hello!") and m.finish_reason == "length" for m in view.messages)
        rows = stored(app)
        assert [(r.role, r.sample) for r in rows] == [
            ("user", 0),
            ("assistant", 0),
            ("assistant", 1),
            ("assistant", 2),
        ]
        # Select a sample, move to the third tab, keep it.
        await pilot.press("ctrl+up")
        assert app.focused is view.messages[0]
        await pilot.press("right", "right")
        await wait_until(pilot, lambda: view.active_index == 2 and app.focused is view.messages[2])
        kept_text = view.messages[2].answer_text
        # d on a tab deletes that answer alone, once asked; the tab before it is shown next.
        await pilot.press("left", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        assert "Delete answer 2 of 3?" in str(app.screen.query_one(Label).render())
        await pilot.press("y")
        await wait_until(
            pilot, lambda: len(app.chat.query_one(SamplesView).messages) == 2, what="one deleted"
        )
        view = app.chat.query_one(SamplesView)
        assert view.active_index == 0 and app.focused is view.messages[0]
        assert [(r.role, r.sample, r.shown) for r in stored(app)] == [
            ("user", 0, False),
            ("assistant", 0, True),
            ("assistant", 2, False),
        ]
        await pilot.press("right")
        await wait_until(pilot, lambda: view.active_index == 1 and app.focused is view.messages[1])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked to keep")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.chat.query(SamplesView), what="kept")
        rows = stored(app)
        assert [(r.role, r.sample) for r in rows] == [("user", 0), ("assistant", 2)]
        assert answers(app)[0].answer_text == kept_text
        assert [t.content for t in app.chat.history] == ["pick one", kept_text]


async def test_copy_answer_and_code_block(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    from vllm_tui.clipboard import clipboard_file

    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await send(pilot, "hi")
        await settle(pilot, app, 1)
        await pilot.press("alt+y")
        text = answers(app)[0].answer_text
        assert app.clipboard == text
        assert clipboard_file().read_text() == text
        await pilot.press("alt+c")  # the tiny model writes no code: said, nothing copied
        assert app.clipboard == text
