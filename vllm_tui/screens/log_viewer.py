"""The in-app log viewer: vLLM's output, which never reaches the terminal, is read here."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Log, Static

from vllm_tui.widgets.key_footer import KeyFooter

_TAIL_BYTES = 2 << 20
_INDENT = "    "
"""A wrapped line's continuation rows are indented, so one long line still reads as one."""


def wrap_lines(text: str, width: int) -> str:
    """`text` with every line longer than `width` broken into rows that fit, at spaces where it has
    them (a path or a token without one is cut). Textual's `Log` does not wrap, and its fast append
    is why the viewer uses it: vLLM's tracebacks and engine arguments ran off the right edge."""
    if width < 2 * len(_INDENT):
        return text
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        out.extend(
            textwrap.wrap(
                line,
                width,
                subsequent_indent=_INDENT,
                break_on_hyphens=False,
                # The space a row breaks at goes (a continuation row began with it: indented by 5,
                # not 4); a line's own indentation, a traceback's, stays.
                replace_whitespace=False,
            )
            or [line]
        )
    return "\n".join(out)


class LogViewer(Screen[None]):
    HELP_TITLE: ClassVar[str] = "Log"
    """What help calls this screen's keys when opened over it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f5", "app.pop_screen", "Close", id="log.close"),
        Binding("r", "reload", "Reload", id="log.reload"),
        Binding("f", "toggle_follow", "Follow", id="log.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap"),
        Binding("end,G", "bottom", "Bottom", show=False, id="log.bottom"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | escape, q, f5 | Close the log. |
    | r | Reload. |
    | f | Follow new lines on or off. |
    | w | Wrap long lines on or off (on: no line runs off the right edge). |
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
        self._wrap = True
        self._width = 0
        """The width the lines shown were wrapped to (0: not wrapped)."""
        self._partial = ""
        """The last line read, while it has no newline yet: wrapped in two reads, it would be two."""

    def compose(self) -> ComposeResult:
        yield Static(f"Log: {self.path}", id="log-title", markup=False)
        yield Log(highlight=False, auto_scroll=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        # After the first layout, which gives the log the width its lines are wrapped to.
        self.call_after_refresh(self.action_reload)
        self.set_interval(1.0, self._poll)

    def _wrap_width(self) -> int:
        log = self.query_one(Log)
        # The rows' width less the vertical scrollbar's, there or not: a line that fits without it
        # would be cut when the log grows one.
        return max(0, log.size.width - log.styles.scrollbar_size_vertical) if self._wrap else 0

    def on_resize(self, event: events.Resize) -> None:
        # Wrapped to the old width, the rows would be cut (wider) or ragged (narrower): read again.
        if self._wrap and self._wrap_width() != self._width:
            self.action_reload()

    def action_reload(self) -> None:
        self.query_one(Log).clear()
        self._offset = 0
        self._partial = ""
        self._width = self._wrap_width()
        self._read(initial=True)

    def action_toggle_wrap(self) -> None:
        self._wrap = not self._wrap
        self.action_reload()
        self.notify("Long lines wrapped" if self._wrap else "Long lines run on (scroll right to read them)")

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
            if self._width:
                clean, newline, rest = (self._partial + clean).rpartition("\n")
                self._partial = rest
                if not newline:
                    return
                clean = wrap_lines(clean, self._width) + "\n"
            self.app.call_from_thread(self.query_one(Log).write, clean)
