"""GpuCard's parts: the fixed-scale sparkline, the usage bar, and how a snapshot reads on the card."""

from __future__ import annotations

import dataclasses

from textual.app import App, ComposeResult
from textual.widgets import Label

from vllm_tui.gpu.na import GIB, NA
from vllm_tui.gpu.snapshot import GpuSnapshot
from vllm_tui.widgets.gpu_card import GpuCard, PercentSparkline, UsageBar, short_name


class PartsApp(App[None]):
    CSS = "PercentSparkline, UsageBar { width: 10; }"

    def compose(self) -> ComposeResult:
        yield PercentSparkline(id="spark")
        yield UsageBar(id="bar", warn_at=0.9)
        yield GpuCard(
            GpuSnapshot(
                0,
                name="NVIDIA H100 80GB HBM3",
                uuid="GPU-a",
                utilization=37.0,
                memory_used=20 * GIB,
                memory_total=80 * GIB,
                temperature=54.0,
                power_draw=312.0,
                power_limit=700.0,
                engine_active=True,
            ),
            history_capacity=10,
        )


def label_text(app: App[None], selector: str) -> str:
    return str(app.query_one(selector, Label).content)


async def test_sparkline_keeps_a_fixed_scale_and_time_window() -> None:
    app = PartsApp()
    async with app.run_test():
        spark = app.query_one("#spark", PercentSparkline)
        spark.capacity = 10
        spark.data = (30.0, 31.0)
        # Near-equal values stay low and level: the scale is 0–100, not the data's own range.
        assert spark.render().plain == "        ▃▃"
        # Eleven samples in a ten-sample window: the oldest (0) has scrolled out.
        spark.data = tuple(float(v) for v in range(0, 101, 10))
        assert spark.render().plain == "▁▂▃▄▅▅▆▇██"
        spark.capacity = 20  # two samples a column: each shows the busier one
        spark.data = (0.0, 100.0, 0.0, 0.0)
        assert spark.render().plain == "        █▁"


async def test_usage_bar_fills_in_half_cells_and_warns_when_high() -> None:
    app = PartsApp()
    async with app.run_test():
        bar = app.query_one("#bar", UsageBar)
        bar.fraction = 0.25
        assert bar.render().plain == "━━╸━━━━━━━"
        assert not bar.has_class("-high")
        bar.fraction = 0.95
        assert bar.has_class("-high")
        bar.fraction = None
        assert bar.render().plain == "━" * 10
        assert not bar.has_class("-high")


async def test_card_shows_a_snapshot_and_na_fields() -> None:
    app = PartsApp()
    async with app.run_test():
        card = app.query_one(GpuCard)
        assert card.border_title == "0 · H100 80GB HBM3"
        assert card.border_subtitle == "● engine"
        assert card.has_class("-engine-active")
        assert label_text(app, "#util-value") == "37%"
        assert label_text(app, "#mem-value") == "25%"
        assert label_text(app, "#mem-amount") == "20.0/80.0G"
        assert label_text(app, "#gpu-sensors") == "54°C · 312/700 W"
        assert app.query_one("#mem-bar", UsageBar).fraction == 0.25

        assert card.update_snapshot(GpuSnapshot(1, engine_assigned=True))
        assert card.border_title == "1 · GPU"
        assert card.border_subtitle == "○ engine"
        assert label_text(app, "#util-value") == "n/a"
        assert label_text(app, "#mem-amount") == "n/a"
        assert label_text(app, "#gpu-sensors") == "n/a · n/a W"
        assert app.query_one("#mem-bar", UsageBar).fraction is None
        assert not card.update_snapshot(GpuSnapshot(1, engine_assigned=True))

        card.update_snapshot(GpuSnapshot(1, name="Tesla T4", lost=True, error="GPU is lost"))
        assert card.has_class("-lost") and card.border_subtitle == "lost"
        assert label_text(app, "#gpu-error") == "GPU is lost"
        assert app.query_one("#gpu-error").display


async def test_a_new_sample_of_the_same_width_repaints_without_a_layout() -> None:
    """A card redraws every second; a layout there would lay out the whole screen (and hold back the
    tokens streaming beside it). Readings of the same length only repaint; a longer one lays out and
    shows whole."""
    app = PartsApp()
    async with app.run_test() as pilot:
        card = app.query_one(GpuCard)
        layouts: list[str] = []
        for label in card.query(Label):
            original = label.refresh

            def counting(
                *regions: object, _label: Label = label, _original: object = original, **kw: bool
            ) -> object:
                if kw.get("layout"):
                    layouts.append(str(_label.id))
                return _original(*regions, **kw)  # type: ignore[operator]

            label.refresh = counting  # type: ignore[method-assign]
        base = card.snapshot
        card.update_snapshot(dataclasses.replace(base, utilization=41.0, temperature=57.0, power_draw=318.0))
        await pilot.pause()
        assert label_text(app, "#util-value") == "41%"
        assert label_text(app, "#gpu-sensors") == "57°C · 318/700 W"
        assert layouts == []
        card.update_snapshot(dataclasses.replace(base, utilization=100.0))
        await pilot.pause()
        assert label_text(app, "#util-value") == "100%"
        assert layouts == ["util-value"]


def test_short_name() -> None:
    assert short_name("NVIDIA A100-SXM4-80GB") == "A100-SXM4-80GB"
    assert short_name("Tesla V100-PCIE-16GB") == "V100-PCIE-16GB"
    assert short_name(NA) == "GPU"
