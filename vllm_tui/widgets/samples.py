"""Parallel samples: n answers to one prompt (vLLM's `n`, one batch) as tabs, one of which is kept."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static, TabbedContent, TabPane

from vllm_tui.widgets.message import AssistantMessage
from vllm_tui.widgets.no_relayout import NoRelayout


class SamplesView(NoRelayout, Vertical):
    """The answers of one n-sample request, one tab each. Until one is kept the shown tab stands for
    the turn (it is the answer sent back to the model with the next prompt)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "switch(-1)", "Previous sample", id="samples.previous", show=False),
        Binding("right,l", "switch(1)", "Next sample", id="samples.next", show=False),
        Binding("enter", "screen.keep_sample", "Keep this one", id="samples.keep"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | left, h / right, l | Show the previous / next sample. |
    | enter (alt+k anywhere) | Keep the sample shown; the others are deleted. |
    """

    def __init__(self, messages: list[AssistantMessage]) -> None:
        super().__init__(classes="message samples")
        self.messages = messages

    def compose(self) -> ComposeResult:
        yield Static(
            f"{len(self.messages)} samples · ←/→ switch · enter (or alt+k) keeps the one shown",
            markup=False,
            classes="samples-header",
        )
        with TabbedContent():
            for i, message in enumerate(self.messages):
                with TabPane(f"Sample {i + 1}", id=f"sample-{i}"):
                    yield message

    @property
    def active_index(self) -> int:
        try:
            active = self.query_one(TabbedContent).active
        except Exception:  # noqa: BLE001 - not composed yet
            return 0
        return int(active.rsplit("-", 1)[-1]) if active.startswith("sample-") else 0

    @property
    def active(self) -> AssistantMessage:
        return self.messages[self.active_index]

    @property
    def streaming(self) -> bool:
        return any(m.streaming for m in self.messages)

    def show(self, index: int) -> None:
        self.query_one(TabbedContent).active = f"sample-{index % len(self.messages)}"

    def action_switch(self, step: int) -> None:
        focused = self.screen.focused
        self.show(self.active_index + step)
        if focused in self.messages:
            self.call_after_refresh(self.active.focus)
