"""The app's own local engine, loaded for a benchmark: its log routed to a file, a failure said with
the log's tail (the real cause is in vLLM's lines, not in the event)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from vllm_tui.config import EngineSettings


def bench_dir(prefix: str) -> tuple[Path, Path]:
    """A fresh folder for the run's files, and its engine log, to which vLLM's logging now goes."""
    from vllm_tui.engine.log_capture import route_vllm_logging

    work = Path(tempfile.mkdtemp(prefix=prefix))
    log_path = work / "engine.log"
    route_vllm_logging(log_path)
    return work, log_path


def load_engine(settings: EngineSettings, log_path: Path) -> tuple[Any, Any, float]:
    """A started `LocalEngine`, its `EngineReady` and the seconds the load took. A failed load is
    shut down and ends the benchmark with the event and the last 4,000 characters of the log."""
    from tests.support import Recorder
    from vllm_tui.engine.events import EngineFailed, EngineReady
    from vllm_tui.engine.local import LocalEngine

    events = Recorder()
    started = time.perf_counter()
    engine = LocalEngine(settings, events, log_path)
    engine.start()
    ready = events.until((EngineReady, EngineFailed), timeout=900)[-1]
    if isinstance(ready, EngineFailed):
        engine.shutdown()
        raise SystemExit(f"engine failed: {ready}\n{log_path.read_text()[-4000:]}")
    return engine, ready, time.perf_counter() - started
