"""Problems found before vLLM spends tens of seconds importing and spawning: a missing or
incomplete model directory, a tensor-parallel size that cannot divide the heads, truncated weights,
a model that is not cached while offline. Reads only small files: config.json, the tokenizer's
presence, safetensors headers."""

from __future__ import annotations

import os
from pathlib import Path

from vllm_tui.config import EngineSettings
from vllm_tui.engine.errors import explain


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
