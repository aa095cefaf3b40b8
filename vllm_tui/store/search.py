"""Turning what the user types into a safe FTS5 query, and FTS5 snippets into text plus spans."""

from __future__ import annotations

import re

# Marker characters handed to snippet(): control characters never typed into a chat.
MARK_START = "\x02"
MARK_END = "\x03"

_WORD = re.compile(r"\w", re.UNICODE)


def fts_query(text: str, prefix_last: bool = True) -> str | None:
    """Each whitespace-separated word becomes a quoted phrase, all of them required (AND).

    Quoting keeps FTS5 operators (AND, NEAR, "-", "*", parentheses) in the user's text from being
    parsed as syntax, so any input is a valid query. The last word matches as a prefix, so results
    appear while the user is still typing. None when nothing searchable remains.
    """
    words = [w for w in text.split() if _WORD.search(w)]
    if not words:
        return None
    phrases = ['"' + w.replace('"', '""') + '"' for w in words]
    if prefix_last:
        phrases[-1] += "*"
    return " ".join(phrases)


def parse_snippet(raw: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Strip the markers out of a snippet; returns the text (one line) and the marked spans."""
    raw = " ".join(raw.split())
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    for ch in raw:
        if ch == MARK_START:
            start = length
        elif ch == MARK_END:
            if start is not None and length > start:
                spans.append((start, length))
            start = None
        else:
            out.append(ch)
            length += 1
    return "".join(out), tuple(spans)


def like_escape(word: str) -> str:
    """`word` for a LIKE pattern with ESCAPE '\\': its own %, _ and \\ match themselves."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def spans(text: str, words: list[str]) -> tuple[tuple[int, int], ...]:
    """Where each word occurs in `text`, ignoring case: sorted (start, end) offsets, overlaps merged."""
    folded = text.lower()
    if len(folded) != len(text):
        return ()  # a letter whose lower case is longer (İ): offsets would point beside the words
    found: list[tuple[int, int]] = []
    for word in {w.lower() for w in words if w}:
        start = folded.find(word)
        while start != -1:
            found.append((start, start + len(word)))
            start = folded.find(word, start + len(word))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)
