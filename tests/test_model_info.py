"""model_info: config.json reading, parameter counts, the memory estimate, vLLM's KV report, parsers."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from vllm_tui.model_info import (
    GB,
    KV_BLOCK_TOKENS,
    ModelInfo,
    ModelInfoError,
    estimate_memory,
    find_model_dir,
    load_model_info,
    parse_vllm_kv_report,
    read_chat_template,
    reasoning_parser_for,
)

# The published config.json shapes of the DeepSeek-R1-Distill-Qwen models.
R1_DISTILL = {
    "1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
    ),
    "7b": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
    ),
    "32b": dict(
        hidden_size=5120,
        intermediate_size=27648,
        num_hidden_layers=64,
        num_attention_heads=40,
        num_key_value_heads=8,
        vocab_size=152064,
    ),
}
# Sizes of the published bf16 safetensors files, in GB (10^9 bytes).
R1_DISTILL_WEIGHTS_GB = {"1.5b": 3.55, "7b": 15.2, "32b": 65.5}

GPU_80GB = 80 * GB


def write_config(dest: Path, size: str, **overrides: object) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        **R1_DISTILL[size],
        **overrides,
    }
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> int:
    """A valid safetensors file of zeros; returns the bytes of tensor data."""
    sizes = {"BF16": 2, "F32": 4, "I32": 4, "U8": 1}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return offset


def fake_hf_cache(cache: Path, repo_id: str, files: dict[str, str], commit: str = "a" * 40) -> Path:
    """Lay out a repo the way huggingface_hub does: blobs, refs/main and a snapshot of symlinks."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for i, (name, text) in enumerate(files.items()):
        blob = repo / "blobs" / f"{i:040x}"
        blob.write_text(text)
        os.symlink(os.path.relpath(blob, snap), snap / name)
    return snap


def info_for(tmp_path: Path, size: str, **overrides: object) -> ModelInfo:
    return load_model_info(write_config(tmp_path / size, size, **overrides))


# --- reading ------------------------------------------------------------------------------------


def test_reads_the_shape_of_r1_distill_1_5b(tmp_path: Path) -> None:
    info = info_for(tmp_path, "1.5b")
    assert info.architecture == "Qwen2ForCausalLM"
    assert (info.num_layers, info.hidden_size, info.num_attention_heads, info.num_kv_heads) == (
        28,
        1536,
        12,
        2,
    )
    assert info.head_dim == 128
    assert info.vocab_size == 151936 and info.intermediate_size == 8960
    assert info.max_position_embeddings == 131072
    assert info.tie_word_embeddings is False and info.torch_dtype == "bfloat16"
    assert info.quant_method is None
    # 1,777,088,000 is the parameter count Hugging Face reports for this checkpoint.
    assert info.param_count == 1_777_088_000 and info.param_source == "architecture"


def test_explicit_head_dim_and_newer_dtype_key_and_quantization(tmp_path: Path) -> None:
    info = info_for(
        tmp_path,
        "7b",
        head_dim=96,
        torch_dtype=None,
        dtype="float16",
        quantization_config={"quant_method": "awq", "bits": 4},
    )
    assert info.head_dim == 96 and info.torch_dtype == "float16" and info.quant_method == "awq"


def test_llama_shape_has_no_qkv_bias(tmp_path: Path) -> None:
    qwen = info_for(tmp_path / "q", "1.5b")
    llama = info_for(tmp_path / "l", "1.5b", model_type="llama", architectures=["LlamaForCausalLM"])
    q, kv = 12 * 128, 2 * 128
    assert qwen.param_count is not None and llama.param_count is not None
    assert qwen.param_count - llama.param_count == 28 * (q + 2 * kv)


def test_unknown_architecture_has_no_parameter_count(tmp_path: Path) -> None:
    info = info_for(tmp_path, "1.5b", model_type="deepseek_v2", architectures=["DeepseekV2ForCausalLM"])
    assert info.param_count is None and info.param_source == ""
    est = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB], None)
    assert est.fits is None and "unknown" in est.reason


