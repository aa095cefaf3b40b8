"""The real app in a real tmux session (TERM=screen inside, as tmux sets it): ask, stop with esc,
regenerate with alt+r, and copy with alt+y — the text lands in tmux's paste buffer and the file
fallback. Keys go in through `tmux send-keys`, exactly as a user's terminal would send them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parent.parent


class Tmux:
    def __init__(self, socket: Path, session: str, log: Path | None = None) -> None:
        self.base = ["tmux", "-S", str(socket)]
        self.session = session
        self.log = log
        """The app's log: its last lines go with a failure (what the app and vLLM said of it)."""

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 30) -> str:
        out = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, timeout=timeout, check=True
        )
        return out.stdout.decode("utf-8", "replace")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def screen(self, timeout: float = 30) -> str:
        return self.run("capture-pane", "-p", "-t", self.session, timeout=timeout)

    def wait(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text, stalls = "", 0
        while True:
            try:
                text = self.screen(timeout=5)
            except subprocess.TimeoutExpired:
                # On the shared 2-core CI machine one capture once got no answer for 10 s (here they
                # take under 10 ms; the cause was not found): a stall is not a wrong screen, so look
                # again until the deadline (the failure says how many stalled).
                stalls += 1
            else:
                if predicate(text):
                    return text
            if time.monotonic() > deadline:
                stalled = f" ({stalls} captures got no answer within 5 s)" if stalls else ""
                said = self.log_tail()
                raise AssertionError(f"timed out waiting for {what}{stalled}; screen:\n{text}{said}")
            time.sleep(0.3)

    def log_tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return ""
        said = [
            line
            for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines()
            if "vllm_tui" in line or "chat.py" in line or "frontend.py" in line or "abort" in line
        ]
        return "\nthe app's log (its own lines and aborts):\n" + "\n".join(said[-lines:])


@pytest.fixture
def tmux_app(tiny_model: Path, tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    socket = tmp_path / "tmux.sock"
    env_dirs = {name: tmp_path / name for name in ("config", "data", "state", "cache")}
    tmux = Tmux(socket, "vt", env_dirs["state"] / "vllm-tui" / "log" / "vllm-tui.log")
    for d in env_dirs.values():
        d.mkdir()
    env = (
        f"XDG_CONFIG_HOME={env_dirs['config']} XDG_DATA_HOME={env_dirs['data']} "
        f"XDG_STATE_HOME={env_dirs['state']} XDG_CACHE_HOME={env_dirs['cache']} "
        "VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false"
    )
    command = (
        f"cd {ROOT} && env {env} {sys.executable} -m vllm_tui --model {tiny_model} --max-model-len 2048 "
        "--enforce-eager --max-tokens 1500"
    )
    # A clean server of our own: no user tmux.conf; escape-time short as advised to users.
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "vt", "-x", "80", "-y", "24", command)
    tmux.run("set-option", "-s", "escape-time", "10")
    try:
        yield tmux, env_dirs["state"]
    finally:
        try:
            tmux.keys("C-q")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                panes = subprocess.run(
                    [*tmux.base, "list-panes", "-t", "vt"], capture_output=True, timeout=10, check=False
                )
                if panes.returncode != 0:
                    break
                time.sleep(0.5)
        finally:
            subprocess.run([*tmux.base, "kill-server"], capture_output=True, timeout=10, check=False)
            if socket.exists():
                os.unlink(socket)


def test_ask_stop_regenerate_copy_in_tmux(tmux_app: tuple[Tmux, Path]) -> None:
    tmux, state = tmux_app
    tmux.wait(lambda s: "ready in" in s, 240, "engine ready")
    tmux.keys("h", "i")
    tmux.keys("Enter")
    tmux.wait(lambda s: "Hello! This tiny" in s, 60, "answer streaming")
    tmux.keys("Escape")
    # First the app's own word that the key arrived, then the engine's.
    tmux.wait(lambda s: "stopping…" in s or "stopped" in s, 10, "the app to take esc")
    screen = tmux.wait(lambda s: "stopped" in s, 30, "stopped")
    assert "1,500 tokens" not in screen

    tmux.keys("M-r")  # regenerate: ESC r, as a terminal sends alt+r
    tmux.wait(lambda s: "stopped" not in s and "Hello! This tiny" in s, 60, "regenerating")
    tmux.keys("Escape")
    tmux.wait(lambda s: "stopped" in s, 30, "stopped again")
    # The prompt got none of the letters of the alt keys.
    assert "│ r" not in tmux.screen()

    tmux.keys("M-y")  # copy the last answer
    tmux.wait(lambda s: "Copied" in s, 15, "copy toast")
    saved = (state / "vllm-tui" / "clipboard.txt").read_text(encoding="utf-8")
    assert saved.startswith("Hello! This tiny scripted model")
    assert tmux.run("show-buffer") == saved
