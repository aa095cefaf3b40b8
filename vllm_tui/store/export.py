"""Rendering a chat as a Markdown document, and choosing where the file goes."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from vllm_tui.store.models import Chat, StoredMessage, cut_off_label, thought_title


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def export_filename(chat: Chat) -> str:
    slug = re.sub(r"[^\w]+", "-", chat.display_title.lower(), flags=re.UNICODE).strip("-")[:40].strip("-")
    return f"chat-{chat.id}-{slug or 'untitled'}.md"


def resolve_export_path(chat: Chat, path: Path | str | None, base: Path | None = None) -> Path:
    """A directory (or nothing: `base`) gets a name made from the title; a file path is kept. A
    relative path is taken from `base` (the folder the export box showed), not from wherever the app
    was started. `base` defaults to the current directory."""
    folder = base if base is not None else Path.cwd()
    target = Path(path).expanduser() if path not in (None, "") else folder
    if not target.is_absolute():
        target = folder / target
    if target.is_dir() or str(path).endswith(("/", "\\")):
        return target / export_filename(chat)
    return target


def _stats_line(msg: StoredMessage) -> str:
    parts: list[str] = []
    if msg.prompt_tokens is not None:
        parts.append(f"{msg.prompt_tokens} prompt tokens")
    if msg.completion_tokens is not None:
        parts.append(f"{msg.completion_tokens} completion tokens")
    if msg.reasoning_tokens:
        seconds = f" in {msg.thinking_seconds:.1f} s" if msg.thinking_seconds is not None else ""
        parts.append(f"{msg.reasoning_tokens} reasoning{seconds}")
    if msg.tokens_per_second is not None:
        parts.append(f"{msg.tokens_per_second:.1f} tok/s")
    if msg.time_to_first_token is not None:
        parts.append(f"TTFT {msg.time_to_first_token:.2f} s")
    return " · ".join(parts)


def _answer_numbers(messages: Sequence[StoredMessage]) -> dict[int, tuple[int, int]]:
    """(i, n) for each answer that is one of n to its prompt (parallel samples, or answers regenerate
    kept side by side), as the chat shows them in tabs: numbered by place, not by stored index, which
    a kept answer keeps when the others are deleted."""
    numbers: dict[int, tuple[int, int]] = {}
    run: list[StoredMessage] = []
    for msg in [*messages, None]:
        if msg is not None and msg.role == "assistant":
            run.append(msg)
            continue
        if len(run) > 1:
            numbers.update({m.id: (i + 1, len(run)) for i, m in enumerate(run)})
        run = []
    return numbers


def render_markdown(chat: Chat, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# {chat.display_title}", "", f"*Exported from vllm-tui on {_when(time.time())}*", ""]
    numbers = _answer_numbers(messages)
    for msg in messages:
        if msg.role == "user":
            lines += [f"## You · {_when(msg.created)}", ""]
        else:
            who = "Assistant"
            if msg.id in numbers:
                who += " (answer {} of {})".format(*numbers[msg.id])
            meta = " · ".join(p for p in (msg.model, _when(msg.created)) if p)
            lines += [f"## {who} · {meta}", ""]
            if msg.thinking.strip():
                # Named as on screen once the answer began; "Thinking" where it never did.
                summary = (
                    thought_title(msg.reasoning_tokens, msg.thinking_seconds)
                    if msg.reasoning_tokens and msg.content.strip()
                    else "Thinking"
                )
                lines += [
                    f"<details><summary>{summary}</summary>",
                    "",
                    msg.thinking.strip("\n"),
                    "",
                    "</details>",
                    "",
                ]
        lines += [msg.content.strip("\n"), ""]
        if msg.role == "assistant":
            notes: list[str] = []
            if msg.state == "stopped" and msg.finish_reason == "length":
                notes.append(f"cut off: {cut_off_label(msg.completion_tokens or 0, msg.max_tokens)}")
            elif msg.state != "complete":
                notes.append(f"state: {msg.state}")
            if msg.error:
                notes.append(f"error: {msg.error}")
            stats = _stats_line(msg)
            if stats:
                notes.append(stats)
            if notes:
                lines += [f"*{' · '.join(notes)}*", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
