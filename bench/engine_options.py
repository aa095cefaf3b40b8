"""Raw decode speed of one engine option against the app's defaults, without the app.

For choosing defaults (issue 7, item 6): loads vLLM with the app's own engine arguments
(`engine_args_kwargs`), plus the named extra arguments, and streams the same request as
bench/delivered.py's raw loop, twice. Run once per option set; compare runs on one machine.

    python -m bench.engine_options --model PATH [--set async_scheduling=true] [--json out.json]
        [--sampling r1,greedy --turns 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import report
from vllm_tui.engine.frontend import raw_stream


def _value(text: str) -> Any:
    if text.lstrip().startswith("{"):  # a config given whole, e.g. compilation_config={"cudagraph_mode": ...}
        return json.loads(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


# Sampling to time in turns on one engine: what a step's sampling costs shows as the gap between
# them (R1's defaults sort the whole vocabulary for top-p; greedy takes an argmax).
SAMPLINGS: dict[str, dict[str, float]] = {
    "r1": {"temperature": 0.6, "top_p": 0.95},
    "temperature": {"temperature": 0.6, "top_p": 1.0},
    "greedy": {"temperature": 0.0, "top_p": 1.0},
}


PROMPT_IDS = list(range(1000, 1040))
"""The request's prompt: 40 token ids, the same for every option (the benchmarks on the GPU host)."""


def app_engine_kwargs(model: str) -> dict[str, Any]:
    """The app's own engine arguments for `model` (its defaults, a 4,096-token context)."""
    from vllm_tui.config import EngineSettings
    from vllm_tui.engine.frontend import engine_args_kwargs

    return engine_args_kwargs(EngineSettings(model=model, max_model_len=4096))


async def _run(
    model: str, extra: dict[str, Any], tokens: int, samplings: list[str], turns: int
) -> dict[str, Any]:
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    kwargs = {**app_engine_kwargs(model), **extra}
    started = time.perf_counter()
    llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
    load_s = time.perf_counter() - started
    try:
        ids = PROMPT_IDS
        await raw_stream(llm, ids, 32)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in samplings}
        for _ in range(turns):
            for name in samplings:
                rate = (await raw_stream(llm, ids, tokens, **SAMPLINGS[name]))["tok_s"]
                rates[name].append(round(rate, 1))
    finally:
        llm.shutdown()
    result: dict[str, Any] = {"model": model, "extra": extra, "load_s": round(load_s, 1)}
    result["tok_s"] = rates[samplings[0]]  # the first sampling named (R1's by default), as before
    if len(samplings) > 1:
        result["tok_s_by_sampling"] = rates
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE, an extra AsyncEngineArgs field")
    ap.add_argument(
        "--sampling",
        default="r1",
        help=f"comma-separated, timed in turns on the one engine: {', '.join(SAMPLINGS)}",
    )
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samplings = [name.strip() for name in args.sampling.split(",") if name.strip()]
    unknown = [name for name in samplings if name not in SAMPLINGS]
    if unknown or not samplings:
        known = ", ".join(SAMPLINGS)
        ap.error(f"--sampling: unknown {', '.join(unknown) or '(none given)'}; choose from {known}")
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    extra = {name: _value(value) for name, value in (item.split("=", 1) for item in args.set)}
    result = asyncio.run(_run(args.model, extra, args.tokens, samplings, args.turns))
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
