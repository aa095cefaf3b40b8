"""What a model checkpoint is (read from its config.json and safetensors headers) and what it needs.

No Textual and no vLLM here: the settings screen calls this from a thread worker, and the figures must
be available before any engine exists. Reading is cheap (a few small JSON files and the first bytes
of each safetensors shard), never the weights themselves.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vllm_tui.config import ConfigError, Profile

GB = 1_000_000_000
GiB = 1 << 30

DTYPE_BYTES: dict[str, float] = {
    "float32": 4,
    "float": 4,
    "bfloat16": 2,
    "float16": 2,
    "half": 2,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
}

# Model types whose weights follow the Llama layout (q/k/v/o projections, gated MLP, RMSNorm).
_LLAMA_LIKE = {"llama", "mistral", "qwen2"}
# Qwen2 keeps a bias on the q/k/v projections; Llama does only when `attention_bias` says so.
_QKV_BIAS_BY_DEFAULT = {"qwen2"}


class ModelInfoError(ConfigError):
    """A model's config could not be found or read."""


@dataclass(frozen=True)
class ModelInfo:
    """The shape of one checkpoint, as its config.json (and weight files, when present) describe it."""

    path: Path
    """Directory holding config.json (for a Hugging Face cache, the snapshot directory)."""
    architecture: str
    """First entry of `architectures`, e.g. "Qwen2ForCausalLM"; "" when missing."""
    model_type: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    max_position_embeddings: int | None
    tie_word_embeddings: bool
    torch_dtype: str | None
    """The checkpoint's dtype ("bfloat16", ...) from `torch_dtype` (or `dtype` in newer files)."""
    quant_method: str | None
    """`quantization_config.quant_method` when the checkpoint is already quantized (awq, gptq, fp8)."""
    param_count: int | None
    """Parameters: from safetensors headers, else index total_size, else computed from the shape."""
    checkpoint_bytes: int | None
    """Bytes of tensor data in the safetensors files (headers or index total_size); None if absent."""
    param_source: str
    """Where `param_count` came from: "safetensors", "index" or "architecture" ("" if unknown)."""

    @property
    def embedding_params(self) -> int:
        """Input embedding plus the output head (twice the table unless they are tied)."""
        table = self.vocab_size * self.hidden_size
        return table if self.tie_word_embeddings else 2 * table


# --- locating a model ---------------------------------------------------------------------------

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def looks_like_hf_id(text: str) -> bool:
    """True for "org/name" (what `from_pretrained` and vLLM accept as a Hub repository id)."""
    return bool(_HF_ID.match(text)) and ".." not in text


def same_model(a: str | None, b: str | None) -> bool:
    """Two ways of naming one model: equal Hub ids, or paths to the same directory."""
    if not a or not b:
        return False
    if a == b:
        return True
    if a.startswith(("/", "~", ".")) and b.startswith(("/", "~", ".")):
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    return False


def runs_as_stored(stored: Profile, running: Profile) -> bool:
    """Whether the session's profile runs what the stored profile of that name would load: the same
    server and model, or the same model with the same engine settings (`--model`, `--max-model-len`,
    an F3 pick or an unsaved F2 edit make it something else)."""
    if running.kind != stored.kind:
        return False
    if running.kind == "remote":  # a stored remote profile without a model takes the server's first
        return running.server_url == stored.server_url and (
            not stored.engine.model or same_model(stored.engine.model, running.engine.model)
        )
    return same_model(stored.engine.model, running.engine.model) and (
        dataclasses.replace(stored.engine, model=running.engine.model) == running.engine
    )


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved the way huggingface_hub does, read at call time.

    huggingface_hub freezes its constants at import; reading the environment here means a changed
    HF_HUB_CACHE (tests, or a user exporting it before launching) is honoured.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _snapshot_of_repo_dir(repo_dir: Path) -> Path | None:
    """The snapshot a cache repo folder (models--org--name) points at: refs/main, else the newest."""
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text(encoding="utf-8").strip()
        if candidate.is_dir():
            return candidate
    found = [p for p in snapshots.iterdir() if p.is_dir()]
    if not found:
        return None
    return max(found, key=lambda p: p.stat().st_mtime)


