"""RowCompositor: a partial update puts on screen exactly what Textual's own would, drawing fewer rows."""

from __future__ import annotations

from rich.console import Console
from rich.segment import ControlType, Segment
from textual._compositor import ChopsUpdate, Compositor
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Collapsible, Static, TabbedContent, TabPane

from vllm_tui.screens.row_compositor import RowCompositor, column_groups, row_bands


def test_row_bands_merge_overlapping_and_touching_rows_only() -> None:
    regions = [Region(0, 30, 80, 1), Region(90, 2, 30, 6), Region(0, 5, 10, 2), Region(0, 8, 5, 1)]
    assert row_bands(regions) == [(2, 9), (30, 31)]
    assert row_bands([Region(0, 0, 10, 0)]) == []


def test_column_groups_join_overlapping_columns_only() -> None:
    log, text, card = Region(0, 1, 90, 30), Region(2, 9, 80, 2), Region(90, 2, 30, 5)
    status = Region(0, 39, 120, 1)
    assert column_groups([card, text, log]) == [[log, text], [card]], "side by side: two groups"
    assert column_groups([card, log, status]) == [[log, status, card]]
    assert column_groups([Region(5, 5, 0, 3)]) == []


class ChatLike(Screen[None]):
    """Nested containers, padding, borders, a scrollbar, a sidebar and a footer, as in the chat."""

    CSS = """
    #log { width: 1fr; border: round $primary; }
    #side { width: 30; }
    .card { border: tall $accent; padding: 0 1; height: 5; }
    #status { dock: bottom; height: 1; background: $panel; }
    Static.text { padding: 0 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._compositor = RowCompositor()

    def compose(self) -> ComposeResult:
        yield Static("status", id="status")
        with Horizontal():
            with VerticalScroll(id="log"):
                for n in range(6):
                    yield Static(f"question {n}\n" * 3, classes="text")
                    with Collapsible(title=f"thinking {n}", collapsed=n % 2 == 0):
                        yield Static(f"thought {n} " * 40, classes="text")
                with TabbedContent():
                    for n in range(3):
                        with TabPane(f"Sample {n + 1}"):
                            yield Static(f"answer {n} " * 60, id=f"answer-{n}", classes="text")
            with Vertical(id="side"):
                for n in range(3):
                    yield Static(f"GPU {n}\nutil 90%\nmem 60 GiB", classes="card", id=f"gpu-{n}")


class ChatLikeApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(ChatLike())


def _output(update: ChopsUpdate | None) -> list[Segment]:
    assert update is not None
    console = Console(width=120, height=40, force_terminal=True, color_system="truecolor")
    return list(console.render(update))


def _painted(update: ChopsUpdate | None) -> dict[tuple[int, int], tuple[str, object]]:
    """What an update leaves on screen: each cell written, with its character and style. (A cursor
    move that writes nothing, as Textual emits for a chop starting where a span ends, leaves nothing.)"""
    cells: dict[tuple[int, int], tuple[str, object]] = {}
    x = y = 0
    for segment in _output(update):
        if segment.control:
            for control in segment.control:
                if control[0] == ControlType.CURSOR_MOVE_TO:
                    x, y = control[1], control[2]
            continue
        if segment.text == "\n":
            x, y = 0, y + 1
            continue
        for char in segment.text:
            cells[x, y] = (char, segment.style)
            x += 1
    return cells


def _rows_drawn(widgets: list[Widget]) -> list[int]:
    drawn = [0]
    for widget in widgets:
        draw = widget.render_lines

        def counting(crop: Region, draw=draw) -> list:  # type: ignore[no-untyped-def, type-arg]
            drawn[0] += crop.height
            return draw(crop)

        widget.render_lines = counting  # type: ignore[method-assign]
    return drawn


async def _at_log_end(app: ChatLikeApp, pilot: Pilot[None]) -> tuple[Screen[None], RowCompositor]:
    """The screen with its log scrolled to the end, as while an answer streams, and its compositor."""
    await pilot.pause()
    screen = app.screen
    screen.query_one("#log", VerticalScroll).scroll_end(animate=False)
    await pilot.pause()
    compositor = screen._compositor
    assert isinstance(compositor, RowCompositor)
    return screen, compositor


async def test_a_partial_update_shows_what_textual_would_and_draws_only_changed_rows() -> None:
    app = ChatLikeApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen, compositor = await _at_log_end(app, pilot)
        answer = screen.query_one("#answer-0")
        status = screen.query_one("#status")
        card = screen.query_one("#gpu-1")
        # As one frame of a streaming answer: two rows of the answer, the status line and a GPU card.
        changed = [
            Region(answer.region.x, answer.region.bottom - 3, answer.region.width, 2),
            status.region,
            card.region,
        ]
        assert all(region for region in changed)
        drawn = _rows_drawn(list(screen.walk_children(with_self=True)))
        compositor._dirty_regions.update(changed)
        theirs = _output(Compositor.render_partial_update(compositor))
        their_rows, drawn[0] = drawn[0], 0
        compositor._dirty_regions.update(changed)
        ours = _output(compositor.render_partial_update())
        assert len(theirs) > 20 and ours == theirs
        assert drawn[0] * 5 < their_rows, (drawn[0], their_rows)
        # A region that no row of the screen shows changes nothing.
        compositor._dirty_regions.add(Region(0, 45, 10, 3))
        assert compositor.render_partial_update() is None


async def test_a_layout_frame_leaves_the_sidebar_beside_the_log_undrawn() -> None:
    """After a layout the log that scrolled changes on nearly every row; the sidebar beside it is not
    drawn unless it changed too, and the rows put on screen are Textual's either way."""
    app = ChatLikeApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen, compositor = await _at_log_end(app, pilot)
        log = screen.query_one("#log", VerticalScroll)
        side = list(screen.query_one("#side").walk_children(with_self=True))
        card = screen.query_one("#gpu-1")
        answer = screen.query_one("#answer-0")
        # The log's area, one answer row starting inside its padding (not on a widget edge), a card.
        inside = Region(answer.region.x + 1, answer.region.bottom - 2, 7, 1)
        for changed in ([log.region], [log.region, card.region], [inside, card.region]):
            side_rows = _rows_drawn(side)
            compositor._dirty_regions.update(changed)
            theirs = _painted(Compositor.render_partial_update(compositor))
            assert side_rows[0] > 0
            side_rows[0] = 0
            compositor._dirty_regions.update(changed)
            ours = _painted(compositor.render_partial_update())
            assert len(theirs) >= sum(region.area for region in changed) // 2 and ours == theirs, changed
            if card.region in changed:
                assert 0 < side_rows[0] <= 2 * card.region.height, "the card, and only its rows"
            else:
                assert side_rows[0] == 0, "the sidebar beside the log is not drawn"


