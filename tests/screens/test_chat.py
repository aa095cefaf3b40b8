"""The chat screen on the real vLLM engine (CPU build, scripted tiny R1 model), driven by keys."""

from __future__ import annotations

import copy
import gc
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.events import Unmount
from textual.message import Message

from tests.support import make_app, make_engineless_app, wait_until
from tests.support import send_prompt as type_and_send
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, EngineSettings, Profile
from vllm_tui.engine.events import EngineMetrics, EngineReady
from vllm_tui.recent import load_recent
from vllm_tui.store import ChatStore
from vllm_tui.widgets.markdown_stream import StreamingMarkdown
from vllm_tui.widgets.message import AssistantMessage, Notice, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput
from vllm_tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.engine


async def test_prompt_streams_thinking_and_answer(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        assert app.query_one(StatusLine).state == "ready"
        await type_and_send(pilot, "hi")
        assert app.query_one(PromptInput).text == ""
        await wait_until(pilot, lambda: bool(app.query(AssistantMessage)), what="answer widget")
        msg = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not msg.streaming, what="answer finished")
        await pilot.pause(0.1)
        assert [m.text for m in app.query(UserMessage)] == ["hi"]
        assert msg.thinking_text.strip() == "Okay, the user greets me so I answer briefly"
        assert msg.answer_text.startswith("Hello! This tiny scripted model")
        assert msg.finish_reason == "length"
        assert msg.stats is not None and msg.stats.completion_tokens == 60
        stats_line = str(msg.query_one(".stats").render())
        assert "60 tokens" in stats_line and "tok/s" in stats_line and "TTFT" in stats_line
        block = msg.query_one(".thinking-block")
        # Live and restored answers name the thinking alike; live ones add the time it took.
        assert block.collapsed and block.title.startswith("Thought for ")
        assert block.title.endswith(f" s · {msg.stats.reasoning_tokens} tokens")
        # The thinking never goes back to the model; the answer does.
        assert [t.role for t in app.chat.history] == ["user", "assistant"]
        assert "Okay" not in app.chat.history[1].content
        # Saved as it streamed, and finished with its stats.
        assert app.store is not None and app.chat.chat_id is not None
        stored = app.store.messages(app.chat.chat_id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].thinking == msg.thinking_text and stored[1].content == msg.answer_text
        assert stored[1].state == "stopped" and stored[1].completion_tokens == 60
        assert stored[1].thinking_seconds == msg.thought_seconds is not None
        # The finished turn settled the heap (vllm_tui/heap.py): the next answer's collections skip it.
        assert gc.get_freeze_count() > 0


async def test_a_stalled_disk_does_not_stop_the_stream(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    """The once-a-second save of a streaming answer is written off the UI thread: while it is stuck
    (a disk stalled under writeback), the answer keeps reaching the screen, and it is saved after."""
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=400)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        store = app.store
        assert store is not None
        stuck, release, unstuck = threading.Event(), threading.Event(), threading.Event()
        update = store.update_answer

        def stalled(message_id: int, content: str, thinking: str = "") -> bool:
            stuck.set()
            release.wait(10)
            unstuck.set()
            return update(message_id, content, thinking)

        store.update_answer = stalled  # type: ignore[method-assign]
        await type_and_send(pilot, "hi")
        await wait_until(pilot, lambda: stuck.is_set(), what="a save under way")
        msg = app.query_one(AssistantMessage)
        view = msg.answer_view if msg.answer_text else msg.thinking_view
        shown = view.displayed_length
        await wait_until(pilot, lambda: view.displayed_length > shown + 20, what="the stream going on")
        assert not unstuck.is_set() and msg.streaming, "it went on while the save was stuck"
        release.set()
        await wait_until(pilot, lambda: not msg.streaming, what="answer finished")
        await pilot.pause(0.1)
        assert app.chat.chat_id is not None
        stored = store.messages(app.chat.chat_id)[-1]
        assert stored.content == msg.answer_text and stored.state == "stopped"


