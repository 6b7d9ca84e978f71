# lib_cli.sh — shared by the tests/cli_*.sh end-to-end tests (source it).
# After `cli_begin NAME`: $T is a fresh temporary folder (removed on exit),
# ok/bad count checks, expect_ok runs a command that must succeed, and
# expect_err one that must fail with a one-line message containing a needle
# (a crash, i.e. exit >= 128, is a failure). Each test ends with
# `echo "$pass passed, $fail failed"` and exits non-zero on any failure.
pass=0; fail=0
cli_begin() {
  T=$(mktemp -d "/tmp/deepc-$1-XXXXXX")
  trap 'rm -rf "$T"' EXIT
}
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
# expect_ok DESC CMD... : exit 0
expect_ok() { local d=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok; else bad "$d (exit $?): $(head -c 400 "$T/err")"; fi; }
# expect_err DESC NEEDLE CMD... : non-zero exit, one-line stderr containing NEEDLE, no crash
expect_err() {
  local d=$1 needle=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -eq 0 ]; then bad "$d: exit 0, expected an error"; return; fi
  if [ $rc -ge 128 ]; then bad "$d: crashed (exit $rc)"; return; fi
  if ! grep -q -- "$needle" "$T/err"; then bad "$d: stderr lacks '$needle': $(cat "$T/err")"; return; fi
  if [ "$(wc -l < "$T/err")" -gt 1 ]; then bad "$d: error is not one line: $(cat "$T/err")"; return; fi
  echo "  ok ($rc): $(cat "$T/err")"; ok
}
