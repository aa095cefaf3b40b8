"""A scripted NVML for machines without NVIDIA GPUs: tests, demos and snapshot screenshots.

It raises the same `pynvml.NVMLError` subclasses a real driver does, so the reader's error handling
is the code under test, not a copy of it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from vllm_tui.gpu.backend import MemoryInfo, nvml_module

FIELDS = ("name", "uuid", "utilization", "memory", "temperature", "power_draw", "power_limit", "compute_pids")


@dataclass
class FakeGpu:
    """One GPU's current readings; tests change them between ticks."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    utilization: int = 0
    memory_used: int = 0
    memory_total: int = 80 * 1024**3
    temperature: int = 30
    power_draw_mw: int = 70_000
    power_limit_mw: int = 700_000
    pids: tuple[int, ...] = ()
    unsupported: frozenset[str] = frozenset()
    """Fields (names from `FIELDS`) that raise NVMLError_NotSupported, as on consumer or MIG cards."""
    lost: bool = False
    """Every read raises NVMLError_GpuIsLost, as after the card falls off the bus."""
    broken: dict[str, BaseException] = field(default_factory=dict)
    """Fields that raise this exception instead of answering (any exception, NVML or not)."""


class FakeNvmlBackend:
    """`NvmlBackend` over a list of `FakeGpu`s. Counts calls so tests can check what is cached."""

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        init_error: int | BaseException | None = None,
        driver: str = "550.54.15",
        delay: float = 0.0,
    ) -> None:
        self.gpus: list[FakeGpu] = list(gpus or [])
        self.init_error = init_error
        """An NVML return code (e.g. `pynvml.NVML_ERROR_DRIVER_NOT_LOADED`) or exception init raises."""
        self.driver = driver
        self.delay = delay
        """Seconds every read sleeps, to play a hung or slow driver."""
        self.initialised = False
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _error(self, code: int) -> BaseException:
        nvml = nvml_module()
        error: BaseException = nvml.NVMLError(code)  # NVMLError.__new__ picks the subclass for the code
        return error

    def _gpu(self, index: int, what: str) -> FakeGpu:
        nvml = nvml_module()
        with self._lock:
            self.calls[what] += 1
        if self.delay:
            time.sleep(self.delay)
        if not self.initialised:
            raise self._error(nvml.NVML_ERROR_UNINITIALIZED)
        if not 0 <= index < len(self.gpus):
            raise self._error(nvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[index]
        if gpu.lost:
            raise self._error(nvml.NVML_ERROR_GPU_IS_LOST)
        if what in gpu.broken:
            raise gpu.broken[what]
        if what in gpu.unsupported:
            raise self._error(nvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu

    def vanish(self, index: int) -> None:
        """The GPU at `index` falls off the bus."""
        self.gpus[index].lost = True

    def init(self) -> None:
        with self._lock:
            self.calls["init"] += 1
        if self.init_error is not None:
            error = self.init_error
            raise self._error(error) if isinstance(error, int) else error
        self.initialised = True

    def shutdown(self) -> None:
        with self._lock:
            self.calls["shutdown"] += 1
        self.initialised = False

    def driver_version(self) -> str:
        return self.driver

    def device_count(self) -> int:
        with self._lock:
            self.calls["device_count"] += 1
        if not self.initialised:
            raise self._error(nvml_module().NVML_ERROR_UNINITIALIZED)
        return len(self.gpus)

    def name(self, index: int) -> str:
        return self._gpu(index, "name").name

    def uuid(self, index: int) -> str:
        return self._gpu(index, "uuid").uuid

    def utilization(self, index: int) -> int:
        return self._gpu(index, "utilization").utilization

    def memory(self, index: int) -> MemoryInfo:
        gpu = self._gpu(index, "memory")
        return MemoryInfo(used=gpu.memory_used, total=gpu.memory_total)

    def temperature(self, index: int) -> int:
        return self._gpu(index, "temperature").temperature

    def power_draw(self, index: int) -> int:
        return self._gpu(index, "power_draw").power_draw_mw

    def power_limit(self, index: int) -> int:
        return self._gpu(index, "power_limit").power_limit_mw

    def compute_pids(self, index: int) -> tuple[int, ...]:
        return self._gpu(index, "compute_pids").pids


def demo_gpus(count: int = 2) -> list[FakeGpu]:
    """A plausible pair of H100s with distinct UUIDs, for demos and snapshot tests."""
    return [
        FakeGpu(
            uuid=f"GPU-{index:08x}-1111-2222-3333-444444444444",
            utilization=0,
            memory_used=(1 + index) * 1024**3,
        )
        for index in range(count)
    ]
