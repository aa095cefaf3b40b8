"""SettingsScreen, driven by keys only: validation as typed, the memory panel, apply/cancel/save/delete."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static
from textual.widgets._footer import FooterKey

from vllm_tui.config import AppConfig, EngineSettings, Profile
from vllm_tui.model_info import GB
from vllm_tui.screens.confirm import ConfirmScreen
from vllm_tui.screens.settings import ProfileNameScreen, SettingsResult, SettingsScreen

MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
R1_1_5B_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding the 1.5B distill's config.json, laid out as huggingface_hub does."""
    cache = tmp_path / "hub"
    repo = cache / f"models--{MODEL_ID.replace('/', '--')}"
    commit = "b" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    blob = repo / "blobs" / ("c" * 40)
    blob.write_text(json.dumps(R1_1_5B_CONFIG))
    os.symlink(os.path.relpath(blob, snap), snap / "config.json")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


class SettingsApp(App[None]):
    def __init__(self, config: AppConfig, profile: str, gpus: list[int] | None, **kwargs: Any) -> None:
        super().__init__()
        self.config = config
        self.profile_name = profile
        self.gpus = gpus
        self.kwargs = kwargs
        self.results: list[SettingsResult | None] = []

    def on_mount(self) -> None:
        self.push_screen(
            SettingsScreen(self.config, self.profile_name, self.gpus, **self.kwargs), self.results.append
        )


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def tab_to(pilot: Pilot[Any], widget_id: str, limit: int = 60) -> None:
    """Press tab until `widget_id` has focus (the keyboard path a user takes)."""
    for _ in range(limit):
        focused = pilot.app.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


def reason(app: App[Any], widget_id: str) -> str:
    return str(app.screen.query_one(f"#{widget_id}-reason", Static).content)


def screen(app: App[Any]) -> SettingsScreen:
    assert isinstance(app.screen, SettingsScreen)
    return app.screen


async def test_change_temperature_see_reason_fix_it_apply(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: screen(app).model_info is not None)
        await tab_to(pilot, "field-sampling-temperature")
        # Only the focused field's label is lit (it stayed lit on the first field focused).
        lit = [f.query_one(".field-label", Label).content for f in app.screen.query(".field.-focused")]
        assert lit == ["Temperature"], lit
        await pilot.press("minus", "1")  # tab selected the old value, typing replaces it
        assert app.screen.query_one("#field-sampling-temperature", Input).value == "-1"
        assert reason(app, "field-sampling-temperature") == "must be 0 (greedy) or more, got -1"
        assert screen(app).errors == {"sampling.temperature": "must be 0 (greedy) or more, got -1"}

        await pilot.press("ctrl+s")  # refused while invalid
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen) and app.results == []
        refused = [str(n.message) for n in app._notifications if n.title == "Cannot apply"]
        assert refused == ["Temperature: must be 0 (greedy) or more, got -1"]  # its label, not its path
        assert app.focused is not None and app.focused.id == "field-sampling-temperature"

        await pilot.press("backspace", "backspace", "0", "full_stop", "3")
        assert reason(app, "field-sampling-temperature") == ""
        assert screen(app).errors == {}
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(app.results))

    result = app.results[0]
    assert isinstance(result, SettingsResult)
    assert result.profile.sampling.temperature == 0.3
    assert result.profile.sampling.system_prompt == "" and result.profile.engine.max_model_len is None
    assert result.profile.name == "r1-distill-qwen-1.5b"
    assert result.engine_changed is False and result.saved_as is None and result.deleted is None
    assert app.config.profiles["r1-distill-qwen-1.5b"].sampling.temperature == 0.6  # the input is not mutated


async def test_memory_panel_follows_the_form(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [24 * GB], vllm_kv_tokens=412_345)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: screen(app).estimate is not None)
        est = screen(app).estimate
        assert est is not None and est.kv_bytes_per_token == 28_672 and est.fits is True
        panel = str(app.screen.query_one("#memory", Static).content)
        assert "Qwen2ForCausalLM" in panel and "28,672" in panel and "412,345" in panel
        assert reason(app, "field-engine-max-model-len") == "= 131,072 positions"
        assert reason(app, "field-engine-reasoning-parser") == "auto → deepseek_r1"

        await tab_to(pilot, "field-engine-gpu-memory-utilization")
        await pilot.press("0", "full_stop", "2")
        smaller = screen(app).estimate
        assert smaller is not None and smaller.fits is False and "does not fit" in smaller.reason
        assert "does not fit" in str(app.screen.query_one("#memory", Static).content)

        await tab_to(pilot, "field-engine-max-model-len")
        await pilot.press(*"200000")
        assert reason(app, "field-engine-max-model-len") == (
            "longer than the model's max_position_embeddings (131,072)"
        )
        await tab_to(pilot, "field-engine-tensor-parallel-size")
        await pilot.press("2")
        assert reason(app, "field-engine-tensor-parallel-size") == "only 1 GPU visible"


