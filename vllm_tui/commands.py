"""Every action in one place: the command palette (ctrl+p) and the help screen (F1) read it.

Both are built from the live bindings with the user's keymap applied, so a remapped key shows as
remapped. Bindings of widgets that are not focused (a selected message) are read
from their classes, since they exist only while such a widget is focused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingsMap
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode
    from textual.screen import Screen

    from vllm_tui.app import VllmTuiApp


@dataclass(frozen=True)
class Command:
    section: str
    description: str
    keys: str
    """As shown to the user ("ctrl+n", "F1 ?"), or "" for palette-only commands."""
    action: str
    target: str
    """"app" or "chat": whose action it runs."""
    tooltip: str = ""
    binding_id: str = ""
    """The id to remap it by in config.yaml's keymap."""


def _keys(app: App[Any], bindings: BindingsMap, binding_id: str | None, fallback: Binding) -> str:
    """The keys now bound to `binding_id` (after the keymap), as the footer would show them."""
    keys = [
        key
        for key, found in bindings.key_to_bindings.items()
        if any(b.id == binding_id if binding_id else b is fallback for b in found)
    ]
    shown: list[str] = []
    for key in keys:
        display = app.get_key_display(Binding(key, fallback.action))
        if display not in shown:
            shown.append(display)
    return " ".join(shown)


def _section(
    app: App[Any],
    name: str,
    node_or_class: DOMNode | type,
    target: str,
    hidden: frozenset[str] = frozenset(),
    contexts: dict[str, str] | None = None,
) -> list[Command]:
    """`contexts`: binding id → when the key does that, for keys bound twice ("in the delete
    question"), which otherwise read as a conflict."""
    contexts = contexts or {}
    raw = getattr(node_or_class, "_bindings", None)
    if isinstance(raw, BindingsMap):
        bindings = raw.copy()
    else:
        bindings = BindingsMap(getattr(node_or_class, "BINDINGS", []))
    keymap = getattr(app, "_keymap", {})
    if keymap:
        bindings.apply_keymap(keymap)
    commands: list[Command] = []
    seen: set[str] = set()
    for _key, found in bindings.key_to_bindings.items():
        for binding in found:
            ident = binding.id or binding.action
            if ident in seen or binding.system or not binding.description or binding.action in hidden:
                continue
            seen.add(ident)
            keys = _keys(app, bindings, binding.id, binding)
            action = binding.action.removeprefix("screen.")
            context = contexts.get(binding.id or "")
            description = f"{binding.description} ({context})" if context else binding.description
            binding_id = binding.id or ""
            commands.append(Command(name, description, keys, action, target, binding.tooltip, binding_id))
    return commands


# Palette-only commands (no key of their own).
_EXTRA = (
    Command("Chat", "Ask for 2 samples", "", "samples(2)", "chat", "Send the prompt for 2 answers at once"),
    Command("Chat", "Ask for 4 samples", "", "samples(4)", "chat", "Send the prompt for 4 answers at once"),
    Command("App", "Switch theme…", "", "change_theme", "app", "Pick a theme; the choice is saved"),
    # The chat list's own keys act there only (F4): by name they work from anywhere.
    Command("Chat", "Rename this chat…", "", "chat_list('rename')", "chat", "Give the open chat a title"),
    Command("Chat", "Export this chat…", "", "chat_list('export')", "chat", "Write it as Markdown"),
    Command("Chat", "Search chats…", "", "chat_list('search')", "chat", "Find words in every saved chat"),
)


# Textual's own keys, which mean nothing as a command by name (moving the focus, opening the palette
# from within it, copying a selection that the palette's own input has replaced).
_NOT_COMMANDS = frozenset(
    {"command_palette", "app.focus_next", "app.focus_previous", "screen.copy_text", "copy_text"}
)


def all_commands(app: VllmTuiApp) -> list[Command]:
    from vllm_tui.widgets.message import AssistantMessage, UserMessage
    from vllm_tui.widgets.prompt_input import PromptInput

    # A message's own actions only while one is selected: without one they could only say so.
    selected = isinstance(app.chat.focused, (UserMessage, AssistantMessage))
    commands = [
        *_section(app, "App", app, "app", hidden=_NOT_COMMANDS),
        *_section(app, "Chat", app.chat, "chat", hidden=_NOT_COMMANDS),
        *_section(app, "Prompt", PromptInput, "chat", hidden=_NOT_COMMANDS | {"submit", "newline"}),
        *(_section(app, "Selected message", UserMessage, "chat") if selected else ()),
        *_EXTRA,
    ]
    return commands


def help_rows(app: VllmTuiApp, here: Screen[Any] | None = None, here_name: str = "") -> list[Command]:
    """Every binding with its keys, for the help screen (prompt keys included, as typed). `here`:
    the screen help was opened over, when not the chat: its keys come first, as `here_name` (in
    the settings, f8 deletes the profile, whatever the App's f8 does in the chat)."""
    from vllm_tui.widgets.message import UserMessage
    from vllm_tui.widgets.prompt_input import PromptInput
    from vllm_tui.widgets.samples import SamplesView

    # The screen's ctrl+c "Copy selected text" is the App's priority ctrl+c, listed once as that.
    copy = frozenset({"screen.copy_text", "copy_text"})
    below = []
    if here is not None and here is not app.chat:
        contexts = getattr(here, "HELP_CONTEXT", {})
        below = _section(app, here_name, here, "screen", copy, contexts)
    return [
        *below,
        *_section(app, "App", app, "app"),
        *_section(app, "Chat", app.chat, "chat", copy),
        *_section(app, "Prompt", PromptInput, "chat"),
        *_section(app, "Selected message", UserMessage, "chat"),
        *_section(app, "Answer tabs", SamplesView, "chat"),
    ]


def run_command(app: VllmTuiApp, command: Command) -> None:
    from vllm_tui.screens.settings import SettingsScreen

    namespace: DOMNode = app.chat if command.target == "chat" else app
    if command.target == "chat" or command.action in ("settings", "pick_model"):
        # A chat action, or one that opens only from the chat (App.check_action), from over another
        # screen (the log, help): back to the chat first. Not over the settings: their edits would
        # go without the question Esc asks.
        if any(isinstance(screen, SettingsScreen) for screen in app.screen_stack):
            app.notify("Leave the settings first: ctrl+s applies them, esc leaves.", timeout=4)
            return
        while len(app.screen_stack) > 1 and app.screen is not app.chat:
            app.pop_screen()
    app.run_worker(app.run_action(command.action, namespace), group="command")


class ActionsProvider(Provider):
    """The palette's commands: every key's action by its name, and the few without a key."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: VllmTuiApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, Callable[[], object]]] = []
        for c in all_commands(app):
            label = f"{c.description}" + (f"  ({c.keys})" if c.keys else "")
            help_text = c.tooltip or c.section
            out.append((label, help_text, partial(run_command, app, c)))
        return out

    async def discover(self) -> Hits:
        for label, help_text, callback in self._commands():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
