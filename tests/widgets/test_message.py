"""AssistantMessage: thinking folds away when the answer starts, and the answer shows in full."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from bench.synthetic import prose_tokens
from tests.widgets.test_markdown_stream import count_layouts, count_screen_layouts
from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.message import AssistantMessage, format_stats

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
        message.finish("stop", AnswerStats(completion_tokens=15, reasoning_tokens=5))
        await pilot.pause(0.3)
        shown = screen_text(app)
        assert "▶ Thought for " in shown and " s · 5 tokens" in shown
        assert "The user wants code." not in shown, "folded thinking stays hidden"
        for phrase in ("Here is the program:", "print('hi')", "Run it.", "15 tokens"):
            assert phrase in shown, phrase
        message.set_thinking_visible(True)
        await pilot.click(".thinking-block CollapsibleTitle")
        await pilot.pause(0.2)
        assert "The user wants code." in screen_text(app)
        assert "Run it." in screen_text(app)


@pytest.mark.parametrize(
    ("seconds", "title"),
    [(None, "▶ Thought · 1,234 tokens"), (8.25, "▶ Thought for 8.2 s · 1,234 tokens")],
    ids=["stored-before-schema-4", "time-stored"],
)
async def test_a_restored_answer_names_its_thinking_by_length(seconds: float | None, title: str) -> None:
    """ "Thinking" would read as if it still went on: the fold says it is over, how long it was, and
    how long it took where the store kept that (schema 4 on; not known for answers stored before)."""
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one(AssistantMessage)
        message.restore(
            "The user wants code.",
            "Here it is.",
            "stop",
            AnswerStats(completion_tokens=1500, reasoning_tokens=1234, decode_seconds=10.0),
            thinking_seconds=seconds,
        )
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert title in shown
        assert "Here it is." in shown and "The user wants code." not in shown
        assert message.thought_seconds == seconds  # kept when it is saved again (a continued answer)


async def test_growing_thinking_lays_the_screen_out_once_per_growth() -> None:
    """The fold and its contents grow with the thinking; neither may ask for a second layout (as plain
    Textual widgets each did, measured 20 layouts for 13 growths; now as many as growths)."""
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(ChatLog).anchor()
        message = app.query_one(AssistantMessage)
        message.append_thinking("Start.", 1)
        await pilot.pause(0.2)
        grew = count_layouts(message.thinking_view._live)
        layouts = count_screen_layouts(app.screen)
        tokens = prose_tokens(600, seed=5)
        for token in tokens:
            message.append_thinking(token, 1)
            await pilot.pause(0.004)
        await pilot.pause(0.3)
        assert grew[0] >= 4, "the thinking grew past its reserved rows several times"
        assert layouts[0] <= grew[0] + 2, (layouts[0], grew[0])
        assert message.region.height == message.virtual_size.height, "placed at its full height"
        assert "print(f" in screen_text(app), "the newest line is on screen"


def test_the_stats_line_tells_max_tokens_from_a_full_context() -> None:
    """vLLM says "length" for both; fewer tokens than the request asked for means the context
    window filled up, which a new chat (not a larger max tokens) cures."""
    stats = AnswerStats(prompt_tokens=474, completion_tokens=1574, decode_seconds=20.0)
    assert format_stats(stats, "length", max_tokens=2000).endswith(
        "hit the context limit (ctrl+n starts a new chat)"
    )
    assert format_stats(stats, "length", max_tokens=1574).endswith("hit max tokens")
    assert format_stats(stats, "length").endswith("hit max tokens")  # the request's size not known
    assert format_stats(stats, "abort", max_tokens=2000).endswith("stopped")


async def test_the_stats_line_wraps_between_its_phrases_only() -> None:
    """With the sidebar open the chat is narrow: "TTFT 0.21 s" was split into "TTFT" / "0.21 s"."""
    stats = AnswerStats(
        prompt_tokens=9,
        completion_tokens=1574,
        reasoning_tokens=312,
        time_to_first_token=0.21,
        decode_seconds=20.0,
    )
    phrases = format_stats(stats, "stop").split(" · ")
    for width in (24, 34, 46):
        app = MessageApp()
        async with app.run_test(size=(width, 24)) as pilot:
            message = app.query_one(AssistantMessage)
            message.append_answer("Done.", 2)
            message.finish("stop", stats)
            await pilot.pause(0.3)
            stats_line = message.query_one(".stats")
            rows = [s.text.rstrip() for s in stats_line.render_lines(stats_line.region.reset_offset)]
            assert len(rows) > 1, width  # narrow enough to wrap
            assert [p for row in rows for p in row.split(" · ")] == phrases, (width, rows)


async def test_thinking_hidden_while_it_streamed_is_folded_and_titled_when_shown_again() -> None:
    """ctrl+t hid the thinking, an answer came, ctrl+t showed it again: it read "▼ Thinking…", open,
    on a finished answer."""
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one(AssistantMessage)
        message.set_thinking_visible(False)
        message.append_thinking("The user greets me.", 5)
        message.append_answer("\n\nHello!", 2)
        message.finish("abort", AnswerStats(completion_tokens=7, reasoning_tokens=5))
        await pilot.pause(0.1)
        assert not message._block.display
        message.set_thinking_visible(True)
        await pilot.pause(0.1)
        assert message._block.display and message._block.collapsed
        assert message._block.title.startswith("Thought for ") and message._block.title.endswith(
            " · 5 tokens"
        )


async def test_thinking_of_a_turn_ended_before_its_answer_says_how_it_ended() -> None:
    """ "Thinking (no answer yet)" on a stopped turn read as if more would come."""
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one(AssistantMessage)
        message.append_thinking("The user greets me", 4)
        message.finish("abort", AnswerStats(completion_tokens=4, reasoning_tokens=4))
        await pilot.pause(0.1)
        assert message._block.title == "Thinking (stopped before the answer)"


async def test_a_continued_answer_thought_for_both_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut off by max tokens while thinking and continued (alt+g): "Thought for" counts the thinking
    of both parts, not the continued part's alone (walkthrough 18)."""
    import vllm_tui.widgets.message as message_module

    clock = [100.0]

    class Clock:
        """The message's clock only (the time module itself runs Textual's timers)."""

        @staticmethod
        def monotonic() -> float:
            return clock[0]

    monkeypatch.setattr(message_module, "time", Clock)
    app = MessageApp()
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.query_one(AssistantMessage)
        message.append_thinking("Okay, the user", 3)
        clock[0] += 2.0
        message.append_thinking(" greets me", 3)
        message.finish("length", AnswerStats(completion_tokens=6, reasoning_tokens=6))
        await pilot.pause(0.1)
        assert message._block.title == "Thinking (cut off before the answer)"
        clock[0] += 30.0  # the user reads, then continues
        message.resume()
        clock[0] += 0.5
        message.append_thinking(" so I answer briefly", 4)
        clock[0] += 1.0
        message.append_answer("Hello!", 2)
        # 2 s in the first part and 1 s in the second, each from its first token (as the first
        # part's: the wait for it is the prompt's reading, TTFT); none of the 30 s between.
        assert message.thought_seconds == pytest.approx(3.0)
        assert message._block.title == "Thought for 3.0 s"
