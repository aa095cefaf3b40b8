"""SamplesView: one answer shown at a time, switched by its tabs or keys, laid out once per growth."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from bench.synthetic import prose_tokens
from tests.support import make_engineless_app
from tests.widgets.test_markdown_stream import count_layouts, count_screen_layouts
from tests.widgets.test_message import CSS, screen_text
from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.message import AssistantMessage, UserMessage
from vllm_tui.widgets.samples import SamplesView


class SamplesApp(App[None]):
    CSS_PATH = CSS

    def __init__(self) -> None:
        super().__init__()
        self.view = SamplesView([AssistantMessage("tiny-r1", "r1", sample=i) for i in range(3)])

    def compose(self) -> ComposeResult:
        with ChatLog(id="log"):
            yield self.view

    def on_mount(self) -> None:
        self.query_one(ChatLog).anchor()


async def test_one_sample_shown_and_tabs_and_keys_switch_it() -> None:
    app = SamplesApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view
        for i, message in enumerate(view.messages):
            message.append_answer(f"Answer number {i + 1}.", 4)
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "Answer 1" in shown and "Answer 3" in shown, "the tab bar"
        assert "Answer number 1." in shown and "Answer number 2." not in shown
        await pilot.click("#sample-2")
        await pilot.pause(0.2)
        assert view.active_index == 2 and view.active is view.messages[2]
        shown = screen_text(app)
        assert "Answer number 3." in shown and "Answer number 1." not in shown
        view.messages[2].focus()
        await pilot.pause(0.1)
        selected = "←/→ switch · enter keeps the one shown"
        assert selected in str(view.query_one(".samples-header").render())
        await pilot.press("right")  # wraps round to the first
        await pilot.pause(0.2)
        assert view.active_index == 0 and app.focused is view.messages[0]
        # Still selected, and the header still says so (it went back to "ctrl+↑ selects").
        assert selected in str(view.query_one(".samples-header").render())
        assert "Answer number 1." in screen_text(app)
        view.show(1)  # as the chat screen does: takes effect at once
        assert view.active is view.messages[1]
        await pilot.pause(0.2)
        assert "Answer number 2." in screen_text(app) and "Answer number 1." not in screen_text(app)


async def test_a_growing_sample_lays_the_screen_out_once_per_growth() -> None:
    """The answer outgrowing its reserved rows asks for one layout; nothing between it and the log may
    ask for a second (Textual's TabbedContent did: ContentSwitcher and TabPane, resized each time)."""
    app = SamplesApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.view.messages[0]
        message.append_answer("Start.", 1)
        await pilot.pause(0.2)
        grew = count_layouts(message._answer._live)
        layouts = count_screen_layouts(app.screen)
        for token in prose_tokens(600, seed=5):
            message.append_answer(token, 1)
            await pilot.pause(0.004)
        await pilot.pause(0.3)
        assert grew[0] >= 4, "the answer grew past its reserved rows several times"
        # Measured: as many layouts as growths (15 of 15, 17 of 17); with TabbedContent 22 for 15. A
        # little room for a block settling or the scrollbar coming in a frame of its own.
        assert layouts[0] <= grew[0] + 3, (layouts[0], grew[0])


async def test_the_model_hears_the_tab_shown_or_the_nearest_that_said_something() -> None:
    """A regenerate cut off before it said anything (an engine restart) is the tab shown: the
    model hears the tab before it, not nothing (the whole turn was dropped from the history)."""
    from vllm_tui.screens.chat_actions import _heard

    app = SamplesApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view
        first, second, third = view.messages
        first.append_answer("The first answer.", 4)
        first.finish("stop", AnswerStats(completion_tokens=4))
        second.append_answer("The second answer.", 4)
        second.finish("stop", AnswerStats(completion_tokens=4))
        third.append_thinking("Okay, the user", 4)
        third.fail("Interrupted", "the engine was restarted")
        await pilot.pause(0.1)
        view.show(2)
        assert _heard(view) is second
        # Said where it is not the answer shown.
        assert "the model hears answer 2" in str(view.query_one(".samples-header").render())
        # Its thinking is titled as what happened, and a copy of it says what the original said.
        assert third._block.title == "Thinking (cut off before the answer)"
        assert third.failure == ("Interrupted", "the engine was restarted", "")
        view.show(0)
        assert _heard(view) is first
        assert "the model hears" not in str(view.query_one(".samples-header").render())
        view.show(1)
        assert _heard(view) is second


async def test_alt_k_from_the_prompt_acts_on_the_last_prompts_tabs_only(tmp_path: Path) -> None:
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.chat.query_one("#log")
        older = SamplesView([AssistantMessage("m", f"r{i}", sample=i) for i in range(2)])
        await log.mount_all([UserMessage("older"), older, UserMessage("last"), AssistantMessage("m", "r9")])
        for m in [*older.messages, *log.query(AssistantMessage)]:
            if not m.answer_text:
                m.append_answer("An answer.", 3)
                m.finish("stop", AnswerStats(completion_tokens=3))
        await pilot.pause(0.1)
        app.chat.action_focus_prompt()
        await pilot.press("alt+k")
        await pilot.pause(0.2)
        assert app.screen is app.chat and older.is_attached and len(older.messages) == 2
        assert any("The last prompt has one answer" in str(n.message) for n in app._notifications)
