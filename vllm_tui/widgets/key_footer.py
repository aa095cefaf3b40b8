"""`KeyFooter`: Textual's Footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, KeyGroup

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.events import Resize
    from textual.screen import Screen


HELP_ACTIONS = frozenset({"help", "app.help"})
SPARE_ACTIONS = frozenset({"submit"})
"""Keys that go first when the footer is short of room: everyone knows enter sends; F3's model
picker and F5's log are found only in the footer."""


def shown_keys(screen: Screen[object]) -> tuple[tuple[object, ...], ...]:
    """What the footer would draw: each shown binding's key, label, action, state and tooltip."""
    return tuple(
        (binding.key, binding.description, binding.action, enabled, tooltip)
        for _node, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    )


class KeyFooter(Footer):
    """The footer, without rebuilding itself on every focus change.

    Textual rebuilds the footer (a widget per key, CSS for each) whenever bindings may have changed:
    on each focus change, twice. Sending a prompt moves focus, and the two rebuilds (~20 ms each on
    the dev box) landed between the prompt and its first token on screen. Here a rebuild happens only
    when the shown keys differ.
    """

    _shown: tuple[tuple[object, ...], ...] | None = None
    _composed_width = 0

    def compose(self) -> ComposeResult:
        """Textual's keys, but only those that fit whole, in order: the footer clipped the last one
        mid-word ("f2 Setti") and hid those after it. Short of room, the keys close up (Textual's
        compact style, a cell less each) and `SPARE_ACTIONS` go first; then keys go from the end.
        F1 and the palette list them all, and F1 is always among those shown."""
        items = list(super().compose())
        if any(isinstance(item, KeyGroup) for item in items):
            yield from items  # grouped keys: left to Textual's own layout
            return
        width = self._composed_width = self.size.width or self.app.size.width
        palette = [i for i in items if isinstance(i, FooterKey) and i.has_class("-command-palette")]
        # Help stays however narrow: the one key that lists all the others (60 columns dropped it).
        helps = [i for i in items if isinstance(i, FooterKey) and i.action in HELP_ACTIONS]
        keys = [i for i in items if isinstance(i, FooterKey) and i not in palette]
        fixed = sum(_width(key) for key in palette)
        compact = fixed + sum(_width(key) for key in keys) > width
        self.compact = compact  # the keys are bound to it
        if compact:
            room = width - fixed - sum(_width(key, compact) for key in keys)
            spare = [key for key in keys if key.action in SPARE_ACTIONS]
            while room < 0 and spare:
                dropped = spare.pop()
                items.remove(dropped)
                room += _width(dropped, compact)
        room = width - fixed - sum(_width(key, compact) for key in helps)
        kept = []
        full = False
        for item in items:
            if item in palette:
                continue
            if isinstance(item, FooterKey) and item not in helps:
                room -= _width(item, compact)
                full = full or room < 0
                if full:
                    continue
            kept.append(item)
        self.styles.grid_size_columns = len(kept)
        yield from kept
        yield from palette

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._composed_width:
            self.refresh(recompose=True)

    def bindings_changed(self, screen: Screen[object]) -> None:
        keys = shown_keys(screen)
        if keys == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = keys  # the rebuild below will draw exactly these
        super().bindings_changed(screen)


def _width(key: FooterKey, compact: bool = False) -> int:
    """Cells of a key as the footer draws it: " key description ", or compact "key description"
    and a cell of margin. (The palette's key keeps its own style.)"""
    pad = 2 if compact and not key.has_class("-command-palette") else 3
    return cell_len(key.key_display) + cell_len(key.description) + pad
