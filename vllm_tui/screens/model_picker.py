"""Pick what to chat with: a profile, a model in the local Hugging Face cache, or a recent path.

One Input filters the list as you type and also takes a path or Hub id typed in full (offered as the
first entry); up/down move through the list without leaving the Input, enter chooses. The cache
scan walks every cached repository, so it runs in a thread worker and the list fills in after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from vllm_tui.model_info import GB, hf_hub_cache_dir, looks_like_hf_id, runs_as_stored, same_model
from vllm_tui.widgets.key_footer import KeyFooter
from vllm_tui.widgets.option_list import OptionListNoWrap
from vllm_tui.widgets.ordered_keys import OrderedInput

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from vllm_tui.config import Profile


@dataclass(frozen=True)
class PickedModel:
    """The choice: a profile by name, or a model (path or Hub id) to run with the current profile."""

    profile_name: str | None
    model: str | None
    current: bool = False
    """What runs now (marked "● current" in the list): choosing it again need not reload."""
    on_server: bool = False
    """One of the remote server's models: asked of that server. Any other model loads here."""


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    size_bytes: int
    snapshot: Path | None
    """The snapshot holding config.json (refs/main when it has one, else the newest)."""


@dataclass(frozen=True)
class CacheScan:
    models: tuple[CachedModel, ...]
    status: str
    """Empty when the scan found the cache; otherwise why the list is empty or short."""


def scan_hf_cache(cache_dir: Path | None = None) -> CacheScan:
    """Models in the Hugging Face hub cache that hold a config.json. Slow on big caches; never raises
    for a missing or partly broken cache."""
    cache = cache_dir or hf_hub_cache_dir()
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.utils import CacheNotFound  # also exported here by older releases
    except ImportError:
        return CacheScan((), "huggingface_hub is not installed: no cache listing")
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return CacheScan((), f"No Hugging Face cache at {cache}")
    except (OSError, ValueError) as exc:
        return CacheScan((), f"Cannot read the Hugging Face cache at {cache}: {exc}")
    models = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        with_config = [r for r in repo.revisions if any(f.file_name == "config.json" for f in r.files)]
        if not with_config:
            continue  # tokenizer-only or partial downloads cannot be loaded
        main = [r for r in with_config if "main" in r.refs]
        best = (main or sorted(with_config, key=lambda r: r.last_modified, reverse=True))[0]
        models.append(CachedModel(repo.repo_id, repo.size_on_disk, best.snapshot_path))
    models.sort(key=lambda m: m.repo_id.lower())
    status = f"{len(info.warnings)} unreadable cache entries skipped" if info.warnings else ""
    return CacheScan(tuple(models), status)


@dataclass(frozen=True)
class _Entry:
    kind: Literal["server", "profile", "cached", "recent", "typed"]
    label: str
    detail: str
    profile_name: str | None = None
    model: str | None = None
    current: bool = False
    """What the engine runs now (a profile only while its own model runs)."""

    @property
    def haystack(self) -> str:
        return f"{self.label} {self.detail}".lower()

    def picked(self) -> PickedModel:
        return PickedModel(self.profile_name, self.model, self.current, on_server=self.kind == "server")


def _size(n: int) -> str:
    return f"{n / GB:.1f} GB" if n >= GB // 10 else f"{n / 1e6:.1f} MB"


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", "./", "../"))


