"""A Markdown view that grows by small appends at a cost that stays flat as the answer grows.

Why not `Markdown.get_stream()`: each append re-parses the last top-level block (so a long code fence is
re-parsed and re-highlighted on every token), and every Markdown block is at least one widget while
Textual's compositor walks every widget on each layout — measured on the 2-core dev box, 112 ms per
layout with the ~2,100 widgets of a 30,000-token answer. So here:

* `BlockSplitter` finds block boundaries incrementally (blank lines outside fences, fence open/close,
  headings), never splitting a list, an indented continuation or a fence.
* Closed blocks are gathered into chunks of about `CHUNK_CHARS` characters; each chunk is ONE widget
  (`_MarkdownChunk`) drawing its blocks, each rendered once with Rich's Markdown into cached lines, so
  widget count grows by one per chunk and adding a block renders only that block. Code fences are
  highlighted once, when they close. (Rich's renderer, styled from the Textual theme, because Textual's
  `Markdown` spends at least one widget per block.)
* The open block is re-rendered on each flush; an open code fence is shown as plain text: the newest
  lines (fewer than `FENCE_SEGMENT_LINES`) in a segment that changes, above it every full segment,
  rendered once, in one widget.
* `append()` only accumulates; widget work happens in one flush per `FRAME_INTERVAL` at most (less
  often if re-rendering the open block gets expensive), so per-token cost stays flat.

Model text is untrusted: it is never parsed as Rich/Textual markup (Rich's Markdown builds `Text`
literally, fences use `Content`), links are not turned into terminal hyperlinks, and ESC, BEL, other
C0 controls and C1 controls are replaced by visible symbols before anything is rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from math import ceil
from time import monotonic, perf_counter
from typing import TYPE_CHECKING, ClassVar

from markdown_it import MarkdownIt
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.markdown import CodeBlock, Heading
from rich.markdown import Markdown as RichMarkdown
from rich.syntax import Syntax
from rich.theme import Theme
from textual.app import ComposeResult
from textual.color import Color
from textual.content import Content
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget
from textual.widgets import Static

from vllm_tui.heap import tidy
from vllm_tui.widgets.backdrop import Backdrop
from vllm_tui.widgets.markdown_blocks import BlockSplitter, make_visible
from vllm_tui.widgets.no_relayout import NoRelayout

if TYPE_CHECKING:
    from rich.color import Color as RichColor
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.segment import Segment
    from rich.style import Style
    from textual.app import App

__all__ = ["BlockSplitter", "StreamingMarkdown", "make_visible", "warm_up"]

CHUNK_CHARS = 100_000
"""Closed blocks are gathered into one widget until it holds about this many characters (a 30,000-token
answer fits in one). Blocks are rendered one by one and a chunk's lines grow by the new block's only,
so the size of a chunk costs nothing per frame, while every widget costs each layout: with 8,000 (one
widget per ~2,000 tokens) the layouts of the last tenth of a 30,000-token answer took ~30% longer
than the first tenth's (at 5,000 tok/s nearly every frame lays out)."""

TIDY_CHARS = 8_000
"""After this many characters of closed blocks, the heap is tidied (see heap.tidy)."""

FENCE_SEGMENT_LINES = 48
"""An open code fence's newest lines, re-rendered each frame, are at most this many; then they join the
lines above, which render once."""

FRAME_INTERVAL = 1 / 40
"""Shortest time between two flushes while text streams in. A token waits up to this long for its
frame, so it bounds the lag; each frame costs a repaint of the rows that changed (a whole-screen
layout when the answer outgrows its reserved rows). At 1,000 tok/s on the 2-core dev box, 1/40
against 1/30: lag p99 ~45 vs ~55 ms, CPU ~23% vs ~20% of a core (docs/benchmarks.md)."""

PARKED_CHECK_INTERVAL = 0.25
"""While a view is hidden (a sample tab not shown, folded thinking), how often it checks whether it
is shown again, should Textual's Show message not reach it."""

MAX_FRAME_INTERVAL = 0.25
"""Longest time between two flushes, however expensive a frame gets."""

WORK_SMOOTHING = 0.25
"""Weight of the latest flush in the smoothed per-flush work that sets the interval (and in the
smoothed cost of a layout frame, by which a foreseen one starts sooner)."""

RESERVE_SECONDS = 0.25
"""While it streams, the open block's height grows in steps of about this much text (in rows, from the
measured stream rate; the rows not yet written stay blank). A frame that changes no height repaints
only the rows that changed; one that does costs a layout of the whole screen and a repaint of every row
that moved (the anchored log scrolls), about five times as much on the dev box. At 1,000 tok/s text
grows by ~40 rows a second, so without this nearly every frame was a layout; a slow stream gets steps
of one row, so no blank rows show."""

MAX_RESERVE_ROWS = 12

