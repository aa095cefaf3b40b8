"""StatusLine: what gives way when the line is wider than the terminal."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from vllm_tui.widgets.status_line import StatusLine

READY = "ready in 27 s · context 2,048 · KV cache 1,048,576 tokens"
SAMPLING = "temp 0.6 · max 4,096 · r1-distill-qwen-7b"


class LineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusLine()


async def shown(width: int, **state: object) -> str:
    app = LineApp()
    async with app.run_test(size=(width, 3)) as pilot:
        line = app.query_one(StatusLine)
        for name, value in state.items():
            setattr(line, name, value)
        await pilot.pause()
        return str(line.render())


@pytest.mark.parametrize("width", [80, 100, 160])
async def test_when_ready_the_sampling_values_stay_whole(width: int) -> None:
    text = await shown(
        width, model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", state="ready", stage=READY, sampling=SAMPLING
    )
    assert len(text) <= width and "│  temp 0.6 · max 4,096" in text, text
    if width >= 160:
        assert "ready in 27 s" in text and text.endswith(SAMPLING)  # the stage shortened, not gone


async def test_while_generating_it_says_so() -> None:
    text = await shown(100, model="tiny", state="generating", stage=READY, sampling=SAMPLING)
    assert "generating" in text and "ready in" not in text
    # Esc pressed: said at once, before the engine's "stopped" comes back.
    text = await shown(100, model="tiny", state="stopping", stage=READY, sampling=SAMPLING)
    assert "stopping…" in text and "generating" not in text


async def test_while_loading_the_stage_and_its_bar_stay_whole() -> None:
    text = await shown(
        80,
        model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        state="loading",
        stage="Loading weights",
        fraction=0.5,
        sampling=SAMPLING,
    )
    assert len(text) <= 80 and "Loading weights  ██████░░░░░░  50%" in text, text


async def test_a_long_model_path_gives_way_before_ready_and_the_values() -> None:
    path = "/tmp/pytest-of-root/pytest-108/ckpt0/tiny-r1"
    text = await shown(80, model=path, state="ready", stage=READY, sampling="temp 0.6 · max 1,500")
    assert len(text) <= 80 and "ready in 27 s" in text and text.endswith("temp 0.6 · max 1,500"), text
