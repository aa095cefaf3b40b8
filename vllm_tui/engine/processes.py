"""The processes an engine starts: found as children of this process, checked, ended.

Used on both sides of the pipe: the app ends the frontend process and everything under it, the
frontend ends vLLM's engine-core and worker processes. psutil (a vLLM dependency) is imported lazily.
"""

from __future__ import annotations


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
        p = psutil.Process(pid)
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


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
