"""Several answers to one prompt as tabs, one of which is kept: parallel samples (vLLM's `n`, one
batch), or the answers regenerate added beside the first."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tab, Tabs

from vllm_tui.widgets.backdrop import Backdrop
from vllm_tui.widgets.message import AssistantMessage
from vllm_tui.widgets.no_relayout import NoRelayout


def usable(answer: AssistantMessage) -> bool:
    """An answer the model can hear back: finished, and not a failure that said nothing."""
    return not answer.streaming and (answer.error is None or bool(answer.answer_text))


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
        Binding("enter", "screen.keep_sample", "Keep", id="samples.keep"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | left, h / right, l | Show the previous / next answer. |
    | enter (alt+k from the prompt) | Keep the answer shown; the others are deleted (asked first). |
    """

    LONG_LABELS = 4
    """Up to this many tabs say "Answer N"; more say only "N", so that the bar fits the chat."""

    class Shown(Message):
        """The user showed another tab: the chat saves which (it is the answer the model hears)."""

        def __init__(self, view: SamplesView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, messages: list[AssistantMessage], shown: int = 0) -> None:
        super().__init__(classes="message samples")
        self.messages = messages
        self._index = shown

    def compose(self) -> ComposeResult:
        yield Static(self._header(), markup=False, classes="samples-header")
        yield Tabs(*self._tabs(), active=f"sample-{self._index}")
        self._show(self._index)
        yield from self.messages

    def _tabs(self) -> list[Tab]:
        many = len(self.messages) > self.LONG_LABELS
        labels = [f"{i + 1}" if many else f"Answer {i + 1}" for i in range(len(self.messages))]
        return [Tab(label, id=f"sample-{i}") for i, label in enumerate(labels)]

    @property
    def heard(self) -> AssistantMessage | None:
        """The answer that goes back to the model with the next prompt: the tab shown, or, where that
        one failed before saying anything (a regenerate cut off by an engine restart), the nearest
        tab before it that said something (else the whole turn was left out of the history)."""
        index = self._index
        order = [*self.messages[index::-1], *self.messages[index + 1 :]]
        return next((m for m in order if usable(m)), None)

    def _header(self) -> str:
        """The keys that work where the focus is (←/→ and enter only once one of these answers is
        selected: from the prompt they move the cursor and send), and which answer the model hears
        where it is not the one shown."""
        n = len(self.messages)
        focused = self.screen.focused if self.is_attached else None
        if focused is not None and self in focused.ancestors:
            text = f"{n} answers · ←/→ switch · enter keeps the one shown · d deletes it"
        else:
            text = f"{n} answers to this prompt · ctrl+↑ selects, then ←/→ switch tabs"
        heard = self.heard
        if heard is not None and heard is not self.active and not self.active.streaming:
            text += f" · the model hears answer {self.messages.index(heard) + 1}"
        return text

    def update_header(self) -> None:
        if self.is_attached:
            self.query_one(".samples-header", Static).update(self._header())

    def on_mount(self) -> None:
        # The active tab of a long bar may be past its right edge: shown from the start.
        self.call_after_refresh(self._reveal_tab)

    def _reveal_tab(self) -> None:
        if not self.is_attached:
            return
        tabs = self.query_one(Tabs)
        active = tabs.active_tab
        if active is not None:
            tabs.scroll_to_widget(active, animate=False)

    def on_descendant_focus(self) -> None:
        # Read once the focus has settled: ←/→ hide the selected answer (a blur) and select the next
        # one a refresh later, and a header set by the events' order stayed "ctrl+↑ selects".
        self.call_after_refresh(self.update_header)

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self.update_header)

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
        self._switch(index % len(self.messages))
        if self.is_mounted:
            self.query_one(Tabs).active = f"sample-{self._index}"  # its TabActivated then changes nothing

    def _switch(self, index: int) -> None:
        """Show tab `index` (by a key, a click or the chat), and say so where it changed."""
        if index == self._index:
            return
        self._show(index)
        self.update_header()
        self.post_message(self.Shown(self))

    def _show(self, index: int) -> None:
        self._index = index
        for i, message in enumerate(self.messages):
            message.display = i == index

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        # A tab clicked, or the bar's own keys while it has focus (also sent once when it mounts).
        event.stop()
        if event.tab.id is not None and event.tab.id.startswith("sample-"):
            self._switch(int(event.tab.id.removeprefix("sample-")))

    def action_switch(self, step: int) -> None:
        focused = self.screen.focused
        self.show(self._index + step)
        if focused in self.messages:
            self.call_after_refresh(self.active.focus)
