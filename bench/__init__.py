"""Benchmarks (see docs/benchmarks.md)."""

import vllm_tui  # noqa: F401  (first: it sets the app's TEXTUAL_FPS before Textual is imported)
