"""Engine cycles: load, answer, shut down, as a model switch (F3), ctrl+r or ctrl+q does it.

How long the shutdown takes, how soon the GPUs' memory is free again after it, that the next load
works, and that no engine process is left. Each cycle loads the engine, streams a short answer
through the frontend (the raw loop of bench.delivered) and shuts down, the app's `LocalEngine` as
is.

    python -m bench.engine_cycle --model PATH [--tp 2] [--cycles 2] [--json out.json]

GPU memory is read with NVML (nvidia-ml-py), where there are GPUs: "memory_free_s" is the time from
the start of the shutdown until every GPU's used memory is back within 1 GiB of what it was before
the first load (CPU build: left out).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.local_engine import bench_dir, load_engine
from bench.report import report
from vllm_tui.config import EngineSettings

PROMPT = "Write a long story about a lighthouse keeper."
SLACK = 1 << 30
"""Used memory within this of the baseline counts as freed (the driver's own contexts vary)."""


class GpuMemory:
    """Used memory of every GPU through NVML, or nothing where there is none."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no driver, no GPUs: the CPU build
            self._handles = []

    def used(self) -> list[int]:
        return [int(self._nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self._handles]

    def wait_back_to(self, baseline: list[int], started: float, timeout: float = 60.0) -> float | None:
        """Seconds from `started` until every GPU is back within SLACK of `baseline` (None: not in
        `timeout`)."""
        if not self._handles:
            return None
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(u <= b + SLACK for u, b in zip(self.used(), baseline, strict=True)):
                return time.perf_counter() - started
            time.sleep(0.02)
        return None


def cycle(settings: EngineSettings, log_path: Path, gpus: GpuMemory, baseline: list[int]) -> dict[str, Any]:
    import psutil

    engine, _ready, load_s = load_engine(settings, log_path)
    raw = engine.measure_raw(PROMPT, 64)
    loaded = gpus.used()
    pids = engine.pids
    freed: dict[str, float | None] = {}
    t0 = time.perf_counter()
    # Watched from the moment the shutdown starts, in parallel with it: the memory may be free
    # before shutdown() returns (it also waits for the frontend to exit).
    watcher = threading.Thread(target=lambda: freed.update(s=gpus.wait_back_to(baseline, t0)), daemon=True)
    watcher.start()
    engine.shutdown()
    shutdown_s = time.perf_counter() - t0
    watcher.join(65)
    left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    return {
        "load_s": round(load_s, 1),
        "raw_tok_s": round(raw["tok_s"], 1),
        "gpu_used_mib_loaded": [u >> 20 for u in loaded],
        "shutdown_s": round(shutdown_s, 2),
        "memory_free_s": None if freed.get("s") is None else round(freed["s"] or 0.0, 2),
        "gpu_used_mib_after": [u >> 20 for u in gpus.used()],
        "engine_processes": len(pids),
        "engine_processes_left": len(left),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--enforce-eager", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    _work, log_path = bench_dir("vllm-tui-cycle-")
    settings = EngineSettings(
        model=args.model,
        tensor_parallel_size=args.tp,
        max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager,
    )
    gpus = GpuMemory()
    baseline = gpus.used()
    cycles = []
    for _ in range(args.cycles):
        cycles.append(cycle(settings, log_path, gpus, baseline))
        print(cycles[-1], file=sys.stderr, flush=True)
    report(
        {
            "model": args.model,
            "tensor_parallel_size": args.tp,
            "gpu_used_mib_before": [u >> 20 for u in baseline],
            "cycles": cycles,
        },
        args.json,
        indent=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
