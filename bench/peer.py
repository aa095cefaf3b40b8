"""Peer: Hugging Face transformers `generate` with `TextIteratorStreamer` on the same checkpoint.

What a hand-rolled chat UI on transformers gets; the app's speed-up over it is reported beside the
delivered figure.

    python -m bench.peer --model PATH [--tokens 512] [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from bench.report import report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    tok = AutoTokenizer.from_pretrained(args.model)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype).to(args.device).eval()
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids.to(args.device)

    def run(n: int) -> tuple[float, float, int]:
        streamer = TextIteratorStreamer(tok, skip_prompt=True)
        kwargs = dict(
            input_ids=ids,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=True,
            temperature=0.6,
            top_p=0.95,
            streamer=streamer,
        )
        worker = threading.Thread(target=model.generate, kwargs=kwargs)
        start = time.perf_counter()
        worker.start()
        first = 0.0
        for piece in streamer:
            if piece and not first:
                first = time.perf_counter()
        worker.join()
        return start, first, n

    run(16)  # warm-up
    start, first, n = run(args.tokens)
    end = time.perf_counter()
    result = {
        "model": args.model,
        "device": args.device,
        "tokens": n,
        "ttft_ms": round((first - start) * 1000, 1),
        "tok_s": round((n - 1) / (end - first), 1),
    }
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
