#!/usr/bin/env bash
# bench/membership.sh — the membership-inference benchmark of BENCHMARKS.md:
# one LeNet-5 trained without DP (the README's best recipe) and with DP-SGD
# at epsilon 8 and 2, each audited by `deepc audit --membership` (5000
# members, 5000 non-members, 4 reference models trained like the target).
#   bash bench/membership.sh [OUTDIR]      (about an hour on 2 cores)
set -euo pipefail
D=${DEEPC:-build/deepc}
OUT=${1:-bench-membership}
mkdir -p "$OUT"
train() { # name, then options
    local name=$1; shift
    [ -f "$OUT/$name.safetensors" ] || "$D" train --model lenet5 "$@" --quiet --out "$OUT/$name.safetensors"
}
train plain --epochs 15 --batch 64 --optim adamw --lr 0.003 --weight-decay 0.05 --sched cosine --warmup 1 --hflip
for e in 8 2; do
    train dp$e --dp --target-epsilon $e --delta 1e-5 --clip 1 --batch 1024 --lr 2 --momentum 0.9 --epochs 15
done
for m in plain dp8 dp2; do
    "$D" audit "$OUT/$m.safetensors" --membership --samples 5000 --ref-models 4 --json > "$OUT/$m.audit.json"
    "$D" audit "$OUT/$m.safetensors" --membership --samples 5000 --ref-models 0 > /dev/null # the loss attack alone runs in seconds
    python3 - "$OUT/$m.audit.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
b = d["dp_bound"]
print("%-6s eps %-6s loss AUC %.4f adv %.4f | calibrated AUC %.4f adv %.4f TPR@0.1%% %.4f | bound %s" % (
    sys.argv[1].split("/")[-1].split(".")[0], "%.3g" % d["epsilon"] if d["dp"] else "-",
    d["loss_attack"]["auc"], d["loss_attack"]["advantage"], d["calibrated_attack"]["auc"],
    d["calibrated_attack"]["advantage"], d["calibrated_attack"]["tpr_at_fpr_0.001"],
    "%.4f" % b["advantage"] if b else "none"))
PY
done
