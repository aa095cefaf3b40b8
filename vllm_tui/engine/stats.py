"""vLLM's own scheduler figures (KV-cache usage, running / waiting requests) for the engine card.

A custom stat logger is handed to `AsyncLLM`; vLLM calls its `record` after each engine step in the
frontend process's loop. It only stores the latest values in a dict that loop reads once a second.
"""

from __future__ import annotations

from typing import Any, Callable


def stat_logger_factory(sink: dict[str, Any]) -> Callable[..., Any]:
    from vllm.v1.metrics.loggers import StatLoggerBase

    class PanelStatLogger(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.engine_index = engine_index

        # The signature grew extra arguments across releases; only scheduler_stats is read.
        def record(self, scheduler_stats: Any = None, *args: Any, **kwargs: Any) -> None:
            if scheduler_stats is None:
                scheduler_stats = kwargs.get("scheduler_stats")
            if scheduler_stats is None:
                return
            usage = getattr(scheduler_stats, "kv_cache_usage", None)
            if usage is None:
                usage = getattr(scheduler_stats, "gpu_cache_usage", None)
            sink["kv_cache_usage"] = usage
            sink["running"] = getattr(scheduler_stats, "num_running_reqs", 0)
            sink["waiting"] = getattr(scheduler_stats, "num_waiting_reqs", 0)

        def log_engine_initialized(self) -> None:
            pass

        def log(self) -> None:
            pass

    return PanelStatLogger
