"""Where vLLM's output goes: a log file, never the terminal Textual draws on.

Two layers. `route_vllm_logging` points vLLM's own loggers — in this process and, through the
environment, in every engine-core and worker process it spawns — at the log file. The app also moves
file descriptors 1 and 2 onto that file (see vllm_tui.terminal), which catches what no logger
handles: progress bars, NCCL, C++ warnings. `LogFollower` tails the file and hands each new line to
a callback, which is how loading stages and a child's real error reach the UI.
"""

from __future__ import annotations

import json
import logging.config
import os
import threading
from collections.abc import Callable
from pathlib import Path


def route_vllm_logging(log_path: Path) -> None:
    """Must run before vLLM is imported (children read the environment when they import it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "vllm": {
                "format": "(%(processName)s pid=%(process)d) %(levelname)s %(asctime)s "
                "[%(filename)s:%(lineno)d] %(message)s",
                "datefmt": "%m-%d %H:%M:%S",
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(log_path),
                "mode": "a",
                "encoding": "utf-8",
                "formatter": "vllm",
            }
        },
        # vllm_tui: the app's own few lines (a stop asked for and where it went), beside vLLM's. It
        # propagates (a handler up the chain, pytest's, sees them too); having a handler of its own,
        # its records never reach logging's last-resort print to stderr.
        "loggers": {
            "vllm": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "vllm_tui": {"handlers": ["file"], "level": "INFO", "propagate": True},
        },
    }
    cfg_path = log_path.with_suffix(".logging.json")
    cfg_path.write_text(json.dumps(config))
    os.environ["VLLM_CONFIGURE_LOGGING"] = "1"
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(cfg_path)
    # Here at once (vLLM applies the file only where it is imported: the engine's processes).
    logging.config.dictConfig(config)


class LogFollower:
    """Reads lines appended to a file from a given offset, on a daemon thread, until stopped.

    Progress bars end their updates with "\\r", so both "\\r" and "\\n" end a line here.
    """

    def __init__(self, path: Path, on_line: Callable[[str], None], start: int | None = None) -> None:
        self.path = path
        self._on_line = on_line
        self.start_offset = start if start is not None else file_size(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vllm-tui-log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        pending = ""
        offset = self.start_offset
        while not self._stop.is_set():
            try:
                with open(self.path, encoding="utf-8", errors="replace") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    offset = fh.tell()
            except FileNotFoundError:
                chunk = ""
            if chunk:
                pending += chunk.replace("\r", "\n")
                *lines, pending = pending.split("\n")
                for line in lines:
                    if line.strip():
                        self._on_line(line)
            self._stop.wait(0.1)

    def lines_since_start(self, limit_bytes: int = 4 << 20) -> list[str]:
        """Everything logged since this follower's start offset (for finding a root cause)."""
        return lines_since(self.path, self.start_offset, limit_bytes)


def lines_since(path: Path, offset: int, limit_bytes: int = 4 << 20) -> list[str]:
    """The file's lines from `offset` on (at most its last `limit_bytes`); none if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            fh.seek(max(offset, file_size(path) - limit_bytes))
            return fh.read().replace("\r", "\n").splitlines()
    except OSError:
        return []


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
