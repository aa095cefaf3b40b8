"""Synthetic DeepSeek-R1-style answers cut into token-sized fragments, for the render benchmark.

Real R1 answers mix prose paragraphs, `##` headings, bullet and numbered lists, tables, inline code and
long code fences; a BPE tokenizer hands them over as fragments of one to six characters, often with the
leading space attached (" the", " config"). The generator is seeded, so every run (and the naive
reference line) sees exactly the same fragments.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["code_tokens", "matched_prose_tokens", "prose_tokens", "split_into_tokens"]

_WORDS = (
    "the model request token cache memory batch latency answer user server engine prefix layer kernel "
    "attention scheduler sequence throughput block page tensor weight queue stream reply context window "
    "because therefore however first second then finally each every which while after before when note "
    "check compute return value list table index offset length update prompt output input result error "
    "so we need to make sure that this is a good way for it can be done with one more step here"
).split()

_IDENTIFIERS = (
    "result items total count index value buffer offset config request response tokens cache batch "
    "scheduler engine layer weights output logits hidden state position size limit chunk queue"
).split()


def _sentence(shape: random.Random, words: random.Random | None = None) -> str:
    # `shape` draws what decides how the text lays out (lengths, block kinds, sizes, where inline code
    # goes), `words` the words themselves; one generator for both gives the plain seeded document.
    words = words or shape
    chosen = [words.choice(_WORDS) for _ in range(shape.randint(6, 18))]
    if shape.random() < 0.3:
        i = shape.randrange(len(chosen))
        chosen[i] = f"`{words.choice(_IDENTIFIERS)}`"
    if shape.random() < 0.2:
        i = shape.randrange(len(chosen))
        chosen[i] = f"**{chosen[i]}**"
    chosen[0] = chosen[0].capitalize()
    return " ".join(chosen) + shape.choice(".....?:")


def _paragraph(shape: random.Random, words: random.Random | None = None) -> str:
    return " ".join(_sentence(shape, words) for _ in range(shape.randint(2, 5)))


def _code_line(shape: random.Random, depth: int, words: random.Random | None = None) -> str:
    words = words or shape
    a, b, c = words.choice(_IDENTIFIERS), words.choice(_IDENTIFIERS), words.choice(_IDENTIFIERS)
    forms = (
        f"{a} = {b}.get({c!r}, {words.randint(0, 512)})",
        f"for {a} in range(len({b})):",
        f"if {a} > {b}:",
        f"# {_sentence(shape, words).rstrip('.?:')}",
        f"{a}.append({b}[{c}] * {words.randint(2, 9)})",
        f"return {a} + {b}",
        f"def compute_{a}({b}: int, {c}: list[int]) -> int:",
        f'print(f"{{{a}=}} {{{b}=}}")',
        f"{a}, {b} = {b}, {a} % {words.randint(3, 97)}",
    )
    line = shape.choice(forms)
    return "    " * depth + line


def _code_block(shape: random.Random, lines: int, words: random.Random | None = None) -> str:
    out = []
    depth = 0
    for _ in range(lines):
        line = _code_line(shape, depth, words)
        out.append(line)
        if line.endswith(":"):
            depth = min(depth + 1, 4)
        elif depth and shape.random() < 0.25:
            depth -= 1
        if shape.random() < 0.05:
            out.append("")
    return "```python\n" + "\n".join(out) + "\n```"


def _list(shape: random.Random, ordered: bool, words: random.Random | None = None) -> str:
    items = []
    for n in range(1, shape.randint(3, 7) + 1):
        marker = f"{n}." if ordered else "-"
        items.append(f"{marker} {_sentence(shape, words)}")
        if shape.random() < 0.25:
            items.append(f"   - {_sentence(shape, words)}")
    return "\n".join(items)


def _table(shape: random.Random, words: random.Random | None = None) -> str:
    words = words or shape
    cols = shape.randint(2, 4)
    head = "| " + " | ".join(words.choice(_IDENTIFIERS).title() for _ in range(cols)) + " |"
    rule = "|" + "|".join("---" for _ in range(cols)) + "|"
    rows = [
        "| " + " | ".join(str(words.randint(1, 9999)) for _ in range(cols)) + " |"
        for _ in range(shape.randint(2, 6))
    ]
    return "\n".join([head, rule, *rows])


def prose_document(shape: random.Random, words: random.Random | None = None) -> Iterator[str]:
    """Endless Markdown blocks of a typical long answer: mostly prose, some structure, short fences."""
    section = 0
    while True:
        section += 1
        yield f"## {section}. {_sentence(shape, words).rstrip('.?:')}"
        for _ in range(shape.randint(2, 5)):
            roll = shape.random()
            if roll < 0.55:
                yield _paragraph(shape, words)
            elif roll < 0.7:
                yield _list(shape, False, words)
            elif roll < 0.8:
                yield _list(shape, True, words)
            elif roll < 0.88:
                yield _table(shape, words)
            else:
                yield _code_block(shape, shape.randint(4, 14), words)


def code_document(rng: random.Random) -> Iterator[str]:
    """A short intro, then one code fence that never closes within the token budget."""
    yield _paragraph(rng)
    yield "```python"
    depth = 0
    while True:
        line = _code_line(rng, depth)
        yield line
        if line.endswith(":"):
            depth = min(depth + 1, 4)
        elif depth and rng.random() < 0.25:
            depth -= 1


def split_into_tokens(text: str, rng: random.Random) -> Iterator[str]:
    """Cut text the way a BPE tokenizer roughly does: a leading space sticks to the word, long words
    and runs of spaces break into pieces of at most six characters, newlines come on their own."""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            j = i
            while j < n and text[j] == "\n":
                j += 1
            yield text[i:j]
            i = j
            continue
        j = i + 1 if ch == " " else i
        while j < n and (text[j].isalnum() or text[j] == "_"):
            j += 1
        if j == i or (j == i + 1 and ch == " "):
            # Punctuation (or a lone space before punctuation): one to three characters.
            j = min(i + rng.randint(1, 3), n)
            k = i
            while k < j and text[k] != "\n":
                k += 1
            j = max(k, i + 1)
        while i < j:
            step = min(j - i, rng.randint(2, 6))
            yield text[i : i + step]
            i += step


def _tokens(blocks: Iterator[str], count: int, seed: int, separator: str) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for block in blocks:
        for token in split_into_tokens(block + separator, rng):
            out.append(token)
            if len(out) == count:
                return out
    raise AssertionError("generators are endless")


def prose_tokens(count: int, seed: int = 1) -> list[str]:
    """`count` fragments of a prose-heavy answer with headings, lists, tables and short code fences."""
    return _tokens(prose_document(random.Random(seed)), count, seed, "\n\n")


def matched_prose_tokens(count: int, seed: int = 1) -> list[str]:
    """`count` fragments of prose like `prose_tokens`', in ten tenths that share one layout: the same
    blocks (kinds, sizes, sentence lengths, where inline code and bold fall) with different words.

    In `prose_tokens` each tenth draws its own blocks, and what they are moves the cost per token:
    its last tenth has half again as many table rows and twice the list items of its first, and an
    open table or list is redrawn whole each frame. Here a difference between two tenths can only come
    from how much answer came before them."""
    per = count // 10
    out: list[str] = []
    for tenth in range(10):
        size = per if tenth < 9 else count - 9 * per
        words = random.Random(seed * 1_000 + tenth + 1)
        tokens = _tokens(prose_document(random.Random(seed), words), size, seed * 1_000 + tenth + 1, "\n\n")
        tokens[-1] += "\n\n"  # the next tenth starts a section of its own, not inside a cut block
        out += tokens
    return out


def code_tokens(count: int, seed: int = 2) -> list[str]:
    """`count` fragments of an answer that is one long Python code fence (still open at the end)."""
    rng = random.Random(seed)
    blocks = code_document(rng)
    intro = next(blocks)
    rest = _tokens(blocks, count, seed, "\n")
    head = list(split_into_tokens(intro + "\n\n", random.Random(seed)))
    return (head + rest)[:count]
