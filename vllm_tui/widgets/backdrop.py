"""`Backdrop`: containers whose own rows are only background render one row and repeat it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget

if TYPE_CHECKING:
    from textual.geometry import Region
    from textual.strip import Strip


class Backdrop(Widget):
    """A container with no content of its own: every row it draws is its background.

    Textual's compositor draws every widget on screen, containers too, before its children cover
    them, and a layout that resized or scrolled a container clears its cache of drawn rows. While an
    answer streams, nearly every frame is such a layout (the answer grows, the anchored log scrolls),
    so each frame redrew the rows of the log, the message and the answer's Markdown behind their
    children (render benchmark: of ~95 rows drawn per layout, 24 were the answer's background and 20
    the scroll container's).
    Without a border or an outline all those rows are alike, so this draws one through Textual (its
    styles, padding and line filters, e.g. NO_COLOR) and repeats it.

    Textual's own `BLANK` switch goes further (no styles cache at all) but draws no border and skips
    the line filters; a selected message gets a border, and NO_COLOR must reach every row.

    Put it after a Textual base in the bases, as with `NoRelayout` (that base's CSS is kept).
    """

    def render_lines(self, crop: Region) -> list[Strip]:
        styles = self.styles
        if (
            crop.height < 2
            or not self.is_container  # Textual draws the class name of an empty widget with no layout
            or styles.keyline[0] != "none"
            or any(edge for edge, _colour in styles.border)
            or any(edge for edge, _colour in styles.outline)
            or (styles.has_rule("hatch") and styles.hatch != "none")
        ):
            return super().render_lines(crop)
        (row,) = super().render_lines(crop._replace(height=1))
        return [row] * crop.height