async def test_engine_change_switches_and_selects(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB, 80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: screen(app).model_info is not None)
        await tab_to(pilot, "field-engine-tensor-parallel-size")
        await pilot.press("2")
        await tab_to(pilot, "field-engine-kv-cache-dtype")
        await pilot.press("enter", "down", "enter")  # open the menu, move to fp8, choose it
        await tab_to(pilot, "field-engine-trust-remote-code")
        await pilot.press("space")
        assert "runs Python code" in reason(app, "field-engine-trust-remote-code")
        assert any(n.severity == "warning" for n in app._notifications)
        await tab_to(pilot, "field-engine-distributed-executor-backend")
        await pilot.press("enter", "down", "down", "enter")
        assert "Ray must already be running" in reason(app, "field-engine-distributed-executor-backend")
        assert "Ray" in str(app.screen.query_one("#notes", Static).content)
        await tab_to(pilot, "field-engine-attention-backend")
        await pilot.press("enter", "down", "down", "enter")  # auto, FLASH_ATTN, TRITON_ATTN
        assert "slower than vLLM's pick at 4,096 tokens" in reason(app, "field-engine-attention-backend")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(app.results))
    result = app.results[0]
    assert result is not None and result.engine_changed is True
    engine = result.profile.engine
    assert (engine.tensor_parallel_size, engine.kv_cache_dtype) == (2, "fp8")
    assert engine.trust_remote_code is True and engine.distributed_executor_backend == "ray"
    assert engine.attention_backend == "TRITON_ATTN"  # a warning, not an error: the user may choose it


async def test_remote_kind_shows_only_the_fields_a_server_uses(hf_cache: Path) -> None:
    def shown(field: str) -> bool:
        return app.screen.query_one(f"#field-{field}-row").display

    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", None)
    async with app.run_test(size=(140, 50)) as pilot:
        assert not app.screen.query_one("#group-remote").display and not shown("server-url")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "field-kind", "the form takes keys at once"
        await tab_to(pilot, "field-engine-tensor-parallel-size")
        await pilot.press("x")  # an engine error, which stops Apply only while the profile is local
        assert list(screen(app).errors) == ["engine.tensor_parallel_size"]
        await tab_to(pilot, "field-kind")
        await pilot.press("enter", "down", "enter")
        assert screen(app).candidate.kind == "remote"
        assert app.screen.query_one("#group-remote").display and shown("server-url")
        assert not shown("engine-tensor-parallel-size") and not shown("engine-dtype")
        assert shown("engine-model") and shown("engine-reasoning-parser")
        assert app.screen.query_one("#group-engine").border_title == "Model on the server"
        assert list(screen(app).errors) == ["server_url"]  # empty until typed; the TP error no longer counts
        await tab_to(pilot, "field-engine-model")  # the served name, editable for a remote profile
        await pilot.press("ctrl+u", *"r1-7b")
        assert reason(app, "field-engine-model") == "as the server names it (blank: its only model)"
        await tab_to(pilot, "field-server-url")
        await pilot.press("ctrl+u", *"localhost:8000")  # ctrl+u clears to the start
        assert reason(app, "field-server-url") == "enter an http(s) URL, e.g. http://127.0.0.1:8000/v1"
        await pilot.press("home", *"http://")
        assert reason(app, "field-server-url") == ""
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(app.results))
    result = app.results[0]
    assert result is not None and result.profile.kind == "remote" and result.engine_changed is True
    assert result.profile.server_url == "http://localhost:8000" and result.profile.engine.model == "r1-7b"


async def test_escape_cancels_and_asks_first_when_something_changed(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test() as pilot:
        await pilot.press("escape")  # nothing changed: leaves at once
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [None]

    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test() as pilot:
        await tab_to(pilot, "field-sampling-top-p")
        await pilot.press("0")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen) and not app.results  # the edit is not lost yet
        await pilot.press("n")
        await pilot.pause(0.1)
        assert isinstance(app.screen, SettingsScreen)
        assert app.screen.query_one("#field-sampling-top-p", Input).value.endswith("0")
        await pilot.press("escape", "y")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [None]


async def test_save_as_asks_for_an_unused_name(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await tab_to(pilot, "field-sampling-max-tokens")
        await pilot.press(*"8192")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfileNameScreen))
        await pilot.pause()
        keys = [f"{k.key_display} {k.description}" for k in app.screen.query(FooterKey)]
        assert keys == ["⏎ Save", "esc Cancel"], "the dialog's own keys, not the settings' beneath"
        await pilot.press("ctrl+u", *"r1-distill-qwen-7b")  # taken by a built-in profile
        await pilot.press("enter")
        assert isinstance(app.screen, ProfileNameScreen)
        assert "already exists" in str(app.screen.query_one("#profile-name-reason", Static).content)
        await pilot.press("ctrl+u", *"long-answers", "enter")
        await wait_until(pilot, lambda: bool(app.results))
    result = app.results[0]
    assert result is not None and result.saved_as == "long-answers"
    assert result.profile.name == "long-answers" and result.profile.sampling.max_tokens == 8192
    assert result.engine_changed is False


