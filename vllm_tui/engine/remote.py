"""A vLLM OpenAI-compatible server (`vllm serve`) as an engine.

httpx's async client runs in this engine's own thread and event loop, so the UI's calls (start,
submit, stop) only schedule work and return at once; everything comes back through `emit`. Streams
are SSE chat completions; closing a response is how a request is cancelled (vLLM aborts a request
whose client went away). The API key is read from the environment variable the profile names, at
the moment of each request, and is never stored, logged or shown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

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
    finish_reason_of,
)
from vllm_tui.engine.prompt import conversation
from vllm_tui.engine.reasoning import detect_reasoning_parser
from vllm_tui.engine.remote_errors import (
    RemoteError,
    ServerContext,
    status_error,
    stream_error,
    transport_error,
)
from vllm_tui.engine.sse import SSEDecoder, StreamError, ThinkTagSplitter, parse_chunk

if TYPE_CHECKING:
    from vllm_tui.config import Profile
    from vllm_tui.engine.base import Emit
    from vllm_tui.engine.request import ChatRequest

T = TypeVar("T")


def normalize_base_url(url: str) -> str:
    """The API root: "host:8000", "http://host:8000/" and "http://host:8000/v1" all give
    "http://host:8000/v1"."""
    url = url.strip()
    if not url:
        raise RemoteError(
            "This remote profile has no server URL",
            "server_url is empty.",
            "Set server_url in the profile, e.g. http://127.0.0.1:8000/v1",
        )
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    return url


@dataclass
class _Sample:
    """One parallel sample of a streaming request, as it arrives."""

    splitter: ThinkTagSplitter | None = None
    mode: str = ""
    """"" until the first text; then "server" (reasoning fields), "client" (split here) or "plain"."""
    tokens: int | None = None
    """Completion tokens so far, from vLLM's per-chunk usage; None when the server sends none."""
    reasoning_tokens: int = 0
    first_at: float | None = None
    last_at: float = 0.0
    finish: str | None = None
    reported: bool = False


@dataclass
class _Stream:
    request: ChatRequest
    submitted: float
    samples: list[_Sample] = field(default_factory=list)
    prompt_tokens: int = 0
    final_completion_tokens: int | None = None
    final_reasoning_tokens: int | None = None
    got_bytes: bool = False


