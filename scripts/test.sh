#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
DEEPC_TEST=1 bash scripts/setup.sh
# The ONNX tests check exported files with onnx.checker and ONNX Runtime:
# both from PyPI into build/onnx-venv (the tests skip, saying so, without it)
if ! build/onnx-venv/bin/python -c "import onnx, onnxruntime" 2>/dev/null; then
  { /usr/bin/python3 -m venv build/onnx-venv && build/onnx-venv/bin/pip install -q onnx onnxruntime; } ||
    echo "test: could not install onnx and onnxruntime from PyPI: the ONNX tests will skip" >&2
fi
cd build
ctest --output-on-failure -j2 "$@"