async def test_a_full_disk_loses_nothing_on_screen_and_says_so(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    """The store cannot grow (a full disk): the prompt is still answered on screen, a toast says why
    the chat is not saved, the app keeps running; once there is room again the next turn is saved.
    (Before, SQLite's own error reached the UI thread uncaught.)"""
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        store = app.store
        assert store is not None
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full
        prompt = "A long pasted log. " * 250  # fits the model's context, not the full store
        app.query_one(PromptInput).insert(prompt)
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and not app.query_one(AssistantMessage).streaming,
            what="answer",
        )
        assert app.is_running and app.query_one(AssistantMessage).answer_text
        said = [str(n.message) for n in app._notifications]
        assert any("not being saved" in m and "disk is full" in m for m in said), said
        store._conn.execute("PRAGMA max_page_count = 1000000")  # room again
        await type_and_send(pilot, "and now?")
        await wait_until(pilot, lambda: not app.query(AssistantMessage).last().streaming, what="answer")
        assert app.chat.chat_id is not None
        saved = store.messages(app.chat.chat_id)
        assert [m.content for m in saved if m.role == "user"] == ["and now?"]


async def test_last_chat_is_resumed(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    store = tmp_path / "chats.sqlite3"
    app = make_app(app_engine, log_path, store, max_tokens=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        # A local path that loaded is offered in F3's Recent list, as if it had been picked there.
        await wait_until(pilot, lambda: app.profile.engine.model in load_recent(), what="remembered")
        await type_and_send(pilot, "remember me")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and not app.query_one(AssistantMessage).streaming,
            what="answer",
        )
        answer = app.query_one(AssistantMessage).answer_text
        live = app.query_one(AssistantMessage)
        assert live.finish_reason == "length"
        shown_live = str(live.query_one(".stats").render())
        assert shown_live.endswith("hit max tokens") and "TTFT" in shown_live
        thought_live = live.query_one(".thinking-block").title
        assert thought_live.startswith("Thought for ") and thought_live.endswith(" tokens")
    again = make_app(app_engine, log_path, store)
    async with again.run_test(size=(100, 30)) as pilot:
        await wait_until(
            pilot,
            lambda: (
                bool(again.query(AssistantMessage)) and bool(again.query_one(AssistantMessage).answer_text)
            ),
            what="restored chat",
        )
        assert [m.text for m in again.query(UserMessage)] == ["remember me"]
        assert again.query_one(AssistantMessage).answer_text == answer
        assert [t.role for t in again.chat.history] == ["user", "assistant"]
        # The figures read as they did live, "hit max tokens" included (not "stopped", as the
        # state alone said before the store kept the engine's finish reason).
        assert str(again.query_one(AssistantMessage).query_one(".stats").render()) == shown_live
        # And its thinking as it did, with the time it took (kept since schema 4).
        assert again.query_one(AssistantMessage).query_one(".thinking-block").title == thought_live


async def test_a_new_chat_mid_answer_stores_the_answer_as_ended(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    """ctrl+n (or F4 to another chat) while an answer streams: its last events would find its chat
    gone, so the answer is ended and stored now, not left "streaming" with the status line at
    "generating" until the next message."""
    store = tmp_path / "chats.sqlite3"
    app = make_app(app_engine, log_path, store, max_tokens=1500)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await type_and_send(pilot, "a long one")
        await wait_until(
            pilot,
            lambda: (
                bool(app.query(AssistantMessage)) and len(app.query_one(AssistantMessage).answer_text) > 50
            ),
            what="answer streaming",
        )
        first_chat = app.chat.chat_id
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: not app.query(AssistantMessage), what="new chat")
        assert app.chat.query_one(StatusLine).state == "ready"
        assert app.store is not None and first_chat is not None
        user, answer = app.store.messages(first_chat)
        assert (answer.state, answer.error) == ("failed", "Interrupted") and len(answer.content) > 50
        app.profile.sampling.max_tokens = 20
        await type_and_send(pilot, "next")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and not app.query_one(AssistantMessage).streaming,
            what="answer in the new chat",
        )
        assert app.query_one(AssistantMessage).finish_reason == "length"