UNSETTLED_CHARS = 4_000
"""Closed blocks stay in the live view (no layout when a block closes) until the view must grow anyway,
or until they hold this many characters."""

CPU_BUDGET = 0.15
"""Share of one core that this widget's own work (splitting, Markdown rendering) may take; past it,
flushes are spaced out."""

ARRIVAL_WAIT = 0.015
"""Longest a due frame waits for the next token (`StreamingMarkdown.frames_on_arrival`); less where
tokens come faster: 1.5 times the usual gap between them. Past it the stream has paused, and the frame
is drawn anyway."""

MIN_TIMER = 0.001
"""Shortest timer set. Textual drops a one-shot timer whose delay has passed by the time its task first
looks at the clock (it skips missed ticks): one of a microsecond, set after a burst of tokens, never
fired, and the burst's last frame was never drawn."""


# -- rendering closed blocks -------------------------------------------------------------------------


class _Heading(Heading):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Rich centres (and, in older versions, boxes) h1; Textual keeps headings flush left.
        text = self.text.copy()
        text.justify = "left"
        yield text


class _CodeBlock(CodeBlock):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        background = console.get_style("markdown.code_block").bgcolor
        yield Syntax(
            str(self.text).rstrip(),
            _lexer(self.lexer_name),
            theme=self.theme,
            word_wrap=True,
            padding=(1, 2),
            background_color=background.name if background is not None else None,
        )


@lru_cache(maxsize=64)
def _lexer(name: str) -> Lexer | str:
    """Pygments lexer for a fence's language; looking one up by name costs ~4 ms, so keep them."""
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return "text"


COMMON_FENCE_LANGUAGES = (
    "python", "bash", "json", "javascript", "typescript", "c", "cpp", "rust", "go", "java", "sql", "yaml",
)  # fmt: skip
"""Fence languages whose lexers `warm_up()` builds ahead of the first answer."""


def warm_up() -> None:
    """Build the lexers of the common fence languages. Pygments compiles a lexer's rules the first time
    one is made (25 ms for Python, 43 ms for SQL on the dev box), which the first code block of each
    language would otherwise pay mid-answer, in a frame. Thread-safe; the app runs it off the UI
    thread once the engine is ready."""
    for name in COMMON_FENCE_LANGUAGES:
        _lexer(name)


class _Markdown(RichMarkdown):
    elements = {
        **RichMarkdown.elements,
        "heading_open": _Heading,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
    }

    def __init__(self, markup: str, code_theme: str) -> None:
        # Rich's own __init__ builds a new MarkdownIt parser for every Markdown: ~0.2 ms, a third of
        # re-rendering an open paragraph each frame. Parsing keeps no state in the parser, so one serves
        # all. The attributes are those Rich's __init__ sets (a test checks that none is missing).
        self.markup = markup
        self.parsed = _parser().parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False  # model text: no terminal hyperlinks
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    """The parser Rich's Markdown uses (CommonMark with strikethrough and tables)."""
    return MarkdownIt().enable("strikethrough").enable("table")


_THEMES: dict[tuple[str, bool], Theme] = {}


def _rich_theme(app: App[object], dim: bool) -> Theme:
    """Markdown styles drawn from the Textual theme, so chunks match the rest of the app."""
    key = (app.theme, dim)
    theme = _THEMES.get(key)
    if theme is not None:
        return theme
    variables = app.theme_variables or app.get_css_variables()
    background = Color.parse(variables.get("background", "#000000"))

    def colour(name: str, fallback: str) -> str:
        try:
            value = background + Color.parse(variables.get(name, fallback))
            # ANSI theme colours have no hex value Rich can read ("ansi_blue"): use Rich's own name.
            return value.rich_color.name if value.ansi is not None else value.hex
        except Exception:  # a theme may hold values Color cannot parse; fall back, never crash drawing
            return fallback

    primary = colour("primary", "#0178D4")
    accent = colour("text-accent", colour("accent", "#ffa62b"))
    warning = colour("text-warning", colour("warning", "#ffa62b"))
    muted = colour("text-muted", "#808080")
    panel = colour("panel", "#303030")
    # The same tint Textual's MarkdownFence uses: black 10% on dark themes, white 30% on light ones.
    tint = Color(0, 0, 0, 0.1) if app.current_theme.dark else Color(255, 255, 255, 0.3)
    code_bg = (background + tint).hex
    styles = {
        "markdown.h1": f"bold underline {primary}",
        "markdown.h2": f"bold {primary}",
        "markdown.h3": f"bold {primary}",
        "markdown.h4": "bold",
        "markdown.h5": "bold italic",
        "markdown.h6": f"italic {muted}",
        "markdown.code": f"{warning}",
        "markdown.code_block": f"on {code_bg}",
        "markdown.block_quote": f"italic {muted}",
        "markdown.link": f"underline {accent}",
        "markdown.link_url": f"{accent}",
        "markdown.item.bullet": f"bold {primary}",
        "markdown.item.number": f"bold {primary}",
        "markdown.hr": panel,
        "markdown.table.border": panel,
        "markdown.table.header": f"bold {primary}",
    }
    if dim:
        styles = {name: f"{style} dim" for name, style in styles.items()}
    theme = _THEMES[key] = Theme(styles, inherit=True)
    return theme


