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
        head = Text()
        head.append(f" {icon[0]} ", style=f"bold {icon[1]}")
        head.append(self.model or "no model", style="bold")
        middle = Text()
        loading = self.state in ("loading", "starting")
        if loading:
            middle.append(self.stage or "starting", style="yellow")
            if self.fraction is not None:
                filled = round(self.fraction * _BAR)
                middle.append(f"  {'█' * filled}{'░' * (_BAR - filled)} {self.fraction * 100:3.0f}%")
        elif self.state == "generating":
            middle.append("generating", style=icon[1])  # the stage still says "ready in …"
        else:
            middle.append(self.stage or self.state, style=icon[1])
        tail = Text(self.sampling, style="dim")
        # Too wide for the terminal: while loading the stage and its bar matter most, later the
        # sampling values the user changes with keys (alt+up, F9) do, which only this line shows.
        # The stage, then the model's name, give way before them.
        _fit((tail, head, middle) if loading else (middle, head, tail), head, self.size.width)
        text = head
        for part in (middle, tail):
            if part.cell_len:
                text.append(_SEPARATOR)
                text.append_text(part)
        return text


_SEPARATOR = "  │  "


def _fit(order: tuple[Text, Text, Text], head: Text, width: int) -> None:
    """Shorten the parts in `order` (ellipsis; a part other than `head` is dropped when under 8
    cells) until the line fits `width` cells. 0 (not laid out yet) fits anything."""
    if width <= 0:
        return
    rest = [part for part in order if part is not head]

    def total() -> int:
        return head.cell_len + sum(len(_SEPARATOR) + p.cell_len for p in rest if p.cell_len)

    for part in order:
        excess = total() - width
        if excess <= 0:
            return
        keep = part.cell_len - excess
        if part is head:
            head.truncate(max(4, keep), overflow="ellipsis")  # the icon and a few letters stay
        elif keep < 8:
            part.truncate(0)
        else:
            part.truncate(keep, overflow="ellipsis")