async def test_last_tokens_are_on_screen_before_the_answer_finishes(
    app_engine: Any, log_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine sends the last tokens and the end of the answer together. Finishing lays the screen
    out (10-50 ms); the last tokens must not wait for it: a plain frame shows them first."""
    seen: list[tuple[int, int]] = []
    finish = AssistantMessage.finish

    def noting(self: AssistantMessage, *args: Any) -> None:
        views = (self._thinking, self._answer)
        seen.append((sum(v.displayed_length for v in views), sum(len(v.text) for v in views)))
        finish(self, *args)

    monkeypatch.setattr(AssistantMessage, "finish", noting)
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        for n in range(6):
            await type_and_send(pilot, f"question {n}")
            await wait_until(pilot, lambda n=n: len(seen) == n + 1, what=f"answer {n} finished")
    assert all(shown == total > 0 for shown, total in seen), seen


async def test_a_reopened_chat_shows_its_end(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    """The restored answers get their heights only in the layout after they are mounted: the log must
    end up at the bottom (the last answer and its note), not part-way up, as it did."""
    from textual.containers import VerticalScroll

    from vllm_tui.store import ChatStore

    store = tmp_path / "chats.sqlite3"
    with ChatStore.open(store) as chats:
        chat = chats.create_chat("long")
        for i in range(3):
            chats.add_user_message(chat.id, f"question {i}")
            answer = chats.begin_answer(chat.id, "tiny", "tiny", {})
            text = "\n\n".join(f"Paragraph {j} of answer {i}, long enough to wrap here." for j in range(12))
            state = "complete" if i < 2 else "interrupted"
            chats.finish_answer(answer, state, content=text, thinking="Thinking it over. " * 30)
    app = make_app(app_engine, log_path, store)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.screen.query_one("#log", VerticalScroll)
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 3, what="restored chat")
        await pilot.pause(0.3)
        assert log.max_scroll_y > 30
        assert log.scroll_offset.y == log.max_scroll_y
        assert "Interrupted" in str(app.query(AssistantMessage)[2].query_one(".stats").render())


async def test_escape_stops_and_next_prompt_works(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=1800)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await type_and_send(pilot, "tell me a long story")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and bool(app.query_one(AssistantMessage).answer_text),
            what="answer started",
        )
        await pilot.press("escape")
        first = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not first.streaming, what="stopped")
        assert first.finish_reason == "abort"
        assert first.stats is not None and first.stats.completion_tokens < 1800
        assert "stopped" in str(first.query_one(".stats").render())
        app.profile.sampling.max_tokens = 30
        await type_and_send(pilot, "and again")
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 2, what="second answer")
        second = app.query(AssistantMessage)[1]
        await wait_until(pilot, lambda: not second.streaming, what="second finished")
        assert second.finish_reason == "length"
        assert len(app.chat.history) == 4


async def test_engine_event_during_shutdown_is_dropped(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    """The engine keeps reporting while the app closes: an event that lands after the sidebar's cards
    have lost their children must not crash the teardown (it did in CI, on a metrics tick)."""
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    emitted: list[bool] = []

    def hook(message: Message) -> None:
        # Each widget taken apart gets Unmount; emit at every one, so some event lands while the
        # engine card is still in the DOM but its labels are already gone.
        if isinstance(message, Unmount):
            emitted.append(True)
            app.bridge.emit(EngineMetrics(kv_cache_usage=0.0, running=0, waiting=0))

    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
    # run_test re-raises any exception from the teardown; reaching here means none.
    assert emitted


async def test_empty_prompt_is_not_sent(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await type_and_send(pilot, "   \n  ")
        await pilot.pause(0.2)
        assert not app.query(UserMessage)
        assert app.query_one(PromptInput).text == "   \n  "


async def test_newline_key_does_not_send(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        prompt = app.query_one(PromptInput)
        prompt.focus()
        prompt.insert("line one")
        await pilot.press("ctrl+j")
        prompt.insert("line two")
        assert prompt.text == "line one\nline two"
        assert not app.query(UserMessage)


async def test_bad_model_path_shows_error_and_app_lives(tmp_path: Path, log_path: Path) -> None:
    cfg = AppConfig()
    profile = Profile(engine=EngineSettings(model=str(tmp_path / "missing")))
    app = VllmTuiApp(cfg, profile, log_path, store_path=tmp_path / "chats.sqlite3")
    app._fail_fast = False  # type: ignore[attr-defined]  # the failure is what this test waits for
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query(Notice)), what="error notice")
        notice = app.query_one(Notice)
        text = str(notice.render())
        assert text.startswith("Model not found") and "does not exist" in text
        assert app.query_one(StatusLine).state == "failed"
        # Still usable: typing works, and sending explains instead of crashing.
        await type_and_send(pilot, "hello?")
        await pilot.pause(0.2)
        assert app.query_one(PromptInput).text == "hello?"
        assert app.is_running


async def test_switch_profile_from_keyboard(
    tiny_model: Path, tiny_model_b: Path, log_path: Path, tmp_path: Path
) -> None:
    """F3 → pick the second profile → the next answer comes from the new engine; the old one's
    processes are gone."""
    from vllm_tui.engine.local import LocalEngine
    from vllm_tui.engine.processes import alive
    from vllm_tui.screens.model_picker import ModelPickerScreen

    cfg = AppConfig()
    first = Profile(
        name="tiny-a", engine=EngineSettings(model=str(tiny_model), max_model_len=1024, enforce_eager=True)
    )
    second = Profile(
        name="tiny-b", engine=EngineSettings(model=str(tiny_model_b), max_model_len=1024, enforce_eager=True)
    )
    cfg.profiles = {"tiny-a": first, "tiny-b": second}
    cfg.default_profile = "tiny-a"
    app = VllmTuiApp(cfg, copy.deepcopy(first), log_path, store_path=tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, timeout=240, what="first engine ready")
        old = app.engine
        assert isinstance(old, LocalEngine)
        old_pids = old.pids
        assert old_pids
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPickerScreen), what="model picker")
        app.screen.query_one("Input").value = "tiny-b"
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: app.engine is not old and app.chat.engine_ready,
            timeout=240,
            what="second engine ready",
        )
        assert not [pid for pid in old_pids if alive(pid)]
        assert app.profile.name == "tiny-b"
        await type_and_send(pilot, "who are you?")
        await wait_until(
            pilot,
            lambda: bool(app.query(AssistantMessage)) and not app.query_one(AssistantMessage).streaming,
            what="answer",
        )
        msg = app.query_one(AssistantMessage)
        assert msg.answer_text.strip() == "Answer from checkpoint B."
        assert msg.finish_reason == "stop"
        assert app.store is not None and app.chat.chat_id is not None
        assert app.store.messages(app.chat.chat_id)[1].profile == "tiny-b"
        await app.shutdown_engine()


async def test_quick_keys_change_sampling_without_reload(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        engine = app.engine
        before = app.profile.sampling.temperature
        await pilot.press("alt+up")
        await pilot.press("f9")
        assert app.profile.sampling.temperature == pytest.approx(before + 0.1)
        assert app.profile.sampling.max_tokens == 120
        assert "temp 0.7" in str(app.query_one(StatusLine).render())
        assert app.engine is engine


async def test_typing_with_the_focus_elsewhere_goes_to_the_prompt(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    """After a Tab the focus may sit on the log or a sidebar card; text typed there was dropped."""
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        app.chat.query_one("#log").focus()
        await pilot.pause()
        assert not isinstance(app.focused, PromptInput)
        await pilot.press("h", "i", "space", "?")
        prompt = app.chat.query_one(PromptInput)
        assert app.focused is prompt and prompt.text == "hi ?"


async def test_the_sidebar_follows_the_width_until_the_user_toggles_it(tmp_path: Path) -> None:
    """Started wide and shrunk to 80 columns, the sidebar kept 32 of them; it now goes as it does
    at start (below 100 columns), and F10 makes the choice the user's."""
    from tests.screens.test_help import make_app as app_without_engine

    app = app_without_engine(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        sidebar = app.chat.query_one("#sidebar")
        assert sidebar.display
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        assert not sidebar.display
        await pilot.resize_terminal(120, 30)
        await pilot.pause(0.1)
        assert sidebar.display
        await pilot.press("f10")
        assert not sidebar.display
        await pilot.resize_terminal(140, 40)
        await pilot.pause(0.1)
        assert not sidebar.display  # as the user left it


async def test_the_status_line_names_the_profile_only_while_it_runs_its_own_model(tmp_path: Path) -> None:
    cfg = AppConfig()
    cfg.profiles["mine"] = Profile(name="mine", engine=EngineSettings(model=str(tmp_path / "own")))
    replaced = copy.deepcopy(cfg.profiles["mine"])
    replaced.engine.model = str(tmp_path / "other")  # as `vllm-tui --profile mine --model …` runs it
    for profile, named in ((cfg.profiles["mine"], True), (replaced, False)):
        app = make_engineless_app(tmp_path, cfg, copy.deepcopy(profile))  # neither model exists
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.2)
            sampling = app.chat.query_one(StatusLine).sampling
            assert sampling.startswith("temp 0.6 · max") and sampling.endswith(" · mine") == named, sampling


async def test_keys_typed_right_after_enter_stay_in_the_prompt(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    from textual import events

    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        # One burst (tmux send-keys "first" Enter "second"): every key is queued before the screen
        # handles the submission, which used to clear the prompt with "second" in it.
        for char in "first":
            app.post_message(events.Key(char, char))
        app.post_message(events.Key("enter", "\r"))
        for char in "second":
            app.post_message(events.Key(char, char))
        await wait_until(pilot, lambda: bool(app.query(UserMessage)), what="prompt sent")
        await pilot.pause(0.3)
        assert [m.text for m in app.query(UserMessage)] == ["first"]
        assert app.query_one(PromptInput).text == "second"
        answer = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not answer.streaming, what="answer finished")


async def test_the_prompt_names_the_open_chat(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3")
    async with app.run_test(size=(100, 30)) as pilot:
        prompt = app.query_one(PromptInput)
        assert str(prompt.border_subtitle) == "new chat"
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await type_and_send(pilot, "What is a [tensor]?")  # not markup
        await wait_until(pilot, lambda: bool(app.query(UserMessage)), what="prompt sent")
        # Shown as typed, not read as markup.
        assert Content.from_markup(str(prompt.border_subtitle)).plain == "What is a [tensor]?"
        answer = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not answer.streaming, what="answer finished")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: str(prompt.border_subtitle) == "new chat", what="a new chat")


