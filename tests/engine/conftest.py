from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_local import Recorder
from vllm_tui.config import log_dir
from vllm_tui.engine.local import LocalEngine
from vllm_tui.engine.log_capture import route_vllm_logging
from vllm_tui.config import EngineSettings


@pytest.fixture(scope="session")
def log_path() -> Path:
    path = log_dir() / "vllm-tui.log"
    route_vllm_logging(path)
    return path


@pytest.fixture(scope="session")
def engine_events() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def engine(tiny_model: Path, log_path: Path, engine_events: Recorder) -> Iterator[LocalEngine]:
    from vllm_tui.engine.events import EngineReady

    eng = LocalEngine(EngineSettings(model=str(tiny_model), max_model_len=2048, enforce_eager=True), engine_events, log_path)
    eng.start()
    events = engine_events.until((EngineReady,), timeout=300)
    assert isinstance(events[-1], EngineReady), events
    yield eng
    eng.shutdown()
    assert not eng.pids or True
