"""Delivered vs raw: does the app keep up with the engine?

One engine is loaded once. The same request (fixed token count, `ignore_eos`) is streamed by a bare
loop on vLLM's `AsyncLLM` (raw), then typed into the real app running headless with every widget
(delivered: first token on screen → last token on screen), then raw again. The figure is
delivered / mean(raw), measured in one run. Also reported, to tell where a shortfall comes from: tokens
per engine output (above 1 when the frontend fell behind and vLLM merged outputs), the frontend
process's CPU per token, and the UI thread's CPU share.

    python -m bench.delivered --model PATH [--tp 2] [--tokens 512] [--json out.json] [--svg shot.svg]
        [--app-runs default,default,nogpu,switch5]   # several timed app runs, raw runs between

delivered_over_raw counts from the UI receiving the first token to the last token on screen (the
final frame's lag counts against the app); display_over_raw from the first token on screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.local_engine import bench_dir, load_engine
from bench.report import report
from vllm_tui.config import AppConfig, EngineSettings, Profile, SamplingSettings

PROMPT = "Write a long story about a lighthouse keeper."


def run_raw(engine: Any, tokens: int) -> dict[str, float]:
    """The same prompt streamed by a bare loop on the engine's `AsyncLLM`, in its frontend process."""
    return dict(engine.measure_raw(PROMPT, tokens))


def _frontend_cpu(engine: Any) -> float:
    """CPU seconds the frontend process (AsyncLLM, detokenising, the reasoning split) has used."""
    import psutil

    times = psutil.Process(engine.frontend_pid).cpu_times()
    return float(times.user + times.system)


