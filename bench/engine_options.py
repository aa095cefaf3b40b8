"""Raw decode speed of one engine option against the app's defaults, without the app.

For choosing defaults (issue 7, item 6): loads vLLM with the app's own engine arguments
(`engine_args_kwargs`), plus the named extra arguments, and streams the same request as
bench/delivered.py's raw loop, twice. Run once per option set; compare runs on one machine.

    python -m bench.engine_options --model PATH [--set async_scheduling=true] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import report
from vllm_tui.engine.frontend import raw_stream


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


async def _run(model: str, extra: dict[str, Any], tokens: int) -> dict[str, Any]:
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    from vllm_tui.config import EngineSettings
    from vllm_tui.engine.frontend import engine_args_kwargs

    kwargs = {**engine_args_kwargs(EngineSettings(model=model, max_model_len=4096)), **extra}
    started = time.perf_counter()
    llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
    load_s = time.perf_counter() - started
    try:
        ids = list(range(1000, 1040))
        await raw_stream(llm, ids, 32)  # warm-up
        rates = [(await raw_stream(llm, ids, tokens))["tok_s"] for _ in range(3)]
    finally:
        llm.shutdown()
    return {"model": model, "extra": extra, "load_s": round(load_s, 1), "tok_s": [round(r, 1) for r in rates]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE, an extra AsyncEngineArgs field")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    extra = {name: _value(value) for name, value in (item.split("=", 1) for item in args.set)}
    result = asyncio.run(_run(args.model, extra, args.tokens))
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
