"""GpuReader over the fake NVML: statuses, n/a fields, caching, and one bad GPU among good ones."""

from __future__ import annotations

import pynvml
import pytest

from vllm_tui.gpu.assignment import EngineDevices
from vllm_tui.gpu.fake import FakeGpu, FakeNvmlBackend, demo_gpus
from vllm_tui.gpu.na import GIB, NA
from vllm_tui.gpu.reader import GpuReader
from vllm_tui.gpu.snapshot import PanelStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_reader(backend: FakeNvmlBackend, devices: EngineDevices | None = None) -> tuple[GpuReader, Clock]:
    clock = Clock()
    reader = GpuReader(backend=backend, engine_devices=devices or EngineDevices(None), clock=clock)
    return reader, clock


def test_reads_every_gpu_with_units_converted() -> None:
    gpus = [
        FakeGpu(uuid="GPU-a", utilization=37, memory_used=40 * GIB, temperature=54, power_draw_mw=312_500),
        FakeGpu(name="NVIDIA A100-SXM4-40GB", uuid="GPU-b", memory_total=40 * GIB, power_limit_mw=400_000),
        FakeGpu(uuid="GPU-c"),
    ]
    reader, _ = make_reader(FakeNvmlBackend(gpus, driver="550.1"))
    snapshot = reader.read()
    assert snapshot.status is PanelStatus.OK and snapshot.ok
    assert snapshot.driver_version == "550.1"
    assert [gpu.index for gpu in snapshot.gpus] == [0, 1, 2]
    first, second, _ = snapshot.gpus
    assert first.name == "NVIDIA H100 80GB HBM3"
    assert first.utilization == 37.0
    assert first.memory_used == 40 * GIB and first.memory_percent == 50.0
    assert first.temperature == 54.0
    assert first.power_draw == 312.5 and first.power_limit == 700.0
    assert second.name == "NVIDIA A100-SXM4-40GB" and second.memory_total == 40 * GIB
    assert second.power_limit == 400.0
    assert first.key == "GPU-a"


def test_unsupported_fields_are_na_and_the_rest_is_read() -> None:
    gpu = FakeGpu(utilization=12, unsupported=frozenset({"temperature", "power_draw", "power_limit", "uuid"}))
    reader, _ = make_reader(FakeNvmlBackend([gpu]))
    (snapshot,) = reader.read().gpus
    assert snapshot.temperature is NA
    assert snapshot.power_draw is NA and snapshot.power_limit is NA
    assert snapshot.uuid is NA and snapshot.key == "#0"
    assert snapshot.utilization == 12.0 and snapshot.memory_total == 80 * GIB
    assert not snapshot.lost and snapshot.error == ""


def test_an_unexpected_exception_in_one_field_blanks_only_that_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gpus = demo_gpus(2)
    gpus[0].broken["utilization"] = OSError("ioctl failed")
    reader, _ = make_reader(FakeNvmlBackend(gpus))
    for _ in range(3):
        snapshot = reader.read()
    assert snapshot.gpus[0].utilization is NA
    assert snapshot.gpus[0].memory_used == 1 * GIB
    assert snapshot.gpus[1].utilization == 0.0
    # Logged once, not once a tick.
    assert sum("reading utilization failed" in record.message for record in caplog.records) == 1


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, PanelStatus.LIBRARY_NOT_FOUND, "No NVIDIA driver"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, PanelStatus.NO_DRIVER, "driver is not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, PanelStatus.NO_PERMISSION, "/dev/nvidia"),
        (pynvml.NVML_ERROR_UNKNOWN, PanelStatus.ERROR, "Unknown Error"),
        (ImportError("No module named 'pynvml'"), PanelStatus.LIBRARY_NOT_FOUND, "nvidia-ml-py"),
        (RuntimeError("boom"), PanelStatus.ERROR, "boom"),
    ],
)
def test_init_failure_gives_a_status_and_advice(error: object, status: PanelStatus, words: str) -> None:
    reader, _ = make_reader(FakeNvmlBackend(demo_gpus(2), init_error=error))  # type: ignore[arg-type]
    snapshot = reader.read()
    assert snapshot.status is status
    assert not snapshot.ok and snapshot.gpus == ()
    assert words in snapshot.message
    assert snapshot.title == status.value


