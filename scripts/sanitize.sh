#!/usr/bin/env bash
# The whole CTest suite under AddressSanitizer (with LeakSanitizer) and
# UBSan, built with gcc into build-asan/ (-DDEEPC_SANITIZE=ON). The CLI shell
# tests run the sanitized build-asan/deepc (CTest hands them DEEPC_BIN), and
# the fuzz_replay_* tests replay every seed and regression input.
#
#   scripts/sanitize.sh [CTEST_ARGS...]      e.g. scripts/sanitize.sh -R cli_
#
# RelWithDebInfo (-O2 -g), not Debug: -O0 with ASan makes the CLI tests
# that train LeNet-5 run past CTest's 300 s limit on 2 cores, and ASan finds
# the same errors at -O2 (frame pointers stay on for the stacks).
# Any UBSan report fails the test (halt_on_error=1). cli_mpi runs apart,
# with tests/lsan.supp: Open MPI leaks its start-up state by design.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DDEEPC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
echo "sanitize: built build-asan (ASan + UBSan, gcc)" >&2

export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
supp="$PWD/tests/lsan.supp"
cd build-asan
mpi_lsan="suppressions=$supp:fast_unwind_on_malloc=0:print_suppressions=0"
if [ $# -gt 0 ]; then
  # the caller picks the tests: one run, with the Open MPI suppressions
  LSAN_OPTIONS="$mpi_lsan" ctest --output-on-failure -j2 "$@"
  exit
fi
rc=0
ctest --output-on-failure -j2 -E '^cli_mpi$' || rc=1
LSAN_OPTIONS="$mpi_lsan" ctest --output-on-failure -R '^cli_mpi$' || rc=1
exit $rc
