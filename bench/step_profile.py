"""What the GPU does in one decode step of the app's engine settings: kernel time by kind, and idle.

bench.decode_floor times the linear layers and the sampler on their own; this traces the real engine.
vLLM runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, one GPU), with the app's engine
arguments (`engine_args_kwargs`: CUDA graphs and torch.compile as shipped), and PyTorch's profiler
records every kernel of a `--tokens`-token generation, those replayed from CUDA graphs included. The
report is per decode step (the prefill step is left out): time on the GPU by kind of kernel (matrix
products, attention, sorting for top-p, Triton's fused element-wise kernels, copies, the rest), the
time the GPU had no kernel running, and the heaviest kernels by name. R1's sampling and greedy are
traced in turns, so what top-p adds shows as a difference.

The engine's scheduling runs in the same process as the output handling here (the app runs it in a
process of its own), so the idle time is an upper bound on the app's.

    python -m bench.step_profile --model PATH [--tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from bench.engine_options import PROMPT_IDS, SAMPLINGS, app_engine_kwargs
from bench.report import report

KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("attention", re.compile(r"flash|fmha|attn|attention", re.I)),
    ("matrix products", re.compile(r"gemm|gemv|cutlass|nvjet|xmma|splitk|cublas|sm90_|sm80_|ampere_", re.I)),
    ("sort (top-p)", re.compile(r"sort|radix|cub::", re.I)),
    ("triton (fused element-wise)", re.compile(r"triton", re.I)),
    ("copies", re.compile(r"memcpy|memset|copy", re.I)),
]


def kind_of(name: str) -> str:
    for kind, pattern in KINDS:
        if pattern.search(name):
            return kind
    return "other"


def _heaviest_first(totals: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(totals.items(), key=lambda item: -item[1])


def step_breakdown(kernels: list[tuple[str, int, int]], steps: int) -> dict[str, Any]:
    """Per-step figures from (name, start ns, end ns) of the kernels of `steps` decode steps."""
    kernels = sorted(kernels, key=lambda k: k[1])
    busy = 0
    reach = kernels[0][1] if kernels else 0
    by_kind: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for name, start, end in kernels:
        duration = end - start
        by_kind[kind_of(name)] = by_kind.get(kind_of(name), 0) + duration
        by_name[name] = by_name.get(name, 0) + duration
        # The union of the kernels' intervals: what overlaps (two streams) counts once.
        if end > reach:
            busy += end - max(start, reach)
            reach = end
    span = (kernels[-1][2] - kernels[0][1]) if kernels else 0
    per_step = max(1, steps)
    heaviest = _heaviest_first(by_name)[:15]
    return {
        "steps": steps,
        "kernels_per_step": round(len(kernels) / per_step, 1),
        "step_us": round(span / per_step / 1e3, 1),
        "gpu_busy_us": round(busy / per_step / 1e3, 1),
        "gpu_idle_us": round((span - busy) / per_step / 1e3, 1),
        "by_kind_us": {k: round(v / per_step / 1e3, 1) for k, v in _heaviest_first(by_kind)},
        "heaviest_us": [[name[:120], round(v / per_step / 1e3, 1)] for name, v in heaviest],
    }


def _decode_kernels(prof: Any) -> list[tuple[str, int, int]]:
    """The CUDA kernels and copies the profiler saw, in (name, start ns, end ns)."""
    from torch.autograd import DeviceType

    kernels = []
    for event in prof.profiler.kineto_results.events():
        if event.device_type() == DeviceType.CUDA:
            start = event.start_ns()
            kernels.append((event.name(), start, start + event.duration_ns()))
    return kernels


def _trace(llm: Any, ids: list[int], tokens: int, *, temperature: float, top_p: float) -> dict[str, Any]:
    import torch
    from vllm import SamplingParams

    params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=tokens, ignore_eos=True)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        started = time.perf_counter()
        out = llm.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)
        wall = time.perf_counter() - started
    produced = len(out[0].outputs[0].token_ids)
    kernels = sorted(_decode_kernels(prof), key=lambda k: k[1])
    # The prefill is the first step: leave out the first tenth of the trace, and count the decode
    # steps in the rest by its share of the trace (the steps are alike).
    if not kernels:
        return {"tokens": produced, "wall_s": round(wall, 3), "kernels": 0}
    first, last = kernels[0][1], kernels[-1][2]
    cut = first + (last - first) // 10
    decode = [k for k in kernels if k[1] >= cut]
    steps = round(produced * (last - cut) / (last - first))
    result = {"tokens": produced, "wall_s": round(wall, 3), "traced_tok_s": round(produced / wall, 1)}
    result.update(step_breakdown(decode, steps))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine core in this process, to trace it
    from vllm import LLM, SamplingParams

    llm: Any = LLM(**app_engine_kwargs(args.model))
    ids = PROMPT_IDS
    llm.generate([{"prompt_token_ids": ids}], SamplingParams(max_tokens=32, ignore_eos=True), use_tqdm=False)
    result: dict[str, Any] = {"model": args.model}
    for name, sampling in (("r1", "r1"), ("greedy", "greedy"), ("r1_again", "r1")):
        result[name] = _trace(llm, ids, args.tokens, **SAMPLINGS[sampling])
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
