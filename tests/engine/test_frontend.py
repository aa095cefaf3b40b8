"""The engine arguments the frontend builds from a profile's settings."""

from __future__ import annotations

from pathlib import Path

from vllm_tui.cli import build_parser, profile_from_args
from vllm_tui.config import AppConfig, load_config
from vllm_tui.engine.frontend import engine_args_kwargs


def test_attention_backend_is_vllms_pick_unless_one_is_named(tmp_path: Path) -> None:
    cfg = AppConfig()
    plain = profile_from_args(cfg, build_parser().parse_args(["--model", "/m"]))
    assert plain.engine.attention_backend == "auto"
    assert "attention_backend" not in engine_args_kwargs(plain.engine)
    args = build_parser().parse_args(["--model", "/m", "--attention-backend", "TRITON_ATTN"])
    named = profile_from_args(cfg, args)
    assert engine_args_kwargs(named.engine)["attention_backend"] == "TRITON_ATTN"
    path = tmp_path / "config.yaml"
    path.write_text("profiles:\n  mine:\n    engine: {model: /m, attention_backend: FLASH_ATTN}\n")
    loaded = load_config(path)
    assert loaded.warnings == []
    assert engine_args_kwargs(loaded.config.profiles["mine"].engine)["attention_backend"] == "FLASH_ATTN"
