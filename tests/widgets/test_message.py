"""AssistantMessage: thinking folds away when the answer starts, and the answer shows in full."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.message import AssistantMessage

CSS = Path(__file__).resolve().parents[2] / "vllm_tui" / "screens" / "chat.tcss"


class MessageApp(App[None]):
    CSS_PATH = CSS

    def compose(self) -> ComposeResult:
        with ChatLog(id="log"):
            yield AssistantMessage("tiny-r1", "r1")


def screen_text(app: App[None]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_finished_answer_folds_the_thinking_and_shows_the_answer() -> None:
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one(AssistantMessage)
        message.append_thinking("The user wants code.", 5)
        await pilot.pause(0.1)
        assert "The user wants code." in screen_text(app)
        message.append_answer("\n\nHere is the program:\n\n```python\nprint('hi')\n```\n\nRun it.", 10)
        await pilot.pause(0.1)
        message.finish("stop", AnswerStats(completion_tokens=15))
        await pilot.pause(0.3)
        shown = screen_text(app)
        assert "▶ Thought for" in shown
        assert "The user wants code." not in shown, "folded thinking stays hidden"
        for phrase in ("Here is the program:", "print('hi')", "Run it.", "15 tokens"):
            assert phrase in shown, phrase
        message.set_thinking_visible(True)
        await pilot.click(".thinking-block CollapsibleTitle")
        await pilot.pause(0.2)
        assert "The user wants code." in screen_text(app)
        assert "Run it." in screen_text(app)
