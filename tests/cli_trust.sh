#!/usr/bin/env bash
# End-to-end tests of issue 12's verbs on a small copy of Fashion-MNIST
# (2000 training, 500 test samples): `deepc surrogate` (tree and linear,
# --json fields, the JSON file, option errors), `deepc audit --membership`
# (text, --json, reproducible under a seed, wrong data refused), `deepc
# anonymize` (--make-key, pseudonyms, drop, k/l, --verify and its exit
# status, missing key refused, malformed CSV and hierarchy files naming
# their line, identifiers absent from the output), and `deepc report
# --surrogate --membership` (the new sections, a malformed surrogate file
# naming its line).
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin trust
has() { local f=$1; shift; for n in "$@"; do grep -qF -- "$n" "$f" || { bad "$f lacks '$n': $(head -c 600 "$f")"; return; }; done; ok; }

D=/usr/share/datasets/fashion-mnist
[ -d $D ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1>>24&255)) $(($1>>16&255)) $(($1>>8&255)) $(($1&255)))"; }
idx_head() {
  if [ "$1" = images ]; then { be32 2051; be32 "$3"; be32 28; be32 28; zcat "$2" | tail -c +17 | head -c $(($3*784)); }
  else { be32 2049; be32 "$3"; zcat "$2" | tail -c +9 | head -c "$3"; }; fi
}
DATA=$T/fashion-small
mkdir -p "$DATA"
idx_head images $D/train-images-idx3-ubyte.gz 2000 > "$DATA/train-images-idx3-ubyte"
idx_head labels $D/train-labels-idx1-ubyte.gz 2000 > "$DATA/train-labels-idx1-ubyte"
idx_head images $D/t10k-images-idx3-ubyte.gz 500 > "$DATA/t10k-images-idx3-ubyte"
idx_head labels $D/t10k-labels-idx1-ubyte.gz 500 > "$DATA/t10k-labels-idx1-ubyte"

# a model that overfits its 500 training samples (the rest of the split is left out: --limit)
expect_ok "train" $BIN train --model mlp --data "$DATA" --limit 500 --epochs 12 --optim adam --lr 0.002 \
    --threads 1 --quiet --out "$T/m.safetensors"

echo "surrogate"
expect_ok "tree" $BIN surrogate "$T/m.safetensors" --data "$DATA" --max-depth 5 --features pool:4x4 --threads 1 \
    --out "$T/tree.json" --json
has "$T/out" '"kind":"tree"' '"features":"pool:4x4"' '"n_features":49' '"fidelity":' '"accuracy":' '"curve":[' '"depth":5'
python3 - "$T/out" "$T/tree.json" <<'PY' && ok || bad "surrogate JSON"
import json, sys
o = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
assert 0.3 < o["fidelity"] <= 1 and len(o["curve"]) == 5, o
assert [c["fidelity"] for c in o["curve"]][-1] == o["fidelity"]
assert t["format"] == "deepc-surrogate" and t["kind"] == "tree" and len(t["features"]["map"]) == 784
assert len(t["nodes"]) == o["nodes"] and t["scores"]["fidelity"] == o["fidelity"]
PY
expect_ok "linear" $BIN surrogate "$T/m.safetensors" --data "$DATA" --kind linear --features pool:7x7 --lambda 0.01 \
    --max-iter 100 --threads 1 --out "$T/lin.json"
has "$T/out" "sparse logistic model" "coefficients nonzero" "fidelity"
expect_ok "entropy + refine" $BIN surrogate "$T/m.safetensors" --data "$DATA" --criterion entropy --refine 2 \
    --max-depth 4 --threads 1
has "$T/out" "entropy, depth 4" "alternating optimisation"
expect_err "bad features" "expected pool:AxB" $BIN surrogate "$T/m.safetensors" --data "$DATA" --features blocks:4
expect_err "tree option on linear" "are for --kind tree" $BIN surrogate "$T/m.safetensors" --data "$DATA" \
    --kind linear --max-depth 3
expect_err "bad kind" "expected tree or linear" $BIN surrogate "$T/m.safetensors" --kind forest

echo "audit --membership"
expect_ok "membership" $BIN audit "$T/m.safetensors" --membership --data "$DATA" --samples 400 --ref-models 1 \
    --ref-epochs 4 --threads 1
has "$T/out" "loss threshold (Yeom et al. 2018)" "calibrated, 1 reference models" "400 members from its 500" \
    "no DP-SGD privacy record"
expect_ok "membership json" $BIN audit "$T/m.safetensors" --membership --data "$DATA" --samples 400 --ref-models 0 \
    --threads 1 --json
cp "$T/out" "$T/mia1.json"
python3 - "$T/mia1.json" <<'PY' && ok || bad "membership JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["n_members"] == 400 and d["train_samples"] == 500 and d["calibrated_attack"] is None and not d["dp"]
assert d["loss_attack"]["auc"] > 0.55, d["loss_attack"]   # an overfitted model leaks
assert d["member_loss"] < d["nonmember_loss"]
PY
expect_ok "membership again" $BIN audit "$T/m.safetensors" --membership --data "$DATA" --samples 400 --ref-models 0 \
    --threads 1 --json
python3 - "$T/mia1.json" "$T/out" <<'PY' && ok || bad "seeded audit not reproducible"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("seconds"); b.pop("seconds"); assert a == b
PY
mkdir -p "$T/w" # a data set of 400 training samples: not the 500 the model trained on
idx_head images $D/train-images-idx3-ubyte.gz 400 > "$T/w/train-images-idx3-ubyte"
idx_head labels $D/train-labels-idx1-ubyte.gz 400 > "$T/w/train-labels-idx1-ubyte"
cp "$DATA"/t10k-* "$T/w/"
expect_err "wrong data" "members would not be members" $BIN audit "$T/m.safetensors" --membership --data "$T/w" \
    --ref-models 0
