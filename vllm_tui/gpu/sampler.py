"""The sampler thread: reads NVML every `interval` seconds and hands each snapshot to a callback.

The UI never waits on NVML: `start()` returns at once (NVML starts inside the thread), the callback
runs on the sampler thread (post a Textual message from it; `GpuPanel.post_snapshot` does), and a hung
driver delays only this thread, which is a daemon so it cannot keep the app from exiting.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace

from vllm_tui.gpu.assignment import EngineDevices, process_tree
from vllm_tui.gpu.backend import NvmlBackend, PynvmlBackend
from vllm_tui.gpu.na import NA
from vllm_tui.gpu.reader import GpuReader
from vllm_tui.gpu.snapshot import STARTING, GpuPanelSnapshot, GpuSnapshot, PanelStatus

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_HISTORY_SECONDS = 300.0
PROCESS_TREE_TTL = 5.0
"""Seconds a scan of the engine's process tree is reused."""


class _History:
    """Bounded per-GPU history of utilization and memory percent, for the sparklines."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._util: dict[str, deque[float]] = {}
        self._memory: dict[str, deque[float]] = {}

    def resize(self, capacity: int) -> None:
        self.capacity = capacity
        for series in (self._util, self._memory):
            for key, values in series.items():
                series[key] = deque(values, maxlen=capacity)

    def add(self, gpus: tuple[GpuSnapshot, ...]) -> tuple[GpuSnapshot, ...]:
        keys = {gpu.key for gpu in gpus}
        for series in (self._util, self._memory):
            for gone in set(series) - keys:
                del series[gone]
        out = []
        for gpu in gpus:
            util = self._util.setdefault(gpu.key, deque(maxlen=self.capacity))
            memory = self._memory.setdefault(gpu.key, deque(maxlen=self.capacity))
            # Unreadable samples are skipped rather than drawn as 0, which would look like an idle GPU.
            if gpu.utilization is not NA:
                util.append(gpu.utilization)
            memory_percent = gpu.memory_percent
            if memory_percent is not NA:
                memory.append(memory_percent)
            out.append(replace(gpu, utilization_history=tuple(util), memory_history=tuple(memory)))
        return tuple(out)


class GpuSampler:
    """Samples all GPUs on a background thread.

    `callback(snapshot)` is called on the sampler thread after every sample; exceptions it raises are
    logged and sampling goes on. Pass `engine_pids` (or `engine_root_pid`, whose process tree is
    followed each tick) so GPUs holding the engine's CUDA contexts are marked `engine_active`.
    """

    def __init__(
        self,
        callback: Callable[[GpuPanelSnapshot], None] | None = None,
        *,
        backend: NvmlBackend | None = None,
        interval: float = DEFAULT_INTERVAL,
        history_seconds: float = DEFAULT_HISTORY_SECONDS,
        engine_devices: EngineDevices | None = None,
        engine_pids: Iterable[int] = (),
        engine_root_pid: int | None = None,
        name: str = "gpu-sampler",
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._callback = callback
        self._reader = GpuReader(
            backend=backend if backend is not None else PynvmlBackend(),
            engine_devices=engine_devices if engine_devices is not None else EngineDevices.from_env(),
        )
        self._interval = interval
        self._history_seconds = history_seconds
        self._history = _History(self._capacity())
        self._engine_pids: frozenset[int] = frozenset(engine_pids)
        self._engine_root_pid = engine_root_pid
        self._tree: tuple[int | None, float, frozenset[int]] = (None, 0.0, frozenset())
        self._latest: GpuPanelSnapshot = replace(STARTING, history_capacity=self._history.capacity)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def _capacity(self) -> int:
        return max(2, math.ceil(self._history_seconds / self._interval))

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        """Change the period; the running thread picks it up at once."""
        if seconds <= 0:
            raise ValueError(f"interval must be positive, got {seconds}")
        self._interval = seconds
        self._wake.set()

    @property
    def latest(self) -> GpuPanelSnapshot:
        """The most recent snapshot (`STARTING` before the first sample). Safe from any thread."""
        return self._latest

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def set_engine_pids(self, pids: Iterable[int]) -> None:
        """The engine's processes (EngineCore, workers). Replaces the previous set; thread-safe."""
        self._engine_pids = frozenset(pids)

    def set_engine_root_pid(self, pid: int | None) -> None:
        """Follow this process and all its descendants as the engine (e.g. `os.getpid()` for AsyncLLM)."""
        self._engine_root_pid = pid

    def set_engine_devices(self, devices: EngineDevices) -> None:
        self._reader.engine_devices = devices

    def start(self) -> None:
        if self._started:
            raise RuntimeError("GpuSampler.start() called twice")
        self._started = True
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Stop sampling and join the thread; False if a hung NVML call outlived `timeout`."""
        self._stop.set()
        self._wake.set()
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def sample_once(self) -> GpuPanelSnapshot:
        """Take one sample now, on the calling thread (the loop's body; tests call it directly)."""
        if self._history.capacity != self._capacity():
            self._history.resize(self._capacity())
        try:
            snapshot = self._reader.read(self._current_engine_pids())
        except Exception as exc:
            # A bug in reading must not kill monitoring for the rest of the session.
            log.exception("GPU sampling failed")
            snapshot = GpuPanelSnapshot(
                PanelStatus.ERROR, f"GPU sampling failed: {exc!r}", taken_at=time.monotonic()
            )
        snapshot = replace(
            snapshot, gpus=self._history.add(snapshot.gpus), history_capacity=self._history.capacity
        )
        self._latest = snapshot
        return snapshot

    def _current_engine_pids(self) -> frozenset[int]:
        root = self._engine_root_pid
        if root is None:
            return self._engine_pids
        now = time.monotonic()
        cached_root, at, tree = self._tree
        # Scanning /proc every tick is wasted work: engine processes appear once, while it loads.
        if cached_root != root or now - at >= PROCESS_TREE_TTL:
            tree = process_tree(root)
            self._tree = (root, now, tree)
        return self._engine_pids | tree

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                snapshot = self.sample_once()
                if self._stop.is_set():
                    break
                if self._callback is not None:
                    try:
                        self._callback(snapshot)
                    except Exception:
                        log.exception("GPU snapshot callback failed")
                # A sample slower than the interval starts the next one at once, never a backlog.
                self._wake.wait(max(0.0, self._interval - (time.monotonic() - started)))
                self._wake.clear()
        finally:
            self._reader.close()
