"""Shared fixtures: isolated user dirs, and tiny random-weight R1-Distill-Qwen checkpoints."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.engine.remote_server import ScriptedServer
from tests.support import Recorder

ROOT = Path(__file__).resolve().parent.parent

# The engine processes are spawned (Textual runs threads), and the CPU build's KV cache is kept small.
os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = "spawn"
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _load_script(name: str) -> ModuleType:
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


random_checkpoint = _load_script("random_checkpoint")


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point platformdirs (XDG on Linux) at a scratch home, so tests never touch the user's files."""
    home = tmp_path_factory.mktemp("xdg")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir()
        os.environ[var] = str(home / sub)
    return home


@pytest.fixture(autouse=True)
def no_draft_left(isolated_user_dirs: Path) -> None:
    """Each test starts with an empty prompt and its store's latest chat: a prompt one test left
    unsent, or the chat it had open, would be restored into the next test's app (the app keeps both
    across restarts, in the shared state dir)."""
    from vllm_tui.config import state_dir

    (state_dir() / "draft.txt").unlink(missing_ok=True)
    (state_dir() / "open-chat.txt").unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def every_core() -> None:
    """Each test starts on every core, its frames drawn as with a GPU engine. The session's engine,
    once ready, moves this process off its worker's core as it moves the app (vllm_tui.engine.cpu_cores),
    and what a test starts (tmux, the app inside it, that app's engine) would inherit the one core left;
    an app lent it draws as tokens arrive from then on (EngineReady.shares_cores)."""
    from vllm_tui.engine import cpu_cores
    from vllm_tui.widgets.markdown_stream import StreamingMarkdown

    cpu_cores.release()
    StreamingMarkdown.frames_on_arrival = False


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scripted R1-Distill-Qwen architecture (head_dim 64): thinks, `</think>`, then answers in a loop."""
    return random_checkpoint.build(tmp_path_factory.mktemp("ckpt") / "tiny-r1", "tiny")


@pytest.fixture(scope="session")
def tiny_model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second scripted checkpoint whose answer ends with EOS ("Answer from checkpoint B.")."""
    return random_checkpoint.build(tmp_path_factory.mktemp("ckpt") / "tiny-r1-b", "tiny-b")


@pytest.fixture(scope="session")
def log_path() -> Path:
    from vllm_tui.config import log_dir
    from vllm_tui.engine.log_capture import route_vllm_logging

    path = log_dir() / "vllm-tui.log"
    route_vllm_logging(path)
    return path


@pytest.fixture(scope="session")
def engine_events() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def engine(tiny_model: Path, log_path: Path, engine_events: Recorder) -> Iterator[Any]:
    """One real vLLM engine (CPU build, tiny model) for the whole session: loading takes ~20 s."""
    from vllm_tui.config import EngineSettings
    from vllm_tui.engine.events import EngineReady
    from vllm_tui.engine.local import LocalEngine

    settings = EngineSettings(model=str(tiny_model), max_model_len=2048, enforce_eager=True)
    eng = LocalEngine(settings, engine_events, log_path)
    eng.start()
    events = engine_events.until((EngineReady,), timeout=300)
    assert isinstance(events[-1], EngineReady), events
    yield eng
    eng.shutdown()


@pytest.fixture
def app_engine(engine: Any, engine_events: Recorder) -> Iterator[Any]:
    """The shared engine lent to an App for one test, then handed back to the recorder."""
    yield engine
    engine.attach(engine_events)


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1 (tests/engine/remote_server.py), one per module."""
    server = ScriptedServer()
    server.start()
    yield server
    server.stop()
