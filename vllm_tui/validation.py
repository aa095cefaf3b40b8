"""Checks on profile settings, each returning the reason a value is wrong (or None when it is fine).

No Textual here: the settings screen calls these as the user types, the CLI before it starts an
engine. Ranges follow vLLM's own `SamplingParams` and engine-argument checks, so a value accepted
here is not refused later by vLLM with a traceback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from vllm_tui.config import (
    ATTENTION_BACKENDS,
    DTYPES,
    EXECUTOR_BACKENDS,
    KV_CACHE_DTYPES,
    QUANTIZATIONS,
    REASONING_PARSERS,
)
from vllm_tui.model_info import looks_like_hf_id

if TYPE_CHECKING:
    from vllm_tui.config import Profile
    from vllm_tui.model_info import ModelInfo

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class FieldProblem:
    field: str
    """Dotted path in the profile, e.g. "sampling.top_p" or "engine.tensor_parallel_size"."""
    message: str
    severity: Severity = "error"


# --- parsing typed text -------------------------------------------------------------------------


def parse_int(text: str, *, optional: bool = False) -> tuple[int | None, str | None]:
    """(value, None) or (None, reason). With `optional`, blank text means None (e.g. "model's max")."""
    stripped = text.strip().replace("_", "")
    if not stripped:
        return (None, None) if optional else (None, "enter a whole number")
    try:
        return int(stripped), None
    except ValueError:
        return None, f"{text.strip()!r} is not a whole number"


def parse_float(text: str) -> tuple[float | None, str | None]:
    stripped = text.strip()
    if not stripped:
        return None, "enter a number"
    try:
        value = float(stripped)
    except ValueError:
        return None, f"{stripped!r} is not a number"
    if not math.isfinite(value):
        return None, "must be a finite number"
    return value, None


# --- engine fields ------------------------------------------------------------------------------


def check_gpu_memory_utilization(value: float) -> str | None:
    if not 0.0 < value <= 1.0:
        return f"must be in (0, 1], got {value:g}"
    return None


def check_tensor_parallel_size(
    value: int, gpu_count: int | None, info: ModelInfo | None = None
) -> str | None:
    """`gpu_count` None or 0: GPUs unknown (CPU build, no NVML), so the count is not checked."""
    if value < 1:
        return "must be at least 1"
    if gpu_count and value > gpu_count:
        return f"only {gpu_count} GPU{'s' if gpu_count != 1 else ''} visible"
    if info is not None:
        if info.num_attention_heads % value:
            return f"must divide the model's {info.num_attention_heads} attention heads"
        # vLLM splits KV heads across ranks, or replicates them when there are fewer than ranks.
        kv = info.num_kv_heads
        if (kv >= value and kv % value) or (kv < value and value % kv):
            return f"must divide (or be a multiple of) the model's {kv} KV heads"
    return None


def check_pipeline_parallel_size(value: int, info: ModelInfo | None = None) -> str | None:
    if value < 1:
        return "must be at least 1"
    if info is not None and value > info.num_layers:
        return f"more stages than the model's {info.num_layers} layers"
    return None


def check_parallel_total(tp: int, pp: int, gpu_count: int | None) -> str | None:
    if gpu_count and tp >= 1 and pp >= 1 and tp * pp > gpu_count:
        return f"tensor x pipeline = {tp * pp} GPUs, only {gpu_count} visible"
    return None


def check_max_model_len(value: int | None, info: ModelInfo | None = None) -> str | None:
    if value is None:
        return None
    if value < 1:
        return "must be at least 1 (or blank for the model's maximum)"
    if info is not None and info.max_position_embeddings and value > info.max_position_embeddings:
        # vLLM refuses this unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1, and the output degrades past it.
        return f"longer than the model's max_position_embeddings ({info.max_position_embeddings:,})"
    return None


def check_choice(value: str, allowed: tuple[str, ...]) -> str | None:
    if value not in allowed:
        return f"{value!r} is not one of: {', '.join(allowed)}"
    return None


def check_dtype(value: str) -> str | None:
    return check_choice(value, DTYPES)


def check_kv_cache_dtype(value: str) -> str | None:
    return check_choice(value, KV_CACHE_DTYPES)


def check_attention_backend(value: str) -> str | None:
    return check_choice(value, ATTENTION_BACKENDS)


def check_quantization(value: str, info: ModelInfo | None = None) -> str | None:
    problem = check_choice(value, QUANTIZATIONS)
    if problem or info is None:
        return problem
    if info.quant_method and value not in ("none", info.quant_method):
        return f"the checkpoint is quantized with {info.quant_method}; choose none or {info.quant_method}"
    if value in ("awq", "gptq", "compressed-tensors") and info.quant_method != value:
        return f"{value} needs a checkpoint quantized with {value} (only fp8 quantizes at load)"
    return None


def check_executor_backend(value: str) -> str | None:
    return check_choice(value, EXECUTOR_BACKENDS)


def check_reasoning_parser(value: str) -> str | None:
    return check_choice(value, REASONING_PARSERS)


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def check_model(value: str) -> str | None:
    """A local checkpoint directory (config.json + a tokenizer), or something shaped like a Hub id."""
    text = value.strip()
    if not text:
        return "enter a local path or a Hugging Face id (org/name)"
    path = Path(text).expanduser()
    is_pathlike = text.startswith(("/", "./", "../", "~")) or path.exists()
    if is_pathlike:
        if not path.exists():
            return f"path {text} does not exist"
        if not path.is_dir():
            return f"path {text} is a file; point at the checkpoint directory"
        if not (path / "config.json").is_file():
            return f"path {text} has no config.json"
        if not any((path / name).is_file() for name in _TOKENIZER_FILES):
            return f"path {text} has no tokenizer (tokenizer.json, tokenizer_config.json or tokenizer.model)"
        return None
    if looks_like_hf_id(text):
        return None
    return f"{text!r} is neither an existing directory nor a Hugging Face id (org/name)"


def trust_remote_code_warning(enabled: bool) -> str | None:
    if enabled:
        return "runs Python code shipped with the model on this machine: only for checkpoints you trust"
    return None


def attention_backend_note(value: str) -> str | None:
    # Measured (docs/benchmarks.md, section 6): Triton's backend wins a few percent only while the
    # context is a few hundred tokens, and R1 thinks for thousands.
    if value == "TRITON_ATTN":
        return (
            "faster only at short contexts: on a 7B it decoded 6% slower than vLLM's pick at 4,096 tokens"
            " and 41% slower at 32,768 (H200)"
        )
    return None


def executor_backend_note(value: str) -> str | None:
    if value == "ray":
        return "Ray must already be running (`ray start --head`); vLLM joins it and does not start one"
    return None


# --- sampling fields (vLLM's SamplingParams ranges) ---------------------------------------------


def check_temperature(value: float) -> str | None:
    if value < 0:
        return f"must be 0 (greedy) or more, got {value:g}"
    if value > 2:
        return f"vLLM accepts at most 2, got {value:g}"
    return None


def check_top_p(value: float) -> str | None:
    if not 0.0 < value <= 1.0:
        return f"must be in (0, 1], got {value:g}"
    return None


def check_top_k(value: int) -> str | None:
    if value < -1:
        return f"must be 0 or -1 (off) or at least 1, got {value}"
    return None


def check_min_p(value: float) -> str | None:
    if not 0.0 <= value <= 1.0:
        return f"must be in [0, 1], got {value:g}"
    return None


def check_max_tokens(value: int) -> str | None:
    if value < 1:
        return f"must be at least 1, got {value}"
    return None


def check_repetition_penalty(value: float) -> str | None:
    if value <= 0:
        return f"must be greater than 0 (1 is off), got {value:g}"
    return None


def check_presence_penalty(value: float) -> str | None:
    if not -2.0 <= value <= 2.0:
        return f"must be in [-2, 2], got {value:g}"
    return None


check_frequency_penalty = check_presence_penalty


def check_seed(value: int | None) -> str | None:
    if value is not None and not -(2**63) <= value < 2**64:
        return "must fit in 64 bits"
    return None


# --- remote fields ------------------------------------------------------------------------------


def check_server_url(value: str) -> str | None:
    parsed = urlparse(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "enter an http(s) URL, e.g. http://127.0.0.1:8000/v1"
    return None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_api_key_env(value: str) -> str | None:
    if value and not _ENV_NAME.match(value):
        return "must be an environment variable name (letters, digits, _)"
    return None


_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_profile_name(value: str, existing: set[str] | frozenset[str] = frozenset()) -> str | None:
    name = value.strip()
    if not name:
        return "enter a name"
    if not _PROFILE_NAME.match(name):
        return "letters, digits, '.', '_' and '-' only"
    if name in existing:
        return f"a profile named {name!r} already exists"
    return None


# --- whole profile ------------------------------------------------------------------------------


def validate_profile(
    profile: Profile,
    gpu_count: int | None,
    info: ModelInfo | None = None,
    *,
    read_model: bool = True,
) -> list[FieldProblem]:
    """Every problem in `profile`, errors and warnings.

    `info` is the model's shape if the caller has it; with `read_model` (the default) it is read
    from the local checkpoint when not given (a few small files; call from a worker on the UI side).
    """
    problems: list[FieldProblem] = []

    def add(field: str, message: str | None, severity: Severity = "error") -> None:
        if message:
            problems.append(FieldProblem(field, message, severity))

    s = profile.sampling
    add("sampling.temperature", check_temperature(s.temperature))
    add("sampling.top_p", check_top_p(s.top_p))
    add("sampling.top_k", check_top_k(s.top_k))
    add("sampling.min_p", check_min_p(s.min_p))
    add("sampling.max_tokens", check_max_tokens(s.max_tokens))
    add("sampling.repetition_penalty", check_repetition_penalty(s.repetition_penalty))
    add("sampling.presence_penalty", check_presence_penalty(s.presence_penalty))
    add("sampling.frequency_penalty", check_frequency_penalty(s.frequency_penalty))
    add("sampling.seed", check_seed(s.seed))

    if profile.kind == "remote":
        add("server_url", check_server_url(profile.server_url))
        add("api_key_env", check_api_key_env(profile.api_key_env))
        return problems
    if profile.kind != "local":
        add("kind", f"{profile.kind!r} is not one of: local, remote")
        return problems

    e = profile.engine
    add("engine.model", check_model(e.model))
    if info is None and read_model and not check_model(e.model):
        from vllm_tui.model_info import ModelInfoError, load_model_info

        try:
            info = load_model_info(e.model)
        except ModelInfoError:
            info = None
    add("engine.tensor_parallel_size", check_tensor_parallel_size(e.tensor_parallel_size, gpu_count, info))
    add("engine.pipeline_parallel_size", check_pipeline_parallel_size(e.pipeline_parallel_size, info))
    if e.pipeline_parallel_size > 1:  # with one stage the tensor-parallel check already says it
        add(
            "engine.pipeline_parallel_size",
            check_parallel_total(e.tensor_parallel_size, e.pipeline_parallel_size, gpu_count),
        )
    add("engine.gpu_memory_utilization", check_gpu_memory_utilization(e.gpu_memory_utilization))
    add("engine.max_model_len", check_max_model_len(e.max_model_len, info))
    add("engine.dtype", check_dtype(e.dtype))
    add("engine.quantization", check_quantization(e.quantization, info))
    add("engine.kv_cache_dtype", check_kv_cache_dtype(e.kv_cache_dtype))
    add("engine.distributed_executor_backend", check_executor_backend(e.distributed_executor_backend))
    add("engine.reasoning_parser", check_reasoning_parser(e.reasoning_parser))
    add("engine.attention_backend", check_attention_backend(e.attention_backend))
    add("engine.trust_remote_code", trust_remote_code_warning(e.trust_remote_code), "warning")
    add("engine.attention_backend", attention_backend_note(e.attention_backend), "warning")
    add(
        "engine.distributed_executor_backend",
        executor_backend_note(e.distributed_executor_backend),
        "warning",
    )
    return problems
