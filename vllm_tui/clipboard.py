"""Copy text to the user's clipboard from a terminal app that may run over SSH inside tmux.

Three routes, all taken (each is harmless when another already worked):
- OSC 52 through Textual's driver (`App.copy_to_clipboard`): the terminal sets its clipboard, even
  across SSH. Inside tmux a bare OSC 52 is only honoured with `set-clipboard on`, so it is also sent
  wrapped in tmux's passthrough (`allow-passthrough on`), and
- `tmux load-buffer -w -`: tmux's paste buffer, and the outer clipboard through tmux's own OSC 52
  under its default `set-clipboard external`;
- a file in the state dir, so the text can always be reached (`cat`, scp) when a terminal ignores
  OSC 52 — the toast says where.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vllm_tui import tmux
from vllm_tui.config import state_dir

if TYPE_CHECKING:
    from textual.app import App

OSC52_LIMIT = 100_000
"""Bytes of base64 many terminals accept in one OSC 52 (xterm, tmux); larger copies use the file."""


@dataclass(frozen=True)
class CopyResult:
    chars: int
    routes: tuple[str, ...]
    """"osc52", "tmux-passthrough" — sent to the terminal; the tmux buffer is reported separately."""
    path: Path | None
    """The file holding the text, or None if it could not be written."""

    def describe(self) -> str:
        how = " + ".join(self.routes) if self.routes else "no terminal clipboard"
        where = f" · also in {self.path}" if self.path is not None else ""
        return f"Copied {self.chars:,} characters ({how}){where}"


def clipboard_file() -> Path:
    return state_dir() / "clipboard.txt"


def osc52(text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"\x1b]52;c;{encoded}\a"


def save_to_file(text: str, path: Path | None = None) -> Path:
    """Write the copied text (mode 0600: it may be private) and return where."""
    path = path or clipboard_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def copy(
    app: App[object],
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    done: Callable[[CopyResult], None] | None = None,
) -> CopyResult:
    """Send `text` to the clipboard by every route that applies; returns at once. The tmux buffer is
    loaded in a thread worker, after which `done` (if given) is called on the UI thread."""
    env = env if env is not None else os.environ
    routes: list[str] = []
    fits = len(text.encode("utf-8")) * 4 // 3 <= OSC52_LIMIT
    if fits:
        # Textual writes the bare OSC 52 through its driver and keeps the text as `app.clipboard`.
        app.copy_to_clipboard(text)
        driver = app._driver
        if driver is not None:
            routes.append("OSC 52")
            if tmux.inside_tmux(env):
                driver.write(tmux.passthrough(osc52(text)))
                routes.append("tmux passthrough")
    else:
        app._clipboard = text  # the in-app clipboard (paste into the prompt) still gets it
    try:
        path: Path | None = save_to_file(text)
    except OSError:
        path = None
    result = CopyResult(len(text), tuple(routes), path)
    if tmux.inside_tmux(env):

        def load() -> None:
            ok = tmux.load_buffer(text)
            final = CopyResult(result.chars, (*result.routes, "tmux buffer") if ok else result.routes, path)
            if done is not None:
                app.call_from_thread(done, final)

        app.run_worker(load, thread=True, group="clipboard", exit_on_error=False)
    elif done is not None:
        done(result)
    return result


def last_code_block(markdown: str) -> str | None:
    """The body of the last fenced code block (``` or ~~~) in `markdown`; an unclosed fence at the
    end (an answer cut off mid-block) counts up to the end."""
    blocks: list[str] = []
    fence: str | None = None
    body: list[str] = []
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if fence is None:
            if stripped.startswith(("```", "~~~")):
                marker = stripped[0]
                fence = marker * (len(stripped) - len(stripped.lstrip(marker)))
                body = []
        elif stripped.startswith(fence) and not stripped.strip(fence[0]).strip():
            blocks.append("\n".join(body))
            fence = None
        else:
            body.append(line)
    if fence is not None and body:
        blocks.append("\n".join(body))
    return blocks[-1] if blocks else None