expect_err "groups with membership" "is for the fairness audit" $BIN audit "$T/m.safetensors" --membership \
    --groups builtin:parity
expect_err "samples without membership" "needs --membership" $BIN audit "$T/m.safetensors" --groups builtin:parity \
    --samples 10

echo "anonymize"
python3 - "$T" <<'PY'
import random, sys
random.seed(3)
T = sys.argv[1]
with open(T + "/p.csv", "w") as f:
    f.write("patient_id,name,phone,age,zip,sex,diagnosis\n")
    for i in range(400):
        f.write("PID%05d,\"Smith, Ann %04d\",555-%04d,%d,%s,%s,%s\n" % (i, i, i, random.randint(18, 90),
                random.choice(["10001", "10002", "10011", "20001"]), random.choice("MF"),
                random.choice(["flu", "cold", "covid", "asthma"])))
with open(T + "/zip.csv", "w") as f:
    for z in ["10001", "10002", "10011", "20001"]:
        f.write("%s;%s*;%s**;*\n" % (z, z[:4], z[:3]))
PY
expect_err "no key file" "needs --key-file" $BIN anonymize "$T/p.csv" --quasi age,zip,sex --pseudonymize patient_id \
    --out "$T/a.csv"
expect_err "missing key file" "--make-key" $BIN anonymize "$T/p.csv" --quasi age --pseudonymize patient_id \
    --key-file "$T/nokey.bin" --out "$T/a.csv"
expect_ok "make key" $BIN anonymize --make-key "$T/k.bin"
[ "$(stat -c %a "$T/k.bin")" = 600 ] && [ "$(stat -c %s "$T/k.bin")" = 32 ] && ok || bad "key mode or size"
expect_err "key never overwritten" "never overwritten" $BIN anonymize --make-key "$T/k.bin"
expect_ok "anonymize" $BIN anonymize "$T/p.csv" --quasi age,zip,sex --sensitive diagnosis --k 5 --l 2 \
    --drop name,phone --pseudonymize patient_id --key-file "$T/k.bin" --hierarchy zip="$T/zip.csv" \
    --out "$T/a.csv" --json
has "$T/out" '"k":5' '"l":2' '"k_holds":true' '"l_holds":true' '"ncp":' '"prosecutor_risk_max":'
if grep -qE "Smith|555-|PID0" "$T/a.csv"; then bad "identifiers in the output"; else ok; fi
[ "$(head -1 "$T/a.csv")" = "patient_id,age,zip,sex,diagnosis" ] && ok || bad "header: $(head -1 "$T/a.csv")"
expect_ok "same key" $BIN anonymize "$T/p.csv" --quasi age,zip,sex --sensitive diagnosis --k 5 --l 2 \
    --drop name,phone --pseudonymize patient_id --key-file "$T/k.bin" --hierarchy zip="$T/zip.csv" --out "$T/b.csv"
cmp -s "$T/a.csv" "$T/b.csv" && ok || bad "same input and key, different output"
expect_ok "verify" $BIN anonymize "$T/a.csv" --verify --quasi age,zip,sex --sensitive diagnosis --k 5 --l 2
has "$T/out" "(k = 5: holds)" "(l = 2: holds)"
$BIN anonymize "$T/p.csv" --verify --quasi age,zip,sex --k 2 > "$T/out" 2>&1
[ $? = 3 ] && grep -q "VIOLATED" "$T/out" && ok || bad "verify of the raw table: exit 3 and VIOLATED"
printf 'a,b\n1,2\n3,4,5\n' > "$T/bad.csv"
expect_err "ragged CSV" "bad.csv:3: 3 fields" $BIN anonymize "$T/bad.csv" --quasi a --k 1 --out "$T/c.csv"
printf '10001;1000*;*\n10002;*\n' > "$T/badh.csv"
expect_err "bad hierarchy" "badh.csv:2: 2 levels" $BIN anonymize "$T/p.csv" --quasi zip --k 2 \
    --hierarchy zip="$T/badh.csv" --out "$T/c.csv"
expect_err "unknown column" "no column 'height'" $BIN anonymize "$T/p.csv" --quasi height --k 2 --out "$T/c.csv"
expect_err "bad suppression" "--max-suppress" $BIN anonymize "$T/p.csv" --quasi age --k 2 --max-suppress lots \
    --out "$T/c.csv"

echo "report --surrogate --membership"
expect_ok "report" $BIN report "$T/m.safetensors" --data "$DATA" --surrogate "$T/tree.json" --membership \
    --membership-samples 300 --membership-refs 0 --examples 0 --threads 1 --no-date --out "$T/r.html"
has "$T/r.html" 'id="surrogate"' 'id="membership"' 'class="tree"' '<use href="#dcmean"/>' 'ROC of the attacks' \
    'Fidelity by depth'
expect_ok "report linear" $BIN report "$T/m.safetensors" --data "$DATA" --surrogate "$T/lin.json" --examples 0 \
    --threads 1 --no-date --out "$T/r2.html"
has "$T/r2.html" 'figure class="lw"' 'nonzero</figcaption>'
sed 's/"version": 1/"version": 7/' "$T/tree.json" > "$T/bad.json"
expect_err "bad surrogate file" "bad.json:3:" $BIN report "$T/m.safetensors" --data "$DATA" --surrogate "$T/bad.json" \
    --out "$T/r3.html"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
