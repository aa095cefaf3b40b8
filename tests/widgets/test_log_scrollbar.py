"""LogScrollBar: the log's scrollbar reuses rows it drew; they are Textual's, and clicks act as on
Textual's bar."""

from __future__ import annotations

from unittest import mock

from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from vllm_tui.widgets.chat_log import ChatLog
from vllm_tui.widgets.log_scrollbar import LogScrollBar


class LogApp(App[None]):
    CSS = "ChatLog { scrollbar-size-vertical: 1; }"

    def compose(self) -> ComposeResult:
        with ChatLog():
            yield Static("\n".join(f"line {n}" for n in range(300)))


def _textual_rows(bar: ScrollBar) -> list[Strip]:
    bar.refresh()  # drawn afresh: Textual's own rows for the thumb's place now
    return Widget.render_lines(bar, Region(0, 0, *bar.region.size))


async def test_the_rows_are_textuals_and_reused_as_the_thumb_moves() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 24)) as pilot:
        log = app.query_one(ChatLog)
        bar = log.vertical_scrollbar
        assert isinstance(bar, LogScrollBar)
        drawn = 0
        checking = False
        render_line = StylesCache.render_line

        def counted(cache: StylesCache, *args: object) -> Strip:
            nonlocal drawn
            if not checking and getattr(args[7], "__self__", None) is bar:  # render_content_line
                drawn += 1
            return render_line(cache, *args)  # type: ignore[arg-type]

        with mock.patch.object(StylesCache, "render_line", counted):
            positions = (0, 1, 13, 77, 150, 211, 276, 0, 77, 150)
            for y in positions:
                log.scroll_to(y=y, animate=False)
                await pilot.pause()
                rows = bar.render_lines(Region(0, 0, *bar.region.size))
                checking = True
                assert rows == _textual_rows(bar), f"scrolled to {y}"
                checking = False
        # Textual draws all 24 rows for each of the 10 places; here only the looks not seen before.
        assert 0 < drawn <= 3 * bar.size.height


async def test_a_click_below_the_thumb_scrolls_down() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 24)) as pilot:
        log = app.query_one(ChatLog)
        bar = log.vertical_scrollbar
        await pilot.pause()
        assert log.scroll_y == 0
        await pilot.click(bar, offset=(0, bar.size.height - 2))
        await pilot.pause()
        assert log.scroll_y > 0
