#!/usr/bin/env bash
# Installs libtorch 2.13.0 (the CPU part of PyPI's torch wheel, without its CUDA
# stack) into .venv/, where .cargo/config.toml points LIBTORCH. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_dir=.venv/lib/python3.11/site-packages/torch
want=2.13.0
if [ -f "$torch_dir/lib/libtorch_cpu.so" ] && grep -q "^__version__ = '$want" "$torch_dir/version.py" 2>/dev/null; then
    exit 0
fi
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    echo "error: $python is not CPython 3.11, which the pinned torch wheel and .cargo/config.toml expect" >&2
    exit 1
fi
echo "== installing libtorch $want into .venv (about 550 MB, once)" >&2
[ -d .venv ] || "$python" -m venv .venv
# --no-deps: torch's CPU library needs only the CUDA runtime and CUPTI stubs to
# load, not the 2.7 GB CUDA stack that its wheel metadata asks for.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
    "torch==$want" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
test -f "$torch_dir/lib/libtorch_cpu.so"
