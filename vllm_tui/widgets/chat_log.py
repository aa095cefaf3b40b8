"""`ChatLog`: the chat's scrolling log, laid out once per change, with far-away answers folded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widget import Widget

from vllm_tui.widgets.backdrop import Backdrop
from vllm_tui.widgets.log_scrollbar import LogScrollBar

if TYPE_CHECKING:
    from textual.geometry import Size
    from textual.scrollbar import ScrollBar

FOLDED = "-folded"


class ChatLog(VerticalScroll, Backdrop):
    """The log of messages, anchored to its end while an answer streams.

    Textual lays the screen out a second time whenever a layout changed a widget's virtual size; for
    this log that was every time a streaming answer grew (and the second pass walks every widget of
    the chat, ~300 in a 60-message chat). The first pass already placed the messages and, the log
    being anchored, scrolled it (tests/widgets/test_chat_log.py). One more layout is still asked for
    when the scrollbar comes or goes, as the second pass would: an earlier attempt that skipped it
    outright left the scrollbar unshown. Its column is reserved anyway (`scrollbar-gutter: stable` in
    chat.tcss), so the messages keep their width either way.

    **Folding.** Each layout walks every widget of the screen, on screen or not: in a 60-message chat
    that is ~330 widgets, 8-10 ms of each layout while an answer streams, about 10 per answer (its
    header, thinking fold, Markdown chunks, stats line). A finished answer more than FOLD_SCREENS
    screens away from the view is folded: it keeps its height (set inline from the last layout) and
    the widgets inside it are not displayed, so the walk stops at it. It unfolds when the view comes
    within FOLD_SCREENS of it (a scroll of less than that never shows one folded), when the log
    changes width (the heights would be wrong), or on `unfold_all()` before a change to the answers
    (the thinking shown or hidden). Answers streaming, answers holding the focus, and the last
    FOLD_SPARE children are never folded.
    """

    DEFAULT_CSS = """
    ChatLog > .-folded * {
        display: none;
    }
    """

    FOLD_SCREENS = 1.0
    """How far from the view (in view heights, above and below) answers stay unfolded."""

    FOLD_SPARE = 4
    """The log's last children are never folded: the turn being answered, continued or regenerated."""

    _fold_due = False
    """A fold of far answers is scheduled for after the next refresh."""

    _folded_width = 0
    """The content width the folded answers' heights were taken at."""

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """The log's scrollbar is a `LogScrollBar` (Textual's own creation of it, with that class)."""
        if self._vertical_scrollbar is None:
            bar = LogScrollBar(vertical=True, name="vertical", thickness=self.scrollbar_size_vertical)
            bar.display = False
            self._vertical_scrollbar = bar
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar

    @property
    def folded(self) -> list[Widget]:
        return [child for child in self.children if child.has_class(FOLDED)]

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        shown = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        changed = super()._size_updated(size, virtual_size, container_size, layout=False)
        if layout and (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != shown:
            self.refresh(layout=True)
        if changed:
            self._fold_soon()
        return changed

    def _fold_soon(self) -> None:
        if not self._fold_due:
            # After the refresh: the map then holds the regions the last layout gave the answers.
            self._fold_due = True
            self.call_after_refresh(self._fold_far)

    def _near_view(self) -> Callable[[Widget], bool]:
        """Whether a child lies within the rows answers stay unfolded in: the view, and FOLD_SCREENS
        view heights above and below it (taken at the current scroll)."""
        height = self.scrollable_content_region.height
        margin = height * self.FOLD_SCREENS
        top, bottom = self.scroll_y - margin, self.scroll_y + height + margin

        def near(child: Widget) -> bool:
            region = child.virtual_region
            return region.bottom >= top and region.y <= bottom

        return near

    def _fold_far(self) -> None:
        self._fold_due = False
        if not self.is_attached or not self.size.width:
            return
        if self.size.width != self._folded_width:
            if self.folded:
                # Their heights were taken at another width; the next layout folds them again.
                self.unfold_all()
                return
            self._folded_width = self.size.width
        near = self._near_view()
        focused = self.screen.focused
        children = list(self.children)
        for child in children[: max(0, len(children) - self.FOLD_SPARE)]:
            if child.has_class(FOLDED) or getattr(child, "streaming", True) or not child.children:
                continue  # only finished answers (and samples): prompts and notices have no inside
            if focused is not None and (focused is child or child in focused.ancestors):
                continue
            height = child.virtual_region.height
            if height and not near(child):
                child.styles.height = height
                child.add_class(FOLDED)

    def _unfold(self, child: Widget) -> None:
        child.remove_class(FOLDED)
        child.styles.height = None  # back to the style sheet's `auto`

    def unfold_all(self) -> None:
        """Unfold every answer: before a change to them that could change their height."""
        for child in self.folded:
            self._unfold(child)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # A scroll moved the view: unfold what it came near, before it is drawn. (The anchored log's
        # own scrolling, in each layout, does not come here and moves only towards the end.)
        folded = self.folded
        if folded:
            near = self._near_view()
            for child in folded:
                if near(child):
                    self._unfold(child)
        self._fold_soon()  # and fold what it left behind