def test_safetensors_headers_are_preferred_over_the_architecture(tmp_path: Path) -> None:
    model = write_config(tmp_path / "m", "1.5b")
    a = write_safetensors(
        model / "model-00001-of-00002.safetensors", {"x": ("BF16", [10, 20]), "y": ("BF16", [7])}
    )
    b = write_safetensors(model / "model-00002-of-00002.safetensors", {"z": ("F32", [3, 3])})
    info = load_model_info(model)
    assert info.param_source == "safetensors"
    assert info.param_count == 200 + 7 + 9
    assert info.checkpoint_bytes == a + b == 2 * 207 + 4 * 9


def test_index_total_size_when_shards_are_absent(tmp_path: Path) -> None:
    model = write_config(tmp_path / "m", "1.5b")
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 3_554_176_000}})
    )
    info = load_model_info(model)
    assert info.param_source == "index"
    assert info.checkpoint_bytes == 3_554_176_000 and info.param_count == 1_777_088_000


def test_broken_safetensors_falls_back_to_architecture(tmp_path: Path) -> None:
    model = write_config(tmp_path / "m", "1.5b")
    (model / "model.safetensors").write_bytes(b"\x01\x02")
    assert load_model_info(model).param_source == "architecture"


def test_missing_and_malformed_configs_raise_model_info_error(tmp_path: Path) -> None:
    with pytest.raises(ModelInfoError):
        load_model_info(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelInfoError, match="Cannot read"):
        load_model_info(bad)
    (bad / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(ModelInfoError, match="num_hidden_layers"):
        load_model_info(bad)


def test_hf_cache_snapshot_repo_folder_and_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hub"
    config = json.loads(write_config(tmp_path / "src", "7b").joinpath("config.json").read_text())
    snap = fake_hf_cache(
        cache, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", {"config.json": json.dumps(config)}
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert find_model_dir("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") == snap
    assert find_model_dir(snap.parent.parent) == snap  # the models--org--name folder
    assert find_model_dir(snap) == snap
    assert find_model_dir("deepseek-ai/not-cached") is None
    assert load_model_info("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B").num_kv_heads == 4


# --- memory estimate ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["1.5b", "7b", "32b"])
def test_bf16_weights_match_the_published_checkpoints(tmp_path: Path, size: str) -> None:
    est = estimate_memory(info_for(tmp_path, size), "auto", "none", "auto", 1, 0.9, [GPU_80GB], None)
    expected = R1_DISTILL_WEIGHTS_GB[size] * GB
    assert abs(est.weight_bytes - expected) / expected < 0.03


def test_kv_bytes_per_token_of_1_5b(tmp_path: Path) -> None:
    info = info_for(tmp_path, "1.5b")
    est = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB], 32768)
    assert est.kv_bytes_per_token == 28 * 2 * 128 * 2 * 2 == 28_672
    assert est.kv_bytes_per_token_per_gpu == 28_672
    fp8 = estimate_memory(info, "auto", "none", "fp8", 1, 0.9, [GPU_80GB], 32768)
    assert fp8.kv_bytes_per_token == 14_336


def test_tensor_parallel_splits_weights_and_kv(tmp_path: Path) -> None:
    info = info_for(tmp_path, "7b")
    one = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB] * 2, None)
    two = estimate_memory(info, "auto", "none", "auto", 2, 0.9, [GPU_80GB] * 2, None)
    assert two.weight_bytes == one.weight_bytes
    assert abs(two.weight_bytes_per_gpu * 2 - one.weight_bytes) <= 1
    assert two.kv_bytes_per_token == one.kv_bytes_per_token
    assert two.kv_bytes_per_token_per_gpu * 2 == one.kv_bytes_per_token_per_gpu
    assert two.kv_capacity_tokens is not None and one.kv_capacity_tokens is not None
    assert two.kv_capacity_tokens > 2 * one.kv_capacity_tokens  # less weight per GPU leaves more room


def test_kv_heads_are_replicated_when_fewer_than_ranks(tmp_path: Path) -> None:
    info = info_for(tmp_path, "1.5b")  # 2 KV heads
    est = estimate_memory(info, "auto", "none", "auto", 4, 0.9, [GPU_80GB] * 4, None)
    assert est.kv_bytes_per_token_per_gpu == 28 * 2 * 1 * 128 * 2


