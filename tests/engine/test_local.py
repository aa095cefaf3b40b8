"""The local engine (a frontend process owning AsyncLLM, vLLM's engine core under it) on the real
vLLM (CPU build) with the scripted tiny R1 checkpoint."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import Recorder
from vllm_tui.config import EngineSettings, SamplingSettings
from vllm_tui.engine import cpu_cores
from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerRoom,
    EngineFailed,
    EngineReady,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.engine.local import GIL_SWITCH_INTERVAL, LocalEngine
from vllm_tui.engine.processes import alive
from vllm_tui.engine.request import ChatRequest, ChatTurn

pytestmark = pytest.mark.engine


def ask(engine: LocalEngine, rec: Recorder, text: str, **sampling: Any) -> tuple[ChatRequest, list[Any]]:
    req = ChatRequest((ChatTurn("user", text),), SamplingSettings(**{"max_tokens": 40, **sampling}))
    engine.submit(req)
    return req, rec.until((AnswerFinished, AnswerFailed))


def test_streams_thinking_then_answer(engine: LocalEngine, engine_events: Recorder) -> None:
    req, events = ask(engine, engine_events, "hi")
    thinking = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert thinking.strip() == "Okay, the user greets me so I answer briefly"
    assert answer.lstrip().startswith("Hello! This tiny scripted model")
    assert "</think>" not in thinking + answer
    done = events[-1]
    assert isinstance(done, AnswerFinished) and done.request_id == req.request_id
    assert done.finish_reason == "length"
    assert done.stats.completion_tokens == 40
    assert done.stats.reasoning_tokens >= 11
    assert done.stats.time_to_first_token is not None and done.stats.tokens_per_second


def test_engine_reader_shortens_the_gil_switch_interval(engine: LocalEngine) -> None:
    # The thread that reads the frontend's events must win the GIL back from a busy UI within a
    # millisecond, or tokens reach the screen in pairs (bench/delivered.py).
    assert sys.getswitchinterval() <= GIL_SWITCH_INTERVAL


def test_vllm_runs_outside_the_app_process(engine: LocalEngine) -> None:
    """AsyncLLM lives in the frontend process, vLLM's engine core under it (the app process itself
    is checked in tests/test_reliability_process.py: this test process imports vLLM elsewhere)."""
    import psutil

    frontend = engine.frontend_pid
    assert frontend is not None and frontend in engine.pids
    assert len(engine.pids) >= 2  # the frontend and vLLM's engine core under it
    core = psutil.Process(frontend).children()
    assert core and {p.pid for p in core} <= engine.pids

    assert "libtorch" in Path(f"/proc/{frontend}/maps").read_text()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: none to keep free")
def test_only_the_workers_compute_threads_stay_on_their_cores(
    engine: LocalEngine, engine_events: Recorder
) -> None:
    """vLLM binds its CPU worker's OpenMP thread to a core and leaves the others for the rest; the
    engine keeps its frontend, vLLM's engine core and the worker's other threads on those others, and
    tells the app that it shares those cores (the UI then draws as tokens arrive)."""
    told = Recorder()
    engine.attach(told)  # an engine already up says so first
    try:
        ready = told.until((EngineReady,), timeout=10)[-1]
    finally:
        engine.attach(engine_events)
    assert ready.shares_cores
    machine = cpu_cores.machine_cores()
    free = engine.free_cores
    assert free and free < machine  # VLLM_CPU_OMP_THREADS_BIND=auto bound the worker
    bound = machine - free
    frontend = engine.frontend_pid
    assert frontend is not None
    for pid in engine.pids:
        for tid in cpu_cores._threads(pid):
            cores = cpu_cores._affinity(tid)
            assert cores is None or cores <= bound or cores == free, (pid, tid, cores)
    assert {cpu_cores._affinity(t) for t in cpu_cores._threads(frontend)} <= {free, None}


def test_stop_aborts_and_next_prompt_works(engine: LocalEngine, engine_events: Recorder) -> None:
    req = ChatRequest((ChatTurn("user", "long"),), SamplingSettings(max_tokens=1500))
    engine.submit(req)
    engine_events.until((TextDelta,))
    engine.stop(req.request_id)
    events = engine_events.until((AnswerFinished,))
    assert events[-1].finish_reason == "abort"
    assert events[-1].stats.completion_tokens < 1500
    _, events = ask(engine, engine_events, "again")
    assert isinstance(events[-1], AnswerFinished) and events[-1].finish_reason == "length"


def test_a_tight_context_is_said_before_the_answer(engine: LocalEngine, engine_events: Recorder) -> None:
    """The engine asks for what fits (max tokens clamped to the room left); the app hears it first."""
    req = ChatRequest((ChatTurn("user", "word " * 1900),), SamplingSettings(max_tokens=500))
    engine.submit(req)
    events = engine_events.until((AnswerFinished, AnswerFailed))
    room = [e for e in events if isinstance(e, AnswerRoom)]
    assert len(room) == 1 and room[0].request_id == req.request_id
    assert 0 < room[0].room < 500 and (room[0].max_tokens, room[0].max_model_len) == (500, 2048)
    finished = events[-1]
    assert isinstance(finished, AnswerFinished) and finished.finish_reason == "length"
    assert finished.stats.completion_tokens == room[0].room
    assert finished.stats.prompt_tokens + finished.stats.completion_tokens == 2048
    _, events = ask(engine, engine_events, "short")  # a roomy prompt: no such event
    assert not any(isinstance(e, AnswerRoom) for e in events)


def test_prompt_longer_than_context_is_refused(engine: LocalEngine, engine_events: Recorder) -> None:
    _, events = ask(engine, engine_events, "word " * 3000)
    assert isinstance(events[-1], AnswerFailed)
    assert "longer than the model's context" in events[-1].title
    assert "Nothing was sent" in events[-1].reason


def test_thinking_is_not_sent_back(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from vllm_tui.engine.prompt import render_prompt_text

    req = ChatRequest(
        (
            ChatTurn("user", "hi"),
            ChatTurn("assistant", "Hello there."),
            ChatTurn("user", "again"),
        ),
        SamplingSettings(),
    )
    text = render_prompt_text(AutoTokenizer.from_pretrained(tiny_model), req, thinks=True)
    assert text.count("<｜begin▁of▁sentence｜>") == 1
    assert text.endswith("<｜Assistant｜><think>\n")
    assert "Hello there.<｜end▁of▁sentence｜>" in text


def test_bad_model_path_fails_with_advice(tmp_path: Path, log_path: Path) -> None:
    rec = Recorder()
    eng = LocalEngine(EngineSettings(model=str(tmp_path / "nope"), max_model_len=512), rec, log_path)
    eng.start()
    events = rec.until((EngineFailed, EngineReady))
    eng.shutdown()
    failed = events[-1]
    assert isinstance(failed, EngineFailed)
    assert failed.title == "Model not found"
    assert "does not exist" in failed.reason
    assert failed.advice


@pytest.mark.parametrize(
    ("files", "title"),
    [((), "Not a model directory"), (("config.json",), "The model has no usable tokenizer")],
)
def test_incomplete_model_dir(tmp_path: Path, log_path: Path, files: tuple[str, ...], title: str) -> None:
    for f in files:
        (tmp_path / f).write_text("{}")
    rec = Recorder()
    eng = LocalEngine(EngineSettings(model=str(tmp_path)), rec, log_path)
    eng.start()
    failed = rec.until((EngineFailed, EngineReady))[-1]
    eng.shutdown()
    assert isinstance(failed, EngineFailed) and failed.title == title


def test_truncated_weights_are_caught_before_loading(
    tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    bad = _copy_configs(tiny_model, tmp_path / "truncated")
    (bad / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes()[:2_000_000])
    rec = Recorder()
    eng = LocalEngine(EngineSettings(model=str(bad), max_model_len=512, enforce_eager=True), rec, log_path)
    eng.start()
    failed = rec.until((EngineFailed, EngineReady), timeout=240)[-1]
    eng.shutdown()
    assert isinstance(failed, EngineFailed)
    assert failed.title == "The model's weight files are damaged", failed


def test_child_process_failure_root_cause_from_its_log(
    tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    """Weights that do not fit the config fail inside vLLM's worker process; the parent only hears
    "Engine core initialization failed", so the real cause must come from the child's log."""
    bad = _copy_configs(tiny_model, tmp_path / "mismatch")
    (bad / "model.safetensors").symlink_to(tiny_model / "model.safetensors")
    config = json.loads((bad / "config.json").read_text())
    config["intermediate_size"] = 768
    (bad / "config.json").write_text(json.dumps(config))
    rec = Recorder()
    eng = LocalEngine(EngineSettings(model=str(bad), max_model_len=512, enforce_eager=True), rec, log_path)
    eng.start()
    events = rec.until((EngineFailed, EngineReady), timeout=240)
    eng.shutdown()
    assert any(isinstance(e, LoadProgress) for e in events)
    failed = events[-1]
    assert isinstance(failed, EngineFailed), failed
    assert "Engine core initialization failed" not in failed.reason
    assert any(word in failed.reason for word in ("size", "shape", "mismatch")), failed
    assert not [pid for pid in eng._new_pids() if alive(pid)]


