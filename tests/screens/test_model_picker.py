"""ModelPickerScreen over a fake Hugging Face cache: sections, filtering, free entry, keyboard choice."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from vllm_tui.config import AppConfig, Profile
from vllm_tui.screens.model_picker import ModelPickerScreen, PickedModel, scan_hf_cache


def add_cached_repo(cache: Path, repo_id: str, files: dict[str, bytes], kind: str = "models") -> None:
    """One repo laid out as huggingface_hub writes it: blobs, refs/main, a snapshot of symlinks."""
    repo = cache / f"{kind}--{repo_id.replace('/', '--')}"
    commit = f"{abs(hash(repo_id)) % 16**40:040x}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for i, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"{i:02d}{commit[2:]}"
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snap), snap / name)


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    add_cached_repo(
        cache,
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        {"config.json": b"{}", "model.safetensors": bytes(4096)},
    )
    add_cached_repo(
        cache, "deepseek-ai/deepseek-coder-1.3b-instruct", {"config.json": b"{}", "tokenizer.json": b"{}"}
    )
    add_cached_repo(cache, "someone/tokenizer-only", {"tokenizer.json": b"{}"})  # cannot be loaded: skipped
    add_cached_repo(cache, "someone/chat-data", {"config.json": b"{}"}, kind="datasets")  # not a model
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


class PickerApp(App[None]):
    def __init__(
        self, recent: list[str], served: tuple[str, ...] = (), running: Profile | None = None
    ) -> None:
        super().__init__()
        self.recent = recent
        self.served = served
        self.running = running
        self.results: list[PickedModel | None] = []

    def on_mount(self) -> None:
        profiles = AppConfig().profiles
        screen = ModelPickerScreen(profiles, self.recent, server_models=self.served, running=self.running)
        self.push_screen(screen, self.results.append)


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def picker(app: App[Any]) -> ModelPickerScreen:
    assert isinstance(app.screen, ModelPickerScreen)
    return app.screen


def labels(app: App[Any]) -> list[str]:
    return [f"{e.kind}:{e.label}" for e in picker(app).shown if e is not None]


def test_scan_lists_only_loadable_models(hf_cache: Path) -> None:
    scan = scan_hf_cache()
    assert [m.repo_id for m in scan.models] == [
        "deepseek-ai/deepseek-coder-1.3b-instruct",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    ]
    assert scan.status == ""
    seven = scan.models[1]
    assert seven.snapshot is not None and (seven.snapshot / "config.json").is_file()
    assert seven.size_bytes >= 4096


def test_scan_tolerates_a_missing_cache(tmp_path: Path) -> None:
    scan = scan_hf_cache(tmp_path / "absent")
    assert scan.models == () and scan.status == f"No Hugging Face cache at {tmp_path / 'absent'}"


async def test_lists_profiles_cache_and_recent_paths(hf_cache: Path, tmp_path: Path) -> None:
    here = tmp_path / "local-ckpt"
    here.mkdir()
    app = PickerApp([str(here), "/gone/model"])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert labels(app) == [
            "profile:r1-distill-qwen-1.5b",
            "profile:r1-distill-qwen-7b",
            "profile:r1-distill-qwen-32b",
            "cached:deepseek-ai/deepseek-coder-1.3b-instruct",
            "cached:deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
            f"recent:{here}",
            "recent:/gone/model",
        ]
        assert (
            str(app.screen.query_one("#picker-status", Static).content)
            == "2 models in the Hugging Face cache"
        )
        missing = [e for e in picker(app).shown if e is not None and e.label == "/gone/model"]
        assert missing[0].detail == "missing"
        # Section headings cannot be highlighted: the first entry is.
        assert app.screen.query_one(OptionList).highlighted == 1
        assert app.focused is app.screen.query_one(Input)


async def test_filter_then_enter_chooses_a_profile(hf_cache: Path) -> None:
    app = PickerApp([])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        await pilot.press(*"7b")
        assert labels(app) == ["profile:r1-distill-qwen-7b", "cached:deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [PickedModel("r1-distill-qwen-7b", None)]


async def test_down_arrow_reaches_a_cached_model(hf_cache: Path) -> None:
    app = PickerApp([])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        await pilot.press(*"coder")
        assert labels(app) == ["cached:deepseek-ai/deepseek-coder-1.3b-instruct"]
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", *"deepseek 7b")
        await pilot.press("down", "enter")  # past the profile whose model is the 7B, to the cache entry
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [PickedModel(None, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")]


@pytest.mark.parametrize("typed", ["/data/models/my-r1", "~/ckpt", "my-org/brand-new-model"])
async def test_free_entry_of_a_path_or_hub_id(hf_cache: Path, typed: str) -> None:
    app = PickerApp([])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        await pilot.press(*typed)
        assert labels(app)[0] == f"typed:{typed}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [PickedModel(None, typed)]


async def test_exact_cached_id_is_not_offered_twice(hf_cache: Path) -> None:
    app = PickerApp([])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        await pilot.press(*"deepseek-ai/deepseek-coder-1.3b-instruct")
        assert labels(app) == ["cached:deepseek-ai/deepseek-coder-1.3b-instruct"]


async def test_no_match_keeps_the_picker_open_and_escape_cancels(hf_cache: Path) -> None:
    app = PickerApp([])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        await pilot.press(*"zzz", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelPickerScreen) and app.results == []
        assert any("Nothing matches" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [None]


async def test_missing_cache_still_lists_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "nothing-here"))
    app = PickerApp(["/models/x"])
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert str(app.screen.query_one("#picker-status", Static).content).startswith(
            "No Hugging Face cache at"
        )
        assert [k.split(":")[0] for k in labels(app)] == ["profile"] * 3 + ["recent"]


def test_model_picker_snapshot(hf_cache: Path, snap_compare: Any) -> None:
    app = PickerApp(["/models/r1-32b-awq"])

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 30), run_before=ready)


async def test_models_of_the_attached_server_come_first(hf_cache: Path) -> None:
    app = PickerApp([], served=("tiny-r1", "tiny-r1-b"))
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert labels(app)[:2] == ["server:tiny-r1", "server:tiny-r1-b"]
        await pilot.press(*"r1-b")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [PickedModel(None, "tiny-r1-b", on_server=True)]


def current_entries(app: App[Any]) -> list[str]:
    return [f"{e.kind}:{e.label}" for e in picker(app).shown if e is not None and e.current]


async def test_what_runs_now_is_marked_current(hf_cache: Path) -> None:
    seven = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    app = PickerApp([], running=copy.deepcopy(AppConfig().profiles["r1-distill-qwen-7b"]))
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert current_entries(app) == ["profile:r1-distill-qwen-7b", f"cached:{seven}"]
        shown = app.screen.query_one(OptionList).get_option_at_index(2).prompt
        assert str(shown).rstrip().endswith("● current"), shown


async def test_a_profile_whose_model_was_replaced_is_not_current(hf_cache: Path, tmp_path: Path) -> None:
    # As after `vllm-tui --model ./ckpt`: the 1.5B profile's settings run another model.
    here = tmp_path / "ckpt"
    here.mkdir()
    running = copy.deepcopy(AppConfig().profiles["r1-distill-qwen-1.5b"])
    running.engine.model = f"{here}/"
    app = PickerApp([str(here)], running=running)
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert current_entries(app) == [f"recent:{here}"]


async def test_under_a_remote_profile_a_local_path_loads_here_and_is_not_current(
    hf_cache: Path, tmp_path: Path
) -> None:
    """A remote profile's model field names the server's model, which may read like a local path:
    that path is not what runs, and picking it loads it here, not through the server."""
    here = tmp_path / "ckpt"
    here.mkdir()
    running = copy.deepcopy(AppConfig().profiles["r1-distill-qwen-1.5b"])
    running.kind, running.server_url = "remote", "http://127.0.0.1:8000/v1"
    running.engine.model = str(here)
    app = PickerApp([str(here)], served=(str(here), "other"), running=running)
    async with app.run_test(size=(110, 36)) as pilot:
        await wait_until(pilot, lambda: picker(app).cache_scan is not None)
        assert current_entries(app) == [f"server:{here}"]
        options = app.screen.query_one(OptionList)
        recent = next(i for i, e in enumerate(picker(app).shown) if e is not None and e.kind == "recent")
        options.highlighted = recent
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [PickedModel(None, str(here), current=False, on_server=False)]
