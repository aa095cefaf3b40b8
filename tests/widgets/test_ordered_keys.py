"""OrderedInput: an Input's own keys act in the order they came, characters and bindings alike."""

from __future__ import annotations

from textual import events, on
from textual.app import App, ComposeResult
from textual.widgets import Input

from vllm_tui.widgets.ordered_keys import OrderedInput


class InputApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[str] = []

    def compose(self) -> ComposeResult:
        yield OrderedInput()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.submitted.append(event.value)


async def test_a_burst_of_keys_acts_in_order() -> None:
    """The export line once wrote a hidden '.md': ctrl+u, a path and enter sent in one burst ran
    ctrl+u and enter after the path was typed."""
    app = InputApp()
    async with app.run_test() as pilot:
        field = app.query_one(OrderedInput)
        field.focus()
        field.value = "old name"
        await pilot.pause()
        for key in ("ctrl+u", "n", "e", "w", "left", "backspace", "X", "enter"):
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        for _ in range(100):  # a slow machine takes longer; the order does not depend on it
            if app.submitted:
                break
            await pilot.pause(0.05)
        assert app.submitted == ["nXw"]
