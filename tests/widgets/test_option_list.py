"""OptionListNoWrap: the cursor stops at both ends and steps over disabled options."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets.option_list import Option

from vllm_tui.widgets.option_list import OptionListNoWrap


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield OptionListNoWrap(
            Option("first"), Option("off", disabled=True), Option("last"), Option("gone", disabled=True)
        )


async def test_the_cursor_stops_at_the_ends_and_skips_disabled_options() -> None:
    app = ListApp()
    async with app.run_test() as pilot:
        options = app.query_one(OptionListNoWrap)
        options.focus()
        options.highlighted = 0
        await pilot.press("down")
        assert options.highlighted == 2
        await pilot.press("down", "down")
        assert options.highlighted == 2, "no wrap to the top, and the disabled last row is skipped"
        await pilot.press("up", "up")
        assert options.highlighted == 0
        options.highlighted = None
        await pilot.press("up")
        assert options.highlighted == 2, "from no highlight, up starts at the last enabled option"
