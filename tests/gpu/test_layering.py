"""The GPU layer stays below the UI: it imports without Textual, and without pynvml until it samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
sys.modules["textual"] = None  # any `import textual` now raises ImportError
import vllm_tui.gpu as gpu
assert "pynvml" not in sys.modules, "pynvml imported before the first sample"
sampler = gpu.GpuSampler(backend=gpu.FakeNvmlBackend(gpu.demo_gpus(2)))
snapshot = sampler.sample_once()
assert snapshot.ok and len(snapshot.gpus) == 2
assert not any(name == "textual" or name.startswith("textual.") for name, m in sys.modules.items() if m)
print("ok")
"""


def test_gpu_layer_imports_and_samples_without_textual() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
