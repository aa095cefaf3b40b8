"""engine_options' long prompts: never served from the prefix cache, and a context that holds them."""

from __future__ import annotations

import random

from bench.engine_options import PROMPT_IDS, context_len, prompt_ids


def test_the_default_prompt_is_the_shared_40_ids() -> None:
    assert prompt_ids(40, random.Random(0)) is PROMPT_IDS


def test_a_long_prompt_is_new_each_time() -> None:
    rng = random.Random(0)
    first, second = prompt_ids(4096, rng), prompt_ids(4096, rng)
    assert len(first) == len(second) == 4096
    # A shared first block would let vLLM's prefix cache skip part of the prefill being timed.
    assert first[:16] != second[:16]
    assert all(1000 <= token < 100_000 for token in first + second)


def test_the_context_holds_the_longest_prompt_and_its_answer() -> None:
    assert context_len([40], 512) == 4096  # the app's own context, as before
    assert context_len([40, 32768], 512) == 33792
    assert context_len([4000], 96) == 4096
    assert context_len([4000], 97) == 5120
