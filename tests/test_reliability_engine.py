"""Bad models and a dying engine, through the real app on the real engine (CPU build, tiny model).

Every case must end with the app running, a message that says what to do, and nothing lost."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, EngineSettings
from vllm_tui.engine.errors import explain
from vllm_tui.engine.local import LocalEngine
from vllm_tui.engine.processes import SHM_DIR, shared_segments
from vllm_tui.widgets.message import AssistantMessage, Notice, UserMessage
from vllm_tui.widgets.prompt_input import PromptInput
from vllm_tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.engine


def own_engine_app(tmp_path: Path, log_path: Path, max_tokens: int = 60, **engine: Any) -> VllmTuiApp:
    """An app that builds and owns its engine (not the shared session one)."""
    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    profile.engine = EngineSettings(**{"enforce_eager": True, **engine})
    profile.sampling.max_tokens = max_tokens
    return VllmTuiApp(cfg, profile, log_path, store_path=tmp_path / "chats.sqlite3")


async def send(pilot: Any, text: str) -> None:
    prompt = pilot.app.query_one(PromptInput)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")


async def still_usable(pilot: Any) -> None:
    """The app lives on: typing works, and a prompt sent without an engine is kept, not lost."""
    app = pilot.app
    before = len(app.query(UserMessage))
    await send(pilot, "are you there?")
    await pilot.pause(0.2)
    assert app.is_running
    assert app.query_one(PromptInput).text == "are you there?"
    assert len(app.query(UserMessage)) == before


async def long_answer_streaming(pilot: Any) -> AssistantMessage:
    """Once the engine is ready, ask for a long answer and return it with 100+ characters streamed."""
    app = pilot.app
    await wait_until(pilot, lambda: app.chat.engine_ready, timeout=300, what="engine ready")
    await send(pilot, "tell me a long story")
    await wait_until(
        pilot,
        lambda: bool(app.query(AssistantMessage)) and len(app.query_one(AssistantMessage).answer_text) > 100,
        what="answer streaming",
    )
    return app.query_one(AssistantMessage)  # type: ignore[no-any-return]


def _copy_model(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.name not in skip:
            os.symlink(f, dst / f.name)
    return dst


def _bad_models(tiny: Path, tmp: Path) -> dict[str, tuple[dict[str, Any], str, str]]:
    """case → (engine settings, expected title, a phrase the reason or advice must hold)."""
    no_tok = _copy_model(tiny, tmp / "no-tokenizer", skip=("tokenizer.json", "tokenizer_config.json"))
    corrupt = _copy_model(tiny, tmp / "corrupt", skip=("model.safetensors",))
    (corrupt / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes()[:100_000])
    return {
        "missing-path": ({"model": str(tmp / "nope")}, "Model not found", "does not exist"),
        "hf-id-offline": (
            {"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"},
            "The model could not be downloaded",
            "HF_HUB_OFFLINE",
        ),
        "no-tokenizer": ({"model": str(no_tok)}, "The model has no usable tokenizer", "tokenizer.json"),
        "corrupt-safetensors": (
            {"model": str(corrupt)},
            "The model's weight files are damaged",
            "model.safetensors is truncated",
        ),
        "tp-3-heads-4": (
            {"model": str(tiny), "tensor_parallel_size": 3},
            "Tensor parallel size does not divide the model's attention heads",
            "tensor parallel size to 1, 2 or 4",
        ),
    }


CASES = ["missing-path", "hf-id-offline", "no-tokenizer", "corrupt-safetensors", "tp-3-heads-4"]


@pytest.mark.parametrize("case", CASES)
async def test_bad_model_is_explained_and_app_lives(
    case: str, tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    settings, title, phrase = _bad_models(tiny_model, tmp_path)[case]
    app = own_engine_app(tmp_path, log_path, **settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query(Notice)), timeout=120, what="error notice")
        shown = str(app.query_one(Notice).render())
        assert shown.startswith(title), shown
        assert phrase in shown, shown
        assert "ctrl+r restarts the engine · F3 another model" in shown  # a bad model fails again
        assert app.query_one(StatusLine).state == "failed"
        await still_usable(pilot)


def test_vllm_own_tp_message_gets_the_same_advice(tiny_model: Path) -> None:
    """What vLLM itself raises for TP 3 on a 4-head model (the pre-check above spares the wait)."""
    from vllm import AsyncEngineArgs

    args = AsyncEngineArgs(
        model=str(tiny_model), tensor_parallel_size=3, max_model_len=512, enforce_eager=True
    )
    with pytest.raises(Exception) as info:  # noqa: B017 - pydantic's ValidationError or ValueError by version
        args.create_engine_config()
    ex = explain(f"{type(info.value).__name__}: {info.value}")
    assert ex.title == "Tensor parallel size does not divide the model's attention heads"
    assert ex.reason == "The model has 4 attention heads, which tensor parallel size 3 does not divide."
    assert "1, 2 or 4" in ex.advice


def test_more_gpus_than_visible_advice_on_vllms_text() -> None:
    """No GPUs here, so vLLM's CUDA-only check (vllm/config/parallel.py) is fed its own words."""
    ex = explain(
        "ValueError: World size (4) is larger than the number of available GPUs (2) in this node. "
        "If this is intentional and you are using:\n- ray, set '--distributed-executor-backend ray'."
    )
    assert ex.title == "More GPUs requested than are visible"
    assert "4" in ex.reason and "2 GPUs" in ex.reason
    assert "--tensor-parallel-size to 2 or less" in ex.advice


