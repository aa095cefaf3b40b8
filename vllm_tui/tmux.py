"""What the app needs from tmux: is it inside one, its escape-time, its paste buffer, passthrough.

No Textual here. The functions that run `tmux` block for a few milliseconds: call them off the UI
thread (the app uses thread workers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

ESCAPE_TIME_LIMIT_MS = 50
"""Above this, tmux holds every Escape that long before passing it on: esc (stop) feels sluggish and
alt+key combinations typed quickly can split."""


def inside_tmux(env: Mapping[str, str] | None = None) -> bool:
    return bool((env if env is not None else os.environ).get("TMUX"))


def _tmux(
    args: list[str], stdin: bytes | None = None, timeout: float = 3.0
) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("tmux")
    if exe is None:
        raise FileNotFoundError("tmux is not on PATH")
    return subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=timeout, check=False)


def escape_time_ms() -> int | None:
    """tmux's `escape-time` server option in milliseconds, or None if it cannot be read."""
    try:
        proc = _tmux(["show-options", "-sv", "escape-time"])
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    try:
        return int(proc.stdout.decode().strip())
    except ValueError:
        return None


def escape_time_advice(ms: int) -> str:
    return (
        f"tmux waits {ms} ms after each Escape before passing it on, so esc (stop) lags. "
        f"Add `set -sg escape-time 10` to ~/.tmux.conf and run `tmux source ~/.tmux.conf`."
    )


def load_buffer(text: str) -> bool:
    """Put `text` in tmux's paste buffer and, with -w (tmux ≥ 3.2), in the outer terminal's clipboard
    through tmux's own OSC 52 (its `set-clipboard` option decides). True if tmux took it."""
    data = text.encode("utf-8")
    for args in (["load-buffer", "-w", "-"], ["load-buffer", "-"]):
        try:
            proc = _tmux(args, stdin=data)
        except (OSError, subprocess.SubprocessError):
            return False
        if proc.returncode == 0:
            return True
    return False


def passthrough(sequence: str) -> str:
    """Wrap an escape sequence so tmux hands it to the outer terminal unchanged (needs tmux's
    `allow-passthrough on` from 3.3; older tmux passes it by default)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
