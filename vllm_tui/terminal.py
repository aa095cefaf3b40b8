"""Keep every byte that is not Textual's off the terminal.

Textual draws on `sys.__stderr__`. vLLM logs to stdout, and its engine-core and worker processes
inherit file descriptors 1 and 2, as do NCCL, tqdm and C++ warnings. So before anything else starts,
the terminal is duplicated onto a private descriptor (not inherited by children) that Textual alone
writes to, and descriptors 1 and 2 are pointed at the log file.

That private descriptor is a `TerminalStream`, which outlives the terminal: see its docstring.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path


class TerminalStream(io.TextIOWrapper):
    """The terminal as a text stream that never raises once the terminal is gone.

    When the SSH link drops (or the terminal window closes) every write fails with EIO. Textual
    writes from a thread through a queue of 30 frames: the first failed write ends that thread, the
    queue fills, and the next frame blocks the app's event loop for good, before the SIGHUP that
    follows can be handled, so the engine would keep its GPUs. Here a failed write marks the terminal
    gone, is dropped like everything after it, and `on_gone` is called once (from whichever thread
    wrote) so the app can save and leave without waiting for the signal.
    """

    def __init__(self, fd: int) -> None:
        raw = io.FileIO(fd, "w", closefd=True)
        super().__init__(io.BufferedWriter(raw), encoding="utf-8", errors="replace")
        self.gone = False
        self.on_gone: Callable[[], None] | None = None

    def _lost(self) -> None:
        if self.gone:
            return
        self.gone = True
        if self.on_gone is not None:
            self.on_gone()

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return super().write(text)
            except (OSError, ValueError):  # EIO: the terminal is gone; ValueError: closed at exit
                self._lost()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                super().flush()
            except (OSError, ValueError):
                self._lost()

    def close(self) -> None:
        try:
            super().close()  # closes the descriptor even when the last frames cannot be flushed
        except OSError:
            pass


class TerminalIsolation:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.tty: TerminalStream | None = None

    def enter(self) -> bool:
        """Returns False (and changes nothing) when there is no terminal, e.g. output is piped."""
        source = 2 if os.isatty(2) else 1 if os.isatty(1) else None
        if source is None:
            return False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        tty_fd = os.dup(source)  # os.dup makes it non-inheritable: engine processes never get it
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        self.tty = TerminalStream(tty_fd)
        # Textual writes to __stderr__ and sizes the screen from __stdout__ (shutil.get_terminal_size).
        sys.__stderr__ = self.tty  # type: ignore[misc]
        sys.__stdout__ = self.tty  # type: ignore[misc]
        return True

    def say(self, text: str) -> None:
        """Print a line on the real terminal (after the app has closed)."""
        if self.tty is not None:
            self.tty.write(text + "\n")  # dropped if the terminal is gone (SSH link dropped)
            self.tty.flush()
