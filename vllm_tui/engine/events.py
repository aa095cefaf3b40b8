"""Typed events the engines emit. Frozen dataclasses: they cross from the engine (its frontend
process, over a pipe, or the remote engine's thread) to the UI.

Nothing here imports vLLM or Textual: the UI wraps these in Textual messages, the store persists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

FinishReason = Literal["stop", "length", "abort", "error"]


@dataclass(frozen=True)
class LoadProgress:
    """The engine is loading; `stage` is a short human label, `fraction` in [0, 1] when known."""

    stage: str
    fraction: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class EngineReady:
    model: str
    max_model_len: int
    load_seconds: float
    kv_cache_tokens: int | None = None
    """What vLLM reported at load ("GPU KV cache size: N tokens"), if it said."""
    tensor_parallel_size: int = 1
    shares_cores: bool = False
    """The app's threads share a core with the engine's own busy processes: vLLM's CPU backend, its
    workers' cores kept for them (engine/cpu_cores.py). The UI then draws as tokens arrive."""


@dataclass(frozen=True)
class EngineFailed:
    """The engine could not start, or died. `reason` is the root cause found in the log."""

    title: str
    reason: str
    advice: str = ""
    died: bool = False
    """True when a running engine died (as opposed to a failed load)."""


@dataclass(frozen=True)
class EngineStopped:
    """The engine was shut down on request and its processes are gone."""


@dataclass(frozen=True)
class ReasoningDelta:
    request_id: str
    text: str
    sample: int = 0
    """Index of the parallel sample (vLLM's `n`) this text belongs to."""
    tokens: int = 1
    """Generated tokens this delta carries (for the live tokens/s)."""


@dataclass(frozen=True)
class TextDelta:
    request_id: str
    text: str
    sample: int = 0
    tokens: int = 1


@dataclass(frozen=True)
class AnswerStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    time_to_first_token: float | None = None
    """Seconds from submit to the first generated token."""
    decode_seconds: float = 0.0
    """Seconds from the first token to the last."""

    @property
    def tokens_per_second(self) -> float | None:
        if self.completion_tokens < 2 or self.decode_seconds <= 0:
            return None
        # The first token's latency belongs to TTFT, so the rate counts the tokens after it.
        return (self.completion_tokens - 1) / self.decode_seconds


def finish_reason_of(raw: str | None) -> FinishReason:
    """The engine's finish reason as the app knows it ("stop" for any other, or none)."""
    if raw in ("stop", "length", "abort"):
        return raw  # type: ignore[return-value]
    return "stop"


@dataclass(frozen=True)
class AnswerFinished:
    request_id: str
    finish_reason: FinishReason
    stats: AnswerStats = field(default_factory=AnswerStats)
    sample: int = 0


@dataclass(frozen=True)
class AnswerFailed:
    """One request failed (prompt too long, engine error) while the engine itself may live on."""

    request_id: str
    title: str
    reason: str
    advice: str = ""


@dataclass(frozen=True)
class AnswerRoom:
    """Sent before an answer when the context window leaves it fewer tokens than max tokens asks
    for: the engine asks for `room` tokens instead, and the answer will stop there."""

    request_id: str
    room: int
    max_tokens: int
    max_model_len: int


@dataclass(frozen=True)
class EngineMetrics:
    """vLLM's own scheduler figures, sampled while the engine runs."""

    kv_cache_usage: float | None = None
    running: int = 0
    waiting: int = 0
    generation_tokens_per_s: float | None = None


EngineEvent = Union[
    LoadProgress,
    EngineReady,
    EngineFailed,
    EngineStopped,
    ReasoningDelta,
    TextDelta,
    AnswerFinished,
    AnswerFailed,
    AnswerRoom,
    EngineMetrics,
]
