"""Engine loading stages, read from vLLM's own log lines.

vLLM reports its progress only in its log (parent, engine-core and worker processes all write to the
log file). These patterns turn those lines into `LoadProgress` events for the status line. Each
pattern is tried in order; the fraction is a rough position in a typical load, so the bar moves
forward and never back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vllm_tui.engine.events import LoadProgress
from vllm_tui.model_info import parse_vllm_kv_report

_SHARDS = re.compile(r"Loading safetensors checkpoint shards:\s+(\d+)% Completed \| (\d+)/(\d+)")
_CUDA_GRAPHS = re.compile(r"Capturing CUDA graphs?[^:]*:\s+(\d+)%")

_STAGES: list[tuple[re.Pattern[str], str, float]] = [
    (re.compile(r"Resolved architecture|Using max model len"), "Reading model config", 0.04),
    (re.compile(r"Initializing a V1 LLM engine"), "Starting engine core", 0.08),
    (re.compile(r"world_size=\d+ rank=\d+|Initializing.*NCCL|nccl", re.IGNORECASE), "Starting workers", 0.10),
    (re.compile(r"Starting to load model"), "Loading weights", 0.12),
    (re.compile(r"Downloading|Fetching \d+ files"), "Downloading weights", 0.12),
    (re.compile(r"Loading weights took|Model loading took"), "Weights loaded", 0.55),
    (
        re.compile(r"(?<!disabling )torch\.compile takes|Dynamo bytecode|Compiling a graph|Compiling model"),
        "Compiling (torch.compile)",
        0.62,
    ),
    (
        re.compile(r"Memory profiling|Available KV cache memory|Explicitly set .* for KV cache"),
        "Profiling memory",
        0.72,
    ),
    (re.compile(r"Capturing CUDA graph"), "Capturing CUDA graphs", 0.82),
    (re.compile(r"Graph capturing finished"), "CUDA graphs captured", 0.94),
    (re.compile(r"init engine \(profile, create kv cache, warmup model\) took"), "Warming up", 0.97),
]


@dataclass
class StageTracker:
    """Keeps the furthest stage seen, so late or repeated lines never move progress backwards."""

    fraction: float = 0.0
    kv_cache_tokens: int | None = None

    def feed(self, line: str) -> LoadProgress | None:
        kv = parse_vllm_kv_report(line)
        if kv is not None:
            self.kv_cache_tokens = kv
            return self._advance("Allocating KV cache", 0.78)
        shards = _SHARDS.search(line)
        if shards:
            done, total = int(shards.group(2)), int(shards.group(3))
            frac = 0.12 + 0.43 * (done / total if total else 0)
            return self._advance("Loading weights", frac, f"shard {done}/{total}")
        graphs = _CUDA_GRAPHS.search(line)
        if graphs:
            pct = int(graphs.group(1))
            return self._advance("Capturing CUDA graphs", 0.82 + 0.12 * pct / 100, f"{pct}%")
        for pattern, stage, frac in _STAGES:
            if pattern.search(line):
                return self._advance(stage, frac)
        return None

    def _advance(self, stage: str, fraction: float, detail: str = "") -> LoadProgress | None:
        if fraction < self.fraction:
            return None
        self.fraction = fraction
        return LoadProgress(stage, fraction, detail)
