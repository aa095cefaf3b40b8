"""The in-process vLLM engine: an `AsyncLLM` owned by one dedicated thread with its own asyncio loop.

`AsyncLLM.__init__` blocks for the whole model load and binds to the loop it runs in, so it is built
and used only inside this thread's loop — never on Textual's. The UI calls `start`, `submit`, `stop`
and `shutdown` from its own thread; they hand work to the engine loop and return at once (except
`shutdown`, which blocks and so is called from a worker thread). Results go out through `emit`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from vllm_tui.config import EngineSettings
from vllm_tui.engine.errors import explain, root_cause
from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerStats,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    FinishReason,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
)
from vllm_tui.engine.load_stages import StageTracker
from vllm_tui.engine.log_capture import LogFollower
from vllm_tui.engine.prompt import continues_answer, render_prompt_ids
from vllm_tui.engine.reasoning import ReasoningSplitter, detect_reasoning_parser
from vllm_tui.engine.request import ChatRequest
from vllm_tui.orphans import PidFile
from vllm_tui.orphans import current as current_pid_file

Emit = Callable[[Any], None]


def engine_args_kwargs(settings: EngineSettings) -> dict[str, Any]:
    """`AsyncEngineArgs` keyword arguments for these settings (only fields every supported vLLM has)."""
    kwargs: dict[str, Any] = {
        "model": settings.model,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "pipeline_parallel_size": settings.pipeline_parallel_size,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "dtype": settings.dtype,
        "kv_cache_dtype": settings.kv_cache_dtype,
        "enforce_eager": settings.enforce_eager,
        "trust_remote_code": settings.trust_remote_code,
    }
    if settings.max_model_len:
        kwargs["max_model_len"] = settings.max_model_len
    if settings.quantization and settings.quantization != "none":
        kwargs["quantization"] = settings.quantization
    if settings.download_dir:
        kwargs["download_dir"] = settings.download_dir
    if settings.distributed_executor_backend not in ("", "auto"):
        kwargs["distributed_executor_backend"] = settings.distributed_executor_backend
    return kwargs


def preflight(settings: EngineSettings) -> tuple[str, str, str] | None:
    """Problems found before vLLM spends tens of seconds importing and spawning: (title, reason,
    advice). Reads only small files: config.json, the tokenizer's presence, safetensors headers."""
    model = settings.model.strip()
    if not model:
        return ("No model chosen", "The model path is empty.", "Pick a model (F3) or pass --model.")
    looks_local = model.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(model))
    if not looks_local:
        return _preflight_hub(model, settings)
    path = Path(os.path.expanduser(model))
    advice = "Check the model path or Hugging Face id (Settings, the model picker, or --model)."
    if not path.exists():
        return ("Model not found", f"{path} does not exist.", advice)
    if not path.is_dir():
        return ("Model not found", f"{path} is not a directory.", advice)
    if not (path / "config.json").is_file():
        return ("Not a model directory", f"{path} has no config.json.", advice)
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        return (
            "The model has no usable tokenizer",
            f"{path} has no tokenizer.json, tokenizer_config.json or tokenizer.model.",
            "Copy the tokenizer files of the original model beside config.json.",
        )
    return _preflight_heads(path / "config.json", settings) or _preflight_safetensors(path)


