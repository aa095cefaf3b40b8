"""The store is core, below the UI: importing it must not pull in Textual."""

from __future__ import annotations

import subprocess
import sys


def test_store_imports_without_textual() -> None:
    code = (
        "import sys\n"
        "sys.modules['textual'] = None  # any import of it now fails\n"
        "import vllm_tui.store, vllm_tui.store.chat_store\n"
        "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules if sys.modules[m])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
