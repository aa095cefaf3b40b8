"""GPU monitoring through NVML: a sampler thread producing immutable snapshots. Never imports Textual."""

from __future__ import annotations

from vllm_tui.gpu.assignment import EngineDevices, process_tree
from vllm_tui.gpu.backend import MemoryInfo, NvmlBackend, PynvmlBackend
from vllm_tui.gpu.fake import FakeGpu, FakeNvmlBackend, demo_gpus
from vllm_tui.gpu.na import NA, NotApplicable, fmt_celsius, fmt_gib_pair, fmt_percent, fmt_watts, is_na
from vllm_tui.gpu.reader import GpuReader, classify_failure
from vllm_tui.gpu.sampler import DEFAULT_INTERVAL, GpuSampler
from vllm_tui.gpu.snapshot import STARTING, GpuPanelSnapshot, GpuSnapshot, PanelStatus

__all__ = [
    "DEFAULT_INTERVAL",
    "NA",
    "STARTING",
    "EngineDevices",
    "FakeGpu",
    "FakeNvmlBackend",
    "GpuPanelSnapshot",
    "GpuReader",
    "GpuSampler",
    "GpuSnapshot",
    "MemoryInfo",
    "NotApplicable",
    "NvmlBackend",
    "PanelStatus",
    "PynvmlBackend",
    "classify_failure",
    "demo_gpus",
    "fmt_celsius",
    "fmt_gib_pair",
    "fmt_percent",
    "fmt_watts",
    "is_na",
    "process_tree",
]
