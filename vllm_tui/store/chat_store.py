"""ChatStore: conversations in one SQLite file (WAL, busy timeout, mode 0600, FTS5 search).

Several app processes may share the store (two tmux panes): every write is one short IMMEDIATE
transaction, so a writer waits at most `busy_timeout` for another and never hits the "busy snapshot"
error a deferred read-then-write transaction gets in WAL mode. One connection per store object,
guarded by a lock, so the UI thread and worker threads may both call it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from vllm_tui import config
from vllm_tui.store import export, owner, schema, search
from vllm_tui.store.models import (
    FINAL_STATES,
    Chat,
    MessageState,
    SearchHit,
    StoreClosed,
    StoredMessage,
    StoreError,
)

STORE_FILENAME = "chats.sqlite3"
TITLE_MAX = 60
DEFAULT_BUSY_TIMEOUT = 5.0

_MESSAGE_COLUMNS = (
    "id, chat_id, role, content, thinking, state, created, updated, model, profile, sampling, "
    "prompt_tokens, completion_tokens, reasoning_tokens, time_to_first_token, tokens_per_second, "
    "error, sample, finish_reason, thinking_seconds, shown"
)
_CHAT_COLUMNS = (
    "c.id, c.title, c.created, c.updated, c.title_is_custom, "
    "(SELECT count(*) FROM messages m WHERE m.chat_id = c.id)"
)


class AnswerStatsLike(Protocol):
    """What `finish_answer` reads; `vllm_tui.engine.events.AnswerStats` fits."""

    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def reasoning_tokens(self) -> int: ...
    @property
    def time_to_first_token(self) -> float | None: ...
    @property
    def tokens_per_second(self) -> float | None: ...


def default_store_path() -> Path:
    return config.data_dir() / STORE_FILENAME


def make_title(text: str) -> str:
    """The first non-blank line of a prompt, whitespace collapsed, cut at a word near TITLE_MAX."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= TITLE_MAX:
        return line
    cut = line[: TITLE_MAX - 1]
    space = cut.rfind(" ")
    if space > TITLE_MAX // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def _chmod_private(path: Path) -> None:
    try:
        if path.exists() and (path.stat().st_mode & 0o077):
            os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change (another user's file opened read-only); SQLite reports real problems


def _chat_from_row(row: tuple[Any, ...]) -> Chat:
    return Chat(
        id=row[0],
        title=row[1],
        created=row[2],
        updated=row[3],
        title_is_custom=bool(row[4]),
        message_count=row[5],
    )


def _message_from_row(row: tuple[Any, ...]) -> StoredMessage:
    try:
        sampling = json.loads(row[10]) if row[10] else {}
    except ValueError:
        sampling = {}
    return StoredMessage(
        id=row[0],
        chat_id=row[1],
        role=row[2],
        content=row[3],
        thinking=row[4],
        state=row[5],
        created=row[6],
        updated=row[7],
        model=row[8],
        profile=row[9],
        sampling=sampling if isinstance(sampling, dict) else {},
        prompt_tokens=row[11],
        completion_tokens=row[12],
        reasoning_tokens=row[13],
        time_to_first_token=row[14],
        tokens_per_second=row[15],
        error=row[16],
        sample=row[17],
        finish_reason=row[18],
        thinking_seconds=row[19],
        shown=bool(row[20]),
    )


def _busy_error(exc: sqlite3.OperationalError) -> StoreError | None:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreError(
            "The chat store is busy",
            "Another vllm-tui process held it for several seconds; the change was not saved. Try again.",
        )
    return None


def _store_error(exc: sqlite3.Error, reading: bool = False) -> StoreError:
    """What a failed read or write means to the person using the app (a full disk, a read-only file, a
    failing disk, the store closed while quitting), as a StoreError the screens show instead of dying
    on. SQLite's own error stays its `__cause__`."""
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc).lower():
        return StoreClosed("The chat store is closed", "The app is quitting; nothing more is saved.")
    if isinstance(exc, sqlite3.OperationalError) and (busy := _busy_error(exc)) is not None:
        return busy
    if reading:
        return StoreError(
            f"Could not read the chat store ({exc})",
            "The file may be damaged or on a failing disk; moving it aside starts a new store.",
        )
    return StoreError(
        f"Could not save to the chat store ({exc})",
        "What is on screen stays until the app closes; free some disk space (or fix the store file's "
        "permissions) so that the next changes are saved.",
    )


