"""EngineCard fed with the engine's events: the state transitions and what the card then shows."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.widgets import Label

from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStats,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.widgets.engine_card import (
    FAILURE_LINES,
    EngineCard,
    EngineState,
    EngineStatus,
    display_model,
    engine_status_after,
    stopping,
)
from vllm_tui.widgets.gpu_card import UsageBar

MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


class CardApp(App[None]):
    CSS = "EngineCard { width: 30; }"

    def compose(self) -> ComposeResult:
        yield EngineCard(MODEL, tensor_parallel_size=2)


def label(app: App[None], widget_id: str) -> str:
    return str(app.query_one(f"#{widget_id}", Label).content)


def test_status_follows_requests_and_metrics() -> None:
    status = EngineStatus()
    for event in (LoadProgress("weights", 0.5), EngineReady("m", 4096, 2.0, tensor_parallel_size=4)):
        status = engine_status_after(status, event)
    assert status.state is EngineState.READY and status.tensor_parallel_size == 4
    status = engine_status_after(status, ReasoningDelta("a", "Okay"))
    assert status.state is EngineState.GENERATING and status.in_flight == {"a"}
    assert engine_status_after(status, TextDelta("a", "Hi")) is status
    # Metrics lag behind: running=0 while a request streams still means generating.
    status = engine_status_after(status, EngineMetrics(kv_cache_usage=0.1, running=0, waiting=2))
    assert status.state is EngineState.GENERATING and status.waiting == 2
    status = engine_status_after(
        status, AnswerFinished("a", "stop", AnswerStats(completion_tokens=11, decode_seconds=0.5))
    )
    assert status.state is EngineState.READY and status.last_tokens_per_s == 20.0
    status = engine_status_after(status, EngineMetrics(kv_cache_usage=0.3, running=1))
    assert status.state is EngineState.GENERATING
    status = engine_status_after(status, EngineMetrics(kv_cache_usage=0.0, running=0))
    assert status.state is EngineState.READY
    # An answer ended (esc) after a sample that counted it running: ready at once, not at the next
    # sample; and an end heard twice counts once.
    status = engine_status_after(status, TextDelta("s", "x"))
    status = engine_status_after(status, EngineMetrics(kv_cache_usage=0.1, running=2))
    status = engine_status_after(status, AnswerFinished("s", "abort", AnswerStats(completion_tokens=1)))
    assert status.running == 1 and status.state is EngineState.GENERATING  # another client's request
    status = engine_status_after(status, AnswerFinished("s", "abort", AnswerStats(completion_tokens=1)))
    assert status.running == 1
    status = engine_status_after(status, EngineMetrics(kv_cache_usage=0.0, running=1))
    status = engine_status_after(status, TextDelta("t", "x"))
    status = engine_status_after(status, AnswerFailed("t", "Prompt too long", ""))
    assert status.running == 0 and status.state is EngineState.READY
    # A one-token answer has no decode speed: the last known one stays.
    status = engine_status_after(status, TextDelta("b", "x"))
    status = engine_status_after(status, AnswerFinished("b", "length", AnswerStats(completion_tokens=1)))
    assert status.last_tokens_per_s == 20.0
    status = engine_status_after(status, TextDelta("c", "x"))
    status = engine_status_after(status, AnswerFailed("c", "Prompt too long", "4100 > 4096"))
    assert status.state is EngineState.READY and status.in_flight == frozenset()


def test_failure_and_stop_clear_the_queue_and_a_reload_clears_the_failure() -> None:
    status = engine_status_after(EngineStatus(), EngineReady("m", 4096, 2.0))
    status = engine_status_after(status, TextDelta("a", "x"))
    status = engine_status_after(status, EngineFailed("Engine died", "CUDA error", "restart", died=True))
    assert status.state is EngineState.FAILED and not status.busy
    assert engine_status_after(status, TextDelta("late", "x")).state is EngineState.FAILED
    reloading = engine_status_after(status, LoadProgress("tokenizer"))
    assert reloading.state is EngineState.LOADING and reloading.failure_title == ""
    assert engine_status_after(reloading, EngineStopped()).state is EngineState.STOPPED


def test_stopping_ends_the_requests_until_the_engine_says_it_stopped() -> None:
    status = engine_status_after(EngineStatus(), EngineReady("m", 4096, 2.0))
    status = engine_status_after(status, TextDelta("a", "x"))
    assert status.state is EngineState.GENERATING
    status = stopping(status)
    assert status.state is EngineState.STOPPING and not status.busy
    # A metrics sample from the engine's last moments does not bring "generating" back.
    assert engine_status_after(status, EngineMetrics(0.1, 1, 0)).state is EngineState.STOPPING
    assert engine_status_after(status, EngineStopped()).state is EngineState.STOPPED


def test_display_model() -> None:
    assert display_model(MODEL) == "DeepSeek-R1-Distill-Qwen-1.5B"
    assert display_model("/models/tiny-r1/") == "tiny-r1"
    assert display_model("tiny") == "tiny"


async def test_card_shows_each_state() -> None:
    app = CardApp()
    async with app.run_test() as pilot:
        card = app.query_one(EngineCard)
        assert card.border_title == "engine · TP 2"
        assert label(app, "engine-model") == "DeepSeek-R1-Distill-Qwen-1.5B"
        assert label(app, "engine-state") == "○ not started"
        assert card.has_class("-idle")

        card.apply_event(LoadProgress("loading weights", 0.4))
        await pilot.pause()
        assert card.has_class("-loading") and not card.has_class("-idle")
        assert label(app, "engine-state") == "◌ loading: loading weights 40%"
        assert app.query_one("#engine-load-bar", UsageBar).display
        assert app.query_one("#engine-load-bar", UsageBar).fraction == 0.4
        assert not app.query_one("#engine-queue").display

        card.apply_event(EngineReady("/ckpt/tiny-r1", 2048, 1.5, tensor_parallel_size=1))
        await pilot.pause()
        assert card.has_class("-ready")
        assert card.border_title == "engine · TP 1"
        assert label(app, "engine-model") == "tiny-r1"
        assert label(app, "engine-state") == "● ready"
        assert not app.query_one("#engine-load-bar").display
        assert label(app, "kv-label") == "KV  n/a"
        assert label(app, "engine-speed") == "last answer n/a"

        card.apply_event(TextDelta("r1", "Hello"))
        card.apply_event(EngineMetrics(kv_cache_usage=0.93, running=1, waiting=3))
        await pilot.pause()
        assert card.has_class("-generating")
        assert label(app, "engine-state") == "▶ generating"
        assert label(app, "kv-label") == "KV  93%"
        assert app.query_one("#kv-bar", UsageBar).has_class("-high")
        assert label(app, "engine-queue") == "run 1 · wait 3"

        card.apply_event(AnswerFinished("r1", "stop", AnswerStats(completion_tokens=51, decode_seconds=2.0)))
        card.apply_event(EngineMetrics(kv_cache_usage=0.05, running=0, waiting=0))
        await pilot.pause()
        assert card.has_class("-ready")
        assert label(app, "engine-speed") == "last answer 25.0 tok/s"
        assert label(app, "kv-label") == "KV   5%"

        card.apply_event(
            EngineFailed("Out of GPU memory", "CUDA out of memory", "Lower gpu_memory_utilization")
        )
        await pilot.pause()
        assert card.has_class("-failed")
        assert label(app, "engine-state") == "✗ failed"
        failure = "Out of GPU memory\nCUDA out of memory\nLower gpu_memory_utilization"
        assert label(app, "engine-failure") == failure
        assert app.query_one("#engine-failure").display
        assert not app.query_one("#engine-speed").display

        # A vLLM server's engine: its tensor parallel size is the server's, not this profile's.
        card.set_model("tiny-r1", 1, remote=True)
        card.apply_event(EngineReady("tiny-r1", 2048, 0.2))
        await pilot.pause()
        assert card.border_title == "engine · remote"


async def test_the_tokens_of_an_answer_already_counted_leave_the_card_alone() -> None:
    app = CardApp()
    async with app.run_test() as pilot:
        card = app.query_one(EngineCard)
        card.apply_event(EngineReady("/ckpt/tiny-r1", 2048, 1.5))
        card.apply_event(TextDelta("r1", "Hello"))
        await pilot.pause()
        status = card.status
        shown: list[EngineStatus] = []
        card._show = shown.append  # type: ignore[method-assign]
        for text in ("Hello", " there", "!"):
            card.apply_event(ReasoningDelta("r1", text))
            card.apply_event(TextDelta("r1", text))
        assert card.status is status and shown == [], "nothing changed, nothing redrawn"
        card.apply_event(TextDelta("r2", "A second request"))
        assert card.status.in_flight == {"r1", "r2"} and len(shown) == 1


def test_engine_card_snapshot(snap_compare: Callable[..., bool]) -> None:
    async def feed(pilot: object) -> None:
        card = app.query_one(EngineCard)
        for event in (
            LoadProgress("weights", 1.0),
            EngineReady(MODEL, 4096, 3.2, tensor_parallel_size=2),
            TextDelta("r", "Hi"),
            EngineMetrics(kv_cache_usage=0.42, running=1, waiting=0),
            AnswerFinished("r0", "stop", AnswerStats(completion_tokens=129, decode_seconds=4.0)),
        ):
            card.apply_event(event)

    app = CardApp()
    assert snap_compare(app, terminal_size=(34, 9), run_before=feed)


async def test_a_long_failure_is_cut_with_an_ellipsis_and_kept_whole_in_the_tooltip() -> None:
    """A remote server's whole error stopped mid-sentence at the card's last row."""
    reason = " ".join(f"word{i}" for i in range(80))  # far more than six rows of a 30-column card
    app = CardApp()
    async with app.run_test() as pilot:
        card = app.query_one(EngineCard)
        card.apply_event(EngineFailed("The server refused", reason, "Check the server URL in F2"))
        await pilot.pause()
        failure = app.query_one("#engine-failure", Label)
        rows = [strip.text.rstrip() for strip in failure.render_lines(failure.region.reset_offset)]
        assert len(rows) == FAILURE_LINES and failure.region.height == FAILURE_LINES
        assert rows[0] == "The server refused" and rows[1].startswith("word0 word1")
        assert rows[-1].endswith("…")
        assert failure.tooltip == f"The server refused\n{reason}\nCheck the server URL in F2"

        card.apply_event(EngineFailed("Out of GPU memory", "CUDA out of memory", "Lower it"))
        await pilot.pause()
        rows = [strip.text.rstrip() for strip in failure.render_lines(failure.region.reset_offset)]
        assert rows == ["Out of GPU memory", "CUDA out of memory", "Lower it"]
