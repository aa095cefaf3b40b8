"""What the UI asks an engine for: a chat turn with its sampling settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from vllm_tui.config import SamplingSettings

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str
    """For the assistant: the answer only. Thinking is shown but never sent back."""


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatTurn, ...]
    sampling: SamplingSettings
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    n: int = 1
    """Parallel samples in one batch (vLLM's `n`)."""
    continue_final: bool = False
    """Continue the last assistant message instead of starting a new one."""
