"""The chat list: open, start, rename, delete, search and export conversations.

A modal over the chat screen. It reads and writes through `ChatStore`; those calls are single small
statements (the store waits at most its busy timeout for another process), so they run on the UI
loop, except search, which scans the whole history and runs in a worker while the user types.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from vllm_tui.recent import load_export_dir, remember_export_dir
from vllm_tui.store import Chat, SearchHit, StoreError
from vllm_tui.store.export import resolve_export_path
from vllm_tui.widgets.key_footer import KeyFooter
from vllm_tui.widgets.option_list import OptionListNoWrap
from vllm_tui.widgets.ordered_keys import OrderedInput

if TYPE_CHECKING:
    from vllm_tui.store import ChatStore

Mode = Literal["list", "search", "rename", "export", "confirm"]


@dataclass(frozen=True)
class ChatListResult:
    """What the user chose. "new": start a fresh chat (created in the store on its first message)."""

    action: Literal["open", "new", "close"]
    chat_id: int | None = None
    message_id: int | None = None
    """For a search hit: the message to scroll to."""
    deleted: tuple[int, ...] = ()
    """Chats deleted while the list was open, so the caller can drop one it is showing."""


def _when(ts: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    day = time.strftime("%Y-%m-%d", time.localtime(ts))
    if day == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("today %H:%M", time.localtime(ts))
    if day == time.strftime("%Y-%m-%d", time.localtime(now - 86400)):
        return time.strftime("yesterday %H:%M", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


class ChatOptions(OptionListNoWrap, inherit_bindings=False):
    """OptionList without its own enter binding, so the screen's remappable "open" gets the key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "cursor_down", "Down", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("pagedown", "page_down", "Page Down", show=False),
        Binding("pageup", "page_up", "Page Up", show=False),
    ]


def _why_not_made(folder: Path) -> str | None:
    """Why `folder` cannot be made, where it cannot: what stands in the way above it."""
    for ancestor in folder.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                return f"{ancestor} is a file, not a folder"
            if not os.access(ancestor, os.W_OK | os.X_OK):
                return f"{ancestor} is not writable"
            return None
    return None


class EditInput(OrderedInput):
    """The rename and export line: the footer says what enter does there ("⏎ Rename", "⏎ Export").

    Input's own enter binding is hidden from the footer, which then showed only "esc Cancel"."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "done('rename')", "Rename", id="chat_list.rename_done"),
        Binding("enter", "done('export')", "Export", id="chat_list.export_done"),
    ]

    async def action_done(self, mode: str) -> None:
        await self.action_submit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "done":
            return getattr(self.screen, "mode", None) == parameters[0]
        return super().check_action(action, parameters)


class SearchInput(OrderedInput):
    """The search line: enter goes to the results, and the footer says so."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Results", id="chat_list.search_done"),
    ]


