"""UI cost of streaming in the real chat screen: synthetic tokens at a steady rate go through the
same path engine events take (the bridge, the chat screen, the message widgets, the sidebar), headless.
Reports the app process's CPU use (% of one core), and the lag from a token's arrival (the engine
thread's `emit`) to the end of the screen refresh that shows it, for the sample on screen.

    python -m bench.chat_load [--rate 350] [--seconds 8] [--samples 1] [--history 0] [--json out.json]

`--samples 4 --rate 1000` is the render target's steady feed as it reaches the app: four parallel R1
samples of 250 tok/s each (vLLM's `n`, one tab each; the first is shown). Each sample thinks for the
first `--thinking-share` of its tokens, then answers (the thinking folds away). Lag is reported for the
shown sample's tokens; thinking tokens still unshown when their block folds never reach the screen
and are counted apart.

`--history N` first stores a chat of N messages (bench/startup.py's) and lets the app open it, as after
a restart: the screen then holds up to SHOWN_MESSAGES of them while the new answer streams.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot

from bench.report import report
from bench.startup import fill_store
from bench.synthetic import prose_tokens
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, EngineSettings, Profile
from vllm_tui.engine.events import AnswerFinished, AnswerStats, EngineReady, ReasoningDelta, TextDelta
from vllm_tui.gpu import FakeNvmlBackend, GpuPanelSnapshot, GpuSampler, demo_gpus
from vllm_tui.screens.chat import SHOWN_MESSAGES
from vllm_tui.widgets.markdown_stream import StreamingMarkdown
from vllm_tui.widgets.message import AssistantMessage


class _NoEngine:
    """Stands where an engine would be; the tokens come from the synthetic feeder thread."""

    name = "synthetic"
    settings = EngineSettings(model="synthetic")
    shares_cores = False
    """As a local engine on vLLM's CPU backend says (EngineReady.shares_cores): frames on arrival."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def attach(self, emit) -> None:  # type: ignore[no-untyped-def]
        self.emit = emit
        emit(
            EngineReady(
                model="synthetic", max_model_len=131072, load_seconds=0.0, shares_cores=self.shares_cores
            )
        )

    def start(self) -> None: ...

    def submit(self, request) -> None:  # type: ignore[no-untyped-def]
        self.submitted.append(request.request_id)

    def stop(self, request_id: str) -> None: ...

    def shutdown(self) -> None: ...

    def list_models(self) -> list[str]:
        return ["synthetic"]


def _busy_gpus(count: int, show: Callable[[GpuPanelSnapshot], None]) -> tuple[GpuSampler, threading.Event]:
    """NVML's stand-in (this machine has no NVIDIA GPU) behind the app's own sampler, with readings
    that move every tick as a busy GPU's do, so the sidebar's cards redraw as on the GPU host."""
    gpus = demo_gpus(count)
    stop = threading.Event()

    def move() -> None:
        tick = 0
        while not stop.wait(0.25):
            tick += 1
            for gpu in gpus:
                gpu.utilization = 90 + tick % 10
                gpu.memory_used = (60 + tick % 7) * 1024**3
                gpu.temperature = 60 + tick % 5
                gpu.power_draw_mw = 400_000 + 7_000 * (tick % 13)

    threading.Thread(target=move, daemon=True).start()
    return GpuSampler(show, backend=FakeNvmlBackend(gpus), interval=AppConfig().ui.gpu_poll_seconds), stop


@asynccontextmanager
async def streaming_app(
    history: int = 0, samples: int = 1, gpus: int = 0
) -> AsyncIterator[tuple[VllmTuiApp, Pilot[None], _NoEngine, str]]:
    """The real app, headless, with a prompt sent: yields it, its pilot, the stand-in engine whose
    `emit` feeds the chat screen, and the request id the answer's events must carry. With `gpus`,
    the sidebar shows that many (simulated) busy GPUs."""
    engine = _NoEngine()
    app: VllmTuiApp | None = None

    def show(snapshot: GpuPanelSnapshot) -> None:
        # What the app's own sampler callback does: hand the snapshot to the sidebar's panel.
        panel = app.chat.gpu_panel_ref if app is not None else None
        if panel is not None:
            panel.post_snapshot(snapshot)

    sampler, stop = _busy_gpus(gpus, show) if gpus else (None, threading.Event())
    profile = Profile(name="bench", engine=EngineSettings(model="synthetic"))
    store = Path(f"/tmp/vllm-tui-bench-{time.time_ns()}.sqlite3")
    if history:
        fill_store(store, history)
    app = VllmTuiApp(
        AppConfig(),
        profile,
        Path("/tmp/vllm-tui-bench.log"),
        engine=engine,  # type: ignore[arg-type]
        store_path=store,
        gpu_sampler=sampler,
    )
    async with app.run_test(size=(130, 40)) as pilot:
        while not app.chat.engine_ready:
            await pilot.pause(0.02)
        while len(app.query(AssistantMessage)) < min(history, SHOWN_MESSAGES) // 2:
            await pilot.pause(0.05)
        # As after a person types a prompt: the app settles its heap once the engine is ready.
        await pilot.pause(0.5)
        app.chat.ask("stream something", n=samples)
        await pilot.pause(0.2)
        try:
            yield app, pilot, engine, engine.submitted[-1]  # type: ignore[misc]
        finally:
            stop.set()


