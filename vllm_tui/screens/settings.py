"""The settings screen: every engine and sampling setting of one profile, checked as it is typed.

The form is driven by a table of fields (`FIELDS`); each change re-reads the whole form, runs
`validation.validate_profile` over the result and shows each reason beside its field, so cross-field
rules (tensor parallel size vs. the model's heads, max_model_len vs. its positions) stay current.
The model's config.json is read in a thread worker whenever the model field changes; the memory
estimate beside the engine settings is recomputed from it on every change.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch
from textual.worker import Worker, WorkerState

from vllm_tui.config import (
    ATTENTION_BACKENDS,
    DTYPES,
    EXECUTOR_BACKENDS,
    KV_CACHE_DTYPES,
    QUANTIZATIONS,
    REASONING_PARSERS,
    AppConfig,
    Profile,
)
from vllm_tui.model_info import (
    GB,
    MemoryEstimate,
    ModelInfo,
    ModelInfoError,
    estimate_memory,
    load_model_info,
    read_chat_template,
    reasoning_parser_for,
    runs_as_stored,
)
from vllm_tui.screens.confirm import ConfirmScreen
from vllm_tui.validation import check_profile_name, validate_profile
from vllm_tui.widgets.engine_card import display_model
from vllm_tui.widgets.key_footer import KeyFooter
from vllm_tui.widgets.ordered_keys import OrderedInput

if TYPE_CHECKING:
    from textual.app import ComposeResult

FieldKind = Literal["int", "opt_int", "float", "text", "opt_text", "choice", "bool"]


@dataclass(frozen=True)
class SettingsResult:
    """What the settings screen dismisses with (None when cancelled)."""

    profile: Profile
    """The edited profile (named `saved_as` when saved under a new name)."""
    engine_changed: bool
    """True when the engine must be rebuilt: an EngineSettings field differs from the original, or the
    profile's kind / server URL / API key variable does (a different engine altogether)."""
    saved_as: str | None
    deleted: str | None
    """Name of the profile the user deleted; `profile` is then the original, unchanged."""


@dataclass(frozen=True)
class FieldSpec:
    path: str
    """Dotted path in Profile: "kind", "engine.model", "sampling.top_p"."""
    label: str
    kind: FieldKind
    group: Literal["profile", "engine", "sampling", "remote"]
    choices: tuple[str, ...] = ()
    placeholder: str = ""

    @property
    def widget_id(self) -> str:
        return "field-" + self.path.replace(".", "-").replace("_", "-")


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("kind", "Runs on", "choice", "profile", ("local", "remote")),
    FieldSpec("engine.model", "Model", "text", "engine", placeholder="path or org/name"),
    FieldSpec("engine.tensor_parallel_size", "Tensor parallel", "int", "engine"),
    FieldSpec("engine.pipeline_parallel_size", "Pipeline parallel", "int", "engine"),
    FieldSpec("engine.gpu_memory_utilization", "GPU memory use", "float", "engine"),
    FieldSpec("engine.max_model_len", "Max model len", "opt_int", "engine", placeholder="model's maximum"),
    FieldSpec("engine.dtype", "Dtype", "choice", "engine", DTYPES),
    FieldSpec("engine.quantization", "Quantization", "choice", "engine", QUANTIZATIONS),
    FieldSpec("engine.kv_cache_dtype", "KV cache dtype", "choice", "engine", KV_CACHE_DTYPES),
    FieldSpec("engine.enforce_eager", "Enforce eager", "bool", "engine"),
    FieldSpec("engine.trust_remote_code", "Trust remote code", "bool", "engine"),
    FieldSpec("engine.download_dir", "Download dir", "opt_text", "engine", placeholder="HF cache"),
    FieldSpec("engine.distributed_executor_backend", "Executor", "choice", "engine", EXECUTOR_BACKENDS),
    FieldSpec("engine.reasoning_parser", "Reasoning parser", "choice", "engine", REASONING_PARSERS),
    FieldSpec("engine.attention_backend", "Attention backend", "choice", "engine", ATTENTION_BACKENDS),
    FieldSpec("sampling.temperature", "Temperature", "float", "sampling"),
    FieldSpec("sampling.top_p", "Top p", "float", "sampling"),
    FieldSpec("sampling.top_k", "Top k", "int", "sampling"),
    FieldSpec("sampling.min_p", "Min p", "float", "sampling"),
    FieldSpec("sampling.max_tokens", "Max tokens", "int", "sampling"),
    FieldSpec("sampling.repetition_penalty", "Repetition penalty", "float", "sampling"),
    FieldSpec("sampling.presence_penalty", "Presence penalty", "float", "sampling"),
    FieldSpec("sampling.frequency_penalty", "Frequency penalty", "float", "sampling"),
    FieldSpec("sampling.seed", "Seed", "opt_int", "sampling", placeholder="random"),
    FieldSpec(
        "sampling.system_prompt", "System prompt", "text", "sampling", placeholder="none (R1 wants none)"
    ),
    FieldSpec("server_url", "Server URL", "text", "remote", placeholder="the server's address"),
    FieldSpec("api_key_env", "API key variable", "text", "remote"),
)

