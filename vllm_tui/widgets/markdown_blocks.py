"""Markdown source → blocks, for streaming: which blocks are closed (they never change again) and
what is still open. Pure text work, no Textual: `StreamingMarkdown` renders what this decides.

Also `make_visible`, which turns control characters in untrusted model text into visible symbols
so that no escape sequence ever reaches the terminal.
"""

from __future__ import annotations

import re

__all__ = ["BlockSplitter", "make_visible"]


def _control_table() -> dict[int, str]:
    # C0 controls (except newline and tab) become Unicode "control pictures" (ESC -> ␛, BEL -> ␇);
    # DEL and C1 controls (0x80-0x9f, which some terminals treat as CSI/OSC introducers) become ␡ and
    # the replacement character. Carriage returns are dropped: they would move the terminal cursor.
    table: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20) if code not in (9, 10)}
    table[0x0D] = ""
    table[0x7F] = "\u2421"
    table.update({code: "\ufffd" for code in range(0x80, 0xA0)})
    return table


_CONTROLS = _control_table()
_HAS_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def make_visible(text: str) -> str:
    """Replace terminal control characters in untrusted text with visible symbols (length may shrink
    only by dropped carriage returns)."""
    if _HAS_CONTROL.search(text) is None:
        return text
    return text.translate(_CONTROLS)


# -- block boundaries --------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n?$")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|\n|$)")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|\n|$)")


class BlockSplitter:
    """Cuts a growing Markdown text into closed top-level blocks plus one open block.

    Invariant: the concatenation of every block returned by `feed()`/`close()` followed by
    `open_text` is exactly the text fed so far, whatever the fragment sizes. A block may be larger
    than strictly needed (merging is always safe, since each block is parsed on its own); it is never
    cut where cutting would change how Markdown parses it: inside a fence, between the items of a list
    separated by blank lines, or before an indented continuation line.
    """

    def __init__(self) -> None:
        self._partial = ""
        self._start_block()

    def _start_block(self) -> None:
        """Forget the block just closed (or start the first): its lines and what was learnt of it."""
        self._lines: list[str] = []
        self._joined: str | None = None
        self._fence: tuple[str, int] | None = None
        self._fence_is_block = False
        self._has_content = False
        self._in_list = False
        self._indented_code = False
        self._blank_after = False
        self._heading_done = False

    @property
    def partial(self) -> str:
        """The incomplete last line (no newline yet)."""
        return self._partial

    @property
    def open_lines(self) -> list[str]:
        """Complete lines of the open block, each ending in a newline (do not modify)."""
        return self._lines

    @property
    def open_text(self) -> str:
        """Source of the open block: its complete lines and the incomplete last line."""
        if self._joined is None:
            self._joined = "".join(self._lines)
        return self._joined + self._partial

    @property
    def open_fence_info(self) -> str | None:
        """Info string of the code fence that the open block consists of, or None if it is not one."""
        if self._fence is None or not self._fence_is_block:
            return None
        match = _FENCE_OPEN.match(self._first_content_line())
        return match["info"].strip() if match else ""

    def feed(self, text: str) -> list[str]:
        """Add text; return the blocks that this closed (oldest first)."""
        closed: list[str] = []
        if "\n" not in text:
            self._partial += text
            return closed
        data = self._partial + text
        start = 0
        find = data.find
        while (end := find("\n", start)) >= 0:
            self._line(data[start : end + 1], closed)
            start = end + 1
        self._partial = data[start:]
        return closed

    def close(self) -> list[str]:
        """End of text: return what is left as the last block(s)."""
        closed: list[str] = []
        if self._partial:
            partial, self._partial = self._partial, ""
            self._line(partial, closed)
        if self._lines:
            self._emit(closed)
        return closed

    def _first_content_line(self) -> str:
        return next((line for line in self._lines if line.strip()), "")

    def _emit(self, closed: list[str]) -> None:
        closed.append("".join(self._lines))
        self._start_block()

    def _line(self, line: str, closed: list[str]) -> None:
        self._joined = None
        if self._fence is not None:
            self._lines.append(line)
            char, length = self._fence
            body = line.strip()
            if len(body) >= length and body.count(char) == len(body):
                self._fence = None
                if self._fence_is_block:
                    self._emit(closed)
            return
        if not line.strip():
            self._lines.append(line)
            if self._has_content:
                if not self._in_list and not self._indented_code:
                    # Only a list item or indented code can continue past a blank line.
                    self._emit(closed)
                else:
                    self._blank_after = True
            return

        indent = len(line) - len(line.lstrip(" \t"))
        indented = indent > 0
        fence = _FENCE_OPEN.match(line)
        if fence is not None and (
            (fence["fence"][0] == "`" and "`" in fence["info"]) or (indent >= 4 and not self._in_list)
        ):
            fence = None
        heading = _HEADING.match(line) is not None

        if self._has_content:
            inside_list = self._in_list and (indented or _LIST_ITEM.match(line) is not None)
            if self._heading_done:
                boundary = True
            elif self._blank_after:
                boundary = not inside_list and indent < 4
            else:
                boundary = (fence is not None or heading) and not (self._in_list and indented)
            if boundary:
                self._emit(closed)

        starts_block = not self._has_content
        if starts_block:
            self._indented_code = indent >= 4
        self._lines.append(line)
        self._has_content = True
        self._blank_after = False
        if heading and starts_block:
            self._heading_done = True
        if _LIST_ITEM.match(line) is not None:
            self._in_list = True
        if fence is not None:
            self._fence = (fence["fence"][0], len(fence["fence"]))
            self._fence_is_block = starts_block


# -- rendering ---------------------------------------------------------------------------------------
