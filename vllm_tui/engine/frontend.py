"""vLLM's frontend, `AsyncLLM`, in a process of its own, driven by the app over a pipe.

Why not a thread of the app: `AsyncLLM` runs vLLM's output processing, detokenising and our
reasoning split in Python for every decode step. Inside the app it shared the GIL with the UI thread
(a 1.5B stream at ~450 steps/s on an H200 sometimes fell to 300–350 tok/s while the UI drew), and
importing it took the app's process from ~70 MB to ~1 GB resident (torch, vLLM, the tokenizer). Here
it has an interpreter and a core of its own; the app keeps one thread that reads these events
(`vllm_tui.engine.local.LocalEngine`).

`AsyncLLM.__init__` blocks for the whole model load and binds to the loop it runs in, so it is built
and used only in this process's one asyncio loop. The pipe carries pickled tuples from the app —
`("submit", ChatRequest)`, `("stop", request_id)`, `("raw", prompt, tokens)`, `("shutdown",)` — and
engine events (vllm_tui.engine.events) back, plus a `RawStream` for "raw".

This process ends itself and the engine processes it started when the app goes away without saying
so (killed with SIGKILL, or by the OOM killer): vLLM's own processes have no parent-death watchdog.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vllm_tui.engine.errors import explain, root_cause
from vllm_tui.engine.events import (
    AnswerFailed,
    AnswerFinished,
    AnswerRoom,
    AnswerStats,
    EngineFailed,
    EngineMetrics,
    EngineReady,
    EngineStopped,
    LoadProgress,
    ReasoningDelta,
    TextDelta,
    finish_reason_of,
)
from vllm_tui.engine.load_stages import StageTracker
from vllm_tui.engine.log_capture import LogFollower
from vllm_tui.engine.processes import (
    alive,
    child_pids,
    remove_segments,
    shared_segments,
    terminate,
    terminate_now,
)
from vllm_tui.engine.prompt import continues_answer, render_prompt_ids
from vllm_tui.engine.reasoning import ReasoningSplitter, detect_reasoning_parser
from vllm_tui.engine.request import ChatRequest, ChatTurn

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from vllm_tui.config import EngineSettings

log = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 0.5
"""How often the watchdog looks whether the app is still this process's parent."""


@dataclass(frozen=True)
class RawStream:
    """What a bare loop on `AsyncLLM` measured for one request (the benchmark's baseline)."""

    stats: dict[str, float] = field(default_factory=dict)


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
    if settings.attention_backend not in ("", "auto"):
        kwargs["attention_backend"] = settings.attention_backend
    return kwargs


END_GRACE = 1.0
"""Seconds vLLM's processes get to end on SIGTERM, at shutdown, before they are killed."""


