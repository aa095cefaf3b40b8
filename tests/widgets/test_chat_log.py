"""ChatLog: one layout per change, a scrollbar when the chat outgrows the screen, far answers folded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from bench.synthetic import prose_tokens
from tests.widgets.test_message import CSS, screen_text
from vllm_tui.engine.events import AnswerStats
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.message import AssistantMessage, UserMessage


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


class LongChatApp(App[None]):
    """A chat of finished turns (a prompt, then an answer with thinking), as restored from the store."""

    CSS_PATH = CSS

    def __init__(self, turns: int = 16, fold: bool = True) -> None:
        super().__init__()
        self.turns = turns
        self.fold = fold

    def compose(self) -> ComposeResult:
        log = ChatLog(id="log")
        if not self.fold:
            log.FOLD_SCREENS = 1_000.0
        with log:
            for n in range(self.turns):
                yield UserMessage(f"question {n}")
                yield AssistantMessage("tiny-r1", f"r{n}")

    async def on_mount(self) -> None:
        for n, message in enumerate(self.query(AssistantMessage)):
            words = " ".join(prose_tokens(120, seed=n)).split()
            answer = f"Answer {n}: " + " ".join(words[:60]) + f"\n\n- point {n}\n- end of answer {n}"
            message.restore(f"thought {n}", answer, "stop", AnswerStats(completion_tokens=80))
        await asyncio.sleep(0.1)
        # Each restored thinking fold scrolls itself into view (Textual's Collapsible), which lets go
        # of the anchor: the chat screen anchors the log again once a chat is shown, as here.
        self.query_one(ChatLog).scroll_end(animate=False)
        self.query_one(ChatLog).anchor()


def _displayed(app: App[None]) -> int:
    """Widgets a layout walks: those not under `display: none`."""
    return sum(1 for w in app.screen.walk_children() if all(n.display for n in w.ancestors_with_self))


def _no_frame_shows_a_fold(app: App[None]) -> list[str]:
    """Record every frame drawn while a folded answer overlaps the log's view (an empty patch), or
    one just unfolded whose header the style sheet has not displayed again yet."""
    compositor = app.screen._compositor
    log = app.query_one(ChatLog)
    seen: list[str] = []
    render_update = compositor.render_update

    def checking(*args, **kwargs):  # type: ignore[no-untyped-def]
        for child in log.children:
            folded = child.has_class("-folded") or (
                isinstance(child, AssistantMessage) and not child.children[0].display
            )
            if folded and child.region.overlaps(log.region):
                seen.append(f"{child} at {child.region}")
        return render_update(*args, **kwargs)

    compositor.render_update = checking  # type: ignore[method-assign]
    return seen


async def test_far_answers_fold_keeping_their_height_and_unfold_before_they_are_shown() -> None:
    folding, plain = LongChatApp(), LongChatApp(fold=False)
    async with folding.run_test(size=(80, 24)) as pilot, plain.run_test(size=(80, 24)) as plain_pilot:
        await pilot.pause(0.3)
        await plain_pilot.pause(0.3)
        log, plain_log = folding.query_one(ChatLog), plain.query_one(ChatLog)
        assert len(log.folded) >= 10 and not plain_log.folded
        assert log.virtual_size == plain_log.virtual_size, "folded answers keep their height"
        assert log.scroll_y == plain_log.scroll_y == log.max_scroll_y
        assert screen_text(folding) == screen_text(plain)
        assert all(isinstance(child, AssistantMessage) for child in log.folded)
        assert _displayed(folding) + 5 * len(log.folded) <= _displayed(plain), "walks stop at folds"
        seen = _no_frame_shows_a_fold(folding)
        # Page by page to the top, then one jump to the end and one back to the top.
        while log.scroll_y > 0:
            log.scroll_page_up(animate=False)
            plain_log.scroll_page_up(animate=False)
            await pilot.pause()
            await plain_pilot.pause()
            assert screen_text(folding) == screen_text(plain), log.scroll_y
        for jump in ("scroll_end", "scroll_home"):
            getattr(log, jump)(animate=False)
            getattr(plain_log, jump)(animate=False)
            await pilot.pause(0.1)
            await plain_pilot.pause(0.1)
            assert screen_text(folding) == screen_text(plain), jump
        assert not seen, seen
        assert log.folded, "what the view left behind folds again"
        assert log.virtual_size == plain_log.virtual_size


async def test_a_new_width_unfolds_and_folds_again_at_the_new_heights() -> None:
    folding, plain = LongChatApp(), LongChatApp(fold=False)
    async with folding.run_test(size=(80, 24)) as pilot, plain.run_test(size=(80, 24)) as plain_pilot:
        await pilot.pause(0.3)
        log, plain_log = folding.query_one(ChatLog), plain.query_one(ChatLog)
        assert log.folded
        await pilot.resize_terminal(60, 24)
        await plain_pilot.resize_terminal(60, 24)
        await pilot.pause(0.3)
        await plain_pilot.pause(0.3)
        assert log.folded
        assert log.virtual_size == plain_log.virtual_size
        log.scroll_home(animate=False)
        plain_log.scroll_home(animate=False)
        await pilot.pause(0.1)
        await plain_pilot.pause(0.1)
        assert screen_text(folding) == screen_text(plain)


async def _until(pilot: Pilot[None], condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Folding runs after a refresh: on a loaded machine that comes later than a fixed pause."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)


async def test_streaming_focused_and_last_answers_stay_unfolded_and_unfold_all_unfolds() -> None:
    app = LongChatApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        log = app.query_one(ChatLog)
        answers = list(app.query(AssistantMessage))
        await _until(pilot, lambda: answers[0].has_class("-folded"))
        assert answers[0].has_class("-folded")
        assert not any(a.has_class("-folded") for a in answers[-2:]), "the last children stay"
        # A selected answer far up stays unfolded while the view goes back to the end.
        answers[1].focus(scroll_visible=True)
        await pilot.pause(0.1)
        log.scroll_end(animate=False)
        await pilot.pause(0.2)
        await _until(pilot, lambda: answers[2].has_class("-folded"))
        assert not answers[1].has_class("-folded") and answers[2].has_class("-folded")
        # A new turn streams at the end: the answers it pushes away fold, it does not.
        live = AssistantMessage("tiny-r1", "live")
        await log.mount(UserMessage("one more"), live)
        live.append_answer(" ".join(prose_tokens(3_000, seed=5)), 3_000)
        await pilot.pause(0.5)
        assert live.streaming and not live.has_class("-folded")
        log.unfold_all()
        assert not log.folded