def find_model_dir(model: str | Path, cache_dir: Path | None = None) -> Path | None:
    """The local directory holding `model`'s config.json, or None when it is not on this machine.

    `model` may be a checkpoint directory, a Hugging Face cache folder (models--org--name) or one of
    its snapshots, or a Hub id found in the local cache. Nothing is downloaded.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return path
        snap = _snapshot_of_repo_dir(path)
        if snap is not None and (snap / "config.json").is_file():
            return snap
        return None
    if looks_like_hf_id(text):
        org, name = text.split("/")
        repo_dir = (cache_dir or hf_hub_cache_dir()) / f"models--{org}--{name}"
        snap = _snapshot_of_repo_dir(repo_dir)
        if snap is not None and (snap / "config.json").is_file():
            return snap
    return None


# --- reading ------------------------------------------------------------------------------------


def _safetensors_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ValueError("truncated header")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:  # the format caps headers at 100 MB; larger means a broken file
            raise ValueError("header too large")
        header = json.loads(fh.read(length))
    if not isinstance(header, dict):
        raise ValueError("header is not a mapping")
    return header


def _count_safetensors(model_dir: Path) -> tuple[int, int] | None:
    """(parameters, bytes of tensor data) summed over every shard's header; None if any is unreadable."""
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None
    params = 0
    nbytes = 0
    try:
        for f in files:
            for name, meta in _safetensors_header(f).items():
                if name == "__metadata__":
                    continue
                params += math.prod(int(d) for d in meta["shape"])
                start, end = meta["data_offsets"]
                nbytes += int(end) - int(start)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return params, nbytes


def _index_total_size(model_dir: Path) -> int | None:
    index = model_dir / "model.safetensors.index.json"
    if not index.is_file():
        return None
    try:
        total = json.loads(index.read_text(encoding="utf-8")).get("metadata", {}).get("total_size")
    except (OSError, ValueError, AttributeError):
        return None
    return int(total) if isinstance(total, (int, float)) and total > 0 else None


def architecture_param_count(
    model_type: str,
    *,
    layers: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    vocab: int,
    intermediate: int,
    tie_word_embeddings: bool,
    qkv_bias: bool | None = None,
) -> int | None:
    """Parameters of a Llama-layout decoder (Llama, Mistral, Qwen2); None for other architectures."""
    if model_type not in _LLAMA_LIKE:
        return None
    if qkv_bias is None:
        qkv_bias = model_type in _QKV_BIAS_BY_DEFAULT
    q = heads * head_dim
    kv = kv_heads * head_dim
    attn = hidden * q + 2 * hidden * kv + q * hidden + ((q + 2 * kv) if qkv_bias else 0)
    mlp = 3 * hidden * intermediate
    norms = 2 * hidden
    embed = vocab * hidden * (1 if tie_word_embeddings else 2)
    return layers * (attn + mlp + norms) + hidden + embed


