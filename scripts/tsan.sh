#!/usr/bin/env bash
# ThreadSanitizer run of the re-entrant inference sessions: 8 threads, one
# model, each thread its own dc_session (tests/test_graph.c, "sessions"
# mode: ThreadSanitizer cannot see inside libgomp, so the OpenMP parts of the
# suite are left out). Builds into build-tsan/ with gcc -fsanitize=thread.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="-fsanitize=thread -g" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build-tsan -j"$(nproc)" --target test_graph >/dev/null
DEEPC_SOURCE_DIR=$PWD TSAN_OPTIONS="halt_on_error=1" build-tsan/test_graph sessions
