#!/usr/bin/env bash
# End-to-end tests of `deepc privacy` (the RDP accountant): epsilon for known
# settings (text and --json), the sigma solver and its round trip, the
# --epochs/--batch/--n convenience, and bad arguments (each must give a
# one-line error and exit status 2; an unreachable target exits 1).
# Needs no data set. Published values are cited in tests/test_rdp.c.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin privacy
# expect_err RC DESC NEEDLE CMD... : exit status RC, one-line stderr containing NEEDLE
# (replaces lib_cli.sh's expect_err: the accountant's exit statuses are part of its contract)
expect_err() {
  local want=$1 d=$2 needle=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -ne "$want" ]; then bad "$d: exit $rc, expected $want: $(cat "$T/err")"; return; fi
  if ! grep -q -- "$needle" "$T/err"; then bad "$d: stderr lacks '$needle': $(cat "$T/err")"; return; fi
  if [ "$(wc -l < "$T/err")" -ne 1 ]; then bad "$d: error is not one line: $(cat "$T/err")"; return; fi
  echo "  ok ($rc): $(cat "$T/err")"; ok
}
# in_range X LO HI : LO <= X <= HI
in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN{exit !(x != "" && x+0 >= lo && x+0 <= hi)}'; }
# field NAME : a number field of the JSON object in $T/out
field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" "$T/out"; }

expect_ok "privacy --help" "$BIN" privacy --help
grep -q -- "--target-epsilon" "$T/out" && grep -q "Balle" "$T/out" && ok || bad "help names the options and the conversion"
expect_ok "deepc --help" "$BIN" --help
grep -q "privacy" "$T/out" && ok || bad "deepc --help lists the privacy verb"

# MNIST DP-SGD (q = 256/60000, sigma 1.1, 60 epochs = 14062 steps): Opacus's
# improved conversion gives 2.5966 at order 8.1, the classic one 3.0083 at 8.8
expect_ok "epsilon" "$BIN" privacy --sample-rate 0.0042666666666666667 --noise 1.1 --steps 14062 --delta 1e-5
grep -q "epsilon = 2.5966 at delta 1e-05 (optimal RDP order 8.1)" "$T/out" && ok || bad "epsilon text: $(cat "$T/out")"
grep -q "classic one .* gives epsilon 3.0083 at order 8.8" "$T/out" && ok || bad "classic value shown: $(cat "$T/out")"
# TF Privacy's tutorial: noise 1.12, 60 epochs (its 14062 steps = int(60 * 60000 / 256)),
# classic conversion -> "2.92"
expect_ok "batch/n, steps, classic" "$BIN" privacy --steps 14062 --batch 256 --n 60000 --noise 1.12 --conversion classic
grep -q "epsilon = 2.9222" "$T/out" && grep -q "14062 steps" "$T/out" && grep -q "batch 256 / n 60000" "$T/out" && ok \
  || bad "TF tutorial setting: $(cat "$T/out")"
# --epochs counts steps as deepc train --dp runs them: round(60000/256) = 234 lots per epoch, 14040 in 60
expect_ok "epsilon --json" "$BIN" privacy --epochs 60 --batch 256 --n 60000 --noise 1.1 --json
[ "$(wc -l < "$T/out")" -eq 1 ] && ok || bad "--json is one line"
in_range "$(field epsilon)" 2.59436335 2.59436336 && [ "$(field order)" = 8.1 ] && [ "$(field steps)" = 14040 ] \
  && in_range "$(field epsilon_classic)" 3.0058748 3.0058749 && grep -q '"conversion":"improved"' "$T/out" && ok \
  || bad "--json fields: $(cat "$T/out")"
# Opacus's accountants_test: sigma 1.5, q 0.04, 2250 steps, delta 1e-5 -> 7.32911117143
expect_ok "Opacus test value" "$BIN" privacy --sample-rate 0.04 --noise 1.5 --steps 2250 --delta 1e-5 --json
in_range "$(field epsilon)" 7.3291111 7.3291112 && ok || bad "Opacus value: $(cat "$T/out")"

# the solver, and the round trip through the printed sigma
expect_ok "target epsilon" "$BIN" privacy --sample-rate 0.04 --steps 2250 --target-epsilon 8
sigma=$(sed -n 's/^noise multiplier sigma = \([0-9.]*\) .*/\1/p' "$T/out")
in_range "$sigma" 1.4157 1.4159 && ok || bad "sigma for eps 8: $(cat "$T/out")"
expect_ok "round trip" "$BIN" privacy --sample-rate 0.04 --steps 2250 --noise "$sigma" --json
in_range "$(field epsilon)" 7.9999 8.0 && ok || bad "epsilon at the printed sigma $sigma: $(cat "$T/out")"
expect_ok "target --json" "$BIN" privacy --epochs 60 --batch 256 --n 60000 --target-epsilon 3 --json
in_range "$(field noise)" 0.9 1.1 && in_range "$(field epsilon)" 2.9999 3.0 && in_range "$(field target_epsilon)" 3 3 && ok \
  || bad "target --json: $(cat "$T/out")"
