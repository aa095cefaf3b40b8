"""StreamingMarkdown: block splitting, untrusted text, and what ends up on screen."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from time import monotonic
from unittest import mock

import pytest
from markdown_it import MarkdownIt
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import TabbedContent, TabPane

from bench.synthetic import code_tokens, prose_tokens
from vllm_tui.widgets import markdown_stream
from vllm_tui.widgets.markdown_stream import (
    FENCE_SEGMENT_LINES,
    FRAME_INTERVAL,
    BlockSplitter,
    StreamingMarkdown,
    make_visible,
)

TRICKY = """# Title
Intro line right under the heading.
```python
def f():

    return 1  # blank line above stays inside the fence
```
Text after the fence.

````markdown
```inner fence is just text
````

~~~
tilde fence with ``` inside
~~~~

1. First item

   continued paragraph of item one

2. Second item
   - nested bullet

     nested continuation
   - another
     ```sh
     echo "fence inside a list"

     echo done
     ```
3. Third item

| a | b |
|---|---|
| 1 | 2 |
| 3 | 4 |

> quote line one
still the quote (lazy)

- tight
- list
***
Final paragraph with **bold** and `code`.
"""


def split_all(text: str, cuts: list[int]) -> tuple[list[str], str]:
    splitter = BlockSplitter()
    blocks: list[str] = []
    last = 0
    for cut in [*cuts, len(text)]:
        blocks += splitter.feed(text[last:cut])
        last = cut
    return blocks, splitter.open_text


def top_level_tokens(source: str) -> list[tuple[str, str, str]]:
    parser = MarkdownIt().enable("strikethrough").enable("table")
    return [(t.type, t.tag, t.content) for t in parser.parse(source)]


# -- the block splitter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_closed"),
    [
        ("para one\n\npara two\n", ["para one\n\n"]),
        ("```\ncode\n\nmore\n```\nafter\n", ["```\ncode\n\nmore\n```\n"]),
        (
            "~~~~ python extra\nx\n~~~\nstill code\n~~~~~\n",
            ["~~~~ python extra\nx\n~~~\nstill code\n~~~~~\n"],
        ),
        ("````\n```\n````\n", ["````\n```\n````\n"]),
        ("text\n```js\nlet a\n```\n", ["text\n", "```js\nlet a\n```\n"]),
        ("``` not `a fence\nstill paragraph\n\nnext\n", ["``` not `a fence\nstill paragraph\n\n"]),
        ("## Heading\nparagraph\n\n", ["## Heading\n", "paragraph\n\n"]),
        ("- a\n\n- b\n\n  more b\n\nafter\n", ["- a\n\n- b\n\n  more b\n\n"]),
        ("1. a\n   ```\n   x\n\n   ```\n2. b\n\nend\n", ["1. a\n   ```\n   x\n\n   ```\n2. b\n\n"]),
        ("| a |\n|---|\n| 1 |\n\nz\n", ["| a |\n|---|\n| 1 |\n\n"]),
        ("    indented code\n\n    still code\n\nz\n", ["    indented code\n\n    still code\n\n"]),
    ],
)
def test_splitter_closes_blocks_where_markdown_does(text: str, expected_closed: list[str]) -> None:
    blocks, rest = split_all(text, [])
    assert blocks == expected_closed
    assert "".join(blocks) + rest == text


def test_open_fence_is_reported_until_it_closes() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("Intro\n\n```python  title\nprint(1)\n") == ["Intro\n\n"]
    assert splitter.open_fence_info == "python  title"
    assert splitter.feed("``") == []
    assert splitter.open_fence_info == "python  title"
    assert splitter.feed("`\n") == ["```python  title\nprint(1)\n```\n"]
    assert splitter.open_fence_info is None
    splitter.feed("- item\n  ```\n  code\n")
    assert splitter.open_fence_info is None, "a fence inside a list item is part of the list block"


def test_close_returns_the_rest() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("a\n\n```\nunterminated") == ["a\n\n"]
    assert splitter.close() == ["```\nunterminated"]
    assert splitter.open_text == ""


@pytest.mark.parametrize(
    "document",
    [
        TRICKY,
        "".join(prose_tokens(4000, seed=11)),
        "".join(code_tokens(1500, seed=12)),
    ],
    ids=["tricky", "synthetic-prose", "synthetic-code"],
)
def test_fragment_sizes_do_not_change_blocks(document: str) -> None:
    reference, reference_rest = split_all(document, [])
    assert "".join(reference) + reference_rest == document
    rng = random.Random(7)
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(document)), rng.randint(1, min(400, len(document) - 1))))
        assert split_all(document, cuts) == (reference, reference_rest)
    one_char = split_all(document, list(range(1, len(document))))
    assert one_char == (reference, reference_rest)


@pytest.mark.parametrize("seed", range(5))
def test_blocks_parse_like_the_whole_document(seed: int) -> None:
    # Each block is rendered on its own, so parsing the blocks one by one must give the same
    # Markdown structure as parsing the whole answer (no list, fence or table cut in two).
    document = TRICKY if seed == 0 else "".join(prose_tokens(3000, seed=seed))
    splitter = BlockSplitter()
    blocks = splitter.feed(document) + splitter.close()
    assert len(blocks) > 5
    pieces = [token for block in blocks for token in top_level_tokens(block)]
    assert pieces == top_level_tokens(document)


def test_make_visible_neutralises_terminal_controls() -> None:
    text = "a\x1b[2J\x1b]0;pwned\x07b\x9b31mc\x7fd\r\ne\tf"
    shown = make_visible(text)
    assert shown == "a\u241b[2J\u241b]0;pwned\u2407b\ufffd31mc\u2421d\ne\tf"
    assert make_visible("plain [bold]text[/]") == "plain [bold]text[/]"


# -- the widget --------------------------------------------------------------------------------------


class StreamApp(App[None]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.kwargs = kwargs

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield StreamingMarkdown(**self.kwargs)  # type: ignore[arg-type]


def rendered_text(widget: StreamingMarkdown) -> str:
    lines: list[str] = []
    for child in widget.children:
        width, height = child.outer_size  # the padding's rows too (`size` leaves out the last rows)
        if child.display and height:
            lines += [strip.text for strip in child.render_lines(Region(0, 0, width, height))]
    return "\n".join(lines)


async def wait_until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await pilot.pause(0.01)


async def feed(widget: StreamingMarkdown, text: str, seed: int = 0) -> None:
    rng = random.Random(seed)
    i = 0
    while i < len(text):
        step = rng.randint(1, 6)
        widget.append(text[i : i + step])
        i += step
        await asyncio.sleep(0)


async def test_finished_answer_shows_everything() -> None:
    app = StreamApp()
    async with app.run_test(size=(100, 300)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        await feed(widget, TRICKY)
        widget.finish()
        await wait_until(pilot, lambda: widget.displayed_length == len(TRICKY))
        await pilot.pause()
        shown = rendered_text(widget)
        for phrase in (
            "Title",
            "Intro line right under the heading.",
            "blank line above stays inside the fence",
            "```inner fence is just text",
            "tilde fence with ``` inside",
            "continued paragraph of item one",
            'echo "fence inside a list"',
            "still the quote (lazy)",
            "Final paragraph with bold and code.",
        ):
            assert phrase in shown, phrase
        assert widget.text == TRICKY
        assert widget.finished


async def test_open_code_fence_streams_as_plain_text_then_settles() -> None:
    app = StreamApp()
    code = "".join(f"value_{n} = compute({n})  # line {n}\n" for n in range(120))
    async with app.run_test(size=(100, 60)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        await feed(widget, "Here is the code:\n```python\n" + code)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        streaming = rendered_text(widget)
        assert "value_0 = compute(0)  # line 0" in streaming
        assert "value_119 = compute(119)  # line 119" in streaming
        parts = [type(child).__name__ for child in widget.children if "Fence" in type(child).__name__]
        assert parts == ["_FenceLines", "_FenceSegment"], "full segments: one widget"
        rows = streaming.splitlines()
        first = next(y for y, row in enumerate(rows) if "line 0" in row)
        assert [row.strip() for row in rows[first : first + 120]] == code.splitlines(), "no row lost or added"
        widget.append("```\n\nDone.")
        widget.finish()
        await pilot.pause()
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert not [child for child in widget.children if "Fence" in type(child).__name__]
        settled = rendered_text(widget)
        assert "value_119 = compute(119)" in settled
        assert "Done." in settled


async def test_model_text_is_shown_literally() -> None:
    hostile = (
        "Try [bold red]this[/] and [@click=app.quit]click[/] or $primary.\n\n"
        "Escape \x1b[31mred\x1b[0m, title \x1b]0;owned\x07, csi \x9b2J.\n\n"
        "```\n[reverse]in code[/] \x1b[5m\n```\n"
    )
    app = StreamApp()
    async with app.run_test(size=(100, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        await feed(widget, hostile, seed=3)
        widget.finish()
        await wait_until(pilot, lambda: widget.displayed_length == len(hostile))
        await pilot.pause()
        shown = rendered_text(widget)
        assert "[bold red]this[/]" in shown
        assert "[@click=app.quit]click[/]" in shown
        assert "$primary" in shown
        assert "[reverse]in code[/]" in shown
        assert "\u241b[31mred" in shown
        for child in widget.children:
            width, height = child.size
            for strip in child.render_lines(Region(0, 0, width, height)):
                for segment in strip:
                    assert not any(ch in segment.text for ch in "\x1b\x07\x9b"), segment
        assert app.is_running, "markup in model text must never run actions"


async def test_appends_are_coalesced_into_frames() -> None:
    app = StreamApp()
    async with app.run_test(size=(80, 30)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        frames = count_updates(widget)
        tokens = prose_tokens(2000, seed=5)
        for token in tokens:  # no await: one event-loop turn, like a burst of engine deltas
            widget.append(token)
        assert frames[0] <= 1
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert frames[0] <= 2
        assert widget.text == "".join(tokens)


def frame_falls_due(widget: StreamingMarkdown, text: str, gap: float) -> None:
    """`text` arrived since the last frame, tokens come every `gap` seconds, and the frame timer fires."""
    widget._gap = gap
    widget._raw.append(text)
    widget._raw_len += len(text)
    widget._pending.append(text)
    widget._flush_scheduled, widget._next_flush_at = True, 0.0
    widget._on_flush_timer()


async def test_a_frame_due_while_tokens_outpace_frames_is_drawn_on_the_next_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a CPU engine the UI shares a core with vLLM's engine core: a frame drawn as a token arrives
    runs while the worker computes the next step, not at the step's end (docs/benchmarks.md §2)."""
    monkeypatch.setattr(StreamingMarkdown, "frames_on_arrival", True)
    app = StreamApp()
    async with app.run_test(size=(80, 20)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        widget.append("first ")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        timers: list[tuple[float, Callable[[], None]]] = []
        monkeypatch.setattr(widget, "set_timer", lambda delay, call, **_: timers.append((delay, call)))

        # Tokens every 10 ms, frames every 25: the due frame waits for the next token ...
        frame_falls_due(widget, "second ", gap=0.010)
        await pilot.pause()
        assert widget.displayed_length == len("first ")
        assert timers[-1][0] == pytest.approx(0.015)
        # ... and the token that comes draws it, with the text before it.
        widget.append("third ")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert rendered_text(widget).split() == ["first", "second", "third"]
        # The wait's own timer, firing later, draws nothing more.
        frames = widget.frames_shown
        timers[-1][1]()
        await pilot.pause()
        assert widget.frames_shown == frames

        # A stream that pauses: the waiting frame is drawn when its wait runs out.
        frame_falls_due(widget, "fourth ", gap=0.010)
        await pilot.pause()
        assert widget.displayed_length < len(widget.text)
        timers[-1][1]()
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))

        # Tokens slower than frames: a frame is drawn when it falls due.
        frame_falls_due(widget, "fifth ", gap=0.100)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert rendered_text(widget).split() == ["first", "second", "third", "fourth", "fifth"]


