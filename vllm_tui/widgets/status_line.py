"""The one-line status at the top of the chat: engine state, load stage, sampling values."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

_BAR = 12


class StatusLine(Static):
    model: reactive[str] = reactive("")
    state: reactive[str] = reactive("starting")
    """starting | loading | ready | generating | stopping | failed | stopped"""
    stage: reactive[str] = reactive("")
    fraction: reactive[float | None] = reactive(None)
    sampling: reactive[str] = reactive("")

    def render(self) -> Text:
        icon = {
            "ready": ("●", "green"),
            "generating": ("◉", "cyan"),
            "stopping": ("◉", "yellow"),
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
        elif self.state in ("generating", "stopping"):
            # The stage still says "ready in …".
            middle.append("generating" if self.state == "generating" else "stopping…", style=icon[1])
        else:
            middle.append(self.stage or self.state, style=icon[1])
        tail = Text(self.sampling, style="dim")
        # Too wide for the terminal: while loading the stage and its bar matter most; later the
        # stage's first words ("ready in 25 s", "generating") and the sampling values the user
        # changes with keys (alt+up, F9), which only this line shows. The rest gives way first.
        first_words = len(middle.plain.split(" · ")[0])
        steps: tuple[tuple[Text, int], ...]
        if loading:
            steps = ((tail, 0), (head, _HEAD_SHORT), (middle, 0), (head, 4))
        else:
            steps = ((middle, first_words), (head, _HEAD_SHORT), (tail, 0), (middle, 0), (head, 4))
        _fit(steps, head, middle, tail, self.size.width)
        text = head
        for part in (middle, tail):
            if part.cell_len:
                text.append(_SEPARATOR)
                text.append_text(part)
        return text


_SEPARATOR = "  │  "


_HEAD_SHORT = 24
"""Cells the icon and the model's name keep before the sampling values give way."""


def _fit(steps: tuple[tuple[Text, int], ...], head: Text, middle: Text, tail: Text, width: int) -> None:
    """Shorten each part in `steps` down to its floor of cells (with an ellipsis; a part other than
    `head` is dropped when under 8 cells) until the line fits `width` cells. 0 (not laid out yet)
    fits anything."""
    if width <= 0:
        return

    def total() -> int:
        return head.cell_len + sum(len(_SEPARATOR) + p.cell_len for p in (middle, tail) if p.cell_len)

    for part, floor in steps:
        excess = total() - width
        if excess <= 0:
            return
        if part.cell_len <= floor:
            continue
        keep = max(floor, part.cell_len - excess)
        if part is middle and floor:
            # Whole " · " pieces of the stage ("ready in 25 s · context 2,048"), never half of one.
            pieces = part.plain.split(" · ")
            while len(pieces) > 1 and len(" · ".join(pieces)) > keep:
                pieces.pop()
            part.truncate(len(" · ".join(pieces)))
        elif part is not head and keep < 8:
            part.truncate(0)
        else:
            part.truncate(keep, overflow="ellipsis")
