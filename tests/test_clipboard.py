"""Clipboard: OSC 52 and tmux passthrough encoding, the file fallback, code-block extraction."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from vllm_tui.clipboard import CopyResult, last_code_block, osc52, save_to_file
from vllm_tui.tmux import inside_tmux, passthrough


def test_osc52_carries_utf8_base64() -> None:
    seq = osc52("héllo ✓")
    assert seq.startswith("\x1b]52;c;") and seq.endswith("\a")
    assert base64.b64decode(seq[7:-1]).decode("utf-8") == "héllo ✓"


def test_tmux_passthrough_doubles_inner_escapes() -> None:
    wrapped = passthrough(osc52("x"))
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]52;c;") and wrapped.endswith("\x1b\\")
    # Every ESC inside is doubled, so tmux hands the original sequence on.
    inner = wrapped[len("\x1bPtmux;") : -2]
    assert inner.replace("\x1b\x1b", "\x1b") == osc52("x")


def test_inside_tmux_reads_the_env() -> None:
    assert inside_tmux({"TMUX": "/tmp/tmux-0/default,1,0"})
    assert not inside_tmux({})


def test_file_fallback_is_private(tmp_path: Path) -> None:
    path = save_to_file("secret answer", tmp_path / "sub" / "clip.txt")
    assert path.read_text() == "secret answer"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "also in" in CopyResult(13, ("OSC 52",), path).describe()


def test_last_code_block() -> None:
    md = "text\n```python\nprint(1)\n```\nmore\n~~~\nsecond\nblock\n~~~\nend"
    assert last_code_block(md) == "second\nblock"
    assert last_code_block("no code here") is None
    # An answer cut off inside a block: the open block counts.
    assert last_code_block("```sh\nls -l\nwc") == "ls -l\nwc"
    assert last_code_block("````\n```\ninner\n```\n````") == "```\ninner\n```"