def test_budget_capacity_and_full_length_requests_are_consistent(tmp_path: Path) -> None:
    info = info_for(tmp_path, "7b")
    est = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB], 32768)
    assert est.gpu_bytes == GPU_80GB
    assert (
        est.kv_budget_bytes_per_gpu
        == int(0.9 * GPU_80GB) - est.weight_bytes_per_gpu - est.overhead_bytes_per_gpu
    )
    assert est.kv_capacity_tokens is not None and est.kv_capacity_tokens % KV_BLOCK_TOKENS == 0
    assert 0 <= est.kv_budget_bytes_per_gpu - est.kv_capacity_tokens * est.kv_bytes_per_token_per_gpu
    assert est.kv_budget_bytes_per_gpu - est.kv_capacity_tokens * est.kv_bytes_per_token_per_gpu < (
        KV_BLOCK_TOKENS * est.kv_bytes_per_token_per_gpu
    )
    assert est.full_length_requests == est.kv_capacity_tokens // 32768
    assert est.longest_context == min(est.kv_capacity_tokens, 131072)
    assert est.fits is True and est.reason.startswith("fits")
    # The allowance for activations and CUDA graphs is between a few hundred MB and a few GB.
    assert 0.3 * GB < est.overhead_bytes_per_gpu < 3 * GB


def test_32b_does_not_fit_one_80gb_gpu_at_full_length_but_fits_two(tmp_path: Path) -> None:
    info = info_for(tmp_path, "32b")
    one = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB], None)
    assert one.fits is False and "max_model_len" in one.reason and one.max_model_len == 131072
    two = estimate_memory(info, "auto", "none", "auto", 2, 0.9, [GPU_80GB, GPU_80GB], None)
    assert two.fits is True


def test_weights_larger_than_the_gpu(tmp_path: Path) -> None:
    est = estimate_memory(info_for(tmp_path, "32b"), "auto", "none", "auto", 1, 0.9, [24 * GB], 4096)
    assert est.fits is False and "weights need" in est.reason
    assert est.kv_budget_bytes_per_gpu is not None and est.kv_budget_bytes_per_gpu < 0


def test_too_few_gpus_and_unknown_gpus(tmp_path: Path) -> None:
    info = info_for(tmp_path, "7b")
    few = estimate_memory(info, "auto", "none", "auto", 2, 0.9, [GPU_80GB], None, pipeline_parallel_size=2)
    assert few.fits is False and "needs 4 GPUs" in few.reason
    unknown = estimate_memory(info, "auto", "none", "auto", 1, 0.9, None, None)
    assert unknown.fits is None and unknown.kv_capacity_tokens is None and "unknown" in unknown.reason


def test_online_fp8_and_float32_dtype(tmp_path: Path) -> None:
    info = info_for(tmp_path, "7b")
    bf16 = estimate_memory(info, "auto", "none", "auto", 1, 0.9, [GPU_80GB], None)
    fp8 = estimate_memory(info, "auto", "fp8", "auto", 1, 0.9, [GPU_80GB], None)
    f32 = estimate_memory(info, "float32", "none", "auto", 1, 0.9, [GPU_80GB], None)
    assert info.param_count is not None
    linear = info.param_count - info.embedding_params
    assert fp8.weight_bytes == linear + 2 * info.embedding_params
    assert f32.weight_bytes == 2 * bf16.weight_bytes
    assert f32.kv_bytes_per_token == 2 * bf16.kv_bytes_per_token


def test_prequantized_checkpoint_uses_its_file_size(tmp_path: Path) -> None:
    model = write_config(
        tmp_path / "awq", "7b", quantization_config={"quant_method": "awq"}, torch_dtype="float16"
    )
    nbytes = write_safetensors(model / "model.safetensors", {"qweight": ("I32", [1000, 100])})
    est = estimate_memory(load_model_info(model), "auto", "awq", "auto", 1, 0.9, [GPU_80GB], None)
    assert est.weight_bytes == nbytes and est.weights_from == "checkpoint files"