def _is_empty(line: list[Segment], background: RichColor | None) -> bool:
    """A rendered line with no text and no background of its own (a code block's padding is not empty)."""
    return all(
        not segment.text.strip() and (segment.style is None or segment.style.bgcolor in (None, background))
        for segment in line
    )


class _ReservedRows(NoRelayout):
    """A widget whose content height is a multiple of `reserve` rows (see RESERVE_SECONDS)."""

    reserve = 1
    """Rows the height grows by; 1 for exact."""

    rows_free = 0
    """Reserved rows not yet written, as of the last update: when the stream will fill them, the frame
    that does costs a layout."""

    @property
    def laid_out_size(self) -> Size:
        """The content area as of the last layout. Not `size`: that asks the compositor's map for this
        widget's region, and after each scroll of the log the map is rebuilt for the whole screen on
        first use (~300 widgets in a 60-message chat, 5-17 ms a time); this comes from the size
        Textual stored at the last layout, less padding and border."""
        width, height = self.outer_size
        gutter = self.styles.gutter
        return Size(max(0, width - gutter.width), max(0, height - gutter.height))

    def reserved_height(self, rows: int) -> int:
        return -(-rows // self.reserve) * self.reserve

    def set_reserve(self, reserve: int) -> None:
        if reserve != self.reserve:
            self.reserve = reserve
            self.refresh(layout=True)


_Rendered = tuple[tuple[object, ...], list[Strip]]
"""A block's lines and the (width, theme, dim, style, source) they were drawn for."""


class _MarkdownChunk(_ReservedRows):
    """Closed Markdown blocks (or the open prose block) drawn as one widget from cached lines.

    Each block is rendered on its own (the splitter guarantees that parses the same as the whole) and
    its lines are cached per width and theme, so adding a block renders only that block.
    """

    DEFAULT_CSS = """
    _MarkdownChunk { height: auto; }
    """

    def __init__(self, owner: StreamingMarkdown) -> None:
        super().__init__()
        self._owner = owner
        self.blocks: list[str] = []
        self.chars = 0
        self._rendered: list[_Rendered] = []
        """Per block, index-aligned with `blocks`: the key it was drawn with and its lines."""
        self._lines: list[Strip] = []
        self._lines_style: tuple[object, ...] | None = None
        self._lines_blocks = -1
        """`_lines` holds the first `_lines_blocks` blocks, drawn for `_lines_style` (-1: none of the
        blocks held now). Blocks appended since (a closed chunk only ever grows) extend it instead of
        joining every block again."""
        self._painting_style: Style | None = None
        self._grown_at_end = False
        """Blocks were added below the rows drawn (see `_size_updated`) since the last layout."""

    def add_blocks(self, blocks: list[str], rendered: list[_Rendered] | None = None) -> None:
        """Append closed blocks; `rendered` may hold the live view's lines for the first of them."""
        if rendered and len(self._rendered) == len(self.blocks):
            # Settling blocks the live view has drawn: keep those lines (checked against the width,
            # theme and source when used) instead of rendering each block a second time in the layout.
            self._rendered += rendered[: len(blocks)]
        self.blocks += blocks
        self.chars += sum(map(len, blocks))
        drawn = self.outer_size
        if drawn.height:
            # The blocks go below the rows drawn so far, which stay as they are: only the first new
            # row is marked for drawing, and the layout's new height keeps the others (_size_updated).
            self._grown_at_end = True
            self.refresh(Region(0, drawn.height, drawn.width, 1), layout=True)
        else:
            self.refresh(layout=True)

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        if self._grown_at_end and size.width == self._size.width and size.height > self._size.height:
            # Textual clears every drawn row of a widget whose height changed; blocks were only added
            # below them, and their lines depend on the width alone. While an answer streams, that
            # redrew a screenful of this chunk at each settle (~27 rows, 110 settles in the render
            # benchmark's 24,000 tokens). (`_size` is Textual's own; textual is pinned below 9.)
            self._size = size
        self._grown_at_end = False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def take_rendered(self, count: int) -> list[_Rendered]:
        """Hand over the cached lines of the first `count` blocks (they settle into a closed chunk)."""
        taken = self._rendered[:count]
        del self._rendered[:count]
        self.blocks = self.blocks[count:]
        self.chars = sum(map(len, self.blocks))
        self._lines_blocks = -1
        self.refresh(layout=True)  # the rows of those blocks go; settling lays out anyway
        return taken

    def set_blocks(self, blocks: list[str], *, grow: bool = True) -> bool:
        """Hold exactly `blocks` (the live view: closed blocks not yet settled, then the open block).

        Within the rows already laid out only the rows that changed are repainted. If the blocks need
        more (or fewer) rows: with `grow`, a layout is asked for; without, nothing changes and False is
        returned, so the owner can settle closed blocks in the same layout.
        """
        if self.blocks == blocks:
            return True
        before = (self.blocks, self.chars, self._lines, self._lines_style, self._lines_blocks)
        # Rows on screen now, if drawn for these blocks.
        old = self._lines if self._lines_blocks == len(self.blocks) else None
        self.blocks = list(blocks)
        self.chars = sum(map(len, blocks))
        self._lines_blocks = -1  # the open block changed: join them all again (the live view is small)
        width, height = self.laid_out_size
        if old is not None and width:
            lines = self._get_lines(width)
            if self.reserved_height(len(lines)) == height:
                self.rows_free = height - len(lines)
                same = min(len(old), len(lines))
                first = next((y for y in range(same) if old[y] != lines[y]), same)
                end = max(len(old), len(lines))
                if first < end:
                    self.refresh(Region(0, first, width, end - first))
                return True
        if not grow:
            self.blocks, self.chars, self._lines, self._lines_style, self._lines_blocks = before
            return False
        # Only the live view is set this way; a layout anyway, so the step can follow the rate.
        self.reserve = self._owner.reserve_rows
        rows = len(self._get_lines(width)) if width else 0
        self.rows_free = self.reserved_height(rows) - rows
        self._owner._layout_asked = True
        self.refresh(layout=True)
        return True

    def _render_block(self, source: str, width: int, dim: bool, style: Style) -> list[Strip]:
        started = perf_counter()
        app = self.app
        markdown = _Markdown(source, code_theme="ansi_dark" if app.current_theme.dark else "ansi_light")
        console = app.console
        options = app.console_options.update(highlight=False, markup=False, width=width)
        console.push_theme(_rich_theme(app, dim))
        try:
            lines = console.render_lines(markdown, options, style=style, pad=False)
        finally:
            console.pop_theme()
        # Rich pads lists and tables with empty lines; blocks get exactly one blank line between them.
        start, end = 0, len(lines)
        background = style.bgcolor
        while start < end and _is_empty(lines[start], background):
            start += 1
        while end > start and _is_empty(lines[end - 1], background):
            end -= 1
        strips = [Strip(line) for line in lines[start:end]]
        if self is self._owner._live:
            # Only the open block is re-rendered frame after frame; closed blocks render once.
            self._owner._render_cost += perf_counter() - started
        return strips

    def _get_lines(self, width: int) -> list[Strip]:
        app = self.app
        dim = self._owner.has_class("dim")
        # Keyed on the resolved base style, not on the styles' cache key: that changes whenever a
        # sibling is mounted (CSS is re-applied), which would re-render every block of the chunk.
        base = self._base_style()
        style_key = (width, app.theme, dim, base)
        if style_key == self._lines_style and self._lines_blocks == len(self.blocks):
            return self._lines
        rendered = self._rendered
        del rendered[len(self.blocks) :]
        start, lines = 0, list[Strip]()
        if style_key == self._lines_style and 0 < self._lines_blocks <= len(self.blocks):
            start, lines = self._lines_blocks, self._lines
        for index in range(start, len(self.blocks)):
            source = self.blocks[index]
            if index < len(rendered) and rendered[index][0] == (style_key, source):
                block_lines = rendered[index][1]
            else:
                block_lines = self._render_block(source, width, dim, base) if source.strip() else []
                entry = ((style_key, source), block_lines)
                if index < len(rendered):
                    rendered[index] = entry
                else:
                    rendered.append(entry)
            if block_lines:
                if lines:
                    # Rich separates top-level elements with one blank line; blocks do the same.
                    lines.append(Strip.blank(width))
                lines += block_lines
        self._lines = lines
        self._lines_style = style_key
        self._lines_blocks = len(self.blocks)
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.reserved_height(len(self._get_lines(width)))

    def _base_style(self) -> Style:
        # `rich_style` walks every ancestor (~0.1 ms); a full repaint asks for it on each row.
        return self._painting_style if self._painting_style is not None else self.rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._painting_style = self.rich_style  # one lookup per paint, not two per row
        try:
            return super().render_lines(crop)
        finally:
            self._painting_style = None

    def render_line(self, y: int) -> Strip:
        width = self.laid_out_size.width
        lines = self._get_lines(width)
        style = self._base_style()
        if y < len(lines):
            return lines[y].crop_extend(0, width, style)
        return Strip.blank(width, style)


class _FencePart(_ReservedRows):
    """Shared look of the two widgets that show a code fence while it streams."""

    DEFAULT_CSS = """
    _FencePart {
        height: auto;
        padding: 0 2;
        background: black 10%;
        &:light { background: white 30%; }
        &.-first { padding-top: 1; }
        &.-last { padding-bottom: 1; margin-bottom: 1; }
    }
    """


class _FenceLines(_FencePart):
    """The full segments of a code fence that is still streaming, as one widget.

    One widget per full segment made the widget count grow with the fence (52 for a 2,500-line fence)
    and every layout walks every widget: a layout frame went from 10 to 17-21 ms over a 30,000-token
    fence. Here each segment is rendered once (per width and style) when it fills, and its lines kept.
    Direct child of `StreamingMarkdown`, like the segment after it (see `_FenceSegment`).
    """

    def __init__(self) -> None:
        super().__init__(classes="-first")
        self._texts: list[str] = []
        self._render_key: tuple[int, object] | None = None
        self._lines: list[Strip] = []
        self._rendered = 0
        """How many of `_texts` are in `_lines` (for `_render_key`)."""

    def add_text(self, text: str) -> None:
        """A full segment's final text (a layout: this widget grows)."""
        self._texts.append(text)
        self.refresh(layout=True)

    def _get_lines(self, width: int) -> list[Strip]:
        style = self.visual_style
        if self._render_key != (width, style):
            self._render_key = (width, style)
            self._lines, self._rendered = [], 0
        for text in self._texts[self._rendered :]:
            # As Static draws the segment still streaming (same styles, so the same wrapping).
            self._lines += Visual.to_strips(self, Content(text), width, None, style, apply_selection=False)
        self._rendered = len(self._texts)
        return self._lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._get_lines(width))

    def render_line(self, y: int) -> Strip:
        width = self.laid_out_size.width
        lines = self._get_lines(width)
        if y < len(lines):
            return lines[y]
        return Strip.blank(width, self.visual_style.rich_style)


