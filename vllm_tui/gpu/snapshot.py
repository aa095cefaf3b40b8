"""Immutable snapshots of the GPUs: what the sampler thread hands to the UI once per tick."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vllm_tui.gpu.na import NA, MaybeFloat, MaybeInt, MaybeStr, ratio


class PanelStatus(enum.Enum):
    """Why the panel shows what it shows. The value is the short title the UI prints."""

    STARTING = "sampling GPUs…"
    OK = "GPUs"
    LIBRARY_NOT_FOUND = "NVML library not found"
    NO_DRIVER = "no NVIDIA driver"
    NO_PERMISSION = "no permission to read GPUs"
    NO_GPU = "no GPU visible"
    ERROR = "GPU monitoring failed"

    @property
    def title(self) -> str:
        return self.value


@dataclass(frozen=True)
class GpuSnapshot:
    """One GPU at one instant. Any field NVML could not read is `NA`."""

    index: int
    """NVML index (PCI bus order), the number nvidia-smi prints."""
    name: MaybeStr = NA
    uuid: MaybeStr = NA
    utilization: MaybeFloat = NA
    """GPU busy time over NVML's last sample period, in percent."""
    memory_used: MaybeInt = NA
    """Bytes."""
    memory_total: MaybeInt = NA
    """Bytes."""
    temperature: MaybeFloat = NA
    """Degrees Celsius."""
    power_draw: MaybeFloat = NA
    """Watts."""
    power_limit: MaybeFloat = NA
    """Watts (the enforced limit)."""
    pids: tuple[int, ...] = ()
    """Compute processes on this GPU. Inside a container these may be host pids the container can't see."""
    engine_assigned: bool = False
    """The engine may run here: CUDA_VISIBLE_DEVICES (and the engine's GPU count) select this GPU."""
    engine_active: bool = False
    """One of the engine's processes holds a CUDA context on this GPU."""
    lost: bool = False
    """NVML reported GPU_IS_LOST (fell off the bus, Xid 79): only cached fields are left."""
    error: str = ""
    """Why the GPU's readings are missing as a whole, for the card to show."""
    utilization_history: tuple[float, ...] = ()
    """Utilization percent, oldest first; samples NVML couldn't read are skipped."""
    memory_history: tuple[float, ...] = ()
    """Memory used in percent of total, oldest first."""

    @property
    def key(self) -> str:
        """Stable identity across ticks: the UUID when known, else the index."""
        return self.uuid if self.uuid is not NA else f"#{self.index}"

    @property
    def memory_fraction(self) -> MaybeFloat:
        return ratio(self.memory_used, self.memory_total)

    @property
    def memory_percent(self) -> MaybeFloat:
        fraction = self.memory_fraction
        return NA if fraction is NA else fraction * 100.0

    @property
    def power_fraction(self) -> MaybeFloat:
        return ratio(self.power_draw, self.power_limit)


@dataclass(frozen=True)
class GpuPanelSnapshot:
    """All GPUs at one instant, or the reason there are none to show."""

    status: PanelStatus
    message: str = ""
    """A sentence for the user: what is wrong and what to check. Empty when all is well."""
    gpus: tuple[GpuSnapshot, ...] = ()
    driver_version: MaybeStr = NA
    taken_at: float = 0.0
    """`time.monotonic()` when the sample was taken."""
    history_capacity: int = 0
    """How many samples a full history holds (the sparkline's time window)."""

    @property
    def title(self) -> str:
        return self.status.title

    @property
    def ok(self) -> bool:
        return self.status is PanelStatus.OK

    @property
    def engine_gpus(self) -> tuple[GpuSnapshot, ...]:
        return tuple(gpu for gpu in self.gpus if gpu.engine_active or gpu.engine_assigned)


STARTING = GpuPanelSnapshot(PanelStatus.STARTING, "Reading GPUs through NVML.")
"""What the panel shows before the first sample arrives."""
