"""Keeping the app and vLLM's other processes off the cores its CPU workers compute on, with a real
process standing in for the worker: its main thread bound to one core, as vLLM binds a worker's
OpenMP thread, and a second thread left free, as vLLM leaves its helper threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from vllm_tui.engine import cpu_cores

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two cores to keep one free",
)

WORKER = """
import os, sys, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # started before the binding
os.sched_setaffinity(0, {int(sys.argv[1])})
print(threading.get_native_id(), flush=True)
time.sleep(60)
"""


@pytest.fixture(autouse=True)
def fresh_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cpu_cores, "_machine", None)
    machine = os.sched_getaffinity(0)
    yield
    cpu_cores.release()
    for tid in cpu_cores._threads(os.getpid()):  # whatever the test left, even where it failed
        try:
            os.sched_setaffinity(tid, machine)
        except OSError:
            pass


def start_worker(core: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(core)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def affinities(pid: int) -> dict[int, frozenset[int]]:
    found = {tid: cpu_cores._affinity(tid) for tid in cpu_cores._threads(pid)}
    return {tid: cores for tid, cores in found.items() if cores is not None}


def test_everything_but_the_bound_thread_moves_to_the_free_cores_and_comes_back() -> None:
    machine = cpu_cores.machine_cores()
    compute = min(machine)
    free = machine - {compute}
    waiter = threading.Event()
    ours = threading.Thread(target=waiter.wait, daemon=True)  # a thread of the app, like the UI's
    ours.start()
    proc, bound_tid = start_worker(compute)
    try:
        assert cpu_cores.worker_cores({proc.pid}) == {compute}

        assert cpu_cores.keep_off_worker_cores({proc.pid}) == free

        theirs = affinities(proc.pid)
        assert theirs.pop(bound_tid) == {compute}  # the compute thread stays where vLLM put it
        assert theirs and set(theirs.values()) == {free}  # its unbound thread left that core
        mine = affinities(os.getpid())
        assert ours.native_id in mine and set(mine.values()) == {free}

        # The next engine's processes inherit their starter's cores: all of them come back.
        cpu_cores.release()
        assert set(affinities(os.getpid()).values()) == {machine}
    finally:
        waiter.set()
        proc.kill()
        proc.wait()


def test_nothing_moves_where_no_thread_is_bound() -> None:
    machine = cpu_cores.machine_cores()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print(1, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline()
        assert cpu_cores.keep_off_worker_cores({proc.pid}) == frozenset()
        assert set(affinities(os.getpid()).values()) == {machine}
        assert set(affinities(proc.pid).values()) == {machine}
    finally:
        proc.kill()
        proc.wait()


def test_nothing_moves_where_the_workers_hold_every_core() -> None:
    machine = cpu_cores.machine_cores()
    procs = [start_worker(core) for core in machine]
    try:
        assert cpu_cores.keep_off_worker_cores({p.pid for p, _ in procs}) == frozenset()
        assert set(affinities(os.getpid()).values()) == {machine}
    finally:
        for proc, _ in procs:
            proc.kill()
            proc.wait()


def test_gone_processes_are_skipped() -> None:
    proc, _ = start_worker(min(cpu_cores.machine_cores()))
    proc.kill()
    proc.wait()
    assert cpu_cores.worker_cores({proc.pid}) == frozenset()
    assert cpu_cores.keep_off_worker_cores({proc.pid}) == frozenset()
