"""Settings: dataclasses for engine and sampling settings, named profiles, YAML load/save, paths.

No Textual and no vLLM here: the CLI, the engine layer and the screens all read these.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs

APP_NAME = "vllm-tui"

DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"

Dtype = Literal["auto", "bfloat16", "float16", "float32"]
QUANTIZATIONS = ("none", "awq", "gptq", "fp8", "compressed-tensors")
DTYPES = ("auto", "bfloat16", "float16", "float32")
KV_CACHE_DTYPES = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
REASONING_PARSERS = ("auto", "deepseek_r1", "none")
EXECUTOR_BACKENDS = ("auto", "mp", "ray")
ATTENTION_BACKENDS = ("auto", "FLASH_ATTN", "TRITON_ATTN", "FLASHINFER", "FLEX_ATTENTION")
"""vLLM's attention backends on NVIDIA GPUs ("auto": the one vLLM picks for the GPU)."""


@dataclass
class EngineSettings:
    """How the local vLLM engine is built (each maps to an `AsyncEngineArgs` field)."""

    model: str = DEFAULT_MODEL
    """Local path or Hugging Face id."""
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    """Fraction of each GPU's memory vLLM may take, in (0, 1]."""
    max_model_len: int | None = None
    """None: the model's own maximum (vLLM may lower it to what fits)."""
    dtype: str = "auto"
    quantization: str = "none"
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False
    """Off by default: CUDA graphs are worth 1.5-3x decode speed on small models."""
    trust_remote_code: bool = False
    download_dir: str | None = None
    distributed_executor_backend: str = "auto"
    """"ray" for multi-node (a Ray cluster must already be running)."""
    reasoning_parser: str = "auto"
    """"auto": deepseek_r1 for R1 models (by name or chat template), none otherwise."""
    attention_backend: str = "auto"
    """"auto": vLLM's pick (FLASH_ATTN on H100 and H200). TRITON_ATTN decodes a 7B 3-5% faster at a
    short context but 6-52% slower from 4,096 tokens on (docs/benchmarks.md, section 6), so it stays
    opt-in."""


@dataclass
class SamplingSettings:
    """Per-request sampling; changes apply to the next message without reloading the engine."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    """0 or -1: disabled."""
    min_p: float = 0.0
    max_tokens: int = 4096
    """vLLM's own default is 16: always set."""
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    system_prompt: str = ""
    """DeepSeek R1 is meant to be used without a system prompt."""
    ignore_eos: bool = False
    """Keep generating past end-of-sequence (benchmarks: a fixed token count on any weights)."""