class ChatStore:
    """Chats and messages. Create with `ChatStore.open()`; close with `close()` or a `with` block."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._owner = owner.current_process()
        self.path = path

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        recover: bool = True,
    ) -> ChatStore:
        """Open (creating and migrating as needed) the store at `path`, by default in the data dir.

        With `recover`, answers left "streaming" by processes that died are marked "interrupted".
        """
        path = Path(path) if path is not None else default_store_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create it ourselves, so it never exists with the umask's wider mode; SQLite gives the
            # -wal and -shm files the database's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"Cannot create the chat store {path}", str(exc)) from exc
        _chmod_private(path)
        conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"The chat store {path} cannot use write-ahead logging (journal mode {mode})",
                    "Keep the store on a local file system (not NFS or a read-only mount).",
                )
            # In WAL mode NORMAL loses at most the last commits on power loss, never on a crash.
            conn.execute("PRAGMA synchronous = NORMAL")
            schema.migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            busy = _busy_error(exc) if isinstance(exc, sqlite3.OperationalError) else None
            if busy is not None:
                raise busy from exc
            raise StoreError(
                f"{path} is not a readable chat store",
                f"SQLite says: {exc}. Move the file aside to start a new store.",
            ) from exc
        except BaseException:
            conn.close()
            raise
        for suffix in ("-wal", "-shm"):
            _chmod_private(path.with_name(path.name + suffix))
        store = cls(conn, path)
        if recover:
            store.mark_interrupted()
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema.user_version(self._conn)

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc
            try:
                yield self._conn
            except sqlite3.Error as exc:
                self._rollback()
                raise _store_error(exc) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _store_error(exc) from exc

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (a full disk does), or the connection is gone

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(exc, reading=True) from exc

    @staticmethod
    def _require_chat(conn: sqlite3.Connection, chat_id: int) -> None:
        if conn.execute("SELECT 1 FROM chats WHERE id = ?", (chat_id,)).fetchone() is None:
            raise StoreError(f"There is no chat {chat_id}", "It may have been deleted in another window.")

    @staticmethod
    def _touch(conn: sqlite3.Connection, chat_id: int, now: float) -> None:
        conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, chat_id))

    @staticmethod
    def _retitle(conn: sqlite3.Connection, chat_id: int) -> None:
        """Derive an uncustomised title from the first prompt still in the chat."""
        row = conn.execute(
            "SELECT content FROM messages WHERE chat_id = ? AND role = 'user' ORDER BY id LIMIT 1",
            (chat_id,),
        ).fetchone()
        conn.execute(
            "UPDATE chats SET title = ? WHERE id = ? AND title_is_custom = 0",
            (make_title(row[0]) if row else "", chat_id),
        )

    # --- chats --------------------------------------------------------------------------------

    def create_chat(self, title: str = "") -> Chat:
        """A new empty chat; a non-empty `title` counts as chosen by the user."""
        title = " ".join(title.split())
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO chats (title, title_is_custom, created, updated) VALUES (?, ?, ?, ?)",
                (title, int(bool(title)), now, now),
            )
            chat_id = int(cur.lastrowid or 0)
        return Chat(chat_id, title, now, now, bool(title), 0)

    def chat(self, chat_id: int) -> Chat | None:
        rows = self._query(f"SELECT {_CHAT_COLUMNS} FROM chats c WHERE c.id = ?", (chat_id,))
        return _chat_from_row(rows[0]) if rows else None

    def list_chats(self, limit: int | None = None) -> list[Chat]:
        """Newest (most recently updated) first."""
        sql = f"SELECT {_CHAT_COLUMNS} FROM chats c ORDER BY c.updated DESC, c.id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return [_chat_from_row(row) for row in self._query(sql, params)]

    def latest_chat(self) -> Chat | None:
        chats = self.list_chats(limit=1)
        return chats[0] if chats else None

    def rename_chat(self, chat_id: int, title: str) -> Chat:
        """A blank title hands the title back to the first prompt."""
        title = " ".join(title.split())
        with self._write() as conn:
            self._require_chat(conn, chat_id)
            conn.execute(
                "UPDATE chats SET title = ?, title_is_custom = ? WHERE id = ?",
                (title, int(bool(title)), chat_id),
            )
            if not title:
                self._retitle(conn, chat_id)
        chat = self.chat(chat_id)
        if chat is None:
            raise StoreError(f"There is no chat {chat_id}", "It may have been deleted in another window.")
        return chat

    def delete_chat(self, chat_id: int) -> bool:
        """Delete the chat and its messages (and their search index entries); False if it was gone."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            return cur.rowcount > 0

    # --- messages -----------------------------------------------------------------------------

    def add_user_message(self, chat_id: int, text: str) -> int:
        now = time.time()
        with self._write() as conn:
            self._require_chat(conn, chat_id)
            cur = conn.execute(
                "INSERT INTO messages (chat_id, role, content, state, created, updated) "
                "VALUES (?, 'user', ?, 'complete', ?, ?)",
                (chat_id, text, now, now),
            )
            conn.execute(
                "UPDATE chats SET title = ? WHERE id = ? AND title_is_custom = 0 AND title = ''",
                (make_title(text), chat_id),
            )
            self._touch(conn, chat_id, now)
            return int(cur.lastrowid or 0)

    def begin_answer(
        self,
        chat_id: int,
        model: str,
        profile: str,
        sampling: Mapping[str, Any] | None = None,
        sample: int = 0,
    ) -> int:
        """An empty assistant message in state "streaming", owned by this process."""
        now = time.time()
        with self._write() as conn:
            self._require_chat(conn, chat_id)
            cur = conn.execute(
                "INSERT INTO messages (chat_id, role, state, created, updated, model, profile, "
                "sampling, sample, owner_pid, owner_start) "
                "VALUES (?, 'assistant', 'streaming', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    now,
                    now,
                    model,
                    profile,
                    json.dumps(dict(sampling or {}), default=str),
                    sample,
                    self._owner.pid,
                    self._owner.start,
                ),
            )
            self._touch(conn, chat_id, now)
            return int(cur.lastrowid or 0)

    def update_answer(self, message_id: int, content: str, thinking: str = "") -> bool:
        """Save the text streamed so far (the whole text, not a delta); False once it has finished.

        One UPDATE in autocommit: cheap enough for the UI to call about once a second per answer.
        """
        with self._lock:
            try:
                cur = self._conn.execute(
                    "UPDATE messages SET content = ?, thinking = ?, updated = ? "
                    "WHERE id = ? AND state = 'streaming'",
                    (content, thinking, time.time(), message_id),
                )
            except sqlite3.Error as exc:
                raise _store_error(exc) from exc
            return cur.rowcount > 0

    def finish_answer(
        self,
        message_id: int,
        state: MessageState,
        stats: AnswerStatsLike | None = None,
        *,
        content: str | None = None,
        thinking: str | None = None,
        error: str | None = None,
        finish_reason: str | None = None,
        thinking_seconds: float | None = None,
    ) -> StoredMessage:
        """Give an answer its final state, text (when given), figures and the engine's finish reason.
        `thinking_seconds`, when given, is how long it thought (kept as it was when not given: a
        continued answer does not think again)."""
        if state not in FINAL_STATES:
            raise ValueError(f"finish_answer: {state!r} is not a final state ({', '.join(FINAL_STATES)})")
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT chat_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise StoreError(f"There is no message {message_id}", "Its chat may have been deleted.")
            conn.execute(
                "UPDATE messages SET state = ?, updated = ?, error = ?, owner_pid = NULL, "
                "content = coalesce(?, content), thinking = coalesce(?, thinking), "
                "prompt_tokens = ?, completion_tokens = ?, reasoning_tokens = ?, "
                "time_to_first_token = ?, tokens_per_second = ?, finish_reason = ?, "
                "thinking_seconds = coalesce(?, thinking_seconds) WHERE id = ?",
                (
                    state,
                    now,
                    error,
                    content,
                    thinking,
                    getattr(stats, "prompt_tokens", None),
                    getattr(stats, "completion_tokens", None),
                    getattr(stats, "reasoning_tokens", None),
                    getattr(stats, "time_to_first_token", None),
                    getattr(stats, "tokens_per_second", None),
                    finish_reason,
                    thinking_seconds,
                    message_id,
                ),
            )
            self._touch(conn, row[0], now)
        message = self.message(message_id)
        assert message is not None  # written in the transaction above; chats cascade only on delete
        return message

    def message(self, message_id: int) -> StoredMessage | None:
        rows = self._query(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return _message_from_row(rows[0]) if rows else None

    def messages(self, chat_id: int) -> list[StoredMessage]:
        """In the order they were written (parallel samples in sample order as begun)."""
        rows = self._query(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,)
        )
        return [_message_from_row(row) for row in rows]

    def show_answer(self, shown_id: int, group: Sequence[int]) -> None:
        """Mark `shown_id` the tab shown among a prompt's answers `group` (it included): the one the
        chat shows, and the model hears, when the chat is opened again."""
        ids = sorted({shown_id, *group})
        marks = ",".join("?" * len(ids))
        with self._write() as conn:
            conn.execute(f"UPDATE messages SET shown = (id = ?) WHERE id IN ({marks})", (shown_id, *ids))

    def delete_message(self, message_id: int) -> bool:
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT chat_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            self._retitle(conn, row[0])
            self._touch(conn, row[0], now)
            return True

    # --- search, export, upkeep ---------------------------------------------------------------

    def search(self, text: str, limit: int = 100) -> list[SearchHit]:
        """Chats whose given title holds every word, then full-text search over every message's
        answer and thinking, best matches first."""
        query = search.fts_query(text)
        if query is None:
            return []
        hits = self._search_titles(text, limit)
        limit -= len(hits)
        sql = (
            "SELECT m.id, m.chat_id, c.title, m.role, "
            "snippet(messages_fts, -1, ?, ?, '…', 12) "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN chats c ON c.id = m.chat_id "
            "WHERE messages_fts MATCH ? ORDER BY messages_fts.rank LIMIT ?"
        )
        try:
            rows = self._query(sql, (search.MARK_START, search.MARK_END, query, limit))
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, sqlite3.OperationalError) and "fts5" in str(cause).lower():
                return []  # a query FTS5 still cannot parse: no hits rather than a crash
            raise
        for message_id, chat_id, title, role, raw in rows:
            snippet, spans = search.parse_snippet(raw or "")
            hits.append(SearchHit(chat_id, message_id, title or "New chat", role, snippet, spans))
        return hits

    def _search_titles(self, text: str, limit: int) -> list[SearchHit]:
        """Chats renamed by the user whose title holds every word of `text` (any case), newest first.

        Only given titles: an automatic one is the start of the chat's first message, which the
        message search already finds."""
        words = text.split()
        where = " AND ".join("title LIKE ? ESCAPE '\\'" for _ in words)
        patterns = tuple("%" + search.like_escape(w) + "%" for w in words)
        sql = (
            f"SELECT id, title FROM chats WHERE title_is_custom = 1 AND {where} "
            "ORDER BY updated DESC, id DESC LIMIT ?"
        )
        rows = self._query(sql, (*patterns, limit))
        return [SearchHit(id_, None, title, None, title, search.spans(title, words)) for id_, title in rows]

    def export_markdown(self, chat_id: int, path: Path | str | None = None) -> Path:
        """Write the chat as Markdown; `path` a file, or a directory (default: the current one)."""
        chat = self.chat(chat_id)
        if chat is None:
            raise StoreError(f"There is no chat {chat_id}", "It may have been deleted in another window.")
        target = export.resolve_export_path(chat, path)
        text = export.render_markdown(chat, self.messages(chat_id))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"Cannot write {target}", str(exc)) from exc
        return target

    def mark_interrupted(self) -> int:
        """Answers still "streaming" whose owning process is gone become "interrupted".

        Their partial text stays. Answers of live processes (this one, or another app on the same
        store) are left alone. Returns how many were marked.
        """
        now = time.time()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, chat_id, owner_pid, owner_start FROM messages WHERE state = 'streaming'"
            ).fetchall()
            dead = [(mid, chat_id) for mid, chat_id, pid, start in rows if not owner.is_alive(pid, start)]
            for mid, chat_id in dead:
                conn.execute(
                    "UPDATE messages SET state = 'interrupted', owner_pid = NULL, updated = ? WHERE id = ?",
                    (now, mid),
                )
                self._touch(conn, chat_id, now)
        return len(dead)

    def integrity_check(self) -> str:
        """Returns "ok", or what SQLite's integrity check and the FTS5 index check found wrong."""
        problems: list[str] = []
        with self._lock:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
            result = [str(r[0]) for r in rows]
            if result != ["ok"]:
                problems.extend(result)
            try:
                self._conn.execute(
                    "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
                )
            except sqlite3.DatabaseError as exc:
                problems.append(f"search index: {exc}")
        return "\n".join(problems) if problems else "ok"
