"""An OptionList whose cursor stops at the first and last option instead of wrapping round."""

from __future__ import annotations

from textual.widgets import OptionList

__all__ = ["OptionListNoWrap"]


class OptionListNoWrap(OptionList):
    """Down on the last option stays there.

    Textual's OptionList wraps to the top, so a user pressing down once too often lands on the first
    row and acts on it (in the chat list, d then asked to delete a chat other than the one meant)."""

    def action_cursor_down(self) -> None:
        self._step(1)

    def action_cursor_up(self) -> None:
        self._step(-1)

    def _step(self, direction: int) -> None:
        if self.highlighted is None:  # nothing highlighted yet: the first (or last) option
            if direction > 0:
                super().action_cursor_down()
            else:
                super().action_cursor_up()
            return
        index = self.highlighted + direction
        while 0 <= index < self.option_count:
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return
            index += direction
