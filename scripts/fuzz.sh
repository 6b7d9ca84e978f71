#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang into
# build-fuzz/ and runs each one for a bounded time, one after the other.
#
#   scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]
#   scripts/fuzz.sh              every harness, 60 s each
#   scripts/fuzz.sh 30           what CI runs
#   scripts/fuzz.sh 900 idx      one harness for 15 minutes
#
# Each harness first replays its regression inputs (tests/fuzz/regressions/
# <name>/, less those listed in regressions/OPEN), then fuzzes from the
# committed seeds (tests/fuzz/corpus/<name>/, read only) plus the corpus it
# grew before (build-fuzz/fuzz-work/corpus/<name>/, where new inputs go) with
# its dictionary, under -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 -max_len=16384.
# A crash, sanitizer report, leak, out-of-memory or timeout is a failure:
# libFuzzer saves the input under build-fuzz/fuzz-work/artifacts/<name>/ and
# this script exits 1 after the remaining harnesses have run. At the end it
# prints executions and coverage (libFuzzer's cov = edges, ft = features) per
# harness.
#
# Without clang and its libFuzzer runtime (Debian: clang, libclang-rt-dev;
# `DEEPC_FUZZ=1 bash scripts/setup.sh` installs them) it prints why and exits 0.
#
# Environment: FUZZ_FORK=1 keeps going after a finding (libFuzzer -fork=1
# with -ignore_crashes/-ignore_ooms/-ignore_timeouts) to collect several
# findings in one run (the run still fails if any was found); FUZZ_FRESH=1
# forgets the grown corpus first; FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "fuzz: SECONDS_PER_HARNESS must be a positive integer, got '$secs'" >&2
  exit 2
fi
all=()
for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; all+=("${n%.c}"); done
if [ $# -gt 0 ]; then names=("$@"); else names=("${all[@]}"); fi
for n in "${names[@]}"; do
  [ -f "tests/fuzz/fuzz_$n.c" ] || { echo "fuzz: no harness '$n' (have: ${all[*]})" >&2; exit 2; }
done

CC_FUZZ=${CC_FUZZ:-clang}
if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
  echo "fuzz: skipped: $CC_FUZZ not found (DEEPC_FUZZ=1 bash scripts/setup.sh installs clang)" >&2
  exit 0
fi
rt="$("$CC_FUZZ" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"
if [ ! -f "$rt" ]; then
  echo "fuzz: skipped: $CC_FUZZ has no libFuzzer runtime ($rt; Debian package libclang-rt-dev)" >&2
  exit 0
fi

t0=$(date +%s)
CC="$CC_FUZZ" cmake -S . -B build-fuzz -DDEEPC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >/dev/null
echo "fuzz: built ${targets[*]} in $(( $(date +%s) - t0 )) s" >&2

work=build-fuzz/fuzz-work
[ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work/corpus"
mkdir -p "$work/tmp"
export TMPDIR="$PWD/$work/tmp" # the harnesses' scratch files
sym=$(command -v llvm-symbolizer || ls /usr/bin/llvm-symbolizer-* 2>/dev/null | head -1 || true)
[ -n "$sym" ] && export ASAN_SYMBOLIZER_PATH="$sym"
# abort_on_error off: libFuzzer's own handler must see the report to save the input
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export OMP_NUM_THREADS=1

limits=(-rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10)
# libFuzzer would otherwise never try inputs longer than the largest seed
maxlen=(-max_len="${FUZZ_MAX_LEN:-16384}")
fork=()
[ "${FUZZ_FORK:-0}" = 1 ] && fork=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
# regressions/OPEN: "harness/file" lines of known, not yet fixed findings
open=()
[ -f tests/fuzz/regressions/OPEN ] && mapfile -t open < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' tests/fuzz/regressions/OPEN)

failed=0
summary=()
for n in "${names[@]}"; do
  bin=build-fuzz/fuzz_$n
  log=$work/$n.log
  art=$work/artifacts/$n/
  rm -rf "$art" # findings of an earlier run are not this run's
  mkdir -p "$work/corpus/$n" "$art"
  : >"$log"
  status=ok

  # 1. regression inputs, once each
  reg=()
  skipped=0
  if [ -d "tests/fuzz/regressions/$n" ]; then
    for f in tests/fuzz/regressions/"$n"/*; do
      [ -f "$f" ] || continue
      if printf '%s\n' "${open[@]:-}" | grep -qxF "$n/${f##*/}"; then skipped=$((skipped + 1)); continue; fi
      reg+=("$f")
    done
  fi
  if [ ${#reg[@]} -gt 0 ]; then
    if ! "$bin" "${limits[@]}" -artifact_prefix="$art" "${reg[@]}" >>"$log" 2>&1; then
      echo "fuzz: $n: a regression input fails again (log: $log)" >&2
      status="REGRESSION"
    fi
  fi
  [ "$skipped" -gt 0 ] && echo "fuzz: $n: $skipped known-open reproducer(s) skipped (tests/fuzz/regressions/OPEN)" >&2

  # 2. fuzzing
  dict=()
  [ -s "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
  echo "fuzz: $n: fuzzing for $secs s (log: $log)" >&2
  rc=0
  # shellcheck disable=SC2086
  "$bin" "${limits[@]}" "${maxlen[@]}" "${fork[@]}" -max_total_time="$secs" -print_final_stats=1 \
    ${dict[@]+"${dict[@]}"} -artifact_prefix="$art" ${FUZZ_ARGS:-} \
    "$work/corpus/$n" "tests/fuzz/corpus/$n" >>"$log" 2>&1 || rc=$?
  findings=$(find "$art" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$findings" -gt 0 ]; then
    [ "$status" = ok ] && status=""
    status="${status:+$status+}FOUND($findings, rc $rc)"
    grep -m3 -E "^==[0-9]+==ERROR|runtime error|^SUMMARY|out-of-memory|fuzz invariant|Timeout|deadly signal" "$log" | sed "s/^/fuzz: $n: /" >&2 || true
    echo "fuzz: $n: inputs saved under $art" >&2
  fi
  [ "$status" = ok ] || failed=1

  # executions and coverage: the last status line ("#N DONE cov: .. ft: ..",
  # or "#N: cov: .." in fork mode) and the final stats
  last=$(grep -E "^#[0-9]+:?[[:space:]].*cov: " "$log" | tail -1 || true)
  execs=$(grep -oE "stat::number_of_executed_units:[[:space:]]+[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$" || true)
  [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(grep -oE "cov: [0-9]+" <<<"$last" | grep -oE "[0-9]+" || true)
  ft=$(grep -oE "ft: [0-9]+" <<<"$last" | grep -oE "[0-9]+" || true)
  corp=$(grep -oE "corp: [0-9]+" <<<"$last" | grep -oE "[0-9]+" || true)
  rss=$(grep -oE "stat::peak_rss_mb:[[:space:]]+[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$" || true)
  summary+=("$(printf '%-12s %6s %12s %7s %7s %6s %7s  %s' "$n" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$status")")
done

echo
printf '%-12s %6s %12s %7s %7s %6s %7s  %s\n' harness secs executions cov ft corpus rss_mb result
printf '%s\n' "${summary[@]}"
echo "fuzz: total $(( $(date +%s) - t0 )) s"
exit $failed
