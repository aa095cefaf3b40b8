"""The wire format of a streaming chat completion from a vLLM server.

Three small pieces, kept apart from the HTTP code so each can be tested on plain strings:
`SSEDecoder` frames server-sent events out of text lines, `parse_chunk` turns one event's JSON into
typed choice deltas (or raises `StreamError` for an error event or malformed JSON), and
`ThinkTagSplitter` separates thinking from answer on the client when the server runs without a
reasoning parser and `</think>` arrives inside `content`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"


class SSEDecoder:
    """Line-by-line decoder following the EventSource spec: `data:` lines accumulate, a blank line
    dispatches, lines starting with ':' are comments (keep-alives), other fields are ignored."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None

    def flush(self) -> SSEEvent | None:
        """What is pending when the stream ends without a final blank line."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent("\n".join(self._data), self._event or "message")
        self._data = []
        self._event = ""
        return event


class StreamError(Exception):
    """The stream carried an error event, or something that is not a chat-completion chunk."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.malformed = malformed


@dataclass(frozen=True)
class ChoiceDelta:
    index: int
    reasoning: str | None
    """`delta.reasoning` (vLLM ≥ 0.11 spelling) or `delta.reasoning_content`; None when absent."""
    content: str | None
    finish_reason: str | None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None


@dataclass(frozen=True)
class Chunk:
    choices: tuple[ChoiceDelta, ...]
    usage: Usage | None


def error_message(obj: Any) -> str | None:
    """The message of an OpenAI-style error object in any of the shapes vLLM has used:
    {"error": {"message": …}}, {"object": "error", "message": …}, {"error": "Unauthorized"}, {"detail": …}."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    if isinstance(err, str):
        return err
    if obj.get("object") == "error":
        return str(obj.get("message") or "error")
    detail = obj.get("detail")
    if detail is not None and "choices" not in obj:
        return detail if isinstance(detail, str) else json.dumps(detail)
    return None


def parse_chunk(data: str) -> Chunk:
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as exc:
        raise StreamError(
            f"Not JSON ({exc.msg} at position {exc.pos}): {_clip(data)}", malformed=True
        ) from None
    message = error_message(obj)
    if message is not None:
        raise StreamError(message)
    if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
        raise StreamError(f"Not a chat-completion chunk: {_clip(data)}", malformed=True)
    choices = []
    for raw in obj["choices"]:
        if not isinstance(raw, dict):
            raise StreamError(f"A choice is not an object: {_clip(data)}", malformed=True)
        delta = raw.get("delta") or {}
        if not isinstance(delta, dict):
            raise StreamError(f"A delta is not an object: {_clip(data)}", malformed=True)
        reasoning = delta.get("reasoning")
        if reasoning is None:
            reasoning = delta.get("reasoning_content")
        choices.append(
            ChoiceDelta(
                index=int(raw.get("index") or 0),
                reasoning=None if reasoning is None else str(reasoning),
                content=None if delta.get("content") is None else str(delta["content"]),
                finish_reason=raw.get("finish_reason"),
            )
        )
    usage = None
    raw_usage = obj.get("usage")
    if isinstance(raw_usage, dict):
        details = raw_usage.get("completion_tokens_details")
        reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
        usage = Usage(
            prompt_tokens=int(raw_usage.get("prompt_tokens") or 0),
            completion_tokens=int(raw_usage.get("completion_tokens") or 0),
            reasoning_tokens=None if reasoning_tokens is None else int(reasoning_tokens),
        )
    return Chunk(tuple(choices), usage)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ThinkTagSplitter:
    """Splits `content` into (thinking, answer) at `</think>`, for a server without a reasoning parser.

    R1 chat templates end the prompt with "<think>\\n", so the output starts inside the thinking; a
    model whose template lacks it writes "<think>" itself, which is dropped here. The tag can arrive
    cut across chunks ("</thi" + "nk>"), so a tail that could be the start of it is held back.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._thinking = True
        self._at_start = True

    @property
    def in_thinking(self) -> bool:
        return self._thinking

    def feed(self, text: str) -> tuple[str, str]:
        if not self._thinking:
            return "", text
        buf = self._pending + text
        self._pending = ""
        if self._at_start:
            stripped = buf.lstrip()
            if THINK_OPEN.startswith(stripped):  # maybe the start of "<think>": wait for more
                self._pending = buf
                return "", ""
            if stripped.startswith(THINK_OPEN):
                buf = stripped[len(THINK_OPEN) :]
            self._at_start = False
        pos = buf.find(THINK_CLOSE)
        if pos >= 0:
            self._thinking = False
            return buf[:pos], buf[pos + len(THINK_CLOSE) :]
        keep = _partial_tag_suffix(buf, THINK_CLOSE)
        if keep:
            self._pending = buf[-keep:]
            buf = buf[:-keep]
        return buf, ""

    def flush(self) -> tuple[str, str]:
        """The held-back tail at the end of the output: it was thinking after all."""
        pending, self._pending = self._pending, ""
        return (pending, "") if self._thinking else ("", pending)


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
