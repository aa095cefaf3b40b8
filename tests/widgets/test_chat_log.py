"""ChatLog: one layout per change, and still a scrollbar when the chat outgrows the screen."""

from __future__ import annotations

from textual.app import App, ComposeResult

from bench.synthetic import prose_tokens
from tests.widgets.test_message import CSS, screen_text
from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.message import AssistantMessage


class LogApp(App[None]):
    CSS_PATH = CSS

    def compose(self) -> ComposeResult:
        with ChatLog(id="log"):
            yield AssistantMessage("tiny-r1", "r1")

    def on_mount(self) -> None:
        self.query_one(ChatLog).anchor()


async def test_the_scrollbar_comes_and_goes_and_the_end_stays_in_view() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log, message = app.query_one(ChatLog), app.query_one(AssistantMessage)
        message.append_thinking("Short thought.", 3)
        await pilot.pause(0.2)
        assert not log.show_vertical_scrollbar
        # One burst that outgrows the screen, then nothing: no later layout would place the scrollbar.
        tokens = prose_tokens(1500, seed=11)
        message.append_thinking("".join(tokens), len(tokens))
        await pilot.pause(0.5)
        assert log.show_vertical_scrollbar, "the thinking outgrew the screen"
        assert log.vertical_scrollbar.region.height > 0, "and the scrollbar was placed"
        assert log.scroll_y == log.max_scroll_y > 0, "anchored at the end"
        last_words = "".join(tokens).split()[-3:]
        assert " ".join(last_words) in " ".join(screen_text(app).split())
        # The answer starts: the thinking folds away, the chat is under one screen again.
        message.append_answer("Done.", 1)
        message.finish("stop", AnswerStats(completion_tokens=1501))
        await pilot.pause(0.3)
        assert not log.show_vertical_scrollbar
        assert log.vertical_scrollbar.region.height == 0 or not log.vertical_scrollbar.display
        assert "Done." in screen_text(app)