# --- vLLM's KV cache report ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "tokens"),
    [
        ("INFO 05-01 12:00:00 [kv_cache_utils.py:1087] GPU KV cache size: 2,358,032 tokens", 2_358_032),
        (
            "(EngineCore_DP0 pid=42) INFO [kv_cache_utils.py:1087] CPU KV cache size: 1,048,576 tokens",
            1_048_576,
        ),
        ("GPU KV cache size: 98304 tokens", 98_304),
        (
            "GPU + host KV cache size: 4,096 tokens, Maximum concurrency for 2,048 tokens per request: 2.00x",
            4096,
        ),
        ("Maximum concurrency for 131,072 tokens per request: 17.99x", None),
        ("Loading weights took 1.2 seconds", None),
    ],
)
def test_parse_vllm_kv_report(line: str, tokens: int | None) -> None:
    assert parse_vllm_kv_report(line) == tokens


# --- reasoning parser ---------------------------------------------------------------------------

CODER_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + "
    "message['content'] + '\\n' }}{% else %}{{ '### Response:\\n' + message['content'] + '\\n<|EOT|>\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:' }}{% endif %}"
)
V2_LITE_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
QWEN3_TEMPLATE = (
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)


@pytest.mark.parametrize(
    ("name", "template", "parser"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", None, "deepseek_r1"),
        ("deepseek-ai/DeepSeek-R1", None, "deepseek_r1"),
        ("deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", None, "deepseek_r1"),
        ("/models/tiny-r1", None, "deepseek_r1"),
        ("deepseek-ai/deepseek-coder-6.7b-instruct", CODER_TEMPLATE, None),
        ("deepseek-ai/DeepSeek-V2-Lite-Chat", V2_LITE_TEMPLATE, None),
        ("Qwen/Qwen3-8B", QWEN3_TEMPLATE, None),
        ("/models/r1/deepseek-coder", CODER_TEMPLATE, None),  # only the last path part is a name
        ("/models/distilled-thinker", None, None),
    ],
)
def test_reasoning_parser_by_name(name: str, template: str | None, parser: str | None) -> None:
    assert reasoning_parser_for(name, template) == parser


def test_reasoning_parser_by_the_r1_chat_template(tmp_path: Path) -> None:
    from random_checkpoint import R1_CHAT_TEMPLATE  # loaded by tests/conftest.py

    model = write_config(tmp_path / "renamed-model", "1.5b")
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": R1_CHAT_TEMPLATE}))
    template = read_chat_template(model)
    assert template == R1_CHAT_TEMPLATE
    assert reasoning_parser_for(str(model), template) == "deepseek_r1"
    (model / "chat_template.jinja").write_text(V2_LITE_TEMPLATE)  # newer checkpoints keep it here
    assert reasoning_parser_for(str(model), read_chat_template(model)) is None


def test_runs_as_stored_compares_what_would_load(tmp_path: Path) -> None:
    from vllm_tui.config import EngineSettings, Profile
    from vllm_tui.model_info import runs_as_stored, same_model

    (tmp_path / "ckpt").mkdir()
    stored = Profile(name="p", engine=EngineSettings(model=str(tmp_path / "ckpt")))
    running = Profile(name="p", engine=EngineSettings(model=f"{tmp_path}/ckpt/"))
    assert same_model(str(tmp_path / "ckpt"), f"{tmp_path}/./ckpt") and runs_as_stored(stored, running)
    running.engine.max_model_len = 2048  # as `--max-model-len` sets it: picking the profile reloads
    assert not runs_as_stored(stored, running)
    running.engine.max_model_len = None
    running.engine.model = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"  # as `--model` replaces it
    assert not runs_as_stored(stored, running)
    remote = Profile(name="r", kind="remote", server_url="http://gpu-box:8000")
    assert runs_as_stored(remote, Profile(name="r", kind="remote", server_url="http://gpu-box:8000"))
    assert not runs_as_stored(remote, Profile(name="r", kind="remote", server_url="http://other:8000"))
    remote.engine.model = "tiny-r1"  # another model of the same server is another choice
    served = Profile(name="r", kind="remote", server_url="http://gpu-box:8000")
    served.engine.model = "tiny-r1-b"
    assert not runs_as_stored(remote, served)
    assert not runs_as_stored(remote, stored)
