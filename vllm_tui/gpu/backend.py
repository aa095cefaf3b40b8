"""The NVML interface the sampler reads through, and its real implementation on `pynvml`.

Backends raise `pynvml.NVMLError` subclasses (NotSupported, GpuIsLost, …) exactly as NVML does, so
the fake backend in `fake.py` exercises the same error handling as a real driver. `pynvml` is imported
lazily: importing it costs ~25 ms, which the UI's first frame should not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from types import ModuleType


@dataclass(frozen=True)
class MemoryInfo:
    used: int
    """Bytes."""
    total: int
    """Bytes."""


@runtime_checkable
class NvmlBackend(Protocol):
    """What the sampler needs from NVML, per device index. Power is in milliwatts, as NVML gives it."""

    def init(self) -> None: ...

    def shutdown(self) -> None: ...

    def driver_version(self) -> str: ...

    def device_count(self) -> int: ...

    def name(self, index: int) -> str: ...

    def uuid(self, index: int) -> str: ...

    def utilization(self, index: int) -> int:
        """GPU utilization in percent."""
        ...

    def memory(self, index: int) -> MemoryInfo: ...

    def temperature(self, index: int) -> int:
        """Core temperature in °C."""
        ...

    def power_draw(self, index: int) -> int:
        """Milliwatts."""
        ...

    def power_limit(self, index: int) -> int:
        """Milliwatts."""
        ...

    def compute_pids(self, index: int) -> tuple[int, ...]: ...


def nvml_module() -> ModuleType:
    import pynvml

    module: ModuleType = pynvml
    return module


def nvml_error_code(exc: BaseException) -> int | None:
    """NVML's return code when `exc` is an NVMLError, else None."""
    pynvml = nvml_module()
    if isinstance(exc, pynvml.NVMLError):
        value = getattr(exc, "value", None)
        return value if isinstance(value, int) else None
    return None


def _text(value: str | bytes) -> str:
    # nvidia-ml-py < 11.515 returned bytes for strings.
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class PynvmlBackend:
    """NVML through nvidia-ml-py. Not thread-safe by itself: the sampler calls it from one thread."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: dict[int, Any] = {}

    def init(self) -> None:
        nvml = nvml_module()
        nvml.nvmlInit()
        self._nvml = nvml
        self._handles = {}

    def shutdown(self) -> None:
        if self._nvml is None:
            return
        nvml, self._nvml = self._nvml, None
        self._handles = {}
        nvml.nvmlShutdown()

    def _handle(self, index: int) -> Any:
        handle = self._handles.get(index)
        if handle is None:
            handle = self._handles[index] = self._nvml.nvmlDeviceGetHandleByIndex(index)
        return handle

    def driver_version(self) -> str:
        return _text(self._nvml.nvmlSystemGetDriverVersion())

    def device_count(self) -> int:
        return int(self._nvml.nvmlDeviceGetCount())

    def name(self, index: int) -> str:
        return _text(self._nvml.nvmlDeviceGetName(self._handle(index)))

    def uuid(self, index: int) -> str:
        return _text(self._nvml.nvmlDeviceGetUUID(self._handle(index)))

    def utilization(self, index: int) -> int:
        return int(self._nvml.nvmlDeviceGetUtilizationRates(self._handle(index)).gpu)

    def memory(self, index: int) -> MemoryInfo:
        info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle(index))
        return MemoryInfo(used=int(info.used), total=int(info.total))

    def temperature(self, index: int) -> int:
        return int(self._nvml.nvmlDeviceGetTemperature(self._handle(index), self._nvml.NVML_TEMPERATURE_GPU))

    def power_draw(self, index: int) -> int:
        return int(self._nvml.nvmlDeviceGetPowerUsage(self._handle(index)))

    def power_limit(self, index: int) -> int:
        nvml = self._nvml
        handle = self._handle(index)
        try:
            # The enforced limit is what the card obeys (it folds in nvidia-smi -pl and board limits).
            return int(nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        except nvml.NVMLError_NotSupported:
            return int(nvml.nvmlDeviceGetPowerManagementLimit(handle))

    def compute_pids(self, index: int) -> tuple[int, ...]:
        nvml = self._nvml
        handle = self._handle(index)
        try:
            processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except nvml.NVMLError_FunctionNotFound:
            # Drivers older than the v3 process API (R510) still have v2.
            processes = nvml.nvmlDeviceGetComputeRunningProcesses_v2(handle)
        return tuple(sorted({int(process.pid) for process in processes}))
