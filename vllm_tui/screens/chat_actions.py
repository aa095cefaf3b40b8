"""The chat screen's message actions (a mixin, to keep chat.py to streaming and the store):
select a message, copy it or its code, regenerate, edit and resend, continue, delete, samples.

The history sent to the model is always rebuilt from what the log shows (`history_from_log`), so
every action that removes or changes a message leaves it right without bookkeeping of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget

from vllm_tui.clipboard import CopyResult, last_code_block
from vllm_tui.engine.events import AnswerStats
from vllm_tui.engine.request import ChatRequest, ChatTurn
from vllm_tui.screens.confirm import ConfirmScreen
from vllm_tui.store import StoreError
from vllm_tui.widgets.message import AssistantMessage, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput, PromptStash
from vllm_tui.widgets.samples import SamplesView, usable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from textual.widget import AwaitMount

    from vllm_tui.app import VllmTuiApp
    from vllm_tui.store import ChatStore

MAX_SAMPLES = 4


def _copy_of(message: AssistantMessage, show_thinking: bool) -> AssistantMessage:
    """A new widget for a finished answer (Textual cannot move one to another parent); once it is
    mounted, `_restore_from` fills it in."""
    return AssistantMessage(
        message.model,
        message.request_id,
        show_thinking,
        message.stored_id,
        message.sample,
        max_tokens=message.max_tokens,
    )


def _restore_from(copy: AssistantMessage, message: AssistantMessage) -> None:
    copy.restore(
        message.thinking_text,
        message.answer_text,
        message.finish_reason or "stop",
        message.stats,
        message.error or "",
        message.thought_seconds,
    )
    if message.failure is not None:
        copy.fail(*message.failure)  # its own words, not restore's "cut off here"


def _heard(item: Widget) -> AssistantMessage | None:
    """The answer of a log item that goes back to the model (see `SamplesView.heard`)."""
    if isinstance(item, SamplesView):
        return item.heard
    return item if isinstance(item, AssistantMessage) and usable(item) else None


def _messages_in(item: Widget) -> list[Widget]:
    """The messages a log item holds: a group of samples' answers, or the item itself."""
    return list(item.messages) if isinstance(item, SamplesView) else [item]


