"""config.py: YAML round-trip, malformed files left alone, unknown keys reported, atomic 0600 saves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vllm_tui import config as cfgmod
from vllm_tui.config import (
    AppConfig,
    ConfigError,
    EngineSettings,
    Profile,
    SamplingSettings,
    UiSettings,
    default_config_path,
    load_config,
    save_config,
)


def custom_config() -> AppConfig:
    cfg = AppConfig()
    cfg.profiles["fast-7b"] = Profile(
        name="fast-7b",
        engine=EngineSettings(
            model="/models/r1-7b",
            tensor_parallel_size=2,
            gpu_memory_utilization=0.85,
            max_model_len=32768,
            kv_cache_dtype="fp8",
            enforce_eager=True,
            reasoning_parser="deepseek_r1",
        ),
        sampling=SamplingSettings(
            temperature=0.7, top_k=40, seed=1234, system_prompt="Be brief.\nÜnïcode ok."
        ),
    )
    cfg.profiles["server"] = Profile(name="server", kind="remote", server_url="http://10.0.0.2:8000/v1")
    cfg.default_profile = "fast-7b"
    cfg.ui = UiSettings(theme="nord", show_thinking=False, gpu_poll_seconds=0.5)
    cfg.keymap = {"chat.stop": "escape,ctrl+c"}
    return cfg


def test_paths_follow_the_isolated_xdg_dirs(isolated_user_dirs: Path) -> None:
    assert default_config_path() == isolated_user_dirs / "config" / "vllm-tui" / "config.yaml"


def test_round_trip(tmp_path: Path) -> None:
    cfg = custom_config()
    path = save_config(cfg, tmp_path / "config.yaml")
    loaded = load_config(path)
    assert loaded.error is None and loaded.warnings == []
    assert loaded.config == cfg
    # Saving what was loaded writes the same bytes: nothing drifts on a load/save cycle.
    before = path.read_bytes()
    save_config(loaded.config, path)
    assert path.read_bytes() == before


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    result = load_config(tmp_path / "absent.yaml")
    assert result.error is None and result.config == AppConfig()


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("profiles:\n  a:\n    engine: [1, 2\n", 4, 1),
        ("ui:\n  theme: nord\n   show_thinking: false\n", 3, 17),
        ('default_profile: "unterminated\n', 2, 1),
    ],
)
def test_malformed_yaml_reports_line_and_column_and_leaves_the_file(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    result = load_config(path)
    assert result.error is not None
    assert f"line {line}, column {column}" in result.error.title
    assert "untouched" in result.error.advice
    assert result.config == AppConfig()
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime


def test_wrong_types_are_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("profiles:\n  p:\n    engine:\n      tensor_parallel_size: two\n")
    before = path.read_bytes()
    result = load_config(path)
    assert result.error is not None and "profiles.p.engine.tensor_parallel_size" in result.error.title
    assert path.read_bytes() == before


def test_unknown_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "colour: blue\n"
        "ui:\n  sidebar: false\n  font: mono\n"
        "profiles:\n  p:\n    engine:\n      model: org/m\n      swap_space: 4\n"
        "    sampling:\n      typo_p: 0.9\n"
    )
    result = load_config(path)
    assert result.error is None
    assert result.warnings == [
        "unknown top-level key 'colour' (ignored)",
        "ui: unknown key 'font' (ignored)",
        "profiles.p.engine: unknown key 'swap_space' (ignored)",
        "profiles.p.sampling: unknown key 'typo_p' (ignored)",
    ]
    assert result.config.profiles["p"].engine.model == "org/m"
    assert result.config.ui.sidebar is False


def test_unknown_default_profile_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("default_profile: ghost\n")
    result = load_config(path)
    assert result.config.default_profile == AppConfig().default_profile
    assert any("ghost" in w for w in result.warnings)


def test_profile_lookup_error() -> None:
    with pytest.raises(ConfigError) as info:
        AppConfig().profile("ghost")
    assert "r1-distill-qwen-1.5b" in info.value.advice


def test_save_is_mode_0600_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.yaml"
    save_config(custom_config(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    save_config(AppConfig(), path)  # replacing an existing file also lands at 0600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.yaml"]


def test_save_is_atomic_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    save_config(AppConfig(), path)
    before = path.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cfgmod.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_config(custom_config(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_save_writes_through_a_temp_file_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename must stay on one filesystem to be atomic: the temp file sits beside the target."""
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((src, str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(cfgmod.os, "replace", spy)
    path = save_config(AppConfig(), tmp_path / "config.yaml")
    assert len(seen) == 1 and Path(seen[0][0]).parent == tmp_path and seen[0][1] == str(path)


def test_booleans_are_refused_for_numbers(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("profiles:\n  p:\n    engine:\n      tensor_parallel_size: true\n")
    assert load_config(path).error is not None


def test_optional_fields_are_type_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("profiles:\n  p:\n    engine:\n      max_model_len: lots\n")
    assert load_config(path).error is not None


def test_deleted_builtin_profile_stays_deleted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    cfg = load_config(path).config
    del cfg.profiles["r1-distill-qwen-32b"]
    cfg.deleted_profiles.append("r1-distill-qwen-32b")
    save_config(cfg, path)
    again = load_config(path)
    assert again.error is None, again.error
    assert "r1-distill-qwen-32b" not in again.config.profiles
    assert "r1-distill-qwen-1.5b" in again.config.profiles
