"""Secrets and files: the API key never reaches the disk, user files are 0600, and remote code is
not trusted unless the user says so."""

from __future__ import annotations

import copy
import stat
from pathlib import Path

import pytest

from tests.engine.remote_server import ScriptedServer
from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.cli import build_parser, profile_from_args
from vllm_tui.config import AppConfig, builtin_profiles, load_config, save_config
from vllm_tui.engine.frontend import engine_args_kwargs
from vllm_tui.widgets.message import AssistantMessage
from vllm_tui.widgets.prompt_input import PromptInput

SECRET = "sk-reliability-test-5ecret-0123456789"


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_api_key_never_on_disk(
    scripted: ScriptedServer, tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", SECRET)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    profile.name = "remote-test"
    profile.kind = "remote"
    profile.server_url = scripted.url
    profile.engine.model = "ok"
    cfg.profiles[profile.name] = profile
    cfg.default_profile = profile.name
    store = tmp_path / "data" / "chats.sqlite3"
    app = VllmTuiApp(cfg, profile, log_path, store_path=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, timeout=60, what="connected")
        app.query_one(PromptInput).insert(f"my key is not {SECRET[:6]}")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.query(AssistantMessage)), what="answer")
        message = app.query_one(AssistantMessage)
        await wait_until(pilot, lambda: not message.streaming, what="answer done")
        assert message.answer_text == "Answer."
        config_path = save_config(cfg, tmp_path / "config" / "config.yaml")
        await app.shutdown_engine()
    assert load_config(config_path).config.profiles["remote-test"].api_key_env == "VLLM_API_KEY"
    for root in (tmp_path, log_path.parent):
        assert _files_holding(root, SECRET.encode()) == []
    assert store.exists() and config_path.exists()


def test_config_and_store_files_are_private(tmp_path: Path) -> None:
    from vllm_tui.store import ChatStore

    config_path = save_config(AppConfig(), tmp_path / "config.yaml")
    with ChatStore.open(tmp_path / "chats.sqlite3") as store:
        chat = store.create_chat()
        store.add_user_message(chat.id, "private words")
    paths = [config_path, tmp_path / "chats.sqlite3"]
    paths += [p for p in tmp_path.glob("chats.sqlite3-*")]
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # An existing store opened with a wider mode is narrowed.
    (tmp_path / "chats.sqlite3").chmod(0o644)
    ChatStore.open(tmp_path / "chats.sqlite3").close()
    assert stat.S_IMODE((tmp_path / "chats.sqlite3").stat().st_mode) == 0o600


def test_trust_remote_code_is_off_unless_asked(tmp_path: Path) -> None:
    assert all(not p.engine.trust_remote_code for p in builtin_profiles().values())
    cfg = AppConfig()
    plain = profile_from_args(cfg, build_parser().parse_args(["--model", "/m"]))
    assert engine_args_kwargs(plain.engine)["trust_remote_code"] is False
    # A config written and read back without the key stays off.
    path = tmp_path / "config.yaml"
    path.write_text("profiles:\n  mine:\n    engine:\n      model: /m\n")
    assert load_config(path).config.profiles["mine"].engine.trust_remote_code is False
    asked = profile_from_args(cfg, build_parser().parse_args(["--model", "/m", "--trust-remote-code"]))
    assert engine_args_kwargs(asked.engine)["trust_remote_code"] is True
