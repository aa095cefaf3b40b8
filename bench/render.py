"""Render benchmark: how many tokens/s the answer view absorbs, and how late tokens reach the screen.

    python -m bench.render [--tokens N] [--naive-code-tokens N] [--steady-seconds S] [--json PATH]

Each run feeds synthetic R1-style fragments (bench/synthetic.py) into the real widget inside a headless
`App.run_test()` (in the chat screen's log, `ChatLog`, anchored to the bottom). "Full speed" feeds one
fragment per event-loop turn (`append(); await asyncio.sleep(0)`, the same pacing `MarkdownStream.write`
imposes on the naive line), so widget work shares the loop with the feed exactly as in the app. The
overall rate counts until the last fragment is on screen: for `StreamingMarkdown`, until
`displayed_length` (updated after a screen refresh) covers the whole text; for the naive
`Markdown.get_stream()` line, until its stream has stopped (last append done) and the app went idle
after a refresh. The first/last tenth rates time the feeding of each tenth of the fragments: widget work runs
on the same event loop, so a widget that gets slower as the answer grows slows the feed; the backlog
column is the wait, after the last fragment was fed, until it was on screen (included in the overall
rate, not in the tenths). Each scenario runs in its own interpreter.
The headless driver skips only the final write of escape codes to the terminal; layout and rendering
of every changed line still run.

"Cost per tenth" feeds the same 30,000-token answers at 5,000 tok/s, so each tenth spans ~25 frames at
the view's steady frame rate, and reports the process CPU time per token over each tenth, the frames
that drew it included: a view whose frames get dearer as the answer grows shows it here. (At 20,000
tok/s the view spaces its frames by their cost, and the number of frames in a tenth went from 3 in
the first tenths to 8-11 in the later ones: the ratio then measured that cadence, not the cost.)
Each cost scenario runs `--cost-runs` times (3), each in its own interpreter; the summary ratio is
over the summed CPU time of all runs' first and last tenths. `cost-prose-matched` feeds prose whose
ten tenths share one layout with different words (`matched_prose_tokens`): in `cost-prose` each tenth
has its own mix of tables, lists and paragraphs, which moves its cost per token by itself.

"Steady" feeds 1,000 tok/s for a few seconds and reports the lag from a fragment's append to the end
of the screen refresh that shows it (p50/p99), and process CPU time over wall time; each steady
scenario runs `--steady-runs` times (3), each in its own interpreter, and every run is listed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from textual import constants as textual_constants
from textual.app import App, ComposeResult
from textual.widgets import Markdown

import vllm_tui
from bench.synthetic import code_tokens, matched_prose_tokens, prose_tokens
from vllm_tui.heap import configure, settle
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.markdown_stream import StreamingMarkdown, warm_up

SIZE = (100, 40)


@dataclass
class FullSpeed:
    name: str
    widget: str
    tokens: int
    chars: int
    seconds: float
    tok_per_s: float
    first_tenth_tok_per_s: float
    last_tenth_tok_per_s: float
    last_over_first: float
    backlog_ms: float
    finish_ms: float | None = None


@dataclass
class Steady:
    name: str
    rate: int
    tokens: int
    seconds: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_percent: float


@dataclass
class TenthCost:
    name: str
    rate: int
    tokens: int
    seconds: float
    cpu_us_per_token: list[float]
    """Process CPU time per token over each tenth of the answer, the frames that drew it included."""
    frames: list[int]
    """Screen refreshes in each tenth."""
    cpu_ms_per_frame: list[float]
    """Process CPU time per screen refresh over each tenth."""
    last_over_first: float
    """Speed of the last tenth over the first's: first tenth's cost per token / last tenth's."""