class RemoteEngine:
    """See the module docstring. Usable again after any failure: start() reconnects."""

    def __init__(
        self,
        profile: Profile,
        emit: Emit,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        metrics_interval: float = 2.0,
    ) -> None:
        self.profile = profile
        self._emit = emit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        """Longest silence accepted from the server, also mid-stream (a hung server is detected by it).
        It must cover the prefill of a long prompt on a busy server, hence a minute by default."""
        self.metrics_interval = metrics_interval
        self._model = profile.engine.model.strip()
        self._models: list[str] = []
        self._max_model_len = 0
        self._client_split = (
            detect_reasoning_parser(profile.engine.reasoning_parser, self._model, None) is not None
        )
        """Split thinking from answer at `</think>` here when the server sends no reasoning fields;
        decided again from the model card at each connect."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._metrics_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.ready = threading.Event()

    # --- the UI's side ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        host = urlsplit(self._base_url_or_raw()).netloc or self.profile.server_url
        return f"{self._model or '?'} @ {host}"

    @property
    def model(self) -> str:
        return self._model

    @property
    def models(self) -> list[str]:
        """The server's models as of the last check (start or list_models); no network call."""
        return list(self._models)

    def attach(self, emit: Emit) -> None:
        """Send later events to `emit` instead (a new App taking over a connected engine)."""
        self._emit = emit

    def start(self) -> None:
        """Connect: check the server and the model. Calling it again reconnects after a failure."""
        self._spawn(self._connect())

    def select_model(self, model: str) -> None:
        """Use another of the server's models for the next requests (the model picker)."""
        self._model = model.strip()
        self._spawn(self._connect())

    def submit(self, request: ChatRequest) -> None:
        submitted = time.monotonic()
        try:
            loop = self._ensure_loop()
        except RemoteError as exc:
            self._emit(AnswerFailed(request.request_id, exc.title, exc.reason, exc.advice))
            return
        loop.call_soon_threadsafe(self._start_request, request, submitted)

    def stop(self, request_id: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._cancel_request, request_id)
        except RuntimeError:  # the loop closed in between
            pass

    def list_models(self) -> list[str]:
        """Ids from the server's /v1/models. Blocks for up to the connect + read timeouts, so the UI
        calls it from a worker thread. Raises RemoteError (title/reason/advice) when it cannot."""
        future = asyncio.run_coroutine_threadsafe(self._fetch_models(), self._ensure_loop())
        try:
            cards = future.result(self.connect_timeout + self.read_timeout + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RemoteError(
                "The server did not list its models in time", "", "Check the server and its log."
            ) from None
        return [str(card.get("id")) for card in cards]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancels every stream (the server aborts them), closes the client, joins the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if self._closed:
                return
            self._closed = True
        if loop is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
            except Exception:  # noqa: BLE001 - a close that fails or hangs must not stop shutdown
                pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self.ready.clear()
        self._emit(EngineStopped())

    # --- the engine thread --------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RemoteError("The remote engine was shut down", "", "Open the profile again.")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                self._thread = threading.Thread(
                    target=self._thread_main, args=(loop, started), name="vllm-tui-remote", daemon=True
                )
                self._thread.start()
                started.wait()
                self._loop = loop
            return self._loop

    def _thread_main(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        # No overall timeout: reads are bounded per chunk by read_timeout, so a long answer that
        # keeps arriving is never cut, while a silent server is.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
            headers={"User-Agent": "vllm-tui"},
        )
        loop.call_soon(started.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> None:
        try:
            loop = self._ensure_loop()
        except RemoteError as exc:
            coro.close()
            self._emit(EngineFailed(exc.title, exc.reason, exc.advice))
            return
        asyncio.run_coroutine_threadsafe(coro, loop)

    async def _close(self) -> None:
        tasks = list(self._tasks.values())
        if self._metrics_task is not None:
            tasks.append(self._metrics_task)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def _base_url_or_raw(self) -> str:
        try:
            return normalize_base_url(self.profile.server_url)
        except RemoteError:
            return self.profile.server_url

    def _context(self, base: str) -> ServerContext:
        return ServerContext(
            base_url=base,
            model=self._model,
            models=tuple(self._models),
            api_key_env=self.profile.api_key_env or "VLLM_API_KEY",
            profile=self.profile.name,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.profile.api_key_env or "VLLM_API_KEY", "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    # --- connecting -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            await self._check()
        except Exception as exc:  # noqa: BLE001 - a bug here must surface, not vanish in a future
            self._emit(
                EngineFailed(
                    "Connecting failed",
                    f"{type(exc).__name__}: {exc}",
                    "The full message is in the log (F5 opens the log viewer).",
                )
            )

    async def _check(self) -> None:
        self.ready.clear()
        started = time.monotonic()
        try:
            base = normalize_base_url(self.profile.server_url)
            self._emit(LoadProgress(f"Connecting to {base}", None))
            cards = await self._fetch_models()
            ids = [str(c.get("id")) for c in cards]
            if not self._model and len(ids) == 1:
                self._model = ids[0]
            card = next((c for c in cards if c.get("id") == self._model), None)
            if card is None:
                raise RemoteError(
                    f"The server does not serve {self._model!r}" if self._model else "Choose a model",
                    f"{base} serves: {', '.join(ids) or 'no models'}.",
                    f"Set engine.model in profile {self.profile.name!r} to one of those "
                    "(the name given to vllm serve --served-model-name, or its model path).",
                )
        except RemoteError as exc:
            self._emit(EngineFailed(exc.title, exc.reason, exc.advice))
            return
        self._max_model_len = int(card.get("max_model_len") or 0)
        setting = self.profile.engine.reasoning_parser
        # The served name may be an alias; the card's root is the model the server loaded.
        parser = detect_reasoning_parser(setting, self._model, None) or detect_reasoning_parser(
            setting, str(card.get("root") or ""), None
        )
        self._client_split = parser is not None
        self.ready.set()
        self._emit(
            EngineReady(
                model=self._model, max_model_len=self._max_model_len, load_seconds=time.monotonic() - started
            )
        )
        if self._metrics_task is None or self._metrics_task.done():
            self._metrics_task = asyncio.get_running_loop().create_task(self._poll_metrics())

    async def _fetch_models(self) -> list[dict[str, Any]]:
        assert self._client is not None
        base = normalize_base_url(self.profile.server_url)
        try:
            response = await self._client.get(f"{base}/models", headers=self._headers())
        except httpx.HTTPError as exc:
            raise transport_error(exc, self._context(base), streaming=False) from None
        if response.status_code != 200:
            raise status_error(response.status_code, response.text, self._context(base))
        try:
            data = response.json()["data"]
            cards = [c for c in data if isinstance(c, dict) and "id" in c]
        except (ValueError, KeyError, TypeError):
            raise RemoteError(
                "The server's model list is not what vLLM sends",
                f"GET {base}/models answered: {response.text[:200]}",
                "Check server_url: it should point at a vLLM (OpenAI-compatible) server.",
            ) from None
        self._models = [str(c["id"]) for c in cards]
        return cards

    async def _poll_metrics(self) -> None:
        """vLLM's Prometheus figures for the engine card; stops quietly where /metrics is absent."""
        assert self._client is not None
        root = normalize_base_url(self.profile.server_url)[: -len("/v1")]
        previous: tuple[float, float] | None = None
        while True:
            try:
                response = await self._client.get(f"{root}/metrics", headers=self._headers())
            except httpx.HTTPError:
                await asyncio.sleep(self.metrics_interval * 5)
                continue
            if response.status_code != 200:
                return
            values = _prometheus_sums(response.text)
            now = time.monotonic()
            generated = values.get("vllm:generation_tokens_total")
            rate = None
            if generated is not None and previous is not None and now > previous[0]:
                rate = max(0.0, (generated - previous[1]) / (now - previous[0]))
            if generated is not None:
                previous = (now, generated)
            usage = values.get("vllm:kv_cache_usage_perc", values.get("vllm:gpu_cache_usage_perc"))
            self._emit(
                EngineMetrics(
                    kv_cache_usage=usage,
                    running=int(values.get("vllm:num_requests_running", 0)),
                    waiting=int(values.get("vllm:num_requests_waiting", 0)),
                    generation_tokens_per_s=rate,
                )
            )
            await asyncio.sleep(self.metrics_interval)

    # --- streaming ------------------------------------------------------------------------------

    def _start_request(self, request: ChatRequest, submitted: float) -> None:
        rid = request.request_id
        task = asyncio.get_running_loop().create_task(self._generate(request, submitted))
        self._tasks[rid] = task

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.pop(rid, None)
            # Cancelled before its first step, the coroutine never ran its own abort handling.
            if t.cancelled():
                for i in range(max(1, request.n)):
                    self._emit(AnswerFinished(rid, "abort", AnswerStats(), i))

        task.add_done_callback(done)

    def _cancel_request(self, request_id: str) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            task.cancel()

    def _body(self, request: ChatRequest, *, with_max_tokens: bool = True) -> dict[str, Any]:
        s = request.sampling
        body: dict[str, Any] = {
            "model": self._model,
            "messages": conversation(request),
            "stream": True,
            # continuous_usage_stats (a vLLM extension) puts each sample's token count in its chunks,
            # which the final usage (one sum over all samples) cannot give for n > 1.
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
            "n": request.n,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "min_p": s.min_p,
            "repetition_penalty": s.repetition_penalty,
            "presence_penalty": s.presence_penalty,
            "frequency_penalty": s.frequency_penalty,
        }
        if with_max_tokens:
            # vLLM refuses max_tokens above the context length outright; clamping keeps a large
            # setting usable on a server started with a small --max-model-len.
            limit = self._max_model_len
            body["max_tokens"] = min(s.max_tokens, limit) if limit else s.max_tokens
        if s.top_k > 0:
            body["top_k"] = s.top_k
        if s.seed is not None:
            body["seed"] = s.seed
        messages = body["messages"]
        if request.continue_final and messages and messages[-1]["role"] == "assistant":
            body["add_generation_prompt"] = False
            body["continue_final_message"] = True
        return body

    async def _generate(self, request: ChatRequest, submitted: float) -> None:
        rid = request.request_id
        stream = _Stream(request, submitted, [_Sample() for _ in range(max(1, request.n))])
        try:
            base = normalize_base_url(self.profile.server_url)
            if not self._model:
                raise RemoteError(
                    "No model chosen",
                    "The server has not been checked yet.",
                    "Wait for the connection, or pick a model.",
                )
            try:
                await self._stream(stream, base, self._body(request))
            except _RetryWithoutMaxTokens:
                await self._stream(stream, base, self._body(request, with_max_tokens=False))
        except asyncio.CancelledError:
            self._finish_all(stream, "abort")
            return
        except RemoteError as exc:
            self._flush_all(stream)
            self._emit(AnswerFailed(rid, exc.title, exc.reason, exc.advice))
            return
        except Exception as exc:  # noqa: BLE001 - one request's bug must not kill the engine thread
            self._emit(
                AnswerFailed(
                    rid,
                    "The request failed",
                    f"{type(exc).__name__}: {exc}",
                    "The full message is in the log (F5 opens the log viewer).",
                )
            )
            return
        self._finish_all(stream, "stop")

    async def _stream(self, stream: _Stream, base: str, body: dict[str, Any]) -> None:
        assert self._client is not None
        headers = {**self._headers(), "Accept": "text/event-stream"}
        url = f"{base}/chat/completions"
        try:
            async with self._client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    text = (await response.aread()).decode("utf-8", "replace")
                    if response.status_code == 400 and "in the completion" in text:
                        # vLLM before ~0.30 refuses prompt + max_tokens > context instead of
                        # clamping; without max_tokens it fills what is left of the context.
                        raise _RetryWithoutMaxTokens
                    raise status_error(response.status_code, text, self._context(base))
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    stream.got_bytes = True
                    event = decoder.feed(line)
                    if event is not None and self._on_event(stream, event.data):
                        return
                event = decoder.flush()
                if event is not None and self._on_event(stream, event.data):
                    return
        except httpx.HTTPError as exc:
            raise transport_error(exc, self._context(base), streaming=stream.got_bytes) from None
        if any(s.finish is None for s in stream.samples):
            raise RemoteError(
                "The answer was cut off",
                "The server ended the stream before the answer was complete.",
                "The server may have been restarted; check its log and send the message again.",
            )

    def _on_event(self, stream: _Stream, data: str) -> bool:
        """Handles one SSE event; True at the end of the stream ([DONE])."""
        if data.strip() == "[DONE]":
            return True
        try:
            chunk = parse_chunk(data)
        except StreamError as exc:
            raise stream_error(exc.message, malformed=exc.malformed) from None
        rid = stream.request.request_id
        now = time.monotonic()
        if chunk.usage is not None:
            stream.prompt_tokens = chunk.usage.prompt_tokens or stream.prompt_tokens
            if not chunk.choices:
                stream.final_completion_tokens = chunk.usage.completion_tokens
                stream.final_reasoning_tokens = chunk.usage.reasoning_tokens
        for choice in chunk.choices:
            if not 0 <= choice.index < len(stream.samples):
                continue
            sample = stream.samples[choice.index]
            if chunk.usage is not None and len(chunk.choices) == 1:
                sample.tokens = chunk.usage.completion_tokens
            thinking, answer = self._split(sample, choice.reasoning, choice.content)
            if thinking or answer:
                if sample.first_at is None:
                    sample.first_at = now
                sample.last_at = now
            if thinking:
                sample.reasoning_tokens = sample.tokens or 0
                self._emit(ReasoningDelta(rid, thinking, choice.index))
            if answer:
                self._emit(TextDelta(rid, answer, choice.index))
            if choice.finish_reason is not None:
                if choice.finish_reason == "error":
                    raise RemoteError(
                        "The server failed while generating",
                        'vLLM ended the answer with finish_reason "error".',
                        "The server's log has the details; the answer so far is kept.",
                    )
                sample.finish = choice.finish_reason
                self._flush(stream, choice.index)
                # Without per-chunk usage the token count comes only in the last chunk: wait for it.
                if sample.tokens is not None:
                    self._report(stream, choice.index)
        return False

    def _split(self, sample: _Sample, reasoning: str | None, content: str | None) -> tuple[str, str]:
        if reasoning:
            if sample.mode == "client" and sample.splitter is not None:
                held, _ = sample.splitter.flush()
                reasoning = held + reasoning
            sample.mode = "server"
        if not content:
            return reasoning or "", ""
        if not sample.mode:
            # R1 output starts inside the thinking; a server without a reasoning parser sends it,
            # `</think>` included, as content, so it is split here.
            sample.mode = "client" if self._client_split else "plain"
            if sample.mode == "client":
                sample.splitter = ThinkTagSplitter()
        if sample.mode == "client" and sample.splitter is not None:
            thinking, answer = sample.splitter.feed(content)
            return (reasoning or "") + thinking, answer
        return reasoning or "", content

    def _flush(self, stream: _Stream, index: int) -> None:
        sample = stream.samples[index]
        if sample.splitter is None:
            return
        thinking, answer = sample.splitter.flush()
        rid = stream.request.request_id
        if thinking:
            self._emit(ReasoningDelta(rid, thinking, index))
        if answer:
            self._emit(TextDelta(rid, answer, index))

    def _flush_all(self, stream: _Stream) -> None:
        for i, sample in enumerate(stream.samples):
            if sample.finish is None:
                self._flush(stream, i)

    def _report(self, stream: _Stream, index: int) -> None:
        sample = stream.samples[index]
        if sample.reported:
            return
        sample.reported = True
        single = len(stream.samples) == 1
        tokens = sample.tokens
        if tokens is None and single:
            tokens = stream.final_completion_tokens
        reasoning = sample.reasoning_tokens
        if single and stream.final_reasoning_tokens:
            reasoning = stream.final_reasoning_tokens
        first = sample.first_at
        stats = AnswerStats(
            prompt_tokens=stream.prompt_tokens,
            completion_tokens=tokens or 0,
            reasoning_tokens=reasoning,
            time_to_first_token=None if first is None else first - stream.submitted,
            decode_seconds=0.0 if first is None else sample.last_at - first,
        )
        self._emit(AnswerFinished(stream.request.request_id, finish_reason_of(sample.finish), stats, index))

    def _finish_all(self, stream: _Stream, default: FinishReason) -> None:
        for i, sample in enumerate(stream.samples):
            if sample.finish is None:
                self._flush(stream, i)
                sample.finish = default
            self._report(stream, i)


class _RetryWithoutMaxTokens(Exception):
    pass


def _prometheus_sums(text: str) -> dict[str, float]:
    """Each metric's value summed over its label sets (several engines behind one server add up),
    except the KV-cache fraction, which is averaged."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        try:
            sums[name] = sums.get(name, 0.0) + float(value)
        except ValueError:
            continue
        counts[name] = counts.get(name, 0) + 1
    for name in ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"):
        if name in sums:
            sums[name] /= counts[name]
    return sums
