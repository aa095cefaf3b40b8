"""What the user picked last, kept in the state dir: local model paths (for the model picker), the
folder chats were last exported to, the prompt typed but not sent, and the chat it was typed in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from vllm_tui.config import state_dir

_LIMIT = 20


def _path() -> Path:
    return state_dir() / "recent-models.json"


def _export_dir_path() -> Path:
    return state_dir() / "export-dir.txt"


def load_recent() -> list[str]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in data if isinstance(x, str)][:_LIMIT] if isinstance(data, list) else []


def remember(model: str) -> None:
    """Put a local path first in the list; Hugging Face ids are listed from the cache instead."""
    if not os.path.isdir(os.path.expanduser(model)):
        return
    items = [model] + [m for m in load_recent() if m != model]
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(items[:_LIMIT]), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a missing recent list costs nothing


def load_export_dir() -> Path:
    """Where the next export goes: the folder of the last one while it exists, else the current
    directory."""
    try:
        folder = Path(_export_dir_path().read_text(encoding="utf-8").strip())
    except OSError:
        return Path.cwd()
    return folder if folder.is_absolute() and folder.is_dir() else Path.cwd()


def remember_export_dir(folder: Path) -> None:
    path = _export_dir_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(folder.resolve()), encoding="utf-8")
    except OSError:
        pass  # the next export starts in the current directory again


def _draft_path() -> Path:
    return state_dir() / "draft.txt"


def load_draft() -> str:
    """The prompt left unsent when the app last ended (quit, crash, a dropped link), or ""."""
    try:
        return _draft_path().read_text(encoding="utf-8")
    except OSError:
        return ""


def _write_whole(path: Path, text: str) -> None:
    """Written to a temporary file, then renamed into place, so a crash mid-write leaves the previous
    contents, not half of these. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def save_draft(text: str) -> None:
    """Keep `text` as the unsent prompt ("" forgets it), written whole (`_write_whole`)."""
    path = _draft_path()
    try:
        if not text:
            path.unlink(missing_ok=True)
            return
        _write_whole(path, text)
    except OSError:
        pass  # a read-only state dir: the draft is simply not kept


def _open_chat_path() -> Path:
    return state_dir() / "open-chat.txt"


def load_open_chat() -> int | Literal["new"] | None:
    """The chat shown when the app last ended: its id, "new" for a new chat not yet sent, or None
    when nothing was recorded (then the most recent chat opens)."""
    try:
        text = _open_chat_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if text == "new":
        return "new"
    return int(text) if text.isdigit() else None


def save_open_chat(chat_id: int | None) -> None:
    """Record the chat shown (None: a new chat), so the next start opens it with its draft."""
    try:
        _write_whole(_open_chat_path(), "new" if chat_id is None else str(chat_id))
    except OSError:
        pass  # a read-only state dir: the next start opens the latest chat
