"""vLLM's failure text → a user-facing title, reason and advice.

A failure inside the engine-core or worker processes reaches the parent only as "Engine core
initialization failed. See root cause above"; the real exception is in the child's log lines, so
`root_cause` digs it out of the log before `explain` turns it into advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EXC_LINE = re.compile(
    r"(?:^\([\w-]+ pid=\d+\)\s+(?:ERROR|CRITICAL)?[^\]]*\]\s*)?"  # vLLM's child-process prefix
    r"((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)):\s*(.+)$"
)
_GENERIC = (
    "Engine core initialization failed",
    "WorkerProc initialization failed",
    "See stack trace for root cause",
    "See root cause above",
    "EngineGenerateError",
    "EngineDeadError",
)


@dataclass(frozen=True)
class Explained:
    title: str
    reason: str
    advice: str


def root_cause(log_lines: list[str]) -> str | None:
    """The first specific exception line the engine's processes logged, e.g.
    "SafetensorError: Error while deserializing header: incomplete metadata"."""
    for line in log_lines:
        m = _EXC_LINE.search(line.strip())
        if not m:
            continue
        text = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"
        if any(g in text for g in _GENERIC):
            continue
        return text
    return None


_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(
            r"max seq len.*KV cache is needed|larger than the available KV cache memory|"
            r"estimated maximum model length is|No available memory for the cache blocks",
            re.I,
        ),
        "Not enough memory for the KV cache",
        "Lower max_model_len (Settings, or --max-model-len) or raise gpu_memory_utilization.",
    ),
    (
        re.compile(
            r"attention heads.*must be divisible by tensor parallel|"
            r"not divisible by.*tensor|Total number of attention heads",
            re.I,
        ),
        "Tensor parallel size does not divide the model's attention heads",
        "Choose a tensor parallel size that divides the number of attention heads (see Settings).",
    ),
    (
        re.compile(
            r"World size.*larger than|greater than the number of available GPUs|"
            r"tensor_parallel_size.*exceeds|only \d+ GPUs? (?:are )?available|Insufficient GPUs",
            re.I,
        ),
        "More GPUs requested than are visible",
        "Lower --tensor-parallel-size to the number of GPUs, or check CUDA_VISIBLE_DEVICES.",
    ),
    (
        re.compile(r"CUDA out of memory|OutOfMemoryError", re.I),
        "Out of GPU memory",
        "Lower gpu_memory_utilization or max_model_len, use a quantized model, or free the GPU "
        "(another process may hold memory: see the GPU panel).",
    ),
    (
        re.compile(
            r"SafetensorError|incomplete metadata|HeaderTooLarge|invalid load key|"
            r"unexpected EOF|file not fully covered",
            re.I,
        ),
        "The model's weight files are damaged",
        "The safetensors files are truncated or corrupt: download the model again.",
    ),
    (
        re.compile(
            r"Can't load tokenizer|tokenizer.*not found|does not appear to have a file named "
            r"tokenizer|Couldn't instantiate the backend tokenizer|tokenizer_config",
            re.I,
        ),
        "The model has no usable tokenizer",
        "The model directory needs tokenizer.json or tokenizer_config.json beside config.json.",
    ),
    (
        re.compile(
            r"We couldn't connect to|offline mode|LocalEntryNotFoundError|"
            r"Cannot reach|ConnectionError|Max retries exceeded|Temporary failure in name resolution",
            re.I,
        ),
        "The model could not be downloaded",
        "There is no network (or HF_HUB_OFFLINE is set) and the model is not in the local cache: "
        "download it where there is network, or give a local path.",
    ),
    (
        re.compile(
            r"Repository Not Found|not a valid model identifier|Invalid repository ID|HFValidationError|"
            r"is not a local folder|No such file or directory|does not exist|"
            r"Unrecognized model|config\.json",
            re.I,
        ),
        "Model not found",
        "Check the model path or Hugging Face id (Settings, the model picker, or --model).",
    ),
    (
        re.compile(r"gated repo|401 Client Error|403 Client Error|Access to model .* is restricted", re.I),
        "The model needs Hugging Face access",
        "Accept the model's licence on Hugging Face and set HF_TOKEN.",
    ),
    (
        re.compile(
            r"No CUDA GPUs are available|Failed to infer device type|no NVIDIA driver|"
            r"Found no NVIDIA driver|CUDA driver version is insufficient",
            re.I,
        ),
        "No usable GPU",
        "vLLM found no GPU. Check `nvidia-smi` and CUDA_VISIBLE_DEVICES, or install the CPU build.",
    ),
    (
        re.compile(r"Ray is not installed|ray.*not running|Could not find any running Ray", re.I),
        "Ray is not available",
        "The ray executor backend needs a running Ray cluster (`ray start --head` on the first node).",
    ),
    (
        re.compile(
            r"prompt.*longer than the maximum model length|maximum context length|"
            r"is too long and exceeds limit|exceeds the max model len",
            re.I,
        ),
        "The conversation is longer than the model's context",
        "Start a new chat, delete old messages, or raise max_model_len.",
    ),
]


def explain(error_text: str, cause: str | None = None) -> Explained:
    """Turn an exception text (and the root cause from the log, when there is one) into advice."""
    reason = cause or error_text.strip() or "unknown error"
    for text in (reason, error_text):
        for pattern, title, advice in _RULES:
            if pattern.search(text):
                return Explained(title, _first_line(reason), advice)
    return Explained(
        "The engine failed", _first_line(reason), "The full message is in the log (F5 opens the log viewer)."
    )


def _first_line(text: str, limit: int = 400) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 1] + "…"
