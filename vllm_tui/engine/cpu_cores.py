"""Keep everything but vLLM's CPU workers off the cores those workers compute on.

vLLM's CPU backend binds each worker's OpenMP threads to cores (`VLLM_CPU_OMP_THREADS_BIND=auto`)
and leaves the rest of the machine "reserved" for its other processes, but binds nothing else: not
its engine core (which spins between steps), not the frontend, not this app. So the kernel may run
the app's UI thread on a worker's core, where it takes time slices from a compute thread that
cannot move away, and every step waits for that thread. On the 2-core development machine the
engine then ran 8–20% slower while the app drew an answer (docs/benchmarks.md, section 2).

Once a local engine is ready, `keep_off_worker_cores` moves every thread of this process and of
the engine's processes that is not bound already onto the cores the workers left free. Nothing
happens where vLLM bound nothing (a GPU engine, `VLLM_CPU_OMP_THREADS_BIND=nobind`) or left no core
free. Unlike a lower priority, affinity can be given back: `release` restores this process's
threads before the next engine starts, since processes inherit their starter's affinity and vLLM
picks its workers' cores from what it may use.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_machine: frozenset[int] | None = None
"""The cores this process could use before it moved anything: what `release` gives back."""


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []  # gone, or not Linux


def _affinity(tid: int) -> frozenset[int] | None:
    try:
        return frozenset(os.sched_getaffinity(tid))
    except OSError:
        return None  # the thread ended


def _move(tids: list[int], cores: frozenset[int]) -> int:
    moved = 0
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cores)
            moved += 1
        except OSError:
            pass  # ended meanwhile, or not ours to move
    return moved


def machine_cores() -> frozenset[int]:
    """The cores this process may use, as it found them before moving anything."""
    global _machine
    if _machine is None:
        _machine = frozenset(os.sched_getaffinity(0))
    return _machine


def worker_cores(pids: set[int]) -> frozenset[int]:
    """The cores that threads of `pids` are bound to: those allowed fewer cores than the machine's."""
    machine = machine_cores()
    bound: set[int] = set()
    for pid in pids:
        for tid in _threads(pid):
            cores = _affinity(tid)
            if cores is not None and cores < machine:
                bound |= cores
    return frozenset(bound)


def keep_off_worker_cores(engine_pids: set[int]) -> frozenset[int]:
    """Move the unbound threads of this process and of `engine_pids` to the cores the workers do
    not use. Returns those cores, or an empty set where nothing was moved."""
    if not hasattr(os, "sched_setaffinity"):
        return frozenset()
    machine = machine_cores()
    bound = worker_cores(engine_pids)
    free = machine - bound
    if not bound or not free:
        return frozenset()
    moved = 0
    for pid in (os.getpid(), *engine_pids):
        moved += _move([t for t in _threads(pid) if _affinity(t) == machine], free)
    log.info(
        "vLLM's CPU workers compute on cores %s: %d threads of the app and the engine moved to %s",
        _cores(bound),
        moved,
        _cores(free),
    )
    return free


def release() -> None:
    """Give this process's threads every core again (before an engine starts, and when one ends)."""
    if _machine is None or not hasattr(os, "sched_setaffinity"):
        return  # nothing was ever moved
    _move(_threads(os.getpid()), _machine)


def _cores(cores: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cores))
