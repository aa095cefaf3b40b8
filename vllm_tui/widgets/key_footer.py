"""`KeyFooter`: Textual's Footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen


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

    def bindings_changed(self, screen: Screen[object]) -> None:
        keys = shown_keys(screen)
        if keys == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = keys  # the rebuild below will draw exactly these
        super().bindings_changed(screen)
