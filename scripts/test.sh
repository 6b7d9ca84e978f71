#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
DEEPC_TEST=1 bash scripts/setup.sh
cd build
ctest --output-on-failure -j2 "$@"
