"""The interface every engine (in-process vLLM, remote server) offers to the UI.

An engine is driven from the UI thread through non-blocking calls and reports back only through
`emit`, a callable it was given at construction and may call from any thread. The UI turns those
events into Textual messages. Nothing here imports vLLM or Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from vllm_tui.engine.events import EngineEvent
    from vllm_tui.engine.request import ChatRequest

Emit = Callable[["EngineEvent"], None]


class Engine(Protocol):
    """Lifecycle: start() → LoadProgress… → EngineReady | EngineFailed.
    submit(request) → ReasoningDelta/TextDelta… → AnswerFinished | AnswerFailed.
    stop(request_id) ends a stream early (its AnswerFinished has finish_reason "abort").
    shutdown() blocks until the engine and every process it started are gone.
    """

    @property
    def name(self) -> str:
        """What the status line shows: the model, or the server and model."""
        ...

    def start(self) -> None: ...

    def submit(self, request: ChatRequest) -> None: ...

    def stop(self, request_id: str) -> None: ...

    def shutdown(self) -> None: ...

    def list_models(self) -> list[str]:
        """Models this engine can serve (a server's /v1/models; the local model otherwise)."""
        ...
