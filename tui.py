"""Run vllm-tui from a checkout: `python tui.py --model PATH_OR_ID`.

The guard matters: vLLM starts its engine processes with spawn, and each re-imports this module.
"""

from __future__ import annotations

import sys

from vllm_tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
