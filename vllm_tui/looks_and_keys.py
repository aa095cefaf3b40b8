"""The App's themes, keymap, help and tmux hint (a mixin, to keep app.py to the app's spine)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits
from textual.theme import Theme, ThemeProvider

if TYPE_CHECKING:
    from vllm_tui.config import AppConfig

# The built-in default of UiSettings.theme: a config that still says this never chose a theme.
_UNCHOSEN = "textual-dark"


class LooksAndKeys(App[None]):
    config: AppConfig

    if TYPE_CHECKING:  # ProfileActions has it; a stub here would come first in the MRO

        def _save_config(self, done: str) -> None: ...

    def setup_looks_and_keys(self) -> None:
        """At start: register the theme files, apply the saved theme and the keymap, and check
        tmux's escape-time (off the UI thread)."""
        from vllm_tui.themes import DEFAULT_THEME, load_themes

        loaded = load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        for problem in loaded.problems:
            self.notify(problem, severity="warning", timeout=8)
        wanted = self.config.ui.theme
        if wanted == _UNCHOSEN:
            wanted = DEFAULT_THEME  # never chosen: ours (Textual downsamples it on 16-colour terminals)
        if wanted not in self.available_themes:
            self.notify(f"Theme {wanted!r} is not installed; using {DEFAULT_THEME}.", severity="warning")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else _UNCHOSEN
        self.theme = wanted
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.run_worker(self._check_tmux, thread=True, group="tmux-hint", exit_on_error=False)

    def _theme_changed(self, theme: Theme) -> None:
        """Picked in the palette (or set otherwise): remember it in config.yaml."""
        from vllm_tui.themes import DEFAULT_THEME

        if theme.name == self.config.ui.theme or (
            self.config.ui.theme == _UNCHOSEN and theme.name == DEFAULT_THEME
        ):
            return
        self.config.ui.theme = theme.name
        self._save_config(f"Theme {theme.name} saved")

    def search_themes(self) -> None:
        """Textual's theme list, with the theme in use marked (its own list does not say which)."""
        from textual.command import CommandPalette

        self.push_screen(CommandPalette(providers=[_MarkedThemes], placeholder="Search for themes…"))

    def action_help(self) -> None:
        from vllm_tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(below=self.screen))

    # --- tmux ---------------------------------------------------------------------------------

    def _check_tmux(self) -> None:
        """In a thread: inside tmux with a long escape-time, say once how to shorten it."""
        from vllm_tui import tmux

        if not tmux.inside_tmux():
            return
        ms = tmux.escape_time_ms()
        if ms is None or ms <= tmux.ESCAPE_TIME_LIMIT_MS:
            return
        marker = _hint_marker()
        try:
            if marker.read_text().strip() == str(ms):
                return  # shown before for this very setting
        except OSError:
            pass
        self.call_from_thread(self.notify, tmux.escape_time_advice(ms), title="tmux", timeout=15)
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(ms))
        except OSError:
            pass


def _hint_marker() -> Path:
    from vllm_tui.config import state_dir

    return state_dir() / "tmux-escape-time-hint"


class _MarkedThemes(ThemeProvider):
    """Each theme by name; the one in use says so, and is listed first."""

    async def discover(self) -> Hits:
        current = self.app.theme
        commands = sorted(self.commands, key=lambda command: command[0] != current)
        for name, callback in commands:
            marked = f"{name}  ● current" if name == current else name
            yield DiscoveryHit(marked, callback, text=name)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        current = self.app.theme
        for name, callback in self.commands:
            if (match := matcher.match(name)) > 0:
                shown = matcher.highlight(name)
                if name == current:
                    shown = shown.append("  ● current")
                yield Hit(match, shown, callback, text=name)
