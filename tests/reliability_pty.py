"""Run the real app (`python tui.py`) under a pseudo-terminal, as a user's terminal or tmux would.

Used by the process reliability tests: each app gets its own XDG dirs (store, pid files, log), keys
are written as the bytes a terminal sends, and the screen is read back from what the app drew.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CTRL_Q = b"\x11"
CTRL_C = b"\x03"
ENTER = b"\r"
ESCAPE = b"\x1b"

_CSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]"
)


class PtyApp:
    def __init__(self, home: Path, *args: str, columns: int = 100, rows: int = 30) -> None:
        self.home = home
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            TERM="xterm-256color",
            COLUMNS=str(columns),
            LINES=str(rows),
        )
        env.pop("TEXTUAL", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tui.py"), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.master: int | None = master
        self._raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        while self.master is not None:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._raw += chunk

    @property
    def raw(self) -> bytes:
        with self._lock:
            return bytes(self._raw)

    @property
    def text(self) -> str:
        """Everything drawn so far, escape sequences removed (text segments stay contiguous)."""
        return _CSI.sub(b"", self.raw).decode("utf-8", errors="replace")

    def send(self, data: bytes) -> None:
        assert self.master is not None
        os.write(self.master, data)

    def type(self, text: str) -> None:
        """Type text, then give the app a moment, so the Enter that follows is a key of its own."""
        self.send(text.encode())
        time.sleep(0.5)

    def hang_up(self, signal_after: float = 0.0) -> None:
        """What an SSH link dropping does: the terminal goes away and the app gets SIGHUP. The signal
        can come later than the terminal's end (it travels through the login shell): meanwhile every
        frame the app draws fails to reach the terminal."""
        master, self.master = self.master, None
        if master is not None:
            os.close(master)
        time.sleep(signal_after)
        os.kill(self.pid, signal.SIGHUP)

    def wait_for_text(self, needle: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the app exited ({self.proc.returncode}) before showing {needle!r}:\n{self.text[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not shown within {timeout} s:\n{self.text[-3000:]}")
            time.sleep(0.2)

    def wait_exit(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(30)

    def close(self) -> None:
        self.kill()
        master, self.master = self.master, None
        if master is not None:
            os.close(master)

    # --- what the app left on disk ------------------------------------------------------------

    @property
    def store_path(self) -> Path:
        return self.home / "data" / "vllm-tui" / "chats.sqlite3"

    @property
    def pid_file(self) -> Path:
        return self.home / "state" / "vllm-tui" / "run" / f"app-{self.pid}.json"

    def pid_record(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return data

    def engine_records(self) -> list[dict[str, Any]]:
        data = self.pid_record()
        return list(data["engine"]) if data else []


def wait(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
