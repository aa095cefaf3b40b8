"""The chat screen: status line, message log, sidebar, prompt."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea

from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerRoom,
    AnswerStats,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.engine.request import ChatRequest, ChatTurn
from vllm_tui.heap import settle
from vllm_tui.model_info import runs_as_stored
from vllm_tui.screens.chat_actions import MessageActions
from vllm_tui.screens.row_compositor import RowCompositor
from vllm_tui.store import StoreClosed, StoreError
from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.engine_card import EngineCard
from vllm_tui.widgets.gpu_panel import GpuPanel
from vllm_tui.widgets.key_footer import KeyFooter
from vllm_tui.widgets.markdown_stream import StreamingMarkdown
from vllm_tui.widgets.message import AssistantMessage, Notice, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput, PromptStash
from vllm_tui.widgets.samples import SamplesView
from vllm_tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from textual.widget import AwaitMount

    from vllm_tui.app import VllmTuiApp
    from vllm_tui.config import Profile
    from vllm_tui.engine.events import EngineEvent, FinishReason
    from vllm_tui.store import ChatStore, StoredMessage

# How an answer's end is kept in the store: "stopped" covers both esc and max tokens (either can
# be continued), "failed" keeps the error beside the partial text.
SHOWN_MESSAGES = 60
"""How many of a chat's latest messages are put on screen when it is opened."""

_STORED_STATE = {"stop": "complete", "length": "stopped", "abort": "stopped", "error": "failed"}
_FINISH_FROM_STATE: dict[str, FinishReason] = {
    "complete": "stop",
    "stopped": "abort",
    "failed": "error",
    "interrupted": "error",
    "streaming": "error",
}


def _finish_of(m: StoredMessage) -> FinishReason:
    """The engine's own reason where the store has it (schema 3 on): "length" and "abort" share the
    state "stopped", and only the reason tells "hit max tokens" from "stopped" by the user."""
    if m.state in ("complete", "stopped") and m.finish_reason in ("stop", "length", "abort"):
        return m.finish_reason  # type: ignore[return-value]
    return _FINISH_FROM_STATE[m.state]


def _stats_of(m: StoredMessage) -> AnswerStats:
    """The answer's figures as they were shown live; the decode time comes back from the stored rate."""
    tokens = m.completion_tokens or 0
    rate = m.tokens_per_second
    return AnswerStats(
        prompt_tokens=m.prompt_tokens or 0,
        completion_tokens=tokens,
        reasoning_tokens=m.reasoning_tokens or 0,
        time_to_first_token=m.time_to_first_token,
        decode_seconds=(tokens - 1) / rate if rate and tokens > 1 else 0.0,
    )


def _note_of(m: StoredMessage) -> str:
    return {"interrupted": "Interrupted (the app stopped)", "failed": m.error or "Failed"}.get(m.state, "")


class SaveFailed(Message):
    """A save written off the UI thread failed (posted from that thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


log = logging.getLogger(__name__)


def _engine_name(profile: Profile) -> str:
    """What the status line calls a profile's engine: the model it loads, or the server it uses."""
    return profile.server_url if profile.kind == "remote" else profile.engine.model


