"""The engine at a glance: model, parallelism, state, KV-cache use, queue and the last answer's speed.

`EngineCard.apply_event(event)` takes the engine's own events; `engine_status_after` is the pure
state transition behind it, so the logic is testable without a screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label

from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    EngineEvent,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.widgets.gpu_card import UsageBar


class EngineState(enum.Enum):
    IDLE = "not started"
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"


_MARKS = {
    EngineState.IDLE: "○",
    EngineState.LOADING: "◌",
    EngineState.READY: "●",
    EngineState.GENERATING: "▶",
    EngineState.FAILED: "✗",  # the status line's mark
    EngineState.STOPPING: "◌",
    EngineState.STOPPED: "■",
}


@dataclass(frozen=True)
class EngineStatus:
    """Everything the card shows, folded from the event stream."""

    state: EngineState = EngineState.IDLE
    model: str = ""
    tensor_parallel_size: int = 1
    remote: bool = False
    """A vLLM server's engine: its parallelism is the server's, not shown here."""
    stage: str = ""
    """The loading stage's label, while loading."""
    load_fraction: float | None = None
    failure_title: str = ""
    failure_reason: str = ""
    failure_advice: str = ""
    kv_cache_usage: float | None = None
    """Share of KV-cache blocks in use, 0–1 (vLLM's `kv_cache_usage`)."""
    running: int = 0
    waiting: int = 0
    last_tokens_per_s: float | None = None
    """Decode speed of the last finished answer."""
    in_flight: frozenset[str] = frozenset()
    """Requests streaming now: they say "generating" before the next metrics sample does."""

    @property
    def busy(self) -> bool:
        return self.running > 0 or bool(self.in_flight)


def _settle(status: EngineStatus) -> EngineStatus:
    """READY ⇄ GENERATING follows whether requests are in flight; other states stay."""
    if status.state in (EngineState.READY, EngineState.GENERATING):
        return replace(status, state=EngineState.GENERATING if status.busy else EngineState.READY)
    return status


def engine_status_after(status: EngineStatus, event: EngineEvent) -> EngineStatus:
    """The status once `event` has happened. Events the card doesn't show leave it unchanged."""
    if isinstance(event, LoadProgress):
        return replace(
            status,
            state=EngineState.LOADING,
            stage=event.stage,
            load_fraction=event.fraction,
            failure_title="",
            failure_reason="",
            failure_advice="",
        )
    if isinstance(event, EngineReady):
        return replace(
            status,
            state=EngineState.READY,
            model=event.model,
            tensor_parallel_size=event.tensor_parallel_size,
            stage="",
            load_fraction=None,
            running=0,
            waiting=0,
            in_flight=frozenset(),
        )
    if isinstance(event, EngineFailed):
        return replace(
            status,
            state=EngineState.FAILED,
            failure_title=event.title,
            failure_reason=event.reason,
            failure_advice=event.advice,
            running=0,
            waiting=0,
            in_flight=frozenset(),
        )
    if isinstance(event, EngineStopped):
        return replace(status, state=EngineState.STOPPED, running=0, waiting=0, in_flight=frozenset())
    if isinstance(event, EngineMetrics):
        return _settle(
            replace(status, kv_cache_usage=event.kv_cache_usage, running=event.running, waiting=event.waiting)
        )
    if isinstance(event, (TextDelta, ReasoningDelta)):
        if event.request_id in status.in_flight:
            return status
        return _settle(replace(status, in_flight=status.in_flight | {event.request_id}))
    if isinstance(event, (AnswerFinished, AnswerFailed)):
        speed = event.stats.tokens_per_second if isinstance(event, AnswerFinished) else None
        rid = event.request_id
        return _settle(
            replace(
                status,
                in_flight=status.in_flight - {rid},
                # The last metrics sample, taken while it ran, counted a request of ours: after esc the
                # card said "generating · run 1" until the next sample, while the status line and the
                # answer said stopped (walkthrough 18). The next sample corrects any guess.
                running=max(0, status.running - 1) if rid in status.in_flight else status.running,
                last_tokens_per_s=speed if speed is not None else status.last_tokens_per_s,
            )
        )
    return status


def stopping(status: EngineStatus) -> EngineStatus:
    """The status while the app stops the engine; its EngineStopped comes once it has."""
    return replace(status, state=EngineState.STOPPING, running=0, waiting=0, in_flight=frozenset())


def display_model(model: str) -> str:
    """The last path part of a model id or path ("org/Model-7B" → "Model-7B"), to fit a sidebar."""
    return model.rstrip("/").rsplit("/", 1)[-1] or model


FAILURE_LINES = 6
"""Lines of a failure's reason and advice the card shows; the chat's notice and the log have all."""


class ClampedText(Label):
    """Wrapped text cut to `FAILURE_LINES`, its last line ending in "…" where more was cut: a long
    reason (a remote server's whole error) stopped mid-sentence, with no sign that more followed."""

    def set_text(self, text: str) -> None:
        self.tooltip = text or None  # all of it on hover
        self.update(text)

    def render(self) -> Content:
        width = self.size.width
        whole = Content(str(self.content))
        if width <= 1:
            return whole
        lines = whole.wrap(width)
        if len(lines) <= FAILURE_LINES:
            return whole
        kept = lines[:FAILURE_LINES]
        kept[-1] = kept[-1].rstrip().truncate(width - 1) + "…"
        return Content("\n").join(kept)


