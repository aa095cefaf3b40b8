"""Several answers to one prompt as tabs, one of which is kept: parallel samples (vLLM's `n`, one
batch), or the answers regenerate added beside the first."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static, Tab, Tabs

from vllm_tui.widgets.backdrop import Backdrop
from vllm_tui.widgets.message import AssistantMessage
from vllm_tui.widgets.no_relayout import NoRelayout


class SamplesView(Vertical, NoRelayout, Backdrop):
    """The answers to one prompt, one tab each: an n-sample request's, or the last prompt's answers
    that regenerate kept side by side. Until one is kept the shown tab stands for the turn (it is the
    answer sent back to the model with the next prompt).

    A tab bar above the answers themselves, the hidden ones with `display` off, rather than Textual's
    `TabbedContent`: that puts each answer two containers deeper (a `ContentSwitcher`, a `TabPane`),
    and those, resized on every frame in which the shown answer grows, each asked Textual for a second
    layout of the whole screen (see NoRelayout): one in two of the stream's layouts, 7-13 ms each.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "switch(-1)", "Previous answer", id="samples.previous", show=False),
        Binding("right,l", "switch(1)", "Next answer", id="samples.next", show=False),
        Binding("enter", "screen.keep_sample", "Keep this one", id="samples.keep"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | left, h / right, l | Show the previous / next answer. |
    | enter (alt+k anywhere) | Keep the answer shown; the others are deleted. |
    """

    def __init__(self, messages: list[AssistantMessage], shown: int = 0) -> None:
        super().__init__(classes="message samples")
        self.messages = messages
        self._index = shown

    def compose(self) -> ComposeResult:
        yield Static(
            f"{len(self.messages)} answers · ←/→ switch · enter (or alt+k) keeps the one shown",
            markup=False,
            classes="samples-header",
        )
        tabs = [Tab(f"Answer {i + 1}", id=f"sample-{i}") for i in range(len(self.messages))]
        yield Tabs(*tabs, active=f"sample-{self._index}")
        self._show(self._index)
        yield from self.messages

    @property
    def active_index(self) -> int:
        return self._index

    @property
    def active(self) -> AssistantMessage:
        return self.messages[self._index]

    @property
    def streaming(self) -> bool:
        return any(m.streaming for m in self.messages)

    def show(self, index: int) -> None:
        self._show(index % len(self.messages))
        if self.is_mounted:
            self.query_one(Tabs).active = f"sample-{self._index}"

    def _show(self, index: int) -> None:
        self._index = index
        for i, message in enumerate(self.messages):
            message.display = i == index

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        # A tab clicked, or the bar's own keys while it has focus (also sent once when it mounts).
        event.stop()
        if event.tab.id is not None and event.tab.id.startswith("sample-"):
            self._show(int(event.tab.id.removeprefix("sample-")))

    def action_switch(self, step: int) -> None:
        focused = self.screen.focused
        self.show(self._index + step)
        if focused in self.messages:
            self.call_after_refresh(self.active.focus)
