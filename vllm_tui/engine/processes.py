"""The processes an engine starts: found as children of this process, checked, ended.

Used on both sides of the pipe: the app ends the frontend process and everything under it, the
frontend ends vLLM's engine-core and worker processes; after them, what they shared in /dev/shm.
psutil (a vLLM dependency) is imported lazily.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any


def child_pids() -> set[int]:
    """Every live descendant of this process."""
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def alive(pid: int) -> bool:
    import psutil

    try:
        return running(psutil.Process(pid))
    except psutil.Error:
        return False


def running(proc: Any) -> bool:
    """A psutil.Process that has not exited; a zombie (exited, not yet reaped) counts as ended."""
    import psutil

    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate_now(pids: set[int]) -> None:
    """SIGTERM to each of `pids` still running, without waiting for any."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            continue


def terminate(pids: set[int], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds, for those of `pids` still running."""
    import psutil

    from vllm_tui.orphans import end_processes

    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    end_processes(procs, grace)


SHM_DIR = "/dev/shm"


def shared_segments(pids: set[int]) -> set[str]:
    """Names of the POSIX shared-memory segments (`/dev/shm/psm_*`, Python's SharedMemory) that
    these processes map: vLLM's message queues between its engine-core and worker processes."""
    names: set[str] = set()
    prefix = f"{SHM_DIR}/psm_"
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    start = line.find(prefix)
                    if start != -1 and not line.rstrip().endswith("(deleted)"):
                        names.add(line[start + len(SHM_DIR) + 1 :].strip())
        except OSError:
            continue  # gone, or not Linux
    return names


_SEGMENT_NAME = re.compile(r"psm_[0-9A-Za-z_]+")
"""What Python's SharedMemory names a segment; anything else read from a pid file is not removed."""


def remove_segments(names: set[str] | list[str]) -> None:
    """Delete these segments from /dev/shm where they are still there.

    vLLM's engine-core and worker processes share memory through Python's SharedMemory, and the
    process that created a segment removes it when it exits cleanly. Ended by a signal (the app or
    the frontend killed, the reaper), they left each one (160-250 MB of address space, the pages
    written in RAM) until the machine restarted: /dev/shm held 71 after a day of tests here. Called
    only once the processes that used them are gone; the names are random, so no one else has them.
    """
    for name in names:
        if _SEGMENT_NAME.fullmatch(name):
            try:
                os.unlink(os.path.join(SHM_DIR, name))
            except OSError:
                continue  # already removed by its creator
            _untrack(name)


def _untrack(name: str) -> None:
    """Tell multiprocessing's resource tracker the segment is gone. vLLM's processes share the
    app's tracker (spawn hands it down), and one ended before unregistering its segments left them
    registered: the tracker then warned of "leaked shared_memory objects" it could not find, at
    the app's exit (into the log in the app; onto the terminal in a benchmark)."""
    import sys

    if "multiprocessing.resource_tracker" not in sys.modules:
        return  # this process never started or used a tracker: nothing registered through it
    from multiprocessing import resource_tracker

    try:
        resource_tracker.unregister(f"/{name}", "shared_memory")
    except Exception:  # noqa: BLE001 - bookkeeping only; the segment itself is gone
        pass