class EngineCard(Vertical):
    """Feed it every engine event with `apply_event`; it redraws only when what it shows changed."""

    DEFAULT_CSS = """
    EngineCard {
        height: auto;
        border: round $panel-lighten-2;
        border-title-color: $foreground;
        padding: 0 1;
    }
    EngineCard Label {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    EngineCard #engine-state { color: $text-muted; }
    EngineCard.-loading { border: round $warning; }
    EngineCard.-loading #engine-state { color: $warning; }
    EngineCard.-ready { border: round $success; }
    EngineCard.-ready #engine-state { color: $success; }
    EngineCard.-generating { border: round $primary; }
    EngineCard.-generating #engine-state { color: $primary; }
    EngineCard.-stopping #engine-state { color: $warning; }
    EngineCard.-failed { border: round $error; }
    EngineCard.-failed #engine-state { color: $error; }
    EngineCard #engine-failure {
        color: $text-muted;
        text-wrap: wrap;
        display: none;
    }
    EngineCard.-failed #engine-failure { display: block; }
    EngineCard #engine-load-bar { display: none; margin-bottom: 0; }
    EngineCard.-loading #engine-load-bar { display: block; }
    EngineCard .engine-running { display: none; }
    EngineCard.-ready .engine-running, EngineCard.-generating .engine-running { display: block; }
    EngineCard #kv-row { height: 1; }
    EngineCard #kv-label { width: 8; }
    """

    status: reactive[EngineStatus] = reactive(EngineStatus, init=False)
    """What the card shows; set through `apply_event`."""

    def __init__(
        self,
        model: str = "",
        tensor_parallel_size: int = 1,
        *,
        remote: bool = False,
        id: str | None = None,  # noqa: A002 — Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        # Set before mount without the watcher: the model is known from settings before EngineReady.
        self.set_reactive(
            EngineCard.status,
            EngineStatus(model=model, tensor_parallel_size=tensor_parallel_size, remote=remote),
        )

    def compose(self) -> ComposeResult:
        yield Label(id="engine-model")
        yield Label(id="engine-state")
        yield UsageBar(id="engine-load-bar")
        yield ClampedText(id="engine-failure")
        with Horizontal(id="kv-row", classes="engine-running"):
            yield Label(id="kv-label")
            yield UsageBar(id="kv-bar", warn_at=0.9)
        yield Label(id="engine-queue", classes="engine-running")
        yield Label(id="engine-speed", classes="engine-running")

    def on_mount(self) -> None:
        self._show(self.status)

    def apply_event(self, event: EngineEvent) -> None:
        status = engine_status_after(self.status, event)
        if status is not self.status:
            # Most events (each token of an answer already counted) change nothing; setting the
            # reactive anyway costs ~20 µs each, thousands of times a second with parallel samples.
            self.status = status

    def show_stopping(self) -> None:
        """The app is stopping the engine (a restart or a switch): its requests are over, and the
        seconds until it has let go of the GPUs should not read "generating"."""
        self.status = stopping(self.status)

    def set_model(self, model: str, tensor_parallel_size: int = 1, *, remote: bool = False) -> None:
        """The model about to load (before any event names it)."""
        self.status = replace(
            self.status, model=model, tensor_parallel_size=tensor_parallel_size, remote=remote
        )

    def watch_status(self, status: EngineStatus) -> None:
        if self.is_mounted:
            self._show(status)

    def _show(self, status: EngineStatus) -> None:
        for state in EngineState:
            self.set_class(status.state is state, f"-{state.name.lower()}")
        parallel = "remote" if status.remote else f"TP {status.tensor_parallel_size}"
        self.border_title = f"engine · {parallel}"
        model_label = self.query_one("#engine-model", Label)
        model_label.update(display_model(status.model) if status.model else "no model")
        # A long model name is cut to the sidebar's width; hovering shows all of it.
        model_label.tooltip = status.model or None
        state_text = f"{_MARKS[status.state]} {status.state.value}"
        if status.state is EngineState.LOADING and status.stage:
            state_text += f": {status.stage}"
            if status.load_fraction is not None:
                state_text += f" {status.load_fraction:.0%}"
        self.query_one("#engine-state", Label).update(state_text)
        self.query_one("#engine-load-bar", UsageBar).fraction = status.load_fraction
        # The title leads the wrapped text below, not the one-row state line, which cut it ("✖ failed:
        # The engine fail…").
        parts = (status.failure_title, status.failure_reason, status.failure_advice)
        failure = "\n".join(part for part in parts if part)
        self.query_one("#engine-failure", ClampedText).set_text(failure)
        usage = status.kv_cache_usage
        self.query_one("#kv-label", Label).update("KV  n/a" if usage is None else f"KV {usage:>4.0%}")
        self.query_one("#kv-bar", UsageBar).fraction = usage
        self.query_one("#engine-queue", Label).update(f"run {status.running} · wait {status.waiting}")
        speed = status.last_tokens_per_s
        self.query_one("#engine-speed", Label).update(
            "last answer n/a" if speed is None else f"last answer {speed:.1f} tok/s"
        )