def save_long_chat(tmp_path: Path, questions: list[str]) -> None:
    """A chat several screens long in the store make_engineless_app opens: each question answered
    in six short paragraphs."""
    from vllm_tui.store import ChatStore

    with ChatStore.open(tmp_path / "chats.sqlite3") as chats:
        chat = chats.create_chat()
        for i, question in enumerate(questions):
            chats.add_user_message(chat.id, question)
            answer = chats.begin_answer(chat.id, "tiny", "p", {})
            chats.finish_answer(answer, "complete", content="\n\n".join(f"line {i}.{j}" for j in range(6)))


async def test_page_keys_scroll_the_chat_from_the_prompt(tmp_path: Path) -> None:
    from textual.containers import VerticalScroll

    save_long_chat(tmp_path, [f"question {i}" for i in range(12)])
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.chat.query_one("#log", VerticalScroll)
        await wait_until(pilot, lambda: log.max_scroll_y > 40, what="the chat restored")
        await pilot.pause(0.3)
        assert isinstance(app.focused, PromptInput) and log.scroll_y == log.max_scroll_y
        await pilot.press("pageup", "pageup")
        await pilot.pause(0.2)
        assert log.scroll_y < log.max_scroll_y - 20
        assert isinstance(app.focused, PromptInput)  # still typing where it was
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause(0.2)
        assert log.scroll_y == log.max_scroll_y