def _copy_configs(src: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in src.iterdir():
        if f.suffix == ".json":
            (dest / f.name).write_bytes(f.read_bytes())
    return dest


def _frontend_whose_child_keeps_the_pipe(conn: Any) -> None:
    """Stands for the frontend: sends one event, then forks a child that keeps the pipe's end open
    (as a process vLLM starts may), and waits to be killed."""
    import os
    import time

    conn.send(LoadProgress("Loading weights", 0.5))
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    time.sleep(60)


def test_reader_ends_when_the_frontend_dies_even_if_its_pipe_stays_open(tmp_path: Path) -> None:
    """Killed frontend, pipe held open by a process it started: no EOF comes, yet the reader ends
    (it also watches the frontend's own exit) with what was sent before read."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    import psutil

    events: list[object] = []
    engine = LocalEngine(EngineSettings(model="unused"), events.append, tmp_path / "log")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    frontend = context.Process(target=_frontend_whose_child_keeps_the_pipe, args=(theirs,))
    frontend.start()
    theirs.close()
    done = threading.Event()
    result: list[bool] = []

    def read() -> None:
        result.append(engine._read(ours, frontend))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events == [LoadProgress("Loading weights", 0.5)]
    time.sleep(0.5)  # the fork has happened
    grandchildren = [child.pid for child in psutil.Process(frontend.pid).children()]
    assert grandchildren, "the stand-in's child holds the pipe"
    os.kill(frontend.pid, signal.SIGKILL)
    try:
        assert done.wait(10), "the reader waited for an EOF that a surviving process held back"
        assert result == [False]
    finally:
        for pid in grandchildren:
            os.kill(pid, signal.SIGKILL)
        frontend.join(5)