REMOTE_ENGINE_FIELDS = frozenset({"engine.model", "engine.reasoning_parser"})
"""The engine fields a remote profile uses: the served model's name, and where to split the thinking
when the server does not. The server was started with its own values for the rest."""

_SPEC_BY_ID = {spec.widget_id: spec for spec in FIELDS}
_SPEC_BY_PATH = {spec.path: spec for spec in FIELDS}

_GROUP_TITLES = {"profile": "Profile", "engine": "Engine", "sampling": "Sampling", "remote": "Remote server"}


def get_path(profile: Profile, path: str) -> Any:
    obj: Any = profile
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def set_path(profile: Profile, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    obj: Any = profile
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_field(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    """(value, None) or (None, reason) for a widget's raw value."""
    if spec.kind in ("choice", "bool"):
        return raw, None
    text = str(raw)
    if spec.kind == "text":
        # The system prompt keeps its spaces; names, URLs and paths do not.
        return (text if spec.path == "sampling.system_prompt" else text.strip()), None
    if spec.kind == "opt_text":
        return text.strip() or None, None
    if spec.kind == "float":
        stripped = text.strip()
        if not stripped:
            return None, "enter a number"
        try:
            value = float(stripped)
        except ValueError:
            return None, f"{stripped!r} is not a number"
        if value != value or value in (float("inf"), float("-inf")):
            return None, "must be a finite number"
        return value, None
    stripped = text.strip().replace("_", "").replace(",", "")
    if not stripped:
        return (None, None) if spec.kind == "opt_int" else (None, "enter a whole number")
    try:
        return int(stripped), None
    except ValueError:
        return None, f"{text.strip()!r} is not a whole number"


def _engine_differs(a: Profile, b: Profile) -> bool:
    return dataclasses.asdict(a.engine) != dataclasses.asdict(b.engine) or (
        a.kind,
        a.server_url,
        a.api_key_env,
    ) != (b.kind, b.server_url, b.api_key_env)


class NameInput(OrderedInput):
    """The new profile's name: the footer says what enter does (Input's own enter is hidden)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Save", id="settings.name_save")]


class ProfileNameScreen(ModalScreen[str | None]):
    """Asks for a new profile's name; refuses names in use."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings.name_cancel"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | enter | Save under this name |
    | escape | Cancel |
    """

    def __init__(self, existing: set[str], suggestion: str = "") -> None:
        super().__init__()
        self._existing = existing
        self._suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="name-dialog", classes="dialog"):
            yield Label("Save as a new profile named:")
            yield NameInput(self._suggestion, id="profile-name", placeholder="my-profile")
            yield Static("", id="profile-name-reason", classes="field-reason")
        yield KeyFooter()  # its own keys, not the settings' beneath

    @on(Input.Changed, "#profile-name")
    def _name_changed(self, event: Input.Changed) -> None:
        reason = check_profile_name(event.value, self._existing) if event.value else None
        self.query_one("#profile-name-reason", Static).update(reason or "")

    @on(Input.Submitted, "#profile-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        reason = check_profile_name(event.value, self._existing)
        if reason:
            self.query_one("#profile-name-reason", Static).update(reason)
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class SettingsScreen(Screen[SettingsResult | None]):
    """Edit one profile. Dismisses with a `SettingsResult`, or None when cancelled."""

    HELP_TITLE: ClassVar[str] = "Settings"
    """What help calls this screen's keys when opened over it."""

    CSS_PATH = "settings.tcss"
    # Below 130 columns the side panel (memory estimate, notes) goes under the form, which then has
    # the width for each field's value and reason (settings.tcss). Below 80 the reason beside a field
    # had two columns left and ran down the form two letters a line: there Notes alone names them.
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny"), (80, "-narrow"), (130, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply", tooltip="Apply these settings", id="settings.apply"),
        Binding("escape", "cancel", "Cancel", tooltip="Leave without changes", id="settings.cancel"),
        Binding(
            "ctrl+n", "save_as", "Save as profile", tooltip="Save under a new name", id="settings.save_as"
        ),
        Binding(
            "f8", "delete_profile", "Delete profile", tooltip="Delete this profile", id="settings.delete"
        ),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | tab / shift+tab | Next / previous field |
    | ctrl+s | Apply (refused while a field is invalid) |
    | escape | Cancel |
    | ctrl+n | Save as a new profile |
    | f8 | Delete this profile |
    """

    def __init__(
        self,
        config: AppConfig,
        profile_name: str,
        gpu_total_bytes: list[int] | None,
        *,
        vllm_kv_tokens: int | None = None,
        running: Profile | None = None,
    ) -> None:
        """`vllm_kv_tokens`: what the running engine reported ("GPU KV cache size"), shown beside the
        estimate when the engine runs this profile's model. `running`: the profile as this session
        runs it (flags given at launch, the temperature nudged by keys); the form starts from it, so
        Apply keeps what runs and reloads only for a changed engine. Without it, the stored profile."""
        super().__init__()
        self._config = config
        self._original = copy.deepcopy(running if running is not None else config.profile(profile_name))
        self._profile_name = profile_name
        self._gpu_total_bytes = gpu_total_bytes
        self._gpu_count = len(gpu_total_bytes) if gpu_total_bytes else None
        self._vllm_kv_tokens = vllm_kv_tokens
        self.candidate: Profile = copy.deepcopy(self._original)
        """The profile as the form stands (invalid fields keep their last valid value)."""
        self.errors: dict[str, str] = {}
        """Field path → reason, for every field that stops Apply."""
        self.model_info: ModelInfo | None = None
        self._info_error: str = "reading the model's config…"
        self._auto_parser: str | None = None
        self.estimate: MemoryEstimate | None = None

    # --- layout ---------------------------------------------------------------------------------

    def _field_widget(self, spec: FieldSpec) -> Widget:
        value = get_path(self._original, spec.path)
        if spec.kind == "bool":
            return Switch(bool(value), id=spec.widget_id)
        if spec.kind == "choice":
            options = [(c, c) for c in spec.choices]
            if value not in spec.choices:  # a hand-edited config may hold anything; show it, flag it
                options.append((str(value), value))
            return Select(options, value=value, allow_blank=False, compact=True, id=spec.widget_id)
        return OrderedInput(_as_text(value), placeholder=spec.placeholder, compact=True, id=spec.widget_id)

    def _group(self, group: str) -> ComposeResult:
        with Vertical(id=f"group-{group}", classes="group") as box:
            box.border_title = _GROUP_TITLES[group]
            for spec in FIELDS:
                if spec.group != group:
                    continue
                with Horizontal(classes="field", id=f"{spec.widget_id}-row"):
                    yield Label(spec.label, classes="field-label")
                    yield self._field_widget(spec)
                    yield Static("", id=f"{spec.widget_id}-reason", classes="field-reason")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Light the label of the field that has the focus (settings.tcss, `.field.-focused`)."""
        for field in self.query(".field.-focused"):
            field.remove_class("-focused")
        for node in event.widget.ancestors_with_self:
            if isinstance(node, Widget) and node.has_class("field"):
                node.add_class("-focused")
                break

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="settings-title")
        with Horizontal(id="settings-body"):
            with VerticalScroll(id="settings-form"):
                yield from self._group("profile")
                yield from self._group("remote")  # shown only for a remote profile, under Runs on
                yield from self._group("engine")
                yield from self._group("sampling")
            # Notes first: under the form in a small terminal the panel is cut at its bottom, and
            # what stops Apply must stay in sight; the memory figures can be scrolled to.
            with Vertical(id="settings-side"):
                notes = Static("", id="notes")
                notes.border_title = "Notes"
                yield notes
                memory = Static("", id="memory")
                memory.border_title = "Memory estimate"
                yield memory
        yield KeyFooter()

    def on_mount(self) -> None:
        self._refresh_form()
        self._read_model_info(self.candidate.engine.model)
        # Keys go to the form from the start: with nothing focused, enter did nothing and no field
        # was lit until a first tab.
        self.query_one(f"#{FIELDS[0].widget_id}").focus()

    # --- reading the form -----------------------------------------------------------------------

    def _raw(self, spec: FieldSpec) -> Any:
        widget = self.query_one(f"#{spec.widget_id}")
        if isinstance(widget, Select):
            return widget.value
        if isinstance(widget, (Switch, Input)):
            return widget.value
        raise TypeError(type(widget))

    def _refresh_form(self) -> None:
        """Re-read every field, validate the whole profile, and show each field's reason."""
        candidate = copy.deepcopy(self.candidate)
        errors: dict[str, str] = {}
        for spec in FIELDS:
            value, reason = parse_field(spec, self._raw(spec))
            if reason:
                errors[spec.path] = reason
            else:
                set_path(candidate, spec.path, value)
        warnings: dict[str, str] = {}
        for problem in validate_profile(candidate, self._gpu_count, self.model_info, read_model=False):
            target = errors if problem.severity == "error" else warnings
            if problem.field in target:
                if problem.message not in target[problem.field]:
                    target[problem.field] += "; " + problem.message
            else:
                target[problem.field] = problem.message
        remote = candidate.kind == "remote"
        # The fields that do not apply are hidden, and their problems do not stop Apply: a local
        # profile has no server; a remote one names its model and parser, the server the rest.
        hidden = {
            spec.path
            for spec in FIELDS
            if (spec.group == "remote" and not remote)
            or (spec.group == "engine" and remote and spec.path not in REMOTE_ENGINE_FIELDS)
        }
        self.candidate = candidate
        self.errors = {p: m for p, m in errors.items() if p not in hidden}

        self.query_one("#group-remote").display = remote
        engine = self.query_one("#group-engine")
        engine.border_title = "Model on the server" if remote else _GROUP_TITLES["engine"]
        for spec in FIELDS:
            self.query_one(f"#{spec.widget_id}-row").display = spec.path not in hidden
            note = self.query_one(f"#{spec.widget_id}-reason", Static)
            widget = self.query_one(f"#{spec.widget_id}")
            if spec.path in self.errors:
                note.update(self.errors[spec.path])
                note.set_classes("field-reason -error")
                widget.add_class("-invalid")
            elif spec.path in warnings:
                note.update(warnings[spec.path])
                note.set_classes("field-reason -warning")
                widget.remove_class("-invalid")
            else:
                note.update(self._field_note(spec))
                note.set_classes("field-reason")
                widget.remove_class("-invalid")
        self._update_notes(warnings)
        self._update_memory()

    def _field_note(self, spec: FieldSpec) -> str:
        """Quiet help beside a valid field: what "auto" and blanks resolve to."""
        info = self.model_info
        if spec.path == "engine.model" and self.candidate.kind == "remote":
            return "as the server names it (blank: its only model)"
        if spec.path == "engine.reasoning_parser" and self.candidate.engine.reasoning_parser == "auto":
            return f"auto → {self._auto_parser or 'none'}" if info is not None else ""
        if spec.path == "engine.max_model_len" and self.candidate.engine.max_model_len is None and info:
            if info.max_position_embeddings:
                return f"= {info.max_position_embeddings:,} positions"
        if (
            spec.path == "engine.dtype"
            and self.candidate.engine.dtype == "auto"
            and info
            and info.torch_dtype
        ):
            return f"checkpoint: {info.torch_dtype}"
        return ""

    def _update_notes(self, warnings: dict[str, str]) -> None:
        lines = []
        if self.errors:
            count = len(self.errors)
            lines.append(f"[b $error]{count} field{'s' if count != 1 else ''} to fix before applying[/]")
            # Named here too: in a narrow terminal the reason beside a field may be cut off.
            for path, message in self.errors.items():
                lines.append(f"[$error]{_SPEC_BY_PATH[path].label}[/]: {escape(message)}")
        for path, message in warnings.items():
            lines.append(f"[$warning]{_SPEC_BY_PATH[path].label}[/]: {escape(message)}")
        if _engine_differs(self.candidate, self._original):
            # Said before ctrl+s: a sampling change applies at once, this one costs the model's load.
            lines.append("[$accent]Applying restarts the engine[/] with these settings (the chat is kept).")
        if self.candidate != self._original:
            # Said before it is lost: a user who applied, quit and came back found the old values.
            lines.append("Changed: ctrl+s applies it to this session only; ctrl+n saves it as a profile.")
        notes = self.query_one("#notes", Static)
        notes.update("\n".join(lines) or "No warnings.")

    # --- memory estimate ------------------------------------------------------------------------

    def _update_memory(self) -> None:
        panel = self.query_one("#memory", Static)
        e = self.candidate.engine
        if self.candidate.kind == "remote":
            self.estimate = None
            panel.update("The remote server manages its own memory.")
            return
        info = self.model_info
        if info is None:
            self.estimate = None
            panel.update(self._info_error)
            return
        self.estimate = est = estimate_memory(
            info,
            e.dtype,
            e.quantization,
            e.kv_cache_dtype,
            e.tensor_parallel_size,
            e.gpu_memory_utilization,
            self._gpu_total_bytes,
            e.max_model_len,
            pipeline_parallel_size=e.pipeline_parallel_size,
        )
        params = f"{info.param_count / 1e9:.2f} B params" if info.param_count else "params unknown"
        lines = [
            f"{info.architecture or info.model_type} · {info.num_layers} layers · {params}",
            f"Weights   {est.weight_bytes / GB:10.2f} GB  ({est.weight_bytes_per_gpu / GB:.2f} GB per GPU)",
            f"KV/token  {est.kv_bytes_per_token:>10,} B  ({est.kv_bytes_per_token_per_gpu:,} B per GPU)",
            f"Overhead  {est.overhead_bytes_per_gpu / GB:10.2f} GB per GPU",
        ]
        if est.gpu_bytes is not None and est.kv_budget_bytes_per_gpu is not None:
            lines.append(
                f"KV budget {max(est.kv_budget_bytes_per_gpu, 0) / GB:10.2f} GB per GPU "
                f"of {est.gpu_bytes / GB:.1f} GB"
            )
        if est.kv_capacity_tokens:
            lines.append(f"KV cache  {est.kv_capacity_tokens:>10,} tokens (estimate)")
        if self._vllm_kv_tokens is not None:
            lines.append(f"vLLM said {self._vllm_kv_tokens:>10,} tokens (loaded engine)")
        if est.longest_context:
            lines.append(f"Longest context that fits: {est.longest_context:,}")
        style = {True: "$success", False: "$error", None: "$warning"}[est.fits]
        # The verdict first, then the figures behind it: the panel may be cut at its bottom.
        panel.update("\n".join([f"[b {style}]{est.reason}[/]", *lines]))

    @work(thread=True, exclusive=True, group="settings.model_info", exit_on_error=False)
    def _read_model_info(self, model: str) -> tuple[str, ModelInfo | None, str | None, str]:
        """(model, info, auto reasoning parser, error text), off the UI loop: HF cache lookups and
        safetensors headers touch the disk, which may be a slow network mount."""
        try:
            info = load_model_info(model)
        except ModelInfoError as exc:
            return model, None, reasoning_parser_for(model, None), f"{exc.title}\n{exc.advice}"
        return model, info, reasoning_parser_for(model, read_chat_template(info.path)), ""

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "settings.model_info":
            return
        if event.state == WorkerState.SUCCESS and worker.result is not None:
            model, info, parser, error = worker.result
            if model != self.candidate.engine.model:
                return  # a stale read: the field changed since
            self.model_info = info
            self._auto_parser = parser
            self._info_error = error
            self._refresh_form()
        elif event.state == WorkerState.ERROR:
            self.model_info = None
            self._info_error = f"Could not read the model's config: {worker.error}"
            self._refresh_form()

    # --- events ---------------------------------------------------------------------------------

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed | Switch.Changed) -> None:
        spec = _SPEC_BY_ID.get(event.control.id or "")
        if spec is None or not self.is_mounted:
            return
        value, problem = parse_field(spec, event.value)
        if problem is None and spec.path not in self.errors and value == get_path(self.candidate, spec.path):
            return  # widgets announce their initial values on mount; nothing changed
        before = self.candidate
        self._refresh_form()
        if self.candidate.engine.model != before.engine.model:
            self.model_info = None
            self._info_error = "reading the model's config…"
            self._update_memory()
            self._read_model_info(self.candidate.engine.model)
        if (
            isinstance(event, Switch.Changed)
            and event.switch.id == "field-engine-trust-remote-code"
            and event.value
        ):
            self.notify(
                "Trust remote code runs Python from the model's repository on this machine.",
                title="Warning",
                severity="warning",
            )

    # --- actions --------------------------------------------------------------------------------

    def _refuse_if_invalid(self) -> bool:
        self._refresh_form()
        if not self.errors:
            return False
        path, reason = next(iter(self.errors.items()))
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        spec = _SPEC_BY_PATH[path]
        self.notify(f"{spec.label}: {reason}{more}", title="Cannot apply", severity="error")
        self.query_one(f"#{spec.widget_id}").focus()
        return True

    def action_apply(self) -> None:
        if self._refuse_if_invalid():
            return
        profile = copy.deepcopy(self.candidate)
        self.dismiss(SettingsResult(profile, _engine_differs(profile, self._original), None, None))

    def action_cancel(self) -> None:
        if self.candidate == self._original and not self.errors:
            self.dismiss(None)
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self.dismiss(None)

        # Esc is also how one leaves a field's menu or a half-typed value: edits are not lost to it.
        self.app.push_screen(ConfirmScreen("Leave without applying your changes?"), answered)

    def action_save_as(self) -> None:
        if self._refuse_if_invalid():
            return

        def saved(name: str | None) -> None:
            if not name:
                return
            profile = copy.deepcopy(self.candidate)
            profile.name = name
            self.dismiss(SettingsResult(profile, _engine_differs(profile, self._original), name, None))

        self.app.push_screen(
            ProfileNameScreen(set(self._config.profiles), f"{self._profile_name}-copy"), saved
        )

    def _title(self) -> Content:
        stored = self._config.profiles.get(self._profile_name)
        if stored is not None:
            if not runs_as_stored(stored, self._original):
                # `--model …` or an F3 pick: the form shows what runs, which is not what is saved. It
                # named only the profile, which read as if that profile's model were running; then
                # "profile … changed", as if the user had changed a profile they never chose.
                return Content.assemble(
                    "Settings · ",
                    (display_model(self._original.engine.model), "bold"),
                    f" as it runs now · from profile {self._profile_name}",
                )
            return Content.assemble("Settings · profile ", (self._profile_name, "bold"))
        # Deleted while it ran: what runs is kept, as no profile's (ctrl+n saves it as one).
        return Content.assemble(
            "Settings · ", ("no saved profile", "bold"), f" ({self._profile_name} was deleted)"
        )

    def action_delete_profile(self) -> None:
        if self._profile_name not in self._config.profiles:
            self.notify(f"Profile {self._profile_name} is deleted already.", severity="warning")
            return
        if len(self._config.profiles) <= 1:
            self.notify("The last profile cannot be deleted.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(SettingsResult(copy.deepcopy(self._original), False, None, self._profile_name))

        self.app.push_screen(ConfirmScreen(f"Delete profile {self._profile_name!r}?"), answered)
