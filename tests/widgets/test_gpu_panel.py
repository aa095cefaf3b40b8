"""GpuPanel fed by the real sampler over the fake NVML: cards, notices, lost GPUs, and how it looks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pynvml
import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.pilot import Pilot
from textual.widgets import Label

from vllm_tui.gpu.assignment import EngineDevices
from vllm_tui.gpu.fake import FakeNvmlBackend, demo_gpus
from vllm_tui.gpu.na import GIB
from vllm_tui.gpu.sampler import GpuSampler
from vllm_tui.gpu.snapshot import GpuPanelSnapshot, PanelStatus
from vllm_tui.widgets.gpu_card import GpuCard
from vllm_tui.widgets.gpu_panel import GpuNotice, GpuPanel


class PanelApp(App[None]):
    """A 30-column sidebar, as in the chat screen."""

    CSS = "Screen { layout: horizontal; } #sidebar { width: 30; height: 1fr; }"

    def __init__(self, snapshot: GpuPanelSnapshot | None = None) -> None:
        super().__init__()
        self.initial = snapshot

    def compose(self) -> ComposeResult:
        with Vertical(id="sidebar"):
            yield GpuPanel()

    def on_mount(self) -> None:
        if self.initial is not None:
            self.query_one(GpuPanel).update_snapshot(self.initial)


async def wait_until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def texts(card: GpuCard) -> dict[str, str]:
    return {str(label.id): str(label.content) for label in card.query(Label) if label.id}


def sampled(backend: FakeNvmlBackend, ticks: int = 1, **kwargs: object) -> GpuPanelSnapshot:
    sampler = GpuSampler(backend=backend, engine_devices=EngineDevices(None), **kwargs)  # type: ignore[arg-type]
    for _ in range(ticks):
        snapshot = sampler.sample_once()
    return snapshot


async def test_starts_with_the_sampling_notice_then_shows_one_card_per_gpu() -> None:
    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(GpuPanel)
        notice = app.query_one(GpuNotice)
        assert notice.display and notice.border_title == PanelStatus.STARTING.title
        panel.update_snapshot(sampled(FakeNvmlBackend(demo_gpus(3))))
        await pilot.pause()
        assert len(panel.cards) == 3 == len(app.query(GpuCard))
        assert not notice.display
        assert [card.border_title for card in panel.cards] == [
            "0 · H100 80GB HBM3",
            "1 · H100 80GB HBM3",
            "2 · H100 80GB HBM3",
        ]


async def test_unsupported_fields_show_na() -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    backend.gpus[1].unsupported = frozenset({"temperature", "power_draw", "power_limit", "utilization"})
    app = PanelApp(sampled(backend))
    async with app.run_test():
        first, second = app.query_one(GpuPanel).cards
        assert texts(second)["util-value"] == "n/a"
        assert texts(second)["gpu-sensors"] == "n/a · n/a W"
        assert texts(second)["mem-amount"] == "2.0/80.0G"
        assert texts(first)["gpu-sensors"] == "30°C · 70/700 W"


@pytest.mark.parametrize(
    ("error", "title", "words"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML library not found", "No NVIDIA driver"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "no NVIDIA driver", "lsmod"),
    ],
)
async def test_init_failure_shows_one_explanatory_card(error: int, title: str, words: str) -> None:
    app = PanelApp(sampled(FakeNvmlBackend(demo_gpus(2), init_error=error)))
    async with app.run_test():
        panel = app.query_one(GpuPanel)
        assert panel.cards == [] and not app.query(GpuCard)
        notice = app.query_one(GpuNotice)
        assert notice.display and notice.border_title == title
        assert words in str(app.query_one("#gpu-notice-message", Label).content)


async def test_no_gpu_and_then_gpus_after_a_driver_load() -> None:
    app = PanelApp(sampled(FakeNvmlBackend([])))
    async with app.run_test() as pilot:
        assert app.query_one(GpuNotice).border_title == "no GPU visible"
        app.query_one(GpuPanel).update_snapshot(sampled(FakeNvmlBackend(demo_gpus(1))))
        await pilot.pause()
        assert len(app.query(GpuCard)) == 1 and not app.query_one(GpuNotice).display


async def test_live_sampler_thread_posts_and_a_vanished_gpu_leaves_the_others() -> None:
    backend = FakeNvmlBackend(demo_gpus(3))
    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(GpuPanel)
        sampler = GpuSampler(panel.post_snapshot, backend=backend, interval=0.02)
        sampler.start()
        try:
            await wait_until(pilot, lambda: len(panel.cards) == 3)
            backend.vanish(1)
            backend.gpus[2].utilization = 64
            await wait_until(pilot, lambda: texts(panel.cards[2])["util-value"] == "64%")
            await wait_until(pilot, lambda: panel.cards[1].has_class("-lost"))
        finally:
            await asyncio.to_thread(sampler.stop)
        cards = panel.cards
        assert len(cards) == 3
        assert texts(cards[1])["gpu-error"].startswith("GPU is lost")
        assert texts(cards[0])["mem-amount"] == "1.0/80.0G"
        assert not cards[0].has_class("-lost") and not cards[2].has_class("-lost")


async def test_only_changed_cards_are_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    sampler = GpuSampler(backend=backend, engine_devices=EngineDevices(None))
    shown: list[int] = []
    original = GpuCard._show

    def spy(self: GpuCard, gpu: object) -> None:
        shown.append(self.snapshot.index)
        original(self, gpu)  # type: ignore[arg-type]

    monkeypatch.setattr(GpuCard, "_show", spy)
    app = PanelApp(sampler.sample_once())
    async with app.run_test() as pilot:
        panel = app.query_one(GpuPanel)
        cards = panel.cards
        shown.clear()
        first = sampler.latest
        panel.update_snapshot(first)  # the same snapshot again: nothing to do
        await pilot.pause()
        assert shown == []
        # A changed GPU 1 with GPU 0 unchanged except its history: rebuild nothing, redraw both cards once.
        backend.gpus[1].memory_used = 40 * GIB
        panel.update_snapshot(sampler.sample_once())
        await pilot.pause()
        assert panel.cards == cards
        assert sorted(shown) == [0, 1]
        assert texts(cards[1])["mem-value"] == "50%"


def test_posting_to_a_panel_that_is_not_mounted_is_harmless() -> None:
    panel = GpuPanel()
    sampler = GpuSampler(panel.post_snapshot, backend=FakeNvmlBackend(demo_gpus(1)), interval=0.01)
    sampler.start()
    deadline = time.monotonic() + 5
    while sampler.latest.status is PanelStatus.STARTING and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.stop()
    assert sampler.latest.ok and panel.snapshot.status is PanelStatus.STARTING


def make_snapshot_app() -> PanelApp:
    """Two fake H100s with a few minutes of history: the engine on GPU 0, GPU 1 mostly idle."""
    backend = FakeNvmlBackend(demo_gpus(2))
    engine = backend.gpus[0]
    engine.pids = (4321,)
    engine.memory_used = 71 * GIB
    backend.gpus[1].unsupported = frozenset({"power_draw"})
    sampler = GpuSampler(backend=backend, engine_pids={4321}, engine_devices=EngineDevices.parse("0"))
    for tick in range(240):
        engine.utilization = (tick * 37) % 100 if tick > 120 else 0
        engine.temperature = 40 + tick // 10
        engine.power_draw_mw = 100_000 + 2_000 * (tick % 100)
        backend.gpus[1].utilization = 5 if tick % 30 == 0 else 0
        sampler.sample_once()
    return PanelApp(sampler.latest)


def test_panel_with_two_gpus_snapshot(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(make_snapshot_app(), terminal_size=(40, 16))


def test_panel_without_driver_snapshot(snap_compare: Callable[..., bool]) -> None:
    app = PanelApp(sampled(FakeNvmlBackend(init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)))
    assert snap_compare(app, terminal_size=(40, 8))