async def test_frames_keep_their_timer_where_the_engine_does_not_share_the_apps_cores() -> None:
    app = StreamApp()
    async with app.run_test(size=(80, 20)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        assert not widget.frames_on_arrival  # a GPU or remote engine, or none yet
        widget.append("first ")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        frame_falls_due(widget, "second ", gap=0.010)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))


async def test_a_finished_stream_ends_with_its_last_line() -> None:
    """The gap under the closed blocks is the open block's place while text streams; once finished
    there is none, and a blank row left there pushed what follows down as the answer ended."""
    app = StreamApp()
    async with app.run_test(size=(40, 20)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        widget.append("First paragraph.\n\nSecond paragraph.")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        widget.finish()
        await pilot.pause(0.1)
        assert [line.rstrip() for line in rendered_text(widget).splitlines()] == [
            "First paragraph.",
            "",
            "Second paragraph.",
        ]
        assert widget.outer_size.height == 3


class TabsApp(App[None]):
    def compose(self) -> ComposeResult:
        with TabbedContent():
            for n in range(2):
                with TabPane(f"Sample {n}", id=f"pane-{n}"), VerticalScroll():
                    yield StreamingMarkdown(id=f"view-{n}")


async def test_a_hidden_view_draws_nothing_until_shown_and_loses_nothing() -> None:
    """Four parallel samples stream into tabs, one shown: the hidden ones' frames would lay the
    screen out for nothing (every frame was a layout). Their text waits and appears when shown."""
    app = TabsApp()
    async with app.run_test(size=(80, 30)) as pilot:
        shown = app.query_one("#view-0", StreamingMarkdown)
        hidden = app.query_one("#view-1", StreamingMarkdown)
        layouts = count_layouts(hidden._live)
        updates = count_updates(hidden)
        tokens = prose_tokens(3000, seed=9)
        for i, token in enumerate(tokens):
            shown.append(token)
            hidden.append(token)
            if i % 20 == 0:
                await asyncio.sleep(0.005)
        await wait_until(pilot, lambda: shown.displayed_length == len(shown.text))
        assert updates[0] == 0 and layouts[0] == 0, "a hidden view does no widget work"
        assert hidden.displayed_length == 0
        assert hidden.text == "".join(tokens)
        app.query_one(TabbedContent).active = "pane-1"
        await wait_until(pilot, lambda: hidden.displayed_length == len(hidden.text))
        assert tokens[-1].strip() in rendered_text(hidden)
        hidden.append(" and more")
        await wait_until(pilot, lambda: hidden.displayed_length == len(hidden.text))
        assert hidden.text.endswith(" and more")


async def test_closed_blocks_settle_into_few_widgets() -> None:
    app = StreamApp()
    async with app.run_test(size=(100, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        text = "".join(prose_tokens(6000, seed=9))
        widget.append(text)
        widget.finish()
        await wait_until(pilot, lambda: widget.displayed_length == len(text))
        assert len(text) > 15_000
        # One widget for all closed blocks (CHUNK_CHARS) instead of several per Markdown block.
        assert len(widget.children) <= 3
        assert sum(1 for _ in widget.walk_children()) == len(widget.children)


class TwoViewsApp(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield StreamingMarkdown(id="streamed")
            yield StreamingMarkdown(id="whole")


async def test_a_chunk_grown_block_by_block_draws_what_one_drawn_at_once_would() -> None:
    """A closed chunk's lines grow by each new block's (not joined again): the result must be the
    lines of all its blocks drawn together, and again so after the width changes."""
    app = TwoViewsApp()
    async with app.run_test(size=(90, 40)) as pilot:
        streamed = app.query_one("#streamed", StreamingMarkdown)
        whole = app.query_one("#whole", StreamingMarkdown)
        text = "".join(prose_tokens(4000, seed=4)) + "\n\n" + TRICKY
        for start in range(0, len(text), 700):
            streamed.append(text[start : start + 700])
            await pilot.pause(0.03)
        streamed.finish()
        whole.append(text)
        whole.finish()
        await wait_until(pilot, lambda: streamed.displayed_length == whole.displayed_length == len(text))
        await pilot.pause(0.05)
        assert len(streamed._chunks[0].blocks) > 20, "many blocks added one flush after another"
        assert rendered_text(streamed) == rendered_text(whole)
        await pilot.resize_terminal(70, 40)
        await pilot.pause(0.2)
        narrow = rendered_text(streamed)
        assert narrow == rendered_text(whole) and max(map(len, narrow.splitlines())) <= 70


async def _stream_settling(check: bool) -> tuple[int, int]:
    """Streams prose whose blocks settle into the closed chunk; returns the chunk rows Textual's styles
    cache drew (outside the checks) and the chunk's height. With `check`, every frame compares each
    chunk's rows (cached ones included) with a fresh drawing."""
    app = StreamApp()
    async with app.run_test(size=(90, 40)) as pilot:
        app.query_one(VerticalScroll).anchor()
        widget = app.query_one(StreamingMarkdown)
        drawn = 0
        checking = False
        render_line = StylesCache.render_line

        def counted(cache: StylesCache, *args: object) -> Strip:
            nonlocal drawn
            if not checking and getattr(args[7], "__self__", None) in widget._chunks:  # render_content_line
                drawn += 1
            return render_line(cache, *args)  # type: ignore[arg-type]

        text = "".join(prose_tokens(4000, seed=9))
        with mock.patch.object(StylesCache, "render_line", counted):
            for start in range(0, len(text), 500):
                widget.append(text[start : start + 500])
                await pilot.pause(0.03)
                checking = True
                for chunk in widget._chunks if check else ():
                    region = Region(0, 0, *chunk.outer_size)
                    assert chunk.render_lines(region) == StylesCache().render_widget(chunk, region)
                checking = False
        chunk = widget._chunks[0]
        assert len(widget._chunks) == 1 and len(chunk.blocks) > 20
        return drawn, chunk.outer_size.height


async def test_a_chunk_grown_at_its_end_draws_what_a_fresh_drawing_would() -> None:
    await _stream_settling(check=True)


async def test_a_chunk_grown_at_its_end_does_not_draw_its_rows_again() -> None:
    """Textual redraws every row of a widget whose height changed: the visible rows of the closed chunk
    at each of the 20+ settles. Its rows depend on the width alone, so each is drawn about once (the
    view is 40 rows)."""
    drawn, height = await _stream_settling(check=False)
    assert height > 100
    assert drawn <= height + 40  # 256 for 230 rows here; 360 when Textual redrew them at each settle


async def test_dim_variant_and_initial_text() -> None:
    app = StreamApp(markdown="*thinking* about it", dim=True)
    async with app.run_test(size=(60, 10)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        assert widget.has_class("dim")
        await wait_until(pilot, lambda: widget.displayed_length == len("*thinking* about it"))
        assert "thinking about it" in rendered_text(widget)
        with pytest.raises(RuntimeError):
            widget.finish()
            widget.append("more")


def count_updates(widget: StreamingMarkdown) -> list[int]:
    """Counts the view's frames that reached its widgets (each flush updates the open block once)."""
    counter = [0]
    original = widget._update_open_block

    def counting() -> None:
        counter[0] += 1
        original()

    widget._update_open_block = counting  # type: ignore[method-assign]
    return counter


def count_layouts(widget: object) -> list[int]:
    counter = [0]
    original = widget.refresh  # type: ignore[attr-defined]

    def counting(*regions: Region, **kwargs: bool) -> object:
        counter[0] += bool(kwargs.get("layout"))
        return original(*regions, **kwargs)

    widget.refresh = counting  # type: ignore[attr-defined]
    return counter


def count_screen_layouts(screen: object) -> list[int]:
    """Counts the screen's layout passes (each walks every widget of the screen)."""
    counter = [0]
    original = screen._refresh_layout  # type: ignore[attr-defined]

    def counting(*args: object, **kwargs: object) -> None:
        counter[0] += 1
        original(*args, **kwargs)

    screen._refresh_layout = counting  # type: ignore[attr-defined]
    return counter


async def test_fast_stream_grows_in_reserved_steps_with_few_layouts() -> None:
    app = StreamApp()
    async with app.run_test(size=(40, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        live = widget._live
        layouts = count_layouts(live)
        paragraph = "".join(f"word{n} " for n in range(400))  # one paragraph, ~70 rows at width 40
        for i in range(0, len(paragraph), 40):  # ~8,000 characters a second
            widget.append(paragraph[i : i + 40])
            await asyncio.sleep(0.005)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        rows = len(live._get_lines(live.size.width))
        assert rows >= 60
        assert widget.reserve_rows > 4, "a fast stream reserves several rows at a time"
        assert layouts[0] <= rows // 3, "a layout only when the paragraph outgrew its reserved rows"
        assert "word399" in rendered_text(widget)
        widget.finish()
        await pilot.pause(0.1)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert sum(child.size.height for child in widget.children) == rows, "finished: no blank rows left"


async def test_slow_stream_reserves_no_blank_rows() -> None:
    app = StreamApp()
    async with app.run_test(size=(40, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        live = widget._live
        for n in range(12):
            widget.append(f"word{n} ")
            await pilot.pause(0.06)
            await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert widget.reserve_rows == 1
        await pilot.pause(0.05)
        assert live.size.height == len(live._get_lines(live.size.width))
        assert "word11" in rendered_text(widget)


async def test_open_fence_segment_grows_in_reserved_steps() -> None:
    app = StreamApp()
    async with app.run_test(size=(60, 60)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        await feed(widget, "```\n" + "".join(f"line {n}\n" for n in range(40)))
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        await pilot.pause(0.05)
        segment = widget._fence_segment
        assert segment is not None
        assert segment.content_size.height % segment.reserve == 0
        assert "line 39" in rendered_text(widget)
        widget.append("```\n")
        widget.finish()
        await wait_until(pilot, lambda: widget._fence_segment is None)
        await pilot.pause()
        assert "line 39" in rendered_text(widget)


async def test_settled_blocks_keep_the_lines_the_live_view_drew() -> None:
    app = StreamApp()
    async with app.run_test(size=(60, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        widget.append("A first paragraph with **bold**")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        widget._live.set_reserve(12)  # as on a fast stream: the next blocks fit without a layout
        await pilot.pause(0.1)
        table = "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        widget.append(" text.\n\n" + table + "still open")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        assert len(widget._unsettled) == 2 and not widget._chunks, "the closed blocks are in the live view"
        drawn = [lines for (_key, lines) in widget._live._rendered[:2]]
        widget._settle()  # as the next layout would (the chunk is laid out, and so drawn, later)
        chunk = widget._chunks[0]
        renders: list[str] = []
        draw = chunk._render_block

        def counting(source: str, width: int, dim: bool) -> list[Strip]:
            renders.append(source)
            return draw(source, width, dim)

        chunk._render_block = counting  # type: ignore[method-assign]
        await pilot.pause(0.1)
        assert chunk.size.height > 0
        assert renders == [], "settling must not render the paragraph and the table a second time"
        assert [lines for (_key, lines) in chunk._rendered] == drawn
        shown = rendered_text(widget)
        assert "still open" in shown and "bold" in shown


async def test_a_frame_that_will_lay_out_starts_sooner() -> None:
    app = StreamApp()
    async with app.run_test(size=(40, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        widget.append("word " * 30)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        await pilot.pause(0.1)
        # As measured on a fast stream: rows fill quickly and a layout frame costs ~15 ms.
        widget._rows_per_second, widget._layout_cost = 60.0, 0.015
        widget._live.rows_free = 0
        widget._flush()
        assert widget._next_flush_at - monotonic() < FRAME_INTERVAL - 0.01
        widget._live.rows_free = 12  # room for far more than a frame's text: no hurry
        widget._flush()
        assert widget._next_flush_at - monotonic() > FRAME_INTERVAL - 0.005


async def test_closed_blocks_or_a_full_fence_segment_tidy_the_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    tidied: list[int] = []
    monkeypatch.setattr(markdown_stream, "tidy", lambda: tidied.append(len(widget.text)))
    app = StreamApp()
    async with app.run_test(size=(100, 40)) as pilot:
        widget = app.query_one(StreamingMarkdown)
        await feed(widget, "A short paragraph.\n\n" * 20)
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        await pilot.pause(0.05)
        assert tidied == [], "nothing long-lived yet"
        prose = "".join(prose_tokens(6000))
        assert len(prose) > 2 * markdown_stream.TIDY_CHARS
        await feed(widget, prose + "\n\n")
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        await pilot.pause(0.05)
        assert tidied, "TIDY_CHARS of blocks closed"
        before = len(tidied)
        await feed(widget, "```\n" + "".join(f"line {n}\n" for n in range(2 * FENCE_SEGMENT_LINES)))
        await wait_until(pilot, lambda: widget.displayed_length == len(widget.text))
        await pilot.pause(0.05)
        assert len(tidied) > before, "a fence segment filled"


def test_shared_parser_markdown_renders_as_rich_builds_it() -> None:
    """`_Markdown` skips Rich's per-instance parser; it must hold what Rich's own __init__ sets and
    render the same (a Rich upgrade adding an attribute fails here, not on screen)."""
    from rich.console import Console
    from rich.markdown import Markdown as RichMarkdown

    from vllm_tui.widgets.markdown_stream import _Markdown

    ours = _Markdown(TRICKY, code_theme="ansi_dark")
    theirs = RichMarkdown(TRICKY, code_theme="ansi_dark", hyperlinks=False)
    assert set(vars(ours)) == set(vars(theirs))
    assert [t.type for t in ours.parsed] == [t.type for t in theirs.parsed]

    def text(markdown: RichMarkdown) -> str:
        with open(os.devnull, "w") as sink:
            console = Console(width=80, record=True, file=sink)
            console.print(markdown)
        return console.export_text(styles=True)

    plain = RichMarkdown(TRICKY, code_theme="ansi_dark", hyperlinks=False)
    plain.elements = _Markdown.elements
    assert text(ours) == text(plain)


def test_warm_up_builds_the_common_lexers_once() -> None:
    from vllm_tui.widgets.markdown_stream import COMMON_FENCE_LANGUAGES, _lexer, warm_up

    warm_up()
    before = _lexer.cache_info()
    warm_up()  # a second time: every lexer comes from the cache
    after = _lexer.cache_info()
    assert after.misses == before.misses
    assert after.hits - before.hits == len(COMMON_FENCE_LANGUAGES)
    assert all(_lexer(name) != "text" for name in COMMON_FENCE_LANGUAGES), "each is a real lexer"