class _Arrivals:
    """Arrival times of one view's tokens, matched to the refresh that first showed each."""

    def __init__(self, view: StreamingMarkdown) -> None:
        self.view = view
        self.ends: list[int] = []
        self.arrived: list[float] = []
        self.lags: list[float] = []
        self._length = 0

    def add(self, text: str, now: float) -> None:
        # Called on the feeder thread; the app's loop only reads entries below len(lags).
        self._length += len(text)
        self.ends.append(self._length)
        self.arrived.append(now)

    def collect(self) -> None:
        shown, at = self.view.displayed_length, self.view.displayed_at
        lags, ends, arrived = self.lags, self.ends, self.arrived
        while len(lags) < len(arrived) and ends[len(lags)] <= shown:
            lags.append(max(0.0, at - arrived[len(lags)]))


async def run(
    rate: float, seconds: float, thinking_share: float, history: int = 0, samples: int = 1, gpus: int = 0
) -> dict[str, float]:
    async with streaming_app(history, samples, gpus) as (app, pilot, engine, rid):
        widgets = sum(1 for _ in app.screen.walk_children())
        shown = app.chat.turn[0]
        thinking, answer = _Arrivals(shown.thinking_view), _Arrivals(shown.answer_view)
        tokens = prose_tokens(int(rate * seconds) + 10)
        per_sample = len(tokens) // samples
        n_think = int(per_sample * thinking_share)
        done = threading.Event()

        def feed() -> None:
            # One engine step every samples/rate seconds, each giving every sample one token, as vLLM
            # batches the n samples of a request.
            start = time.perf_counter()
            for k in range(per_sample):
                delay = start + k * samples / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                event = ReasoningDelta if k < n_think else TextDelta
                for sample in range(samples):
                    tok = tokens[k * samples + sample]
                    if sample == 0:
                        # Stamped before the emit: the lag includes the bridge's hand-over.
                        (thinking if k < n_think else answer).add(tok, time.monotonic())
                    engine.emit(event(rid, tok, sample, 1))
            for sample in range(samples):
                engine.emit(AnswerFinished(rid, "stop", AnswerStats(completion_tokens=per_sample), sample))
            done.set()

        cpu0, wall0 = time.process_time(), time.perf_counter()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        while not done.is_set():
            # Each refresh stamps its own time (displayed_at); polling only has to come round
            # before the next refresh of the same view (frames are >= 25 ms apart).
            await asyncio.sleep(0.005)
            if not answer.lags:
                # Once the answer shows, the thinking is folded: what it had not shown is never shown.
                thinking.collect()
            answer.collect()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await pilot.pause(0.3)
        answer.collect()
    # The feeder thread's own sleeps cost nothing; its emits are a few µs each.
    lags = sorted(1000 * lag for lag in thinking.lags + answer.lags)
    return {
        "rate": rate,
        "samples": samples,
        "gpus": gpus,
        "history": history,
        "widgets": widgets,
        "seconds": round(wall, 2),
        "app_cpu_percent": round(100 * cpu / wall, 1),
        "lag_p50_ms": round(statistics.median(lags), 1),
        "lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1], 1),
        "lag_max_ms": round(lags[-1], 1),
        "tokens_timed": len(lags),
        "thinking_never_shown": len(thinking.arrived) - len(thinking.lags),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=350.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--thinking-share", type=float, default=0.5)
    ap.add_argument("--samples", type=int, default=1, help="parallel samples sharing --rate")
    ap.add_argument("--gpus", type=int, default=0, help="simulated busy GPUs in the sidebar (NVML stand-in)")
    ap.add_argument("--history", type=int, default=0, help="messages in the chat opened before streaming")
    ap.add_argument(
        "--shares-cores",
        action="store_true",
        help="as with a local engine on vLLM's CPU backend, which shares the app's cores: frames drawn "
        "as tokens arrive (StreamingMarkdown.frames_on_arrival); without it, as with a GPU engine",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    _NoEngine.shares_cores = args.shares_cores
    result = asyncio.run(
        run(args.rate, args.seconds, args.thinking_share, args.history, args.samples, args.gpus)
    )
    report({**result, "frames": "on arrival" if args.shares_cores else "timer"}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
