"""Schema versions: a version 1 store (made with the v1 DDL) migrates forward with its data intact."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from vllm_tui.store import ChatStore, StoreError, schema


def _make_v1(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in schema.V1:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO chats (id, title, title_is_custom, created, updated) VALUES (1, 'Old chat', 1, 100, 200)"
    )
    conn.execute(
        "INSERT INTO messages (chat_id, role, content, state, created, updated) "
        "VALUES (1, 'user', 'An old question about volcanoes', 'complete', 100, 100)"
    )
    conn.execute(
        "INSERT INTO messages (chat_id, role, content, thinking, state, created, updated, model, profile, "
        "sampling, prompt_tokens, completion_tokens, tokens_per_second, sample) VALUES "
        "(1, 'assistant', 'Lava is hot', 'recall geology', 'complete', 101, 150, 'r1', 'small', "
        "'{\"temperature\": 0.6}', 10, 20, 33.5, 0)"
    )
    # v1 recorded no owner: an answer left streaming then can only have been interrupted.
    conn.execute(
        "INSERT INTO messages (chat_id, role, content, state, created, updated) "
        "VALUES (1, 'assistant', 'half an answ', 'streaming', 160, 160)"
    )
    conn.close()


def test_migration_1_alone_builds_version_1(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "v1.sqlite3", isolation_level=None)
    assert schema.migrate(conn, target=1) == 0
    assert schema.user_version(conn) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"chats", "messages"} <= tables and "messages_fts" not in tables
    conn.close()


def test_v1_store_migrates_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    _make_v1(path)
    with ChatStore.open(path) as store:
        assert store.schema_version == schema.LATEST_VERSION == 5
        chats = store.list_chats()
        assert [(c.id, c.title, c.title_is_custom, c.message_count) for c in chats] == [
            (1, "Old chat", True, 3)
        ]
        user, answer, partial = store.messages(1)
        assert user.content == "An old question about volcanoes"
        assert answer.thinking == "recall geology" and dict(answer.sampling) == {"temperature": 0.6}
        assert answer.tokens_per_second == pytest.approx(33.5)
        assert partial.state == "interrupted" and partial.content == "half an answ"
        assert answer.finish_reason is None  # schema 3's column: not known for answers stored before
        assert answer.thinking_seconds is None  # schema 4's: nor this
        assert not answer.shown  # schema 5's: no tab was marked shown
        # The migration indexed what v1 held.
        assert [h.message_id for h in store.search("volcanoes")] == [user.id]
        assert [h.message_id for h in store.search("geology")] == [answer.id]
        # And the migrated store works like a new one.
        new_id = store.add_user_message(1, "a new question on basalt")
        assert store.search("basalt")[0].message_id == new_id
        assert store.integrity_check() == "ok"
    # Reopening a current store changes nothing.
    with ChatStore.open(path) as store:
        assert store.schema_version == 5 and len(store.messages(1)) == 4


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    _make_v1(path)
    errors: list[BaseException] = []
    stores: list[ChatStore] = []

    def open_it() -> None:
        try:
            stores.append(ChatStore.open(path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(s.schema_version == schema.LATEST_VERSION for s in stores)
    assert len(stores[0].search("volcanoes")) == 1  # indexed once, not four times
    assert stores[0].integrity_check() == "ok"
    for s in stores:
        s.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    with ChatStore.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer vllm-tui"):
        ChatStore.open(path)
