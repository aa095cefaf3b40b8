"""Engine processes left behind by an app that died, found and ended on the next start.

vLLM's engine-core and worker processes have no parent-death watchdog: when the app is killed with
SIGKILL (or the OOM killer), they live on, holding GPU memory, until someone ends them. So each app
instance keeps a small pid file in the state dir listing its own pid and every engine process it
started, each with its creation time. On start, `reap_orphans` reads the other pid files: where the
app is gone, it ends the listed processes that still run *with the same creation time* (so a pid the
kernel has since handed to an unrelated process is never touched), then deletes the file. Pid files
of live apps (another tmux pane) are left alone, so one app never ends another's engine.

No Textual here; psutil (a vLLM dependency) is imported lazily, since the UI must start fast.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vllm_tui import config
from vllm_tui.engine.processes import remove_segments, running

RUN_DIRNAME = "run"


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    create_time: float
    """psutil's creation time (seconds since the epoch); with the pid it names one process for good."""


@dataclass(frozen=True)
class Reaped:
    """What `reap_orphans` found: the dead app and the processes of it that were ended."""

    app_pid: int
    ended: tuple[int, ...]


def run_dir() -> Path:
    return config.state_dir() / RUN_DIRNAME


def identify(pid: int) -> ProcessRecord | None:
    import psutil

    try:
        return ProcessRecord(pid, psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def is_running(record: ProcessRecord) -> bool:
    """True while the very process recorded runs (not a zombie, not a later one with its pid)."""
    import psutil

    try:
        p = psutil.Process(record.pid)
        # create_time is rounded differently by platforms and psutil versions: allow a few ms.
        return abs(p.create_time() - record.create_time) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class PidFile:
    """This app instance's pid file: `state_dir/run/app-<pid>.json`, written whole on each change.

    Thread-safe: the engine thread and its load watcher add pids while the UI thread may remove them.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or run_dir()
        me = identify(os.getpid())
        self.app = me if me is not None else ProcessRecord(os.getpid(), 0.0)
        self.path = self.directory / f"app-{self.app.pid}.json"
        self._engine: dict[int, ProcessRecord] = {}
        self._segments: set[str] = set()
        self._lock = threading.Lock()

    @property
    def engine_pids(self) -> set[int]:
        with self._lock:
            return set(self._engine)

    def add(self, pids: set[int] | list[int]) -> None:
        """Record engine processes (unknown or already ended pids are skipped)."""
        with self._lock:
            new = [pid for pid in pids if pid not in self._engine]
            records = [r for r in (identify(pid) for pid in new) if r is not None]
            if not records:
                return
            for r in records:
                self._engine[r.pid] = r
            self._write()

    def discard(self, pids: set[int] | list[int]) -> None:
        with self._lock:
            if not any(pid in self._engine for pid in pids):
                return
            for pid in pids:
                self._engine.pop(pid, None)
            self._write()

    def add_segments(self, names: set[str]) -> None:
        """Record the shared-memory segments the engine processes use (see `remove_segments`)."""
        with self._lock:
            if names <= self._segments:
                return
            self._segments |= names
            self._write()

    def end_segments(self, names: set[str]) -> None:
        """Once the engine processes that used them are gone: remove what they left in /dev/shm."""
        remove_segments(names)
        with self._lock:
            if not names & self._segments:
                return
            self._segments -= names
            self._write()

    def remove(self) -> None:
        """At a clean exit, once the engine processes are gone."""
        with self._lock:
            self._engine.clear()
            remove_segments(self._segments)
            self._segments.clear()
            self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        data = {
            "app": {"pid": self.app.pid, "create_time": self.app.create_time},
            "engine": [{"pid": r.pid, "create_time": r.create_time} for r in self._engine.values()],
            "shm": sorted(self._segments),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".app-", suffix=".json", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
        except OSError:
            # Without a pid file the only loss is orphan clean-up after a crash: never stop the app.
            pass


_current: PidFile | None = None
_current_lock = threading.Lock()


def current() -> PidFile:
    """This process's pid file (created on first use; nothing is written until a pid is added)."""
    global _current
    with _current_lock:
        if _current is None or _current.app.pid != os.getpid():
            _current = PidFile()
        return _current


def _read(path: Path) -> tuple[ProcessRecord, list[ProcessRecord], list[str]] | None:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        app = ProcessRecord(int(data["app"]["pid"]), float(data["app"]["create_time"]))
        engine = [ProcessRecord(int(e["pid"]), float(e["create_time"])) for e in data.get("engine", [])]
        segments = [str(name) for name in data.get("shm", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return app, engine, segments


def reap_orphans(directory: Path | None = None, grace: float = 3.0) -> list[Reaped]:
    """End the engine processes of apps that died; returns what was ended. Safe to call any time."""
    import psutil

    directory = directory or run_dir()
    try:
        files = sorted(directory.glob("app-*.json"))
    except OSError:
        return []
    me = os.getpid()
    reaped: list[Reaped] = []
    for path in files:
        parsed = _read(path)
        if parsed is None:
            continue  # half-written by a live app, or not ours: leave it
        app, engine, segments = parsed
        if app.pid == me or is_running(app):
            continue
        procs = []
        for record in engine:
            if not is_running(record):
                continue
            try:
                procs.append(psutil.Process(record.pid))
            except psutil.Error:
                continue
        end_processes(procs, grace)
        if not any(is_running(record) for record in engine):
            remove_segments(segments)
        path.unlink(missing_ok=True)
        reaped.append(Reaped(app.pid, tuple(sorted(p.pid for p in procs))))
    return reaped


def end_processes(procs: list[Any], grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left (psutil.Process objects).

    A zombie counts as ended. psutil's `wait_procs` waited for those too: an engine worker whose
    engine core was killed is nobody's child until init reaps it, and the wait ran its full grace
    (1-2 s of every quit) on a process that had already exited."""
    import psutil

    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    alive = _wait_running(procs, grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    _wait_running(alive, 5)


def _wait_running(procs: list[Any], timeout: float) -> list[Any]:
    """Those of `procs` still running (not exited, not a zombie) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if running(p)]
    return alive


def describe(reaped: list[Reaped]) -> str | None:
    """A line for the user, or None when nothing was ended."""
    ended = [pid for r in reaped for pid in r.ended]
    if not ended:
        return None
    apps = ", ".join(str(r.app_pid) for r in reaped if r.ended)
    return (
        f"Ended {len(ended)} engine process{'es' if len(ended) != 1 else ''} "
        f"({', '.join(map(str, ended))}) left running by an earlier vllm-tui (pid {apps}) that did not exit "
        "cleanly, freeing their memory."
    )
