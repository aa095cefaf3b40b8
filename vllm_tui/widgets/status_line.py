"""The one-line status at the top of the chat: engine state, load stage, sampling values."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

_BAR = 12


class StatusLine(Static):
    model: reactive[str] = reactive("")
    state: reactive[str] = reactive("starting")
    """starting | loading | ready | generating | failed | stopped"""
    stage: reactive[str] = reactive("")
    fraction: reactive[float | None] = reactive(None)
    sampling: reactive[str] = reactive("")

    def render(self) -> Text:
        icon = {
            "ready": ("●", "green"),
            "generating": ("◉", "cyan"),
            "failed": ("✗", "red"),
            "loading": ("◌", "yellow"),
            "starting": ("◌", "yellow"),
            "stopped": ("○", "grey50"),
        }.get(self.state, ("●", "white"))
        text = Text()
        text.append(f" {icon[0]} ", style=f"bold {icon[1]}")
        text.append(self.model or "no model", style="bold")
        text.append("  │  ")
        if self.state in ("loading", "starting"):
            text.append(self.stage or "starting", style="yellow")
            if self.fraction is not None:
                filled = round(self.fraction * _BAR)
                text.append(f"  {'█' * filled}{'░' * (_BAR - filled)} {self.fraction * 100:3.0f}%")
        else:
            text.append(self.stage or self.state, style=icon[1])
        if self.sampling:
            text.append("  │  ")
            text.append(self.sampling, style="dim")
        return text
