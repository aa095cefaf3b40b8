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

Bands are taken per group of columns, too: after a layout the log that scrolled changes nearly every
row, and a band as wide as the screen drew the sidebar beside it as well (its cards, labels, bars:
about a third of the rows each layout frame drew, profiled). Regions whose columns overlap form a
group; each group's bands draw only the widgets within its columns, and keep only the chops
(the pieces of a row between two widget edges) that reach into those columns: the widget on top of
such a chop overlaps the band, so it was drawn.

It also keeps Textual from building the map of every widget twice per layout. `update_widgets` (each
frame's repaint) marked the whole map stale whenever a widget it repainted was off screen, as the
scrolled-away top of a streaming answer or the hidden parallel samples are on every frame; `reflow`
then built the full map but left it marked stale, so the next `widget.region` built it once more. In
a 60-message chat that walk is ~500 widgets, 8 ms, twice in most layouts (profiled). A repaint
cannot move a widget, and whatever can (a mount, `display`, `visibility`, a resize) asks for a layout,
so the map is marked stale here only for a widget it lacks that could be in it: one not hidden by
`display: none` on itself or an ancestor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual._compositor import ChopsUpdate, Compositor, ReflowResult
from textual.geometry import Region
from textual.strip import Strip

if TYPE_CHECKING:
    from textual.geometry import Size
    from textual.widget import Widget

__all__ = ["RowCompositor", "column_groups", "row_bands"]


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


def column_groups(regions: Iterable[Region]) -> list[list[Region]]:
    """`regions` grouped so that regions whose columns overlap share a group (the log and the sidebar
    beside it, side by side, do not)."""
    groups: list[tuple[int, int, list[Region]]] = []
    for region in sorted((r for r in regions if r.width > 0 and r.height > 0), key=lambda r: r.x):
        if groups and region.x < groups[-1][1]:
            left, right, members = groups[-1]
            members.append(region)
            groups[-1] = (left, max(right, region.right), members)
        else:
            groups.append((region.x, region.right, [region]))
    return [members for _, _, members in groups]


class RowCompositor(Compositor):
    """`Compositor` whose partial updates draw, per band of changed rows, only those rows."""

    def __init__(self) -> None:
        super().__init__()
        self._band: Region | None = None
        """While a band is drawn: its rows and columns."""

    def reflow(self, parent: Widget, size: Size) -> ReflowResult:
        result = super().reflow(parent, size)
        self._full_map_invalidated = False  # reflow has just built the map of every widget
        return result

    def update_widgets(self, widgets: set[Widget]) -> None:
        stale = self._full_map_invalidated
        if not stale:
            placed = self._full_map
            stale = any(
                widget not in placed and all(node.display for node in widget.ancestors_with_self)
                for widget in widgets
            )
        # Textual's own check (any repainted widget not on screen) is skipped by showing it a map
        # already marked stale; the mark is then set to what was decided above.
        self._full_map_invalidated = True
        super().update_widgets(widgets)
        self._full_map_invalidated = stale

    def render_partial_update(self) -> ChopsUpdate | None:
        update_regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not update_regions:
            return None
        screen = self.size.region
        spans = list(self._regions_to_spans(update_regions))
        is_rendered_line = {y for y, _, _ in spans}.__contains__
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] | None = None
        for group in column_groups(update_regions):
            left = max(screen.x, min(region.x for region in group))
            right = min(screen.right, max(region.right for region in group))
            for start, end in row_bands(group):
                start, end = max(start, screen.y), min(end, screen.bottom)
                if start >= end or left >= right:
                    continue
                band = Region(left, start, right - left, end - start)
                self._band = band
                try:
                    drawn = self._render_chops(band, is_rendered_line)
                finally:
                    self._band = None
                if chops is None:
                    chops = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
                for y in range(start, end):
                    line = chops[y]
                    # Only chops that reach into the band's columns: the widget on top of each was
                    # drawn (it overlaps them); one beyond them may lack it (not drawn, outside).
                    for (cut, strip), chop_end in zip(drawn[y].items(), cuts[y][1:], strict=True):
                        if strip is not None and cut < right and chop_end > left and line[cut] is None:
                            line[cut] = strip
        if chops is None:
            return None
        chop_ends = [cut_set[1:] for cut_set in cuts]
        return ChopsUpdate(chops, spans, chop_ends)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        band = self._band
        if band is None:
            yield from super()._get_renders(crop)
            return
        top, bottom, left, right = band.y, band.bottom, band.x, band.right
        for widget, (region, clip) in list(self.visible_widgets.items()):
            x, y, width, height = region.intersection(clip)
            first, last = max(y, top), min(y + height, bottom)
            if width <= 0 or first >= last or x >= right or x + width <= left:
                continue
            # The visible part's own columns, only the band's rows: `_render_chops` zips the strips
            # with the rows of region ∩ clip, so the clip handed back is exactly that part.
            height = last - first
            shown = Region(x, first, width, height)
            yield region, shown, widget.render_lines(Region(x - region.x, first - region.y, width, height))
