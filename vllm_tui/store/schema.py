"""The SQLite schema and its forward migrations, versioned with `PRAGMA user_version`.

MIGRATIONS[i] takes a database from version i to i + 1. Each runs in its own IMMEDIATE transaction
that re-reads the version first, so two app processes opening an old store at once migrate it once.
Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from vllm_tui.store.models import StoreError

# Version 1: chats and messages, as first released.
V1: tuple[str, ...] = (
    """
    CREATE TABLE chats (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        title_is_custom INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )
    """,
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        thinking TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'complete'
            CHECK (state IN ('complete', 'stopped', 'failed', 'interrupted', 'streaming')),
        created REAL NOT NULL,
        updated REAL NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        profile TEXT NOT NULL DEFAULT '',
        sampling TEXT NOT NULL DEFAULT '{}',
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        reasoning_tokens INTEGER,
        time_to_first_token REAL,
        tokens_per_second REAL,
        error TEXT,
        sample INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX messages_by_chat ON messages(chat_id, id)",
    "CREATE INDEX chats_by_updated ON chats(updated)",
)

# Version 2: full-text search over content and thinking, and the owner of a streaming answer, so a
# store opened by a second live app does not mark the first one's answers as interrupted.
V2: tuple[str, ...] = (
    "ALTER TABLE messages ADD COLUMN owner_pid INTEGER",
    "ALTER TABLE messages ADD COLUMN owner_start TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming'",
    # External content: the text lives once, in `messages`; the triggers keep the index in step.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, thinking,
        content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
        VALUES ('delete', old.id, old.content, old.thinking);
    END
    """,
    # Only when the text changes: finishing an answer or bumping stats must not re-index it.
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, thinking ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
        VALUES ('delete', old.id, old.content, old.thinking);
        INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
    END
    """,
    # Index what version 1 already holds.
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)

# Version 3: why an answer ended, as the engine said ("stop", "length", "abort"). The state alone
# stores "length" and "abort" both as "stopped", so a reopened chat showed an answer that hit max
# tokens as stopped by the user. NULL for answers written before.
V3: tuple[str, ...] = ("ALTER TABLE messages ADD COLUMN finish_reason TEXT",)

# Version 4: how long the answer thought, as the app timed it live (its first token to the answer's
# first). A reopened chat said "Thought · 412 tokens" where the live one had said "Thought for 4.6 s". NULL
# where it was not timed: answers stored before, answers that never got past thinking.
V4: tuple[str, ...] = ("ALTER TABLE messages ADD COLUMN thinking_seconds REAL",)

# Version 5: which of a prompt's answers (parallel samples, or those regenerate keeps side by side) is
# the tab shown: the one the model hears with the next prompt. Unstored, a reopened chat showed the
# first tab, and the model then heard an answer other than the one shown before. 0 on rows written
# before, whose groups (unkept parallel samples) showed their first.
V5: tuple[str, ...] = ("ALTER TABLE messages ADD COLUMN shown INTEGER NOT NULL DEFAULT 0",)

MIGRATIONS: tuple[Sequence[str], ...] = (V1, V2, V3, V4, V5)
LATEST_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Bring the database up to `target`; returns the version it started at.

    `conn` must be in autocommit mode (isolation_level=None): each step manages its own transaction.
    """
    start = user_version(conn)
    if start > LATEST_VERSION:
        raise StoreError(
            f"The chat store was written by a newer vllm-tui "
            f"(schema {start}; this one knows up to {LATEST_VERSION})",
            "Upgrade vllm-tui, or point it at another store file.",
        )
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)
            if version >= target:
                conn.execute("COMMIT")
                return start
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