async def run_app(
    engine: Any,
    tokens: int,
    store: Path,
    log_path: Path,
    svg: Path | None,
    gpu_sampler: Any = None,
    frames_on_arrival: bool = True,
) -> dict[str, float]:
    """Type the prompt into the real app (headless) and time the answer until its last token is on
    screen. With `svg`, a screenshot is taken mid-answer instead (that run is not timed).
    `frames_on_arrival=False` draws frames at the frame timer's moment even where the engine shares
    the app's cores (as the app did before round sixteen)."""
    from vllm_tui.app import VllmTuiApp
    from vllm_tui.engine.events import ReasoningDelta, TextDelta
    from vllm_tui.widgets.markdown_stream import StreamingMarkdown
    from vllm_tui.widgets.message import AssistantMessage
    from vllm_tui.widgets.prompt_input import PromptInput

    cfg = AppConfig()
    profile = Profile(name="bench", engine=engine.settings)
    profile.sampling = SamplingSettings(max_tokens=tokens, ignore_eos=True)
    app = VllmTuiApp(cfg, profile, log_path, engine=engine, store_path=store, gpu_sampler=gpu_sampler)
    deltas = [0, 0]  # events, tokens: the engine merges outputs the frontend has not picked up yet
    received: dict[str, float] = {}  # when this process's reader thread got the first / last token
    async with app.run_test(size=(130, 40)) as pilot:
        while not app.chat.engine_ready:
            await pilot.pause(0.05)
        if not frames_on_arrival:
            StreamingMarkdown.frames_on_arrival = False
        await pilot.pause(1.5)  # a GPU sample or two for the sidebar
        emit = engine._emit

        def counting(event: Any) -> None:
            if isinstance(event, (TextDelta, ReasoningDelta)) and event.tokens:
                received.setdefault("first", time.monotonic())
                received["last"] = time.monotonic()
                deltas[0] += 1
                deltas[1] += event.tokens
            emit(event)

        engine._emit = counting
        engine_cpu0, ui_cpu0 = _frontend_cpu(engine), time.thread_time()
        prompt = app.query_one(PromptInput)
        prompt.insert(PROMPT)
        # What enter does. (pilot.press waits for every message queue to go quiet, which during a
        # stream can take a second, and would hold this loop back from noting the first token shown.)
        prompt.action_submit()
        while not app.query(AssistantMessage):
            await asyncio.sleep(0.002)
        msg = app.query_one(AssistantMessage)
        views = [msg._thinking, msg._answer]  # built with the message, before it composes

        def shown() -> int:
            return sum(v.displayed_length for v in views)

        # Until the first token is on screen, poll closely; then lightly (the benchmark must not add
        # work to the UI thread while it streams).
        while not shown() and msg.streaming:
            await asyncio.sleep(0.001)
        first_shown = min((v.displayed_at for v in views if v.displayed_length), default=time.monotonic())
        while msg.streaming:
            if svg is not None and msg._tokens >= tokens // 2:
                app.save_screenshot(filename=svg.name, path=str(svg.parent))
                svg = None
            await asyncio.sleep(0.02)
        while shown() < sum(len(v.text) for v in views):
            await asyncio.sleep(0.001)
        if svg is not None:  # the answer outran the polling: show it finished
            app.save_screenshot(filename=svg.name, path=str(svg.parent))
        # From the UI receiving the first token to the last token on screen (the end of the screen
        # refresh that showed it, as the widget noted it; not this loop's polling): the lag of the
        # final frame counts against the app.
        last = max(v.displayed_at for v in views)
        ui_cpu = time.thread_time() - ui_cpu0
        engine._emit = emit
        engine_cpu = _frontend_cpu(engine) - engine_cpu0
        first = msg._first_token_at or last
        stats = msg.stats
        assert stats is not None
        result = {
            "tokens": stats.completion_tokens,
            "ttft_s": stats.time_to_first_token or 0.0,
            "engine_tok_s": stats.tokens_per_second or 0.0,
            "tok_s": (stats.completion_tokens - 1) / (last - first),
            # First token on screen → last token on screen: the rate the reader sees.
            "display_tok_s": (stats.completion_tokens - 1) / (last - first_shown),
            "first_token_on_screen_ms": 1000 * (first_shown - first),
            # The app process's reader thread got the first token → the UI handled it; and the last
            # token received → on screen (the final frame, with everything the end of an answer does).
            "first_token_to_ui_ms": 1000 * (first - received.get("first", first)),
            "last_token_on_screen_ms": 1000 * (last - received.get("last", last)),
            "tokens_per_output": deltas[1] / max(1, deltas[0]),
            "frontend_cpu_ms_per_token": 1000 * engine_cpu / max(1, stats.completion_tokens),
            "ui_thread_cpu_percent": 100 * ui_cpu / (last - first) if last > first else 0.0,
        }
        await pilot.pause(0.1)
    return result


class _TimedNvml:
    """The app's NVML backend with each call timed (what a GPU-panel tick costs the driver)."""

    def __init__(self) -> None:
        from vllm_tui.gpu import PynvmlBackend

        self._backend = PynvmlBackend()
        self.times: dict[str, list[float]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._backend, name)

        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.times.setdefault(name, []).append(time.perf_counter() - started)

        return timed

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "calls": len(t),
                "mean_ms": round(1000 * sum(t) / len(t), 3),
                "max_ms": round(1000 * max(t), 3),
            }
            for name, t in sorted(self.times.items())
        }


def _raw_with_gpu_panel(engine: Any, tokens: int, interval: float) -> dict[str, Any]:
    """A raw run while the app's GPU sampler polls NVML (as the sidebar does), no UI."""
    from vllm_tui.gpu import EngineDevices, GpuSampler

    backend = _TimedNvml()
    sampler = GpuSampler(
        None,
        backend=backend,  # type: ignore[arg-type]
        interval=interval,
        engine_root_pid=os.getpid(),
        engine_devices=EngineDevices.from_env(limit=engine.settings.tensor_parallel_size),
    )
    sampler.start()
    time.sleep(2.5)  # NVML started and sampling, as in the app long before an answer
    try:
        result: dict[str, Any] = dict(run_raw(engine, tokens))
    finally:
        sampler.stop(timeout=2.0)
    result["nvml"] = backend.summary()
    return result


