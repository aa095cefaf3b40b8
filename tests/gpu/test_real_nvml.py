"""The real pynvml path, on whatever machine runs the tests: without a driver it must explain, not crash."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

import pytest

from vllm_tui.gpu.backend import PynvmlBackend
from vllm_tui.gpu.na import NA
from vllm_tui.gpu.reader import GpuReader
from vllm_tui.gpu.sampler import GpuSampler
from vllm_tui.gpu.snapshot import PanelStatus


def _nvml_loads() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


NVML_PRESENT = _nvml_loads()


def test_real_backend_reports_why_or_reads_gpus() -> None:
    reader = GpuReader(backend=PynvmlBackend())
    try:
        snapshot = reader.read()
    finally:
        reader.close()
    if not NVML_PRESENT:
        assert snapshot.status is PanelStatus.LIBRARY_NOT_FOUND
        assert snapshot.title == "NVML library not found"
        assert "driver" in snapshot.message
        assert snapshot.gpus == ()
        return
    assert snapshot.status in (
        PanelStatus.OK,
        PanelStatus.NO_DRIVER,
        PanelStatus.NO_GPU,
        PanelStatus.NO_PERMISSION,
    )
    for gpu in snapshot.gpus:
        assert isinstance(gpu.name, str) and gpu.name
        assert isinstance(gpu.uuid, str) and gpu.uuid.startswith(("GPU-", "MIG-"))
        assert gpu.memory_total is not NA and gpu.memory_total > 0
        assert gpu.memory_used is not NA and 0 <= gpu.memory_used <= gpu.memory_total


def test_real_sampler_thread_starts_and_stops_cleanly() -> None:
    seen = []
    sampler = GpuSampler(seen.append, interval=0.05)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.stop()
    assert len(seen) >= 2
    assert seen[-1].status is not PanelStatus.STARTING
    if not NVML_PRESENT:
        assert seen[-1].status is PanelStatus.LIBRARY_NOT_FOUND


def _cuda_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not NVML_PRESENT or not _cuda_torch(), reason="needs an NVIDIA GPU and torch with CUDA")
def test_a_child_process_with_a_cuda_context_marks_its_gpu_as_the_engines() -> None:
    script = (
        "import sys, time, torch; x = torch.ones(1 << 26, device='cuda');"
        "torch.cuda.synchronize(); print('ready', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        sampler = GpuSampler(backend=PynvmlBackend(), engine_root_pid=os.getpid())
        snapshot = sampler.sample_once()
        sampler.stop()
        sampler._reader.close()
        active = [gpu for gpu in snapshot.gpus if gpu.engine_active]
        assert active, [gpu.pids for gpu in snapshot.gpus]
        assert child.pid in active[0].pids
        assert active[0].memory_used is not NA and active[0].memory_used >= 1 << 28
    finally:
        child.kill()
        child.wait()