async def test_kv_cache_too_small_gives_the_estimate(
    tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    # A copy whose config allows a 2M-token context (model_max_length lifts vLLM's limit without
    # VLLM_ALLOW_LONG_MAX_MODEL_LEN); the CPU build's 1 GiB KV cache holds about 1M tokens of it.
    big = _copy_model(tiny_model, tmp_path / "long-context", skip=("config.json",))
    cfg = json.loads((tiny_model / "config.json").read_text())
    cfg["model_max_length"] = 4_000_000
    (big / "config.json").write_text(json.dumps(cfg))
    app = own_engine_app(tmp_path, log_path, model=str(big), max_model_len=2_000_000)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query(Notice)), timeout=240, what="error notice")
        shown = str(app.query_one(Notice).render())
        assert shown.startswith("Not enough memory for the KV cache"), shown
        m = re.search(r"Lower max_model_len to ([\d,]+) or less", shown)
        assert m is not None, shown
        estimate = int(m.group(1).replace(",", ""))
        assert 100_000 < estimate < 2_000_000
        assert "2,000,000-token context needs" in shown and "gpu_memory_utilization" in shown
        await still_usable(pilot)
        assert not app.engine or not getattr(app.engine, "pids", set())


def victim(engine: LocalEngine, which: str) -> int:
    """The frontend process (AsyncLLM), or vLLM's engine core under it."""
    frontend = engine.frontend_pid
    assert frontend is not None
    if which == "frontend":
        return frontend
    return min(engine.pids - {frontend})  # the engine core starts before its workers


@pytest.mark.parametrize("which", ["engine core", "frontend"])
async def test_engine_killed_mid_answer_keeps_the_answer_and_restarts(
    which: str, tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    app = own_engine_app(tmp_path, log_path, max_tokens=1800, model=str(tiny_model), max_model_len=2048)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await long_answer_streaming(pilot)
        engine = app.engine
        assert isinstance(engine, LocalEngine)
        segments = shared_segments(engine.pids)  # vLLM's queues between engine core and worker
        assert segments
        os.kill(victim(engine, which), signal.SIGKILL)
        await wait_until(pilot, lambda: not first.streaming, timeout=30, what="answer marked")
        await wait_until(pilot, lambda: bool(app.query(Notice)), timeout=30, what="engine died notice")
        # A process killed leaves its segments in /dev/shm: removed once the rest are ended.
        await wait_until(
            pilot,
            lambda: not [name for name in segments if Path(SHM_DIR, name).exists()],
            timeout=30,
            what="the dead engine's shared memory removed",
        )
        notice = str(app.query_one(Notice).render())
        assert notice.startswith("The engine died") and "ctrl+r" in notice
        assert "The engine died" in str(first.query_one(".stats").render())
        kept = first.answer_text
        assert "Hello! This tiny scripted model" in kept
        assert app.store is not None and app.chat.chat_id is not None
        stored = app.store.messages(app.chat.chat_id)
        assert [(m.role, m.state) for m in stored] == [("user", "complete"), ("assistant", "failed")]
        assert stored[1].content == kept and stored[1].error == "The engine died"
        await still_usable(pilot)
        app.query_one(PromptInput).clear()

        old_pids = set(app.engine.pids)  # type: ignore[union-attr]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.chat.engine_ready, timeout=300, what="engine restarted")
        assert not app.query(Notice), "the engine is back: its failure's notice went"
        app.profile.sampling.max_tokens = 20
        await send(pilot, "still there?")
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 2, what="second answer")
        second = app.query(AssistantMessage)[1]
        await wait_until(pilot, lambda: not second.streaming, timeout=60, what="second answer done")
        assert second.finish_reason == "length" and second.error is None
        assert not {p for p in old_pids if _alive(p)}
        # The history sent to the model keeps the kept part of the first answer.
        assert [t.role for t in app.chat.history] == ["user", "assistant", "user", "assistant"]
        await app.shutdown_engine()


def _alive(pid: int) -> bool:
    from vllm_tui.engine.processes import alive

    return alive(pid)


async def test_a_switch_mid_answer_keeps_the_answer_and_loads_the_next_engine(
    tiny_model: Path, tmp_path: Path, log_path: Path
) -> None:
    """F3 or F2 while an answer streams: the same steps as ctrl+r (one `replace_engine`), so the
    half-written answer is kept and marked, and the next engine answers."""
    app = own_engine_app(tmp_path, log_path, max_tokens=1800, model=str(tiny_model), max_model_len=2048)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await long_answer_streaming(pilot)
        old_pids = set(app.engine.pids)  # type: ignore[union-attr]
        switched = copy.deepcopy(app.profile)
        switched.engine.max_model_len = 1024
        switched.sampling.max_tokens = 20
        app.run_worker(app.apply_profile(switched, reload=True))
        await wait_until(pilot, lambda: not first.streaming, timeout=30, what="answer marked")
        assert first.error == "Interrupted"
        assert "the model was switched" in str(first.query_one(".stats").render())
        kept = first.answer_text
        assert len(kept) > 100
        await wait_until(pilot, lambda: app.chat.engine_ready, timeout=300, what="next engine ready")
        assert not {p for p in old_pids if _alive(p)}
        assert app.store is not None and app.chat.chat_id is not None
        stored = app.store.messages(app.chat.chat_id)
        assert stored[1].content.startswith(kept[:100]) and stored[1].error == "Interrupted"
        await send(pilot, "still there?")
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 2, what="second answer")
        second = app.query(AssistantMessage)[1]
        await wait_until(pilot, lambda: not second.streaming, timeout=60, what="second answer done")
        assert second.finish_reason == "length" and second.error is None
        await app.shutdown_engine()
