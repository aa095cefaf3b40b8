"""PromptInput: what enter sends, and what stays in the box afterwards."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App, ComposeResult

from vllm_tui.widgets.prompt_input import PromptInput


class PromptApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[PromptInput.Submitted] = []

    def compose(self) -> ComposeResult:
        yield PromptInput()

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        self.sent.append(event)


async def test_take_keeps_what_was_typed_after_enter() -> None:
    app = PromptApp()
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptInput)
        await pilot.press(*"first", "enter")
        await pilot.pause()
        (sent,) = app.sent
        assert sent.text == sent.typed == "first"
        prompt.insert("second")  # arrived before the screen handled the submission
        prompt.take(sent.typed)
        assert prompt.text == "second"
        prompt.take("second")
        assert prompt.text == ""


async def test_take_keeps_a_large_paste_typed_after_enter() -> None:
    app = PromptApp()
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptInput)
        await pilot.press(*"ask", "enter")
        await pilot.pause()
        big = "line\n" * (PromptInput.LARGE_PASTE // 5 + 1)
        prompt.post_message(events.Paste(big))
        await pilot.pause()
        assert prompt.text.startswith("ask⟦paste 1")
        prompt.take(app.sent[0].typed)
        assert prompt.text.startswith("⟦paste 1") and prompt.full_text == big


class ChatStyledPrompt(App[None]):
    CSS_PATH = str(Path(__file__).parents[2] / "vllm_tui" / "screens" / "chat.tcss")

    def compose(self) -> ComposeResult:
        yield PromptInput(id="prompt")


async def test_the_prompt_grows_with_its_lines_up_to_ten() -> None:
    app = ChatStyledPrompt()
    async with app.run_test(size=(80, 40)) as pilot:
        prompt = app.query_one(PromptInput)
        await pilot.pause()
        assert prompt.outer_size.height == 5  # three lines and the border
        prompt.insert("\n".join(f"line {i}" for i in range(6)))
        await pilot.pause()
        assert prompt.outer_size.height == 8
        prompt.insert("\n" + "\n".join(f"more {i}" for i in range(20)))
        await pilot.pause()
        assert prompt.outer_size.height == 12  # then it scrolls


async def test_editing_keys_in_one_burst_act_in_the_order_they_came() -> None:
    """As bindings, backspace, the arrows and the rest ran only after the characters that followed
    them in the same burst (a quick typist over SSH, tmux send-keys)."""
    app = PromptApp()
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptInput)
        prompt.focus()
        bursts = {
            ("a", "b", "backspace", "c", "d"): "acd",
            ("h", "i", "left", "X"): "hXi",
            ("x", "y", "backspace", "backspace", "z"): "z",
            ("a", "b", "shift+left", "c"): "ac",
            ("o", "n", "e", "enter", "t", "w", "o"): "two",
        }
        for keys, expected in bursts.items():
            prompt.clear()
            await pilot.pause()
            for key in keys:  # posted at once: none is handled before the next arrives
                app.post_message(events.Key(key, key if len(key) == 1 else None))
            # Up to 5 s for the keys to be handled (a slow machine takes longer; the order does not
            # depend on it): what the prompt keeps once enter's text is taken out.
            for _ in range(100):
                sent = app.sent[-1].typed if "enter" in keys and app.sent else ""
                if ("enter" not in keys or sent) and prompt.text.removeprefix(sent) == expected:
                    break
                await pilot.pause(0.05)
            if "enter" in keys:  # as the chat screen does with what enter sent
                prompt.take(app.sent[-1].typed)
            assert prompt.text == expected, keys
