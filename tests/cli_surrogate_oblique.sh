#!/usr/bin/env bash
# End-to-end test of `deepc surrogate --splits oblique` on part of
# Fashion-MNIST (2000 training, 500 test samples): the text and --json
# reports (split kinds, nonzero weights per split), the JSON file's oblique
# nodes (sparse [feature, weight] pairs and a bias, features ascending),
# the same file from 1 and 2 threads, option errors, and `deepc report
# --surrogate` drawing each oblique split as its weight map.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin surrogate_oblique
has() { local f=$1; shift; for n in "$@"; do grep -qF -- "$n" "$f" || { bad "$f lacks '$n': $(head -c 600 "$f")"; return; }; done; ok; }

[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
L="--data fashion-mnist --limit 2000 --test-limit 500"   # the surrogate's samples

expect_ok "train" $BIN train --model mlp --data fashion-mnist --limit 1000 --epochs 4 --optim adam --lr 0.002 \
    --threads 1 --quiet --out "$T/m.safetensors"

expect_ok "axis" $BIN surrogate "$T/m.safetensors" $L --max-depth 4 --threads 1 --json
cp "$T/out" "$T/axis.out"
expect_ok "oblique" $BIN surrogate "$T/m.safetensors" $L --max-depth 4 --splits oblique --refine 4 \
    --lambda 0.02 --threads 1 --out "$T/obl.json" --json
has "$T/out" '"splits":"oblique"' '"lambda":0.02' '"oblique_splits":' '"nonzero_mean":' '"nonzero_max":'
python3 - "$T/out" "$T/axis.out" "$T/obl.json" <<'PY' && ok || bad "oblique report and file"
import json, sys
o = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2])); t = json.load(open(sys.argv[3]))
assert a["splits"] == "axis" and "oblique_splits" not in a, a
assert o["oblique_splits"] >= 1 and 1 <= o["nonzero_mean"] <= o["nonzero_max"] <= 49, o
assert o["train_fidelity"] >= a["train_fidelity"], (o["train_fidelity"], a["train_fidelity"])
assert t["config"]["splits"] == "oblique" and t["config"]["lambda"] == 0.02
obl = [n for n in t["nodes"] if "weights" in n]
assert len(obl) == o["oblique_splits"], (len(obl), o["oblique_splits"])
for n in obl:
    f = [p[0] for p in n["weights"]]
    assert f == sorted(set(f)) and all(0 <= j < 49 for j in f) and all(p[1] != 0 for p in n["weights"])
    assert isinstance(n["bias"], float) and "feature" not in n and n["left"] > 0 and n["right"] > 0
assert max(len(n["weights"]) for n in obl) == o["nonzero_max"]
PY
expect_ok "oblique, 2 threads" $BIN surrogate "$T/m.safetensors" $L --max-depth 4 --splits oblique \
    --refine 4 --lambda 0.02 --threads 2 --out "$T/obl2.json"
cmp -s "$T/obl.json" "$T/obl2.json" && ok || bad "1 and 2 threads wrote different files"
expect_ok "text" $BIN surrogate "$T/m.safetensors" $L --max-depth 3 --splits oblique --refine 2 --threads 1
has "$T/out" "oblique splits (lambda 0.03)" "nonzero weights per oblique split"

expect_err "bad split" "expected axis or oblique" $BIN surrogate "$T/m.safetensors" $L --splits diagonal
expect_err "lambda on an axis tree" "are for --kind linear or --splits oblique" $BIN surrogate "$T/m.safetensors" \
    $L --lambda 0.1
expect_err "split on linear" "--splits is for --kind tree" $BIN surrogate "$T/m.safetensors" $L \
    --kind linear --splits oblique

expect_ok "report" $BIN report "$T/m.safetensors" --data fashion-mnist --limit 500 --surrogate "$T/obl.json" \
    --examples 0 --threads 1 --no-date --out "$T/r.html"
has "$T/r.html" 'class="tree"' 'A sparse oblique decision tree' 'oblique split: ' 'w&#183;x + b &#8804; 0' \
    'fill:#e5484d' 'fill:#2b50ff'
sed 's/"weights":\[\[/"weights":[[99,1],[/' "$T/obl.json" > "$T/bad.json"
line=$(grep -n -m1 '"weights"' "$T/obl.json" | cut -d: -f1)
expect_err "bad oblique node" "bad.json:$line: nodes" $BIN report "$T/m.safetensors" --data fashion-mnist --limit 500 \
    --surrogate "$T/bad.json" --out "$T/r3.html"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