def serve(settings: EngineSettings, conn: Connection, log_path: str) -> None:
    """The frontend process's entry point (a `multiprocessing` spawn target)."""
    # The app handles the terminal's signals and says "shutdown" over the pipe; a hang-up or ctrl+c
    # reaching the whole process group must not end the engine under an app still saving the chat.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _set_title()
    frontend = Frontend(settings, conn, Path(log_path))
    threading.Thread(target=frontend.watch_parent, name="vllm-tui-parent-watch", daemon=True).start()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(frontend.main())
    except BaseException as exc:  # noqa: BLE001 - the app must hear why, never a silent exit
        frontend.emit(EngineFailed("The engine process failed", f"{type(exc).__name__}: {exc}"))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            conn.close()
    # Everything this process owned is ended (vLLM's processes, their shared memory): leave now.
    # Python's own teardown of a process that imported vLLM and torch took 2-4 s more, measured,
    # while the app's ctrl+q waited on it with the screen up.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _set_title() -> None:
    """`ps` and `top` show "vllm-tui frontend" instead of a spawn command line."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle("vllm-tui frontend")


class Frontend:
    """One model load in this process; see the module docstring."""

    def __init__(self, settings: EngineSettings, conn: Connection, log_path: Path) -> None:
        self.settings = settings
        self._conn = conn
        self._send_lock = threading.Lock()
        self._log_path = log_path
        self._parent = os.getppid()
        self._llm: Any = None
        self._tokenizer: Any = None
        self._parser_name: str | None = None
        self._max_model_len = 0
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stop_event: asyncio.Event | None = None
        self._pids: set[int] = set()
        self._segments: set[str] = set()
        """vLLM's shared memory between its processes: a process ended by a signal leaves its own."""
        self._metrics: dict[str, Any] = {}
        self._ready = False

    def emit(self, message: Any) -> None:
        """To the app. Called from the loop and from the log follower's thread."""
        with self._send_lock:
            try:
                self._conn.send(message)
            except (OSError, ValueError):  # the app is gone; the watchdog or EOF ends this process
                pass

    def watch_parent(self) -> None:
        """End the engine processes and this one once the app is gone (reparented)."""
        while os.getppid() == self._parent:
            time.sleep(PARENT_CHECK_SECONDS)
        self._end_children(child_pids(), grace=5.0)
        os._exit(1)

    def _end_children(self, pids: set[int], grace: float = 10.0) -> None:
        terminate(pids, grace)
        remove_segments(self._segments)

    # --- the loop ---------------------------------------------------------------------------

    async def main(self) -> None:
        self._stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._conn.fileno(), self._on_command)
        started = time.monotonic()
        tracker = StageTracker()

        def on_line(line: str) -> None:
            progress = tracker.feed(line)
            if progress is not None and not self._ready:
                self.emit(progress)

        follower = LogFollower(self._log_path, on_line).start()
        self.emit(LoadProgress("Importing vLLM", 0.01))
        try:
            llm = await self._build()
        except BaseException as exc:  # noqa: BLE001
            follower.stop()
            await asyncio.sleep(0.3)  # let the children's last log lines reach the file
            cause = root_cause(follower.lines_since_start())
            ex = explain(f"{type(exc).__name__}: {exc}", cause)
            self.emit(EngineFailed(ex.title, ex.reason, ex.advice))
            terminate(child_pids())
            return
        self._llm = llm
        self._pids = child_pids()
        self._segments = shared_segments(self._pids)
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
            self.emit(EngineFailed(ex.title, ex.reason, ex.advice))
            await self._close_llm()
            follower.stop()
            return
        await asyncio.sleep(0.2)  # the last load lines ("KV cache size") are usually just written
        follower.stop()
        self._ready = True
        self.emit(
            EngineReady(
                model=self.settings.model,
                max_model_len=self._max_model_len,
                load_seconds=time.monotonic() - started,
                kv_cache_tokens=tracker.kv_cache_tokens,
                tensor_parallel_size=self.settings.tensor_parallel_size,
            )
        )
        await self._watch()
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._close_llm()
        self.emit(EngineStopped())

    async def _build(self) -> Any:
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from vllm_tui.engine.stats import stat_logger_factory

        self.emit(LoadProgress("Starting engine", 0.03))
        args = AsyncEngineArgs(**engine_args_kwargs(self.settings))
        factory = stat_logger_factory(self._metrics)
        try:
            return AsyncLLM.from_engine_args(args, stat_loggers=[factory])
        except TypeError:  # a release without custom stat loggers
            return AsyncLLM.from_engine_args(args)

    def _on_command(self) -> None:
        """The pipe is readable: run every command waiting in it."""
        assert self._stop_event is not None
        try:
            while self._conn.poll():
                command = self._conn.recv()
                self._dispatch(command)
        except (EOFError, OSError):  # the app closed its end: nothing more will come
            asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._stop_event.set()

    def _dispatch(self, command: tuple[Any, ...]) -> None:
        assert self._stop_event is not None
        kind = command[0]
        if kind == "shutdown":
            self._stop_event.set()
        elif kind == "submit":
            self._start(command[1].request_id, self._generate(command[1]))
        elif kind == "stop":
            task = self._tasks.get(command[1])
            # Logged: a stop that changes nothing (the answer had ended) is told from one lost.
            log.info("stop %s: %s", command[1], "cancelling" if task is not None else "no such request")
            if task is not None:
                task.cancel()
        elif kind == "raw":
            self._start(f"raw-{time.time_ns()}", self._raw(command[1], command[2]))

    def _start(self, key: str, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._tasks.pop(key, None))

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
            dead = [pid for pid in self._pids if not alive(pid)]
            if dead or getattr(self._llm, "errored", False):
                self._ready = False
                for task in list(self._tasks.values()):
                    task.cancel()
                self.emit(
                    EngineFailed(
                        "The engine died",
                        f"engine process {dead[0]} is gone" if dead else "vLLM reports the engine errored",
                        "Press ctrl+r to restart it; the chat is kept.",
                        died=True,
                    )
                )
                await asyncio.to_thread(self._end_children, self._pids)
                await self._stop_event.wait()
                return
            m = self._metrics
            self.emit(
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
        # vLLM's own shutdown ends its processes one after another, the workers and then the
        # engine core, each with Python's teardown of torch: 5 s in all on the dev box (3-7 s on the
        # GPU hosts) while the app's ctrl+q or model switch waited. The workers are told here, to
        # wind down beside the engine core, and vLLM kills the engine core's tree after END_GRACE
        # instead of its default 5 s: nothing of theirs is left to save then (the driver frees GPU
        # memory; their shared memory is removed below).
        direct = {p.pid for p in multiprocessing.active_children() if p.pid is not None}
        terminate_now((self._pids | child_pids()) - direct)
        try:
            # Synchronous, on this loop: AsyncLLM's output task cannot run meanwhile and take the
            # engine core's end for a crash (it logged a traceback when it did).
            try:
                llm.shutdown(timeout=END_GRACE)
            except TypeError:  # a release whose shutdown takes no timeout
                llm.shutdown()
        except Exception:  # noqa: BLE001 - a dead engine may fail to shut down cleanly
            pass
        await asyncio.to_thread(self._end_children, self._pids | child_pids(), END_GRACE)

    # --- requests ---------------------------------------------------------------------------

    async def _generate(self, request: ChatRequest) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        rid = request.request_id
        s = request.sampling
        try:
            prompt_ids = render_prompt_ids(self._tokenizer, request, thinks=self._parser_name is not None)
        except Exception as exc:  # noqa: BLE001 - a broken chat template must not kill the engine
            self.emit(AnswerFailed(rid, "The chat template failed", f"{type(exc).__name__}: {exc}"))
            return
        room = self._max_model_len - len(prompt_ids) if self._max_model_len else s.max_tokens
        if room < 1:
            self.emit(
                AnswerFailed(
                    rid,
                    "The conversation is longer than the model's context",
                    f"The prompt has {len(prompt_ids):,} tokens; max_model_len is {self._max_model_len:,}. "
                    "Nothing was sent.",
                    "Start a new chat (ctrl+n), delete old messages, or raise max_model_len in Settings.",
                )
            )
            return
        if room < s.max_tokens:
            # Late in a long chat: say so before the answer, not only when it ends cut off.
            self.emit(AnswerRoom(rid, room, s.max_tokens, self._max_model_len))
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
                        self.emit(ReasoningDelta(rid, thinking, i, n_new))
                        n_new = 0
                    if answer:
                        self.emit(TextDelta(rid, answer, i, n_new))
                    if comp.finish_reason is not None and i not in done:
                        done.add(i)
                        self.emit(AnswerFinished(rid, finish_reason_of(comp.finish_reason), stats(i), i))
        except asyncio.CancelledError:
            try:
                await self._llm.abort(rid)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass
            for i in range(request.n):
                if i not in done:
                    self.emit(AnswerFinished(rid, "abort", stats(i), i))
            return
        except Exception as exc:  # noqa: BLE001
            if getattr(self._llm, "errored", False) or any(not alive(pid) for pid in self._pids):
                # The request failed because its engine process is gone; `_watch` says so to the app.
                self.emit(
                    AnswerFailed(
                        rid, "The engine died", "the answer so far is kept", "Press ctrl+r to restart."
                    )
                )
                return
            ex = explain(f"{type(exc).__name__}: {exc}")
            self.emit(AnswerFailed(rid, ex.title, ex.reason, ex.advice))
            return
        for i in range(request.n):
            if i not in done:
                self.emit(AnswerFinished(rid, "stop", stats(i), i))

    async def _raw(self, prompt: str, tokens: int) -> None:
        """The benchmark's baseline for `prompt` (bench/delivered.py), said back as a RawStream."""
        from vllm_tui.config import SamplingSettings

        request = ChatRequest((ChatTurn("user", prompt),), SamplingSettings())
        ids = render_prompt_ids(self._tokenizer, request, thinks=True)
        self.emit(RawStream(await raw_stream(self._llm, ids, tokens)))


async def raw_stream(
    llm: Any, prompt_ids: list[int], tokens: int, *, temperature: float = 0.6, top_p: float = 0.95
) -> dict[str, float]:
    """A bare loop on `AsyncLLM`: `tokens` tokens with `ignore_eos` and R1 sampling (unless told
    otherwise), nothing else done per output. What the benchmarks compare the app (and engine
    options) against."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    params = SamplingParams(
        temperature=temperature,
        top_p=top_p,
        max_tokens=tokens,
        ignore_eos=True,
        output_kind=RequestOutputKind.DELTA,
    )
    cpu0 = time.process_time()
    start = time.perf_counter()
    first = last = 0.0
    count = outputs = 0
    rid = f"raw-{time.time_ns()}"
    async for out in llm.generate({"prompt_token_ids": prompt_ids}, params, request_id=rid):
        now = time.perf_counter()
        n = len(out.outputs[0].token_ids)
        if n and not count:
            first = now
        count += n
        outputs += 1
        last = now
    return {
        "tokens": count,
        "ttft_s": first - start,
        "tok_s": (count - 1) / (last - first) if last > first else 0.0,
        "tokens_per_output": count / max(1, outputs),
        "frontend_cpu_ms_per_token": 1000 * (time.process_time() - cpu0) / max(1, count),
    }
