"""Theme files (YAML) → Textual `Theme`s: the bundled ones and the user's own.

Bundled themes live in `themes/` at the top of the source tree and, in an installed app, in the
package's `themes/` folder (package data); the user's in `config_dir()/themes/*.yaml`, where a file
may replace a bundled theme by reusing its name. A broken file is reported and skipped, never fatal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from vllm_tui.config import config_dir

DEFAULT_THEME = "vllm-dark"

# Theme fields a file may set, with the Python type each must have.
_COLOUR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_NUMBER_FIELDS = ("luminosity_spread", "text_alpha")


@dataclass
class ThemeLoad:
    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per file that could not be used (shown to the user as a warning)."""


def bundled_theme_dirs() -> list[Path]:
    """Where the bundled theme files are: the installed package's data, then the source checkout."""
    package = Path(__file__).resolve().parent
    return [d for d in (package / "themes", package.parent / "themes") if d.is_dir()]


def user_theme_dir() -> Path:
    return config_dir() / "themes"


def theme_from_dict(data: Any, source: str = "theme") -> Theme:
    """A Theme from a parsed YAML mapping; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of theme fields")
    known = {f.name for f in dataclasses.fields(Theme)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {', '.join(map(str, unknown))}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{source}: needs a name")
    if not isinstance(data.get("primary"), str):
        raise ValueError(f"{source}: needs a primary colour")
    kwargs: dict[str, Any] = {"name": name.strip()}
    for key in _COLOUR_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{source}: {key} must be a colour written as text, got {value!r}")
        _check_colour(value, f"{source}: {key}")
        kwargs[key] = value
    for key in _NUMBER_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{source}: {key} must be a number, got {value!r}")
        kwargs[key] = float(value)
    for key in ("dark", "ansi"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise ValueError(f"{source}: {key} must be true or false, got {value!r}")
        kwargs[key] = value
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError(f"{source}: variables must be a mapping of name → value")
    kwargs["variables"] = {str(k): str(v) for k, v in variables.items()}
    return Theme(**kwargs)


def _check_colour(value: str, where: str) -> None:
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ValueError(f"{where}: {value!r} is not a colour ({exc})") from None


def load_theme_file(path: Path) -> Theme:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    return theme_from_dict(data, str(path))


def load_themes(extra_dirs: list[Path] | None = None) -> ThemeLoad:
    """Bundled themes first, then the user's (so a user file can replace a bundled theme)."""
    result = ThemeLoad()
    seen: dict[str, int] = {}
    dirs = [*bundled_theme_dirs(), user_theme_dir(), *(extra_dirs or [])]
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                result.problems.append(f"Theme skipped: {exc}")
                continue
            if theme.name in seen:
                result.themes[seen[theme.name]] = theme
            else:
                seen[theme.name] = len(result.themes)
                result.themes.append(theme)
    return result