@dataclass
class Profile:
    name: str = "r1-distill-qwen-1.5b"
    kind: str = "local"
    """"local" (vLLM run by the app) or "remote" (an OpenAI-compatible vLLM server)."""
    engine: EngineSettings = field(default_factory=EngineSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    server_url: str = ""
    """For remote profiles: e.g. http://127.0.0.1:8000/v1"""
    api_key_env: str = "VLLM_API_KEY"
    """Name of the environment variable holding the API key; the key itself is never stored."""


def builtin_profiles() -> dict[str, Profile]:
    """Profiles that ship in the code, so the app works without any config file."""
    small = Profile()
    big = Profile(
        name="r1-distill-qwen-32b",
        engine=EngineSettings(model="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", tensor_parallel_size=2),
    )
    seven = Profile(
        name="r1-distill-qwen-7b", engine=EngineSettings(model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    )
    return {p.name: p for p in (small, seven, big)}


@dataclass
class UiSettings:
    theme: str = "textual-dark"
    show_thinking: bool = True
    sidebar: bool = True
    gpu_poll_seconds: float = 1.0


@dataclass
class AppConfig:
    profiles: dict[str, Profile] = field(default_factory=builtin_profiles)
    default_profile: str = "r1-distill-qwen-1.5b"
    ui: UiSettings = field(default_factory=UiSettings)
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → keys, e.g. {"chat.stop": "escape,ctrl+c"}."""
    deleted_profiles: list[str] = field(default_factory=list)
    """Built-in profiles the user deleted (they ship in the code, so deleting must be remembered)."""

    def profile(self, name: str | None = None) -> Profile:
        key = name or self.default_profile
        if key not in self.profiles:
            raise ConfigError(
                f"No profile named {key!r}", f"Known profiles: {', '.join(sorted(self.profiles))}"
            )
        return self.profiles[key]


class ConfigError(Exception):
    """A user-facing configuration problem."""

    def __init__(self, title: str, advice: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.advice = advice


# --- paths -------------------------------------------------------------------------------------


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def default_config_path() -> Path:
    return config_dir() / "config.yaml"


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


# --- YAML load/save ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    config: AppConfig
    warnings: list[str] = field(default_factory=list)
    """Unknown keys and similar problems that did not stop the load."""
    error: ConfigError | None = None
    """Set when the file could not be used: the app runs on defaults and leaves the file alone."""


def _type_error(where: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")


def _check_value(cls: type, key: str, default: Any, value: Any, where: str) -> Any:
    """The value converted to the field's type, or a ConfigError saying what was expected."""
    if value is None:
        return None
    if isinstance(default, bool) or (default is None and _hint(cls, key) is bool):
        if not isinstance(value, bool):
            raise _type_error(where, key, "true or false", value)
        return value
    kind = type(default) if default is not None else _hint(cls, key)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(where, key, "a number", value)
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(where, key, "a whole number", value)
        return value
    if kind is str:
        if not isinstance(value, str):
            raise _type_error(where, key, "text", value)
        return value
    return value


def _hint(cls: type, key: str) -> type | None:
    """The non-None type of an `X | None` field (its default is None, so it tells nothing)."""
    import typing

    hint = typing.get_type_hints(cls).get(key)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 else hint if isinstance(hint, type) else None


def _from_dict(cls: type, data: Any, where: str, warnings: list[str]) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    blank = cls()
    for key, value in data.items():
        if key not in known:
            warnings.append(f"{where}: unknown key {key!r} (ignored)")
            continue
        default = getattr(blank, key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _from_dict(type(default), value, f"{where}.{key}", warnings)
        else:
            kwargs[key] = _check_value(cls, key, default, value, where)
    return cls(**kwargs)


def config_from_dict(data: Any, warnings: list[str]) -> AppConfig:
    if data is None:
        return AppConfig()
    if not isinstance(data, dict):
        raise ConfigError("config.yaml: the top level must be a mapping")
    cfg = AppConfig()
    for key, value in data.items():
        if key == "profiles":
            if not isinstance(value, dict):
                raise ConfigError("profiles: expected a mapping of name → profile")
            for name, raw in value.items():
                profile = _from_dict(Profile, raw, f"profiles.{name}", warnings)
                profile.name = str(name)
                cfg.profiles[str(name)] = profile
        elif key == "default_profile":
            cfg.default_profile = str(value)
        elif key == "ui":
            cfg.ui = _from_dict(UiSettings, value, "ui", warnings)
        elif key == "deleted_profiles":
            if not isinstance(value, list):
                raise ConfigError("deleted_profiles: expected a list of profile names")
            cfg.deleted_profiles = [str(v) for v in value]
        elif key == "keymap":
            if not isinstance(value, dict):
                raise ConfigError("keymap: expected a mapping of binding id → keys")
            cfg.keymap = {str(k): str(v) for k, v in value.items()}
        else:
            warnings.append(f"unknown top-level key {key!r} (ignored)")
    in_file: dict[Any, Any] = data["profiles"] if isinstance(data.get("profiles"), dict) else {}
    for name in cfg.deleted_profiles:
        if name in builtin_profiles() and name not in in_file:
            cfg.profiles.pop(name, None)
    if not cfg.profiles:
        cfg.profiles = builtin_profiles()
    if cfg.default_profile not in cfg.profiles:
        warnings.append(f"default_profile {cfg.default_profile!r} does not exist; using the built-in default")
        cfg.default_profile = next(iter(cfg.profiles))
    return cfg


def load_config(path: Path | None = None) -> LoadResult:
    """Read config.yaml. Never raises for a bad file: it reports and falls back to defaults."""
    import yaml

    path = path or default_config_path()
    if not path.exists():
        return LoadResult(AppConfig())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(AppConfig(), error=ConfigError(f"Cannot read {path}", str(exc)))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return LoadResult(
            AppConfig(),
            error=ConfigError(
                f"{path} is not valid YAML{where}: {problem}",
                "The app runs on its built-in defaults; your file was left untouched.",
            ),
        )
    warnings: list[str] = []
    try:
        cfg = config_from_dict(data, warnings)
    except ConfigError as exc:
        exc.advice = exc.advice or "The app runs on its built-in defaults; your file was left untouched."
        return LoadResult(AppConfig(), warnings, error=exc)
    return LoadResult(cfg, warnings)


def config_to_dict(cfg: AppConfig) -> dict[str, Any]:
    profiles = {}
    for name, profile in cfg.profiles.items():
        raw = dataclasses.asdict(profile)
        raw.pop("name", None)
        profiles[name] = raw
    return {
        "default_profile": cfg.default_profile,
        "ui": dataclasses.asdict(cfg.ui),
        "keymap": dict(cfg.keymap),
        "deleted_profiles": [n for n in cfg.deleted_profiles if n not in cfg.profiles],
        "profiles": profiles,
    }


def save_config(cfg: AppConfig, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename in the same directory), mode 0600."""
    import yaml

    path = path or default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
