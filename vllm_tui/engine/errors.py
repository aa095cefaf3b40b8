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
                detailed = _detail(title, text)
                if detailed is not None:
                    return Explained(title, *detailed)
                return Explained(title, _first_line(_specific(reason)), advice)
    return Explained(
        "The engine failed",
        _first_line(_specific(reason)),
        "The full message is in the log (F5 opens the log viewer).",
    )


_KV_NEED = re.compile(
    r"max seq len \((?P<len>\d+)\).*?\((?P<need>[\d.]+ [KMGT]i?B) KV cache is needed.*?"
    r"available KV cache memory \((?P<have>[\d.]+ [KMGT]i?B)\)",
    re.I | re.S,
)
_KV_ESTIMATE = re.compile(r"estimated maximum model length is (?P<est>\d+)", re.I)
_HEADS = re.compile(
    r"(?:Total number of )?attention heads \((?P<heads>\d+)\) must be divisible by tensor parallel "
    r"size \((?P<tp>\d+)\)",
    re.I,
)
_WORLD = re.compile(
    r"World size \((?P<world>\d+)\) is larger than the number of available GPUs \((?P<gpus>\d+)\)", re.I
)
_PYDANTIC_VALUE = re.compile(r"Value error, (?P<msg>.+?)(?:\s*\[type=|$)", re.M)


def _specific(text: str) -> str:
    """The line that says what is wrong: pydantic's "1 validation error for VllmConfig" header is
    followed by the real message, e.g. "Value error, Total number of attention heads (4) must be
    divisible by tensor parallel size (3)."."""
    m = _PYDANTIC_VALUE.search(text)
    return m.group("msg").strip() if m else text


def kv_cache_estimate(text: str) -> int | None:
    """vLLM's "the estimated maximum model length is N" (what fits in the KV cache), if it said."""
    m = _KV_ESTIMATE.search(text)
    return int(m.group("est")) if m else None


def _detail(title: str, text: str) -> tuple[str, str] | None:
    """A reason and advice with the figures vLLM gave, for the failures where figures say what to do."""
    if title == "Not enough memory for the KV cache":
        estimate = kv_cache_estimate(text)
        need = _KV_NEED.search(text)
        if need is None and estimate is None:
            return None
        reason = (
            f"A {int(need.group('len')):,}-token context needs {need.group('need')} of KV cache; "
            f"{need.group('have')} is available."
            if need is not None
            else _first_line(text)
        )
        fits = f" to {estimate:,} or less" if estimate else ""
        if estimate is not None:
            reason += f" vLLM estimates that at most {estimate:,} tokens fit."
        advice = (
            f"Lower max_model_len{fits} (Settings, or --max-model-len), or raise gpu_memory_utilization "
            "(on the CPU build the KV cache size is VLLM_CPU_KVCACHE_SPACE, in GiB)."
        )
        return reason, advice
    if title == "Tensor parallel size does not divide the model's attention heads":
        m = _HEADS.search(text)
        if m is None:
            return None
        heads, tp = int(m.group("heads")), int(m.group("tp"))
        divisors = [d for d in range(1, heads + 1) if heads % d == 0 and d <= 16]
        choices = ", ".join(map(str, divisors[:-1])) + f" or {divisors[-1]}" if len(divisors) > 1 else "1"
        return (
            f"The model has {heads} attention heads, which tensor parallel size {tp} does not divide.",
            f"Set the tensor parallel size to {choices} (Settings, or --tensor-parallel-size).",
        )
    if title == "More GPUs requested than are visible":
        m = _WORLD.search(text)
        if m is None:
            return None
        world, gpus = int(m.group("world")), int(m.group("gpus"))
        return (
            f"Tensor × pipeline parallel size is {world}, but this node has {gpus} GPU"
            f"{'s' if gpus != 1 else ''} visible.",
            f"Lower --tensor-parallel-size to {max(gpus, 1)}{' or less' if gpus > 1 else ''}, check "
            "CUDA_VISIBLE_DEVICES, or use the ray executor backend to span several nodes.",
        )
    return None


def _first_line(text: str, limit: int = 400) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 1] + "…"
