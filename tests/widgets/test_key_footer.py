"""KeyFooter: only keys that fit whole, in order; it follows the terminal's width."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._footer import FooterKey

from tests.support import make_engineless_app
from vllm_tui.widgets.key_footer import KeyFooter


def shown(app: object) -> list[str]:
    footer = app.screen.query_one(KeyFooter)  # type: ignore[attr-defined]
    return [key.description for key in footer.query(FooterKey) if not key.has_class("-command-palette")]


async def test_the_footer_drops_whole_keys_from_its_end(tmp_path: Path) -> None:
    app = make_engineless_app(tmp_path)
    async with app.run_test(size=(160, 24)) as pilot:
        await pilot.pause(0.3)
        wide = shown(app)
        assert wide[-3:] == ["Settings", "Model", "Log"], wide
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        narrow = shown(app)
        # In 80 columns the keys close up and "Send" (enter) makes room for every key the app has:
        # F3's model picker and F5's log are found nowhere else.
        assert narrow == [k for k in wide if k != "Send"], narrow
        assert app.screen.query_one(KeyFooter).compact
        await pilot.resize_terminal(64, 24)
        await pilot.pause(0.3)
        narrow = shown(app)
        # Narrower still: a prefix of those, no key cut mid-word ("f2 Setti"), the first ones kept.
        assert narrow == wide[1 : len(narrow) + 1] and "Quit" in narrow and "Help" in narrow, narrow
        for width in range(60, 121, 3):
            await pilot.resize_terminal(width, 24)
            await pilot.pause(0.1)
            footer = app.screen.query_one(KeyFooter)
            keys = list(footer.query(FooterKey))
            assert sum(key.outer_size.width for key in keys) <= width, (width, shown(app))
            assert "Help" in shown(app), (width, shown(app))  # the key to all the others
