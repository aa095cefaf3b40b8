"""The decode floor's shapes: every linear layer a 7B decode step streams, and nothing else."""

from __future__ import annotations

from bench.decode_floor import linear_shapes

# DeepSeek-R1-Distill-Qwen-7B's config.json, the fields the floor reads.
SEVEN_B = {
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
}


def test_the_7b_linear_layers_are_its_weights_less_the_embedding() -> None:
    shapes = linear_shapes(SEVEN_B)
    assert len(shapes) == 28 * 4 + 1
    assert shapes[0] == ((28 + 2 * 4) * 128, 3584)  # q, k and v in one matrix, as vLLM merges them
    assert shapes[-1] == (152064, 3584)  # the LM head
    params = sum(out * inp for out, inp in shapes)
    # The model has 7.62 B parameters: these, the 0.545 B embedding (one row read per token), and
    # norms and biases (under 1 M).
    embedding = 152064 * 3584
    assert 7.61e9 < params + embedding < 7.62e9


def test_head_dim_from_the_config_when_it_has_one() -> None:
    shapes = linear_shapes({**SEVEN_B, "head_dim": 64})
    assert shapes[0] == ((28 + 2 * 4) * 64, 3584)
    assert shapes[1] == (3584, 28 * 64)
