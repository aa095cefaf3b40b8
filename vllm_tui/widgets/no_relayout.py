"""`NoRelayout`: for growing widgets that never scroll, skip the second layout pass of each resize."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget

if TYPE_CHECKING:
    from textual.geometry import Size


class NoRelayout(Widget):
    """Skips the second layout pass Textual schedules after every resize.

    Textual sets the `virtual_size` reactive (declared with `layout=True`) of each widget that a layout
    pass resized, so a growing answer costs two full layouts per frame. For widgets that do not scroll,
    the pass that resized them already placed everything; `_size_updated(layout=False)` is Textual's own
    way to record the size without asking for another pass. (Private hook: textual is pinned below 9.)

    Only for widgets whose size follows their content and that are not scroll containers (the chat log
    has its own, `ChatLog`, which still asks for a layout when its scrollbar comes or goes).

    With a Textual widget, put it after that class in the bases (`class X(Collapsible, NoRelayout)`):
    Textual takes a widget's default CSS and its CSS type names from the first base only, so with
    NoRelayout first a `Collapsible` lost `height: auto` and its `-collapsed > Contents { display:
    none }` rule (an earlier attempt: the folded thinking stayed on screen).
    """

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)