async def test_a_layout_builds_the_map_of_every_widget_once() -> None:
    """Textual marked the whole map stale whenever a repainted widget was off screen (the scrolled-away
    top of an answer, a hidden sample) and left it so after a layout, so the next `widget.region`
    walked every widget again. The map stays right: it is what a fresh walk gives."""
    app = ChatLikeApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen, compositor = await _at_log_end(app, pilot)
        off_screen = screen.query_one(".text", Static)
        hidden = screen.query_one("#answer-1", Static)  # in a tab not shown
        answer = screen.query_one("#answer-0", Static)
        # A scroll leaves the map stale (Textual's fast path places only what is on screen): the
        # first region asked for after it builds it again. Counting starts after that.
        assert not off_screen.region.overlaps(screen.query_one("#log").region)
        walks, layouts = [0], [0]
        arrange_root, reflow = compositor._arrange_root, compositor.reflow

        def walking(*args, **kwargs):  # type: ignore[no-untyped-def]
            walks[0] += 1
            return arrange_root(*args, **kwargs)

        def laying_out(*args, **kwargs):  # type: ignore[no-untyped-def]
            layouts[0] += 1
            return reflow(*args, **kwargs)

        compositor._arrange_root = walking  # type: ignore[method-assign]
        compositor.reflow = laying_out  # type: ignore[method-assign]
        assert not all(node.display for node in hidden.ancestors_with_self)
        for n in range(3):
            off_screen.refresh()
            hidden.refresh()
            answer.update(f"answer 0 grows {n} " * (70 + 10 * n))  # a layout
            await pilot.pause()
            assert layouts[0] > 0 and walks[0] == layouts[0], "one walk per layout"
            off_screen.refresh()
            hidden.refresh()
            answer.refresh()  # a repaint only
            await pilot.pause()
            _ = answer.region, off_screen.region
            assert walks[0] == layouts[0], "a repaint walks nothing"
        del compositor._arrange_root, compositor.reflow
        fresh, _ = compositor._arrange_root(screen, screen.size, visible_only=False)
        assert compositor.full_map == fresh
        assert off_screen.region == fresh[off_screen].region
