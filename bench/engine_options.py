"""Raw decode speed of one engine option against the app's defaults, without the app.

For choosing defaults (issue 7, item 6): loads vLLM with the app's own engine arguments
(`engine_args_kwargs`), plus the named extra arguments, and streams the same request as
bench/delivered.py's raw loop, twice. Run once per option set; compare runs on one machine.

    python -m bench.engine_options --model PATH [--set async_scheduling=true] [--json out.json]
        [--sampling r1,greedy --turns 3] [--prompt-tokens 40,8192,32768]

`--prompt-tokens` times each prompt length in turn: the first token's wait (a long prompt's prefill)
and the decode rate at that context (R1 thinks for thousands of tokens, and attention's share of a step
grows with the context). Prompts other than the 40-token default are new ids for every request, so
vLLM's prefix cache never serves them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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


def app_engine_kwargs(model: str, max_model_len: int = 4096) -> dict[str, Any]:
    """The app's own engine arguments for `model` (its defaults, a 4,096-token context unless told)."""
    from vllm_tui.config import EngineSettings
    from vllm_tui.engine.frontend import engine_args_kwargs

    return engine_args_kwargs(EngineSettings(model=model, max_model_len=max_model_len))


def prompt_ids(length: int, rng: random.Random) -> list[int]:
    """The 40-token default prompt, or `length` ids never sent before (no prefix-cache hit)."""
    if length == len(PROMPT_IDS):
        return PROMPT_IDS
    return [rng.randrange(1000, 100_000) for _ in range(length)]


def context_len(prompt_lengths: list[int], tokens: int) -> int:
    """The engine's context: the app's 4,096 tokens, or the longest prompt plus its answer, rounded up."""
    need = max(prompt_lengths) + tokens
    return max(4096, -(-need // 1024) * 1024)


async def _run(
    model: str,
    extra: dict[str, Any],
    tokens: int,
    samplings: list[str],
    turns: int,
    prompt_lengths: list[int],
) -> dict[str, Any]:
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    kwargs = {**app_engine_kwargs(model, context_len(prompt_lengths, tokens)), **extra}
    started = time.perf_counter()
    llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
    load_s = time.perf_counter() - started
    rng = random.Random(0)
    by_prompt: dict[int, dict[str, list[float]]] = {n: {"ttft_s": [], "tok_s": []} for n in prompt_lengths}
    try:
        await raw_stream(llm, PROMPT_IDS, 32)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in samplings}
        for _ in range(turns):
            for name in samplings:
                for length in prompt_lengths:
                    run = await raw_stream(llm, prompt_ids(length, rng), tokens, **SAMPLINGS[name])
                    if name == samplings[0]:
                        by_prompt[length]["ttft_s"].append(round(run["ttft_s"], 4))
                        by_prompt[length]["tok_s"].append(round(run["tok_s"], 1))
                    if length == prompt_lengths[0]:
                        rates[name].append(round(run["tok_s"], 1))
    finally:
        llm.shutdown()
    result: dict[str, Any] = {"model": model, "extra": extra, "load_s": round(load_s, 1)}
    result["max_model_len"] = kwargs.get("max_model_len")
    result["tok_s"] = rates[samplings[0]]  # the first sampling and prompt named (R1's, 40 tokens by default)
    if len(samplings) > 1:
        result["tok_s_by_sampling"] = rates
    if prompt_lengths != [len(PROMPT_IDS)]:
        result["by_prompt_tokens"] = {str(n): by_prompt[n] for n in prompt_lengths}
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
    ap.add_argument(
        "--prompt-tokens",
        default=str(len(PROMPT_IDS)),
        help="comma-separated prompt lengths, timed in turns (the first token's wait and the decode rate)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samplings = [name.strip() for name in args.sampling.split(",") if name.strip()]
    unknown = [name for name in samplings if name not in SAMPLINGS]
    if unknown or not samplings:
        known = ", ".join(SAMPLINGS)
        ap.error(f"--sampling: unknown {', '.join(unknown) or '(none given)'}; choose from {known}")
    try:
        prompt_lengths = [int(n) for n in args.prompt_tokens.split(",") if n.strip()]
    except ValueError:
        ap.error(f"--prompt-tokens: whole numbers, comma-separated (got {args.prompt_tokens!r})")
    if not prompt_lengths or min(prompt_lengths) < 1:
        ap.error("--prompt-tokens: at least one length, each 1 or more")
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    extra = {name: _value(value) for name, value in (item.split("=", 1) for item in args.set)}
    result = asyncio.run(_run(args.model, extra, args.tokens, samplings, args.turns, prompt_lengths))
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