def _to_idle_priority() -> None:
    """Every thread of this process (the headless app and the engine's reader) to SCHED_IDLE, so they
    run only on CPU time the engine's processes leave. An unprivileged process cannot leave
    SCHED_IDLE again, so `idle` runs come last."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
        except ProcessLookupError:
            pass  # a thread that ended meanwhile


def _app_run(engine: Any, kind: str, tokens: int, store: Path, log_path: Path) -> dict[str, float]:
    """One timed app run. `default`: as shipped. `switch5`: Python's default 5 ms GIL switch interval
    (the app sets 1 ms). `timer`: frames drawn at the frame timer's moment, not on a token's arrival
    (the app before round sixteen; StreamingMarkdown.frames_on_arrival). `nogpu`: the GPU panel fed by a
    backend with no GPUs (no NVML calls).
    `idle`: as shipped, with this process's threads at SCHED_IDLE (an experiment, not the app's
    behaviour: see docs/benchmarks.md §2)."""
    gpu_sampler = None
    if kind == "nogpu":
        from vllm_tui.gpu import FakeNvmlBackend, GpuSampler

        gpu_sampler = GpuSampler(None, backend=FakeNvmlBackend([]))
    elif kind == "idle":
        _to_idle_priority()
    elif kind not in ("default", "switch5", "timer"):
        raise SystemExit(f"unknown app run: {kind}")
    interval = sys.getswitchinterval()
    if kind == "switch5":
        sys.setswitchinterval(0.005)
    try:
        return asyncio.run(run_app(engine, tokens, store, log_path, None, gpu_sampler, kind != "timer"))
    finally:
        sys.setswitchinterval(interval)


def _summary(
    kind: str, run: dict[str, float], before: dict[str, float], after: dict[str, float], raw_mean: float
) -> dict[str, Any]:
    return {
        "kind": kind,
        "raw_tok_s": [round(before["tok_s"], 1), round(after["tok_s"], 1)],
        "app_tok_s": round(run["tok_s"], 1),
        "app_engine_tok_s": round(run["engine_tok_s"], 1),
        "delivered_over_raw": round(run["tok_s"] / raw_mean, 3),
        "app_display_tok_s": round(run["display_tok_s"], 1),
        "display_over_raw": round(run["display_tok_s"] / raw_mean, 3),
        "app_ttft_ms": round(run["ttft_s"] * 1000, 1),
        "first_token_on_screen_ms": round(run["first_token_on_screen_ms"], 1),
        "first_token_to_ui_ms": round(run["first_token_to_ui_ms"], 1),
        "last_token_on_screen_ms": round(run["last_token_on_screen_ms"], 1),
        "app_tokens_per_output": round(run["tokens_per_output"], 2),
        "app_frontend_cpu_ms_per_token": round(run["frontend_cpu_ms_per_token"], 3),
        "app_ui_thread_cpu_percent": round(run["ui_thread_cpu_percent"], 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--enforce-eager", action="store_true")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--svg", type=Path, help="screenshot of the app mid-answer (an extra, untimed run)")
    ap.add_argument(
        "--app-runs",
        default="default",
        help="timed runs in order, raw runs between: default, switch5 (5 ms GIL switch interval), "
        "timer (frames at the frame timer's moment, not on a token's arrival), "
        "nogpu (no NVML polling), rawgpu / rawgpu10 (a bare loop while NVML is polled every 1 / 0.1 s), "
        "idle (this process's threads at SCHED_IDLE; last)",
    )
    ap.add_argument(
        "--cores",
        choices=("app", "vllm"),
        default="app",
        help="app: as shipped (on vLLM's CPU backend the app and vLLM's other processes keep off the "
        "workers' cores, vllm_tui.engine.cpu_cores); vllm: only what vLLM binds itself (the app before "
        "round fifteen), for a comparison",
    )
    args = ap.parse_args()
    kinds = args.app_runs.split(",")
    if "idle" in kinds and any(k != "idle" for k in kinds[kinds.index("idle") :]):
        raise SystemExit("--app-runs: idle runs come last (SCHED_IDLE cannot be undone)")

    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    work, log_path = bench_dir("vllm-tui-bench-")
    settings = EngineSettings(
        model=args.model,
        tensor_parallel_size=args.tp,
        max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    if args.cores == "vllm":
        from vllm_tui.engine import cpu_cores

        cpu_cores.keep_off_worker_cores = lambda pids: frozenset()  # type: ignore[assignment]
    engine, ready, load_s = load_engine(settings, log_path)
    runs: list[dict[str, Any]] = []
    try:
        run_raw(engine, 32)  # warm-up
        raw_before = run_raw(engine, args.tokens)
        raw1 = raw_before
        for index, kind in enumerate(kinds):
            if kind.startswith("rawgpu"):
                # rawgpu / rawgpu10: a bare loop while NVML is polled every 1 s / 0.1 s.
                interval = 0.1 if kind == "rawgpu10" else 1.0
                polled = _raw_with_gpu_panel(engine, args.tokens, interval)
                raw_after = run_raw(engine, args.tokens)
                raw_mean = (raw_before["tok_s"] + raw_after["tok_s"]) / 2
                runs.append(
                    {
                        "kind": kind,
                        "raw_tok_s": [round(raw_before["tok_s"], 1), round(raw_after["tok_s"], 1)],
                        "polled_tok_s": round(polled["tok_s"], 1),
                        "polled_over_raw": round(polled["tok_s"] / raw_mean, 3),
                        "nvml": polled["nvml"],
                    }
                )
                raw_before = raw_after
                continue
            app_run = _app_run(engine, kind, args.tokens, work / f"chats-{index}.sqlite3", log_path)
            raw_after = run_raw(engine, args.tokens)
            raw_mean = (raw_before["tok_s"] + raw_after["tok_s"]) / 2
            runs.append(_summary(kind, app_run, raw_before, raw_after, raw_mean))
            raw_before = raw_after
        if args.svg is not None:
            # Not timed: the screenshot itself holds the UI thread for a while.
            asyncio.run(run_app(engine, args.tokens, work / "chats-shot.sqlite3", log_path, args.svg))
    finally:
        import psutil

        # This process hosts the app (headless) and the engine's reader thread, not vLLM: its RSS
        # with the engine loaded is the app's.
        app_rss_mb = psutil.Process().memory_info().rss / 2**20
        frontend_rss_mb = psutil.Process(engine.frontend_pid).memory_info().rss / 2**20
        t0 = time.perf_counter()
        pids = engine.pids
        engine.shutdown()
        shutdown_s = time.perf_counter() - t0
    left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    first = next((run for run in runs if "delivered_over_raw" in run), {})
    result = {
        "model": args.model,
        "tensor_parallel_size": args.tp,
        "tokens": args.tokens,
        "enforce_eager": args.enforce_eager,
        "load_s": round(load_s, 1),
        "kv_cache_tokens": ready.kv_cache_tokens,
        "cores": args.cores,
        "free_cores": sorted(engine.free_cores),
        "raw_ttft_ms": round(raw1["ttft_s"] * 1000, 1),
        "raw_tokens_per_output": round(raw1["tokens_per_output"], 2),
        "raw_frontend_cpu_ms_per_token": round(raw1["frontend_cpu_ms_per_token"], 3),
        # The first app run, as shipped (the headline figure), then every run in order.
        "delivered_over_raw": first.get("delivered_over_raw"),
        "display_over_raw": first.get("display_over_raw"),
        "app_runs": runs,
        "app_rss_mb": round(app_rss_mb),
        "frontend_rss_mb": round(frontend_rss_mb),
        "shutdown_s": round(shutdown_s, 1),
        "engine_processes": len(pids),
        "engine_processes_left": len(left),
    }
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
