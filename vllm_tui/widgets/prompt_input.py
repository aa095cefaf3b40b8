"""The multi-line prompt: Enter sends; ctrl+j (or alt+enter) inserts a newline.

ctrl+m and ctrl+i are what terminals send for Enter and Tab, and shift+enter is indistinguishable
from Enter in most terminals and in tmux, so the newline key is ctrl+j (a literal line feed, which
every terminal, tmux and SSH pass through). alt+enter is bound too, but most terminals and tmux
send it as ESC + Enter, which Textual reads as Enter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from vllm_tui.widgets.ordered_keys import handle_in_order


def _with_pastes(text: str, pastes: Iterable[tuple[str, str]]) -> str:
    """`text` with each large-paste marker replaced by what was pasted."""
    for marker, pasted in pastes:
        text = text.replace(marker, pasted, 1)
    return text


@dataclass(frozen=True)
class PromptStash:
    """What the prompt held when something else took it over (alt+e), to be put back."""

    text: str
    pastes: tuple[tuple[str, str], ...] = ()

    @property
    def full_text(self) -> str:
        return _with_pastes(self.text, self.pastes)


class PromptInput(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not priority bindings: those run when the key arrives, ahead of characters still queued
        # for the prompt, so a fast burst ("hello" + enter from tmux send-keys, a quick typist over
        # SSH) sent the text before it was typed. `_on_key` runs them in order instead.
        Binding("enter", "submit", "Send", id="prompt.send"),
        Binding("ctrl+j,alt+enter", "newline", "Newline", id="prompt.newline", show=False),
    ]
    """
    | Key | Action |
    | :- | :- |
    | enter | Send the prompt. |
    | ctrl+j | Insert a newline (alt+enter too, where the terminal tells it from enter: not in tmux). |
    """

    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str, typed: str = "") -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text
            """What is sent: large pastes in full."""
            self.typed = typed or text
            """The prompt as it read at enter (large pastes as their markers), for `take`."""

        @property
        def control(self) -> PromptInput:
            return self.prompt

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder="Ask something…  (enter sends · ctrl+j newline · esc stops)",
            **kwargs,  # type: ignore[arg-type]
        )
        self._pastes: list[tuple[str, str]] = []

    LARGE_PASTE = 64_000
    """Characters above which a paste is held aside and shown as one marker line: the TextArea
    re-wraps its whole document on edits, and a megabyte paste took minutes to land."""

    async def _on_paste(self, event: events.Paste) -> None:
        if len(event.text) <= self.LARGE_PASTE:
            return  # TextArea's own handler takes it
        event.prevent_default()
        if getattr(event, "_held", False):  # Textual may hand the same event to this method twice
            return
        event._held = True  # type: ignore[attr-defined]
        lines = event.text.count("\n") + 1
        marker = f"⟦paste {len(self._pastes) + 1}: {len(event.text):,} characters, {lines:,} lines⟧"
        self._pastes.append((marker, event.text))
        self.insert(marker)
        self.notify(
            f"Large paste held as {marker}: sent in full with the message (delete the marker to drop it).",
            timeout=6,
        )

    @property
    def full_text(self) -> str:
        """The prompt with each large-paste marker replaced by what was pasted."""
        return _with_pastes(self.text, self._pastes)

    def clear(self) -> Any:
        self._pastes.clear()
        return super().clear()

    def set_aside(self) -> PromptStash:
        """Empty the prompt, returning what it held for `put_back`."""
        stash = PromptStash(self.text, tuple(self._pastes))
        self.clear()
        return stash

    def put_back(self, stash: PromptStash) -> None:
        """Restore a stash, ahead of anything typed since."""
        if not stash.text:
            return
        rest, pastes = self.text, self._pastes
        self.clear()
        self.insert(stash.text + rest)
        self._pastes = [*stash.pastes, *pastes]

    def take(self, typed: str) -> None:
        """Remove what was sent (`Submitted.typed`), keeping whatever was typed after the enter:
        keys that arrive in one burst (a fast typist, tmux send-keys) reach the prompt before the
        screen has handled the submission."""
        text = self.text
        rest = text[len(typed) :] if text.startswith(typed) else ""
        pastes = [(marker, pasted) for marker, pasted in self._pastes if marker in rest]
        self.clear()
        if rest:
            self.insert(rest)
            self._pastes = pastes

    async def _on_key(self, event: events.Key) -> None:
        # Every key in the order it came, its own (enter, backspace, the arrows) and the screen's or
        # the App's (esc, alt+r, F-keys): see vllm_tui.widgets.ordered_keys.
        if await handle_in_order(self, event, {"submit": self.action_submit, "newline": self.action_newline}):
            return
        # Terminals send alt+letter as ESC + letter, which Textual delivers with the letter as its
        # character: TextArea would type the letter and swallow the key, so an alt+ key that nothing
        # binds must not type either.
        if event.key.startswith("alt+") and len(event.key) > 4:
            event.prevent_default()

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.full_text, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
