"""Time to interactive and memory, on the real app in a pseudo-terminal.

Starts `python tui.py --model PATH` in a pty (as a terminal would), and measures: launch → first
frame; launch → a typed key shows in the prompt (taking keys); launch → engine ready; the app
process's RSS (engine-core and worker processes excluded) before the engine is imported, once it is
ready, and with a 1,000-message chat loaded from the store.

    python -m bench.startup --model PATH [--messages 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.report import report

ROOT = Path(__file__).resolve().parent.parent
_ESC = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_].*?\x1b\\|\x1b.")


def fill_store(path: Path, messages: int) -> None:
    from vllm_tui.engine.events import AnswerStats
    from vllm_tui.store import ChatStore

    paragraph = (
        "The lighthouse keeper climbed the stairs at dusk, counting each step as his father had. "
        "```python\nfor step in range(137):\n    climb(step)\n```\n"
    ) * 6
    with ChatStore.open(path) as store:
        chat = store.create_chat("A long chat")
        for i in range(messages // 2):
            store.add_user_message(chat.id, f"Question {i}: what happened next?")
            mid = store.begin_answer(chat.id, "bench", "bench", {"temperature": 0.6})
            stats = AnswerStats(
                prompt_tokens=100, completion_tokens=400, time_to_first_token=0.05, decode_seconds=2
            )
            content = paragraph + f"\nThat was answer {i}."
            store.finish_answer(mid, "complete", stats, content=content, thinking="Thinking about it. " * 20)


class Pty:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        os.set_blocking(self.fd, False)
        self.screen = ""

    def read(self, timeout: float = 0.05) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            return
        self.screen += _ESC.sub("", data.decode("utf-8", "replace"))
        if len(self.screen) > 200_000:
            self.screen = self.screen[-100_000:]

    def wait_for(self, needle: str, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.read()
            if needle in self.screen:
                return time.perf_counter()
        raise TimeoutError(f"{needle!r} did not appear in {timeout} s")

    def write(self, text: str) -> None:
        os.write(self.fd, text.encode())


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--extra", nargs="*", default=["--max-model-len", "2048", "--enforce-eager"])
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="vllm-tui-startup-"))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    data = Path(env["XDG_DATA_HOME"]) / "vllm-tui"
    data.mkdir(parents=True)
    fill_store(data / "chats.sqlite3", args.messages)

    argv = [sys.executable, "tui.py", "--model", args.model, *args.extra]
    launched = time.perf_counter()
    app = Pty(argv, env)
    result: dict[str, float | int | str] = {"messages": args.messages}
    try:
        first = app.wait_for("Send", 30)
        result["first_frame_s"] = round(first - launched, 3)
        app.write("zq")
        typed = app.wait_for("zq", 30)
        result["taking_keys_s"] = round(typed - launched, 3)
        result["rss_ui_mb"] = round(rss_mb(app.pid), 1)
        try:
            app.wait_for(f"That was answer {args.messages // 2 - 1}.", 120)
        except TimeoutError:
            print(app.screen[-3000:], file=sys.stderr)
            raise
        result["chat_loaded_s"] = round(time.perf_counter() - launched, 3)
        result["rss_chat_loaded_mb"] = round(rss_mb(app.pid), 1)
        ready = app.wait_for("ready in", 600)
        result["engine_ready_s"] = round(ready - launched, 1)
        time.sleep(2)
        result["rss_engine_ready_mb"] = round(rss_mb(app.pid), 1)
    finally:
        app.write("\x11")  # ctrl+q
        deadline = time.time() + 60
        while time.time() < deadline:
            app.read(0.2)
            done, _ = os.waitpid(app.pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(app.pid, signal.SIGKILL)
    report(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
