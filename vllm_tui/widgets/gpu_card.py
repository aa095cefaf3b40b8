"""One GPU as a compact card: utilization and memory with their history, temperature, power.

The card only formats a `GpuSnapshot`; it never talks to NVML (the sampler thread does).
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label

from vllm_tui.gpu.na import NA, MaybeFloat, fmt_celsius, fmt_gib_pair, fmt_percent, fmt_watts
from vllm_tui.gpu.snapshot import GpuSnapshot

BARS = "▁▂▃▄▅▆▇█"


class UsageBar(Widget):
    """A one-line meter for a fraction in [0, 1]; `None` draws an empty track (value unknown)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"usage-bar--bar", "usage-bar--track"}

    DEFAULT_CSS = """
    UsageBar {
        width: 1fr;
        height: 1;
    }
    UsageBar > .usage-bar--bar {
        color: $primary;
    }
    UsageBar > .usage-bar--track {
        color: $foreground 15%;
    }
    UsageBar.-high > .usage-bar--bar {
        color: $warning;
    }
    """

    fraction: reactive[float | None] = reactive(None)
    """Filled share of the bar; None when unknown."""

    def __init__(
        self,
        fraction: float | None = None,
        *,
        warn_at: float | None = None,
        id: str | None = None,  # noqa: A002 — Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.warn_at = warn_at
        """Fraction from which the bar turns $warning (None: never, e.g. vLLM's preallocated memory)."""
        self.fraction = fraction

    def watch_fraction(self, fraction: float | None) -> None:
        self.set_class(
            self.warn_at is not None and fraction is not None and fraction >= self.warn_at, "-high"
        )

    def render(self) -> Text:
        width = self.size.width
        fraction = 0.0 if self.fraction is None else min(max(self.fraction, 0.0), 1.0)
        bar_style = self.get_component_rich_style("usage-bar--bar")
        track_style = self.get_component_rich_style("usage-bar--track")
        # Half cells ("╸") double the resolution of a 10-cell bar at no cost.
        halves = round(fraction * width * 2)
        full, half = divmod(halves, 2)
        text = Text("━" * full, style=bar_style, no_wrap=True, end="")
        if half:
            text.append("╸", style=bar_style)
        text.append("━" * (width - full - half), style=track_style)
        return text


class PercentSparkline(Widget):
    """History of a percentage on a fixed 0–100 scale, newest on the right.

    Textual's `Sparkline` scales to the data's own min and max, which turns a 30→31 % wobble into a
    full-height spike; a GPU monitor should show how busy the card is, so this one keeps the scale.
    The whole history window (`capacity` samples) always spans the width, so time runs at a fixed speed.
    """

    DEFAULT_CSS = """
    PercentSparkline {
        width: 1fr;
        height: 1;
        color: $primary;
    }
    """

    data: reactive[tuple[float, ...]] = reactive(tuple)
    capacity: reactive[int] = reactive(300)
    """Samples in a full window."""

    def render(self) -> Text:
        width = self.size.width
        if width <= 0:
            return Text()
        per_column = max(1, math.ceil(self.capacity / width))
        values = self.data[-per_column * width :]
        columns: list[str] = []
        end = len(values)
        while end > 0:
            chunk = values[max(0, end - per_column) : end]
            peak = max(chunk)
            columns.append(BARS[min(len(BARS) - 1, max(0, int(peak / 100 * len(BARS))))])
            end -= per_column
        return Text(" " * (width - len(columns)) + "".join(reversed(columns)), no_wrap=True, end="")


def short_name(name: object) -> str:
    """The GPU name without its vendor prefix, which would waste a sixth of a 30-column sidebar."""
    text = str(name)
    return text.removeprefix("NVIDIA ").removeprefix("Tesla ") if name is not NA else "GPU"


class GpuCard(Vertical):
    """A GPU's card. Feed it with `update_snapshot()`; it redraws only the lines whose text changed."""

    DEFAULT_CSS = """
    GpuCard {
        height: auto;
        border: round $panel-lighten-2;
        border-title-color: $foreground;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    GpuCard.-engine {
        border: round $primary;
    }
    GpuCard.-engine-active {
        border-subtitle-color: $success;
    }
    GpuCard.-lost {
        border: round $error;
    }
    GpuCard .gpu-row {
        height: 1;
    }
    GpuCard .gpu-label {
        width: 5;
        color: $text-muted;
    }
    GpuCard .gpu-value {
        width: 5;
        text-align: right;
        margin-right: 1;
    }
    GpuCard #mem-history {
        color: $secondary;
    }
    GpuCard #mem-amount {
        width: auto;
        margin-left: 1;
    }
    GpuCard #gpu-error {
        color: $error;
        display: none;
    }
    GpuCard.-lost #gpu-error {
        display: block;
    }
    GpuCard.-lost .gpu-reading {
        display: none;
    }
    """

    def __init__(
        self,
        snapshot: GpuSnapshot,
        *,
        history_capacity: int = 300,
        id: str | None = None,  # noqa: A002 — Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._snapshot = snapshot
        self._history_capacity = history_capacity
        self._texts: dict[str, str] = {}

    @property
    def snapshot(self) -> GpuSnapshot:
        return self._snapshot

    def compose(self) -> ComposeResult:
        with Horizontal(classes="gpu-row gpu-reading"):
            yield Label("util", classes="gpu-label")
            yield Label(id="util-value", classes="gpu-value")
            yield PercentSparkline(id="util-history")
        with Horizontal(classes="gpu-row gpu-reading"):
            yield Label("mem", classes="gpu-label")
            yield Label(id="mem-value", classes="gpu-value")
            yield PercentSparkline(id="mem-history")
        with Horizontal(classes="gpu-row gpu-reading"):
            yield UsageBar(id="mem-bar")
            yield Label(id="mem-amount")
        yield Label(id="gpu-sensors", classes="gpu-reading")
        yield Label(id="gpu-error")

    def on_mount(self) -> None:
        self._show(self._snapshot)

    def update_snapshot(self, snapshot: GpuSnapshot, history_capacity: int | None = None) -> bool:
        """Show `snapshot`; returns False when nothing changed, so nothing was redrawn."""
        capacity_changed = history_capacity is not None and history_capacity != self._history_capacity
        if history_capacity is not None:
            self._history_capacity = history_capacity
        if snapshot == self._snapshot and not capacity_changed:
            return False
        self._snapshot = snapshot
        if self.is_mounted:
            self._show(snapshot)
        return True

    def _set_text(self, widget_id: str, text: str) -> None:
        previous = self._texts.get(widget_id)
        if previous != text:
            self._texts[widget_id] = text
            # Each reading is one line: as long as its length holds, so do its width and height, and a
            # repaint of the label is enough. A layout would lay out the whole screen (10-35 ms while an
            # answer streams) for every GPU sample.
            same_size = previous is not None and len(previous) == len(text)
            self.query_one(f"#{widget_id}", Label).update(text, layout=not same_size)

    def _show(self, gpu: GpuSnapshot) -> None:
        self.border_title = f"{gpu.index} · {short_name(gpu.name)}"
        if gpu.engine_active:
            self.border_subtitle = "● engine"
        elif gpu.engine_assigned:
            self.border_subtitle = "○ engine"
        else:
            self.border_subtitle = ""
        self.set_class(gpu.engine_active or gpu.engine_assigned, "-engine")
        self.set_class(gpu.engine_active, "-engine-active")
        self.set_class(gpu.lost, "-lost")
        if gpu.lost:
            self.border_subtitle = "lost"
            self._set_text("gpu-error", gpu.error or "GPU is lost")
            return
        self._set_text("util-value", fmt_percent(gpu.utilization))
        self._set_text("mem-value", fmt_percent(gpu.memory_percent))
        self._set_text("mem-amount", fmt_gib_pair(gpu.memory_used, gpu.memory_total))
        self._set_text(
            "gpu-sensors", f"{fmt_celsius(gpu.temperature)} · {fmt_watts(gpu.power_draw, gpu.power_limit)}"
        )
        for widget_id, history in (
            ("util-history", gpu.utilization_history),
            ("mem-history", gpu.memory_history),
        ):
            sparkline = self.query_one(f"#{widget_id}", PercentSparkline)
            sparkline.capacity = self._history_capacity
            sparkline.data = history
        self.query_one("#mem-bar", UsageBar).fraction = _fraction(gpu.memory_fraction)


def _fraction(value: MaybeFloat) -> float | None:
    return None if value is NA else value
