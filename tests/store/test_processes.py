"""Several processes on one store: concurrent writers, and a writer killed mid-answer."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from vllm_tui.store import ChatStore
from vllm_tui.store import owner as store_owner

WRITES = 200  # per process; each is several transactions (add, begin, update, finish)


def _writer(path: str, name: str, barrier: Any) -> None:
    store = ChatStore.open(path)
    chat = store.create_chat()
    barrier.wait(timeout=60)
    for i in range(WRITES):
        store.add_user_message(chat.id, f"{name} question {i}")
        answer = store.begin_answer(chat.id, "m", name, {"i": i})
        store.update_answer(answer, f"{name} partial {i}", "")
        store.finish_answer(answer, "complete", content=f"{name} answer {i}", thinking=f"{name} thought {i}")
        if i % 25 == 0:
            store.search(name)
            store.mark_interrupted()  # what a newly opened app does: must not touch live answers
    store.rename_chat(chat.id, name)
    store.close()


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    ChatStore.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(path), name, barrier)) for name in ("alpha", "beta")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]

    with ChatStore.open(path) as store:
        chats = {c.title: c for c in store.list_chats()}
        assert set(chats) == {"alpha", "beta"}
        for name, chat in chats.items():
            messages = store.messages(chat.id)
            assert len(messages) == 2 * WRITES
            answers = [m for m in messages if m.role == "assistant"]
            assert [m.content for m in answers] == [f"{name} answer {i}" for i in range(WRITES)]
            assert all(m.state == "complete" for m in answers)
            assert len(store.search(f"{name} thought")) == min(WRITES, 100)
        assert store.integrity_check() == "ok"
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def _stream_forever(path: str, ready: Any) -> None:
    store = ChatStore.open(path)
    chat = store.create_chat()
    store.add_user_message(chat.id, "Explain tides")
    answer = store.begin_answer(chat.id, "tiny-r1", "local", {"temperature": 0.6})
    store.update_answer(answer, "Tides come from the Mo", "The user asks about the sea")
    ready.send((chat.id, answer))
    while True:  # "still generating" until killed
        time.sleep(0.1)


def test_killed_writer_leaves_an_interrupted_answer(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    ChatStore.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=_stream_forever, args=(str(path), child_end))
    proc.start()
    try:
        assert parent_end.poll(60), "the writer did not start"
        chat_id, answer_id = parent_end.recv()

        # A second app opening the store while the first still streams leaves its answer alone.
        with ChatStore.open(path) as other:
            assert other.message(answer_id).state == "streaming"  # type: ignore[union-attr]
            assert other.mark_interrupted() == 0

        os.kill(proc.pid, signal.SIGKILL)
        # Not reaped yet: the killed process is a zombie, which must already count as dead.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with ChatStore.open(path) as reopened:
                message = reopened.message(answer_id)
                assert message is not None
                if message.state == "interrupted":
                    break
            time.sleep(0.05)
        assert message.state == "interrupted"
        assert message.content == "Tides come from the Mo"
        assert message.thinking == "The user asks about the sea"
        assert dict(message.sampling) == {"temperature": 0.6}
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    assert not store_owner.is_alive(proc.pid, store_owner.process_start(proc.pid))

    with ChatStore.open(path) as store:
        assert store.message(answer_id).state == "interrupted"  # type: ignore[union-attr]
        assert store.search("tides")[0].chat_id == chat_id
        assert store.integrity_check() == "ok"
        # A late stream update cannot turn it back into text being written.
        assert not store.update_answer(answer_id, "late", "")
