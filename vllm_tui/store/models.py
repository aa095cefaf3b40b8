"""Typed values that cross the store boundary: chats, stored messages, search hits, store errors.

Frozen dataclasses, so the UI can hold them across threads without copying; timestamps are Unix
seconds (float) as written by `time.time()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
MessageState = Literal["complete", "stopped", "failed", "interrupted", "streaming"]

ROLES: tuple[Role, ...] = ("user", "assistant")
MESSAGE_STATES: tuple[MessageState, ...] = ("complete", "stopped", "failed", "interrupted", "streaming")
FINAL_STATES: tuple[MessageState, ...] = ("complete", "stopped", "failed", "interrupted")


@dataclass(frozen=True)
class Chat:
    id: int
    title: str
    """The first line of the first prompt (trimmed) until the user renames the chat."""
    created: float
    updated: float
    """Bumped whenever a message is added, finished or deleted; chat lists sort on it."""
    title_is_custom: bool = False
    """True once renamed: later prompts no longer change the title."""
    message_count: int = 0

    @property
    def display_title(self) -> str:
        return self.title or "New chat"


@dataclass(frozen=True)
class StoredMessage:
    id: int
    chat_id: int
    role: Role
    content: str
    thinking: str
    """The model's reasoning (between <think> and </think>), kept apart from the answer."""
    state: MessageState
    created: float
    updated: float
    model: str = ""
    profile: str = ""
    sampling: Mapping[str, Any] = field(default_factory=dict)
    """The sampling values the answer was generated with (temperature, top_p, max_tokens, …)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None
    error: str | None = None
    sample: int = 0
    """Which of its prompt's answers this is (a parallel sample's index, or regenerate's count)."""
    finish_reason: str | None = None
    """Why the answer ended, as the engine said: "stop", "length" (max tokens) or "abort"; None for
    answers stored before schema 3, and for user messages."""
    thinking_seconds: float | None = None
    """How long the answer thought, timed live; None where it was not (stored before schema 4, or the
    answer never got past its thinking)."""
    shown: bool = False
    """The tab shown among its prompt's several answers (schema 5; none is, in groups written before)."""

    @property
    def max_tokens(self) -> int | None:
        """The max tokens its request asked for, where the stored sampling holds a number."""
        value = self.sampling.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class SearchHit:
    chat_id: int
    message_id: int | None
    """None when the match is in the chat's title (one the user gave it) rather than a message."""
    chat_title: str
    role: Role | None
    """None for a title match."""
    snippet: str
    """Plain text around the match, with "…" where it was cut."""
    highlights: tuple[tuple[int, int], ...] = ()
    """(start, end) offsets into `snippet` of the matched terms, for the UI to style."""


class StoreError(Exception):
    """A user-facing problem with the conversation store (unreadable file, newer schema, …)."""

    def __init__(self, title: str, advice: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.advice = advice


class StoreClosed(StoreError):
    """The store was closed (the app is quitting) before a write from another thread reached it."""


def cut_off_label(completion_tokens: int, max_tokens: int | None) -> str:
    """How the app and its exports say why an answer ended at vLLM's "length": it means either max
    tokens or a full context window, told apart by the max tokens the request asked for (fewer
    tokens than asked: the context was full)."""
    if max_tokens and completion_tokens < max_tokens:
        return "hit the context limit"
    return "hit max tokens"


def thought_title(tokens: int, seconds: float | None) -> str:
    """How the app and its exports name an answer's finished thinking: "Thought for 4.6 s · 412 tokens",
    or "Thought · 412 tokens" where its time is not known (stored before schema 4)."""
    if seconds is None:
        return f"Thought · {tokens:,} tokens"
    return f"Thought for {seconds:.1f} s · {tokens:,} tokens"
