#!/usr/bin/env bash
# End-to-end tests of `deepc eval`'s metrics and `deepc audit` on a small
# model trained here (3000 training and 1000 test samples of Fashion-MNIST,
# one epoch): eval text and --json fields, audit text and --json with CSV
# groups (index parity, a label-correlated grouping that must be flagged, a
# group of one sample) and built-in groups, strict CSV errors (each a one-line
# message naming file:line and a non-zero exit), and train --reweight.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin audit
# has FILE NEEDLE... : every needle occurs in FILE
has() { local f=$1; shift; for n in "$@"; do grep -qF -- "$n" "$f" || { bad "$f lacks '$n': $(head -c 600 "$f")"; return; }; done; ok; }

D=/usr/share/datasets/fashion-mnist
[ -d $D ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
# A small copy of Fashion-MNIST (the first 3000 training and 1000 test
# samples, uncompressed) so that each of the many runs below loads in
# milliseconds; "fashion" in the folder name keeps the class names.
# be32 N: N as 4 big-endian bytes (IDX headers)
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1>>24&255)) $(($1>>16&255)) $(($1>>8&255)) $(($1&255)))"; }
# idx_head images|labels SRC.gz N: an IDX file of the first N samples of SRC
# (magic 0x803 = 2051 for images with rows and columns, 0x801 = 2049 for labels)
idx_head() {
  if [ "$1" = images ]; then { be32 2051; be32 "$3"; be32 28; be32 28; zcat "$2" | tail -c +17 | head -c $(($3*784)); }
  else { be32 2049; be32 "$3"; zcat "$2" | tail -c +9 | head -c "$3"; }; fi
}
DATA=$T/fashion-small
mkdir -p "$DATA"
idx_head images $D/train-images-idx3-ubyte.gz 3000 > "$DATA/train-images-idx3-ubyte"
idx_head labels $D/train-labels-idx1-ubyte.gz 3000 > "$DATA/train-labels-idx1-ubyte"
idx_head images $D/t10k-images-idx3-ubyte.gz 1000 > "$DATA/t10k-images-idx3-ubyte"
idx_head labels $D/t10k-labels-idx1-ubyte.gz 1000 > "$DATA/t10k-labels-idx1-ubyte"
SMALL="--data $DATA --limit 3000 --test-limit 1000 --threads 2"
EV="--data $DATA --threads 2"
# labels of a split, one per line
labels() { tail -c +9 "$DATA/$1-labels-idx1-ubyte" | od -An -tu1 -v | tr -s ' ' '\n' | sed '/^$/d'; }
labels t10k > "$T/test_labels"
labels train > "$T/train_labels"
[ "$(wc -l < "$T/test_labels")" = 1000 ] && [ "$(wc -l < "$T/train_labels")" = 3000 ] && ok || bad "reading labels"

expect_ok "audit --help" "$BIN" audit --help
has "$T/out" "--groups" "--threshold-dp" "--threshold-eo" "--min-ratio" "builtin:brightness"
expect_ok "train" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.01 --seed 3 --quiet --out "$T/m.safetensors"

# eval: the new metrics, text and JSON
expect_ok "eval" "$BIN" eval "$T/m.safetensors" $EV
has "$T/out" "accuracy:" "top-5:" "confusion matrix" "precision" "recall" "f1" "macro avg" "weighted avg" \
    "ECE" "calibration" "most confused" "Ankle boot"
expect_ok "eval --json --top-k 3" "$BIN" eval "$T/m.safetensors" $EV --json --top-k 3
[ "$(wc -l < "$T/out")" = 1 ] && ok || bad "eval --json is one line"
has "$T/out" '"top_k":3' '"top_k_accuracy":' '"per_class":[' '"macro_avg":{' '"weighted_avg":{' '"ece":' \
    '"calibration":{' '"reliability":[' '"most_confused":[' '"true_name":' '"history":[{"epoch":1'
# the scripts' way of reading accuracy and n (the last such keys) still works
acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' "$T/out"); n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p' "$T/out")
[ "$n" = 1000 ] && awk -v a="$acc" 'BEGIN{exit !(a>0.2 && a<=1)}' && ok || bad "eval --json accuracy $acc n $n (chance is 0.1)"
# one vocabulary: "accuracy" everywhere (the reliability bins too), no "acc"
[ "$(grep -o '"acc":' "$T/out" | wc -l)" = 0 ] && [ "$(grep -o '"accuracy":' "$T/out" | wc -l)" = 16 ] && ok \
  || bad "eval --json spells accuracy one way"
if command -v python3 >/dev/null; then
  python3 - "$T/out" <<'PY' && ok || bad "eval --json content"
