"""Memory-bandwidth roofline for decoding: every weight is read once per generated token, so one
stream cannot beat (GPU copy bandwidth) / (weight bytes). Measures the copy bandwidth on this GPU.

    python -m bench.roofline --model PATH [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.report import report


def weight_bytes(model: Path) -> int:
    return sum(f.stat().st_size for f in model.glob("*.safetensors"))


def copy_bandwidth(gib: float = 4.0, iters: int = 20) -> float:
    """Bytes per second moved by a device-to-device copy (a read and a write per byte)."""
    import torch

    n = int(gib * (1 << 30)) // 2
    x = torch.empty(n, dtype=torch.bfloat16, device="cuda")
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        y.copy_(x)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000
    return 2 * n * 2 * iters / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    bw = copy_bandwidth()
    wb = weight_bytes(args.model)
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "copy_bandwidth_gb_s": round(bw / 1e9, 1),
        "weight_bytes": wb,
        "roofline_tok_s": round(bw / wb, 1),
    }
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