def model_info_from_config(config: dict[str, Any], path: Path) -> ModelInfo:
    """Build a ModelInfo from a parsed config.json (weights looked up beside it in `path`)."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else None
    cfg = {**config, **text} if text else config

    def need(key: str, *alts: str) -> int:
        for k in (key, *alts):
            if isinstance(cfg.get(k), int):
                return int(cfg[k])
        raise ModelInfoError(
            f"{path / 'config.json'} has no {key!r}", "Is this a decoder-only LLM checkpoint?"
        )

    layers = need("num_hidden_layers", "n_layer", "num_layers")
    hidden = need("hidden_size", "n_embd", "d_model")
    heads = need("num_attention_heads", "n_head")
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    vocab = need("vocab_size")
    intermediate = int(cfg.get("intermediate_size") or 4 * hidden)
    max_pos = cfg.get("max_position_embeddings")
    tie = bool(cfg.get("tie_word_embeddings", False))
    dtype = cfg.get("torch_dtype") or cfg.get("dtype")
    quant = cfg.get("quantization_config")
    quant_method = (
        str(quant.get("quant_method")) if isinstance(quant, dict) and quant.get("quant_method") else None
    )
    archs = config.get("architectures") or []
    model_type = str(cfg.get("model_type") or config.get("model_type") or "")
    bias = cfg.get("attention_bias")

    params: int | None = None
    nbytes: int | None = None
    source = ""
    counted = _count_safetensors(path)
    if counted is not None:
        params, nbytes = counted
        source = "safetensors"
    else:
        total = _index_total_size(path)
        elem = DTYPE_BYTES.get(str(dtype), 0)
        if total is not None:
            nbytes = total
            # Parameters from bytes are only exact for an unquantized checkpoint of a known dtype.
            if quant_method is None and elem:
                params = int(total / elem)
                source = "index"
    if params is None:
        params = architecture_param_count(
            model_type,
            layers=layers,
            hidden=hidden,
            heads=heads,
            kv_heads=kv_heads,
            head_dim=head_dim,
            vocab=vocab,
            intermediate=intermediate,
            tie_word_embeddings=tie,
            qkv_bias=bool(bias) if isinstance(bias, bool) else None,
        )
        source = "architecture" if params is not None else ""

    return ModelInfo(
        path=path,
        architecture=str(archs[0]) if archs else "",
        model_type=model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        intermediate_size=intermediate,
        max_position_embeddings=int(max_pos) if isinstance(max_pos, int) else None,
        tie_word_embeddings=tie,
        torch_dtype=str(dtype) if dtype else None,
        quant_method=quant_method,
        param_count=params,
        checkpoint_bytes=nbytes,
        param_source=source,
    )


def load_model_info(model: str | Path, cache_dir: Path | None = None) -> ModelInfo:
    """Read `model`'s config.json (a directory, a HF cache folder or snapshot, or a cached Hub id)."""
    model_dir = find_model_dir(model, cache_dir)
    if model_dir is None:
        raise ModelInfoError(
            f"No local config.json for {model}",
            "A Hub id is downloaded when the engine loads; the estimate appears once it is in the cache.",
        )
    config_path = model_dir / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelInfoError(f"Cannot read {config_path}", str(exc)) from exc
    if not isinstance(config, dict):
        raise ModelInfoError(f"{config_path} is not a JSON object")
    return model_info_from_config(config, model_dir)


