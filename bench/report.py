"""How every benchmark hands over its result: JSON on stdout, and the same in a file if asked."""

from __future__ import annotations

import json
from pathlib import Path


def report(result: object, path: Path | None, *, indent: int | None = None) -> None:
    """Print `result` as JSON (on one line unless `indent`), and write it to `path` (indented)."""
    print(json.dumps(result, indent=indent))
    if path:
        path.write_text(json.dumps(result, indent=2))