async def test_a_search_hit_opens_its_chat_at_the_match(tmp_path: Path) -> None:
    from textual.containers import VerticalScroll

    from vllm_tui.screens.chat_list import ChatListScreen
    from vllm_tui.store import ChatStore

    save_long_chat(tmp_path, ["how do volcanoes form?" if i == 2 else f"question {i}" for i in range(12)])
    with ChatStore.open(tmp_path / "chats.sqlite3") as chats:
        chats.create_chat()  # a newer, empty chat is the one the app opens
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatListScreen), what="chat list")
        await pilot.press("slash", *"volcanoes")
        await pilot.pause(0.5)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.focused, UserMessage), what="the hit selected")
        await pilot.pause(0.3)
        log = app.chat.query_one("#log", VerticalScroll)
        hit = app.focused
        assert isinstance(hit, UserMessage) and "volcanoes" in hit.text
        # In view, near its top: it used to open at the chat's end, the match far above.
        assert log.region.y <= hit.region.y < log.region.y + 5, (hit.region, log.region)


async def test_toasts_stand_left_of_the_sidebar(tmp_path: Path) -> None:
    from textual.widgets._toast import Toast

    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.pause(0.3)
        sidebar = app.chat.query_one("#sidebar")
        assert sidebar.display
        app.notify("Loading deepseek-ai/DeepSeek-R1-Distill-Qwen-32B…")
        await wait_until(pilot, lambda: bool(app.chat.query(Toast)), what="toast shown")
        await pilot.pause(0.1)
        # Over the engine card it hid the load's progress.
        edge = sidebar.region.x
        assert app.chat.query_one(Toast).region.right <= edge
        await pilot.press("f10")  # the sidebar hidden: toasts go back to the right edge
        app.notify("Thinking shown")
        await pilot.pause(0.3)
        assert max(t.region.right for t in app.chat.query(Toast)) > edge


