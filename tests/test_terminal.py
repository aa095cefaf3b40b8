"""TerminalStream on a real pseudo-terminal whose other end goes away, as when an SSH link drops."""

from __future__ import annotations

import os
import threading

from vllm_tui.terminal import TerminalStream


def test_writes_reach_the_terminal() -> None:
    master, slave = os.openpty()
    stream = TerminalStream(slave)
    try:
        stream.write("hello")
        stream.flush()
        assert os.read(master, 100) == b"hello"
        assert not stream.gone
        assert stream.isatty()
    finally:
        stream.close()
        os.close(master)


def test_a_hung_up_terminal_is_reported_once_and_never_raises() -> None:
    master, slave = os.openpty()
    stream = TerminalStream(slave)
    calls: list[str] = []
    stream.on_gone = lambda: calls.append(threading.current_thread().name)
    os.close(master)  # the terminal is gone: writes to the other end now fail with EIO
    # As Textual's writer thread does it: a frame, a flush, and more frames after the failure.
    writer = threading.Thread(
        target=lambda: [(stream.write("frame" * 100), stream.flush()) for _ in range(50)], name="writer"
    )
    writer.start()
    writer.join(5)
    assert not writer.is_alive()
    assert stream.gone
    assert calls == ["writer"]
    assert stream.write("after") == len("after")
    stream.close()  # the unwritten frames are dropped without an error
    assert stream.closed