async def test_delete_profile_after_confirmation(hf_cache: Path) -> None:
    config = AppConfig()
    config.profiles["mine"] = Profile(name="mine", engine=EngineSettings(model=MODEL_ID))
    app = SettingsApp(config, "mine", [80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(app.results))
    result = app.results[0]
    assert result is not None and result.deleted == "mine" and result.engine_changed is False


async def test_last_profile_cannot_be_deleted(hf_cache: Path) -> None:
    config = AppConfig()
    config.profiles = {"only": copy.deepcopy(config.profiles["r1-distill-qwen-1.5b"])}
    config.default_profile = "only"
    app = SettingsApp(config, "only", [80 * GB])
    async with app.run_test() as pilot:
        await pilot.press("f8")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert any("last profile" in n.message for n in app._notifications)


async def test_uncached_model_and_a_local_checkpoint(
    hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a short relative path keeps the typing short
    ckpt = tmp_path / "my-checkpoint"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({**R1_1_5B_CONFIG, "num_key_value_heads": 4}))
    config = AppConfig()
    config.profiles["x"] = Profile(name="x", engine=EngineSettings(model="someone/not-cached"))
    app = SettingsApp(config, "x", [80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(
            pilot, lambda: "No local config.json" in str(app.screen.query_one("#memory", Static).content)
        )
        assert screen(app).estimate is None
        await tab_to(pilot, "field-engine-model")
        await pilot.press(*"./my-checkpoint")
        # A directory without a tokenizer is refused, with the reason beside the field.
        assert "has no tokenizer" in reason(app, "field-engine-model")
        await wait_until(pilot, lambda: screen(app).model_info is not None)
        assert screen(app).model_info.num_kv_heads == 4  # type: ignore[union-attr]
        (ckpt / "tokenizer.json").write_text("{}")
        # The next change anywhere in the form checks the whole profile again.
        await tab_to(pilot, "field-engine-tensor-parallel-size")
        await pilot.press("end", "backspace", "1")
        assert reason(app, "field-engine-model") == ""


def test_settings_snapshot(hf_cache: Path, snap_compare: Any) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB], vllm_kv_tokens=2_358_032)

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: screen(app).estimate is not None)
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(140, 50), run_before=ready)


async def test_a_narrow_terminal_puts_the_side_panel_under_the_form(hf_cache: Path) -> None:
    """At 80 columns the memory panel took 52 of them and the values were cut off: below 130 it goes
    under the form, and Notes names each field to fix."""
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen(app).model_info is not None)
        assert app.screen.has_class("-narrow")
        form, side = app.screen.query_one("#settings-form"), app.screen.query_one("#settings-side")
        assert side.region.y >= form.region.bottom and form.region.width > 70
        await tab_to(pilot, "field-sampling-temperature")
        await pilot.press("ctrl+u", *"abc")
        notes = str(app.screen.query_one("#notes", Static).content)
        assert "1 field to fix" in notes and "Temperature" in notes and "not a number" in notes
        await pilot.pause()
        box = app.screen.query_one("#notes").region
        assert box.y >= side.region.y and box.bottom <= side.region.bottom, "Notes whole, above Memory"
    # At 60 columns a reason beside its field ran down the form two letters a line: Notes alone.
    tiny = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with tiny.run_test(size=(60, 20)) as pilot:
        await wait_until(pilot, lambda: screen(tiny).model_info is not None)
        assert tiny.screen.has_class("-tiny")
        await tab_to(pilot, "field-sampling-temperature")
        await pilot.press("ctrl+u", *"abc")
        await pilot.pause()
        assert not tiny.screen.query_one("#field-sampling-temperature-reason").display
        assert "not a number" in str(tiny.screen.query_one("#notes", Static).content)
    wide = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with wide.run_test(size=(140, 50)) as pilot:
        await pilot.pause()
        assert wide.screen.has_class("-wide")
        form, side = wide.screen.query_one("#settings-form"), wide.screen.query_one("#settings-side")
        assert side.region.x >= form.region.right  # beside the form, as before


async def test_notes_say_before_apply_that_an_engine_change_restarts_the_engine(hf_cache: Path) -> None:
    app = SettingsApp(AppConfig(), "r1-distill-qwen-1.5b", [80 * GB])
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: screen(app).model_info is not None)
        notes = app.screen.query_one("#notes", Static)
        await tab_to(pilot, "field-sampling-temperature")
        await pilot.press("ctrl+u", *"0.3")
        await pilot.pause()
        assert "restarts the engine" not in str(notes.content)  # sampling applies to the next message
        assert "Changed: ctrl+s applies it to this session only; ctrl+n saves it" in str(notes.content)
        await tab_to(pilot, "field-engine-max-model-len")
        await pilot.press("ctrl+u", *"1024")
        await pilot.pause()
        assert "Applying restarts the engine" in str(notes.content)
