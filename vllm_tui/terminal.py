"""Keep every byte that is not Textual's off the terminal.

Textual draws on `sys.__stderr__`. vLLM logs to stdout, and its engine-core and worker processes
inherit file descriptors 1 and 2, as do NCCL, tqdm and C++ warnings. So before anything else starts,
the terminal is duplicated onto a private descriptor (not inherited by children) that Textual alone
writes to, and descriptors 1 and 2 are pointed at the log file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO


class TerminalIsolation:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.tty: TextIO | None = None

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
        self.tty = open(tty_fd, "w", encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
        # Textual writes to __stderr__ and sizes the screen from __stdout__ (shutil.get_terminal_size).
        sys.__stderr__ = self.tty  # type: ignore[misc]
        sys.__stdout__ = self.tty  # type: ignore[misc]
        return True

    def say(self, text: str) -> None:
        """Print a line on the real terminal (after the app has closed)."""
        if self.tty is not None:
            try:
                self.tty.write(text + "\n")
                self.tty.flush()
            except OSError:  # the terminal is gone (SSH link dropped)
                pass