class MessageActions(Screen[None]):
    """Needs from the chat screen: the attributes below, `ask()`, `show_chat_title()` and `store`."""

    current: AssistantMessage | None
    current_request: ChatRequest | None
    history: list[ChatTurn]
    editing: UserMessage | None
    prompt_stash: PromptStash | None
    """What the prompt held before alt+e put the last prompt in it."""
    continue_base: AnswerStats | None

    @property
    def tui(self) -> VllmTuiApp:
        raise NotImplementedError

    @property
    def store(self) -> ChatStore | None:
        raise NotImplementedError

    def ask(
        self,
        text: str,
        n: int = 1,
        user: UserMessage | None = None,
        beside: Sequence[AssistantMessage] = (),
    ) -> AwaitMount:
        raise NotImplementedError

    def submit_continue(self, message: AssistantMessage, request: ChatRequest) -> None:
        raise NotImplementedError

    def show_chat_title(self) -> None:
        raise NotImplementedError

    # --- what the log holds ---------------------------------------------------------------------

    def log_items(self) -> list[Widget]:
        """The log's messages in order: UserMessage, AssistantMessage, SamplesView (notices left out)."""
        log = self.query_one("#log", VerticalScroll)
        return [w for w in log.children if isinstance(w, (UserMessage, AssistantMessage, SamplesView))]

    def selectable(self) -> list[UserMessage | AssistantMessage]:
        out: list[UserMessage | AssistantMessage] = []
        for w in self.log_items():
            if isinstance(w, SamplesView):
                out.append(w.active)
            else:
                out.append(w)  # type: ignore[arg-type]
        return out

    def history_from_log(self, upto: Widget | None = None) -> list[ChatTurn]:
        """User/answer pairs as shown, before `upto` if given. A prompt whose answer failed without
        text, or an answer without its prompt (deleted), is left out; for samples, the tab shown."""
        turns: list[ChatTurn] = []
        user: UserMessage | None = None
        for w in self.log_items():
            if w is upto:
                break
            if isinstance(w, UserMessage):
                user = w
                continue
            answer = _heard(w)
            if user is not None and answer is not None:
                turns.extend([ChatTurn("user", user.text), ChatTurn("assistant", answer.answer_text)])
            user = None
        return turns

    def last_exchange(self) -> tuple[UserMessage, Widget | None] | None:
        """The last prompt and the answer widget after it (None if it has none)."""
        items = self.log_items()
        for i in range(len(items) - 1, -1, -1):
            if isinstance(items[i], UserMessage):
                after = items[i + 1] if i + 1 < len(items) else None
                return items[i], after  # type: ignore[return-value]
        return None

    def _answers_to(self, prompt: Widget) -> list[Widget]:
        """The answer after `prompt` (an answer, or a group of samples), if it has one."""
        items = self.log_items()
        i = items.index(prompt) if prompt in items else -1
        after = items[i + 1] if 0 <= i < len(items) - 1 else None
        return [after] if isinstance(after, (AssistantMessage, SamplesView)) else []

    def last_answer(self) -> AssistantMessage | None:
        for w in reversed(self.log_items()):
            if isinstance(w, SamplesView):
                return w.active
            if isinstance(w, AssistantMessage):
                return w
        return None

    def _busy(self) -> bool:
        if self.current is not None and self.current.streaming:
            self.notify("An answer is still streaming: esc stops it.", severity="warning", timeout=3)
            return True
        return False

    def _ready(self) -> bool:
        if not getattr(self, "engine_ready", False):
            self.notify("The model is not ready yet.", severity="warning", timeout=3)
            return False
        return not self._busy()

    def _focused_message(self) -> UserMessage | AssistantMessage | None:
        focused = self.focused
        return focused if isinstance(focused, (UserMessage, AssistantMessage)) else None

    def why_not(self, action: str) -> str:
        """What a selected message says when a key the footer dims there is pressed anyway."""
        return {
            "regenerate": "Only the last answer can be regenerated (the new one goes beside it).",
            "edit_prompt": "Only the last prompt can be edited (enter resends it in its place).",
            "continue_answer": "Only the last answer, if it was cut off (max tokens, stopped), continues.",
        }.get(action, "")

    def _acts_on_selected(self, action: str) -> bool:
        """Would `action` act on the selected message (or is none selected)? Regenerate and edit
        take the last exchange only, continue an answer that was cut off. The chat screen's
        `check_action` asks, so the actions below never run where this says no: from a key, the
        selected message's keys or the palette alike."""
        focused = self._focused_message()
        if focused is None:
            return True
        if action == "continue_answer":
            return (
                isinstance(focused, AssistantMessage)
                and focused.can_continue
                and focused is self.last_answer()
            )
        exchange = self.last_exchange()
        if exchange is None:
            return False
        user, answer = exchange
        return focused is user or (answer is not None and focused in (answer, *_messages_in(answer)))

    # --- selecting ----------------------------------------------------------------------------

    def action_select_message(self, step: int) -> None:
        """ctrl+up/ctrl+down from anywhere, up/down on a selected message. Past the last: the prompt."""
        items = self.selectable()
        if not items:
            self.action_focus_prompt()
            return
        focused = self._focused_message()
        if focused in items:
            index = items.index(focused) + step  # type: ignore[arg-type]
        else:
            index = len(items) - 1 if step < 0 else 0
        if index >= len(items):
            self.action_focus_prompt()
            return
        target = items[max(0, index)]
        self.query_one("#log", VerticalScroll).release_anchor()
        target.focus()

    def action_scroll_log(self, pages: int) -> None:
        """A page of the chat up or down, wherever the focus is; back at the end, it follows the
        answer again."""
        log = self.query_one("#log", VerticalScroll)
        if pages < 0:
            log.scroll_page_up(animate=False)
        else:
            log.scroll_page_down(animate=False)

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()
        self.query_one("#log", VerticalScroll).anchor()

    # --- copying ------------------------------------------------------------------------------

    def _copy(self, text: str, what: str) -> None:
        from vllm_tui import clipboard

        def done(result: CopyResult) -> None:
            self.notify(f"{what}: {result.describe()}", timeout=5)

        clipboard.copy(self.app, text, done=done)

    def action_copy_message(self) -> None:
        """The selected message, or (from the prompt) the last answer."""
        target = self._focused_message() or self.last_answer()
        if target is None or not target.copy_text:
            self.notify("Nothing to copy yet.", severity="warning", timeout=2)
            return
        self._copy(target.copy_text, "Message")

    def action_toggle_fold(self) -> None:
        """The selected answer's thinking, opened or folded; from the prompt, the last answer's."""
        focused = self._focused_message()
        target = focused if isinstance(focused, AssistantMessage) else self.last_answer()
        if target is None or not target.toggle_fold():
            self.notify("No thinking to open here (ctrl+t shows hidden thinking).", timeout=2)

    def action_copy_code(self) -> None:
        target = self._focused_message() or self.last_answer()
        code = last_code_block(target.copy_text) if target is not None else None
        if code is None:
            self.notify("No code block in this message.", severity="warning", timeout=2)
            return
        self._copy(code, "Code block")

    # --- regenerate, edit, continue, delete ---------------------------------------------------

    def _delete_rows(self, widget: Widget) -> None:
        store = self.store
        if store is None:
            return
        try:
            for m in _messages_in(widget):
                stored_id = getattr(m, "stored_id", None)
                if stored_id is not None:
                    store.delete_message(stored_id)
        except StoreError as exc:
            self.notify(f"Could not delete from the store: {exc}", severity="error", timeout=5)

    async def _remove(self, widget: Widget) -> None:
        self._delete_rows(widget)
        await widget.remove()

    async def action_regenerate(self) -> None:
        """Ask the last prompt again. The new answer goes beside the last one, as a tab: a worse
        answer does not cost the better one (alt+k keeps one and deletes the rest)."""
        exchange = self.last_exchange()
        if exchange is None:
            self.notify("Nothing to regenerate yet.", severity="warning", timeout=2)
            return
        if not self._ready():
            return
        user, answer = exchange
        old = [m for m in _messages_in(answer) if isinstance(m, AssistantMessage)] if answer else []
        # An answer that failed before it said anything has nothing to keep: it goes, row and all.
        kept = [m for m in old if m.answer_text or m.thinking_text]
        for m in old:
            if m not in kept:
                self._delete_rows(m)
        copies = [(_copy_of(m, self.tui.config.ui.show_thinking), m) for m in kept]
        # The old answer may have held the focus, which would pass to the prompt above it (and y
        # would copy that); the new answer streams, so the prompt box is where the user is.
        self.action_focus_prompt()
        mounted = self.ask(user.text, user=user, beside=[copy for copy, _ in copies])
        await mounted
        for copy, m in copies:
            _restore_from(copy, m)
        if answer is not None:
            await answer.remove()  # its rows stay: the copies stand for them

    def action_edit_prompt(self) -> None:
        """Put the last prompt in the prompt box; enter sends it in place of the last exchange."""
        exchange = self.last_exchange()
        if exchange is None:
            self.notify("No prompt to edit yet.", severity="warning", timeout=2)
            return
        if self._busy():
            return
        prompt = self.query_one(PromptInput)
        # What was being typed is set aside, not lost: esc, or sending the edit, puts it back.
        if self.prompt_stash is None:
            self.prompt_stash = prompt.set_aside()
        prompt.text = exchange[0].text
        prompt.move_cursor(prompt.document.end)
        # Said up front: the old prompt's answers go with it (regenerate, by contrast, keeps them).
        answers = len(_messages_in(exchange[1])) if exchange[1] is not None else 0
        gone = f" and its {answers} answers" if answers > 1 else " and its answer" if answers else ""
        prompt.border_title = f"Editing the last prompt · enter replaces it{gone} · esc cancels"
        self.editing = exchange[0]
        self.refresh_bindings()  # esc cancels the edit
        self.action_focus_prompt()

    def cancel_edit(self) -> bool:
        if self.editing is None:
            return False
        self.editing = None
        self.refresh_bindings()
        prompt = self.query_one(PromptInput)
        prompt.clear()
        prompt.border_title = None
        self._put_back_stash()
        return True

    def _put_back_stash(self) -> None:
        stash, self.prompt_stash = self.prompt_stash, None
        if stash is not None:
            prompt = self.query_one(PromptInput)
            prompt.put_back(stash)
            prompt.move_cursor(prompt.document.end)

    async def resend_edited(self, text: str) -> None:
        user, self.editing = self.editing, None
        self.refresh_bindings()
        self.query_one(PromptInput).border_title = None
        self._put_back_stash()
        if user is not None and user.is_attached:
            exchange = self.last_exchange()
            if exchange is not None and exchange[0] is user and exchange[1] is not None:
                await self._remove(exchange[1])
            await self._remove(user)
        self.ask(text)

    def action_continue_answer(self) -> None:
        """Continue an answer cut off by max tokens or stopped: the model goes on from its last
        token, in the same message and the same stored row."""
        focused = self._focused_message()
        target = focused if isinstance(focused, AssistantMessage) else self.last_answer()
        if target is None or not target.can_continue:
            self.notify("Only an answer cut off (max tokens, stopped) can be continued.", timeout=3)
            return
        if not self._ready():
            return
        exchange = self.last_exchange()
        if exchange is None:
            return
        partial = target.answer_text or f"<think>\n{target.thinking_text}"
        request = ChatRequest(
            messages=(
                *self.history_from_log(upto=exchange[0]),
                ChatTurn("user", exchange[0].text),
                ChatTurn("assistant", partial),
            ),
            sampling=self.tui.profile.sampling,
            continue_final=True,
        )
        self.continue_base = target.stats or AnswerStats()
        target.resume()
        self.submit_continue(target, request)

    async def action_delete_message(self) -> None:
        target = self._focused_message()
        if target is None:
            self.notify("Select a message first (ctrl+up), then press d.", timeout=3)
            return
        if isinstance(target, AssistantMessage) and target.streaming:
            self.notify("Stop the answer first (esc).", severity="warning", timeout=3)
            return
        holder = next((a for a in target.ancestors if isinstance(a, SamplesView)), None)
        if holder is not None and isinstance(target, AssistantMessage):
            self._delete_tab(holder, target)
            return
        widgets: list[Widget] = [target]
        if isinstance(target, AssistantMessage):
            what = "this answer"
        else:
            # A prompt goes with its answer: left alone, that answer sat under the prompt before it
            # (two answers in a row) and went back to the model as a reply to it.
            answers = self._answers_to(target)
            streaming = self.current if self.current is not None and self.current.streaming else None
            if streaming is not None and any(streaming in _messages_in(a) for a in answers):
                self.notify("Stop the answer first (esc).", severity="warning", timeout=3)
                return
            widgets += answers
            what = "this prompt and its answer" if answers else "this prompt"
        # Asked first: it is gone from the saved chat too, and the next message is selected next, so
        # a second d would take that one as well.

        async def answered(yes: bool | None) -> None:
            if not yes or not all(w.is_attached for w in widgets):
                return
            items = self.selectable()
            index = items.index(target) if target in items else len(items)
            for widget in widgets:
                await self._remove(widget)
            self.history = self.history_from_log()
            self.show_chat_title()  # the first prompt gone, the store titled the chat by the next
            left = self.selectable()
            if left:
                left[min(index, len(left) - 1)].focus()
            else:
                self.action_focus_prompt()

        self.app.push_screen(ConfirmScreen(f"Delete {what}? It cannot be undone."), answered)

    def _delete_tab(self, view: SamplesView, target: AssistantMessage) -> None:
        """d on one of a prompt's answers shown as tabs: that answer only, once asked."""
        if view.streaming:
            self.notify("Wait for the answer to finish (or esc stops it).", severity="warning", timeout=3)
            return
        index = view.messages.index(target)
        count = len(view.messages)

        async def answered(yes: bool | None) -> None:
            if not yes or not view.is_attached or view.streaming or target not in view.messages:
                return
            self._delete_rows(target)
            left = [m for m in view.messages if m is not target]
            # The tab before it is shown next (the first, for the first).
            await self._replace_answers(view, left, max(0, index - 1), focus=True)

        self.app.push_screen(
            ConfirmScreen(f"Delete answer {index + 1} of {count}? It cannot be undone."), answered
        )

    # --- samples ------------------------------------------------------------------------------

    def action_samples(self, n: int = 3) -> None:
        """Send the prompt asking for n answers at once (one vLLM batch); keep one later."""
        prompt = self.query_one(PromptInput)
        text = prompt.text
        if not text.strip():
            self.notify("Type a prompt first, then alt+s asks for several answers.", timeout=3)
            return
        if not self._ready():
            return
        if self.editing is not None:
            self.notify("Finish the edit first (enter resends, esc cancels).", timeout=3)
            return
        prompt.clear()
        self.ask(text, n=max(2, min(MAX_SAMPLES, n)))

    async def action_keep_sample(self) -> None:
        """Keep the answer shown of a prompt's tabs (the selected answer's, or else the last prompt's)
        and delete the others, once asked."""
        focused = self.focused
        view = None
        if focused is not None:
            view = next((a for a in focused.ancestors_with_self if isinstance(a, SamplesView)), None)
        items = self.log_items()
        if view is None and items and isinstance(items[-1], SamplesView):
            # Only the last prompt's from the prompt box, as alt+r: an older prompt's tabs, out of
            # sight, were collapsed by a second press.
            view = items[-1]
        if view is None:
            self.notify(
                "The last prompt has one answer: nothing to choose between (alt+r adds another).",
                timeout=3,
            )
            return
        if view.streaming:
            several = sum(m.streaming for m in view.messages) > 1
            wait = (
                "every answer to finish (or esc stops them)"
                if several
                else "the answer to finish (or esc stops it)"
            )
            self.notify(f"Wait for {wait}.", timeout=3)
            return
        kept = view.active
        if not usable(kept):
            self.notify(
                "This answer failed before it said anything: select it (ctrl+↑), then ←/→ shows "
                "another to keep.",
                severity="warning",
                timeout=4,
            )
            return
        others = len(view.messages) - 1
        number = view.active_index + 1
        selected = focused is not None and view in focused.ancestors_with_self

        async def answered(yes: bool | None) -> None:
            if not yes or not view.is_attached or view.streaming or view.active is not kept:
                return
            store = self.store
            if store is not None:
                try:
                    for m in view.messages:
                        if m is not kept and m.stored_id is not None:
                            store.delete_message(m.stored_id)
                except StoreError as exc:
                    self.notify(f"Could not delete the other answers: {exc}", severity="error", timeout=5)
            # alt+k from the prompt leaves the focus there, for the next prompt.
            await self._replace_answers(view, [kept], 0, focus=selected)
            self.notify(f"Kept answer {number}; deleted {others} other{'s' if others > 1 else ''}", timeout=3)

        what = f"the other {others}" if others > 1 else "the other one"
        self.app.push_screen(
            ConfirmScreen(f"Keep answer {number} and delete {what}? It cannot be undone."), answered
        )

    async def _replace_answers(
        self, view: Widget, answers: list[AssistantMessage], shown: int, focus: bool
    ) -> AssistantMessage:
        """Put copies of finished `answers` where `view` is: one alone, or several as tabs with
        `shown` shown. Textual cannot move a widget to another parent, hence the copies."""
        copies = [_copy_of(m, self.tui.config.ui.show_thinking) for m in answers]
        replacement: Widget = SamplesView(copies, shown=shown) if len(copies) > 1 else copies[0]
        log = self.query_one("#log", VerticalScroll)
        await log.mount(replacement, before=view)
        for copy, m in zip(copies, answers, strict=True):
            _restore_from(copy, m)
        await view.remove()
        if isinstance(replacement, SamplesView):
            self.save_shown(replacement)
        self.history = self.history_from_log()
        if focus:
            copies[shown].focus()
        return copies[shown]

    def save_shown(self, view: SamplesView) -> None:
        """Store which tab `view` shows: the answer a reopened chat shows, and the model hears."""
        store = self.store
        shown = view.active.stored_id
        if store is None or shown is None:
            return
        try:
            store.show_answer(shown, [m.stored_id for m in view.messages if m.stored_id is not None])
        except StoreError as exc:
            self.notify(f"Could not save the answer shown: {exc}", severity="error", timeout=5)
