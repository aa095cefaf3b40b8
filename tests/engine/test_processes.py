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
