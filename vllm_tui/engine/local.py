"""The local vLLM engine as the app sees it: a frontend process (vllm_tui.engine.frontend) owning
`AsyncLLM`, and one thread here that starts it and reads its events.

The UI calls `start`, `submit`, `stop` and `shutdown` from its own thread; they send a command down
the pipe and return at once (except `shutdown`, which blocks and so is called from a worker thread).
Events come back through `emit`, called from the reader thread. Nothing here imports vLLM or torch:
the app's process stays small (docs/benchmarks.md §4), and vLLM's per-token Python work never waits
for the UI thread's GIL.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vllm_tui.config import EngineSettings
from vllm_tui.engine import cpu_cores
from vllm_tui.engine.errors import explain, root_cause
from vllm_tui.engine.events import (
    AnswerFailed,
    EngineFailed,
    EngineReady,
    EngineStopped,
    LoadProgress,
)
from vllm_tui.engine.log_capture import file_size, lines_since
from vllm_tui.engine.preflight import preflight
from vllm_tui.engine.processes import child_pids, shared_segments, terminate
from vllm_tui.engine.request import ChatRequest
from vllm_tui.orphans import PidFile
from vllm_tui.orphans import current as current_pid_file

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

Emit = Callable[[Any], None]

FRONTEND_CHECK_INTERVAL = 0.5
"""While the pipe is quiet, how often the reader checks that the frontend process still lives."""


class LocalEngine:
    """See the module docstring. One instance = one model load; build a new one to switch models."""

    # Engine-process pids of every live LocalEngine in this process, so that ending one engine's
    # processes (quit during load) never touches another's.
    _claimed_pids: ClassVar[set[int]] = set()

    def __init__(
        self, settings: EngineSettings, emit: Emit, log_path: Path, pid_file: PidFile | None = None
    ) -> None:
        self.settings = settings
        self._pid_file = pid_file
        self._emit = emit
        self._log_path = log_path
        self._thread: threading.Thread | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        """Guards `_process` / `_conn` while they are set, and each send on the pipe."""
        self._shutdown_requested = threading.Event()
        self._loaded = False
        """The frontend said EngineReady once: it can be asked to shut down rather than be killed."""
        self._pids_before: set[int] = set()
        self._pids: set[int] = set()
        self._ready_event: EngineReady | None = None
        self._recorded: set[int] = set()
        self._segments: set[str] = set()
        """vLLM's shared-memory segments, removed after its processes end (see orphans.remove_segments)."""
        self._raw_results: queue.Queue[dict[str, float]] = queue.Queue()
        self.free_cores: frozenset[int] = frozenset()
        """On vLLM's CPU backend, the cores its workers left to everything else (see cpu_cores)."""
        self.ready = threading.Event()

    # --- the UI's side ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.settings.model

    @property
    def pids(self) -> set[int]:
        """The frontend, engine-core and worker processes this engine started."""
        return set(self._pids)

    @property
    def frontend_pid(self) -> int | None:
        """The process that owns `AsyncLLM` (vllm_tui.engine.frontend)."""
        process = self._process
        return process.pid if process is not None else None

    def attach(self, emit: Emit) -> None:
        """Send later events to `emit` instead; if the engine is already up, say so there first.
        Lets a new App (or a test) take over a loaded engine without reloading the model."""
        self._emit = emit
        if self._ready_event is not None and self.ready.is_set():
            emit(self._ready_event)

    def start(self) -> None:
        cpu_cores.machine_cores()  # noted before any engine's cores are kept free
        _ensure_resource_tracker(self._log_path)
        _share_the_interpreter()
        self._pids_before = child_pids()
        self._thread = threading.Thread(target=self._thread_main, name="vllm-tui-engine", daemon=True)
        self._thread.start()
        threading.Thread(target=self._record_load_pids, name="vllm-tui-engine-pids", daemon=True).start()

    def submit(self, request: ChatRequest) -> None:
        if not self.ready.is_set():
            self._emit(
                AnswerFailed(request.request_id, "The engine is not ready", "Wait for the model to load.")
            )
            return
        if not self._send(("submit", request)):
            self._emit(
                AnswerFailed(
                    request.request_id,
                    "The engine is gone",
                    "Its process has exited.",
                    "Press ctrl+r to restart it.",
                )
            )

    def stop(self, request_id: str) -> None:
        self._send(("stop", request_id))

    def shutdown(self, timeout: float = 60.0) -> None:
        """Blocks until the engine and its processes are gone. Safe to call twice, and during load."""
        if self._shutdown_requested.is_set() and (self._thread is None or not self._thread.is_alive()):
            return
        self._shutdown_requested.set()
        with self._lock:
            process = self._process
        if process is not None and self._loaded and process.is_alive():
            # A loaded frontend ends vLLM the orderly way (AsyncLLM.shutdown) and then exits.
            self._send(("shutdown",))
            process.join(timeout)
        if process is None or process.is_alive():
            # During the load: AsyncLLM's constructor cannot be interrupted, so its processes are
            # ended, and the reader then hears the pipe close.
            terminate(self._new_pids())
        if self._thread is not None:
            self._thread.join(timeout)
        ended = self._pids | self._new_pids()
        terminate(ended)
        if process is not None:
            process.join(5)
        LocalEngine._claimed_pids.difference_update(self._pids)
        self._pids_file().discard(ended | self._recorded)
        self._pids_file().end_segments(self._segments)
        cpu_cores.release()

    def kill(self, grace: float = 0.3) -> None:
        """For a user who will not wait (a second ctrl+q): end every process of this engine now,
        SIGTERM then SIGKILL after `grace` seconds. A `shutdown()` under way then finds them gone.
        (2 s made it slower than one ctrl+q: a worker in its teardown ignores a second SIGTERM.)"""
        self._shutdown_requested.set()
        terminate(self._pids | self._new_pids(), grace)

    def list_models(self) -> list[str]:
        return [self.settings.model]

    def measure_raw(self, prompt: str, tokens: int, timeout: float = 600.0) -> dict[str, float]:
        """The benchmark's baseline: `prompt` streamed by a bare loop on this engine's `AsyncLLM`
        (bench/delivered.py). Blocks until it is done."""
        if not self._send(("raw", prompt, tokens)):
            raise RuntimeError("the engine process is gone")
        return self._raw_results.get(timeout=timeout)

    # --- the reader thread -------------------------------------------------------------------

    def _thread_main(self) -> None:
        from vllm_tui.engine.frontend import serve

        # Before spawning anything: these problems are found in milliseconds from small files,
        # not after the half-minute a frontend process needs to import vLLM.
        problem = preflight(self.settings)
        if problem is not None:
            self._emit(EngineFailed(*problem))
            return
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        with self._lock:
            if self._shutdown_requested.is_set():
                self._emit(EngineStopped())
                return
            self._emit(LoadProgress("Starting the engine process", 0.005))
            # Processes inherit their starter's cores, and vLLM picks its workers' from those.
            cpu_cores.release()
            process = context.Process(
                target=serve, args=(self.settings, theirs, str(self._log_path)), name="vllm-tui-frontend"
            )
            try:
                process.start()
            except Exception as exc:  # noqa: BLE001 - no process limit, memory, or a broken install
                self._emit(EngineFailed("The engine process could not start", f"{type(exc).__name__}: {exc}"))
                return
            self._process, self._conn = process, ours
        theirs.close()
        log_offset = file_size(self._log_path)
        ended = self._read(ours, process)
        ours.close()
        if ended:
            return
        process.join(2.0)
        if self._shutdown_requested.is_set():
            self._emit(EngineStopped())
            return
        self.ready.clear()
        # Killed (SIGKILL, the OOM killer) or crashed below Python: nothing was said on the pipe.
        self._end(self._pids | self._new_pids())
        code = process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if self._loaded:
            self._emit(
                EngineFailed(
                    "The engine died",
                    f"engine process {process.pid} is gone ({how})",
                    "Press ctrl+r to restart it; the chat is kept.",
                    died=True,
                )
            )
        else:
            ex = explain(
                f"the engine process ended during the load ({how})",
                # A crashed frontend's last words are in the log, after where it started.
                root_cause(lines_since(self._log_path, log_offset)),
            )
            self._emit(EngineFailed(ex.title, ex.reason, ex.advice))

    def _read(self, conn: Connection, frontend: BaseProcess) -> bool:
        """Hand each event to `emit` until the pipe closes or the frontend process is gone; True when
        the frontend said its last word (stopped, or failed) before that."""
        from vllm_tui.engine.frontend import RawStream

        ended = False
        while True:
            try:
                # Not EOF alone: a process the frontend started may still hold the pipe's other end
                # (and its exit sentinel's) after the frontend was killed, and then no EOF comes (once
                # in CI, for 30 s). So its exit is checked too; what it sent before is read first.
                while not conn.poll(FRONTEND_CHECK_INTERVAL):
                    if not frontend.is_alive():
                        return ended
                message = conn.recv()
            except (EOFError, OSError):
                return ended
            if isinstance(message, RawStream):
                self._raw_results.put(message.stats)
                continue
            if isinstance(message, EngineReady):
                message = self._on_ready(message)
            elif isinstance(message, (EngineFailed, EngineStopped)):
                self.ready.clear()
                ended = True
            self._emit(message)

    def _on_ready(self, event: EngineReady) -> EngineReady:
        self._pids = self._new_pids()
        LocalEngine._claimed_pids.update(self._pids)
        self._record(self._pids)
        # Children seen during the load that have since exited (helper commands vLLM ran) go.
        self._pids_file().discard(self._recorded - self._pids)
        self._recorded &= self._pids
        self._segments = shared_segments(self._pids)
        self._pids_file().add_segments(self._segments)
        self.free_cores = cpu_cores.keep_off_worker_cores(self._pids)
        event = replace(event, shares_cores=bool(self.free_cores))
        self._ready_event = event
        self._loaded = True
        self.ready.set()
        return event

    def _send(self, command: tuple[Any, ...]) -> bool:
        with self._lock:
            conn = self._conn
            if conn is None:
                return False
            try:
                conn.send(command)
            except (OSError, ValueError):  # the frontend is gone (or the pipe closed)
                return False
        return True

    # --- processes ---------------------------------------------------------------------------

    def _pids_file(self) -> PidFile:
        return self._pid_file if self._pid_file is not None else current_pid_file()

    def _record(self, pids: set[int]) -> None:
        """List engine processes in the app's pid file, so a later start can end them should this
        app be killed without a chance to (see vllm_tui.orphans)."""
        new = pids - self._recorded
        if new:
            self._recorded |= new
            self._pids_file().add(new)

    def _record_load_pids(self) -> None:
        """While the model loads, note each engine process as it appears: an app killed mid-load
        must not leave them unlisted."""
        while not self.ready.is_set() and not self._shutdown_requested.is_set():
            if self._thread is None or not self._thread.is_alive():
                return
            self._record(self._new_pids())
            self._shutdown_requested.wait(0.25)

    def _new_pids(self) -> set[int]:
        return child_pids() - self._pids_before - (LocalEngine._claimed_pids - self._pids)

    def _end(self, pids: set[int]) -> None:
        terminate(pids)
        self._pids_file().discard(pids)
        self._pids_file().end_segments(self._segments)
        cpu_cores.release()


