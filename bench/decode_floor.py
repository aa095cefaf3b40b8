"""Where a batch-1 decode step's time goes on this GPU, against the copy-bandwidth roofline (item 6).

bench.roofline divides the GPU's copy bandwidth by the checkpoint's bytes. No decode reaches that
line: a matrix-vector product streams its weights more slowly than a copy does, and each step also
samples a token. This measures both parts on their own, with the model's own shapes (from its
config.json, no weights loaded), so the engine's rate can be read against what the kernels allow:

* `linear_floor`: every linear layer of one token (28 × qkv, o, gate/up, down, and the LM head),
  each with its own weights so no cache helps, through PyTorch's `F.linear` (cuBLAS), captured in one
  CUDA graph as vLLM's decode is. Its rate is the fastest a step can be with these kernels, before
  attention, norms and sampling.
* `sampler`: one row of logits over the model's vocabulary, sampled as vLLM does it for a single
  request: greedy (argmax), temperature only, and temperature with top-p (R1's 0.6 / 0.95), timed in
  eager mode, as vLLM's sampler runs outside the graph.

    python -m bench.decode_floor --model PATH [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.report import report
from bench.roofline import copy_bandwidth, weight_bytes


def linear_shapes(config: dict[str, Any]) -> list[tuple[int, int]]:
    """(out_features, in_features) of every linear layer one decode step runs, in order."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or hidden // heads
    inter = config["intermediate_size"]
    layer = [
        ((heads + 2 * kv_heads) * head_dim, hidden),  # qkv
        (hidden, heads * head_dim),  # o
        (2 * inter, hidden),  # gate and up, as vLLM merges them
        (hidden, inter),  # down
    ]
    return layer * config["num_hidden_layers"] + [(config["vocab_size"], hidden)]


def _time_graph(run: Any, iters: int = 50) -> float:
    """Seconds per call of `run` replayed from one CUDA graph."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    for _ in range(5):
        graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000 / iters


def _time_eager(run: Any, iters: int = 200) -> float:
    """Seconds per call of `run` launched from Python, as the sampler is."""
    import time

    import torch

    for _ in range(10):
        run()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iters):
        run()
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / iters


def linear_floor(shapes: list[tuple[int, int]], dtype: Any) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    weights = [torch.empty(out, inp, dtype=dtype, device="cuda").normal_(std=0.01) for out, inp in shapes]
    width = max(inp for _, inp in shapes)
    x = torch.randn(1, width, dtype=dtype, device="cuda")

    def step() -> None:
        for w in weights:
            F.linear(x[:, : w.shape[1]], w)

    seconds = _time_graph(step)
    nbytes = sum(w.numel() * w.element_size() for w in weights)
    return {"bytes": nbytes, "seconds": seconds, "tok_s": 1 / seconds, "gb_s": nbytes / seconds / 1e9}


def sampler_costs(vocab: int) -> dict[str, Any]:
    """Microseconds per sampled token for one request's row of logits (float32, as vLLM keeps them)."""
    import torch

    logits = torch.randn(1, vocab, dtype=torch.float32, device="cuda")
    temperature = torch.tensor([0.6], device="cuda")
    top_p = torch.tensor([0.95], device="cuda")

    def greedy() -> Any:
        return logits.argmax(dim=-1)

    def sample(probs: Any) -> Any:
        # vLLM draws with exponential noise instead of torch.multinomial (no host sync).
        q = torch.empty_like(probs).exponential_()
        return probs.div(q).argmax(dim=-1)

    def temperature_only() -> Any:
        return sample((logits / temperature.unsqueeze(1)).softmax(dim=-1))

    def top_p_sort() -> Any:
        # The PyTorch path vLLM takes for a lone request with top-p: sort the vocabulary, mask the
        # tail past p, scatter back.
        scaled = logits / temperature.unsqueeze(1)
        sorted_logits, order = scaled.sort(dim=-1, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        mask = cum <= 1 - top_p.unsqueeze(1)
        mask[:, -1] = False
        sorted_logits.masked_fill_(mask, -float("inf"))
        masked = sorted_logits.scatter(dim=-1, index=order, src=sorted_logits)
        return sample(masked.softmax(dim=-1))

    result: dict[str, Any] = {
        "greedy_us": 1e6 * _time_eager(greedy),
        "temperature_us": 1e6 * _time_eager(temperature_only),
        "top_p_us": 1e6 * _time_eager(top_p_sort),
    }
    try:  # vLLM's own function, where this release has it under this name
        from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p

        def vllm_top_p() -> Any:
            return sample(apply_top_k_top_p(logits / temperature.unsqueeze(1), None, top_p).softmax(dim=-1))

        result["vllm_top_p_us"] = 1e6 * _time_eager(vllm_top_p)
    except Exception as exc:  # noqa: BLE001 - reported, the other figures still stand
        result["vllm_top_p_error"] = f"{type(exc).__name__}: {exc}"
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    config = json.loads((args.model / "config.json").read_text())
    dtype = {"float16": torch.float16}.get(config.get("torch_dtype", ""), torch.bfloat16)
    bandwidth = copy_bandwidth()
    checkpoint = weight_bytes(args.model)
    floor = linear_floor(linear_shapes(config), dtype)
    torch.cuda.empty_cache()  # the floor's weights are gone with it
    sampler = sampler_costs(config["vocab_size"])
    roofline_tok_s = bandwidth / checkpoint
    step_s = floor["seconds"] + sampler["top_p_us"] / 1e6
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "copy_bandwidth_gb_s": round(bandwidth / 1e9, 1),
        "checkpoint_bytes": checkpoint,
        "roofline_tok_s": round(roofline_tok_s, 1),
        "linear_bytes": floor["bytes"],
        "linear_gb_s": round(floor["gb_s"], 1),
        "linear_share_of_copy_bandwidth": round(floor["gb_s"] * 1e9 / bandwidth, 3),
        "linear_floor_tok_s": round(floor["tok_s"], 1),
        "linear_floor_share_of_roofline": round(floor["tok_s"] / roofline_tok_s, 3),
        "sampler": {k: round(v, 1) if isinstance(v, float) else v for k, v in sampler.items()},
        # Linear layers plus R1 sampling: a ceiling for the engine with these kernels (attention,
        # norms, rotary embedding and scheduling come on top).
        "linear_and_top_p_tok_s": round(1 / step_s, 1),
        "linear_and_top_p_share_of_roofline": round(1 / step_s / roofline_tok_s, 3),
    }
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
