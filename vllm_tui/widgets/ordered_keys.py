"""Keys handled in the order they came, in the widgets the user types into.

Textual hands a key to the focused widget first: a character is typed there at once, but any other
key (backspace and the arrows, bound by the widget; down or F-keys, bound by the screen or the App)
bubbles up and runs as a binding only when it reaches the App, after the characters that followed it
in the same burst. A burst is what a quick typist sends over SSH, and what tmux send-keys sends: "ab",
backspace, "cd" gave "abc", and ctrl+u, a path, enter on the export line wrote a hidden ".md". Here
the typing widget runs each such key's binding from its own key handler, so every key acts in turn.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.actions import parse as parse_action
from textual.widget import Widget
from textual.widgets import Input

__all__ = ["OrderedInput", "handle_in_order"]


async def handle_in_order(
    widget: Widget, event: events.Key, direct: dict[str, Callable[[], object]] | None = None
) -> bool:
    """Run the binding for this key now: `widget`'s own (`direct` maps its action names to calls
    made instead of `run_action`), or else the screen's or the App's. True when one ran, and then
    the key goes no further; a character to type is left to the widget."""
    if getattr(event, "_ordered_done", False):  # Textual may hand an event here twice
        return True
    for binding in widget._bindings.key_to_bindings.get(event.key, ()):
        namespace, name, params = parse_action(binding.action)
        if namespace or widget.check_action(name, params) is False:
            continue  # another namespace's, or not now: left to the chain below
        call = (direct or {}).get(name)
        if call is not None:
            _consume(event)
            call()
            return True
        # False when the action declined (SkipAction): an Input's scroll_down on down, with nothing
        # to scroll, leaves the key to the screen (the model picker's list).
        if await widget.app.run_action(binding.action, widget):
            _consume(event)
            return True
    if event.is_printable and not event.key.startswith("alt+"):
        return False  # typed by the widget itself
    # What the App would do once the key had bubbled up to it (Textual 8.2: `App._on_key`), now.
    if await widget.app._check_bindings(event.key):
        _consume(event)
        return True
    return False


def _consume(event: events.Key) -> None:
    event.prevent_default()
    event.stop()
    event._ordered_done = True  # type: ignore[attr-defined]


class OrderedInput(Input):
    """A one-line Input whose keys (backspace, the arrows, ctrl+u, enter, the screen's) act in order."""

    async def _on_key(self, event: events.Key) -> None:
        await handle_in_order(self, event)
