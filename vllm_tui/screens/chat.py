"""The chat screen: status line, message log, sidebar, prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.engine.request import ChatRequest, ChatTurn
from vllm_tui.widgets.message import AssistantMessage, Notice, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput
from vllm_tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from vllm_tui.app import VllmTuiApp
    from vllm_tui.engine.events import EngineEvent


class ChatScreen(Screen[None]):
    CSS_PATH = "chat.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="chat.stop", priority=True),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new"),
        Binding("ctrl+t", "toggle_thinking", "Thinking", id="chat.toggle_thinking"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="chat.toggle_sidebar"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | enter | Send the prompt. |
    | ctrl+j, alt+enter | Newline in the prompt. |
    | escape | Stop the answer. |
    | ctrl+n | New chat. |
    | ctrl+t | Show or hide thinking. |
    | ctrl+b | Show or hide the sidebar. |
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: list[ChatTurn] = []
        self.current: AssistantMessage | None = None
        self.current_request: ChatRequest | None = None
        self.engine_ready = False
        self.mounted = False
        """True once composed and mounted: engine events are applied only after that."""

    @property
    def tui(self) -> VllmTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield VerticalScroll(id="log")
            yield Vertical(id="sidebar")
        yield PromptInput(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log", VerticalScroll).anchor()
        self.query_one(PromptInput).focus()
        status = self.query_one(StatusLine)
        status.model = self.tui.profile.engine.model
        self.refresh_sampling()
        if self.app.size.width < 100:
            self.query_one("#sidebar").display = False
        self.mounted = True

    def refresh_sampling(self) -> None:
        s = self.tui.profile.sampling
        self.query_one(StatusLine).sampling = f"temp {s.temperature:g} · max {s.max_tokens:,}"

    # --- sending and stopping ------------------------------------------------------------------

    @on(PromptInput.Submitted)
    def _send(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip():
            self.notify("Type a message first.", severity="warning", timeout=2)
            return
        if self.current is not None and self.current.streaming:
            self.notify("An answer is still streaming: esc stops it.", severity="warning", timeout=3)
            return
        if not self.engine_ready:
            self.notify("The model is still loading; your prompt is kept.", severity="warning", timeout=3)
            return
        event.prompt.clear()
        self.ask(text)

    def ask(self, text: str) -> None:
        log = self.query_one("#log", VerticalScroll)
        request = ChatRequest(
            messages=(*self.history, ChatTurn("user", text)),
            sampling=self.tui.profile.sampling,
        )
        message = AssistantMessage(
            self.tui.profile.engine.model, request.request_id, show_thinking=self.tui.config.ui.show_thinking
        )
        log.mount(UserMessage(text))
        log.mount(message)
        log.anchor()
        self.current = message
        self.current_request = request
        self.query_one(StatusLine).state = "generating"
        self.tui.engine_submit(request)

    def action_stop(self) -> None:
        if self.current is not None and self.current.streaming and self.current_request is not None:
            self.tui.engine_stop(self.current_request.request_id)

    def action_new_chat(self) -> None:
        if self.current is not None and self.current.streaming:
            self.action_stop()
        self.history.clear()
        self.current = None
        self.current_request = None
        self.query_one("#log", VerticalScroll).remove_children()

    def action_toggle_thinking(self) -> None:
        ui = self.tui.config.ui
        ui.show_thinking = not ui.show_thinking
        for message in self.query(AssistantMessage):
            message.set_thinking_visible(ui.show_thinking)
        self.notify(f"Thinking {'shown' if ui.show_thinking else 'hidden'}", timeout=1.5)

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    # --- engine events -------------------------------------------------------------------------

    def apply_engine_event(self, event: EngineEvent) -> None:
        status = self.query_one(StatusLine)
        if isinstance(event, (ReasoningDelta, TextDelta, AnswerFinished, AnswerFailed)):
            self._apply_answer_event(event)
        elif isinstance(event, LoadProgress):
            status.state = "loading"
            status.stage = event.stage + (f" ({event.detail})" if event.detail else "")
            status.fraction = event.fraction
        elif isinstance(event, EngineReady):
            self.engine_ready = True
            status.model = event.model
            status.state = "ready"
            kv = f" · KV cache {event.kv_cache_tokens:,} tokens" if event.kv_cache_tokens else ""
            status.stage = f"ready in {event.load_seconds:.0f} s · context {event.max_model_len:,}{kv}"
        elif isinstance(event, EngineFailed):
            self.engine_ready = False
            status.state = "failed"
            status.stage = event.title
            if self.current is not None and self.current.streaming:
                self.current.fail("The engine died" if event.died else event.title, event.reason)
                self._close_turn()
            log = self.query_one("#log", VerticalScroll)
            keys = "ctrl+r restarts the engine · F5 shows the log"
            log.mount(Notice(event.title, f"{event.reason}\n{event.advice}\n{keys}".strip()))
            log.anchor()
        elif isinstance(event, EngineStopped):
            self.engine_ready = False
            status.state = "stopped"
            status.stage = "engine stopped"
        elif isinstance(event, EngineMetrics):
            pass

    def _apply_answer_event(self, event: ReasoningDelta | TextDelta | AnswerFinished | AnswerFailed) -> None:
        message = self.current
        if message is None or self.current_request is None or event.request_id != message.request_id:
            return  # a late event of an answer that is no longer shown
        if event.__class__ is ReasoningDelta:
            message.append_thinking(event.text, event.tokens)  # type: ignore[union-attr]
        elif event.__class__ is TextDelta:
            message.append_answer(event.text, event.tokens)  # type: ignore[union-attr]
        elif isinstance(event, AnswerFinished):
            message.finish(event.finish_reason, event.stats)
            self._close_turn()
        elif isinstance(event, AnswerFailed):
            message.fail(event.title, event.reason, event.advice)
            self._close_turn()

    def _close_turn(self) -> None:
        message, request = self.current, self.current_request
        if message is None or request is None:
            return
        user = request.messages[-1]
        answer = message.answer_text
        if message.error is None or answer:
            # Thinking is shown but never sent back: only the answer joins the history.
            self.history.extend([user, ChatTurn("assistant", answer)])
        self.current_request = None
        status = self.query_one(StatusLine)
        if status.state == "generating":
            status.state = "ready"
