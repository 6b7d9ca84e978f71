#!/usr/bin/env bash
# Secure aggregation over real ranks (issue 14): one FedAvg round over
# `mpirun -n 11` (rank 0 the server, 10 client ranks, one client each:
# 10 clients x 600 samples x 5 local epochs, B = 10, LeNet-5), with and
# without --secure-agg. Reports the median round time (rank 0's "seconds":
# ROUND message to the last answer, the update and a 1000-image evaluation)
# over REPS runs of each, interleaved, and the bytes rank 0 sent and
# received in the round (the real messages, headers included).
#   REPS=5 bash bench/fed_secagg.sh
set -u
cd "$(dirname "$0")/.."
BIN=build/deepc
OUT=bench/results/fed_secagg
mkdir -p "$OUT"
REPS=${REPS:-5}
CMD="mpirun --allow-run-as-root --oversubscribe -n 11 $BIN federate --data fashion-mnist --limit 6000 --test-limit 1000 --clients 10 --fraction 1 --local-epochs 5 --local-batch 10 --rounds 1 --partition iid --seed 1 --json"
num() { grep '"event":"round"' "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
echo "load before: $(uptime)"
for r in $(seq 1 "$REPS"); do
  order="plain secure"; [ $((r % 2)) = 0 ] && order="secure plain"
  for mode in $order; do
    flag=""; [ $mode = secure ] && flag="--secure-agg"
    $CMD $flag --out "$OUT/$mode.safetensors" > "$OUT/$mode$r.json" 2> "$OUT/$mode$r.err" || { echo "$mode run $r failed: $(cat "$OUT/$mode$r.err")"; exit 1; }
  done
done
echo "load after: $(uptime)"
for mode in plain secure; do
  t=$(for r in $(seq 1 "$REPS"); do num "$OUT/$mode$r.json" seconds; done | median)
  lo=$(for r in $(seq 1 "$REPS"); do num "$OUT/$mode$r.json" seconds; done | sort -g | head -1)
  hi=$(for r in $(seq 1 "$REPS"); do num "$OUT/$mode$r.json" seconds; done | sort -g | tail -1)
  up=$(num "$OUT/${mode}1.json" bytes_up); down=$(num "$OUT/${mode}1.json" bytes_down)
  acc=$(num "$OUT/${mode}1.json" test_acc)
  eval "t_$mode=$t; b_$mode=$(awk -v a="$up" -v b="$down" 'BEGIN{print a+b}')"
  printf '| %s | %.2f s (%.2f–%.2f) | %.2f MB up, %.2f MB down | %.4f |\n' "$mode" "$t" "$lo" "$hi" \
    "$(awk -v a="$up" 'BEGIN{print a/1e6}')" "$(awk -v a="$down" 'BEGIN{print a/1e6}')" "$acc" | tee -a "$OUT/table.md"
done
awk -v a="$t_secure" -v b="$t_plain" -v c="$b_secure" -v d="$b_plain" \
  'BEGIN{printf "secure / plain: time %.2fx, bytes %.2fx\n", a/b, c/d}' | tee -a "$OUT/table.md"
