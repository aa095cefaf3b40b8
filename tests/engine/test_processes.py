"""shared_segments: the /dev/shm segments a process maps, read from /proc as the app does for vLLM's."""

from __future__ import annotations

import subprocess
import sys

from vllm_tui.engine.processes import shared_segments

HOLDER = """
import sys, time
from multiprocessing import shared_memory
segment = shared_memory.SharedMemory(create=True, size=4096)
print(segment.name, flush=True)
sys.stdin.readline()
segment.close()
segment.unlink()
"""


def test_lists_the_segments_a_process_maps() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        name = holder.stdout.readline().strip()
        assert name.startswith("psm_")
        assert name in shared_segments({holder.pid})
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(10) == 0
        assert shared_segments({holder.pid}) == set()  # gone: nothing to read, no error
    finally:
        holder.kill()


def test_ending_processes_counts_an_exited_one_as_ended() -> None:
    """A process that has exited but is not yet reaped (a zombie, as a killed engine core's worker
    is until init reaps it) is not waited on for the whole grace, and one that ignores SIGTERM is
    killed after it."""
    import time

    import psutil

    from vllm_tui.orphans import end_processes

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
        ]
    )
    try:
        zombie = psutil.Process(exited.pid)
        deadline = time.monotonic() + 30
        while zombie.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert zombie.status() == psutil.STATUS_ZOMBIE
        started = time.monotonic()
        end_processes([zombie], grace=30)
        assert time.monotonic() - started < 15, "waited out the grace on an exited process"
        time.sleep(0.5)  # let the second process set its handler
        end_processes([psutil.Process(stubborn.pid)], grace=0.5)
        assert stubborn.wait(timeout=10) == -9
    finally:
        exited.wait()
        stubborn.kill()
        stubborn.wait()
