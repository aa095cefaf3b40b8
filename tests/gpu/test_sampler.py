"""GpuSampler's thread over the fake NVML: cadence, history, failures, and never blocking its caller."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from vllm_tui.gpu.assignment import EngineDevices
from vllm_tui.gpu.fake import FakeNvmlBackend, demo_gpus
from vllm_tui.gpu.na import NA
from vllm_tui.gpu.sampler import GpuSampler
from vllm_tui.gpu.snapshot import GpuPanelSnapshot, PanelStatus


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Collector:
    def __init__(self) -> None:
        self.snapshots: list[GpuPanelSnapshot] = []
        self.threads: set[str] = set()

    def __call__(self, snapshot: GpuPanelSnapshot) -> None:
        self.threads.add(threading.current_thread().name)
        self.snapshots.append(snapshot)


def test_samples_on_its_own_thread_at_the_interval() -> None:
    collector = Collector()
    sampler = GpuSampler(
        collector, backend=FakeNvmlBackend(demo_gpus(3)), interval=0.05, engine_devices=EngineDevices(None)
    )
    assert sampler.latest.status is PanelStatus.STARTING
    started = time.monotonic()
    sampler.start()
    wait_for(lambda: len(collector.snapshots) >= 5)
    elapsed = time.monotonic() - started
    assert sampler.stop()
    assert not sampler.running
    assert collector.threads == {"gpu-sampler"}
    # Five samples are four intervals apart; the bound above is loose for a busy shared machine.
    assert 0.2 <= elapsed < 3.0
    assert all(len(snapshot.gpus) == 3 for snapshot in collector.snapshots)
    assert sampler.latest is collector.snapshots[-1] or len(collector.snapshots) > 5


def test_history_is_bounded_and_skips_unreadable_samples() -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    sampler = GpuSampler(backend=backend, interval=1.0, history_seconds=5.0)
    for tick in range(8):
        backend.gpus[0].utilization = tick * 10
        snapshot = sampler.sample_once()
    assert snapshot.history_capacity == 5
    assert snapshot.gpus[0].utilization_history == (30.0, 40.0, 50.0, 60.0, 70.0)
    assert snapshot.gpus[0].memory_history == (1.25,) * 5
    backend.gpus[1].unsupported = frozenset({"utilization"})
    snapshot = sampler.sample_once()
    assert snapshot.gpus[1].utilization is NA
    assert snapshot.gpus[1].utilization_history == (0.0,) * 5
    # A faster interval keeps the same time window with more samples.
    sampler.interval = 0.5
    assert sampler.sample_once().history_capacity == 10


def test_history_is_forgotten_for_gpus_that_are_gone() -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    sampler = GpuSampler(backend=backend)
    sampler.sample_once()
    removed = backend.gpus.pop()
    assert len(sampler.sample_once().gpus) == 1
    backend.gpus.append(removed)
    snapshot = sampler.sample_once()
    assert snapshot.gpus[0].utilization_history == (0.0,) * 3
    assert snapshot.gpus[1].utilization_history == (0.0,)


def test_a_gpu_vanishing_mid_run_leaves_the_others_updating() -> None:
    collector = Collector()
    backend = FakeNvmlBackend(demo_gpus(3))
    sampler = GpuSampler(collector, backend=backend, interval=0.02)
    sampler.start()
    try:
        wait_for(lambda: len(collector.snapshots) >= 2)
        backend.vanish(1)
        backend.gpus[2].utilization = 77
        wait_for(lambda: collector.snapshots[-1].gpus[2].utilization == 77.0)
    finally:
        sampler.stop()
    last = collector.snapshots[-1]
    assert last.status is PanelStatus.OK
    assert [gpu.lost for gpu in last.gpus] == [False, True, False]
    assert last.gpus[0].memory_used != NA and last.gpus[1].name == "NVIDIA H100 80GB HBM3"


def test_a_hung_nvml_blocks_neither_start_nor_a_bounded_stop() -> None:
    backend = FakeNvmlBackend(demo_gpus(1), delay=0.1)
    sampler = GpuSampler(backend=backend, interval=0.01)
    started = time.monotonic()
    sampler.start()
    assert time.monotonic() - started < 0.2
    assert sampler.latest.status is PanelStatus.STARTING
    wait_for(lambda: backend.calls["name"] >= 1)
    stop_started = time.monotonic()
    assert sampler.stop(timeout=0.02) is False
    assert time.monotonic() - stop_started < 0.4
    assert sampler.stop(timeout=5.0) is True


def test_a_raising_callback_or_reader_does_not_end_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[GpuPanelSnapshot] = []

    def callback(snapshot: GpuPanelSnapshot) -> None:
        calls.append(snapshot)
        raise ValueError("UI gone")

    sampler = GpuSampler(callback, backend=FakeNvmlBackend(demo_gpus(1)), interval=0.01)
    real_read = sampler._reader.read
    failures = iter([True, False])

    def flaky_read(*args: object, **kwargs: object) -> GpuPanelSnapshot:
        if next(failures, False):
            raise KeyError("bug")
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sampler._reader, "read", flaky_read)
    sampler.start()
    wait_for(lambda: len(calls) >= 3)
    assert sampler.stop()
    assert calls[0].status is PanelStatus.ERROR and "KeyError" in calls[0].message
    assert calls[-1].status is PanelStatus.OK


def test_init_failure_reaches_the_callback_and_nvml_is_shut_down_on_stop() -> None:
    import pynvml

    collector = Collector()
    failing = GpuSampler(
        collector,
        backend=FakeNvmlBackend(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND),
        interval=0.01,
    )
    failing.start()
    wait_for(lambda: bool(collector.snapshots))
    assert failing.stop()
    assert collector.snapshots[0].status is PanelStatus.LIBRARY_NOT_FOUND

    backend = FakeNvmlBackend(demo_gpus(1))
    working = GpuSampler(backend=backend, interval=0.01)
    working.start()
    wait_for(lambda: backend.initialised)
    assert working.stop()
    assert backend.calls["shutdown"] == 1


def test_engine_pids_and_process_tree_mark_gpus() -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    backend.gpus[1].pids = (os.getpid(),)
    backend.gpus[0].pids = (4242,)
    sampler = GpuSampler(backend=backend, engine_devices=EngineDevices.nothing())
    assert [gpu.engine_active for gpu in sampler.sample_once().gpus] == [False, False]
    sampler.set_engine_root_pid(os.getpid())
    assert [gpu.engine_active for gpu in sampler.sample_once().gpus] == [False, True]
    sampler.set_engine_root_pid(None)
    sampler.set_engine_pids({4242})
    assert [gpu.engine_active for gpu in sampler.sample_once().gpus] == [True, False]
    sampler.set_engine_devices(EngineDevices.parse("1"))
    assert [gpu.engine_assigned for gpu in sampler.sample_once().gpus] == [False, True]


def test_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        GpuSampler(backend=FakeNvmlBackend(), interval=0)
    sampler = GpuSampler(backend=FakeNvmlBackend())
    with pytest.raises(ValueError):
        sampler.interval = -1
