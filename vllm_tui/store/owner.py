"""Which process owns a streaming answer, and whether that process is still alive.

A message left in state "streaming" belongs to a live app (another terminal on the same store) or to
one that died mid-answer. The pid alone is not enough: pids are reused, so on Linux the process start
time from /proc is recorded with it and must match too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start: str
    """Start time in clock ticks since boot (Linux /proc/<pid>/stat field 22); "" where unknown."""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ")".
    close = raw.rfind(")")
    if close < 0:
        return None
    return raw[close + 2 :].split()


def process_start(pid: int) -> str:
    fields = _stat_fields(pid)
    # After the name, fields start at number 3 (state); start time is field 22 → index 19.
    if fields is None or len(fields) < 20:
        return ""
    return fields[19]


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(pid, process_start(pid))


def is_alive(pid: int | None, start: str | None) -> bool:
    """True when the process that wrote (pid, start) still runs; unknown owners count as dead."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, but belongs to another user
    fields = _stat_fields(pid)
    if fields is None:
        # No /proc (macOS): the signal test is all there is.
        return True
    if fields and fields[0] in ("Z", "X"):
        # A killed child its parent has not reaped yet still answers kill(0).
        return False
    return not start or len(fields) < 20 or fields[19] == start
