"""Chat templating: the model's own template, rendered to token ids without a doubled BOS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vllm_tui.engine.request import ChatRequest

THINK_OPEN = "<think>"


def conversation(request: ChatRequest) -> list[dict[str, str]]:
    """The messages sent to the model: thinking is never sent back, and an empty system prompt is
    left out (DeepSeek R1 is meant to run without one)."""
    messages: list[dict[str, str]] = []
    if request.sampling.system_prompt.strip():
        messages.append({"role": "system", "content": request.sampling.system_prompt})
    for turn in request.messages:
        if turn.role == "system":
            continue
        messages.append({"role": turn.role, "content": turn.content})
    return messages


def continues_answer(request: ChatRequest) -> bool:
    """A continue request whose partial message is past the thinking: everything generated is answer.
    (A partial still inside its thinking is sent as "<think>\n…" and continues as thinking.)"""
    last = request.messages[-1] if request.messages else None
    return (
        request.continue_final
        and last is not None
        and last.role == "assistant"
        and not last.content.lstrip().startswith(THINK_OPEN)
    )


def render_prompt_text(tokenizer: Any, request: ChatRequest, *, thinks: bool) -> str:
    messages = conversation(request)
    if request.continue_final and messages and messages[-1]["role"] == "assistant":
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False, continue_final_message=True
        )
        return str(text)
    text = str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    if thinks:
        # R1 templates end the generation prompt with "<think>\n" (so output starts inside the
        # thinking); older revisions of the distill templates lack it and the model may skip thinking.
        if text.endswith(THINK_OPEN):
            text += "\n"
        elif not text.endswith(THINK_OPEN + "\n"):
            text += THINK_OPEN + "\n"
    return text


def render_prompt_ids(tokenizer: Any, request: ChatRequest, *, thinks: bool) -> list[int]:
    """Token ids of the templated conversation. The template already writes the BOS token, so the
    text is encoded without special tokens — passing it as a plain prompt would add a second BOS."""
    text = render_prompt_text(tokenizer, request, thinks=thinks)
    return list(tokenizer.encode(text, add_special_tokens=False))