def test_init_is_retried_only_after_the_retry_period() -> None:
    backend = FakeNvmlBackend(demo_gpus(1), init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    reader, clock = make_reader(backend)
    assert reader.read().status is PanelStatus.NO_DRIVER
    clock.now += reader.init_retry / 2
    assert reader.read().status is PanelStatus.NO_DRIVER
    assert backend.calls["init"] == 1
    backend.init_error = None  # the driver got loaded meanwhile
    clock.now += reader.init_retry
    assert reader.read().status is PanelStatus.OK
    assert backend.calls["init"] == 2


def test_no_gpu_visible() -> None:
    reader, _ = make_reader(FakeNvmlBackend([]))
    snapshot = reader.read()
    assert snapshot.status is PanelStatus.NO_GPU
    assert snapshot.title == "no GPU visible"
    assert "--gpus" in snapshot.message


def test_slow_fields_are_cached_and_fast_ones_read_each_time() -> None:
    backend = FakeNvmlBackend(demo_gpus(2))
    reader, clock = make_reader(backend)
    for _ in range(5):
        reader.read()
        clock.now += 1
    assert backend.calls["name"] == 2 and backend.calls["uuid"] == 2
    assert backend.calls["power_limit"] == 2
    assert backend.calls["utilization"] == 10 and backend.calls["memory"] == 10
    backend.gpus[0].power_limit_mw = 500_000  # nvidia-smi -pl 500
    clock.now += reader.static_ttl
    assert reader.read().gpus[0].power_limit == 500.0


def test_a_lost_gpu_keeps_its_card_and_does_not_blank_the_others() -> None:
    backend = FakeNvmlBackend(demo_gpus(3))
    reader, _ = make_reader(backend)
    before = reader.read()
    backend.vanish(1)
    backend.gpus[0].utilization = 55
    after = reader.read()
    assert after.status is PanelStatus.OK
    lost = after.gpus[1]
    assert lost.lost and "lost" in lost.error
    # What was cached stays, so the user still sees which card died.
    assert lost.name == before.gpus[1].name and lost.uuid == before.gpus[1].uuid
    assert lost.utilization is NA and lost.memory_used is NA
    assert after.gpus[0].utilization == 55.0 and not after.gpus[0].lost
    assert after.gpus[2].memory_used == 3 * GIB


def test_nvml_shut_down_under_us_is_started_again() -> None:
    backend = FakeNvmlBackend(demo_gpus(1))
    reader, _ = make_reader(backend)
    reader.read()
    backend.initialised = False  # as if someone called nvmlShutdown once too often
    snapshot = reader.read()
    assert snapshot.status is PanelStatus.OK
    assert snapshot.gpus[0].utilization == 0.0
    assert backend.calls["init"] == 2


def test_engine_pids_mark_the_gpus_that_hold_them() -> None:
    gpus = demo_gpus(3)
    gpus[0].pids = (100, 101)
    gpus[1].pids = (999,)
    gpus[2].unsupported = frozenset({"compute_pids"})
    reader, _ = make_reader(FakeNvmlBackend(gpus))
    snapshot = reader.read(engine_pids={101, 102})
    assert [gpu.engine_active for gpu in snapshot.gpus] == [True, False, False]
    assert snapshot.gpus[0].pids == (100, 101)
    assert snapshot.gpus[2].pids == ()
    assert not any(gpu.engine_active for gpu in reader.read().gpus)


def test_cuda_visible_devices_marks_assigned_gpus() -> None:
    backend = FakeNvmlBackend(demo_gpus(4))
    reader, _ = make_reader(backend, EngineDevices.parse(backend.gpus[2].uuid[:12] + ",0", limit=1))
    snapshot = reader.read()
    assert [gpu.engine_assigned for gpu in snapshot.gpus] == [False, False, True, False]
    assert snapshot.engine_gpus == (snapshot.gpus[2],)
    reader.engine_devices = EngineDevices.nothing()
    assert reader.read().engine_gpus == ()


def test_close_shuts_nvml_down_once() -> None:
    backend = FakeNvmlBackend(demo_gpus(1))
    reader, _ = make_reader(backend)
    reader.read()
    reader.close()
    reader.close()
    assert backend.calls["shutdown"] == 1 and not backend.initialised