class FilterInput(OrderedInput):
    """The picker's filter line: enter loads the highlighted entry, and the footer and help say so."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Load", id="picker.load")]


class ModelPickerScreen(ModalScreen[PickedModel | None]):
    """Choose a profile or a model. Dismisses with `PickedModel`, or None when cancelled."""

    HELP_TITLE: ClassVar[str] = "Model picker"
    """What help calls this screen's keys when opened over it."""

    CSS_PATH = "model_picker.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Next", show=False, id="picker.down"),
        Binding("up", "move(-1)", "Previous", show=False, id="picker.up"),
        # A dialog: the App's own f1 does not reach it.
        Binding("f1", "app.help", "Help", show=False, id="picker.help"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | type | Filter; or type a full path / org/name |
    | up / down | Move through the list |
    | enter | Choose |
    | escape | Cancel |
    """

    SECTIONS: ClassVar[dict[str, str]] = {
        "typed": "Path or Hub id",
        "server": "Served by the attached server",
        "profile": "Profiles",
        "cached": "Hugging Face cache",
        "recent": "Recent paths",
    }

    def __init__(
        self,
        profiles: Mapping[str, Profile],
        recent_paths: Sequence[str] = (),
        *,
        hf_cache_dir: Path | None = None,
        server_models: Sequence[str] = (),
        running: Profile | None = None,
    ) -> None:
        super().__init__()
        remote = running is not None and running.kind == "remote"
        current_model = running.engine.model if running is not None else None
        # A path or a cached model loads here: "current" only while a local engine runs it (a
        # remote profile's model field holds the server's name for it, which may look the same).
        self._current_model = None if remote else current_model
        self._entries: list[_Entry] = [
            _Entry("server", m, "/v1/models", model=m, current=remote and same_model(m, current_model))
            for m in server_models
        ]
        self._entries += [
            _Entry(
                "profile",
                name,
                f"{p.kind}: {p.server_url if p.kind == 'remote' else p.engine.model}",
                profile_name=name,
                # A profile whose model --model or F3 replaced is not what runs now.
                current=running is not None and name == running.name and runs_as_stored(p, running),
            )
            for name, p in profiles.items()
        ]
        for path in recent_paths:
            missing = "" if Path(path).expanduser().exists() else "missing"
            current = same_model(path, self._current_model)
            self._entries.append(_Entry("recent", path, missing, model=path, current=current))
        self._cache_dir = hf_cache_dir
        self.shown: list[_Entry | None] = []
        """Entries in list order; None for section headings."""
        self.cache_scan: CacheScan | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog"):
            yield Label("Choose a model or profile · enter loads it · esc cancels", id="picker-title")
            yield FilterInput(placeholder="filter, or a path / org/name", id="picker-filter")
            yield OptionListNoWrap(id="picker-options")
            yield Static("Scanning the Hugging Face cache…", id="picker-status")
        # Its own keys: below a dialog the chat's footer offered keys that do nothing here.
        yield KeyFooter()

    def on_mount(self) -> None:
        self._rebuild()
        self.query_one("#picker-filter", Input).focus()
        self._scan_cache()

    @work(thread=True, exclusive=True, group="picker.scan", exit_on_error=False)
    def _scan_cache(self) -> CacheScan:
        return scan_hf_cache(self._cache_dir)

    @on(Worker.StateChanged)
    def _scan_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "picker.scan":
            return
        status = self.query_one("#picker-status", Static)
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, CacheScan):
            scan = self.cache_scan = event.worker.result
            self._entries = [e for e in self._entries if e.kind != "cached"] + [
                _Entry(
                    "cached",
                    m.repo_id,
                    _size(m.size_bytes),
                    model=m.repo_id,
                    current=same_model(m.repo_id, self._current_model),
                )
                for m in scan.models
            ]
            status.update(scan.status or f"{len(scan.models)} models in the Hugging Face cache")
            self._rebuild()
        elif event.state == WorkerState.ERROR:
            status.update(f"Cache scan failed: {event.worker.error}")

    # --- list -----------------------------------------------------------------------------------

    def _filtered(self, text: str) -> list[_Entry]:
        words = text.lower().split()
        shown = [e for e in self._entries if all(w in e.haystack for w in words)]
        typed = text.strip()
        if typed and (looks_like_hf_id(typed) or _looks_like_path(typed)):
            if not any(e.model == typed for e in shown):
                current = same_model(typed, self._current_model)
                shown.insert(0, _Entry("typed", typed, "use as typed", model=typed, current=current))
        return shown

    def _rebuild(self) -> None:
        options = self.query_one("#picker-options", OptionList)
        text = self.query_one("#picker-filter", Input).value
        entries = self._filtered(text)
        self.shown = []
        prompts: list[Option] = []
        width = min(max((len(e.label) for e in entries), default=0), 48)
        for kind, title in self.SECTIONS.items():
            section = [e for e in entries if e.kind == kind]
            if not section:
                continue
            self.shown.append(None)
            prompts.append(Option(Text(title, style="bold"), disabled=True))
            for entry in section:
                self.shown.append(entry)
                line = Text(entry.label.ljust(width))
                if entry.detail:
                    line.append(f"  {entry.detail}", style="dim")
                if entry.current:
                    line.append("  ● current", style="bold")
                prompts.append(Option(line, id=f"entry-{len(self.shown) - 1}"))
        options.set_options(prompts)
        first = next((i for i, e in enumerate(self.shown) if e is not None), None)
        options.highlighted = first

    @property
    def highlighted_entry(self) -> _Entry | None:
        index = self.query_one("#picker-options", OptionList).highlighted
        if index is None or index >= len(self.shown):
            return None
        return self.shown[index]

    @on(Input.Changed, "#picker-filter")
    def _filter_changed(self) -> None:
        self._rebuild()

    @on(Input.Submitted, "#picker-filter")
    def _filter_submitted(self) -> None:
        entry = self.highlighted_entry
        if entry is None:
            self.notify("Nothing matches: type a path or an org/name id.", severity="warning")
            return
        self.dismiss(entry.picked())

    @on(OptionList.OptionSelected, "#picker-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        entry = self.shown[event.option_index] if event.option_index < len(self.shown) else None
        if entry is not None:
            self.dismiss(entry.picked())

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
