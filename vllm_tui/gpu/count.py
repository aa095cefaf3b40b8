"""How many GPUs the engine could use, for checks made before an engine starts."""

from __future__ import annotations

import os


def visible_gpu_count() -> int | None:
    """GPUs NVML sees, narrowed by CUDA_VISIBLE_DEVICES; None when unknown (no driver, CPU build).

    Blocking (NVML init can take a moment): call it off the UI loop.
    """
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no library, no driver, no GPU: all mean "unknown"
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return count
    entries = [v for v in visible.split(",") if v.strip()]
    return min(count, len(entries))