def _preflight_hub(model: str, settings: EngineSettings) -> tuple[str, str, str] | None:
    """With HF_HUB_OFFLINE set, a Hugging Face id not in the local cache fails at once, not after
    vLLM's half-minute of imports."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(model, "config.json", cache_dir=settings.download_dir or None)
    except Exception:  # noqa: BLE001 - an id the hub library rejects: let vLLM say why
        return None
    if isinstance(cached, str):
        return None
    return (
        "The model could not be downloaded",
        f"{model} is not in the local Hugging Face cache, and HF_HUB_OFFLINE is set (no network).",
        "Download it where there is network (`huggingface-cli download " + model + "`), unset "
        "HF_HUB_OFFLINE, or give a local path.",
    )


def _preflight_heads(config_path: Path, settings: EngineSettings) -> tuple[str, str, str] | None:
    import json

    try:
        cfg = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # vLLM gives the precise parse error
    if not isinstance(cfg, dict):
        return None
    text_cfg = cfg.get("text_config")
    heads = (text_cfg if isinstance(text_cfg, dict) else cfg).get("num_attention_heads")
    tp = settings.tensor_parallel_size
    if not isinstance(heads, int) or heads <= 0 or tp <= 1 or heads % tp == 0:
        return None
    # vLLM's own words, so the advice is the one its error would get.
    ex = explain(
        f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})."
    )
    return (ex.title, ex.reason, ex.advice)


def _preflight_safetensors(path: Path) -> tuple[str, str, str] | None:
    """A truncated or garbled .safetensors file, from its header alone (8-byte length + JSON)."""
    import json
    import struct

    advice = "The weight files are truncated or corrupt (an interrupted download?): download the model again."
    title = "The model's weight files are damaged"
    for f in sorted(path.glob("*.safetensors")):
        try:
            size = f.stat().st_size
            with open(f, "rb") as fh:
                raw = fh.read(8)
                if len(raw) < 8:
                    return (title, f"{f.name} is {size} bytes: too short to be a safetensors file.", advice)
                (header_len,) = struct.unpack("<Q", raw)
                if header_len > min(size - 8, 100 << 20):
                    return (title, f"{f.name}: its header is cut off or garbled.", advice)
                header = json.loads(fh.read(header_len))
        except OSError as exc:
            return (title, f"{f.name} cannot be read: {exc}", advice)
        except (ValueError, UnicodeDecodeError):
            return (title, f"{f.name}: its header is not valid JSON.", advice)
        if not isinstance(header, dict):
            return (title, f"{f.name}: its header is not a tensor table.", advice)
        end = max(
            (
                int(t["data_offsets"][1])
                for k, t in header.items()
                if k != "__metadata__" and isinstance(t, dict) and len(t.get("data_offsets", ())) == 2
            ),
            default=0,
        )
        expected = 8 + header_len + end
        if size < expected:
            return (
                title,
                f"{f.name} is truncated: {size:,} bytes of the {expected:,} its header lists.",
                advice,
            )
    return None


def _finish_reason(raw: str | None) -> FinishReason:
    if raw in ("stop", "length", "abort"):
        return raw  # type: ignore[return-value]
    return "stop"


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._parser_name: str | None = None
        self._max_model_len = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._shutdown_requested = threading.Event()
        self._loop_ready = threading.Event()
        self._stop_event: asyncio.Event | None = None
        self._pids_before: set[int] = set()
        self._pids: set[int] = set()
        self._metrics: dict[str, Any] = {}
        self._ready_event: EngineReady | None = None
        self._recorded: set[int] = set()
        self.ready = threading.Event()

    # --- the UI's side ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.settings.model

    @property
    def pids(self) -> set[int]:
        """The engine-core and worker processes this engine started."""
        return set(self._pids)

    def attach(self, emit: Emit) -> None:
        """Send later events to `emit` instead; if the engine is already up, say so there first.
        Lets a new App (or a test) take over a loaded engine without reloading the model."""
        self._emit = emit
        if self._ready_event is not None and self.ready.is_set():
            emit(self._ready_event)

    def start(self) -> None:
        _ensure_resource_tracker(self._log_path)
        _share_the_interpreter()
        self._pids_before = _child_pids()
        self._thread = threading.Thread(target=self._thread_main, name="vllm-tui-engine", daemon=True)
        self._thread.start()
        threading.Thread(target=self._record_load_pids, name="vllm-tui-engine-pids", daemon=True).start()

    def submit(self, request: ChatRequest) -> None:
        if not self.ready.is_set() or self._loop is None:
            self._emit(
                AnswerFailed(request.request_id, "The engine is not ready", "Wait for the model to load.")
            )
            return
        self._loop.call_soon_threadsafe(self._start_request, request)

    def stop(self, request_id: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._cancel_request, request_id)
            except RuntimeError:  # the loop closed in between
                pass

    def shutdown(self, timeout: float = 60.0) -> None:
        """Blocks until the engine and its processes are gone. Safe to call twice, and during load."""
        if self._shutdown_requested.is_set() and (self._thread is None or not self._thread.is_alive()):
            return
        self._shutdown_requested.set()
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:
                pass
        if not self.ready.is_set():
            # AsyncLLM's constructor cannot be interrupted: ending the processes it is waiting on
            # makes it raise, and the engine thread then exits.
            self._terminate(self._new_pids())
        if self._thread is not None:
            self._thread.join(timeout)
        ended = self._pids | self._new_pids()
        self._terminate(ended)
        LocalEngine._claimed_pids.difference_update(self._pids)
        self._pids_file().discard(ended | self._recorded)

    def list_models(self) -> list[str]:
        return [self.settings.model]

    # --- the engine thread -------------------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - the thread must report, never die silently
            self._emit(EngineFailed("The engine thread failed", f"{type(exc).__name__}: {exc}"))
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        started = time.monotonic()
        tracker = StageTracker()

        def on_line(line: str) -> None:
            progress = tracker.feed(line)
            if progress is not None and not self.ready.is_set():
                self._emit(progress)

        problem = preflight(self.settings)
        if problem is not None:
            self._emit(EngineFailed(*problem))
            return
        follower = LogFollower(self._log_path, on_line).start()
        self._emit(LoadProgress("Importing vLLM", 0.01))
        try:
            llm = await self._build(tracker)
        except BaseException as exc:  # noqa: BLE001
            follower.stop()
            if self._shutdown_requested.is_set():
                self._emit(EngineStopped())
                return
            await asyncio.sleep(0.3)  # let the children's last log lines reach the file
            cause = root_cause(follower.lines_since_start())
            ex = explain(f"{type(exc).__name__}: {exc}", cause)
            self._emit(EngineFailed(ex.title, ex.reason, ex.advice))
            self._end(self._new_pids())
            return
        self._llm = llm
        self._pids = self._new_pids()
        LocalEngine._claimed_pids.update(self._pids)
        self._record(self._pids)
        # Children seen during the load that have since exited (helper commands vLLM ran) go.
        self._pids_file().discard(self._recorded - self._pids)
        self._recorded &= self._pids
        try:
            tok = llm.get_tokenizer()  # sync in vLLM 0.33, a coroutine before
            self._tokenizer = await tok if inspect.isawaitable(tok) else tok
            model_config = getattr(llm, "model_config", None)
            self._max_model_len = int(
                getattr(model_config, "max_model_len", 0) or self.settings.max_model_len or 0
            )
            self._parser_name = detect_reasoning_parser(
                self.settings.reasoning_parser,
                self.settings.model,
                getattr(self._tokenizer, "chat_template", None),
            )
        except Exception as exc:  # noqa: BLE001
            ex = explain(f"{type(exc).__name__}: {exc}")
            self._emit(EngineFailed(ex.title, ex.reason, ex.advice))
            await self._close_llm()
            follower.stop()
            return
        await asyncio.sleep(0.2)  # the last load lines ("KV cache size") are usually just written
        follower.stop()
        self._ready_event = EngineReady(
            model=self.settings.model,
            max_model_len=self._max_model_len,
            load_seconds=time.monotonic() - started,
            kv_cache_tokens=tracker.kv_cache_tokens,
            tensor_parallel_size=self.settings.tensor_parallel_size,
        )
        self.ready.set()
        self._emit(self._ready_event)
        await self._watch()
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._close_llm()
        self._emit(EngineStopped())

    async def _build(self, tracker: StageTracker) -> Any:
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from vllm_tui.engine.stats import stat_logger_factory

        if self._shutdown_requested.is_set():
            raise asyncio.CancelledError
        self._emit(LoadProgress("Starting engine", 0.03))
        args = AsyncEngineArgs(**engine_args_kwargs(self.settings))
        factory = stat_logger_factory(self._metrics)
        try:
            return AsyncLLM.from_engine_args(args, stat_loggers=[factory])
        except TypeError:  # a release without custom stat loggers
            return AsyncLLM.from_engine_args(args)

    async def _watch(self) -> None:
        """Until shutdown: publish vLLM's scheduler figures and notice a dead engine process."""
        assert self._stop_event is not None
        while not self._stop_event.is_set():
            try:
                await asyncio.wait_for(self._stop_event.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
            if self._stop_event.is_set():
                return
            dead = [pid for pid in self._pids if not _alive(pid)]
            if dead or getattr(self._llm, "errored", False):
                self.ready.clear()
                for task in list(self._tasks.values()):
                    task.cancel()
                self._emit(
                    EngineFailed(
                        "The engine died",
                        f"engine process {dead[0]} is gone" if dead else "vLLM reports the engine errored",
                        "Press ctrl+r to restart it; the chat is kept.",
                        died=True,
                    )
                )
                await asyncio.to_thread(self._end, self._pids)
                await self._stop_event.wait()
                return
            m = self._metrics
            self._emit(
                EngineMetrics(
                    kv_cache_usage=m.get("kv_cache_usage"),
                    running=int(m.get("running", len(self._tasks))),
                    waiting=int(m.get("waiting", 0)),
                )
            )

    async def _close_llm(self) -> None:
        llm, self._llm = self._llm, None
        if llm is None:
            return
        try:
            llm.shutdown()  # synchronous; fine here, this loop serves only this engine
        except Exception:  # noqa: BLE001 - a dead engine may fail to shut down cleanly
            pass
        await asyncio.to_thread(self._end, self._pids)

    def _start_request(self, request: ChatRequest) -> None:
        task = asyncio.get_running_loop().create_task(self._generate(request))
        self._tasks[request.request_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(request.request_id, None))

    def _cancel_request(self, request_id: str) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            task.cancel()

    async def _generate(self, request: ChatRequest) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        rid = request.request_id
        s = request.sampling
        try:
            prompt_ids = render_prompt_ids(self._tokenizer, request, thinks=self._parser_name is not None)
        except Exception as exc:  # noqa: BLE001 - a broken chat template must not kill the engine
            self._emit(AnswerFailed(rid, "The chat template failed", f"{type(exc).__name__}: {exc}"))
            return
        room = self._max_model_len - len(prompt_ids) if self._max_model_len else s.max_tokens
        if room < 1:
            self._emit(
                AnswerFailed(
                    rid,
                    "The conversation is longer than the model's context",
                    f"The prompt has {len(prompt_ids):,} tokens; max_model_len is {self._max_model_len:,}. "
                    "Nothing was sent.",
                    "Start a new chat (ctrl+n), delete old messages, or raise max_model_len in Settings.",
                )
            )
            return
        params = SamplingParams(
            n=request.n,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k if s.top_k > 0 else -1,
            min_p=s.min_p,
            max_tokens=min(s.max_tokens, room),
            repetition_penalty=s.repetition_penalty,
            presence_penalty=s.presence_penalty,
            frequency_penalty=s.frequency_penalty,
            seed=s.seed,
            ignore_eos=s.ignore_eos,
            output_kind=RequestOutputKind.DELTA,
        )
        # A continued answer (past </think>) is all answer: no thinking split for it.
        parser = None if continues_answer(request) else self._parser_name
        splitters = [ReasoningSplitter(self._tokenizer, parser) for _ in range(request.n)]
        tokens = [0] * request.n
        thinking_tokens = [0] * request.n
        first_at: list[float | None] = [None] * request.n
        last_at = [0.0] * request.n
        done: set[int] = set()
        submitted = time.monotonic()

        def stats(i: int) -> AnswerStats:
            first = first_at[i]
            return AnswerStats(
                prompt_tokens=len(prompt_ids),
                completion_tokens=tokens[i],
                reasoning_tokens=thinking_tokens[i],
                time_to_first_token=None if first is None else first - submitted,
                decode_seconds=0.0 if first is None else last_at[i] - first,
            )

        try:
            stream = self._llm.generate({"prompt_token_ids": prompt_ids}, params, request_id=rid)
            async for out in stream:
                now = time.monotonic()
                for comp in out.outputs:
                    i = comp.index
                    if comp.token_ids:
                        if first_at[i] is None:
                            first_at[i] = now
                        last_at[i] = now
                        tokens[i] += len(comp.token_ids)
                        if splitters[i].in_thinking:
                            thinking_tokens[i] += len(comp.token_ids)
                    thinking, answer = splitters[i].feed(comp.text, comp.token_ids)
                    n_new = len(comp.token_ids)
                    if thinking:
                        self._emit(ReasoningDelta(rid, thinking, i, n_new))
                        n_new = 0
                    if answer:
                        self._emit(TextDelta(rid, answer, i, n_new))
                    if comp.finish_reason is not None and i not in done:
                        done.add(i)
                        self._emit(AnswerFinished(rid, _finish_reason(comp.finish_reason), stats(i), i))
        except asyncio.CancelledError:
            try:
                await self._llm.abort(rid)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass
            for i in range(request.n):
                if i not in done:
                    self._emit(AnswerFinished(rid, "abort", stats(i), i))
            return
        except Exception as exc:  # noqa: BLE001
            if getattr(self._llm, "errored", False) or any(not _alive(pid) for pid in self._pids):
                # The request failed because its engine process is gone; `_watch` says so to the app.
                self._emit(
                    AnswerFailed(
                        rid, "The engine died", "the answer so far is kept", "Press ctrl+r to restart."
                    )
                )
                return
            ex = explain(f"{type(exc).__name__}: {exc}")
            self._emit(AnswerFailed(rid, ex.title, ex.reason, ex.advice))
            return
        for i in range(request.n):
            if i not in done:
                self._emit(AnswerFinished(rid, "stop", stats(i), i))

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
        """While the model loads (AsyncLLM's constructor blocks the engine thread), note each engine
        process as it appears: an app killed mid-load must not leave them unlisted."""
        while not self.ready.is_set() and not self._shutdown_requested.is_set():
            if self._thread is None or not self._thread.is_alive():
                return
            self._record(self._new_pids())
            self._shutdown_requested.wait(0.25)

    def _new_pids(self) -> set[int]:
        return _child_pids() - self._pids_before - (LocalEngine._claimed_pids - self._pids)

    def _end(self, pids: set[int]) -> None:
        self._terminate(pids)
        self._pids_file().discard(pids)

    @staticmethod
    def _terminate(pids: set[int], grace: float = 10.0) -> None:
        import psutil

        from vllm_tui.orphans import end_processes

        procs = []
        for pid in pids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.Error:
                continue
        end_processes(procs, grace)


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


def _child_pids() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _alive(pid: int) -> bool:
    import psutil

    try:
        p = psutil.Process(pid)
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
