"""Help (F1, ?), the command palette's actions and the keymap, without an engine (a missing model
fails its preflight at once and the app lives on)."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets._footer import FooterKey

from tests.support import make_engineless_app, wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.commands import all_commands, help_rows
from vllm_tui.config import AppConfig, load_config
from vllm_tui.screens.help import HelpScreen
from vllm_tui.widgets.prompt_input import PromptInput


def make_app(tmp_path: Path, config: AppConfig | None = None, config_path: Path | None = None) -> VllmTuiApp:
    app: VllmTuiApp = make_engineless_app(tmp_path, config, config_path=config_path)
    return app


def help_text(app: VllmTuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    return "\n".join(f"{r.section} {r.keys} {r.description} {r.binding_id}" for r in screen.rows)


async def test_f1_and_question_mark_open_help_but_not_from_the_prompt(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = app.query_one(PromptInput)
        assert app.focused is prompt
        await pilot.press("question_mark")
        assert prompt.text == "?" and not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = help_text(app)
        for needle in ("Regenerate", "alt+r", "Continue", "Copy", "chat.regenerate", "palette"):
            assert needle in text, needle
        ctrl_c = [r.description for r in help_rows(app) if "^c" in r.keys.split()]
        assert ctrl_c == ["Copy / stop / quit"], "one key, one row: not also the screen's copy"
        # Every row has an id to remap it by, Textual's own tab keys too (they had none).
        assert [r.keys for r in help_rows(app) if not r.binding_id] == []
        ctrl_p = [r.description for r in help_rows(app) if "^p" in r.keys.split()]
        assert ctrl_p == ["Commands"], "named like the other keys, not Textual's 'palette'"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        app.query_one("#log").focus()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help from ?")


async def test_keymap_from_config_remaps_and_help_shows_it(tmp_path: Path) -> None:
    cfg = AppConfig()
    cfg.keymap = {"chat.regenerate": "f6", "app.help": "f12"}
    app = make_app(tmp_path, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, HelpScreen)  # f1 was remapped away
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on f12")
        rows = {r.binding_id: r.keys for r in help_rows(app)}
        assert rows["chat.regenerate"] == "f6" and rows["app.help"] == "f12"
        assert "f6" in help_text(app)


async def test_palette_lists_every_action(tmp_path: Path) -> None:
    from vllm_tui.widgets.message import AssistantMessage, UserMessage
    from vllm_tui.widgets.samples import SamplesView

    message_only = ("Copy", "Edit", "Continue", "Delete")
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        commands = {c.description: c for c in all_commands(app)}
        for name in (
            "New chat",
            "Settings",
            "Model",
            "Log",
            "Chats",
            "Ask for 3 samples",
            "Ask for 2 samples",
            "Keep answer shown",
            "Switch theme…",
            "Help",
            "Sidebar",
            "Thinking",
        ):
            assert name in commands, name
        # Not Textual's focus keys, nor a message's actions while no message is selected (they
        # could only say "select a message first").
        assert not {"Focus Next", "Focus Previous", "Copy selected text", *message_only} & set(commands)
        # A prompt's answer tabs add no entry of their own: the tabs' enter "Keep" is the chat's
        # "Keep answer shown" (alt+k), listed once; ←/→ need a selected answer.
        group = SamplesView([AssistantMessage("m", "r", sample=i) for i in range(2)])
        await app.chat.query_one("#log").mount(group)
        await pilot.pause()
        descriptions = [c.description for c in all_commands(app)]
        assert descriptions.count("Keep answer shown") == 1 and "Keep" not in descriptions
        message = UserMessage("a question")
        await app.chat.query_one("#log").mount(message)
        message.focus()
        await pilot.pause()
        commands = {c.description: c for c in all_commands(app)}
        for name in message_only:
            assert name in commands, name
        assert commands["Regenerate"].keys in ("alt+r", "r")
        # Textual's own entries, less those the app lists itself: one theme entry, one Quit (the
        # app's, which ends the engine first), and no "Keys" panel that Esc cannot close.
        system = [c.title for c in app.get_system_commands(app.screen)]
        assert "Screenshot" in system
        assert not {"Theme", "Quit", "Keys"} & set(system), system


async def test_palette_runs_a_chat_action(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.chat.query_one("#sidebar").display = True
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Sidebar")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.chat.query_one("#sidebar").display, what="sidebar hidden")


async def test_theme_choice_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    app = make_app(tmp_path, config_path=path)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "vllm-dark"
        assert {"high-contrast", "ansi-16", "vllm-light"} <= set(app.available_themes)
        app.theme = "high-contrast"
        await wait_until(pilot, lambda: path.exists(), what="config saved")
    assert yaml.safe_load(path.read_text())["ui"]["theme"] == "high-contrast"
    again = make_app(tmp_path, load_config(path).config, path)
    async with again.run_test(size=(100, 30)):
        assert again.theme == "high-contrast"


async def test_keys_typed_right_behind_a_screen_key_reach_that_screen(tmp_path: Path) -> None:
    from textual import events

    from vllm_tui.screens.settings import SettingsScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        # One burst, as tmux send-keys delivers it: every key is queued before the first is handled.
        for key, char in (("f2", None), ("tab", "\t"), ("x", "x")):
            app.post_message(events.Key(key, char))
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
        await pilot.pause(0.3)
        assert app.chat.query_one(PromptInput).text == ""  # it used to read "x"
        # Settings and the model picker open from the chat only: F2 over the settings stacked a second
        # copy of them, and F3 a picker whose choice the settings below would then overwrite.
        await pilot.press("f2", "f3")
        await pilot.pause(0.3)
        assert [type(s).__name__ for s in app.screen_stack] == ["ChatScreen", "SettingsScreen"]


async def test_the_theme_list_marks_the_theme_in_use(tmp_path: Path) -> None:
    from textual.command import CommandPalette
    from textual.widgets import OptionList

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_change_theme()
        await wait_until(pilot, lambda: bool(app.screen.query(OptionList)), what="theme list")
        assert isinstance(app.screen, CommandPalette)
        options = app.screen.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count > 3, what="themes listed")
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert shown[0] == "vllm-dark  ● current"
        assert sum("current" in s for s in shown) == 1


async def test_help_over_another_screen_lists_that_screen_s_keys_first(tmp_path: Path) -> None:
    from vllm_tui.screens.chat_list import ChatListScreen
    from vllm_tui.screens.help import HelpScreen
    from vllm_tui.screens.model_picker import ModelPickerScreen
    from vllm_tui.screens.settings import SettingsScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help over settings")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        first = help_screen.rows[0]
        # In the settings f8 deletes the profile (the App's f8, for the chat, halves max tokens).
        assert first.section == "Settings (this screen)"
        assert any(r.keys == "f8" and r.description == "Delete profile" for r in help_screen.rows[:12])
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="help closed")
        await pilot.press("escape", "y")  # its model is missing (a field to fix): esc asks first
        await wait_until(pilot, lambda: app.screen is app.chat, what="back to the chat")
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatListScreen), what="chat list")
        await pilot.press("f1")  # a dialog: the App's f1 did not reach it
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help over the list")
        rows = app.screen.rows  # type: ignore[attr-defined]
        assert rows[0].section == "Chats (this screen)"
        # n and esc are bound twice there: each row says when it applies.
        own = {r.description for r in rows if r.section == "Chats (this screen)" and r.keys in ("n", "esc")}
        assert own == {
            "New chat (from the list)",
            "No (in a yes/no question)",
            "Cancel (searching, renaming, exporting)",
            "Close (from the list)",
        }
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatListScreen), what="help closed")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.chat, what="the list closed")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPickerScreen), what="model picker")
        await pilot.pause()
        footer = [f"{k.key_display} {k.description}" for k in app.screen.query(FooterKey)]
        assert footer[:2] == ["⏎ Load", "esc Cancel"], footer
        await pilot.press("f1")  # a dialog too
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help over the picker")
        assert app.screen.rows[0].section == "Model picker (this screen)"  # type: ignore[attr-defined]


async def test_the_palette_renames_exports_and_searches_the_open_chat(tmp_path: Path) -> None:
    """The chat list's keys act only there (F4); by name, from the palette, they work from the chat
    (typing "export" found nothing)."""
    from vllm_tui.screens.chat_list import ChatListScreen
    from vllm_tui.store import ChatStore

    store = ChatStore.open(tmp_path / "chats.sqlite3")
    older, newer = store.create_chat(), store.create_chat()
    store.add_user_message(older.id, "about tides")
    store.add_user_message(newer.id, "about volcanoes")
    store.close()
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.chat_id == newer.id, what="the latest chat reopened")
        await app.chat.load_chat(None)  # a new chat: nothing of it to export yet
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Export this")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("saved yet" in str(n.message) for n in app._notifications))

        await app.chat.load_chat(older.id)  # not the newest: the one open is the one exported
        starts = (("Export this", "export"), ("Rename this", "rename"), ("Search chats", "search"))
        for command, mode in starts:
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*command)
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ChatListScreen), what=command)
            screen = app.screen
            assert isinstance(screen, ChatListScreen)
            await wait_until(pilot, lambda s=screen, m=mode: s.mode == m, what=mode)
            if mode == "export":
                assert screen.edit_input.value.endswith(f"chat-{older.id}-about-tides.md")
            if mode == "rename":
                assert screen.edit_input.value == "about tides"
            await pilot.press("escape", "escape")
            await wait_until(pilot, lambda: app.screen is app.chat, what="back to the chat")
