"""One pass over NVML → a `GpuPanelSnapshot`. Called by the sampler thread; never by the UI."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TypeVar

from vllm_tui.gpu.assignment import EngineDevices
from vllm_tui.gpu.backend import NvmlBackend, PynvmlBackend, nvml_error_code, nvml_module
from vllm_tui.gpu.na import NA, MaybeFloat, MaybeInt, MaybeStr, NotApplicable
from vllm_tui.gpu.snapshot import GpuPanelSnapshot, GpuSnapshot, PanelStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

STATIC_TTL = 60.0
"""Seconds the power limit stays cached; it changes only through `nvidia-smi -pl`."""
INIT_RETRY = 30.0
"""Seconds between attempts to start NVML after it failed (the driver may be loaded meanwhile)."""


LOST_MESSAGE = "GPU is lost (fell off the bus): see `dmesg` for Xid errors; a reset or reboot is needed."


class _GpuLost(Exception):
    """NVML said GPU_IS_LOST: stop reading this GPU for this tick."""


@dataclass
class _Cached:
    name: MaybeStr = NA
    uuid: MaybeStr = NA
    power_limit: MaybeFloat = NA
    power_limit_at: float = float("-inf")
    memory_total: MaybeInt = NA


@dataclass
class _Failure:
    status: PanelStatus
    message: str
    at: float


@dataclass
class GpuReader:
    """Reads every GPU once per `read()`; caches what rarely changes; keeps one bad GPU from hiding others."""

    backend: NvmlBackend = field(default_factory=PynvmlBackend)
    engine_devices: EngineDevices = field(default_factory=EngineDevices.from_env)
    clock: Callable[[], float] = time.monotonic
    static_ttl: float = STATIC_TTL
    init_retry: float = INIT_RETRY
    _initialised: bool = False
    _failure: _Failure | None = None
    _driver: MaybeStr = NA
    _cache: dict[int, _Cached] = field(default_factory=dict)
    _reported: set[tuple[int, str, str]] = field(default_factory=set)

    def read(self, engine_pids: Collection[int] = ()) -> GpuPanelSnapshot:
        """Sample every GPU now. Blocks for as long as NVML takes: call it off the UI thread."""
        snapshot = self._read(engine_pids)
        if not self._initialised and self._failure is None:
            # NVML was shut down under us mid-read: start it again now rather than show a broken tick.
            snapshot = self._read(engine_pids)
        return snapshot

    def _read(self, engine_pids: Collection[int]) -> GpuPanelSnapshot:
        now = self.clock()
        if not self._initialised:
            failure = self._start(now)
            if failure is not None:
                return GpuPanelSnapshot(failure.status, failure.message, taken_at=now)
        try:
            count = self.backend.device_count()
        except Exception as exc:
            self._lost_nvml(exc)
            status, message = classify_failure(exc)
            return GpuPanelSnapshot(status, message, driver_version=self._driver, taken_at=now)
        if count == 0:
            return GpuPanelSnapshot(
                PanelStatus.NO_GPU,
                "NVML works but lists no GPU: check that the container was started with --gpus.",
                driver_version=self._driver,
                taken_at=now,
            )
        gpus = [self._read_gpu(index, now, engine_pids) for index in range(count)]
        assigned = set(self.engine_devices.resolve([(gpu.index, gpu.uuid) for gpu in gpus]))
        if assigned:
            gpus = [_assign(gpu, gpu.index in assigned) for gpu in gpus]
        return GpuPanelSnapshot(PanelStatus.OK, "", tuple(gpus), self._driver, now)

    def close(self) -> None:
        if not self._initialised:
            return
        self._initialised = False
        try:
            self.backend.shutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)

    def _start(self, now: float) -> _Failure | None:
        if self._failure is not None and now - self._failure.at < self.init_retry:
            return self._failure
        try:
            self.backend.init()
        except Exception as exc:
            status, message = classify_failure(exc)
            if self._failure is None or self._failure.status is not status:
                log.info("GPU monitoring unavailable: %s (%s)", status.title, exc)
            self._failure = _Failure(status, message, now)
            return self._failure
        self._initialised = True
        self._failure = None
        self._cache.clear()
        self._driver = self._field(-1, "driver", self.backend.driver_version)
        return None

    def _lost_nvml(self, exc: BaseException) -> None:
        if nvml_error_code(exc) == nvml_module().NVML_ERROR_UNINITIALIZED:
            # Someone shut NVML down under us (its init is reference-counted, so not vLLM): start again.
            self._initialised = False

    def _read_gpu(self, index: int, now: float, engine_pids: Collection[int]) -> GpuSnapshot:
        cached = self._cache.setdefault(index, _Cached())
        try:
            if cached.name is NA:
                cached.name = self._field(index, "name", lambda: self.backend.name(index))
            if cached.uuid is NA:
                cached.uuid = self._field(index, "uuid", lambda: self.backend.uuid(index))
            if now - cached.power_limit_at >= self.static_ttl:
                cached.power_limit = self._field(
                    index, "power_limit", lambda: self.backend.power_limit(index) / 1000
                )
                cached.power_limit_at = now
            memory = self._field(index, "memory", lambda: self.backend.memory(index))
            memory_used: MaybeInt = NA
            if memory is not NA:
                memory_used, cached.memory_total = memory.used, memory.total
            pids = self._field(index, "compute_pids", lambda: self.backend.compute_pids(index))
            pid_tuple = () if pids is NA else pids
            return GpuSnapshot(
                index=index,
                name=cached.name,
                uuid=cached.uuid,
                utilization=self._field(index, "utilization", lambda: float(self.backend.utilization(index))),
                memory_used=memory_used,
                memory_total=cached.memory_total,
                temperature=self._field(index, "temperature", lambda: float(self.backend.temperature(index))),
                power_draw=self._field(index, "power_draw", lambda: self.backend.power_draw(index) / 1000),
                power_limit=cached.power_limit,
                pids=pid_tuple,
                engine_active=bool(engine_pids) and not set(pid_tuple).isdisjoint(engine_pids),
            )
        except _GpuLost:
            return GpuSnapshot(
                index=index,
                name=cached.name,
                uuid=cached.uuid,
                memory_total=cached.memory_total,
                power_limit=cached.power_limit,
                lost=True,
                error=LOST_MESSAGE,
            )

    def _field(self, index: int, what: str, read: Callable[[], T]) -> T | NotApplicable:
        """One NVML read; any failure but GPU_IS_LOST becomes NA so the rest of the card still shows."""
        try:
            return read()
        except Exception as exc:
            code = nvml_error_code(exc)
            nvml = nvml_module()
            if code == nvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLost from exc
            if code == nvml.NVML_ERROR_UNINITIALIZED:
                self._initialised = False
            elif code != nvml.NVML_ERROR_NOT_SUPPORTED:
                # Log each distinct failure once: the same error every second would flood the log file.
                key = (index, what, type(exc).__name__)
                if key not in self._reported:
                    self._reported.add(key)
                    log.warning("GPU %d: reading %s failed: %r", index, what, exc)
            return NA


def _assign(gpu: GpuSnapshot, assigned: bool) -> GpuSnapshot:
    if gpu.engine_assigned == assigned:
        return gpu
    return replace(gpu, engine_assigned=assigned)


def classify_failure(exc: BaseException) -> tuple[PanelStatus, str]:
    """Map a failure to start or use NVML to the panel's status and a sentence for the user."""
    if isinstance(exc, ImportError):
        return (
            PanelStatus.LIBRARY_NOT_FOUND,
            "The nvidia-ml-py package is missing: install it to see GPUs here.",
        )
    code = nvml_error_code(exc)
    nvml = nvml_module()
    if code == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return (
            PanelStatus.LIBRARY_NOT_FOUND,
            # Short: on a machine that only attaches to a server this card stays in the sidebar.
            "No NVIDIA driver here (or a container without the NVIDIA runtime).",
        )
    if code == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return (
            PanelStatus.NO_DRIVER,
            "The NVIDIA kernel driver is not loaded (nvidia-smi fails too): check `lsmod | grep nvidia`.",
        )
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return PanelStatus.NO_PERMISSION, "NVML refused access: check the permissions of /dev/nvidia*."
    return PanelStatus.ERROR, f"NVML failed: {exc}"
