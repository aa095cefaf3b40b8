"""ChatStore round trips: chats, messages, titles, stats, search, export, permissions, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vllm_tui import config
from vllm_tui.engine.events import AnswerStats
from vllm_tui.store import ChatStore, StoreClosed, StoreError, default_store_path, make_title
from vllm_tui.store import owner as store_owner


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    s = ChatStore.open(tmp_path / "chats.sqlite3")
    yield s
    s.close()


def test_default_path_is_in_the_data_dir() -> None:
    assert default_store_path() == config.data_dir() / "chats.sqlite3"
    with ChatStore.open() as s:
        assert s.path == default_store_path()
        assert s.path.exists()


def test_chat_and_message_round_trip(store: ChatStore) -> None:
    chat = store.create_chat()
    assert chat.title == "" and not chat.title_is_custom and chat.display_title == "New chat"
    user_id = store.add_user_message(chat.id, "What is the capital of France?\nAnswer briefly.")
    answer_id = store.begin_answer(
        chat.id, "tiny-r1", "local-small", {"temperature": 0.6, "top_p": 0.95, "max_tokens": 64}, sample=1
    )
    streaming = store.message(answer_id)
    assert streaming is not None and streaming.state == "streaming" and streaming.content == ""

    assert store.update_answer(answer_id, "Par", "The user asks")
    assert store.message(answer_id).content == "Par"  # type: ignore[union-attr]
    stats = AnswerStats(
        prompt_tokens=12,
        completion_tokens=31,
        reasoning_tokens=9,
        time_to_first_token=0.25,
        decode_seconds=1.5,
    )
    done = store.finish_answer(
        answer_id,
        "complete",
        stats,
        content="Paris.",
        thinking="The user asks about France",
        thinking_seconds=0.4,
    )
    assert done.state == "complete"
    # A late update from the stream must not overwrite the finished text.
    assert not store.update_answer(answer_id, "Par", "")

    messages = store.messages(chat.id)
    assert [m.id for m in messages] == [user_id, answer_id]
    user, answer = messages
    assert (user.role, user.state, user.content) == (
        "user",
        "complete",
        "What is the capital of France?\nAnswer briefly.",
    )
    assert answer.role == "assistant"
    assert answer.content == "Paris."
    assert answer.thinking == "The user asks about France"
    assert answer.model == "tiny-r1" and answer.profile == "local-small"
    assert dict(answer.sampling) == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 64}
    assert (answer.prompt_tokens, answer.completion_tokens, answer.reasoning_tokens) == (12, 31, 9)
    assert answer.time_to_first_token == pytest.approx(0.25)
    assert answer.tokens_per_second == pytest.approx(stats.tokens_per_second)
    assert answer.sample == 1 and answer.error is None
    assert answer.thinking_seconds == pytest.approx(0.4)
    assert answer.created <= answer.updated
    # A continued answer is finished again without its thinking time: the stored one stays.
    store.finish_answer(answer_id, "complete", stats, content="Paris. It is the capital.")
    assert store.message(answer_id).thinking_seconds == pytest.approx(0.4)  # type: ignore[union-attr]

    listed = store.chat(chat.id)
    assert listed is not None
    assert listed.title == "What is the capital of France?"
    assert listed.message_count == 2


def test_failed_and_stopped_answers_keep_their_error_and_text(store: ChatStore) -> None:
    chat = store.create_chat()
    store.add_user_message(chat.id, "hi")
    failed = store.begin_answer(chat.id, "m", "p", {})
    store.finish_answer(failed, "failed", error="Prompt too long: 5000 tokens > 4096")
    stopped = store.begin_answer(chat.id, "m", "p", {})
    store.update_answer(stopped, "half an ans", "")
    store.finish_answer(stopped, "stopped", finish_reason="abort")
    cut = store.begin_answer(chat.id, "m", "p", {})
    store.finish_answer(cut, "stopped", finish_reason="length")
    by_id = {m.id: m for m in store.messages(chat.id)}
    # Both "stopped"; the engine's reason tells max tokens from the user's Esc.
    assert (by_id[stopped].finish_reason, by_id[cut].finish_reason) == ("abort", "length")
    assert by_id[failed].finish_reason is None
    assert by_id[failed].state == "failed"
    assert by_id[failed].error == "Prompt too long: 5000 tokens > 4096"
    assert by_id[failed].prompt_tokens is None
    assert by_id[stopped].state == "stopped" and by_id[stopped].content == "half an ans"
    with pytest.raises(ValueError):
        store.finish_answer(stopped, "streaming")


def test_titles_follow_the_first_prompt_until_renamed(store: ChatStore) -> None:
    chat = store.create_chat()
    first = store.add_user_message(chat.id, "\n   first   prompt line  \nsecond line")
    store.add_user_message(chat.id, "another prompt")
    assert store.chat(chat.id).title == "first prompt line"  # type: ignore[union-attr]

    # Deleting the first prompt hands the title to the next one.
    store.delete_message(first)
    assert store.chat(chat.id).title == "another prompt"  # type: ignore[union-attr]

    renamed = store.rename_chat(chat.id, "  My   chat ")
    assert renamed.title == "My chat" and renamed.title_is_custom
    store.add_user_message(chat.id, "does not retitle")
    assert store.chat(chat.id).title == "My chat"  # type: ignore[union-attr]

    # A blank name gives the title back to the first prompt.
    reset = store.rename_chat(chat.id, "   ")
    assert reset.title == "another prompt" and not reset.title_is_custom

    long = "word " * 40
    title = make_title(long)
    assert len(title) <= 60 and title.endswith("…") and title.startswith("word word")
    assert make_title("x" * 100) == "x" * 59 + "…"

    with pytest.raises(StoreError):
        store.rename_chat(9999, "nope")
    with pytest.raises(StoreError):
        store.add_user_message(9999, "nope")


def test_list_chats_newest_first_and_delete(store: ChatStore) -> None:
    a = store.create_chat()
    b = store.create_chat()
    c = store.create_chat()
    assert [x.id for x in store.list_chats()] == [c.id, b.id, a.id]
    store.add_user_message(a.id, "bump a")  # activity moves a chat to the top
    assert [x.id for x in store.list_chats()] == [a.id, c.id, b.id]
    assert store.latest_chat().id == a.id  # type: ignore[union-attr]

    answer = store.begin_answer(a.id, "m", "p", {})
    store.finish_answer(answer, "complete", content="uniqueword in the answer")
    assert store.search("uniqueword")
    assert store.delete_chat(a.id)
    assert not store.delete_chat(a.id)
    assert store.chat(a.id) is None
    assert store.messages(a.id) == []
    assert store.message(answer) is None
    # The search index forgets the cascaded messages too.
    assert store.search("uniqueword") == []
    assert store.integrity_check() == "ok"
    assert [x.id for x in store.list_chats()] == [c.id, b.id]


def test_empty_store_has_no_latest_chat(store: ChatStore) -> None:
    assert store.latest_chat() is None
    assert store.list_chats() == []


def test_search_over_content_and_thinking(store: ChatStore) -> None:
    one = store.create_chat()
    store.add_user_message(one.id, "Tell me about Paris, please")
    ans = store.begin_answer(one.id, "m", "p", {})
    store.finish_answer(
        ans, "complete", content="It is a city on the Seine.", thinking="The user wants geography facts"
    )
    two = store.create_chat("Cooking")
    store.add_user_message(two.id, "How long do I boil an egg?")

    hits = store.search("paris")
    assert [(h.chat_id, h.role) for h in hits] == [(one.id, "user")]
    hit = hits[0]
    assert hit.chat_title == "Tell me about Paris, please"
    ((start, end),) = hit.highlights
    assert hit.snippet[start:end] == "Paris"

    thinking_hits = store.search("geography")
    assert [(h.message_id, h.role) for h in thinking_hits] == [(ans, "assistant")]
    assert "geography" in thinking_hits[0].snippet

    # The last word matches as a prefix, so results show while typing; all words must match.
    assert {h.chat_id for h in store.search("boi")} == {two.id}
    assert store.search("boil paris") == []
    assert store.search("SEINE")[0].message_id == ans

    # FTS5 syntax in what the user typed is text, not a query error.
    for text in ('"', "AND", "paris OR", "NEAR(", "-egg", "a*b", "(", "^x", "col:paris", ""):
        store.search(text)
    assert store.search("   ") == []
    assert store.search('"paris"')[0].chat_id == one.id

    # Edits re-index; deleted messages leave the index.
    store.update_answer(ans, "unchanged", "")  # finished: ignored
    assert store.search("seine")
    user_id = store.messages(two.id)[0].id
    store.delete_message(user_id)
    assert store.search("egg") == []
    assert store.integrity_check() == "ok"


def test_search_finds_the_titles_the_user_gave(store: ChatStore) -> None:
    auto = store.create_chat()
    store.add_user_message(auto.id, "Apples and pears")
    renamed = store.create_chat()
    store.add_user_message(renamed.id, "What is a good pie?")
    store.rename_chat(renamed.id, "Apples renamed")
    odd = store.create_chat("100% sure_thing")

    hits = store.search("renamed")
    assert [(h.chat_id, h.message_id, h.role) for h in hits] == [(renamed.id, None, None)]
    assert hits[0].snippet == "Apples renamed"
    assert hits[0].highlights == ((7, 14),)

    # A given title first, then messages; an automatic title is its first message, found once.
    apples = store.search("APPLES")
    assert [(h.chat_id, h.message_id is None) for h in apples] == [(renamed.id, True), (auto.id, False)]
    assert store.search("apples renamed")[0].chat_id == renamed.id
    assert store.search("apples pie") == []  # every word, in the title or in one message

    # LIKE's wildcards in what the user typed match themselves.
    assert [h.chat_id for h in store.search("100%")] == [odd.id]
    assert [h.chat_id for h in store.search("e_t")] == [odd.id]
    assert store.search("0_s") == [] and store.search("%") == []

    store.rename_chat(renamed.id, "")  # back to the first prompt: no longer a given title
    assert store.search("renamed") == []


def test_search_finds_text_while_streaming(store: ChatStore) -> None:
    chat = store.create_chat()
    ans = store.begin_answer(chat.id, "m", "p", {})
    store.update_answer(ans, "partial zebra", "thinking about llamas")
    assert store.search("zebra")[0].message_id == ans
    store.update_answer(ans, "partial giraffe", "thinking about llamas")
    assert store.search("zebra") == []
    assert store.search("giraffe")[0].message_id == ans


def test_export_markdown(store: ChatStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = store.create_chat()
    store.add_user_message(chat.id, "What is 2+2?")
    ans = store.begin_answer(chat.id, "tiny-r1", "p", {"temperature": 0.6})
    store.finish_answer(
        ans,
        "complete",
        AnswerStats(prompt_tokens=7, completion_tokens=11, reasoning_tokens=3, decode_seconds=2.0),
        content="It is **4**.",
        thinking="Simple arithmetic.",
        thinking_seconds=0.6,
    )
    stopped = store.begin_answer(chat.id, "tiny-r1", "p", {}, sample=1)
    store.finish_answer(stopped, "stopped", content="Four")
    cut = store.begin_answer(chat.id, "tiny-r1", "p", {"max_tokens": 64}, sample=2)
    five, four = AnswerStats(completion_tokens=5), AnswerStats(completion_tokens=4)
    store.finish_answer(cut, "stopped", five, content="Fo", finish_reason="length")
    # The next turn's answer was one of three too, the other two deleted when it was kept (alt+k):
    # alone now, it is no "answer 3 of 3", and cut off at the max tokens it asked for.
    store.add_user_message(chat.id, "And 3+3?")
    kept = store.begin_answer(chat.id, "tiny-r1", "p", {"max_tokens": 4}, sample=2)
    store.finish_answer(kept, "stopped", four, content="Six", finish_reason="length")

    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    path = store.export_markdown(chat.id, out_dir)
    assert path == out_dir / f"chat-{chat.id}-what-is-2-2.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# What is 2+2?\n")
    assert "## You · " in text and "What is 2+2?\n" in text
    assert "## Assistant (answer 1 of 3) · tiny-r1 · " in text
    assert "## Assistant · tiny-r1 · " in text  # the kept one
    # The thinking is named as on screen, its time and length with it.
    assert (
        "<details><summary>Thought for 0.6 s · 3 tokens</summary>\n\nSimple arithmetic.\n\n</details>" in text
    )
    assert "It is **4**." in text
    assert "*7 prompt tokens · 11 completion tokens · 3 reasoning in 0.6 s · 5.0 tok/s*" in text
    assert "## Assistant (answer 2 of 3) · tiny-r1" in text and "(answer 3 of 3)" in text
    assert "*state: stopped*" in text
    # Not "stopped", as if by the user; and which limit, in the words the screen uses.
    assert "*cut off: hit the context limit · 0 prompt tokens · 5 completion tokens*" in text
    assert "*cut off: hit max tokens · 0 prompt tokens · 4 completion tokens*" in text
    assert text.index("What is 2+2?\n\n## Assistant") < text.index("It is **4**.") < text.index("Four")

    explicit = store.export_markdown(chat.id, tmp_path / "sub" / "mine.md")
    assert explicit == tmp_path / "sub" / "mine.md" and explicit.read_text(encoding="utf-8") == text

    monkeypatch.chdir(tmp_path)
    default = store.export_markdown(chat.id)
    assert default == tmp_path / f"chat-{chat.id}-what-is-2-2.md" and default.exists()

    with pytest.raises(StoreError):
        store.export_markdown(424242)


def test_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "chats.sqlite3"
        with ChatStore.open(path) as s:
            s.create_chat()
            for name in ("chats.sqlite3", "chats.sqlite3-wal", "chats.sqlite3-shm"):
                mode = stat.S_IMODE((path.parent / name).stat().st_mode)
                assert mode == 0o600, (name, oct(mode))
        # An existing store with wider permissions is tightened on open.
        os.chmod(path, 0o644)
        with ChatStore.open(path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_wal_mode_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    with ChatStore.open(path) as s:
        s.create_chat()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    with ChatStore.open(path) as s:
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_a_long_lock_gives_a_store_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    store = ChatStore.open(path, busy_timeout=0.2)
    chat = store.create_chat()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="busy"):
            store.add_user_message(chat.id, "blocked")
        # Reads still work while another process writes (WAL).
        assert store.chat(chat.id) is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.add_user_message(chat.id, "now it goes through")
    assert len(store.messages(chat.id)) == 1
    store.close()


def test_a_full_disk_is_a_store_error_and_leaves_nothing_half_written(store: ChatStore) -> None:
    chat = store.create_chat()
    store.add_user_message(chat.id, "before")
    answer = store.begin_answer(chat.id, "tiny-r1", "p", {}, sample=0)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the store cannot grow: a full disk
    with pytest.raises(StoreError, match="disk is full") as raised:
        store.add_user_message(chat.id, "x" * 100_000)
    assert "free some disk space" in raised.value.advice
    with pytest.raises(StoreError, match="disk is full"):
        store.update_answer(answer, "y" * 100_000, "")
    assert [m.content for m in store.messages(chat.id)] == ["before", ""], "rolled back, nothing half-written"
    store._conn.execute("PRAGMA max_page_count = 1000000")  # room again
    store.add_user_message(chat.id, "after")
    assert store.update_answer(answer, "the answer", "")
    assert [m.content for m in store.messages(chat.id)] == ["before", "the answer", "after"]


def test_a_read_or_write_after_close_is_store_closed(tmp_path: Path) -> None:
    """A save from a worker thread can land after the app closed the store while quitting."""
    store = ChatStore.open(tmp_path / "chats.sqlite3")
    chat = store.create_chat()
    answer = store.begin_answer(chat.id, "tiny-r1", "p", {}, sample=0)
    store.close()
    with pytest.raises(StoreClosed):
        store.update_answer(answer, "late", "")
    with pytest.raises(StoreClosed):
        store.add_user_message(chat.id, "late")
    with pytest.raises(StoreClosed):
        store.messages(chat.id)


def test_a_failed_read_is_a_store_error(store: ChatStore, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = store.create_chat()
    store.add_user_message(chat.id, "kept")

    class FailingDisk:
        def execute(self, *args: object) -> object:
            raise sqlite3.OperationalError("disk I/O error")

    real = store._conn
    monkeypatch.setattr(store, "_conn", FailingDisk())
    with pytest.raises(StoreError, match=r"Could not read the chat store \(disk I/O error\)"):
        store.messages(chat.id)
    monkeypatch.setattr(store, "_conn", real)
    assert [m.content for m in store.messages(chat.id)] == ["kept"]
    assert store.search("AND OR NOT (") == [], "a query FTS5 cannot parse is still no hits"


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as info:
        ChatStore.open(path)
    assert "not a readable chat store" in info.value.title and info.value.advice


def test_threads_share_one_store(store: ChatStore) -> None:
    chat = store.create_chat()

    def write(n: int) -> None:
        for i in range(50):
            mid = store.begin_answer(chat.id, "m", "p", {"thread": n})
            store.update_answer(mid, f"thread {n} part {i}", "")
            store.finish_answer(mid, "complete")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.messages(chat.id)) == 200
    assert store.integrity_check() == "ok"


def test_process_identity() -> None:
    me = store_owner.current_process()
    assert me.pid == os.getpid()
    assert store_owner.is_alive(me.pid, me.start)
    assert not store_owner.is_alive(None, "")
    assert not store_owner.is_alive(0, "")
    if me.start:
        # Same pid, different start time: the pid was reused by another process.
        assert not store_owner.is_alive(me.pid, str(int(me.start) + 1))
