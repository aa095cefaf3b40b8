"""`LogScrollBar`: the chat log's scrollbar, which reuses the rows it has drawn before."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from textual.scrollbar import ScrollBar, ScrollBarRender

if TYPE_CHECKING:
    from rich.segment import Segment
    from textual.geometry import Region
    from textual.strip import Strip


class LogScrollBar(ScrollBar):
    """A vertical scrollbar whose rows, a handful of distinct ones (track above and below the thumb,
    the thumb, its two partial-cell ends), are drawn by Textual once and then reused.

    While an answer streams, the anchored log grows and scrolls in nearly every layout, which moves
    the thumb, and Textual then redraws the whole bar row by row through its styles: ~30 of the ~60
    rows drawn per layout in the render benchmark, and none at all until the answer fills the screen
    (no thumb yet), which made the first tenth of an answer cheaper than the rest. Here the bar's
    segments are worked out by Textual's own `ScrollBarRender.render_bar` (arithmetic on the thumb's
    place), and each row is the strip Textual drew for that segment; a segment not seen yet (another
    thumb end, a hover colour) falls back to Textual's drawing and is remembered. The segments carry
    the mouse actions (scroll up or down, grab), so clicks act as on Textual's bar.
    """

    def __init__(self, vertical: bool = True, name: str | None = None, *, thickness: int = 1) -> None:
        super().__init__(vertical, name, thickness=thickness)
        self._rows: dict[Segment, Strip] = {}
        self._rows_key: tuple[object, ...] = ()

    def render_lines(self, crop: Region) -> list[Strip]:
        bar = self.render()
        width, height = self.size
        if not (self.vertical and isinstance(bar, ScrollBarRender) and isinstance(bar.style, Style)):
            return super().render_lines(crop)
        back, colour = bar.style.bgcolor, bar.style.color
        if back is None or colour is None:  # Textual's ScrollBar.render always sets both
            return super().render_lines(crop)
        segments = bar.render_bar(
            size=height,
            virtual_size=bar.virtual_size,
            window_size=bar.window_size,
            position=bar.position,
            thickness=width,
            vertical=True,
            back_color=back,
            bar_color=colour,
        ).segments[crop.y : crop.bottom]
        # A strip also depends on the crop, the app's line filters (a new theme replaces them) and
        # the widget's own background.
        key = (crop.x, crop.width, tuple(self.app.get_line_filters()), self.background_colors)
        if key != self._rows_key:
            self._rows_key = key
            self._rows.clear()
        rows = self._rows
        if len(segments) == crop.height and all(segment in rows for segment in segments):
            return [rows[segment] for segment in segments]
        strips = super().render_lines(crop)
        if len(strips) == len(segments):
            rows.update(zip(segments, strips, strict=True))
        return strips
