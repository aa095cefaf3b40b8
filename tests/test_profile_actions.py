"""Profiles from the chat: F2 edits the profile as this session runs it; a switch says what it does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from tests.support import wait_until
from vllm_tui.app import VllmTuiApp
from vllm_tui.config import AppConfig, Profile
from vllm_tui.engine.events import EngineStopped
from vllm_tui.screens.model_picker import ModelPickerScreen
from vllm_tui.screens.settings import SettingsScreen
from vllm_tui.widgets.engine_card import EngineCard, EngineState
from vllm_tui.widgets.status_line import StatusLine

RUNNING_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"


async def test_settings_start_from_the_running_profile_and_apply_keeps_it(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    cfg = AppConfig()
    stored = cfg.profile()
    # As after `vllm-tui --model …-7B` and the temperature nudged down with a key: the session runs
    # something other than the stored profile of the same name.
    running = copy.deepcopy(stored)
    running.engine.model = RUNNING_MODEL
    running.sampling.temperature = 0.3
    assert stored.engine.model != RUNNING_MODEL
    app = VllmTuiApp(cfg, running, log_path, engine=app_engine, store_path=tmp_path / "chats.sqlite3")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings shown")
        await pilot.pause(0.3)
        assert app.screen.query_one("#field-engine-model", Input).value == RUNNING_MODEL
        assert app.screen.query_one("#field-sampling-temperature", Input).value == "0.3"
        # The title says the form is not the saved profile: --model replaced its model.
        title = str(app.screen.query_one("#settings-title", Static).render())
        running = RUNNING_MODEL.rstrip("/").rsplit("/", 1)[-1]
        # The running model first: naming only the profile read as if its model were running.
        assert title == f"Settings · {running} as it runs now · from profile {stored.name}", title
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="settings closed")
        await pilot.pause(0.3)
        # Nothing was changed, so the engine keeps running what it runs, and the session's profile
        # is still the one given at launch (not the stored profile's 1.5B).
        assert app.chat.engine_ready
        assert app.profile.engine.model == RUNNING_MODEL
        assert app.profile.sampling.temperature == 0.3
        assert cfg.profiles[stored.name].engine.model == stored.engine.model  # the stored one untouched


def on_stored_profile(app_engine: Any, log_path: Path, tmp_path: Path) -> tuple[VllmTuiApp, Profile]:
    """The app lent the shared engine, running the default profile exactly as stored."""
    cfg = AppConfig()
    profile = copy.deepcopy(cfg.profile())
    app = VllmTuiApp(cfg, profile, log_path, engine=app_engine, store_path=tmp_path / "chats.sqlite3")
    return app, profile


async def open_picker(pilot: Any, app: VllmTuiApp) -> ModelPickerScreen:
    """F3, once the engine is ready."""
    await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
    await pilot.press("f3")
    await wait_until(pilot, lambda: isinstance(app.screen, ModelPickerScreen), what="picker shown")
    picker = app.screen
    assert isinstance(picker, ModelPickerScreen)
    return picker


async def test_a_switch_says_what_comes_next_while_the_old_engine_stops(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app, profile = on_stored_profile(app_engine, log_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        status = app.chat.query_one(StatusLine)
        switched = copy.deepcopy(profile)
        switched.engine.model = RUNNING_MODEL
        app.chat.show_stopping(switched)
        assert app.chat.query_one(EngineCard).status.state is EngineState.STOPPING  # not "generating"
        # The old engine reports that it stopped; the line keeps saying what happens next.
        app.chat.apply_engine_event(EngineStopped())
        await pilot.pause()
        assert status.state == "starting"
        assert status.stage == f"stopping the engine, then loading {RUNNING_MODEL}…"
        assert f"stopping the engine, then loading {RUNNING_MODEL}…" in str(status.render())
        # Once the next engine is being built, a stop is reported as one again.
        app.chat.show_engine(app.profile)
        app.chat.apply_engine_event(EngineStopped())
        assert (status.state, status.stage) == ("stopped", "engine stopped")
        app.chat.show_stopping(None)  # ctrl+r: the same engine again
        assert status.stage == "stopping the engine, then starting it again…"


async def test_picking_what_runs_now_reloads_nothing(app_engine: Any, log_path: Path, tmp_path: Path) -> None:
    app, profile = on_stored_profile(app_engine, log_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        picker = await open_picker(pilot, app)
        assert [e.label for e in picker.shown if e is not None and e.current] == [profile.name]
        await pilot.press(*profile.name, "enter")
        await wait_until(pilot, lambda: app.screen is app.chat, what="picker closed")
        await pilot.pause(0.3)
        # Reloading it would have stopped the engine for the whole load.
        assert app.chat.engine_ready and app.engine is app_engine
        assert any("what runs now" in str(n.message) for n in app._notifications)


async def test_a_pick_that_cannot_load_keeps_the_running_engine(
    app_engine: Any, log_path: Path, tmp_path: Path
) -> None:
    app, profile = on_stored_profile(app_engine, log_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_picker(pilot, app)
        await pilot.press(*str(tmp_path / "nope"), "enter")
        await refused_and_kept(pilot, app, app_engine, profile, "does not exist")
        assert any(n.title == "Model not found" for n in app._notifications)


async def refused_and_kept(
    pilot: Any, app: VllmTuiApp, app_engine: Any, profile: Profile, reason: str
) -> None:
    """A toast gives `reason`, and the running engine is kept: stopping it for a model that cannot
    load would have cost the whole load, and then failed."""
    await wait_until(
        pilot,
        lambda: any(reason in str(n.message) for n in app._notifications),
        what="the reason",
    )
    assert app.chat.engine_ready and app.engine is app_engine
    assert app.profile.engine.model == profile.engine.model


async def test_a_settings_model_that_cannot_load_keeps_the_running_engine(
    app_engine: Any, log_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Hub id, offline and not in the cache (a missing path the settings form refuses itself).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    app, profile = on_stored_profile(app_engine, log_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.chat.engine_ready, what="engine ready")
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings shown")
        await pilot.pause(0.3)
        app.screen.query_one("#field-engine-model", Input).value = "nobody/not-a-model"
        await pilot.pause(0.3)
        await pilot.press("ctrl+s")
        # As with F3: checked before the engine is stopped for it.
        await refused_and_kept(pilot, app, app_engine, profile, "not in the local Hugging Face cache")
        assert any("F2 to change it" in str(n.message) for n in app._notifications)


async def test_deleting_the_running_profile_leaves_it_unnamed(tmp_path: Path) -> None:
    from tests.support import make_engineless_app
    from vllm_tui.config import EngineSettings

    cfg = AppConfig()
    cfg.profiles["mine"] = Profile(name="mine", engine=EngineSettings(model=str(tmp_path / "own")))
    app = make_engineless_app(tmp_path, cfg, copy.deepcopy(cfg.profiles["mine"]), tmp_path / "config.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        status = app.chat.query_one(StatusLine)
        assert status.sampling.endswith(" · mine")
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings shown")
        await pilot.pause(0.3)
        await pilot.press("f8")
        await pilot.pause(0.3)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is app.chat, what="settings closed")
        await pilot.pause(0.2)
        # The session still runs it, but no longer as a profile: not named, not brought back.
        assert "mine" not in cfg.profiles and not status.sampling.endswith(" · mine")
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings again")
        await pilot.pause(0.3)
        title = app.screen.query_one("#settings-title", Static).render()
        assert "no saved profile (mine was deleted)" in str(title)
        assert "mine" not in cfg.profiles


async def test_a_local_path_picked_under_a_remote_profile_loads_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """F3 after a remote server failed: a recent local path must load locally. It was asked of the
    same (refusing) server, since the pick kept the remote profile with only its model replaced."""
    from tests.support import make_engineless_app
    from vllm_tui.recent import remember

    local = tmp_path / "ckpt"
    local.mkdir()  # not a model: the local load fails at once, as the test wants
    remember(str(local))
    remote = copy.deepcopy(AppConfig().profile())
    remote.kind, remote.server_url = "remote", "http://127.0.0.1:9/v1"  # nothing listens on port 9
    remote.engine.model = str(local)
    app = make_engineless_app(tmp_path, profile=remote)
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.chat.query_one(StatusLine)
        await wait_until(pilot, lambda: status.state == "failed", what="the remote server refused")
        # Logged as well: the notice points to "F5 the log", where nothing of a server's was.
        assert "engine failed: Connection refused by 127.0.0.1:9" in caplog.text
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPickerScreen), what="picker shown")
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        assert not [e for e in picker.shown if e is not None and e.current], "the local path is not what runs"
        await pilot.press(*str(local))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.profile.kind == "local", what="a local profile")
        assert app.profile.engine.model == str(local)
        await wait_until(
            pilot, lambda: status.state == "failed" and status.model == str(local), what="tried here"
        )