GIL_SWITCH_INTERVAL = 0.001
"""Seconds a busy thread may hold the GIL while another waits for it (Python's default: 0.005)."""


def _share_the_interpreter() -> None:
    """Let the engine thread get the GIL back quickly while the UI thread is busy drawing.

    vLLM's frontend (socket receive, detokenising, our reasoning split) runs in this process, in the
    engine thread. Each decode step it wakes and must take the GIL from the UI thread, which holds it
    through a frame. With Python's default 5 ms interval a 1.5B stream at ~450 tok/s (2.2 ms a step)
    arrived 1.3 tokens per output on the GPU host (vLLM merges the steps the frontend has not picked
    up), with 1 ms 1.04: each step reaches the screen's next frame instead of in pairs. Throughput
    was the same within that host's run-to-run noise (docs/benchmarks.md). Process-wide, and only
    ever lowered here, never raised.
    """
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def _ensure_resource_tracker(log_path: Path) -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    vLLM's spawned processes need the tracker, which on first start hands `sys.stderr.fileno()` to
    its own process. Inside a Textual app sys.stderr is Textual's capture object, whose descriptor
    is not real, and the spawn fails with "bad value(s) in fds_to_keep". So the tracker is started
    here, with the log file as its stderr.
    """
    import sys
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        resource_tracker.ensure_running()
        return
    saved = sys.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        sys.stderr = log
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved
