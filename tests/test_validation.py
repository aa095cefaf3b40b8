"""validation: each field check's reason, and whole-profile validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vllm_tui import validation as v
from vllm_tui.config import EngineSettings, Profile, SamplingSettings
from vllm_tui.model_info import ModelInfo, load_model_info


@pytest.fixture
def info_1_5b(tmp_path: Path) -> ModelInfo:
    """The R1-Distill-Qwen-1.5B shape: 12 attention heads, 2 KV heads, 28 layers, 131072 positions."""
    model = tmp_path / "r1-1.5b"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["Qwen2ForCausalLM"],
                "model_type": "qwen2",
                "hidden_size": 1536,
                "intermediate_size": 8960,
                "num_hidden_layers": 28,
                "num_attention_heads": 12,
                "num_key_value_heads": 2,
                "vocab_size": 151936,
                "max_position_embeddings": 131072,
                "torch_dtype": "bfloat16",
            }
        )
    )
    return load_model_info(model)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    model = tmp_path / "ckpt"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")
    return model


def test_gpu_memory_utilization() -> None:
    assert v.check_gpu_memory_utilization(0.9) is None
    assert v.check_gpu_memory_utilization(1.0) is None
    assert v.check_gpu_memory_utilization(0) == "must be in (0, 1], got 0"
    assert v.check_gpu_memory_utilization(1.2) == "must be in (0, 1], got 1.2"


def test_tensor_parallel_size(info_1_5b: ModelInfo) -> None:
    assert v.check_tensor_parallel_size(0, 2) == "must be at least 1"
    assert v.check_tensor_parallel_size(4, 2) == "only 2 GPUs visible"
    assert v.check_tensor_parallel_size(2, 1) == "only 1 GPU visible"
    assert v.check_tensor_parallel_size(8, None) is None  # GPUs unknown: not checked
    assert v.check_tensor_parallel_size(8, 8, info_1_5b) == "must divide the model's 12 attention heads"
    assert (
        v.check_tensor_parallel_size(3, 8, info_1_5b)
        == "must divide (or be a multiple of) the model's 2 KV heads"
    )
    assert v.check_tensor_parallel_size(4, 8, info_1_5b) is None  # 2 KV heads replicated over 4 ranks
    assert v.check_tensor_parallel_size(2, 2, info_1_5b) is None


def test_pipeline_size(info_1_5b: ModelInfo) -> None:
    assert v.check_pipeline_parallel_size(0) == "must be at least 1"
    assert v.check_pipeline_parallel_size(2, info_1_5b) is None
    assert v.check_pipeline_parallel_size(29, info_1_5b) == "more stages than the model's 28 layers"
    assert v.check_parallel_total(2, 2, 2) == "tensor x pipeline = 4 GPUs, only 2 visible"
    assert v.check_parallel_total(2, 2, 4) is None


def test_max_model_len(info_1_5b: ModelInfo) -> None:
    assert v.check_max_model_len(None, info_1_5b) is None
    assert v.check_max_model_len(0) == "must be at least 1 (or blank for the model's maximum)"
    assert v.check_max_model_len(131072, info_1_5b) is None
    assert (
        v.check_max_model_len(131073, info_1_5b)
        == "longer than the model's max_position_embeddings (131,072)"
    )


@pytest.mark.parametrize(
    ("check", "good", "bad", "reason"),
    [
        (v.check_temperature, [0.0, 0.6, 2.0], -0.1, "must be 0 (greedy) or more, got -0.1"),
        (v.check_temperature, [], 2.5, "vLLM accepts at most 2, got 2.5"),
        (v.check_top_p, [1.0, 0.01], 0.0, "must be in (0, 1], got 0"),
        (v.check_top_p, [], 1.5, "must be in (0, 1], got 1.5"),
        (v.check_top_k, [-1, 0, 1, 50], -2, "must be 0 or -1 (off) or at least 1, got -2"),
        (v.check_min_p, [0.0, 1.0], 1.1, "must be in [0, 1], got 1.1"),
        (v.check_max_tokens, [1, 32768], 0, "must be at least 1, got 0"),
        (v.check_repetition_penalty, [1.0, 0.5, 2.5], 0.0, "must be greater than 0 (1 is off), got 0"),
        (v.check_presence_penalty, [-2.0, 0.0, 2.0], 2.1, "must be in [-2, 2], got 2.1"),
        (v.check_frequency_penalty, [-2.0], -2.5, "must be in [-2, 2], got -2.5"),
    ],
)
def test_sampling_checks(check, good: list[float], bad: float, reason: str) -> None:  # type: ignore[no-untyped-def]
    for value in good:
        assert check(value) is None
    assert check(bad) == reason


def test_choices_come_from_config() -> None:
    assert v.check_dtype("bfloat16") is None
    assert v.check_dtype("bf16") == "'bf16' is not one of: auto, bfloat16, float16, float32"
    assert v.check_kv_cache_dtype("fp8_e5m2") is None
    assert v.check_kv_cache_dtype("int8") is not None and "fp8_e4m3" in v.check_kv_cache_dtype("int8")  # type: ignore[operator]
    assert v.check_quantization("gguf") is not None
    assert v.check_executor_backend("ray") is None and v.check_executor_backend("slurm") is not None
    assert v.check_reasoning_parser("deepseek_r1") is None and v.check_reasoning_parser("qwen3") is not None
    assert v.check_attention_backend("TRITON_ATTN") is None
    assert v.check_attention_backend("triton") == (
        "'triton' is not one of: auto, FLASH_ATTN, TRITON_ATTN, FLASHINFER, FLEX_ATTENTION"
    )


def test_quantization_must_match_the_checkpoint(info_1_5b: ModelInfo) -> None:
    assert v.check_quantization("fp8", info_1_5b) is None  # quantized online at load
    assert v.check_quantization("awq", info_1_5b) == (
        "awq needs a checkpoint quantized with awq (only fp8 quantizes at load)"
    )
    import dataclasses

    awq = dataclasses.replace(info_1_5b, quant_method="awq")
    assert v.check_quantization("awq", awq) is None and v.check_quantization("none", awq) is None
    assert v.check_quantization("gptq", awq) == "the checkpoint is quantized with awq; choose none or awq"


def test_model_path_or_hub_id(checkpoint: Path, tmp_path: Path) -> None:
    assert v.check_model(str(checkpoint)) is None
    assert v.check_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") is None
    assert v.check_model("") == "enter a local path or a Hugging Face id (org/name)"
    assert v.check_model("/no/such/dir") == "path /no/such/dir does not exist"
    assert (
        v.check_model("just words")
        == "'just words' is neither an existing directory nor a Hugging Face id (org/name)"
    )
    assert v.check_model(str(checkpoint / "config.json")).endswith(
        "is a file; point at the checkpoint directory"
    )  # type: ignore[union-attr]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert v.check_model(str(empty)) == f"path {empty} has no config.json"
    (empty / "config.json").write_text("{}")
    assert v.check_model(str(empty)) == (
        f"path {empty} has no tokenizer (tokenizer.json, tokenizer_config.json or tokenizer.model)"
    )
    (empty / "tokenizer.model").write_bytes(b"sp")
    assert v.check_model(str(empty)) is None


def test_remote_fields_and_names() -> None:
    assert v.check_server_url("http://127.0.0.1:8000/v1") is None
    assert v.check_server_url("127.0.0.1:8000") == "enter an http(s) URL, e.g. http://127.0.0.1:8000/v1"
    assert v.check_api_key_env("VLLM_API_KEY") is None
    assert v.check_api_key_env("my key") == "must be an environment variable name (letters, digits, _)"
    assert v.check_profile_name("fast-7b") is None
    assert v.check_profile_name("") == "enter a name"
    assert v.check_profile_name("a b") == "letters, digits, '.', '_' and '-' only"
    assert v.check_profile_name("fast", {"fast"}) == "a profile named 'fast' already exists"


def test_warnings() -> None:
    assert v.trust_remote_code_warning(False) is None
    assert "code" in (v.trust_remote_code_warning(True) or "")
    assert v.executor_backend_note("mp") is None
    assert "Ray must already be running" in (v.executor_backend_note("ray") or "")
    assert v.attention_backend_note("auto") is None
    assert "slower" in (v.attention_backend_note("TRITON_ATTN") or "")


def test_parse_helpers() -> None:
    assert v.parse_int(" 4_096 ") == (4096, None)
    assert v.parse_int("") == (None, "enter a whole number")
    assert v.parse_int("", optional=True) == (None, None)
    assert v.parse_int("1.5") == (None, "'1.5' is not a whole number")
    assert v.parse_float("0.6") == (0.6, None)
    assert v.parse_float("abc") == (None, "'abc' is not a number")
    assert v.parse_float("nan") == (None, "must be a finite number")


def test_validate_default_profile_is_clean() -> None:
    assert v.validate_profile(Profile(), gpu_count=1) == []


def test_validate_profile_collects_every_problem(checkpoint: Path) -> None:
    profile = Profile(
        engine=EngineSettings(
            model=str(checkpoint),
            tensor_parallel_size=4,
            gpu_memory_utilization=1.5,
            dtype="bf16",
            trust_remote_code=True,
            distributed_executor_backend="ray",
        ),
        sampling=SamplingSettings(temperature=-1, top_p=0, max_tokens=0),
    )
    problems = v.validate_profile(profile, gpu_count=2)
    errors = {p.field for p in problems if p.severity == "error"}
    warnings = {p.field for p in problems if p.severity == "warning"}
    assert errors == {
        "engine.tensor_parallel_size",
        "engine.gpu_memory_utilization",
        "engine.dtype",
        "sampling.temperature",
        "sampling.top_p",
        "sampling.max_tokens",
    }
    assert warnings == {"engine.trust_remote_code", "engine.distributed_executor_backend"}


def test_validate_profile_reads_the_local_model(info_1_5b: ModelInfo) -> None:
    (info_1_5b.path / "tokenizer_config.json").write_text("{}")
    profile = Profile(
        engine=EngineSettings(model=str(info_1_5b.path), tensor_parallel_size=8, max_model_len=200_000)
    )
    fields = {p.field for p in v.validate_profile(profile, gpu_count=8)}
    assert fields == {"engine.tensor_parallel_size", "engine.max_model_len"}
    assert v.validate_profile(profile, gpu_count=8, read_model=False) == []


def test_remote_profile_checks_only_remote_and_sampling() -> None:
    profile = Profile(
        kind="remote",
        server_url="localhost",
        engine=EngineSettings(model="not a model", tensor_parallel_size=0),
    )
    assert [p.field for p in v.validate_profile(profile, gpu_count=1)] == ["server_url"]
    assert [p.field for p in v.validate_profile(Profile(kind="cloud"), gpu_count=1)] == ["kind"]


def test_core_modules_import_without_textual_or_vllm() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['textual'] = None; sys.modules['vllm'] = None; sys.modules['torch'] = None\n"
        "import vllm_tui.validation, vllm_tui.model_info\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 0, done.stderr