async def ask_until_streaming(pilot: Any, app: VllmTuiApp) -> AssistantMessage:
    """Once the engine is ready, ask; the answer, once its text streams."""
    await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
    await type_and_send(pilot, "hello")
    await wait_until(pilot, lambda: bool(app.query(AssistantMessage)), what="answer begun")
    answer = app.query_one(AssistantMessage)
    await wait_until(pilot, lambda: "Hello" in answer.answer_text, what="answer streaming")
    assert answer.streaming
    return answer


async def test_deleting_the_chat_an_answer_streams_into_stops_it_quietly(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    from vllm_tui.screens.chat_list import ChatListScreen

    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=1500)
    async with app.run_test(size=(100, 30)) as pilot:
        answer = await ask_until_streaming(pilot, app)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatListScreen), what="chat list")
        await pilot.press("d")
        await pilot.pause(0.2)
        await pilot.press("y")
        # Stopped while the list is still open: its rows are gone, so nothing more is saved.
        await wait_until(pilot, lambda: not answer.streaming, what="answer stopped")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.chat, what="list closed")
        await wait_until(pilot, lambda: not app.query(AssistantMessage), what="a new chat")
        await pilot.pause(1.5)  # past a streaming save
        said = [str(n.message) for n in app._notifications]
        assert not [s for s in said if "Could not save" in s or "was stopped" in s], said
        assert app.chat.chat_id is None and app.chat.query_one(StatusLine).state == "ready"


async def test_leaving_a_chat_mid_answer_says_the_answer_was_stopped(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app = make_app(app_engine, log_path, tmp_path / "chats.sqlite3", max_tokens=1500)
    async with app.run_test(size=(100, 30)) as pilot:
        answer = await ask_until_streaming(pilot, app)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: not app.query(AssistantMessage), what="a new chat")
        assert not answer.streaming and answer.error is not None
        assert any("was stopped and kept" in str(n.message) for n in app._notifications)


async def test_a_prompt_left_unsent_is_back_after_a_restart(tmp_path: Path) -> None:
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"half a question")
        await pilot.pause(1.3)  # saved within a second, as a crash would find it
    again = make_engineless_app(tmp_path)
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        prompt = again.query_one(PromptInput)
        assert prompt.text == "half a question"
        prompt.clear()
        await pilot.pause(1.3)
    third = make_engineless_app(tmp_path)
    async with third.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert third.query_one(PromptInput).text == ""  # sent or cleared: gone
        await pilot.press(*"typed just before", "ctrl+q")  # saved at quit, not a second later
    fourth = make_engineless_app(tmp_path)
    async with fourth.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert fourth.query_one(PromptInput).text == "typed just before"


