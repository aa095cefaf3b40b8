"""Chat messages in the log: the user's prompt, and the assistant's answer with its thinking.

The answer and the thinking stream through `StreamingMarkdown`, whose cost per update does not grow
with the answer. The thinking sits in a collapsible block that folds away when the answer starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from textual import events
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from vllm_tui.engine.events import AnswerStats, FinishReason
from vllm_tui.store.models import cut_off_label, thought_title
from vllm_tui.widgets.backdrop import Backdrop
from vllm_tui.widgets.markdown_stream import StreamingMarkdown
from vllm_tui.widgets.no_relayout import NoRelayout

_FINISH_LABEL = {"stop": "", "length": "hit max tokens", "abort": "stopped", "error": "failed"}


_UNANSWERED = {
    "abort": "Thinking (stopped before the answer)",
    "length": "Thinking (cut off before the answer)",
    "error": "Thinking (cut off before the answer)",
}
"""The thinking's title when the turn ended before any answer."""

SEPARATOR = " · "
LIVE_RATE_AFTER = 0.5
"""Seconds of stream before the live tok/s is shown."""


def format_stats(
    stats: AnswerStats | None,
    finish: FinishReason | None = None,
    live_rate: float | None = None,
    max_tokens: int | None = None,
) -> str:
    """The line under an answer. `max_tokens`, what the request asked for, tells the two ends vLLM
    both calls "length": fewer tokens than asked means the context window was full."""
    parts: list[str] = []
    if stats is not None:
        parts.append(f"{stats.completion_tokens:,} tokens")
        if stats.reasoning_tokens:
            parts.append(f"{stats.reasoning_tokens:,} thinking")
        if stats.time_to_first_token is not None:
            parts.append(f"TTFT {stats.time_to_first_token:.2f} s")
        rate = stats.tokens_per_second
        if rate is not None:
            parts.append(f"{rate:,.1f} tok/s")
    elif live_rate is not None:
        parts.append(f"{live_rate:,.1f} tok/s")
    if finish == "length" and stats is not None:
        label = cut_off_label(stats.completion_tokens, max_tokens)
        parts.append(label if label == "hit max tokens" else f"{label} (ctrl+n starts a new chat)")
    elif finish and _FINISH_LABEL.get(finish):
        parts.append(_FINISH_LABEL[finish])
    return SEPARATOR.join(parts)


