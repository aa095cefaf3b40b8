"""Backdrop: a container draws one row of its background through Textual and repeats it; what reaches
the screen is what Textual draws."""

from __future__ import annotations

from unittest import mock

import pytest
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from vllm_tui.widgets.backdrop import Backdrop


class Box(Vertical, Backdrop):
    DEFAULT_CSS = """
    Box { height: 30; background: darkblue; padding: 1 2; }
    Box.-bordered { border-left: thick red; }
    Box.-hatched { hatch: cross $primary; }
    """


class BoxApp(App[None]):
    def compose(self) -> ComposeResult:
        with Box():
            yield Static("a line of text")


def _cells(strip: Strip) -> list[tuple[str, object]]:
    return [(char, segment.style) for segment in strip for char in segment.text]


def _textual_rows(widget: Widget, crop: Region) -> list[Strip]:
    widget._styles_cache.clear()
    return Widget.render_lines(widget, crop)


async def _rows(classes: str = "") -> tuple[list[Strip], list[Strip], int]:
    app = BoxApp()
    async with app.run_test(size=(40, 34)) as pilot:
        box = app.query_one(Box)
        box.set_classes(classes)
        await pilot.pause()
        crop = Region(0, 0, *box.region.size)
        box._styles_cache.clear()
        with mock.patch.object(
            StylesCache, "render_line", autospec=True, side_effect=StylesCache.render_line
        ) as drawn:
            rows = box.render_lines(crop)
        return rows, _textual_rows(box, crop), drawn.call_count


async def test_one_background_row_is_drawn_and_repeated() -> None:
    rows, textual, drawn = await _rows()
    assert drawn == 1
    assert len(rows) == len(textual) == 30
    assert [_cells(row) for row in rows] == [_cells(row) for row in textual]


@pytest.mark.parametrize("classes", ["-bordered", "-hatched"])
async def test_a_border_or_a_hatch_is_drawn_by_textual_row_by_row(classes: str) -> None:
    rows, textual, drawn = await _rows(classes)
    assert drawn > 1
    assert rows == textual
    if classes == "-bordered":
        assert rows[5].text.startswith("█")


async def test_no_color_reaches_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR is one of the app's line filters: the repeated row has been through it, as Textual's."""
    coloured, _, _ = await _rows()
    monkeypatch.setenv("NO_COLOR", "1")
    rows, textual, _ = await _rows()
    assert [_cells(row) for row in rows] == [_cells(row) for row in textual]
    assert _cells(rows[-1]) != _cells(coloured[-1])