class ChatScreen(MessageActions, Screen[None]):
    # Styles: chat.tcss, loaded by the App (a default screen's CSS_PATH is not read).

    # Keys chosen to survive tmux and SSH: no ctrl+i/ctrl+m (they are tab/enter), no ctrl+tab, and
    # ctrl+b (tmux's prefix) only as a second key for the sidebar. alt+letter arrives as ESC+letter,
    # which tmux passes on within its escape-time.
    BINDINGS: ClassVar[list[BindingType]] = [
        # One key, three meanings, each named in the footer only when it is what esc does now.
        Binding("escape", "stop", "Stop", id="chat.stop", priority=True),
        Binding("escape", "escape('edit')", "Cancel edit", id="chat.cancel_edit", priority=True),
        Binding("escape", "escape('select')", "Back to prompt", id="chat.to_prompt", priority=True),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new"),
        # Off the footer (F1 lists them), so that Help and Quit fit in 80 columns.
        Binding("ctrl+t", "toggle_thinking", "Thinking", id="chat.toggle_thinking", show=False),
        # Not alt+b: terminals send it as ESC b, which Textual reads as ctrl+left (word left).
        Binding("f10,ctrl+b", "toggle_sidebar", "Sidebar", id="chat.toggle_sidebar", show=False),
        Binding("f4", "chat_list", "Chats", id="chat.list", priority=True),  # priority: see app.py's f2
        Binding("ctrl+up", "select_message(-1)", "Previous message", id="chat.select_previous", show=False),
        Binding("ctrl+down", "select_message(1)", "Next message", id="chat.select_next", show=False),
        # Priority: the prompt (a TextArea) would take them to page through its own few lines.
        Binding("pageup", "scroll_log(-1)", "Page up", id="chat.page_up", show=False, priority=True),
        Binding("pagedown", "scroll_log(1)", "Page down", id="chat.page_down", show=False, priority=True),
        Binding("alt+y", "copy_message", "Copy answer", id="chat.copy", show=False),
        Binding("alt+c", "copy_code", "Copy code block", id="chat.copy_code", show=False),
        Binding("alt+r", "regenerate", "Regenerate", id="chat.regenerate", show=False),
        Binding("alt+e", "edit_prompt", "Edit last prompt", id="chat.edit", show=False),
        Binding("alt+g", "continue_answer", "Continue answer", id="chat.continue", show=False),
        Binding("alt+s", "samples(3)", "Ask for 3 samples", id="chat.samples", show=False),
        Binding("alt+k", "keep_sample", "Keep answer shown", id="chat.keep_sample", show=False),
        # Textual's own tab bindings, named in the help's words and given ids (a keymap can move them).
        Binding("tab", "app.focus_next", "Next pane", id="chat.focus_next", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous pane", id="chat.focus_previous", show=False),
    ]
    """
    | Key | Action |
    | :- | :- |
    | enter | Send the prompt. |
    | ctrl+j | Newline in the prompt (alt+enter too, where the terminal tells it from enter). |
    | escape | Stop the answer (idle: cancel an edit, or back to the prompt). |
    | ctrl+n | New chat. |
    | ctrl+t | Show or hide thinking. |
    | f10, ctrl+b | Show or hide the sidebar (in tmux ctrl+b is the prefix: press it twice). |
    | f4 | Chats: switch, rename, delete, search, export. |
    | ctrl+up, ctrl+down | Select a message (then see `MESSAGE_BINDINGS`). |
    | pageup, pagedown | Scroll the chat a page, from the prompt too. |
    | alt+y / alt+c | Copy the selected message or last answer / its last code block. |
    | alt+r | Regenerate the last answer (the new one goes beside it, as a tab). |
    | alt+e | Edit the last prompt and resend it. |
    | alt+g | Continue the last answer (cut off by max tokens or stopped). |
    | alt+s | Send the prompt asking for 3 answers at once (vLLM `n`). |
    | alt+k | Keep the answer shown of the last prompt's tabs (or the selected one's); asked first. |
    """

    def __init__(self) -> None:
        super().__init__()
        # A streaming answer changes a few rows a frame; this draws only those (see row_compositor).
        self._compositor = RowCompositor()
        self.history: list[ChatTurn] = []
        self.current: AssistantMessage | None = None
        self.current_request: ChatRequest | None = None
        self.engine_ready = False
        self.chat_id: int | None = None
        """The chat being shown, as stored; None until its first message is saved."""
        self.gpu_panel_ref: GpuPanel | None = None
        """Set once mounted, so the GPU sampler thread can post to the panel without a DOM query."""
        self._engine_card: EngineCard | None = None
        self._status_line: StatusLine | None = None
        """Set once mounted: every engine event updates them."""
        self.mounted = False
        """True once composed and mounted: engine events are applied only after that."""
        self._saved_draft = ""
        """The unsent prompt as last written to the state dir (see save_draft)."""
        self._saved_open_chat: tuple[int | None] | None = None
        """(chat id,) as last recorded as the one open (None inside: a new chat); None: not yet."""
        self.chat_restored = False
        """Set once the chat open at the last exit is shown (or there was none): until then the chat
        shown is not the user's choice, and is not recorded as the one open."""
        self.turn: list[AssistantMessage] = []
        """Every answer of the request being streamed (n of them for parallel samples)."""
        self.editing: UserMessage | None = None
        """The prompt being edited (alt+e): the next send replaces it and its answer."""
        self.prompt_stash: PromptStash | None = None
        """What the prompt held before alt+e: put back on esc or once the edit is sent."""
        self.continue_base: AnswerStats | None = None
        """While continuing an answer: its figures so far, to which the continuation's are added."""
        self._saving = False
        """A periodic save is being written (in a thread)."""
        self._replacing_engine = False
        """The engine is being stopped to start another (a switch, a restart): the status line says
        so until the new one starts, not "engine stopped"."""
        self._sidebar_chosen = False
        """Set once the user toggles the sidebar: from then on a resize leaves it as they chose."""

    @property
    def tui(self) -> VllmTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield ChatLog(id="log")
            with Vertical(id="sidebar"):
                profile = self.tui.profile
                yield EngineCard(
                    profile.engine.model, profile.engine.tensor_parallel_size, remote=profile.kind == "remote"
                )
                yield GpuPanel(id="gpus")
        yield PromptInput(id="prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#log", VerticalScroll).anchor()
        self.query_one(PromptInput).focus()
        self.show_chat_title()
        status = self.query_one(StatusLine)
        status.model = self.tui.profile.engine.model
        self.refresh_sampling()
        self._fit_sidebar(self.app.size.width)
        self.gpu_panel_ref = self.query_one(GpuPanel)
        self._engine_card = self.query_one(EngineCard)
        self._status_line = status
        self.mounted = True
        self._restore_draft()
        self.set_interval(1.0, self._save_each_second)

    def _save_each_second(self) -> None:
        """What a crash or a dropped link must not take: the answer streaming in, the prompt typed.
        One timer for both: each tick wakes the loop, which streaming does not need more often."""
        self.save_draft()
        self._save_streaming()

    def _restore_draft(self) -> None:
        """The prompt typed but not sent when the app last ended (ctrl+q, a crash, a dropped SSH
        link) is back in the prompt."""
        from vllm_tui.recent import load_draft

        draft = load_draft()
        if draft:
            self.query_one(PromptInput).insert(draft)
        self._saved_draft = draft

    def save_draft(self, *, now: bool = False) -> None:
        """The unsent prompt and the chat it is typed in, for the next start: once a second while
        they change (off the UI thread: a stalled disk must not stall typing), and at quit (`now`)."""
        from vllm_tui.recent import save_draft, save_open_chat

        # While alt+e has the last prompt in the box, the draft is what it set aside.
        stash = self.prompt_stash
        text = stash.full_text if stash is not None else self.query_one(PromptInput).full_text
        saves: list[Callable[[], None]] = []
        if text != self._saved_draft:
            self._saved_draft = text
            saves.append(partial(save_draft, text))
        if self.chat_restored and (self.chat_id,) != self._saved_open_chat:
            self._saved_open_chat = (self.chat_id,)
            saves.append(partial(save_open_chat, self.chat_id))
        for save in saves:
            if now:
                save()
            else:
                self.run_worker(save, thread=True, group="draft", exit_on_error=False)

    @property
    def store(self) -> ChatStore | None:
        return self.tui.store

    @property
    def gpu_panel(self) -> GpuPanel:
        return self.query_one(GpuPanel)

    # --- chats in the store --------------------------------------------------------------------

    async def load_chat(self, chat_id: int | None, show: int | None = None) -> None:
        """Show a saved chat (or an empty one), rebuilding the history sent to the model; with `show`
        (a search hit's message id), that message selected and in view instead of the chat's end."""
        try:
            await self._load_chat(chat_id, show)
        finally:
            self.chat_restored = True
            self.show_chat_title()
            # Once it is drawn: the chat shown now lives on, the one removed is garbage.
            self.call_after_refresh(settle)

    async def _load_chat(self, chat_id: int | None, show: int | None = None) -> None:
        if self.current is not None and self.current.streaming:
            # The answer's last events would find its chat gone: end the request, keep what streamed
            # and store it as final now (a row left "streaming" is repaired only at the next launch).
            self.action_stop()
            self._close_turn("another chat was opened")
            self.notify(
                "The answer in progress was stopped and kept as far as it got "
                "(in its chat: alt+g continues it).",
                timeout=6,
            )
        log = self.query_one("#log", VerticalScroll)
        await log.remove_children()
        self.history.clear()
        self.current = None
        self.current_request = None
        self.turn = []
        self.cancel_edit()
        self.chat_id = chat_id
        if self.store is None or chat_id is None:
            return
        try:
            stored = self.store.messages(chat_id)
        except StoreError as exc:
            self.notify(f"{exc}", severity="error")
            return
        widgets: list[UserMessage | AssistantMessage | SamplesView | Notice] = []
        answers: list[tuple[AssistantMessage, StoredMessage]] = []
        group: list[tuple[AssistantMessage, StoredMessage]] = []
        if len(stored) > SHOWN_MESSAGES:
            # Mounting thousands of messages would hold the UI for seconds: show the recent ones,
            # starting at a prompt. The rest stay in the store (F4 exports the whole chat).
            start = len(stored) - SHOWN_MESSAGES
            while start < len(stored) and stored[start].role != "user":
                start += 1
            hidden, stored = start, stored[start:]
            widgets.append(
                Notice(
                    f"{hidden:,} earlier messages are not shown",
                    "They are kept in the store (F4 exports the whole chat) and are not sent to the model.",
                    kind="info",
                )
            )

        def close_group() -> None:
            # Several answers in a row after one prompt (parallel samples, or answers regenerate
            # kept side by side) are tabs until one is kept; the one shown as when it was left.
            if len(group) > 1:
                shown = next((i for i, (_w, m) in enumerate(group) if m.shown), 0)
                widgets.append(SamplesView([w for w, _m in group], shown=shown))
            elif group:
                widgets.append(group[0][0])
            group.clear()

        for m in stored:
            if m.role == "user":
                close_group()
                widgets.append(UserMessage(m.content, stored_id=m.id))
                continue
            widget = AssistantMessage(
                m.model or "assistant",
                f"stored-{m.id}",
                self.tui.config.ui.show_thinking,
                stored_id=m.id,
                sample=m.sample,
                max_tokens=m.max_tokens,
            )
            group.append((widget, m))
            answers.append((widget, m))
        close_group()
        await log.mount_all(widgets)
        for widget, m in answers:
            widget.restore(
                m.thinking, m.content, _finish_of(m), _stats_of(m), _note_of(m), m.thinking_seconds
            )
        self.history = self.history_from_log()
        target = None
        if show is not None:
            target = next((w for w in log.query(".message") if getattr(w, "stored_id", None) == show), None)
        if target is not None:
            # After the layout that gives the restored answers their heights, as below. Not after a
            # scroll to the end first: Textual runs that one after the refresh too, and it came last.
            log.release_anchor()
            self.call_after_refresh(self._reveal, target)
            return
        log.scroll_end(animate=False)
        log.anchor()
        if show is not None:
            self.notify(
                "The match is in an earlier part of this chat, which is not shown here "
                "(F4, then e, exports the whole chat).",
                timeout=6,
            )
        # The restored answers get their heights in the next layout (their Markdown renders then):
        # scroll to the end again once it has run, or the chat opens part-way up its last answers.
        self.call_after_refresh(log.scroll_end, animate=False)

    def _reveal(self, target: Widget) -> None:
        """Select `target` (as ctrl+up would) and scroll it to the top of the view; a sample is
        shown in its group first."""
        log = self.query_one("#log", VerticalScroll)
        log.release_anchor()
        holder = next((a for a in target.ancestors if isinstance(a, SamplesView)), None)
        if holder is not None and target in holder.messages:
            holder.show(holder.messages.index(target))
        log.scroll_to_widget(holder or target, top=True, animate=False, immediate=True)
        target.focus(scroll_visible=False)

    def show_chat_title(self) -> None:
        """The prompt's lower border names the chat it adds to: its title (the first prompt's words,
        or the name given with F4 r), or "new chat" until the first prompt is saved."""
        title = ""
        if self.store is not None and self.chat_id is not None:
            try:
                chat = self.store.chat(self.chat_id)
            except StoreError:
                chat = None
            title = chat.title if chat is not None else ""
        self.query_one(PromptInput).border_subtitle = Content(title or "new chat")

    def _save_streaming(self) -> None:
        """Once a second: save the text streamed so far, so a crash or a dropped link loses little."""
        store = self.store
        if store is None:
            return
        if self.continue_base is not None:
            self._save_continued(store, self.continue_base)
            return
        updates = [
            (stored_id, message.answer_text, message.thinking_text)
            for message in self.turn
            if message.streaming and (stored_id := message.stored_id) is not None
        ]
        if not updates or self._saving:
            return  # a save still in progress (a slow disk): the next tick saves the newer text
        # Written off the UI thread: a disk that stalls (seconds, under writeback) must not stop the
        # stream. Each save holds the whole text so far, so none depends on another, and
        # update_answer changes only rows still streaming: one that lands after the answer's final
        # save changes nothing.
        self._saving = True
        self.run_worker(
            partial(self._write_updates, store, updates),
            thread=True,
            group="save-streaming",
            exit_on_error=False,
        )

    def _write_updates(self, store: ChatStore, updates: list[tuple[int, str, str]]) -> None:
        try:
            for message_id, content, thinking in updates:
                store.update_answer(message_id, content, thinking)
        except StoreClosed:
            pass  # the app closed the store while quitting; the answer's final save came first
        except StoreError as exc:
            self.post_message(SaveFailed(f"Could not save the answer: {exc}"))
        finally:
            self._saving = False

    def on_samples_view_shown(self, message: SamplesView.Shown) -> None:
        self.save_shown(message.view)
        self.history = self.history_from_log()

    def on_save_failed(self, message: SaveFailed) -> None:
        self.notify(message.text, severity="error", timeout=5)

    def _save_continued(self, store: ChatStore, base: AnswerStats) -> None:
        for message in self.turn:
            if not message.streaming or message.stored_id is None:
                continue
            try:
                # A continued answer's row is already final ("stopped"), which update_answer leaves
                # alone; kept "stopped" with the text so far, it can be continued again. (On the UI
                # thread: a late write of this kind would undo the answer's final one.)
                store.finish_answer(
                    message.stored_id,
                    "stopped",
                    base,
                    content=message.answer_text,
                    thinking=message.thinking_text,
                )
            except StoreError as exc:
                self.notify(f"Could not save the answer: {exc}", severity="error", timeout=5)
                return

    def _store_begin(
        self, text: str | None, n: int = 1, first: int = 0
    ) -> tuple[int | None, list[int | None]]:
        """Save the prompt (unless `text` is None: it is saved already) and begin n answers, the
        first numbered `first` among the prompt's answers."""
        store = self.store
        if store is None:
            return None, [None] * n
        try:
            if self.chat_id is None:
                self.chat_id = store.create_chat().id
            user_id = store.add_user_message(self.chat_id, text) if text is not None else None
            if text is not None:
                self.show_chat_title()  # a new chat takes its title from its first prompt
            answers: list[int | None] = [
                store.begin_answer(
                    self.chat_id,
                    self.tui.profile.engine.model,
                    self.tui.profile.name,
                    dataclasses.asdict(self.tui.profile.sampling),
                    sample=first + i,
                )
                for i in range(n)
            ]
            return user_id, answers
        except StoreError as exc:
            self.notify(f"This chat is not being saved: {exc}", severity="error", timeout=8)
            return None, [None] * n

    def _store_finish(self, message: AssistantMessage) -> None:
        if self.store is None or message.stored_id is None:
            return
        state = "failed" if message.error else _STORED_STATE.get(message.finish_reason or "stop", "complete")
        try:
            self.store.finish_answer(
                message.stored_id,
                state,  # type: ignore[arg-type]
                message.stats,
                content=message.answer_text,
                thinking=message.thinking_text,
                error=message.error,
                finish_reason=None if message.error else message.finish_reason,
                thinking_seconds=message.thought_seconds,
            )
        except StoreError as exc:
            self.notify(f"Could not save the answer: {exc}", severity="error", timeout=5)

    def action_chat_list(self, start: Literal["", "rename", "export", "search"] = "") -> None:
        """F4; from the palette, `start` begins renaming or exporting the open chat, or a search."""
        if self.store is None:
            self.notify("Chats are not being saved (the store could not be opened).", severity="warning")
            return
        if start in ("rename", "export") and self.chat_id is None:
            self.notify("This chat has nothing saved yet: ask something first.", timeout=3)
            return
        from vllm_tui.screens.chat_list import ChatListResult, ChatListScreen

        def chosen(result: ChatListResult | None) -> None:
            self.show_chat_title()  # renamed there, perhaps
            if result is None:
                return
            if self.chat_id is not None and self.chat_id in result.deleted:
                self.run_worker(self.load_chat(None), group="load-chat")
            if result.action == "open" and result.chat_id is not None:
                self.run_worker(self.load_chat(result.chat_id, result.message_id), group="load-chat")
            elif result.action == "new":
                self.run_worker(self.load_chat(None), group="load-chat")

        self.app.push_screen(ChatListScreen(self.store, self.chat_id, self._chat_deleted, start), chosen)

    def _chat_deleted(self, chat_id: int) -> None:
        """F4 deleted a chat. If it is the open one, an answer streaming into it stops now, not when
        the list closes: its rows are gone, so nothing more of it is saved (each save failed, with a
        toast naming a message id)."""
        if chat_id != self.chat_id:
            return
        for message in self.turn:
            message.stored_id = None
        if self.current is not None and self.current.streaming:
            self.action_stop()
            self._close_turn("its chat was deleted")

    def show_stopping(self, next_profile: Profile | None) -> None:
        """The engine is being stopped (vLLM takes seconds to let go of its GPUs) to start the one of
        `next_profile`, or the same one again when None: say so on the status line while it stops."""
        self._replacing_engine = True
        if next_profile is None:
            then = "starting it again"
        elif next_profile.kind == "remote":
            then = f"connecting to {_engine_name(next_profile)}"
        else:
            then = f"loading {_engine_name(next_profile)}"
        status = self.query_one(StatusLine)
        status.state = "starting"
        status.stage = f"stopping the engine, then {then}…"
        status.fraction = None
        self.query_one(EngineCard).show_stopping()

    def show_quitting(self) -> None:
        """The app is leaving and waits for vLLM to let go of its processes and GPUs."""
        self.engine_ready = False  # nothing more is sent
        self._replacing_engine = True  # the engine's "stopped" keeps this line
        status = self.query_one(StatusLine)
        status.state = "starting"
        status.stage = "shutting down the engine… ctrl+q again to force"
        status.fraction = None
        self.query_one(EngineCard).show_stopping()

    def show_engine(self, profile: Profile) -> None:
        """A new engine is being built for `profile`: reset what describes the old one."""
        self._replacing_engine = False
        status = self.query_one(StatusLine)
        status.model = _engine_name(profile)
        status.state = "starting"
        status.stage = "starting"
        status.fraction = None
        self.query_one(EngineCard).set_model(
            profile.engine.model, profile.engine.tensor_parallel_size, remote=profile.kind == "remote"
        )
        self.refresh_sampling()

    def refresh_sampling(self) -> None:
        profile = self.tui.profile
        s = profile.sampling
        thinking = "" if self.tui.config.ui.show_thinking else " · thinking hidden"
        # The profile's name only while it runs its own model: after `--model` or an F3 pick it
        # would name a model that is not loaded (the status line shows the one that is).
        # The values first: when the line is too long its end gives way, and the values are what
        # alt+up/down and F8/F9 change (the status line is their only feedback).
        stored = self.tui.config.profiles.get(profile.name)
        name = f" · {profile.name}" if stored is not None and runs_as_stored(stored, profile) else ""
        self.query_one(StatusLine).sampling = f"temp {s.temperature:g} · max {s.max_tokens:,}{thinking}{name}"

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
            state = self.query_one(StatusLine).state
            if state in ("failed", "stopped"):
                text = "No engine is running; your prompt is kept. ctrl+r restarts it, F2/F3 change it."
            else:
                text = "The model is still loading; your prompt is kept."
            self.notify(text, severity="warning", timeout=4)
            return
        event.prompt.take(event.typed)
        if self.editing is not None:
            self.run_worker(self.resend_edited(text), group="edit")
            return
        self.ask(text)

    def ask(
        self,
        text: str,
        n: int = 1,
        user: UserMessage | None = None,
        beside: Sequence[AssistantMessage] = (),
    ) -> AwaitMount:
        """Send `text` with the history shown; n > 1 asks for parallel samples. With `user` (an
        existing prompt, for regenerate), the answer goes after it and no new prompt is saved;
        `beside` (regenerate's copies of the answers it keeps) are its first tabs, the new one shown.
        Returns the answer's mount, after which `beside` can be restored."""
        log = self.query_one("#log", VerticalScroll)
        history = self.history_from_log(upto=user)
        request = ChatRequest(
            messages=(*history, ChatTurn("user", text)),
            sampling=self.tui.profile.sampling,
            n=n,
        )
        first = len(beside)
        user_id, answer_ids = self._store_begin(None if user is not None else text, n, first)
        show = self.tui.config.ui.show_thinking
        model = self.tui.profile.engine.model
        self.turn = [
            AssistantMessage(
                model,
                request.request_id,
                show,
                stored_id=answer_ids[i],
                sample=first + i,
                max_tokens=self.tui.profile.sampling.max_tokens,
            )
            for i in range(n)
        ]
        if user is None:
            log.mount(UserMessage(text, stored_id=user_id))
        answers = [*beside, *self.turn]
        answer = SamplesView(answers, shown=first) if len(answers) > 1 else self.turn[0]
        mounted = log.mount(answer, after=user) if user is not None else log.mount(answer)
        if isinstance(answer, SamplesView):
            self.save_shown(answer)
        log.anchor()
        self._start_turn(self.turn[0], request)
        return mounted

    def submit_continue(self, message: AssistantMessage, request: ChatRequest) -> None:
        self.turn = [message]
        self.query_one("#log", VerticalScroll).anchor()
        self._start_turn(message, request)

    def _start_turn(self, message: AssistantMessage, request: ChatRequest) -> None:
        self.current = message
        self.current_request = request
        self.refresh_bindings()  # esc now stops it
        self.query_one(StatusLine).state = "generating"
        self.tui.engine_submit(request)

    def action_stop(self) -> None:
        request = self._streaming_request()
        if request is not None:
            request_id = request.request_id
            log.info("esc: stop %s", request_id)
            self.tui.engine_stop(request_id)
            # Said at once: the engine's "stopped" comes with its next output, a moment later.
            status = self.query_one(StatusLine)
            if status.state == "generating":
                status.state = "stopping"
        elif not self.cancel_edit() and not isinstance(self.focused, PromptInput):
            # Idle: esc leaves a selected message (or the sidebar) for the prompt.
            self.action_focus_prompt()

    def action_escape(self, what: str) -> None:
        if what == "edit":
            self.cancel_edit()
        else:
            self.action_focus_prompt()

    def _streaming_request(self) -> ChatRequest | None:
        """The request whose answer is streaming now, if one is."""
        if self.current is not None and self.current.streaming:
            return self.current_request
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """esc: stops an answer, else cancels an edit, else leaves a selected message (the footer
        said "Stop" in all three, and when there was nothing to stop)."""
        streaming = self._streaming_request() is not None
        if action == "stop":
            return streaming
        if action in ("regenerate", "edit_prompt", "continue_answer") and not self._acts_on_selected(action):
            return None  # shown dimmed under a selected message it would refuse
        if action == "escape":
            if streaming:
                return False
            if parameters and parameters[0] == "edit":
                return self.editing is not None
            return self.editing is None and not isinstance(self.focused, PromptInput)
        return True

    def action_new_chat(self) -> None:
        self.run_worker(self.load_chat(None), group="load-chat")

    def action_toggle_thinking(self) -> None:
        ui = self.tui.config.ui
        ui.show_thinking = not ui.show_thinking
        self.query_one(ChatLog).unfold_all()  # their heights change
        for message in self.query(AssistantMessage):
            message.set_thinking_visible(ui.show_thinking)
        self.refresh_sampling()
        self.notify(f"Thinking {'shown' if ui.show_thinking else 'hidden'}", timeout=1.5)

    def on_key(self, event: events.Key) -> None:
        """Text typed while the focus is elsewhere (the log after a Tab, a sidebar card) goes to the
        prompt instead of being dropped. A selected message keeps its letter keys (y, r, e, …)."""
        focused = self.focused
        takes_keys = (Input, TextArea, UserMessage, AssistantMessage)
        chain = focused.ancestors_with_self if focused is not None else []
        if (
            event.is_printable
            and event.character
            and not any(isinstance(w, takes_keys) for w in chain)
            and event.key not in self.active_bindings  # "?" for help, and any key a keymap binds
        ):
            prompt = self.query_one(PromptInput)
            prompt.focus()
            prompt.insert(event.character)
            event.stop()
            event.prevent_default()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_sidebar(event.size.width)

    def _fit_sidebar(self, width: int) -> None:
        """At start and on resize, until the user toggles it (F10): below 100 columns the log needs
        the sidebar's 32 columns; `ui.sidebar: false` in config.yaml hides it."""
        if not self._sidebar_chosen:
            self._show_sidebar(self.tui.config.ui.sidebar and width >= 100)

    def action_toggle_sidebar(self) -> None:
        self._sidebar_chosen = True
        self._show_sidebar(not self.query_one("#sidebar").display)

    def _show_sidebar(self, shown: bool) -> None:
        self.query_one("#sidebar").display = shown
        # Toasts then stand left of it (chat.tcss), over the log, not over the engine card.
        self.set_class(shown, "-sidebar")

    # --- engine events -------------------------------------------------------------------------

    def apply_engine_event(self, event: EngineEvent) -> None:
        # Widgets found once, at mount: a DOM query per event (thousands a second with parallel
        # samples) walked the screen each time: half the time spent on engine events (profiled).
        assert self._engine_card is not None and self._status_line is not None
        if isinstance(event, AnswerFinished) and self._continues(event):
            # The card's "last answer" rate is the whole answer's, as under the answer: the
            # continued part's alone disagreed with it (walkthrough 18).
            self._engine_card.apply_event(dataclasses.replace(event, stats=self._with_base(event.stats)))
        else:
            self._engine_card.apply_event(event)
        status = self._status_line
        if isinstance(event, (ReasoningDelta, TextDelta, AnswerFinished, AnswerFailed)):
            self._apply_answer_event(event)
        elif isinstance(event, LoadProgress):
            status.state = "loading"
            status.stage = event.stage + (f" ({event.detail})" if event.detail else "")
            status.fraction = event.fraction
        elif isinstance(event, EngineReady):
            self.engine_ready = True
            StreamingMarkdown.frames_on_arrival = event.shares_cores
            # The engine is back: its failures' notices go. Left in the log, the last one stayed
            # below the next answer (a regenerate puts it in its old place, above), which then
            # looked as if it had failed too.
            for notice in self.query(".notice.-engine-failure"):
                notice.remove()
            status.model = event.model
            status.state = "ready"
            kv = f" · KV cache {event.kv_cache_tokens:,} tokens" if event.kv_cache_tokens else ""
            status.stage = f"ready in {event.load_seconds:.0f} s · context {event.max_model_len:,}{kv}"
        elif isinstance(event, EngineFailed):
            self.engine_ready = False
            status.state = "failed"
            status.stage = event.title
            # In the log too, which the notice points to: a remote engine's failures (a refused
            # connection) have no vLLM lines there of their own.
            log.error("engine failed: %s: %s %s", event.title, event.reason, event.advice)
            if self.current is not None and self.current.streaming:
                self.current.fail("The engine died" if event.died else event.title, event.reason)
                self._close_turn()
            chat_log = self.query_one("#log", VerticalScroll)
            # Not only ctrl+r: a model that cannot load fails the same way again, and F3 or F2 is
            # the way out.
            keys = "ctrl+r restarts the engine · F3 another model · F2 settings · F5 the log"
            notice = Notice(event.title, f"{event.reason}\n{event.advice}\n{keys}".strip())
            notice.add_class("-engine-failure")
            chat_log.mount(notice)
            chat_log.anchor()
        elif isinstance(event, EngineStopped):
            self.engine_ready = False
            if not self._replacing_engine:  # else the status line keeps saying what comes next
                status.state = "stopped"
                status.stage = "engine stopped"
        elif isinstance(event, AnswerRoom):
            request = self.current_request
            if request is not None and event.request_id == request.request_id:
                self.notify(
                    f"Room for {event.room:,} tokens of answer in the {event.max_model_len:,}-token "
                    f"context (max tokens {event.max_tokens:,}): it may be cut off. "
                    "ctrl+n starts a new chat.",
                    severity="warning",
                    timeout=6,
                )
        elif isinstance(event, EngineMetrics):
            pass

    def _apply_answer_event(self, event: ReasoningDelta | TextDelta | AnswerFinished | AnswerFailed) -> None:
        request = self.current_request
        if request is None or event.request_id != request.request_id:
            return  # a late event of an answer that is no longer shown
        if isinstance(event, AnswerFailed):
            for m in self.turn:
                if m.streaming:
                    m.fail(event.title, event.reason, event.advice)
            self._close_turn()
            return
        index = event.sample
        if not 0 <= index < len(self.turn):
            return
        message = self.turn[index]
        if event.__class__ is ReasoningDelta:
            message.append_thinking(event.text, event.tokens)  # type: ignore[union-attr]
        elif event.__class__ is TextDelta:
            message.append_answer(event.text, event.tokens)  # type: ignore[union-attr]
        elif isinstance(event, AnswerFinished):
            if not message.streaming:
                return
            if message.show_pending(partial(self._apply_answer_event, event)):
                # The last tokens reach the screen in a plain frame first. Finishing (the last block
                # as finished Markdown, the stats line, the footer's keys) lays the screen out, which
                # would hold them back 10-50 ms; it runs after that refresh.
                return
            message.finish(event.finish_reason, self._with_base(event.stats))
            self._store_finish(message)
            still = [m for m in self.turn if m.streaming]
            if still:
                self.current = still[0]  # what the app's quit and restart look at
            else:
                self._close_turn()

    def _continues(self, event: AnswerFinished) -> bool:
        """The event ends a continued answer (its figures are the continued part's alone)."""
        request = self.current_request
        return (
            self.continue_base is not None and request is not None and event.request_id == request.request_id
        )

    def _with_base(self, stats: AnswerStats) -> AnswerStats:
        """A continued answer's figures: the part before it and the continued part, as one answer."""
        base = self.continue_base
        if base is None:
            return stats
        return AnswerStats(
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=base.completion_tokens + stats.completion_tokens,
            reasoning_tokens=base.reasoning_tokens + stats.reasoning_tokens,
            time_to_first_token=base.time_to_first_token,
            decode_seconds=base.decode_seconds + stats.decode_seconds,
        )

    def _close_turn(self, why: str = "the request ended early") -> None:
        """End the turn. Answers still streaming are kept as "Interrupted: `why`": the app ended the
        request (a restart, a switch, another chat) and their last events will not be applied."""
        message, request = self.current, self.current_request
        if message is None or request is None:
            return
        for m in self.turn or [message]:
            if m.streaming:
                m.fail("Interrupted", why)
            self._store_finish(m)
            if isinstance(m.parent, SamplesView):
                m.parent.update_header()  # it may now say which answer the model hears
        # Thinking is shown but never sent back: only answers join the history.
        self.history = self.history_from_log()
        self.call_after_refresh(settle)  # after the turn's last frame
        self.current_request = None
        self.continue_base = None
        self.refresh_bindings()  # esc no longer stops anything
        status = self.query_one(StatusLine)
        if status.state in ("generating", "stopping"):
            status.state = "ready"
