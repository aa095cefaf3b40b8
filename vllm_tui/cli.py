"""Command line: flags → settings → App. Imports nothing heavy before the first frame."""

from __future__ import annotations

import argparse
import copy
import os
import signal
import sys
from pathlib import Path

from vllm_tui.config import (
    ATTENTION_BACKENDS,
    DTYPES,
    QUANTIZATIONS,
    AppConfig,
    ConfigError,
    LoadResult,
    Profile,
    load_config,
    log_dir,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vllm-tui",
        description="Keyboard-driven terminal chat for DeepSeek models on vLLM.",
    )
    p.add_argument("--config", type=Path, help="config.yaml to use (default: the user config dir)")
    p.add_argument("--profile", help="profile name from config.yaml")
    p.add_argument("--model", help="local path or Hugging Face id")
    p.add_argument("--server", help="attach to a vLLM OpenAI-compatible server, e.g. http://host:8000/v1")
    p.add_argument("--tensor-parallel-size", "-tp", type=int)
    p.add_argument("--pipeline-parallel-size", "-pp", type=int)
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--dtype", choices=DTYPES)
    p.add_argument("--quantization", choices=QUANTIZATIONS)
    p.add_argument("--enforce-eager", action="store_true", default=None)
    p.add_argument("--trust-remote-code", action="store_true", default=None)
    p.add_argument("--attention-backend", choices=ATTENTION_BACKENDS)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-tokens", type=int)
    return p


def profile_from_args(cfg: AppConfig, args: argparse.Namespace) -> Profile:
    profile = copy.deepcopy(cfg.profile(args.profile))
    engine, sampling = profile.engine, profile.sampling
    for flag, target, attr in (
        ("model", engine, "model"),
        ("tensor_parallel_size", engine, "tensor_parallel_size"),
        ("pipeline_parallel_size", engine, "pipeline_parallel_size"),
        ("gpu_memory_utilization", engine, "gpu_memory_utilization"),
        ("max_model_len", engine, "max_model_len"),
        ("dtype", engine, "dtype"),
        ("quantization", engine, "quantization"),
        ("enforce_eager", engine, "enforce_eager"),
        ("trust_remote_code", engine, "trust_remote_code"),
        ("attention_backend", engine, "attention_backend"),
        ("temperature", sampling, "temperature"),
        ("top_p", sampling, "top_p"),
        ("max_tokens", sampling, "max_tokens"),
    ):
        value = getattr(args, flag)
        if value is not None:
            setattr(target, attr, value)
    if args.server:
        profile.kind = "remote"
        profile.server_url = args.server
        if args.model:
            profile.engine.model = args.model
    return profile


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: LoadResult = load_config(args.config)
    messages = list(result.warnings)
    if result.error is not None:
        messages.insert(0, f"{result.error.title} {result.error.advice}".strip())
    try:
        profile = profile_from_args(result.config, args)
    except ConfigError as exc:
        print(f"vllm-tui: {exc.title}. {exc.advice}", file=sys.stderr)
        return 2

    log_path = log_dir() / "vllm-tui.log"
    # Order matters: the terminal is set aside and vLLM's logging routed before vLLM is imported.
    from vllm_tui.terminal import TerminalIsolation

    isolation = TerminalIsolation(log_path)
    isolation.enter()
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    from vllm_tui.engine.log_capture import route_vllm_logging

    route_vllm_logging(log_path)

    # vLLM's engine processes outlive an app killed with SIGKILL: end those of earlier runs now,
    # before this run's engine needs their memory.
    from vllm_tui import orphans

    reaped = orphans.describe(orphans.reap_orphans())
    if reaped is not None:
        messages.append(reaped)

    from vllm_tui.app import VllmTuiApp

    app = VllmTuiApp(
        result.config,
        profile,
        log_path,
        config_messages=tuple(messages),
        config_path=args.config,
        # A file that failed to load is never written over.
        config_writable=result.error is None,
    )
    if isolation.tty is not None:
        isolation.tty.on_gone = app.terminal_gone
    try:
        app.run()
    finally:
        # The app's handlers are gone with its loop, and by default SIGHUP would end this process
        # midway: after the app left because the terminal's writes failed, the hang-up signal can
        # still be on its way. Nobody is watching; finish ending the engine processes.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        engine = app.engine
        if engine is not None:
            engine.shutdown()
        pid_file = orphans.current()
        if not pid_file.engine_pids:
            pid_file.remove()  # kept otherwise: the next start ends what this one could not
    if app.return_code:
        isolation.say(f"vllm-tui exited with an error; the log is {log_path}")
    return app.return_code or 0