class PhraseLine(Static):
    """The stats line: short phrases joined by " · " that wraps only between them. Wrapped as plain
    text it split "TTFT 0.21 s" into "TTFT" and "0.21 s" when the sidebar narrowed the chat."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__("", markup=False, classes=classes)

    def render(self) -> Content:
        text = str(self.content)
        width = self.size.width
        if width <= 0:
            return Content(text)
        lines: list[str] = []
        for phrase in text.split(SEPARATOR):
            if lines and cell_len(lines[-1]) + cell_len(SEPARATOR + phrase) <= width:
                lines[-1] += SEPARATOR + phrase
            else:
                lines.append(phrase)  # one longer than the width still wraps, as plain text
        return Content("\n".join(lines))


# Keys of a selected (focused) message. ctrl+up/ctrl+down (on the chat screen) select one; the
# actions are the chat screen's, so the same keys work on questions and answers.
MESSAGE_BINDINGS: list[BindingType] = [
    Binding("up,k", "screen.select_message(-1)", "Previous", id="message.previous", show=False),
    Binding("down,j", "screen.select_message(1)", "Next", id="message.next", show=False),
    Binding("y,c", "screen.copy_message", "Copy", id="message.copy"),
    Binding("b", "screen.copy_code", "Copy code", id="message.copy_code"),
    Binding("r", "screen.regenerate", "Regenerate", id="message.regenerate"),
    Binding("e", "screen.edit_prompt", "Edit", id="message.edit"),
    Binding("g", "screen.continue_answer", "Continue", id="message.continue"),
    Binding("d,delete", "screen.delete_message", "Delete", id="message.delete"),
    Binding("t,space", "screen.toggle_fold", "Open/fold thinking", id="message.fold", show=False),
    Binding("i,tab", "screen.focus_prompt", "Prompt", id="message.to_prompt", show=False),
]
"""
| Key | Action |
| :- | :- |
| up, k / down, j | Select the previous / next message. |
| y, c | Copy the message (OSC 52, tmux buffer, and a file). |
| b | Copy the message's last code block. |
| r | Regenerate the last answer (the new one goes beside it, as a tab). |
| e | Edit the last prompt and send it again. |
| g | Continue an answer cut off by max tokens or stopped. |
| t, space | Open or fold the answer's thinking. |
| d, delete | Delete the message, asked first (of a prompt's tabs, that answer alone). |
| i, tab | Back to the prompt. |
"""


class _SaysWhyNot(Widget):
    """A key the footer shows dimmed under this message, pressed anyway, says why it does nothing
    (the screen's `check_action` dims it; without this the key was simply ignored)."""

    def on_key(self, event: events.Key) -> None:
        screen = self.screen
        why_not = getattr(screen, "why_not", None)
        if why_not is None:
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            namespace, name, params = parse_action(binding.action)
            if namespace == "screen" and screen.check_action(name, params) is None and why_not(name):
                event.stop()
                event.prevent_default()
                self.notify(why_not(name), severity="warning", timeout=3)
                return


class UserMessage(_SaysWhyNot, Static):
    """The user's prompt, shown literally (no markup). Focusable, so it can be selected and acted on."""

    BINDINGS: ClassVar[list[BindingType]] = MESSAGE_BINDINGS
    can_focus = True

    SHOWN_CHARS = 4_000
    """A longer prompt (a pasted log, say) is shown cut; the whole text is kept and sent."""

    def __init__(self, text: str, stored_id: int | None = None) -> None:
        shown = text
        if len(text) > self.SHOWN_CHARS:
            rest = len(text) - self.SHOWN_CHARS
            shown = f"{text[: self.SHOWN_CHARS]}\n… {rest:,} more characters (kept in full)"
        super().__init__(shown, markup=False, classes="message user")
        self.text = text
        self.stored_id = stored_id
        """The row of this prompt in the chat store, if it is saved."""

    @property
    def copy_text(self) -> str:
        return self.text


class _ThinkingBlock(Collapsible, NoRelayout, Backdrop):
    """The thinking's fold. Both it and its `Contents` grow with every layout that grows the thinking,
    and as plain Textual widgets each then asked for a second layout of the whole screen (see
    NoRelayout)."""

    class Contents(Collapsible.Contents, NoRelayout, Backdrop):
        pass

    _quiet = False

    def fold(self) -> None:
        """Fold it as the answer begins, without scrolling it into view.

        Collapsible scrolls itself into view after each fold or unfold, which suits a click. Folded
        as an answer starts, that scrolled the log: opening a chat from a search hit, every restored
        answer's fold ran after the scroll to the hit, and the last one took the view to the end."""
        self._quiet = True
        try:
            self.collapsed = True
        finally:
            self._quiet = False

    def _watch_collapsed(self, collapsed: bool) -> None:
        if not self._quiet:
            super()._watch_collapsed(collapsed)
            return
        self._update_collapsed(collapsed)
        self.post_message(self.Collapsed(self) if collapsed else self.Expanded(self))


class AssistantMessage(_SaysWhyNot, Vertical, NoRelayout, Backdrop):
    """One answer: header, thinking (collapsible), the answer, and a stats line. Its height follows
    its content, so the layout that resized it placed everything (see NoRelayout)."""

    BINDINGS: ClassVar[list[BindingType]] = MESSAGE_BINDINGS
    can_focus = True

    def __init__(
        self,
        model: str,
        request_id: str,
        show_thinking: bool = True,
        stored_id: int | None = None,
        sample: int = 0,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(classes="message assistant")
        self.model = model
        self.request_id = request_id
        self.stored_id = stored_id
        """The row of this answer in the chat store, if it is saved."""
        self.sample = sample
        """Which of its prompt's answers this is (a parallel sample's index, or regenerate's count)."""
        self.max_tokens = max_tokens
        """The max tokens its request asked for (None: not known)."""
        self.restored = False
        self.show_thinking = show_thinking
        self.finish_reason: FinishReason | None = None
        self.stats: AnswerStats | None = None
        self.error: str | None = None
        self.failure: tuple[str, str, str] | None = None
        """How it failed, as said under it (title, reason, advice): a copy of it says the same."""
        self._started = time.monotonic()
        self._first_token_at: float | None = None
        self._answer_started_at: float | None = None
        self._thought_s: float | None = None
        self._thought_before: float | None = 0.0
        """Thinking time of the parts before a continue that had not reached the answer (None: not
        known, a restored answer's)."""
        self._last_token_at: float | None = None
        """How long the thinking took, measured live or stored with the answer (None where unknown)."""
        self._tokens = 0
        self._last_stats_update = 0.0
        self._live_rate_shown = False
        # Built here, not in compose(): deltas can arrive before this widget has composed (the
        # engine answers while the mount is still pending), and StreamingMarkdown buffers until then.
        self._thinking = StreamingMarkdown(classes="thinking")
        self._answer = StreamingMarkdown(classes="answer")
        self._stats = PhraseLine(classes="stats")
        self._block = _ThinkingBlock(
            self._thinking, title="Thinking…", collapsed=False, classes="thinking-block"
        )
        self._block.display = False  # shown once the first thinking arrives

    def compose(self) -> ComposeResult:
        yield Static(self.model, markup=False, classes="message-header")
        yield self._block
        yield self._answer
        yield self._stats

    @property
    def thinking_text(self) -> str:
        return self._thinking.text

    @property
    def answer_text(self) -> str:
        return self._answer.text

    @property
    def thinking_view(self) -> StreamingMarkdown:
        return self._thinking

    @property
    def answer_view(self) -> StreamingMarkdown:
        return self._answer

    @property
    def thought_seconds(self) -> float | None:
        """How long the answer thought (its first token to the answer's first), where known."""
        return self._thought_s

    @property
    def streaming(self) -> bool:
        return self.finish_reason is None and self.error is None

    @property
    def copy_text(self) -> str:
        return self.answer_text

    @property
    def can_continue(self) -> bool:
        """Cut off (max tokens, stopped, interrupted) with something to continue from."""
        cut = self.finish_reason in ("length", "abort") or self.error is not None
        return not self.streaming and cut and bool(self.answer_text or self.thinking_text)

    def resume(self) -> None:
        """Stream again into this message (continue): the finished Markdown views are swapped for
        open ones holding the same text, since a finished `StreamingMarkdown` takes no more."""
        for name in ("thinking", "answer"):
            old: StreamingMarkdown = getattr(self, f"_{name}")
            parent = old.parent
            assert isinstance(parent, Widget)
            fresh = StreamingMarkdown(old.text, classes=name)
            old.remove_class(name)  # so queries find the fresh one while the old one is removed
            parent.mount(fresh, after=old)
            old.remove()
            setattr(self, f"_{name}", fresh)
        self.finish_reason = None
        self.error = None
        self.remove_class("stopped", "failed")
        if self._answer_started_at is None and self._thought_before is not None:
            # Cut off while thinking: this part's thinking time counts towards "Thought for", which
            # said only the continued part's.
            if self.restored or self._first_token_at is None or self._last_token_at is None:
                self._thought_before = None if self.thinking_text else 0.0
            else:
                self._thought_before += self._last_token_at - self._first_token_at
        self._started = time.monotonic()
        self._first_token_at = None
        self._tokens = 0
        self._stats.update("continuing…")

    def append_thinking(self, text: str, tokens: int = 0) -> None:
        self._count(tokens)
        block = self._block
        if not block.display and self.show_thinking:
            block.display = True
        self._thinking.append(text)

    def append_answer(self, text: str, tokens: int = 0) -> None:
        self._count(tokens)
        if self._answer_started_at is None:
            # R1 puts blank lines between </think> and the answer; they are not part of it.
            text = text.lstrip()
            if not text:
                return
            self._answer_started_at = time.monotonic()
            self._answer.continue_from(self._thinking)
            block = self._block
            # Hidden thinking (ctrl+t) is titled and folded all the same: shown again later, it read
            # "▼ Thinking…", open, on a finished answer.
            if self.thinking_text:
                thought = self._answer_started_at - (self._first_token_at or self._started)
                before = self._thought_before
                # A restored answer has no clock of its thinking; restore() names its length instead.
                known = not self.restored and before is not None
                self._thought_s = thought + (before or 0.0) if known else None
                block.title = (
                    f"Thought for {self._thought_s:.1f} s" if self._thought_s is not None else "Thought"
                )
                block.fold()
        self._answer.append(text)

    def _count(self, tokens: int) -> None:
        now = time.monotonic()
        if self._first_token_at is None:
            self._first_token_at = now
        self._last_token_at = now
        self._tokens += tokens
        # The live rate is redrawn four times a second, not per token, and not before half a second of
        # stream: over its first few tokens, which can come at once, it read 800-36,000 tok/s
        # (walkthrough 19).
        if now - self._last_stats_update > 0.25 and self._tokens > 1:
            elapsed = now - self._first_token_at
            if elapsed >= LIVE_RATE_AFTER:
                self._last_stats_update = now
                # One short line, the same height as the last one: no layout needed after the first.
                rate = (self._tokens - 1) / elapsed
                self._stats.update(format_stats(None, live_rate=rate), layout=not self._live_rate_shown)
                self._live_rate_shown = True

    def show_pending(self, then: Callable[[], None]) -> bool:
        """Put text that arrived since the last frame on screen now and call `then` once it is there.
        False (and `then` is not called) if there was none."""
        views = [view for view in (self._thinking, self._answer) if view.behind]
        left = len(views)

        def one_shown() -> None:
            nonlocal left
            left -= 1
            if not left:
                then()

        for view in views:
            view.show_pending(one_shown)
        return bool(views)

    def finish(self, reason: FinishReason, stats: AnswerStats) -> None:
        self.finish_reason = reason
        self.stats = stats
        for md in (self._thinking, self._answer):
            md.finish()
        block = self._block
        thought = bool(self.thinking_text)  # shown or not (ctrl+t): it may be shown later
        if thought and self._answer_started_at is None:
            # Said as what happened: "(no answer yet)" on a stopped turn read as if more would come.
            block.title = _UNANSWERED.get(reason, "Thinking")
        elif thought and stats.reasoning_tokens and self._thought_s is not None:
            # The title it got as the answer began, its length added (not reworded: "Thought for 0.2 s"
            # turning into "Thought · 13 tokens · 0.2 s" read as a different thing).
            block.title = thought_title(stats.reasoning_tokens, self._thought_s)
        self._stats.update(format_stats(stats, reason, max_tokens=self.max_tokens))
        self.set_class(reason == "abort", "stopped")

    def restore(
        self,
        thinking: str,
        answer: str,
        reason: FinishReason,
        stats: AnswerStats | None,
        note: str = "",
        thinking_seconds: float | None = None,
    ) -> None:
        """Fill in a saved answer (after mounting) without replaying it as a stream. `thinking_seconds`:
        how long it thought, as stored (None for answers stored before the store kept it)."""
        self.restored = True
        if thinking:
            self.append_thinking(thinking)
        if answer:
            self.append_answer(answer)
            self._thought_s = thinking_seconds if thinking else None
        if thinking and answer and stats is not None and stats.reasoning_tokens:
            self._block.title = thought_title(stats.reasoning_tokens, thinking_seconds)
        if note:
            self.fail(note, "the answer was cut off here")
        else:
            self.finish(reason, stats or AnswerStats())
        if stats is None or not stats.completion_tokens:
            self._stats.update(note or _FINISH_LABEL.get(reason, ""))

    def fail(self, title: str, reason: str, advice: str = "") -> None:
        self.error = title
        self.failure = (title, reason, advice)
        for md in (self._thinking, self._answer):
            md.finish()
        if self.thinking_text and self._answer_started_at is None:
            self._block.title = _UNANSWERED["error"]  # not "Thinking…", as if it went on
        text = f"✗ {title}: {reason}" + (f"\n  {advice}" if advice else "")
        self._stats.update(text)
        self.add_class("failed")

    def toggle_fold(self) -> bool:
        """Open or fold the thinking (a keyboard user's click on "▶ Thought…"); False if it has none."""
        block = self._block
        if not block.display:
            return False
        block.collapsed = not block.collapsed
        return True

    def set_thinking_visible(self, visible: bool) -> None:
        self.show_thinking = visible
        block = self._block
        block.display = visible and bool(self.thinking_text)


class Notice(Static):
    """An error or information panel in the log (engine failed to load, engine died, …)."""

    def __init__(self, title: str, body: str, kind: str = "error") -> None:
        super().__init__(f"{title}\n{body}".rstrip(), markup=False, classes=f"notice {kind}")
