"""How much the UI slows an in-process engine frontend that shares its Python interpreter (the GIL).

On the GPU host the app delivered 0.72 of raw vLLM speed (1.5B) although the GPU and 15 spare cores
were idle: vLLM's frontend (`AsyncLLM`'s output handling: socket receive, detokenising, our reasoning
split) runs in the app process, in the engine thread, and each step it must take the GIL back from the
UI thread. This benchmark reproduces that without a GPU:

* a *source* process sends one small message per decode step at a steady rate over a pipe (the engine
  core, which runs in its own process and is not slowed by the app);
* a *frontend* thread with its own asyncio loop (as `LocalEngine` runs `AsyncLLM`) wakes on the pipe,
  hops through an `asyncio.Queue` (as vLLM's output handler does), spends `--work-us` of pure-Python
  work per step and emits a `TextDelta` into either a bare list (*raw*) or the real chat screen (*app*,
  headless, via the same bridge the engine uses).

Reported: the rate the frontend keeps in each case and their ratio (the analogue of delivered/raw),
the UI's CPU share, and the lag from a step's send to the frontend handling it.

    python -m bench.frontend_share [--rate 350] [--seconds 6] [--work-us 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.chat_load import streaming_app
from bench.report import report
from bench.synthetic import prose_tokens
from vllm_tui.engine.events import AnswerFinished, AnswerStats, TextDelta


def _source(conn: Connection, rate: float, steps: int, start_at: float) -> None:
    """The 'engine core': one message per step at `rate` steps/s, timestamps on the shared clock."""
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for i in range(steps):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        conn.send_bytes(f"{i} {time.time():.6f}".encode())
    conn.send_bytes(b"end")


def _busy(work_us: float) -> None:
    """Pure-Python work holding the GIL for about `work_us` µs (detokenising, building outputs)."""
    end = time.perf_counter() + work_us / 1e6
    acc: dict[int, str] = {}
    n = 0
    while time.perf_counter() < end:
        acc[n % 64] = str(n)
        n += 1


def _frontend(conn: Connection, work_us: float, sink: Callable[[int], None]) -> dict[str, Any]:
    """The engine thread: its own loop, woken by the pipe, one queue hop per step, then the work."""
    lags: list[float] = []
    handled: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: queue.put_nowait(conn.recv_bytes()))
        while True:
            message = await queue.get()
            if message == b"end":
                break
            index, sent = message.split()
            _busy(work_us)
            sink(int(index))
            now = time.time()
            handled.append(time.perf_counter())
            lags.append(now - float(sent))
        loop.remove_reader(conn.fileno())

    asyncio.run(main())
    span = handled[-1] - handled[0] if len(handled) > 1 else float("nan")
    lags.sort()
    return {
        "steps": len(handled),
        "rate": round((len(handled) - 1) / span, 1),
        "lag_p50_ms": round(1000 * lags[len(lags) // 2], 2),
        "lag_p99_ms": round(1000 * lags[int(len(lags) * 0.99)], 2),
    }


def _run_source(rate: float, steps: int, work_us: float, sink: Callable[[int], None]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    start_at = time.time() + 1.0
    proc = ctx.Process(target=_source, args=(theirs, rate, steps, start_at), daemon=True)
    proc.start()
    result = _frontend(ours, work_us, sink)
    proc.join(5)
    return result


async def _through_app(rate: float, steps: int, work_us: float) -> dict[str, Any]:
    tokens = prose_tokens(steps + 10)
    async with streaming_app() as (_app, pilot, engine, rid):
        out: dict[str, Any] = {}

        def frontend() -> None:
            def sink(i: int) -> None:
                engine.emit(TextDelta(rid, tokens[i], 0, 1))

            out.update(_run_source(rate, steps, work_us, sink))
            engine.emit(AnswerFinished(rid, "stop", AnswerStats(completion_tokens=steps)))

        thread = threading.Thread(target=frontend, daemon=True)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await pilot.pause(0.3)
    out["process_cpu_percent"] = round(100 * cpu / wall, 1)
    return out


def run(rate: float, seconds: float, work_us: float, switch_interval: float | None) -> dict[str, Any]:
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    steps = int(rate * seconds)
    raw_first = _run_source(rate, steps, work_us, lambda i: None)
    app = asyncio.run(_through_app(rate, steps, work_us))
    raw_second = _run_source(rate, steps, work_us, lambda i: None)
    raw_rate = (raw_first["rate"] + raw_second["rate"]) / 2
    return {
        "source_rate": rate,
        "work_us": work_us,
        "switch_interval_ms": round(sys.getswitchinterval() * 1000, 3),
        "raw": [raw_first, raw_second],
        "app": app,
        "app_over_raw": round(app["rate"] / raw_rate, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=350.0)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--work-us", type=float, default=300.0)
    ap.add_argument("--switch-interval", type=float, help="sys.setswitchinterval() before the runs (s)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report(run(args.rate, args.seconds, args.work_us, args.switch_interval), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
