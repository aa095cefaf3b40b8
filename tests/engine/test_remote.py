"""The remote engine against a real `vllm serve` (CPU build, scripted tiny R1 checkpoint) on 127.0.0.1,
and against a scripted local HTTP server for the failures a real vLLM cannot be made to produce."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.remote_server import EventLog, ScriptedServer, VllmServer, free_port
from vllm_tui.config import EngineSettings, Profile, SamplingSettings
from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.engine.remote import RemoteEngine, normalize_base_url
from vllm_tui.engine.remote_errors import RemoteError
from vllm_tui.engine.request import ChatRequest, ChatTurn

KEY_ENV = "VLLM_TUI_TEST_KEY"
THINKING = "Okay, the user greets me so I answer briefly"
ANSWER_START = "Hello! This tiny scripted model"

MakeEngine = Callable[..., tuple[RemoteEngine, EventLog]]


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; every request here must go straight to 127.0.0.1."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(KEY_ENV, "testkey")


@pytest.fixture(scope="session")
def vllm_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """The R1 setup: deepseek_r1 reasoning parser and an API key."""
    log = tmp_path_factory.mktemp("vllm-serve") / "serve.log"
    args = ["--reasoning-parser", "deepseek_r1", "--api-key", "testkey"]
    server = VllmServer(tiny_model, log, served_name="tiny-r1", args=args)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _plain_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    log = tmp_path_factory.mktemp("vllm-serve-plain") / "serve.log"
    server = VllmServer(tiny_model, log, served_name="tiny-r1", args=[])
    yield server
    server.stop()


@pytest.fixture
def plain_server(_plain_server: VllmServer) -> VllmServer:
    """No reasoning parser and no key; (re)started on demand, since one test kills it."""
    if not _plain_server.alive:
        _plain_server.start()
    return _plain_server


@pytest.fixture
def make_engine() -> Iterator[MakeEngine]:
    engines: list[RemoteEngine] = []

    def make(url: str, model: str = "tiny-r1", **kwargs: Any) -> tuple[RemoteEngine, EventLog]:
        log = EventLog()
        profile = Profile(
            name="test-remote", kind="remote", server_url=url, api_key_env=KEY_ENV,
            engine=EngineSettings(model=model),
        )  # fmt: skip
        engine = RemoteEngine(profile, log, **kwargs)
        engines.append(engine)
        return engine, log

    yield make
    for engine in engines:
        engine.shutdown()


def connect(engine: RemoteEngine, log: EventLog) -> list[Any]:
    engine.start()
    return log.until((EngineReady, EngineFailed), timeout=30)


def ask(
    engine: RemoteEngine, log: EventLog, text: str = "hi", n: int = 1, **sampling: Any
) -> tuple[ChatRequest, list[Any]]:
    request = ChatRequest((ChatTurn("user", text),), SamplingSettings(**{"max_tokens": 40, **sampling}), n=n)
    engine.submit(request)
    return request, log.until((AnswerFinished, AnswerFailed), timeout=120)


def texts(events: list[Any], kind: type, sample: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, kind) and e.sample == sample)


# --- against a real vllm serve ------------------------------------------------------------------


@pytest.mark.server
def test_connects_and_streams_thinking_then_answer(vllm_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(vllm_server.url)
    events = connect(engine, log)
    assert isinstance(events[0], LoadProgress) and vllm_server.url in events[0].stage
    ready = events[-1]
    assert isinstance(ready, EngineReady), events
    assert ready.model == "tiny-r1" and ready.max_model_len == 2048
    assert engine.name == f"tiny-r1 @ 127.0.0.1:{vllm_server.port}"

    request, events = ask(engine, log)
    assert texts(events, ReasoningDelta).strip() == THINKING
    answer = texts(events, TextDelta)
    assert answer.lstrip().startswith(ANSWER_START)
    assert "</think>" not in texts(events, ReasoningDelta) + answer
    done = events[-1]
    assert isinstance(done, AnswerFinished) and done.request_id == request.request_id
    assert done.finish_reason == "length"
    assert done.stats.completion_tokens == 40
    assert done.stats.prompt_tokens > 0
    assert 11 <= done.stats.reasoning_tokens < 40
    assert done.stats.time_to_first_token is not None and done.stats.time_to_first_token > 0
    assert done.stats.decode_seconds > 0 and done.stats.tokens_per_second


@pytest.mark.server
def test_parallel_samples_each_finish(vllm_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(vllm_server.url)
    connect(engine, log)
    request, events = ask(engine, log, n=2, max_tokens=30)
    finished = {e.sample: e for e in events if isinstance(e, AnswerFinished)}
    while len(finished) < 2:
        event = log.until((AnswerFinished,), timeout=60)[-1]
        events.append(event)
        finished[event.sample] = event
    for i in (0, 1):
        assert texts(events, ReasoningDelta, i).strip() == THINKING
        assert texts(events, TextDelta, i).lstrip().startswith(ANSWER_START)
        assert finished[i].request_id == request.request_id
        assert finished[i].finish_reason == "length" and finished[i].stats.completion_tokens == 30


@pytest.mark.server
def test_stop_mid_answer_aborts_on_the_server(vllm_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(vllm_server.url)
    connect(engine, log)
    request = ChatRequest((ChatTurn("user", "long"),), SamplingSettings(max_tokens=1500))
    engine.submit(request)
    log.until((TextDelta,), timeout=60)
    engine.stop(request.request_id)
    done = log.until((AnswerFinished, AnswerFailed), timeout=30)[-1]
    assert isinstance(done, AnswerFinished) and done.finish_reason == "abort"
    assert 0 < done.stats.completion_tokens < 1500
    # Closing the stream must make vLLM drop the request, not finish it for nobody.
    deadline = time.monotonic() + 15
    while vllm_server.metric("vllm:num_requests_running") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vllm_server.metric("vllm:num_requests_running") == 0
    _, events = ask(engine, log, "again")
    assert isinstance(events[-1], AnswerFinished) and events[-1].finish_reason == "length"


@pytest.mark.server
def test_model_list_and_metrics(vllm_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(vllm_server.url.removesuffix("/v1"), metrics_interval=0.2)
    assert engine.list_models() == ["tiny-r1"]
    connect(engine, log)
    metrics = log.until((EngineMetrics,), timeout=10)[-1]
    assert metrics.kv_cache_usage is not None and 0 <= metrics.kv_cache_usage <= 1


@pytest.mark.server
def test_wrong_key_names_the_variable(
    vllm_server: VllmServer, make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "not-the-key")
    engine, log = make_engine(vllm_server.url)
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed)
    assert "401" in failed.reason and KEY_ENV in failed.title and KEY_ENV in failed.advice
    assert "not-the-key" not in f"{failed}"
    _, events = ask(engine, log)
    assert isinstance(events[-1], AnswerFailed) and KEY_ENV in events[-1].title

    monkeypatch.delenv(KEY_ENV)
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed) and f"${KEY_ENV} is not set" in failed.title
    # The same engine works once the key is right.
    monkeypatch.setenv(KEY_ENV, "testkey")
    assert isinstance(connect(engine, log)[-1], EngineReady)


@pytest.mark.server
def test_unknown_model_lists_the_served_ones(vllm_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(vllm_server.url, model="no-such-model")
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed)
    assert "'no-such-model'" in failed.title and "tiny-r1" in failed.reason
    _, events = ask(engine, log)
    refused = events[-1]
    assert isinstance(refused, AnswerFailed), events
    assert "does not serve 'no-such-model'" in refused.title
    assert "The server has: tiny-r1" in refused.advice
    engine.select_model("tiny-r1")
    assert isinstance(log.until((EngineReady, EngineFailed), timeout=30)[-1], EngineReady)
    assert isinstance(ask(engine, log)[1][-1], AnswerFinished)


@pytest.mark.server
def test_split_on_the_client_without_reasoning_parser(
    plain_server: VllmServer, make_engine: MakeEngine
) -> None:
    engine, log = make_engine(plain_server.url)
    assert isinstance(connect(engine, log)[-1], EngineReady)
    _, events = ask(engine, log)
    assert texts(events, ReasoningDelta).strip() == THINKING
    assert texts(events, TextDelta).lstrip().startswith(ANSWER_START)
    assert isinstance(events[-1], AnswerFinished) and events[-1].stats.completion_tokens == 40


@pytest.mark.server
def test_server_killed_mid_answer(plain_server: VllmServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(plain_server.url)
    connect(engine, log)
    # On a loaded 2-core machine the server can deliver a whole answer in one late burst, finishing
    # before the kill; then ask again (it is the mid-answer case this test is about).
    for _attempt in range(3):
        engine.submit(ChatRequest((ChatTurn("user", "long"),), SamplingSettings(max_tokens=1900)))
        log.until((TextDelta,), timeout=60)
        time.sleep(0.3)
        drained = []
        while not log.q.empty():
            drained.append(log.q.get_nowait())
        if not any(isinstance(e, AnswerFinished) for e in drained):
            break
    plain_server.kill()
    failed = log.until((AnswerFinished, AnswerFailed), timeout=30)[-1]
    assert isinstance(failed, AnswerFailed), failed
    assert failed.title == "The server closed the connection mid-answer"
    assert "crashed" in failed.advice
    again = connect(engine, log)[-1]
    assert isinstance(again, EngineFailed) and again.title.startswith("Connection refused")


# --- network failures, no server needed ----------------------------------------------------------


def test_connection_refused_on_a_closed_port(make_engine: MakeEngine) -> None:
    port = free_port()
    engine, log = make_engine(f"http://127.0.0.1:{port}/v1")
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed)
    assert failed.title == f"Connection refused by 127.0.0.1:{port}"
    assert "vllm serve" in failed.advice
    _, events = ask(engine, log)
    assert isinstance(events[-1], AnswerFailed) and events[-1].title.startswith("Connection refused")
    with pytest.raises(RemoteError, match="Connection refused"):
        engine.list_models()


def test_dns_failure(make_engine: MakeEngine) -> None:
    engine, log = make_engine("http://vllm-tui-test.invalid:8000")
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed)
    assert failed.title == "Cannot find the host 'vllm-tui-test.invalid'"
    assert "server_url" in failed.advice


def test_empty_url_and_url_forms() -> None:
    assert normalize_base_url("127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://h:8000/") == "http://h:8000/v1"
    assert normalize_base_url("https://h/v1/") == "https://h/v1"
    with pytest.raises(RemoteError, match="no server URL"):
        normalize_base_url("  ")


# --- against the scripted server ------------------------------------------------------------------


def test_scripted_stream_and_request_body(scripted: ScriptedServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(scripted.url, model="ok")
    connect(engine, log)
    sampling = {"temperature": 0.3, "top_k": 20, "min_p": 0.05, "seed": 7, "repetition_penalty": 1.1,
                "max_tokens": 4096, "system_prompt": "Be brief."}  # fmt: skip
    request = ChatRequest(
        (ChatTurn("user", "hi"), ChatTurn("assistant", "Hello."), ChatTurn("user", "again")),
        SamplingSettings(**sampling),
    )
    engine.submit(request)
    events = log.until((AnswerFinished, AnswerFailed))
    assert texts(events, ReasoningDelta) == "Thinking." and texts(events, TextDelta) == "Answer."
    done = events[-1]
    assert isinstance(done, AnswerFinished) and done.finish_reason == "stop"
    assert done.stats.prompt_tokens == 5 and done.stats.completion_tokens == 3
    body = scripted.requests[-1]
    assert body["stream"] is True and body["stream_options"]["include_usage"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "again"},
    ]
    assert body["max_tokens"] == 512  # clamped to the model card's max_model_len
    assert (body["temperature"], body["top_k"], body["min_p"], body["seed"]) == (0.3, 20, 0.05, 7)
    assert body["repetition_penalty"] == 1.1


def test_think_tag_cut_across_chunks(scripted: ScriptedServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(scripted.url, model="split-think")
    engine.profile.engine.reasoning_parser = "deepseek_r1"  # the name says nothing; the profile does
    connect(engine, log)
    _, events = ask(engine, log)
    assert texts(events, ReasoningDelta) == "Let me think."
    assert texts(events, TextDelta) == "\n\nThe answer."


def test_server_that_stops_sending(scripted: ScriptedServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(scripted.url, model="hang", read_timeout=1.0)
    connect(engine, log)
    started = time.monotonic()
    _, events = ask(engine, log)
    failed = events[-1]
    assert isinstance(failed, AnswerFailed), events
    assert failed.title == "The server stopped sending"
    assert "1 s" in failed.reason and time.monotonic() - started < 10
    assert texts(events, TextDelta) == "Partial"
    # Still usable afterwards.
    engine.select_model("ok")
    log.until((EngineReady,))
    assert isinstance(ask(engine, log)[1][-1], AnswerFinished)


@pytest.mark.parametrize(
    ("model", "title"),
    [
        ("malformed", "The server sent something that is not a chat-completion chunk"),
        ("error-event", "The server reported an error mid-answer"),
        ("http500", "The server failed (HTTP 500)"),
    ],
)
def test_server_errors(scripted: ScriptedServer, make_engine: MakeEngine, model: str, title: str) -> None:
    engine, log = make_engine(scripted.url, model=model)
    connect(engine, log)
    _, events = ask(engine, log)
    failed = events[-1]
    assert isinstance(failed, AnswerFailed), events
    assert failed.title == title and failed.advice
    if model == "http500":
        assert "EngineCore encountered an issue" in failed.reason


def test_wrong_path_is_not_a_model_problem(scripted: ScriptedServer, make_engine: MakeEngine) -> None:
    engine, log = make_engine(scripted.url.removesuffix("/v1") + "/api", model="ok")
    failed = connect(engine, log)[-1]
    assert isinstance(failed, EngineFailed) and failed.title.startswith("No OpenAI-compatible API at")


def test_calls_return_at_once_and_shutdown_is_clean(make_engine: MakeEngine) -> None:
    # A port nobody listens on behind a 5 s connect timeout: nothing here may wait for it.
    engine, log = make_engine(f"http://127.0.0.1:{free_port()}/v1")
    started = time.monotonic()
    engine.start()
    request = ChatRequest((ChatTurn("user", "hi"),), SamplingSettings())
    engine.submit(request)
    engine.stop(request.request_id)
    assert time.monotonic() - started < 0.5
    engine.shutdown()
    events = log.until((EngineStopped,), timeout=15)
    assert not engine._thread or not engine._thread.is_alive()
    assert any(isinstance(e, (AnswerFinished, AnswerFailed)) for e in events)
