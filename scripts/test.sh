#!/usr/bin/env bash
# Runs the whole test suite (real vLLM engine, CPU build where no GPU) plus lint and type checks.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not engine" -x
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "run scripts/setup.sh first" >&2; exit 2; }
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
status=0
.venv/bin/ruff check vllm_tui tests bench scripts tui.py || status=1
.venv/bin/mypy || status=1
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
# pytest's 5 means "no tests ran": that is a failure here, never a pass.
[ $rc -eq 0 ] || status=$rc
exit $status
