"""A profile that cannot work is refused before any engine process starts (issue 10: TP 3 on a
28-head 7B), with the reason on screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, EngineSettings, Profile
from vllm_tui.validation import validate_profile
from vllm_tui.widgets.message import Notice
from vllm_tui.widgets.status_line import StatusLine


def _r1_7b_config(tmp_path: Path) -> Path:
    model = tmp_path / "r1-7b"
    model.mkdir()
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 131072,
        "vocab_size": 152064,
        "torch_dtype": "bfloat16",
    }
    (model / "config.json").write_text(json.dumps(config))
    (model / "tokenizer.json").write_text("{}")
    return model


def test_tp3_on_7b_is_refused_by_validation(tmp_path: Path) -> None:
    profile = Profile(engine=EngineSettings(model=str(_r1_7b_config(tmp_path)), tensor_parallel_size=3))
    problems = validate_profile(profile, gpu_count=4)
    assert [p.message for p in problems if p.field == "engine.tensor_parallel_size"] == [
        "must divide the model's 28 attention heads"
    ]


async def test_app_refuses_tp3_before_any_engine_starts(tmp_path: Path, log_path: Path) -> None:
    profile = Profile(engine=EngineSettings(model=str(_r1_7b_config(tmp_path)), tensor_parallel_size=3))
    app = VllmTuiApp(AppConfig(), profile, log_path, store_path=tmp_path / "chats.sqlite3")
    app._fail_fast = False  # type: ignore[attr-defined]
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query(Notice)), what="refusal")
        text = str(app.query_one(Notice).render())
        assert text.startswith("Tensor parallel size does not divide the model's attention heads"), text
        assert "28 attention heads" in text
        assert app.query_one(StatusLine).state == "failed"
        assert app.engine is None or not app.engine.pids  # type: ignore[attr-defined]


async def test_app_refuses_more_gpus_than_visible(tmp_path: Path, log_path: Path, monkeypatch: Any) -> None:
    """Where NVML sees GPUs, a tensor parallel size larger than their number is refused up front."""
    import vllm_tui.gpu.count as count

    monkeypatch.setattr(count, "visible_gpu_count", lambda: 2)
    profile = Profile(engine=EngineSettings(model=str(_r1_7b_config(tmp_path)), tensor_parallel_size=4))
    app = VllmTuiApp(AppConfig(), profile, log_path, store_path=tmp_path / "chats.sqlite3")
    app._fail_fast = False  # type: ignore[attr-defined]
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.query(Notice)), what="refusal")
        text = str(app.query_one(Notice).render())
        assert "Settings refused before loading" in text and "only 2 GPUs visible" in text
        assert app.engine is None