import json, sys
j = json.load(open(sys.argv[1]))
C = len(j["classes"])
assert j["n"] == 1000 and C == 10 and len(j["per_class"]) == C
assert sum(sum(r) for r in j["confusion"]) == 1000
assert sum(p["support"] for p in j["per_class"]) == 1000
assert abs(sum(j["confusion"][k][k] for k in range(C)) / 1000 - j["accuracy"]) < 1e-12
assert j["top_k_accuracy"] >= j["accuracy"]
bins = j["calibration"]["reliability"]
assert len(bins) == 15 and sum(b["count"] for b in bins) == 1000
ece = sum(b["count"] / 1000 * abs(b["accuracy"] - b["confidence"]) for b in bins)
assert abs(ece - j["ece"]) < 1e-9, (ece, j["ece"])
mc = j["most_confused"]
assert len(mc) == 5 and all(mc[i]["count"] >= mc[i + 1]["count"] for i in range(4))
assert all(m["count"] == j["confusion"][m["true"]][m["predicted"]] for m in mc)
macro = sum(p["f1"] for p in j["per_class"]) / C
assert abs(macro - j["macro_avg"]["f1"]) < 1e-9
PY
fi
expect_err "eval --top-k 0" "--top-k" "$BIN" eval "$T/m.safetensors" $EV --top-k 0

# audit with groups by index parity (a control: no real difference expected)
{ echo "index,group"; awk 'BEGIN{for(i=0;i<1000;i++) print i "," (i%2 ? "odd" : "even")}'; } > "$T/g.csv"
expect_ok "audit parity" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/g.csv"
has "$T/out" "even" "odd" "selection rate" "true positive rate" "false positive rate" \
    "demographic parity difference" "demographic parity ratio" "equalized odds difference" \
    "worst-group accuracy" "checks flagged"
expect_ok "audit limits that nothing passes" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/g.csv" \
    --threshold-dp 1 --threshold-eo 1 --min-ratio 0
has "$T/out" "0 of 3 checks flagged"
grep -q FLAG "$T/out" && bad "FLAG with limits 1/1/0" || ok

# a grouping that follows the label (classes 0-4 vs 5-9): selection rates differ wildly
paste -d, <(seq 0 999) <(awk '{print ($1 < 5 ? "low" : "high")}' "$T/test_labels") > "$T/gl.csv"
expect_ok "audit label-correlated groups" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/gl.csv"
has "$T/out" "FLAG" "low" "high"
"$BIN" audit "$T/m.safetensors" $EV --groups "$T/gl.csv" --fail-on-flag >/dev/null 2>&1
[ $? -eq 3 ] && ok || bad "--fail-on-flag exits 3 when flagged"

# a group of one sample (no positives for 9 classes: TPR null)
{ echo "0,solo"; awk 'BEGIN{for(i=1;i<1000;i++) print i ",rest"}'; } > "$T/g1.csv"
expect_ok "audit --json, group of one" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/g1.csv" --json
[ "$(wc -l < "$T/out")" = 1 ] && ok || bad "audit --json is one line"
has "$T/out" '"group":"solo","n":1' '"tpr":[' 'null' '"demographic_parity_difference":{"value":' \
    '"demographic_parity_ratio":{' '"equalized_odds_difference":{' '"worst_group_accuracy":{' '"flagged":'
if command -v python3 >/dev/null; then
  python3 - "$T/out" <<'PY' && ok || bad "audit --json content"
import json, sys
j = json.load(open(sys.argv[1]))
g = {x["group"]: x for x in j["groups"]}
assert g["solo"]["n"] == 1 and g["rest"]["n"] == 999
assert sum(v is None for v in g["solo"]["tpr"]) == 9       # its one label is the only defined TPR
assert sum(v is None for v in g["solo"]["fpr"]) == 1       # ...and the only undefined FPR
assert abs(sum(g["rest"]["selection_rate"]) - 1) < 1e-9
pc = j["per_class"]
assert abs(max(p["dp_difference"] for p in pc) - j["demographic_parity_difference"]["value"]) < 1e-12
assert abs(min(p["dp_ratio"] for p in pc) - j["demographic_parity_ratio"]["value"]) < 1e-12
eo = [p["eo_difference"] for p in pc if p["eo_difference"] is not None]
assert abs(max(eo) - j["equalized_odds_difference"]["value"]) < 1e-12
# the definitions, recomputed from the per-group rates
for c, p in enumerate(pc):
    s = [x["selection_rate"][c] for x in j["groups"]]
    assert abs(p["dp_difference"] - (max(s) - min(s))) < 1e-12
    t = [x["tpr"][c] for x in j["groups"] if x["tpr"][c] is not None]
    f = [x["fpr"][c] for x in j["groups"] if x["fpr"][c] is not None]
    # a difference needs the rate in two groups at least: else null, not 0
    assert (p["tpr_difference"] is None) == (len(t) < 2) and (p["fpr_difference"] is None) == (len(f) < 2)
    want = max(max(t) - min(t) if len(t) > 1 else -1, max(f) - min(f) if len(f) > 1 else -1)
    assert abs(p["eo_difference"] - want) < 1e-12
    assert p["eo_basis"] == {(True, True): "tpr_and_fpr", (False, True): "fpr_only", (True, False): "tpr_only"}[(len(t) > 1, len(f) > 1)]