def read_chat_template(model_dir: Path) -> str | None:
    """The chat template: chat_template.jinja (newer checkpoints) or tokenizer_config.json's entry."""
    jinja = model_dir / "chat_template.jinja"
    try:
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        tok = model_dir / "tokenizer_config.json"
        if tok.is_file():
            template = json.loads(tok.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(template, str):
                return template
            if isinstance(template, list):  # [{"name": "default", "template": "..."}, ...]
                for entry in template:
                    if isinstance(entry, dict) and entry.get("name") == "default":
                        return str(entry.get("template"))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return None


# --- reasoning parser ---------------------------------------------------------------------------

_R1_NAME = re.compile(r"(?:^|[-_. ])r1(?:$|[-_. ])", re.IGNORECASE)
_GEN_PROMPT_BLOCK = re.compile(
    r"if\s+add_generation_prompt\s*-?%\}(.*?)\{%-?\s*(?:endif|else|elif)", re.DOTALL
)
_STRING_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def _generation_prompt_opens_think(template: str) -> bool:
    for block in _GEN_PROMPT_BLOCK.findall(template):
        literals = [a or b for a, b in _STRING_LITERAL.findall(block)]
        if literals and literals[-1].replace("\\n", "\n").rstrip().endswith("<think>"):
            return True
    return False


def reasoning_parser_for(model_name_or_path: str, chat_template: str | None) -> str | None:
    """vLLM reasoning parser for a model: "deepseek_r1" for R1 models, None for the rest.

    An R1 model is one whose name has an "R1" part (DeepSeek-R1, R1-Distill-*), or whose chat
    template ends the generation prompt with "<think>" (R1-0528 and the distills after their template
    update). DeepSeek-Coder, V2-Lite-Chat and other chat models have neither.
    """
    name = model_name_or_path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    if _R1_NAME.search(name):
        return "deepseek_r1"
    if chat_template and _generation_prompt_opens_think(chat_template):
        return "deepseek_r1"
    return None


# --- vLLM's own figure --------------------------------------------------------------------------

_KV_REPORT = re.compile(r"KV cache size:\s*([\d,]+)\s*tokens")


def parse_vllm_kv_report(log_line: str) -> int | None:
    """Tokens from vLLM's "GPU KV cache size: 1,048,576 tokens" (or "CPU ...") log line; else None."""
    match = _KV_REPORT.search(log_line)
    if match is None:
        return None
    digits = match.group(1).replace(",", "")
    return int(digits) if digits else None


# --- memory estimate ----------------------------------------------------------------------------

# What vLLM holds per GPU besides weights and KV cache, for an in-process AsyncLLM with its default
# scheduler (ENGINE_CONTEXT: max_num_batched_tokens 2048, max_num_seqs 128). vLLM measures this in a
# profiling run; before any engine exists we approximate it as:
#  * activations of one prefill chunk: per token the gated MLP's gate_up output and activation
#    (3 x intermediate), the q/k/v output and a few hidden-size residual buffers, split over TP;
#  * the sampler's dummy run: max_num_seqs rows of float32 logits, plus probabilities of the same size;
#  * a fixed 0.5 GiB for non-torch memory (cuBLAS workspace, NCCL buffers) and CUDA graphs.
# This lands within a few hundred MB of what vLLM 0.26-0.33 logs for the R1-Distill-Qwen models; the
# screen shows vLLM's reported KV figure beside the estimate once an engine has loaded.
DEFAULT_BATCHED_TOKENS = 2048
DEFAULT_MAX_SEQS = 128
FIXED_OVERHEAD_BYTES = GiB // 2
KV_BLOCK_TOKENS = 16
"""vLLM allocates KV cache in blocks of 16 tokens."""


@dataclass(frozen=True)
class MemoryEstimate:
    weight_bytes: int
    weight_bytes_per_gpu: int
    weights_from: str
    """"checkpoint files" when measured on disk, else "parameters x dtype" (say how sure we are)."""
    kv_bytes_per_token: int
    """Over the whole model: 2 (K and V) x layers x KV heads x head_dim x KV dtype bytes."""
    kv_bytes_per_token_per_gpu: int
    overhead_bytes_per_gpu: int
    gpus_needed: int
    max_model_len: int | None
    """The request length asked for (the model's own maximum when unset)."""
    gpu_bytes: int | None
    """Memory of the smallest GPU used; None when unknown (no NVIDIA GPU or NVML)."""
    kv_budget_bytes_per_gpu: int | None
    """util x GPU memory - weights per GPU - overhead; negative when the weights alone do not fit."""
    kv_capacity_tokens: int | None
    """Tokens the KV cache holds (what vLLM logs as "GPU KV cache size")."""
    longest_context: int | None
    """Longest single request that fits (capped at the model's max_position_embeddings)."""
    full_length_requests: int | None
    """How many requests of max_model_len tokens fit at once."""
    fits: bool | None
    """None when GPU memory is unknown."""
    reason: str


def _fmt_gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def resolve_dtype(info: ModelInfo, dtype: str) -> str:
    """The dtype vLLM computes in: "auto" follows the checkpoint, except float32 which vLLM runs in bf16."""
    if dtype != "auto":
        return dtype
    if info.torch_dtype in ("float16", "bfloat16"):
        return info.torch_dtype
    return "bfloat16"


def estimate_weight_bytes(info: ModelInfo, dtype: str, quantization: str) -> tuple[int, str]:
    """(bytes of weights in GPU memory, how that was found)."""
    act_bytes = DTYPE_BYTES[resolve_dtype(info, dtype)]
    if info.quant_method is not None:
        # A pre-quantized checkpoint loads about as large as its files.
        if info.checkpoint_bytes:
            return info.checkpoint_bytes, "checkpoint files"
        if info.param_count is not None:
            linear = info.param_count - info.embedding_params
            per = 1.0 if "fp8" in info.quant_method else 0.5 * 1.06  # 4-bit plus scales/zeros
            return int(linear * per + info.embedding_params * act_bytes), "parameters x dtype"
        return 0, "unknown"
    if info.param_count is None:
        if info.checkpoint_bytes:
            return info.checkpoint_bytes, "checkpoint files"
        return 0, "unknown"
    source = "checkpoint files" if info.param_source in ("safetensors", "index") else "parameters x dtype"
    if quantization == "fp8":
        # Online fp8: linear layers drop to one byte per weight, embeddings and the head keep the dtype.
        linear = info.param_count - info.embedding_params
        return int(linear + info.embedding_params * act_bytes), source
    return int(info.param_count * act_bytes), source


def estimate_memory(
    info: ModelInfo,
    dtype: str,
    quantization: str,
    kv_cache_dtype: str,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    gpu_total_bytes: list[int] | None,
    max_model_len: int | None,
    *,
    pipeline_parallel_size: int = 1,
    max_num_batched_tokens: int = DEFAULT_BATCHED_TOKENS,
    max_num_seqs: int = DEFAULT_MAX_SEQS,
) -> MemoryEstimate:
    """Whether `info` fits on the given GPUs with these settings, and how much context it gets."""
    tp = max(1, tensor_parallel_size)
    pp = max(1, pipeline_parallel_size)
    gpus_needed = tp * pp
    act_bytes = DTYPE_BYTES[resolve_dtype(info, dtype)]
    kv_elem = (
        DTYPE_BYTES[resolve_dtype(info, dtype)] if kv_cache_dtype == "auto" else DTYPE_BYTES[kv_cache_dtype]
    )

    weight_bytes, weights_from = estimate_weight_bytes(info, dtype, quantization)
    weight_per_gpu = -(-weight_bytes // gpus_needed)

    kv_per_token = int(2 * info.num_layers * info.num_kv_heads * info.head_dim * kv_elem)
    # With fewer KV heads than TP ranks vLLM replicates them: each rank keeps at least one.
    kv_heads_per_gpu = max(1, info.num_kv_heads // tp)
    layers_per_gpu = -(-info.num_layers // pp)
    kv_per_token_gpu = int(2 * layers_per_gpu * kv_heads_per_gpu * info.head_dim * kv_elem)

    q_kv = (info.num_attention_heads + 2 * info.num_kv_heads) * info.head_dim
    per_token_act = (3 * info.intermediate_size + q_kv + 4 * info.hidden_size) * act_bytes / tp
    activations = int(max_num_batched_tokens * per_token_act)
    sampler = 2 * max_num_seqs * info.vocab_size * 4
    overhead = activations + sampler + FIXED_OVERHEAD_BYTES

    length = max_model_len or info.max_position_embeddings

    def result(
        gpu: int | None,
        budget: int | None,
        cap: int | None,
        longest: int | None,
        full: int | None,
        fits: bool | None,
        reason: str,
    ) -> MemoryEstimate:
        return MemoryEstimate(
            weight_bytes=weight_bytes,
            weight_bytes_per_gpu=weight_per_gpu,
            weights_from=weights_from,
            kv_bytes_per_token=kv_per_token,
            kv_bytes_per_token_per_gpu=kv_per_token_gpu,
            overhead_bytes_per_gpu=overhead,
            gpus_needed=gpus_needed,
            max_model_len=length,
            gpu_bytes=gpu,
            kv_budget_bytes_per_gpu=budget,
            kv_capacity_tokens=cap,
            longest_context=longest,
            full_length_requests=full,
            fits=fits,
            reason=reason,
        )

    if weight_bytes <= 0:
        return result(None, None, None, None, None, None, "parameter count unknown for this architecture")
    if not gpu_total_bytes:
        return result(None, None, None, None, None, None, "GPU memory unknown (no NVIDIA GPU seen)")
    if len(gpu_total_bytes) < gpus_needed:
        return result(
            None,
            None,
            None,
            None,
            None,
            False,
            f"does not fit: needs {gpus_needed} GPUs (TP {tp} x PP {pp}), {len(gpu_total_bytes)} visible",
        )
    gpu = min(gpu_total_bytes[:gpus_needed])
    budget = int(gpu_memory_utilization * gpu) - weight_per_gpu - overhead
    if budget <= 0:
        usable = int(gpu_memory_utilization * gpu) - overhead
        return result(
            gpu,
            budget,
            0,
            0,
            0,
            False,
            f"does not fit: weights need {_fmt_gb(weight_per_gpu)} per GPU, "
            f"{_fmt_gb(max(usable, 0))} usable at utilization {gpu_memory_utilization:g}",
        )
    cap = (budget // kv_per_token_gpu) // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS
    longest = min(cap, info.max_position_embeddings) if info.max_position_embeddings else cap
    full = cap // length if length else None
    if length and cap < length:
        return result(
            gpu,
            budget,
            cap,
            longest,
            0,
            False,
            f"does not fit: one {length:,}-token request needs {_fmt_gb(length * kv_per_token_gpu)} of KV "
            f"cache per GPU, {_fmt_gb(budget)} left; lower max_model_len to {cap:,} or raise utilization",
        )
    if full is not None:
        reason = f"fits: {full:,} requests of {length:,} tokens at once ({cap:,} tokens of KV cache)"
    else:
        reason = f"fits: {cap:,} tokens of KV cache"
    return result(gpu, budget, cap, longest, full, True, reason)
