"""The app as a process: killed with SIGKILL mid-answer, and quit every way a user quits, during load
and during an answer. Real `python tui.py` under a pseudo-terminal, real engine (CPU build, tiny
model); afterwards the process table, the pid files and the chat store are checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.reliability_pty import CTRL_Q, ENTER, ESCAPE, PtyApp, wait
from vllm_tui.engine.processes import SHM_DIR, shared_segments
from vllm_tui.orphans import PidFile, ProcessRecord, identify, is_running, reap_orphans
from vllm_tui.store import ChatStore

pytestmark = pytest.mark.engine

SCRIPTED_ANSWER = "Hello! This tiny scripted model runs on vLLM with random weights."


def model_args(tiny_model: Path) -> list[str]:
    return ["--model", str(tiny_model), "--max-model-len", "2048", "--enforce-eager", "--max-tokens", "1800"]


@pytest.fixture
def apps() -> Iterator[list[PtyApp]]:
    started: list[PtyApp] = []
    yield started
    for app in started:
        app.close()
        for rec in app.engine_records():  # never leave a test's engine behind, whatever failed
            record = ProcessRecord(rec["pid"], rec["create_time"])
            if is_running(record):
                os.kill(record.pid, signal.SIGKILL)


def answers(store_path: Path) -> list[tuple[str, str, str]]:
    """(role, state, content) of every message, read without touching streaming answers."""
    with ChatStore.open(store_path, recover=False) as store:
        return [(m.role, m.state, m.content) for c in store.list_chats() for m in store.messages(c.id)]


def streamed(store_path: Path, n_assistant: int) -> bool:
    """True once the n-th answer has text saved in the store (the UI saves about once a second)."""
    if not store_path.exists():
        return False
    rows = [a for a in answers(store_path) if a[0] == "assistant"]
    return len(rows) >= n_assistant and SCRIPTED_ANSWER[:20] in rows[n_assistant - 1][2]


def start_ready(apps: list[PtyApp], home: Path, tiny_model: Path) -> PtyApp:
    app = PtyApp(home, *model_args(tiny_model))
    apps.append(app)
    app.wait_for_text("ready in", timeout=300)
    return app


def ask(app: PtyApp, text: str, n_assistant: int) -> None:
    app.type(text)
    app.send(ENTER)
    wait(lambda: streamed(app.store_path, n_assistant), 90, f"answer {n_assistant} streaming into the store")


def assert_engine_gone(records: list[dict[str, object]]) -> None:
    assert records, "the app never listed its engine processes"
    alive = [r for r in records if is_running(ProcessRecord(int(r["pid"]), float(r["create_time"])))]  # type: ignore[arg-type]
    assert not alive, f"engine processes left running: {alive}"


# --- SIGKILL of the app --------------------------------------------------------------------------


def test_app_killed_mid_answer_loses_nothing_and_its_engine_ends_with_it(
    apps: list[PtyApp], tiny_model: Path, tmp_path: Path
) -> None:
    app = start_ready(apps, tmp_path, tiny_model)
    # vLLM runs in the frontend process: the app's own process stays small and never loads torch.
    assert "libtorch" not in Path(f"/proc/{app.pid}/maps").read_text()
    assert psutil.Process(app.pid).memory_info().rss < 400 << 20
    ask(app, "first question", 1)
    app.send(ESCAPE)  # a completed (stopped) answer before the crash
    wait(lambda: answers(app.store_path)[1][1] == "stopped", 30, "the first answer stopped")
    ask(app, "second question", 2)
    records = app.engine_records()
    assert len(records) >= 2  # the frontend and vLLM's engine core
    # vLLM's engine core and worker share memory; killed, they leave it in /dev/shm.
    segments = shared_segments({int(r["pid"]) for r in records})
    assert segments and segments == set(json.loads(app.pid_file.read_text())["shm"])
    os.kill(app.pid, signal.SIGKILL)
    app.proc.wait(30)
    # The frontend's watchdog sees its parent gone and ends vLLM's processes and itself.
    wait(
        lambda: not [r for r in records if is_running(ProcessRecord(r["pid"], r["create_time"]))],
        30,
        "the engine processes to end with the app",
    )

    # The next start (here with a model that fails at once, to keep the test short) finds nothing
    # left to end, and clears the dead app's pid file.
    again = PtyApp(tmp_path, "--model", str(tmp_path / "no-such-model"))
    apps.append(again)
    again.wait_for_text("Model not found", timeout=120)
    wait(lambda: not app.pid_file.exists(), 10, "the dead app's pid file removed")
    assert "Ended" not in again.text
    assert not [name for name in segments if Path(SHM_DIR, name).exists()], "removed with the pid file"
    again.send(CTRL_Q)
    assert again.wait_exit(60) == 0

    rows = answers(app.store_path)
    assert [(r, s) for r, s, _ in rows] == [
        ("user", "complete"),
        ("assistant", "stopped"),
        ("user", "complete"),
        ("assistant", "interrupted"),
    ]
    assert rows[0][2] == "first question" and rows[2][2] == "second question"
    for _, _, content in (rows[1], rows[3]):
        assert content.strip().startswith(SCRIPTED_ANSWER[:20])
    with ChatStore.open(app.store_path) as store:
        assert store.integrity_check() == "ok"


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _segment() -> str:
    """A shared-memory segment left behind, as a killed engine process leaves one."""
    from multiprocessing import resource_tracker, shared_memory

    segment = shared_memory.SharedMemory(create=True, size=4096)
    segment.close()
    resource_tracker.unregister(segment._name, "shared_memory")  # type: ignore[attr-defined]
    return segment.name


def test_reaper_ends_only_orphans_of_dead_apps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    live_app, live_engine, orphan, bystander, dead_app = (_sleeper() for _ in range(5))
    try:
        dead_app.kill()
        dead_app.wait(10)
        # A live app's engine: never touched.
        live = PidFile(run)
        live.app = identify(live_app.pid)  # type: ignore[assignment]
        live.path = run / f"app-{live_app.pid}.json"
        live.add([live_engine.pid])
        live_segment = _segment()
        live.add_segments({live_segment})
        # A dead app: its engine is ended; a pid it lists that now belongs to another process
        # (same pid, later creation time) is not.
        dead = PidFile(run)
        dead.app = ProcessRecord(dead_app.pid, identify(live_app.pid).create_time)  # type: ignore[union-attr]
        dead.path = run / f"app-{dead_app.pid}.json"
        dead.add([orphan.pid, bystander.pid])
        dead_segment = _segment()
        dead.add_segments({dead_segment, "../not-a-segment"})  # a name that is no segment is skipped
        stale = identify(bystander.pid)
        assert stale is not None
        dead._engine[bystander.pid] = ProcessRecord(bystander.pid, stale.create_time - 100)
        dead._write()

        reaped = reap_orphans(run, grace=2)
        assert [(r.app_pid, r.ended) for r in reaped] == [(dead_app.pid, (orphan.pid,))]
        assert orphan.wait(10) is not None  # ended (by SIGTERM, or SIGKILL after the grace time)
        assert live_engine.poll() is None and bystander.poll() is None
        assert live.path.exists() and not dead.path.exists()
        assert not Path(SHM_DIR, dead_segment).exists() and Path(SHM_DIR, live_segment).exists()
        assert reap_orphans(run) == []
        live.remove()  # a clean exit removes its own
        assert not Path(SHM_DIR, live_segment).exists()
    finally:
        for p in (live_app, live_engine, orphan, bystander):
            p.kill()
            p.wait(10)


# --- quitting ------------------------------------------------------------------------------------

QUITS = {
    "ctrl+q": lambda app: app.send(CTRL_Q),
    "SIGTERM": lambda app: os.kill(app.pid, signal.SIGTERM),
    "SIGHUP": lambda app: app.hang_up(),
    "SIGHUP late": lambda app: app.hang_up(signal_after=2.0),
}


@pytest.mark.parametrize("how", ["ctrl+q", "SIGTERM", "SIGHUP", "SIGHUP late"])
def test_quit_during_load(how: str, apps: list[PtyApp], tiny_model: Path, tmp_path: Path) -> None:
    app = PtyApp(tmp_path, *model_args(tiny_model))
    apps.append(app)
    app.wait_for_text("Ask something", timeout=60)  # the first frame
    # Wait until the engine processes exist (the load has really begun), then quit.
    records = wait(app.engine_records, 120, "engine processes listed in the pid file")
    QUITS[how](app)
    code = app.wait_exit(90)
    assert code == 0 or (how.startswith("SIGHUP") and code in (0, -signal.SIGHUP, 1)), code
    assert_engine_gone(app.engine_records() or records)
    assert not app.pid_file.exists()
    if not how.startswith("SIGHUP"):
        assert b"\x1b[?1049l" in app.raw  # the terminal left the alternate screen: restored


@pytest.mark.parametrize("how", ["ctrl+q", "SIGTERM", "SIGHUP", "SIGHUP late"])
def test_quit_during_answer(how: str, apps: list[PtyApp], tiny_model: Path, tmp_path: Path) -> None:
    app = start_ready(apps, tmp_path, tiny_model)
    ask(app, "tell me a long story", 1)
    records = app.engine_records()
    QUITS[how](app)
    code = app.wait_exit(90)
    assert code == 0 or (how.startswith("SIGHUP") and code in (0, -signal.SIGHUP, 1)), code
    assert_engine_gone(records)
    assert not app.pid_file.exists()
    if not how.startswith("SIGHUP"):
        assert b"\x1b[?1049l" in app.raw and b"\x1b[?25h" in app.raw  # alternate screen left, cursor back
    rows = answers(app.store_path)
    assert [r[:2] for r in rows][0] == ("user", "complete")
    role, state, content = rows[1]
    assert role == "assistant" and state in ("interrupted", "stopped"), rows[1]
    assert content.strip().startswith(SCRIPTED_ANSWER[:20])
    with ChatStore.open(app.store_path) as store:
        assert store.integrity_check() == "ok"


def test_ctrl_q_says_it_is_shutting_down_and_a_second_one_forces(
    apps: list[PtyApp], tiny_model: Path, tmp_path: Path
) -> None:
    app = start_ready(apps, tmp_path, tiny_model)
    ask(app, "tell me a long story", 1)
    records = app.engine_records()
    app.send(CTRL_Q)
    # The screen stays live while vLLM shuts down: it used to freeze for seconds with no word.
    app.wait_for_text("shutting down the engine", timeout=30)
    app.send(CTRL_Q)
    assert app.wait_exit(60) == 0
    assert_engine_gone(records)
    assert not app.pid_file.exists()
    role, state, content = answers(app.store_path)[1]
    assert role == "assistant" and state in ("interrupted", "stopped") and content.strip()
