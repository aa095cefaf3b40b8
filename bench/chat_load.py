"""UI cost of streaming in the real chat screen: synthetic tokens at a steady rate go through the
same path engine events take (the bridge, the chat screen, the message widgets, the sidebar), headless.
Reports the app process's CPU use (% of one core) — CPU the engine's own Python thread, which shares
the interpreter in-process, cannot use.

    python -m bench.chat_load [--rate 350] [--seconds 8] [--history 0] [--json out.json]

`--history N` first stores a chat of N messages (bench/startup.py's) and lets the app open it, as after
a restart: the screen then holds up to SHOWN_MESSAGES of them while the new answer streams.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot

from bench.report import report
from bench.startup import fill_store
from bench.synthetic import prose_tokens
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, EngineSettings, Profile
from vllm_tui.engine.events import AnswerFinished, AnswerStats, EngineReady, ReasoningDelta, TextDelta
from vllm_tui.screens.chat import SHOWN_MESSAGES
from vllm_tui.widgets.message import AssistantMessage


class _NoEngine:
    """Stands where an engine would be; the tokens come from the synthetic feeder thread."""

    name = "synthetic"
    settings = EngineSettings(model="synthetic")

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def attach(self, emit) -> None:  # type: ignore[no-untyped-def]
        self.emit = emit
        emit(EngineReady(model="synthetic", max_model_len=131072, load_seconds=0.0))

    def start(self) -> None: ...

    def submit(self, request) -> None:  # type: ignore[no-untyped-def]
        self.submitted.append(request.request_id)

    def stop(self, request_id: str) -> None: ...

    def shutdown(self) -> None: ...

    def list_models(self) -> list[str]:
        return ["synthetic"]


@asynccontextmanager
async def streaming_app(history: int = 0) -> AsyncIterator[tuple[VllmTuiApp, Pilot[None], _NoEngine, str]]:
    """The real app, headless, with a prompt sent: yields it, its pilot, the stand-in engine whose
    `emit` feeds the chat screen, and the request id the answer's events must carry."""
    engine = _NoEngine()
    profile = Profile(name="bench", engine=EngineSettings(model="synthetic"))
    store = Path(f"/tmp/vllm-tui-bench-{time.time_ns()}.sqlite3")
    if history:
        fill_store(store, history)
    app = VllmTuiApp(AppConfig(), profile, Path("/tmp/vllm-tui-bench.log"), engine=engine,  # type: ignore[arg-type]
                     store_path=store)
    async with app.run_test(size=(130, 40)) as pilot:
        while not app.chat.engine_ready:
            await pilot.pause(0.02)
        while len(app.query(AssistantMessage)) < min(history, SHOWN_MESSAGES) // 2:
            await pilot.pause(0.05)
        await pilot.pause(0.5 if history else 0)
        app.chat.ask("stream something")
        await pilot.pause(0.2)
        yield app, pilot, engine, engine.submitted[-1]  # type: ignore[misc]


async def run(rate: float, seconds: float, thinking_share: float, history: int = 0) -> dict[str, float]:
    async with streaming_app(history) as (app, pilot, engine, rid):
        widgets = sum(1 for _ in app.screen.walk_children())
        tokens = prose_tokens(int(rate * seconds) + 10)
        n_think = int(len(tokens) * thinking_share)
        done = threading.Event()

        def feed() -> None:
            start = time.perf_counter()
            for i, tok in enumerate(tokens):
                target = start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if i < n_think:
                    engine.emit(ReasoningDelta(rid, tok, 0, 1))
                else:
                    engine.emit(TextDelta(rid, tok, 0, 1))
            engine.emit(AnswerFinished(rid, "stop", AnswerStats(completion_tokens=len(tokens))))
            done.set()

        cpu0, wall0 = time.process_time(), time.perf_counter()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        while not done.is_set():
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await pilot.pause(0.3)
    # The feeder thread's own sleeps cost nothing; its emits are a few µs each.
    return {
        "rate": rate,
        "history": history,
        "widgets": widgets,
        "seconds": round(wall, 2),
        "app_cpu_percent": round(100 * cpu / wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=350.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--thinking-share", type=float, default=0.5)
    ap.add_argument("--history", type=int, default=0, help="messages in the chat opened before streaming")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report(dict(asyncio.run(run(args.rate, args.seconds, args.thinking_share, args.history))), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