class _BenchApp(App[None]):
    """The answer in the app's own log (`ChatLog`, styled by the chat screen's style sheet as `#log`),
    anchored to its end as while an answer streams."""

    CSS_PATH = Path(vllm_tui.__file__).parent / "screens" / "chat.tcss"

    def __init__(self, make: Callable[[], object]) -> None:
        super().__init__()
        self._make = make

    def compose(self) -> ComposeResult:
        with ChatLog(id="log"):
            yield self._make()  # type: ignore[misc]

    def on_mount(self) -> None:
        self.query_one(ChatLog).anchor()


def _as_when_an_answer_starts() -> None:
    """The app's state when an answer starts: the collector tuned at start, lexers built once the engine
    was ready, heap settled."""
    configure()
    warm_up()
    settle()


def _tenth_rates(tokens: int, marks: list[float], start: float) -> tuple[float, float]:
    tenth = tokens // 10
    return tenth / (marks[0] - start), tenth / (marks[9] - marks[8])


async def _full_speed_streaming(name: str, tokens: list[str], finish: bool) -> FullSpeed:
    app = _BenchApp(StreamingMarkdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _as_when_an_answer_starts()
        widget = app.query_one(StreamingMarkdown)
        tenth = len(tokens) // 10
        total = sum(map(len, tokens))
        marks: list[float] = []
        start = time.perf_counter()
        for i, token in enumerate(tokens, 1):
            widget.append(token)
            await asyncio.sleep(0)
            if i % tenth == 0:
                marks.append(time.perf_counter())
        fed = marks[-1]
        while widget.displayed_length < total:
            await asyncio.sleep(0.0005)
        end = time.perf_counter()
        finish_ms = None
        if finish:
            before = time.perf_counter()
            frames = widget.frames_shown
            widget.finish()
            while widget.frames_shown == frames:
                await asyncio.sleep(0.0005)
            finish_ms = (time.perf_counter() - before) * 1000
    first, last = _tenth_rates(len(tokens), marks, start)
    return FullSpeed(
        name,
        "StreamingMarkdown",
        len(tokens),
        total,
        end - start,
        len(tokens) / (end - start),
        first,
        last,
        last / first,
        (end - fed) * 1000,
        finish_ms,
    )


async def _full_speed_naive(name: str, tokens: list[str]) -> FullSpeed:
    app = _BenchApp(Markdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _as_when_an_answer_starts()
        widget = app.query_one(Markdown)
        tenth = len(tokens) // 10
        total = sum(map(len, tokens))
        marks: list[float] = []
        stream = Markdown.get_stream(widget)
        start = time.perf_counter()
        for i, token in enumerate(tokens, 1):
            await stream.write(token)
            if i % tenth == 0:
                marks.append(time.perf_counter())
        fed = marks[-1]
        await stream.stop()
        await pilot.pause()
        end = time.perf_counter()
    first, last = _tenth_rates(len(tokens), marks, start)
    return FullSpeed(
        name,
        "Markdown.get_stream",
        len(tokens),
        total,
        end - start,
        len(tokens) / (end - start),
        first,
        last,
        last / first,
        (end - fed) * 1000,
    )


async def _steady(name: str, tokens: list[str], rate: int) -> Steady:
    app = _BenchApp(StreamingMarkdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _as_when_an_answer_starts()
        await asyncio.sleep(0.2)
        widget = app.query_one(StreamingMarkdown)
        ends: list[int] = []
        arrived: list[float] = []
        shown: list[float] = []
        total = 0
        next_shown = 0

        def collect(now: float) -> None:
            nonlocal next_shown
            length = widget.displayed_length
            while next_shown < len(ends) and ends[next_shown] <= length:
                shown.append(now)
                next_shown += 1

        cpu0 = time.process_time()
        start = time.perf_counter()
        sent = 0
        while sent < len(tokens):
            now = time.perf_counter()
            collect(now)
            due = min(len(tokens), int((now - start) * rate) + 1)
            while sent < due:
                total += len(tokens[sent])
                widget.append(tokens[sent])
                ends.append(total)
                arrived.append(now)
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        while next_shown < len(ends):
            await asyncio.sleep(0.0005)
            collect(time.perf_counter())
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    lags = sorted((s - a) * 1000 for s, a in zip(shown, arrived, strict=True))
    return Steady(
        name,
        rate,
        len(tokens),
        wall,
        statistics.median(lags),
        lags[int(len(lags) * 0.99) - 1],
        lags[-1],
        100 * cpu / wall,
    )


async def _tenth_cost(name: str, tokens: list[str], rate: int) -> TenthCost:
    """The per-token cost of each tenth of the answer, fed at `rate` so that each tenth spans several
    frames (at full speed a tenth is fed in ~10 ms, less than one frame, and whether a frame falls into
    it decides its rate)."""
    app = _BenchApp(StreamingMarkdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _as_when_an_answer_starts()
        await asyncio.sleep(0.2)
        widget = app.query_one(StreamingMarkdown)
        tenth = len(tokens) // 10
        total = sum(map(len, tokens))
        cpu = [time.process_time()]
        frames = [widget.frames_shown]
        start = time.perf_counter()
        sent = 0
        while sent < len(tokens):
            due = min(len(tokens), int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                widget.append(tokens[sent])
                sent += 1
                if sent % tenth == 0 or sent == len(tokens):
                    cpu.append(time.process_time())
                    frames.append(widget.frames_shown)
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        # Each tenth is timed from its first fragment to its last, with the frames that fell in
        # between (the same for every tenth); the final frame after the last one is not in any.
        while widget.displayed_length < total:
            await asyncio.sleep(0.0005)
        wall = time.perf_counter() - start
        cpu, frames = cpu[:11], frames[:11]
    sizes = [tenth] * 9 + [len(tokens) - 9 * tenth]
    cost = [1e6 * (cpu[k + 1] - cpu[k]) / sizes[k] for k in range(10)]
    return TenthCost(
        name,
        rate,
        len(tokens),
        wall,
        [round(c, 2) for c in cost],
        [frames[k + 1] - frames[k] for k in range(10)],
        [round(1e3 * (cpu[k + 1] - cpu[k]) / max(1, frames[k + 1] - frames[k]), 2) for k in range(10)],
        cost[0] / cost[-1],
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _print_table(
    full: list[FullSpeed], steady: list[Steady], naive_of: dict[str, str], costs: list[TenthCost]
) -> None:
    by_name = {row.name: row for row in full}
    header = (
        f"{'scenario':<24} {'widget':<20} {'tokens':>7} {'tok/s':>8} {'first 10%':>10} {'last 10%':>9}"
        f" {'last/first':>10} {'backlog ms':>10} {'vs naive':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in full:
        ratio = ""
        if row.name in naive_of:
            ratio = f"{row.tok_per_s / by_name[naive_of[row.name]].tok_per_s:.1f}x"
        lines.append(
            f"{row.name:<24} {row.widget:<20} {row.tokens:>7} {row.tok_per_s:>8.0f}"
            f" {row.first_tenth_tok_per_s:>10.0f} {row.last_tenth_tok_per_s:>9.0f}"
            f" {row.last_over_first:>10.2f} {row.backlog_ms:>10.0f} {ratio:>9}"
        )
    lines.append("")
    for row in full:
        if row.finish_ms is not None:
            lines.append(f"finish() after {row.name}: {row.finish_ms:.0f} ms until rendered")
    lines.append("")
    header = (
        f"{'steady':<24} {'tok/s':>6} {'seconds':>8} {'lag p50 ms':>11} {'lag p99 ms':>11}"
        f" {'lag max ms':>11} {'CPU %':>6}"
    )
    lines += [header, "-" * len(header)]
    for s in steady:
        lines.append(
            f"{s.name:<24} {s.rate:>6} {s.seconds:>8.1f} {s.lag_p50_ms:>11.1f} {s.lag_p99_ms:>11.1f}"
            f" {s.lag_max_ms:>11.1f} {s.cpu_percent:>6.1f}"
        )
    if costs:
        lines.append("")
        header = (
            f"{'cost per tenth':<24} {'tok/s':>6} {'first µs/tok':>13} {'last µs/tok':>12}"
            f" {'last/first speed':>17} {'frames/tenth':>13} {'ms/frame first→last':>20}"
        )
        lines += [header, "-" * len(header)]
        for c in costs:
            per_frame = f"{c.cpu_ms_per_frame[0]:.1f}→{c.cpu_ms_per_frame[-1]:.1f}"
            lines.append(
                f"{c.name:<24} {c.rate:>6} {c.cpu_us_per_token[0]:>13.1f} {c.cpu_us_per_token[-1]:>12.1f}"
                f" {c.last_over_first:>17.2f} {min(c.frames)}-{max(c.frames):<11} {per_frame:>20}"
            )
        medians = cost_median_summary(costs)
        for name, ratio in cost_summary(costs).items():
            lines.append(
                f"{name}: all runs together, last tenth at {ratio:.2f} of the first tenth's speed"
                f" (median of the runs' first tenths over their last tenths': {medians[name]:.2f})"
            )
    sys.stdout.write("\n".join(lines) + "\n")


def _tenth_ratio(costs: list[TenthCost], combine: Callable[[list[float]], float]) -> dict[str, float]:
    """Per scenario, its runs' first tenths combined over their last tenths combined."""
    first: dict[str, list[float]] = {}
    last: dict[str, list[float]] = {}
    for c in costs:
        first.setdefault(c.name, []).append(c.cpu_us_per_token[0])
        last.setdefault(c.name, []).append(c.cpu_us_per_token[-1])
    return {name: combine(first[name]) / combine(last[name]) for name in first}


def cost_summary(costs: list[TenthCost]) -> dict[str, float]:
    """Per scenario, the first tenth's summed cost over the last tenth's, across all its runs."""
    return _tenth_ratio(costs, sum)


def cost_median_summary(costs: list[TenthCost]) -> dict[str, float]:
    """Per scenario, the median first tenth's cost over the median last tenth's: one run whose tenth
    met a busy spell of the shared machine (+40% in one tenth is seen here) moves a sum, not this."""
    return _tenth_ratio(costs, statistics.median)


SCENARIOS = (
    "prose",
    "code-fence",
    "code-fence-short",
    "naive-prose",
    "naive-code-fence-short",
    "steady-prose",
    "steady-code-fence",
    "cost-prose",
    "cost-prose-matched",
    "cost-code-fence",
)


async def _scenario(name: str, args: argparse.Namespace) -> FullSpeed | Steady | TenthCost:
    n, short, count = args.tokens, args.naive_code_tokens, int(args.rate * args.steady_seconds)
    if name == "prose":
        return await _full_speed_streaming(name, prose_tokens(n), finish=True)
    if name == "code-fence":
        return await _full_speed_streaming(name, code_tokens(n), finish=True)
    if name == "code-fence-short":
        return await _full_speed_streaming(name, code_tokens(short), finish=False)
    if name == "naive-prose":
        return await _full_speed_naive(name, prose_tokens(n))
    if name == "naive-code-fence-short":
        return await _full_speed_naive(name, code_tokens(short))
    if name == "cost-prose":
        return await _tenth_cost(name, prose_tokens(n), args.cost_rate)
    if name == "cost-prose-matched":
        return await _tenth_cost(name, matched_prose_tokens(n), args.cost_rate)
    if name == "cost-code-fence":
        return await _tenth_cost(name, code_tokens(n), args.cost_rate)
    if name == "steady-prose":
        return await _steady(name, prose_tokens(count, seed=3), args.rate)
    return await _steady(name, code_tokens(count, seed=4), args.rate)


def _run_isolated(name: str, argv: list[str]) -> FullSpeed | Steady | TenthCost:
    # Each scenario gets a fresh interpreter: run in one process, the later ones inherit the earlier
    # apps' leftovers and their steady-lag tails grew several-fold (measured), which says nothing about
    # the widget.
    env = dict(os.environ)
    if name.startswith("naive"):
        # The reference line runs as Textual ships: at the app's 240 Hz paint cap (vllm_tui/__init__.py)
        # Markdown.get_stream() repaints its whole growing widget up to 4 times as often (measured:
        # 982 -> 257 tok/s on prose), which would flatter the ratio.
        env["TEXTUAL_FPS"] = "60"
    out = subprocess.run(
        [sys.executable, "-m", "bench.render", *argv, "--scenario", name],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    row = json.loads(out.strip().splitlines()[-1])
    if name.startswith("cost"):
        return TenthCost(**row)
    return Steady(**row) if name.startswith("steady") else FullSpeed(**row)


def _main(args: argparse.Namespace, argv: list[str]) -> dict[str, object]:
    names = [
        name
        for name in SCENARIOS
        if not (args.skip_naive and name.startswith("naive"))
        and not (args.steady_seconds <= 0 and name.startswith("steady"))
        and (not args.only or name in args.only)
    ]
    runs = {"steady": args.steady_runs, "cost": args.cost_runs}
    # Round robin: the scenarios compared with each other (prose and matched prose, say) take turns,
    # so a slow spell of the shared machine falls on them alike.
    rows = [
        _run_isolated(name, argv)
        for turn in range(max(runs.values()))
        for name in names
        if turn < runs.get(name.split("-")[0], 1)
    ]
    full = [row for row in rows if isinstance(row, FullSpeed)]
    steady = [row for row in rows if isinstance(row, Steady)]
    costs = [row for row in rows if isinstance(row, TenthCost)]
    naive_of = {}
    if not args.skip_naive:
        naive_of = {"prose": "naive-prose", "code-fence-short": "naive-code-fence-short"}
    _print_table(full, steady, naive_of, costs)
    return {
        "machine": {
            "python": platform.python_version(),
            "textual": _version("textual"),
            "textual_fps": textual_constants.MAX_FPS,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "size": list(SIZE),
        },
        "full_speed": [asdict(row) for row in full],
        "steady": [asdict(row) for row in steady],
        "cost_per_tenth": [asdict(row) for row in costs],
        "cost_per_tenth_summary": cost_summary(costs),
        "cost_per_tenth_median_summary": cost_median_summary(costs),
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=30_000, help="tokens per full-speed answer")
    parser.add_argument(
        "--naive-code-tokens",
        type=int,
        default=2_000,
        help="tokens for the naive code-fence line (it slows to a crawl on longer fences)",
    )
    parser.add_argument("--steady-seconds", type=float, default=10.0, help="length of each steady run")
    parser.add_argument("--rate", type=int, default=1_000, help="tokens/s in the steady runs")
    parser.add_argument(
        "--steady-runs",
        type=int,
        default=3,
        help="runs of each steady scenario (its p99 swings by 10-20 ms between runs on a shared machine)",
    )
    parser.add_argument(
        "--cost-rate",
        type=int,
        default=5_000,
        help="tokens/s of the per-tenth cost runs (a tenth spans ~25 frames at the view's frame rate)",
    )
    parser.add_argument("--cost-runs", type=int, default=3, help="runs of each per-tenth cost scenario")
    parser.add_argument("--skip-naive", action="store_true", help="skip the Markdown.get_stream() lines")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="SCENARIO", help="run only these")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario is not None:
        row = asyncio.run(_scenario(args.scenario, args))
        sys.stdout.write(json.dumps(asdict(row)) + "\n")
        return
    child_argv = [
        f"--tokens={args.tokens}",
        f"--naive-code-tokens={args.naive_code_tokens}",
        f"--steady-seconds={args.steady_seconds}",
        f"--rate={args.rate}",
        f"--cost-rate={args.cost_rate}",
        f"--cost-runs={args.cost_runs}",
    ]
    results = _main(args, child_argv)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
