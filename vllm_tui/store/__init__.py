"""Conversation store: chats and messages in SQLite, with full-text search. No Textual here."""

from __future__ import annotations

from vllm_tui.store.chat_store import ChatStore, default_store_path, make_title
from vllm_tui.store.models import (
    FINAL_STATES,
    MESSAGE_STATES,
    Chat,
    MessageState,
    Role,
    SearchHit,
    StoreClosed,
    StoredMessage,
    StoreError,
)

__all__ = [
    "FINAL_STATES",
    "MESSAGE_STATES",
    "Chat",
    "ChatStore",
    "MessageState",
    "Role",
    "SearchHit",
    "StoreClosed",
    "StoreError",
    "StoredMessage",
    "default_store_path",
    "make_title",
]
