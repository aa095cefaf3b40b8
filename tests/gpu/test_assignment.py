from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vllm_tui.gpu.assignment import EngineDevices, process_tree
from vllm_tui.gpu.na import NA

GPUS = [
    (0, "GPU-aaaa1111-0000-0000-0000-000000000000"),
    (1, "GPU-bbbb2222-0000-0000-0000-000000000000"),
    (2, "GPU-bbbb3333-0000-0000-0000-000000000000"),
    (3, NA),
]


def test_unset_means_every_gpu() -> None:
    assert EngineDevices.from_env({}).resolve(GPUS) == (0, 1, 2, 3)


def test_empty_or_remote_means_no_gpu() -> None:
    assert EngineDevices.parse("").resolve(GPUS) == ()
    assert EngineDevices.nothing().resolve(GPUS) == ()


def test_indices_keep_cuda_order_and_stop_at_the_first_invalid_entry() -> None:
    assert EngineDevices.parse("2, 0").resolve(GPUS) == (2, 0)
    assert EngineDevices.parse("1,-1,2").resolve(GPUS) == (1,)
    assert EngineDevices.parse("1,7,2").resolve(GPUS) == (1,)
    assert EngineDevices.parse("1,1,2").resolve(GPUS) == (1, 2)


def test_uuids_and_unique_prefixes_match() -> None:
    assert EngineDevices.parse("GPU-bbbb3333-0000-0000-0000-000000000000").resolve(GPUS) == (2,)
    assert EngineDevices.parse("GPU-aaaa,GPU-bbbb3").resolve(GPUS) == (0, 2)
    # "GPU-bbbb" is ambiguous, so CUDA (and we) stop there.
    assert EngineDevices.parse("GPU-bbbb,0").resolve(GPUS) == ()


def test_limit_takes_the_first_visible_gpus() -> None:
    assert EngineDevices.parse("3,1,2", limit=2).resolve(GPUS) == (3, 1)
    assert EngineDevices.from_env({}, limit=1).resolve(GPUS) == (0,)
    assert EngineDevices.parse("3,1,2").with_limit(1).resolve(GPUS) == (3,)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_process_tree_finds_children_and_grandchildren() -> None:
    script = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
        "print(c.pid, flush=True); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        tree = process_tree(os.getpid())
        assert {os.getpid(), child.pid, grandchild} <= tree
        assert os.getppid() not in tree
        assert process_tree(child.pid) == {child.pid, grandchild}
    finally:
        child.kill()
        child.wait()
        os.kill(grandchild, 9)


def test_process_tree_of_a_missing_proc_is_the_root_alone(tmp_path: Path) -> None:
    assert process_tree(42, proc=tmp_path / "absent") == {42}
