"""`python -m vllm_tui`. The guard matters: vLLM spawns its engine processes, which re-import this."""

from __future__ import annotations

import sys

from vllm_tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