expect_ok "classic needs more noise" "$BIN" privacy --epochs 60 --batch 256 --n 60000 --target-epsilon 3 --conversion classic --json
awk -v a="$(field noise)" 'BEGIN{exit !(a > 1.0)}' && ok || bad "classic sigma: $(cat "$T/out")"
expect_ok "fractional epochs" "$BIN" privacy --epochs 0.5 --sample-rate 0.01 --noise 1 --json
[ "$(field steps)" = 50 ] && ok || bad "0.5 epochs at q 0.01 is 50 steps: $(cat "$T/out")"
expect_ok "order at the edge" "$BIN" privacy --sample-rate 1 --noise 100 --steps 1
grep -q "note: the optimal order is the largest" "$T/out" && ok || bad "edge note: $(cat "$T/out")"

# bad arguments: one line, exit 2
P="$BIN privacy"
expect_err 2 "q = 0" "--sample-rate 0" $P --sample-rate 0 --noise 1 --steps 10
expect_err 2 "q > 1" "(0, 1]" $P --sample-rate 1.5 --noise 1 --steps 10
expect_err 2 "q not a number" "expected a number" $P --sample-rate abc --noise 1 --steps 10
expect_err 2 "q nan" "expected a number" $P --sample-rate nan --noise 1 --steps 10
expect_err 2 "sigma 0" "--noise 0" $P --sample-rate 0.01 --noise 0 --steps 10
expect_err 2 "sigma < 0" "--noise -1" $P --sample-rate 0.01 --noise -1 --steps 10
expect_err 2 "steps 0" "--steps 0" $P --sample-rate 0.01 --noise 1 --steps 0
expect_err 2 "steps fractional" "expected an integer" $P --sample-rate 0.01 --noise 1 --steps 1.5
expect_err 2 "delta 0" "--delta 0" $P --sample-rate 0.01 --noise 1 --steps 10 --delta 0
expect_err 2 "delta 1" "(0, 1)" $P --sample-rate 0.01 --noise 1 --steps 10 --delta 1
expect_err 2 "delta > 1" "--delta 2" $P --sample-rate 0.01 --noise 1 --steps 10 --delta 2
expect_err 2 "target 0" "--target-epsilon 0" $P --sample-rate 0.01 --steps 10 --target-epsilon 0
expect_err 2 "neither noise nor target" "give --noise" $P --sample-rate 0.01 --steps 10
expect_err 2 "noise and target" "not both" $P --sample-rate 0.01 --steps 10 --noise 1 --target-epsilon 1
expect_err 2 "no sample rate" "sample rate is missing" $P --steps 10 --noise 1
expect_err 2 "sample rate and batch" "not both" $P --sample-rate 0.01 --batch 10 --n 100 --steps 10 --noise 1
expect_err 2 "batch without n" "go together" $P --batch 10 --steps 10 --noise 1
expect_err 2 "batch > n" "larger than --n" $P --batch 300 --n 200 --steps 10 --noise 1
expect_err 2 "batch 0" "--batch 0" $P --batch 0 --n 200 --steps 10 --noise 1
expect_err 2 "no steps" "steps is missing" $P --sample-rate 0.01 --noise 1
expect_err 2 "steps and epochs" "not both" $P --sample-rate 0.01 --noise 1 --steps 10 --epochs 1
expect_err 2 "epochs 0" "--epochs 0" $P --sample-rate 0.01 --noise 1 --epochs 0
expect_err 2 "epochs too few" "no whole step" $P --sample-rate 0.01 --noise 1 --epochs 0.001
expect_err 2 "unknown conversion" "improved or classic" $P --sample-rate 0.01 --noise 1 --steps 10 --conversion pld
expect_err 2 "unknown option" "unknown option" $P --sample-rate 0.01 --noise 1 --steps 10 --sigma 1
expect_err 2 "positional argument" "unexpected argument" $P 0.01 --noise 1 --steps 10
expect_err 2 "missing value" "needs a value" $P --sample-rate 0.01 --noise 1 --steps
# an unreachable target is a failure of the computation: exit 1
expect_err 1 "target below the floor" "unreachable" $P --sample-rate 0.01 --steps 1000 --target-epsilon 0.05

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