# the solo group has one label: the 9 other classes' TPR differences are not measurable
assert sum(p["tpr_difference"] is None for p in pc) == 9 and sum(p["eo_basis"] == "fpr_only" for p in pc) == 9
PY
fi

# built-in groups
expect_ok "audit builtin:brightness" "$BIN" audit "$T/m.safetensors" $EV --groups builtin:brightness
has "$T/out" "bright" "dark" "builtin:brightness"
expect_ok "audit builtin:parity --json" "$BIN" audit "$T/m.safetensors" $EV --groups builtin:parity --json
has "$T/out" '"group":"even","n":500'
expect_err "unknown built-in" "zodiac" "$BIN" audit "$T/m.safetensors" $EV --groups builtin:zodiac

# bad CSVs and options: one line naming file:line, non-zero exit
head -n 500 "$T/g.csv" > "$T/short.csv"
expect_err "missing rows" "short.csv:500: end of file, but no group for sample 499" \
    "$BIN" audit "$T/m.safetensors" $EV --groups "$T/short.csv"
{ cat "$T/g.csv"; echo "1000,odd"; } > "$T/unknown.csv"
expect_err "unknown index" "unknown.csv:1002: index 1000 is unknown" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/unknown.csv"
{ cat "$T/g.csv"; echo "-3,odd"; } > "$T/neg.csv"
expect_err "negative index" "neg.csv:1002: negative index" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/neg.csv"
{ cat "$T/g.csv"; echo "5,odd"; } > "$T/dup.csv"
expect_err "duplicate index" "dup.csv:1002: duplicate index 5: already given on line 7" \
    "$BIN" audit "$T/m.safetensors" $EV --groups "$T/dup.csv"
sed 's/^17,/seventeen,/' "$T/g.csv" > "$T/nan.csv"
expect_err "non-numeric index" "nan.csv:19: index \"seventeen\" is not a number" \
    "$BIN" audit "$T/m.safetensors" $EV --groups "$T/nan.csv"
sed 's/^7,odd$/7,/' "$T/g.csv" > "$T/empty_group.csv"
expect_err "empty group" "empty_group.csv:9: empty group for index 7" \
    "$BIN" audit "$T/m.safetensors" $EV --groups "$T/empty_group.csv"
: > "$T/empty.csv"
expect_err "empty file" "empty.csv: empty file" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/empty.csv"
expect_err "missing file" "nope.csv" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/nope.csv"
expect_err "CSV for another --limit" "index 500 is unknown" "$BIN" audit "$T/m.safetensors" $EV --limit 500 --groups "$T/g.csv"
expect_err "no --groups" "--groups" "$BIN" audit "$T/m.safetensors" $EV
expect_err "bad threshold" "--threshold-dp" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/g.csv" --threshold-dp 2
expect_err "non-numeric threshold" "--min-ratio" "$BIN" audit "$T/m.safetensors" $EV --groups "$T/g.csv" --min-ratio x
expect_err "model file missing" "nope.safetensors" "$BIN" audit "$T/nope.safetensors" $EV --groups "$T/g.csv"

# mitigation: reweighing with groups of the training samples. The groups follow
# the labels unevenly (even indices of classes 0-4 are "a"), so weights vary.
paste -d, <(seq 0 2999) <(awk '{print (($1 < 5 && NR % 2) ? "a" : "b")}' "$T/train_labels") > "$T/gt.csv"
expect_ok "train --reweight" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.01 --seed 3 \
    --reweight "$T/gt.csv" --out "$T/rw.safetensors"
has "$T/out" "reweighing: 2 groups from" "test accuracy"
expect_ok "audit the reweighted model" "$BIN" audit "$T/rw.safetensors" $EV --groups "$T/gl.csv"
"$BIN" eval "$T/m.safetensors" $EV --json > "$T/e1"; "$BIN" eval "$T/rw.safetensors" $EV --json > "$T/e2"
cmp -s <(sed 's/"model":"[^"]*"//; s/"history".*//' "$T/e1") <(sed 's/"model":"[^"]*"//; s/"history".*//' "$T/e2")
[ $? -ne 0 ] && ok || bad "reweighing changed nothing"
expect_ok "train --reweight builtin:brightness --val-split" "$BIN" train --model lenet5 $SMALL --epochs 1 \
    --val-split 0.1 --reweight builtin:brightness --out "$T/rb.safetensors"
has "$T/out" "reweighing: 2 groups from builtin:brightness"
expect_err "--reweight with a CSV of the wrong size" "g.csv:1001: end of file, but no group for sample 1000" \
    "$BIN" train $SMALL --epochs 1 --reweight "$T/g.csv" --out "$T/x.safetensors"
expect_err "--reweight with --val-split" "--val-split" \
    "$BIN" train $SMALL --epochs 1 --val-split 0.1 --reweight "$T/gt.csv" --out "$T/x.safetensors"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
