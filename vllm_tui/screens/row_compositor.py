"""A compositor whose partial updates draw only the rows that changed.

Textual's `Compositor.render_partial_update` takes one rectangle around every region that changed,
and `_get_renders` then draws each widget overlapping it over the widget's whole visible height. In
the chat screen a streaming answer changes a row or two per frame, but the status line (bottom), a
tab label or a GPU card (top right) change in the same frame, so the rectangle was the whole screen
and every frame drew the screen, its containers and the log at full height: ~20 widgets, ~600 rows
a frame at 1,000 tok/s, where about five rows had changed (`bench.chat_load`, profiled).

Here the changed regions are grouped into bands of rows, and each band draws the widgets it overlaps
on its own rows only. The columns of each draw stay those of the widget's visible region, so the
cuts (the x positions where widgets meet) are the same as Textual's; only rows are cropped, and each
screen row is produced exactly as Textual would. (Private hooks of Textual's compositor: textual is
pinned below 9, and tests/screens/test_row_compositor.py compares every changed row with Textual's.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip

__all__ = ["RowCompositor", "row_bands"]


def row_bands(regions: Iterable[Region]) -> list[tuple[int, int]]:
    """The (start, end) row ranges covered by `regions`, overlapping or touching ranges merged."""
    spans = sorted((region.y, region.bottom) for region in regions if region.height > 0)
    bands: list[tuple[int, int]] = []
    for start, end in spans:
        if bands and start <= bands[-1][1]:
            if end > bands[-1][1]:
                bands[-1] = (bands[-1][0], end)
        else:
            bands.append((start, end))
    return bands


class RowCompositor(Compositor):
    """`Compositor` whose partial updates draw, per band of changed rows, only those rows."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: tuple[int, int] | None = None
        """While a band is drawn: the rows to draw."""

    def render_partial_update(self) -> ChopsUpdate | None:
        update_regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not update_regions:
            return None
        screen = self.size.region
        spans = list(self._regions_to_spans(update_regions))
        is_rendered_line = {y for y, _, _ in spans}.__contains__
        chops: list[Mapping[int, Strip | None]] | None = None
        for start, end in row_bands(update_regions):
            start, end = max(start, screen.y), min(end, screen.bottom)
            if start >= end:
                continue
            self._rows = (start, end)
            try:
                rows = Region(screen.x, start, screen.width, end - start)
                band = self._render_chops(rows, is_rendered_line)
            finally:
                self._rows = None
            if chops is None:
                chops = list(band)
            else:
                chops[start:end] = band[start:end]
        if chops is None:
            return None
        chop_ends = [cut_set[1:] for cut_set in self.cuts]
        return ChopsUpdate(chops, spans, chop_ends)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if self._rows is None:
            yield from super()._get_renders(crop)
            return
        top, bottom = self._rows
        for widget, (region, clip) in list(self.visible_widgets.items()):
            x, y, width, height = region.intersection(clip)
            first, last = max(y, top), min(y + height, bottom)
            if width <= 0 or first >= last:
                continue
            # The visible part's own columns, only the band's rows: `_render_chops` zips the strips
            # with the rows of region ∩ clip, so the clip handed back is exactly that part.
            height = last - first
            shown = Region(x, first, width, height)
            yield region, shown, widget.render_lines(Region(x - region.x, first - region.y, width, height))

