"""Thinking/answer split with vLLM's own reasoning parsers (`deepseek_r1` for R1 models).

The parser's streaming method was renamed across vLLM releases (`extract_reasoning_content_streaming`
→ `extract_reasoning_streaming`) and so was the field of its `DeltaMessage` (`reasoning_content` →
`reasoning`); both spellings are handled here so 0.26 through 0.33 work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vllm_tui.model_info import reasoning_parser_for


def detect_reasoning_parser(setting: str, model: str, chat_template: str | None) -> str | None:
    """The parser a profile's `reasoning_parser` setting means: "auto" asks `reasoning_parser_for`
    (deepseek_r1 for R1 models, by name or by a template that opens <think>)."""
    if setting and setting != "auto":
        return None if setting == "none" else setting
    return reasoning_parser_for(model, chat_template)


class ReasoningSplitter:
    """Feeds one sample's deltas through a vLLM reasoning parser and returns (thinking, answer)."""

    def __init__(self, tokenizer: Any, parser_name: str | None) -> None:
        self._parser: Any = None
        if parser_name:
            from vllm.reasoning import ReasoningParserManager

            self._parser = ReasoningParserManager.get_reasoning_parser(parser_name)(tokenizer)
            self._extract = (
                getattr(self._parser, "extract_reasoning_streaming", None)
                or self._parser.extract_reasoning_content_streaming
            )
        self._text = ""
        self._ids = _TokenHistory()
        self.in_thinking = parser_name is not None
        """True until the answer starts (R1's output starts inside the thinking)."""

    def feed(self, delta_text: str, delta_ids: Sequence[int]) -> tuple[str, str]:
        if self._parser is None:
            return "", delta_text
        previous_text = self._text
        current_text = previous_text + delta_text
        previous_ids = self._ids.view()
        self._ids.extend(delta_ids)
        current_ids = self._ids.view()
        msg = self._extract(
            previous_text, current_text, delta_text, previous_ids, current_ids, list(delta_ids)
        )
        self._text = current_text
        if msg is None:
            return "", ""
        reasoning = getattr(msg, "reasoning", None)
        if reasoning is None:
            reasoning = getattr(msg, "reasoning_content", None)
        content = getattr(msg, "content", None) or ""
        if content:
            self.in_thinking = False
        return reasoning or "", content


class _TokenHistory:
    """All token ids of one sample. The parsers test `token in previous_ids` on every delta; on a
    plain list that is O(length) per token, which adds up over 30,000-token answers, so membership
    here is a dict lookup of each id's first position."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.first: dict[int, int] = {}

    def extend(self, ids: Sequence[int]) -> None:
        for tid in ids:
            self.first.setdefault(tid, len(self.ids))
            self.ids.append(tid)

    def view(self) -> _TokenView:
        return _TokenView(self, len(self.ids))


class _TokenView(Sequence[int]):
    """The first `length` ids of a history: what a parser sees as previous or current ids."""

    def __init__(self, history: _TokenHistory, length: int) -> None:
        self._h = history
        self._n = length

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._h.ids[: self._n][index]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        return self._h.ids[index]

    def __contains__(self, tid: object) -> bool:
        pos = self._h.first.get(tid)  # type: ignore[call-overload]
        return pos is not None and pos < self._n

    def __iter__(self) -> Any:
        return iter(self._h.ids[: self._n])

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        return self._h.ids.index(value, start, self._n if stop is None else min(stop, self._n))
