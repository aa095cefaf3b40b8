"""`ChatLog`: the chat's scrolling log, laid out once per change instead of twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll

if TYPE_CHECKING:
    from textual.geometry import Size


class ChatLog(VerticalScroll):
    """The log of messages, anchored to its end while an answer streams.

    Textual lays the screen out a second time whenever a layout changed a widget's virtual size; for
    this log that was every time a streaming answer grew (and the second pass walks every widget of
    the chat, ~300 in a 60-message chat). The first pass already placed the messages and, the log
    being anchored, scrolled it (tests/widgets/test_chat_log.py). One more layout is still asked for
    when the scrollbar comes or goes, as the second pass would: an earlier attempt that skipped it
    outright left the scrollbar unshown. Its column is reserved anyway (`scrollbar-gutter: stable` in
    chat.tcss), so the messages keep their width either way.
    """

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        shown = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        changed = super()._size_updated(size, virtual_size, container_size, layout=False)
        if layout and (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != shown:
            self.refresh(layout=True)
        return changed
