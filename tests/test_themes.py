"""Theme files: the bundled ones load, user files add or replace themes, broken files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color

from vllm_tui.themes import DEFAULT_THEME, load_themes, theme_from_dict, user_theme_dir


def test_bundled_themes_load_and_build_colour_systems() -> None:
    loaded = load_themes()
    assert loaded.problems == []
    names = {t.name for t in loaded.themes}
    assert {DEFAULT_THEME, "vllm-light", "high-contrast", "ansi-16"} <= names
    for theme in loaded.themes:
        assert theme.to_color_system().generate()  # every variable Textual derives resolves
    ansi = next(t for t in loaded.themes if t.name == "ansi-16")
    assert ansi.ansi
    # Only the terminal's own colours: every colour field is an ANSI colour.
    for value in (ansi.primary, ansi.secondary, ansi.accent, ansi.error, ansi.warning, ansi.success):
        assert value is not None and Color.parse(value).ansi is not None
    contrast = next(t for t in loaded.themes if t.name == "high-contrast")
    assert (contrast.background, contrast.foreground) == ("#000000", "#FFFFFF")


def test_user_theme_added_and_replacing_a_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "mine.yaml").write_text("name: mine\nprimary: '#123456'\ndark: false\n")
    (folder / "override.yaml").write_text("name: high-contrast\nprimary: '#ABCDEF'\n")
    (folder / "broken.yaml").write_text("name: [oops\n")
    (folder / "bad-colour.yaml").write_text("name: bad\nprimary: not-a-colour\n")
    monkeypatch.setattr("vllm_tui.themes.user_theme_dir", lambda: folder)
    loaded = load_themes()
    by_name = {t.name: t for t in loaded.themes}
    assert by_name["mine"].primary == "#123456" and not by_name["mine"].dark
    assert by_name["high-contrast"].primary == "#ABCDEF"
    assert len([t for t in loaded.themes if t.name == "high-contrast"]) == 1
    assert len(loaded.problems) == 2
    assert any("broken.yaml" in p and "YAML" in p for p in loaded.problems)
    assert any("not-a-colour" in p for p in loaded.problems)


def test_user_theme_dir_is_under_the_config_dir() -> None:
    from vllm_tui.config import config_dir

    assert user_theme_dir() == config_dir() / "themes"


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"primary": "#fff"}, "needs a name"),
        ({"name": "x"}, "needs a primary"),
        ({"name": "x", "primary": "#fff", "colour": "#000"}, "unknown field"),
        ({"name": "x", "primary": "#fff", "dark": "yes"}, "true or false"),
        ({"name": "x", "primary": "#fff", "text_alpha": "high"}, "must be a number"),
        (["not", "a", "mapping"], "expected a mapping"),
    ],
)
def test_theme_errors_say_what_is_wrong(data: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        theme_from_dict(data, "t.yaml")
