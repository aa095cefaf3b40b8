"""The render benchmark's synthetic answers: seeded, and the matched prose's tenths alike but for words."""

from __future__ import annotations

import re

from bench.synthetic import matched_prose_tokens, prose_tokens


def _layout(text: str) -> list[tuple[str, int]]:
    """Each line's kind (heading, table row, list item, fence, text, blank) and its word count."""
    kinds = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if line.startswith("#"):
            kind = "heading"
        elif line.startswith("|"):
            kind = "table"
        elif re.match(r"(-|\d+\.) ", stripped):
            kind = "list"
        elif stripped.startswith("```"):
            kind = "fence"
        else:
            kind = "text" if stripped else "blank"
        kinds.append((kind, len(line.split())))
    return kinds


def test_the_plain_documents_are_seeded() -> None:
    assert prose_tokens(2_000) == prose_tokens(2_000)
    assert prose_tokens(2_000) != prose_tokens(2_000, seed=3)


def test_matched_prose_tenths_share_a_layout_but_not_words() -> None:
    tokens = matched_prose_tokens(30_000)
    assert len(tokens) == 30_000 and tokens == matched_prose_tokens(30_000)
    tenths = ["".join(tokens[k * 3_000 : (k + 1) * 3_000]) for k in range(10)]
    assert len(set(tenths)) == 10, "each tenth has its own words"
    # The tenths are cut by token count, so a tenth's last block may end a few words sooner or later:
    # compare the lines before it.
    layouts = [_layout(tenth)[:-3] for tenth in tenths]
    shortest = min(map(len, layouts))
    assert shortest > 100
    assert all(layout[:shortest] == layouts[0][:shortest] for layout in layouts)
    assert {kind for kind, _ in layouts[0]} >= {"heading", "table", "list", "fence", "text"}
    assert all(tenth.startswith("## 1. ") for tenth in tenths)