async def test_a_restart_reopens_the_chat_that_was_open_with_its_draft(tmp_path: Path) -> None:
    """Not the most recently updated chat: the draft was typed for the one shown, and enter would
    have sent it into another conversation."""
    store = ChatStore.open(tmp_path / "chats.sqlite3")
    older = store.create_chat("Ocean notes")
    store.add_user_message(older.id, "about the ocean")
    newer = store.create_chat("Latest")
    store.add_user_message(newer.id, "something else")
    store.close()

    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.chat_id == newer.id, what="the latest chat at first start")
        await app.chat.load_chat(older.id)
        await pilot.press(*"follow-up about the ocean")
        await pilot.pause(2.5)  # recorded each second (a slow machine: a tick later), as a crash finds it
    again = make_engineless_app(tmp_path)
    async with again.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: again.chat.chat_id == older.id, what="the chat open at exit")
        assert again.query_one(PromptInput).text == "follow-up about the ocean"
        again.query_one(PromptInput).clear()
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: again.chat.chat_id is None, what="a new chat")
        await pilot.press("ctrl+q")
    third = make_engineless_app(tmp_path)
    async with third.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert third.chat.chat_id is None, "a new chat at exit: a new chat again, not the latest"


async def test_a_search_hit_opens_its_chat_with_the_message_at_the_top(tmp_path: Path) -> None:
    """Not the chat's end: each restored answer's thinking fold scrolled itself into view after
    the scroll to the hit, and the last one left the view at the end, the hit out of sight."""
    store = ChatStore.open(tmp_path / "chats.sqlite3")
    chat = store.create_chat("Draft chat")
    hit = 0
    for i in range(6):
        asked = store.add_user_message(chat.id, "Give three options" if i == 2 else f"Question {i}")
        hit = asked if i == 2 else hit
        answer = store.begin_answer(chat.id, "m", "p", {})
        body = "\n\n".join(f"Paragraph {j} of answer {i}. " + "words " * 30 for j in range(4))
        store.finish_answer(answer, "complete", content=body, thinking="thinking " * 20)
    store.close()
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 28)) as pilot:
        await wait_until(pilot, lambda: app.chat.chat_id == chat.id, what="the chat open")
        await app.chat.load_chat(chat.id, show=hit)
        log = app.chat.query_one("#log")
        target = next(w for w in log.query(".message") if getattr(w, "stored_id", None) == hit)
        await wait_until(pilot, lambda: target.has_focus, what="the hit selected")
        for _ in range(10):  # the folds' scrolls ran a few refreshes after the reveal
            await pilot.pause(0.05)
        top = target.virtual_region.y
        assert log.scroll_y <= top <= log.scroll_y + 2, f"view at {log.scroll_y}, the hit at {top}"


async def test_the_footer_names_what_esc_does_now(tmp_path: Path) -> None:
    """It said "esc Stop" with nothing streaming, while esc cancelled an edit or left a message."""
    from textual.widgets._footer import FooterKey

    store = ChatStore.open(tmp_path / "chats.sqlite3")
    chat = store.create_chat()
    store.add_user_message(chat.id, "a question")
    answer = store.begin_answer(chat.id, "m", "p", {})
    store.finish_answer(answer, "complete", content="an answer")
    store.close()
    app = make_engineless_app(tmp_path)

    def esc() -> list[str]:
        return [key.description for key in app.screen.query(FooterKey) if key.key == "escape"]

    async with app.run_test(size=(140, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.chat_id == chat.id, what="the chat open")
        await pilot.pause()
        assert esc() == [], "nothing to stop, edit or leave"
        await pilot.press("ctrl+up")
        await wait_until(pilot, lambda: esc() == ["Back to prompt"], what="a message selected")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.focused, PromptInput), what="back at the prompt")
        await pilot.press("alt+e")
        await wait_until(pilot, lambda: esc() == ["Cancel edit"], what="editing")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.chat.editing is None and esc() == [], what="the edit cancelled")


async def test_frames_wait_for_tokens_only_where_the_engine_shares_the_apps_cores(tmp_path: Path) -> None:
    """vLLM's CPU backend: the UI shares a core with the engine core, and draws as tokens arrive
    (StreamingMarkdown.frames_on_arrival). A GPU or remote engine: frames keep their timer."""
    app = make_engineless_app(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.chat.apply_engine_event(EngineReady("tiny-r1", 2048, 1.0, shares_cores=True))
        assert StreamingMarkdown.frames_on_arrival
        app.chat.apply_engine_event(EngineReady("tiny-r1", 2048, 1.0))
        assert not StreamingMarkdown.frames_on_arrival