class _FenceSegment(_FencePart, Static):
    """The newest lines of a code fence that is still streaming: plain text, no highlighting.

    Segments are direct children of `StreamingMarkdown` (no wrapping container) because every
    nesting level adds its own pass over each screen row when the anchored view scrolls.
    """

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Reserved rows while it grows (set to 1 when the answer finishes).
        return self.reserved_height(super().get_content_height(container, viewport, width))

    def set_text(self, text: str, reserve: int) -> bool:
        """New text; a layout only when the reserved rows no longer fit it (see RESERVE_SECONDS), and
        then the reserve follows the stream rate. True if a layout was asked for."""
        rows = text.count("\n") + 1  # code lines seldom wrap: close enough to foresee the next layout
        content_size = self.laid_out_size
        if not content_size.width:
            self.reserve = reserve
            self.rows_free = self.reserved_height(rows) - rows
            self.update(Content(text))
            return True
        self.update(Content(text), layout=False)
        if self.get_content_height(content_size, content_size, content_size.width) != content_size.height:
            self.reserve = reserve
            self.rows_free = self.reserved_height(rows) - rows
            self.refresh(layout=True)
            return True
        self.rows_free = content_size.height - rows
        return False


class StreamingMarkdown(NoRelayout, Backdrop):
    """Markdown that grows by `append()`; closed blocks settle into a few rendered widgets.

    Add the `dim` class for the de-emphasised thinking block.
    """

    frames_on_arrival: ClassVar[bool] = False
    """While tokens come faster than frames, a frame that falls due waits for the next token and is
    drawn as it arrives, not at the frame timer's moment. Set by the chat screen where the engine says
    the app shares a core with it (`EngineReady.shares_cores`: vLLM's CPU backend). There vLLM's engine
    core needs that core at the end of each step, to send the worker the next one; tokens reach the app
    just after that, so a frame drawn on a token's arrival runs while the worker computes, where one
    drawn at the timer's moment could hold the next step back. 2-core dev box, tiny model at ~90 tok/s,
    30 app runs each way over 10 engine loads in turns: delivered / raw median 0.990 against 0.978
    (docs/benchmarks.md §2). Off elsewhere: on a GPU nothing waits for the UI's core, and the wait
    only adds to a token's way to the screen."""

    DEFAULT_CSS = """
    StreamingMarkdown {
        height: auto;
        layout: vertical;
        & > _MarkdownChunk { margin: 0 0 1 0; }
        & > _MarkdownChunk.-live { margin: 0; }
        & > _MarkdownChunk.-end { margin: 0; }
        &.dim { color: $text-muted; }
    }
    """

    def __init__(
        self,
        markdown: str = "",
        *,
        dim: bool = False,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own keyword
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_class(dim, "dim")
        self._raw: list[str] = []
        self._raw_len = 0
        self._pending: list[str] = []
        self._displayed_len = 0
        self._displayed_at = 0.0
        self._frames_shown = 0
        self._splitter = BlockSplitter()
        self._chunks: list[_MarkdownChunk] = []
        self._live = _MarkdownChunk(self)
        self._live.add_class("-live")
        self._fence_lines: _FenceLines | None = None
        """An open fence's full segments, once one filled (above `_fence_segment`)."""
        self._fence_segment: _FenceSegment | None = None
        """An open fence's newest lines, the part still growing."""
        self._unsettled: list[str] = []
        self._fence_frozen_lines = 0
        self._flush_scheduled = False
        self._next_flush_at = 0.0
        self._tidy_due = False
        self._closed_chars = 0
        """Characters of closed blocks since the heap was last tidied."""
        self._render_cost = 0.0
        self._work = 0.0
        self._rows_per_second = 0.0
        self._last_flush_at = 0.0
        self._layout_asked = False
        """Set during a flush by whatever asks for a layout (growth past the reserved rows, settling)."""
        self._layout_cost = 0.0
        """Smoothed time from the start of a flush that asked for a layout to the end of its refresh."""
        self._finished = False
        self._await_arrival = False
        """A frame fell due and waits for the next token (`frames_on_arrival`)."""
        self._last_append_at = 0.0
        self._gap = 1.0
        """Smoothed time between two appends (capped at a second)."""
        self._parked = False
        """Hidden when a frame fell due: its text waits, without a timer, until the view is shown."""
        if markdown:
            self.append(markdown)

    # -- public API ----------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The full Markdown source appended so far (as received, before control characters are
        made visible)."""
        if len(self._raw) > 1:
            self._raw[:] = ["".join(self._raw)]
        return self._raw[0] if self._raw else ""

    @property
    def displayed_length(self) -> int:
        """How many characters of `text` were on screen as of the last completed screen refresh."""
        return self._displayed_len

    @property
    def displayed_at(self) -> float:
        """`time.monotonic()` at the end of the screen refresh that last showed more of `text`."""
        return self._displayed_at

    @property
    def frames_shown(self) -> int:
        """How many flushes have reached the screen (each followed by a completed screen refresh)."""
        return self._frames_shown

    @property
    def finished(self) -> bool:
        """True once `finish()` was called."""
        return self._finished

    def append(self, text: str) -> None:
        """Add a fragment at the end. Cheap: the widgets catch up at the next frame."""
        if not text:
            return
        if self._finished:
            raise RuntimeError("StreamingMarkdown.append() after finish()")
        self._raw.append(text)
        self._raw_len += len(text)
        self._pending.append(text)
        now = monotonic()
        self._gap = 0.3 * min(1.0, now - self._last_append_at) + 0.7 * self._gap
        self._last_append_at = now
        if self._await_arrival:
            # The frame that waited for this token: drawn after the handler that appends it, so the
            # rest of the same batch of engine events joins it.
            self._await_arrival = False
            self.call_next(self._frame_due)
            return
        self._schedule_flush()

    @property
    def behind(self) -> bool:
        """Text was appended that is not on screen yet (not flushed, or its refresh not done)."""
        return self._displayed_len < self._raw_len and not self._finished and self.is_mounted

    def show_pending(self, then: Callable[[], None]) -> None:
        """Put the text appended since the last frame on screen now, in a plain frame (not waiting
        for the frame timer), and call `then` once that refresh is done and `displayed_length` says so."""
        if self._pending:
            self._flush()
        # Posted after the flush's own after-refresh callback, on the same queue: it runs after it.
        if not self.call_after_refresh(then):
            then()

    def continue_from(self, other: StreamingMarkdown) -> None:
        """This view takes over a stream another view was showing (the answer after the thinking): start
        from its measured rate and frame costs instead of learning them again. Learning from zero, the
        first frames reserve one row each, and each lays the screen out (three layouts in the first
        100 ms of an answer, measured)."""
        self._rows_per_second = other._rows_per_second
        self._gap = other._gap
        self._layout_cost = other._layout_cost
        self._work = other._work

    def finish(self) -> None:
        """The stream ended: render everything, the last block included, as finished Markdown."""
        if self._finished:
            return
        self._finished = True
        self._live.set_reserve(1)
        if self._fence_segment is not None:
            self._fence_segment.set_reserve(1)
        if self.is_mounted:
            self._flush()

    # -- internals -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self._live

    def on_mount(self) -> None:
        if self._pending or self._finished:
            self._flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or not self.is_mounted:
            return
        delay = self._next_flush_at - monotonic()
        if delay <= MIN_TIMER:
            # Due already (the stream was idle for a frame or more): show it now, not a hop later.
            self._frame_due()
        else:
            self._flush_scheduled = True
            self.set_timer(delay, self._on_flush_timer, name="markdown-flush")

    def _on_flush_timer(self) -> None:
        self._flush_scheduled = False
        delay = self._next_flush_at - monotonic()
        if delay > MIN_TIMER and not self._finished:
            # The last frame turned out expensive after this timer was set: wait the extra time.
            self._flush_scheduled = True
            self.set_timer(delay, self._on_flush_timer, name="markdown-flush")
        elif self.frames_on_arrival and not self._finished and self._gap < FRAME_INTERVAL:
            # `_flush_scheduled` stays set: the appends until then only add text, and the next one
            # draws the frame.
            self._await_arrival = True
            self._flush_scheduled = True
            wait = max(MIN_TIMER, min(ARRIVAL_WAIT, 1.5 * self._gap))
            self.set_timer(wait, self._arrival_late, name="markdown-arrival")
        else:
            self._frame_due()

    def _arrival_late(self) -> None:
        if self._await_arrival:
            self._await_arrival = False
            self._frame_due()

    def _frame_due(self) -> None:
        if self._displayed():
            self._flush()
            return
        # A sample in a tab not shown, or thinking folded away: drawing it would cost layouts of the
        # whole screen for nothing (four parallel samples made every frame a layout). The text waits;
        # `_flush_scheduled` stays set so appends stay cheap and set no timer, until Show. Textual
        # sends Show only to widgets that enter its layout map, so a slow check backs it up.
        self._parked = True
        self._flush_scheduled = True
        self.set_timer(PARKED_CHECK_INTERVAL, self._check_parked, name="markdown-parked")

    def _check_parked(self) -> None:
        if not self._parked:
            return
        if self._displayed():
            self.on_show()
        else:
            self.set_timer(PARKED_CHECK_INTERVAL, self._check_parked, name="markdown-parked")

    def _displayed(self) -> bool:
        node: object = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent
        return True

    def on_show(self) -> None:
        if self._parked:
            self._parked = False
            self._flush_scheduled = False
            if self._pending:
                self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._await_arrival = False
        started = perf_counter()
        # Open-block renders since the last flush (Textual's layout asked for them); renders during
        # this flush are inside its own elapsed time, so the counter restarts at the end.
        earlier, self._render_cost = self._render_cost, 0.0
        text = make_visible("".join(self._pending))
        self._pending.clear()
        self._measure_rate(text)
        closed = self._splitter.feed(text) if text else []
        if self._finished:
            closed += self._splitter.close()
        self._unsettled += closed
        self._layout_asked = False
        with self.app.batch_update():
            self._update_open_block()
            if self._finished and self._chunks:
                # The gap below the last closed block was the open block's place; finished, there is
                # none, and the gap appeared under the answer as it ended (the stats line moved down).
                self._chunks[-1].add_class("-end")
        self.call_after_refresh(self._frame_done, self._raw_len, started, self._layout_asked)
        # Space flushes out when the recurring work (this flush plus re-rendering the open block after
        # the previous one) gets expensive, e.g. a huge open list or table re-rendered each frame.
        # Textual's layout and repaint cost per frame is bounded by the screen size and paced by
        # FRAME_INTERVAL; a closed block renders once (counted once if the live view rendered it).
        work, self._render_cost = perf_counter() - started + earlier, 0.0
        # Smoothed, so a one-off expensive flush (a big table closing) does not hold the next frames
        # back for a quarter of a second; work that recurs every frame still spaces them out.
        self._work = WORK_SMOOTHING * work + (1 - WORK_SMOOTHING) * self._work
        interval = min(MAX_FRAME_INTERVAL, max(FRAME_INTERVAL, self._work / CPU_BUDGET))
        if self._layout_foreseen(interval):
            # The next frame will lay the screen out, which takes several times a plain frame: start
            # it that much sooner, so its text reaches the screen no later than a plain frame's would.
            # (Tried: keeping the cadence, so an early frame does not pull the next ones forward:
            # 10% fewer frames at 5,000 tok/s, 2-3 points less CPU at 1,000, but p99 lag +5-9 ms.)
            interval = max(FRAME_INTERVAL / 4, interval - self._layout_cost)
        self._next_flush_at = monotonic() + interval

    def _layout_foreseen(self, interval: float) -> bool:
        """Will the text of the next `interval` overflow the reserved rows of the growing view?"""
        if self._finished:
            return False
        growing = self._fence_segment or self._live
        return growing.rows_free < self._rows_per_second * interval

    @property
    def reserve_rows(self) -> int:
        """Rows the open block's height grows by while streaming: about RESERVE_SECONDS of text."""
        if self._finished:
            return 1
        return max(1, min(MAX_RESERVE_ROWS, ceil(self._rows_per_second * RESERVE_SECONDS)))

    def _measure_rate(self, text: str) -> None:
        now = monotonic()
        elapsed = now - self._last_flush_at
        self._last_flush_at = now
        if elapsed <= 0 or elapsed > 1.0:
            return  # the first flush, or after a pause: no rate to learn from
        rows = max(text.count("\n"), len(text) / max(20, self.outer_size.width))
        self._rows_per_second = 0.3 * rows / elapsed + 0.7 * self._rows_per_second

    def _frame_done(self, length: int, started: float, laid_out: bool) -> None:
        """After the screen refresh that showed a flush: record progress, and what a layout costs."""
        if length > self._displayed_len:
            self._displayed_len = length
            self._displayed_at = monotonic()
        self._frames_shown += 1
        if laid_out:
            cost = min(perf_counter() - started, MAX_FRAME_INTERVAL)
            self._layout_cost = WORK_SMOOTHING * cost + (1 - WORK_SMOOTHING) * self._layout_cost
        if self._tidy_due:
            # After the frame, and not in its measured cost.
            self._tidy_due = False
            tidy()

    def _settle(self) -> None:
        """Move the closed blocks the live view still shows into the closed chunks (asks for a layout)."""
        if self._unsettled:
            self._layout_asked = True
            blocks, self._unsettled = self._unsettled, []
            self._add_closed(blocks, self._live.take_rendered(len(blocks)))

    def _add_closed(self, blocks: list[str], rendered: list[_Rendered] | None = None) -> None:
        rendered = rendered or []
        current = self._chunks[-1] if self._chunks else None
        fresh: list[_MarkdownChunk] = []
        start = 0  # index in `blocks` of the batch's first block
        batch_chars = 0
        for index, block in enumerate(blocks):
            if current is None or current.chars + batch_chars + len(block) > CHUNK_CHARS:
                if current is not None and start < index:
                    current.add_blocks(blocks[start:index], rendered[start:index])
                start, batch_chars = index, 0
                current = _MarkdownChunk(self)
                fresh.append(current)
                self._chunks.append(current)
            batch_chars += len(block)
        if current is not None and start < len(blocks):
            current.add_blocks(blocks[start:], rendered[start:])
        if fresh:
            self.mount_all(fresh, before=self._fence_lines or self._fence_segment or self._live)
        self._closed_chars += sum(map(len, blocks))
        if self._closed_chars >= TIDY_CHARS:
            self._closed_chars = 0
            self._tidy_due = True  # those blocks' lines stay as they are (see heap)

    def _update_open_block(self) -> None:
        splitter = self._splitter
        info = splitter.open_fence_info
        if info is None:
            if self._fence_segment is not None:
                self._close_fence_view()
                self._settle()  # the fence view's rows go: a layout anyway
            blocks = [*self._unsettled, splitter.open_text]
            if self._unsettled and (
                self._finished
                or sum(map(len, self._unsettled)) > UNSETTLED_CHARS
                or not self._live.set_blocks(blocks, grow=False)
            ):
                self._settle()
                blocks = [splitter.open_text]
            self._live.set_blocks(blocks)
            return
        self._settle()  # closed blocks go above the fence's view
        self._live.set_blocks([""])
        body = splitter.open_lines[1:]
        fresh: list[_FencePart] = []
        segment = self._fence_segment
        if segment is None:
            segment = self._fence_segment = _FenceSegment(Content(""), classes="-first -last")
            fresh.append(segment)
        while len(body) - self._fence_frozen_lines >= FENCE_SEGMENT_LINES:
            # The open segment is full: its lines join the finished part above it (one widget
            # however long the fence grows) and it goes on with the lines after them.
            end = self._fence_frozen_lines + FENCE_SEGMENT_LINES
            if self._fence_lines is None:
                self._fence_lines = _FenceLines()
                fresh.insert(0, self._fence_lines)
                segment.remove_class("-first")
            self._fence_lines.add_text("".join(body[self._fence_frozen_lines : end])[:-1])
            self._fence_frozen_lines = end
            self._layout_asked = True
            self._tidy_due = True  # those lines stay as they are (see heap)
        tail = "".join(body[self._fence_frozen_lines :]) + splitter.partial
        if segment.set_text(tail.removesuffix("\n"), self.reserve_rows) or fresh:
            self._layout_asked = True
        # When the segment fills, its lines move up and it starts again: a layout, so foresee it as one.
        lines_left = FENCE_SEGMENT_LINES - (len(body) - self._fence_frozen_lines)
        segment.rows_free = min(segment.rows_free, lines_left)
        if fresh:
            self.mount_all(fresh, before=segment if segment not in fresh else self._live)

    def _close_fence_view(self) -> None:
        self._layout_asked = True
        for part in (self._fence_lines, self._fence_segment):
            if part is not None:
                part.remove()
        self._fence_lines = self._fence_segment = None
        self._fence_frozen_lines = 0
