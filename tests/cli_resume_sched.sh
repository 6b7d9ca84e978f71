#!/usr/bin/env bash
# When "N epochs + resume + M epochs == N+M epochs straight" holds, per
# learning-rate schedule (the README's resume claim):
#  - constant and step schedules depend only on the epoch index: a finished
#    2-epoch run resumed with --epochs 4 equals 4 epochs straight;
#  - a cosine schedule spans the run's total --epochs: a run started with
#    --epochs 4 and stopped early (killed after a checkpoint) and resumed
#    with --resume alone (the stored --epochs 4) equals 4 epochs straight;
#    a finished 2-epoch cosine run resumed with --epochs 4 does not (its
#    first epochs decayed over 2), and train says so on stderr.
# Equality is of the weights, bit for bit (model_diff max_abs=0).
set -u
BIN=${DEEPC_BIN:-build/deepc}
TOOLS=$(dirname "$BIN")
source "$(dirname "$0")/lib_cli.sh"
cli_begin resume
COMMON="--data fashion-mnist --test-limit 200 --batch 64 --lr 0.05 --momentum 0.9 --seed 3 --threads 1 --json"
epochs_done() {
  python3 -c "
import json, struct, sys
with open(sys.argv[1], 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]; print(json.loads(f.read(n))['__metadata__']['deepc.epochs_done'])" "$1" 2>/dev/null
}
same() { local d; d=$("$TOOLS/model_diff" "$1" "$2") && echo "$d" | grep -q "max_abs=0 "; }

# --- step: 2 + resume + 2 == 4 ------------------------------------------------
S="--limit 2000 --sched step --step-size 1 --gamma 0.5"
expect_ok "step, 4 straight" "$BIN" train $COMMON $S --epochs 4 --out "$T/s4.safetensors"
expect_ok "step, 2" "$BIN" train $COMMON $S --epochs 2 --out "$T/s2.safetensors"
expect_ok "step, resume to 4" "$BIN" train --resume "$T/s2.safetensors" --epochs 4
same "$T/s2.safetensors" "$T/s4.safetensors" && ok || bad "step: 2 + resume + 2 differs from 4 straight"

# --- cosine: started with --epochs 4, killed after a checkpoint, resumed -------
C="--limit 5000 --sched cosine --min-lr 0.001"
expect_ok "cosine, 4 straight" "$BIN" train $COMMON $C --epochs 4 --out "$T/c4.safetensors"
"$BIN" train $COMMON $C --epochs 4 --out "$T/ck.safetensors" > "$T/ck.log" 2> "$T/ck.err" & pid=$!
done_at=""
for i in $(seq 1 1200); do # the first checkpoint (epoch 1 or later), then stop the run at once
  [ -e "$T/ck.safetensors" ] && done_at=$(epochs_done "$T/ck.safetensors") && [ -n "$done_at" ] && break
  sleep 0.02
done
kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
done_at=$(epochs_done "$T/ck.safetensors")
echo "  cosine run killed after epoch $done_at of 4"
[ -n "$done_at" ] && [ "$done_at" -lt 4 ] && ok || bad "the run was not stopped early (epochs done: '$done_at')"
expect_ok "cosine, resume (stored --epochs 4)" "$BIN" train --resume "$T/ck.safetensors"
same "$T/ck.safetensors" "$T/c4.safetensors" && ok || bad "cosine: started with --epochs 4, stopped after $done_at, resumed: differs from 4 straight"

# --- cosine: a finished 2-epoch run stretched to 4 is not 4 straight -----------
expect_ok "cosine, 2" "$BIN" train $COMMON $C --epochs 2 --out "$T/c2.safetensors"
"$BIN" train --resume "$T/c2.safetensors" --epochs 4 > "$T/out" 2> "$T/err" && ok || bad "cosine resume to 4: $(cat "$T/err")"
grep -q "cosine schedule over 2 epochs" "$T/err" && ok || bad "no note about the stretched schedule: $(cat "$T/err")"
same "$T/c2.safetensors" "$T/c4.safetensors" && bad "2 + resume + 2 with cosine equals 4 straight: the note would be wrong" || ok
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
