"""The in-app log viewer: vLLM's output, which never reaches the terminal, is read here."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Log, Static

from vllm_tui.widgets.key_footer import KeyFooter

_TAIL_BYTES = 2 << 20


class LogViewer(Screen[None]):
    HELP_TITLE: ClassVar[str] = "Log"
    """What help calls this screen's keys when opened over it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f5", "app.pop_screen", "Close", id="log.close"),
        Binding("r", "reload", "Reload", id="log.reload"),
        Binding("f", "toggle_follow", "Follow", id="log.follow"),
        Binding("end,G", "bottom", "Bottom", show=False, id="log.bottom"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | escape, q, f5 | Close the log. |
    | r | Reload. |
    | f | Follow new lines on or off. |
    """

    DEFAULT_CSS = """
    LogViewer #log-title { background: $panel; color: $text; padding: 0 1; }
    LogViewer Log { height: 1fr; }
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._offset = 0
        self._follow = True

    def compose(self) -> ComposeResult:
        yield Static(f"Log: {self.path}", id="log-title", markup=False)
        yield Log(highlight=False, auto_scroll=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.action_reload()
        self.set_interval(1.0, self._poll)

    def action_reload(self) -> None:
        self.query_one(Log).clear()
        self._offset = 0
        self._read(initial=True)

    def action_toggle_follow(self) -> None:
        self._follow = not self._follow
        self.notify("Following the log" if self._follow else "Stopped following")

    def action_bottom(self) -> None:
        self.query_one(Log).scroll_end(animate=False)

    def _poll(self) -> None:
        if self._follow:
            self._read(initial=False)

    @work(thread=True, exclusive=True, group="log-read", exit_on_error=False)
    def _read(self, initial: bool) -> None:
        try:
            size = self.path.stat().st_size
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                start = max(0, size - _TAIL_BYTES) if initial else self._offset
                fh.seek(start)
                text = fh.read()
                self._offset = fh.tell()
        except FileNotFoundError:
            text = "(no log yet)\n" if initial else ""
        if text:
            # Escape sequences from progress bars and colours are made harmless before display.
            clean = text.replace("\r", "\n").replace("\x1b", "␛")
            self.app.call_from_thread(self.query_one(Log).write, clean)