class ChatListScreen(ModalScreen[ChatListResult]):
    """Every chat in the store, newest first."""

    HELP_TITLE: ClassVar[str] = "Chats"
    """What help calls this screen's keys when opened over it."""
    HELP_CONTEXT: ClassVar[dict[str, str]] = {
        "chat_list.new": "from the list",
        "chat_list.confirm_delete": "in a yes/no question",
        "chat_list.cancel_delete": "in a yes/no question",
        "chat_list.focus_results": "while searching",
        "chat_list.cancel": "searching, renaming, exporting",
        "chat_list.close": "from the list",
    }
    """For help: when a key bound twice (n, esc) does which."""

    CSS_PATH = "chat_list.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="chat_list.open"),
        Binding("n", "new", "New chat", id="chat_list.new"),
        Binding("r", "rename", "Rename", id="chat_list.rename"),
        Binding("d", "delete", "Delete", id="chat_list.delete"),
        Binding("slash", "search", "Search", id="chat_list.search"),
        Binding("e", "export", "Export", id="chat_list.export"),
        # The ids keep their old names: a user's keymap may refer to them.
        Binding("y", "confirm_delete", "Yes", id="chat_list.confirm_delete"),
        Binding("n", "cancel_delete", "No", id="chat_list.cancel_delete"),
        Binding("down", "focus_results", "Results", show=False, id="chat_list.focus_results"),
        Binding("escape", "cancel", "Cancel", id="chat_list.cancel"),
        Binding("escape", "close", "Close", id="chat_list.close"),
        # A dialog: the App's own f1 does not reach it.
        Binding("f1", "app.help", "Help", show=False, id="chat_list.help"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter | Open the highlighted chat (or the chat of a search hit). |
    | n | Start a new chat. |
    | r | Rename the highlighted chat (a blank name goes back to the first prompt). |
    | d | Delete the highlighted chat, after y to confirm (n or escape keeps it). |
    | / | Search every message (thinking included) and the titles you gave chats. |
    | e | Export the highlighted chat as Markdown (the path is editable; y confirms replacing a file). |
    | escape | Leave search, renaming or exporting; otherwise close the list. |
    """

    def __init__(
        self,
        store: ChatStore,
        current_chat_id: int | None = None,
        on_delete: Callable[[int], None] | None = None,
        start: Literal["", "rename", "export", "search"] = "",
    ) -> None:
        super().__init__()
        self.store = store
        self.current_chat_id = current_chat_id
        self._start = start
        """An action to begin with (the palette's "Export this chat…"), on the open chat."""
        self._on_delete = on_delete
        """Told at once of each chat deleted (the chat screen stops an answer streaming into it)."""
        self.mode: Mode = "list"
        self._chats: dict[str, Chat] = {}
        self._hits: dict[str, SearchHit] = {}
        self._deleted: list[int] = []
        self._query = ""
        self._before_search: int | None = None
        """The chat highlighted when search began: highlighted again when it ends."""
        self._on_yes: Callable[[], None] | None = None
        """What y does while a question is shown (mode "confirm")."""
        self._on_no: Callable[[], None] | None = None
        """What n does then, besides closing the question."""

    def compose(self) -> ComposeResult:
        with Vertical(id="chat-list-dialog") as dialog:
            dialog.border_title = "Chats"
            yield SearchInput(placeholder="Search all messages and chat titles…", id="chat-list-search")
            yield ChatOptions(id="chat-list-options")
            with Horizontal(id="chat-list-edit-row"):
                yield Label("", id="chat-list-edit-label")
                yield EditInput(id="chat-list-edit")
            yield Static("", id="chat-list-confirm")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.reload(select=self.current_chat_id)
        self.options.focus()
        if self._start:
            self.call_later(self.run_action, self._start)

    # --- widgets and state ----------------------------------------------------------------------

    @property
    def options(self) -> ChatOptions:
        return self.query_one("#chat-list-options", ChatOptions)

    @property
    def search_input(self) -> Input:
        return self.query_one("#chat-list-search", Input)

    @property
    def edit_input(self) -> Input:
        return self.query_one("#chat-list-edit", Input)

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.set_class(mode == "search", "-search")
        self.set_class(mode in ("rename", "export"), "-editing")
        self.set_class(mode == "confirm", "-confirm")
        self.refresh_bindings()

    @property
    def highlighted_chat(self) -> Chat | None:
        option = self.options.highlighted_option
        if option is None or option.id is None:
            return None
        if self.mode == "search":
            return None
        return self._chats.get(option.id)

    @property
    def highlighted_hit(self) -> SearchHit | None:
        option = self.options.highlighted_option
        if option is None or option.id is None or self.mode != "search":
            return None
        return self._hits.get(option.id)

    def _chat_prompt(self, chat: Chat) -> Content:
        marker = "● " if chat.id == self.current_chat_id else "  "
        count = f"{chat.message_count} message{'s' if chat.message_count != 1 else ''}"
        head = Content(marker).append(Content(chat.display_title).stylize("bold"))
        meta = Content(f"\n  {count} · {_when(chat.updated)}").stylize("dim")
        return head.append(meta)

    def _hit_prompt(self, hit: SearchHit) -> Content:
        snippet = Content(hit.snippet)
        for start, end in hit.highlights:
            snippet = snippet.stylize("bold reverse", start, end)
        if hit.message_id is None:  # the chat's title matched: the title is the snippet
            return snippet.stylize("bold").append(Content(" · chat title").stylize("dim"))
        who = "You" if hit.role == "user" else "Assistant"
        head = Content(hit.chat_title).stylize("bold").append(Content(f" · {who}").stylize("dim"))
        return head.append("\n").append(snippet)

    def reload(self, select: int | None = None) -> None:
        """Re-read the chats; keep the highlight on `select` or near where it was."""
        previous = self.options.highlighted or 0
        try:
            chats = self.store.list_chats()
        except StoreError as exc:
            self.notify(exc.advice, title=exc.title, severity="error")
            return
        self._chats = {f"chat-{c.id}": c for c in chats}
        options = self.options
        options.clear_options()
        if not chats:
            options.add_option(Option("No chats yet: press n to start one", disabled=True))
            return
        options.add_options(Option(self._chat_prompt(c), id=key) for key, c in self._chats.items())
        index = min(previous, len(chats) - 1)
        if select is not None and f"chat-{select}" in self._chats:
            index = options.get_option_index(f"chat-{select}")
        options.highlighted = index

    def _show_hits(self, query: str, hits: list[SearchHit]) -> None:
        if self.mode != "search" or query != self._query:
            return  # the user typed on, or left search, while this ran
        self._hits = {_hit_key(h): h for h in hits}
        options = self.options
        options.clear_options()
        if not hits:
            empty = not query.strip()
            text = "Type to search every message and chat title" if empty else f"Nothing matches {query!r}"
            options.add_option(Option(text, disabled=True))
            return
        options.add_options(Option(self._hit_prompt(h), id=key) for key, h in self._hits.items())
        options.highlighted = 0

    # --- search -------------------------------------------------------------------------------

    @on(Input.Changed, "#chat-list-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._query = event.value
        self._run_search(event.value)

    @on(Input.Submitted, "#chat-list-search")
    def _search_submitted(self) -> None:
        self.action_focus_results()

    @work(thread=True, exclusive=True, group="chat_list.search", exit_on_error=False)
    def _run_search(self, query: str) -> None:
        hits = self.store.search(query)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_hits, query, hits)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, StoreError):
                self.notify(error.advice, title=error.title, severity="error")
            else:
                self.notify(str(error), title="Search failed", severity="error")

    # --- editing (rename, export) ---------------------------------------------------------------

    def _start_edit(self, mode: Literal["rename", "export"], label: str, value: str) -> None:
        self._set_mode(mode)
        self.query_one("#chat-list-edit-label", Label).update(label)
        edit = self.edit_input
        edit.value = value
        edit.focus()
        edit.action_end()

    @on(Input.Submitted, "#chat-list-edit")
    def _edit_submitted(self, event: Input.Submitted) -> None:
        chat = self.highlighted_chat
        mode = self.mode
        if chat is None:
            self._end_edit()
            return
        target = None
        if mode == "export":
            target = resolve_export_path(chat, event.value.strip(), load_export_dir())
            if target.name.startswith(".") and target.suffix == "":  # ".md": no name before it
                # The line stays open with what was typed, to be corrected rather than retyped.
                self.notify(
                    f"{target.name} is not a file name: give one (chat.md), or a folder.",
                    title="Not exported",
                    severity="error",
                )
                return
        self._end_edit()
        try:
            if mode == "rename":
                self.store.rename_chat(chat.id, event.value)
                self.reload(select=chat.id)
            elif target is not None:
                # Back to the line with the typed path, to be corrected rather than retyped.
                retype = partial(self._start_export, event.value.strip())
                if not target.parent.is_dir():
                    why = _why_not_made(target.parent)
                    if why is not None:
                        # Asking to create it would only end in "[Errno 2]" with the path gone.
                        self.notify(
                            f"{target.parent} cannot be made: {why}.",
                            title="Not exported",
                            severity="error",
                        )
                        retype()
                        return
                    # A mistyped folder would be made, and then remembered for the next export.
                    question = Content.assemble((str(target.parent), "bold"), " does not exist. Create it?")
                    self._ask(
                        question, "create", "change the path", partial(self._export, chat, target), retype
                    )
                    return
                if target.exists():
                    question = Content.assemble((str(target), "bold"), " exists. Replace it?")
                    self._ask(question, "replace", "keep it", partial(self._export, chat, target), retype)
                    return
                self._export(chat, target)
        except StoreError as exc:
            self.notify(exc.advice, title=exc.title, severity="error")

    def _export(self, chat: Chat, target: Path) -> None:
        try:
            path = self.store.export_markdown(chat.id, target)
        except StoreError as exc:
            self.notify(exc.advice, title=exc.title, severity="error")
            # Back to the line with the path, to be corrected rather than retyped.
            self._start_export(str(target))
            return
        remember_export_dir(path.parent)
        self.notify(str(path), title="Chat exported")

    def _ask(
        self,
        question: Content,
        yes_word: str,
        no_word: str,
        yes: Callable[[], None],
        no: Callable[[], None] | None = None,
    ) -> None:
        """Shows `question` with what y and n do; y runs `yes`, n runs `no` (if given), escape does
        nothing."""
        self._on_yes, self._on_no = yes, no
        keys = Content.assemble("  ", ("y", "bold"), f" {yes_word}  ", ("n", "bold"), f" {no_word}")
        self.query_one("#chat-list-confirm", Static).update(question + keys)
        self._set_mode("confirm")

    def _end_edit(self) -> None:
        self._set_mode("list")
        self.options.focus()

    # --- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        mode = self.mode
        # By id rather than query_one: the footer asks before the widgets are mounted.
        typing_query = self.focused is not None and self.focused.id == "chat-list-search"
        if action in ("new", "rename", "delete", "export"):
            return mode == "list"
        if action in ("confirm_delete", "cancel_delete"):
            return mode == "confirm"
        if action == "open":
            return mode in ("list", "search")
        if action == "search":
            return mode == "list" or (mode == "search" and not typing_query)
        if action == "close":
            return mode == "list"
        if action == "cancel":
            return mode != "list"
        if action == "focus_results":
            return mode == "search" and typing_query
        return True

    def action_open(self) -> None:
        if self.mode == "search":
            hit = self.highlighted_hit
            if hit is not None:
                self.dismiss(self._result("open", hit.chat_id, hit.message_id))
            return
        chat = self.highlighted_chat
        if chat is not None:
            self.dismiss(self._result("open", chat.id))

    @on(OptionList.OptionSelected, "#chat-list-options")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.options.highlighted = event.option_index
        self.action_open()

    def action_new(self) -> None:
        self.dismiss(self._result("new"))

    def action_rename(self) -> None:
        chat = self.highlighted_chat
        if chat is not None:
            self._start_edit("rename", "Rename to:", chat.title)

    def _start_export(self, path: str) -> None:
        self._start_edit("export", "Export to:", path)

    def action_export(self) -> None:
        chat = self.highlighted_chat
        if chat is not None:
            # The folder of the last export: a user exporting chats keeps them together, and the
            # directory the app was started in is rarely where they belong.
            self._start_export(str(resolve_export_path(chat, load_export_dir())))

    def action_delete(self) -> None:
        chat = self.highlighted_chat
        if chat is None:
            return
        count = f"{chat.message_count} message{'s' if chat.message_count != 1 else ''}"
        question = Content.assemble("Delete ", (chat.display_title, "bold"), f" and its {count}?")
        self._ask(question, "delete", "keep", partial(self._delete, chat))

    def _delete(self, chat: Chat) -> None:
        try:
            if self.store.delete_chat(chat.id):
                self._deleted.append(chat.id)
                if self._on_delete is not None:
                    self._on_delete(chat.id)
        except StoreError as exc:
            self.notify(exc.advice, title=exc.title, severity="error")
        self.reload()

    def action_confirm_delete(self) -> None:
        """y: what the question asked (delete a chat, replace a file)."""
        yes, self._on_yes, self._on_no = self._on_yes, None, None
        self._set_mode("list")
        if yes is not None:
            yes()

    def action_cancel_delete(self) -> None:
        no, self._on_yes, self._on_no = self._on_no, None, None
        self._set_mode("list")
        if no is not None:
            no()

    def action_search(self) -> None:
        if self.mode == "list":
            chat = self.highlighted_chat
            self._before_search = chat.id if chat is not None else None
            self._set_mode("search")
            self._query = self.search_input.value
            self._run_search(self._query)
        self.search_input.focus()

    def action_focus_results(self) -> None:
        if self._hits:
            self.options.focus()

    def action_close(self) -> None:
        self.dismiss(self._result("close"))

    def action_cancel(self) -> None:
        """Leave search, renaming, exporting or the delete question, back to the plain list."""
        leaving_search = self.mode == "search"
        self._on_yes = self._on_no = None
        self._set_mode("list")
        self.options.focus()
        if leaving_search:
            self._hits = {}
            self.search_input.value = ""
            self.reload(select=self._before_search)  # back on the chat highlighted before

    def _result(
        self,
        action: Literal["open", "new", "close"],
        chat_id: int | None = None,
        message_id: int | None = None,
    ) -> ChatListResult:
        return ChatListResult(action, chat_id, message_id, tuple(self._deleted))


def _hit_key(hit: SearchHit) -> str:
    return f"hit-{hit.message_id}" if hit.message_id is not None else f"title-{hit.chat_id}"
