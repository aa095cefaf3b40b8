"""The log viewer (F5): vLLM's long lines wrapped to the screen, new lines followed, wrap on a key."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Log

from tests.support import wait_until
from vllm_tui.screens.log_viewer import LogViewer, wrap_lines

ARGS = "INFO 11-27 18:00:00 [core.py:75] engine args: " + " ".join(f"key{i}=value{i}" for i in range(40))
PATH = "ERROR 11-27 18:00:01 /opt/venv/lib/python3.12/site-packages/" + "x" * 150 + ".py"


def test_wrap_lines_breaks_at_spaces_and_indents_the_rest() -> None:
    rows = wrap_lines(f"short\n{ARGS}\n{PATH}\nend", 60).split("\n")
    assert rows[0] == "short" and rows[-1] == "end"
    assert all(len(r) <= 60 for r in rows)
    args = rows[1 : 1 + sum(1 for r in rows if "key" in r)]
    # Indented by 4 exactly: the space a row breaks at does not start the next one.
    assert args[0].startswith("INFO") and all(r.startswith("    key") for r in args[1:])
    assert wrap_lines("  File a b c d e f g h", 10).split("\n")[0].startswith("  File")
    # Every word is still there, in order.
    assert " ".join(" ".join(r.split()) for r in args) == " ".join(ARGS.split())
    # A path without spaces is cut where it must be.
    assert "".join(r.strip() for r in rows if "x" in r).endswith("x" * 150 + ".py")
    assert wrap_lines("a b c", 4) == "a b c", "too narrow to wrap: left alone"


class LogApp(App[None]):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_mount(self) -> None:
        self.push_screen(LogViewer(self.path))


def rows(app: App[None]) -> list[str]:
    """The log's rows, less the empty one after the last newline."""
    lines = [str(line) for line in app.screen.query_one(Log).lines]
    return lines[:-1] if lines and not lines[-1] else lines


async def test_long_lines_wrap_to_the_screen_and_follow_and_w_turns_it_off(tmp_path: Path) -> None:
    path = tmp_path / "vllm-tui.log"
    path.write_text(f"first line\n{ARGS}\n", encoding="utf-8")
    app = LogApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: len(rows(app)) > 3, what="the log read")
        assert rows(app)[0] == "first line" and rows(app)[2].startswith("    key")
        await pilot.pause(0.1)
        assert log.max_scroll_x == 0, "nothing runs off the right edge"

        # Followed: a line written in two parts is wrapped as the one line it is.
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(PATH[:70])
            fh.flush()
            await pilot.pause(1.3)
            fh.write(PATH[70:] + "\nlast line\n")
        await wait_until(pilot, lambda: rows(app)[-1] == "last line", timeout=5, what="followed")
        tail = rows(app)[rows(app).index("last line") - 3 : -1]
        assert tail[0].startswith("ERROR") and "".join(r.strip() for r in tail).endswith(".py")
        assert log.max_scroll_x == 0

        # Narrower: read again, wrapped to the new width.
        await pilot.resize_terminal(60, 24)
        await wait_until(pilot, lambda: rows(app)[-1] == "last line" and max(map(len, rows(app))) <= 60)

        await pilot.press("w")
        await wait_until(pilot, lambda: ARGS in rows(app), what="unwrapped")
        await pilot.pause(0.1)
        assert log.max_scroll_x > 0
