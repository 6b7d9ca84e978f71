#!/usr/bin/env bash
# cli_learn.sh — end-to-end tests of the learn-from-less verbs on small
# subsets of Fashion-MNIST: finetune (a linear probe leaves every backbone
# tensor bit-identical, a new head for a 5-class task, the parent's SHA-256
# in the provenance, from scratch from a built-in), pretrain (SimCLR, BYOL,
# SimSiam; the result is a model that eval, summary, explain and finetune
# take), tune (best model, journal, HTML page; kill -9 in the middle and
# --resume: no finished unit runs again), and their one-line errors.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
PY=/usr/bin/python3
source "$(dirname "$0")/lib_cli.sh"
cli_begin learn

[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
SMALL="--data fashion-mnist --limit 2000 --test-limit 500 --threads 2"
st() { PYTHONPATH="$SRC/tests" $PY -c "$1"; } # python with tests/st_py.py importable

for v in finetune pretrain tune; do expect_ok "$v --help" "$BIN" $v --help; done

# ---------------------------------------------------------------- finetune
expect_ok "train a parent" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.02 --quiet --out "$T/p.safetensors"
expect_ok "linear probe" "$BIN" finetune "$T/p.safetensors" $SMALL --freeze backbone --labels-per-class 20 \
  --epochs 2 --lr 0.02 --weight-decay 0.01 --out "$T/lp.safetensors"
grep -q "frozen: 11 of 12 nodes" "$T/out" && grep -q "200 train" "$T/out" && ok || bad "linear probe reports: $(grep -E 'frozen|data:' "$T/out")"
sha=$(sha256sum "$T/p.safetensors" | cut -d' ' -f1)
st "
import json, sys, numpy as np, st_py
a, _ = st_py.load('$T/p.safetensors'); b, meta = st_py.load('$T/lp.safetensors')
same = [k for k in a if not k.startswith('optim.') and not k.startswith('fc3.') and np.array_equal(a[k], b[k])]
want = [k for k in a if not k.startswith('optim.') and not k.startswith('fc3.')]
assert same == want, ('backbone tensors changed', sorted(set(want) - set(same)))
assert not np.array_equal(a['fc3.weight'], b['fc3.weight']), 'the head did not train'
p = json.loads(meta['deepc.provenance'])
assert p['parent']['sha256'] == '$sha' and p['parent']['path'] == '$T/p.safetensors', p['parent']
assert p['labels_per_class'] == 20 and p['train_samples'] == 200, p
print('ok:', len(same), 'backbone tensors bit-identical')
" && ok || bad "linear probe: frozen tensors or provenance"

$PY "$SRC/bench/ssl_split_classes.py" /usr/share/datasets/fashion-mnist "$T/f59" 5 10 >/dev/null
expect_ok "new head for 5 classes" "$BIN" finetune "$T/p.safetensors" --data "$T/f59" --limit 1000 --test-limit 300 \
  --threads 2 --epochs 1 --lr 0.02 --lr-backbone 0.1x --out "$T/nh.safetensors"
grep -q "new head: fc3, linear 84 -> 5 classes" "$T/out" && grep -q "backbone learning rate: 0.1 x 0.02" "$T/out" && ok \
  || bad "new head message: $(grep -E 'head|backbone' "$T/out")"
st "
import st_py; t, _ = st_py.load('$T/nh.safetensors')
assert t['fc3.weight'].shape == (5, 84) and t['fc3.bias'].shape == (5,), t['fc3.weight'].shape
" && ok || bad "new head shape"
# knowledge distillation in deepc train: --teacher; a student with the teacher's shapes only
expect_ok "train with --teacher" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.02 --seed 2 --teacher "$T/p.safetensors" \
  --distill-alpha 0.8 --distill-t 2 --quiet --out "$T/kd.safetensors"
expect_ok "the same without" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.02 --seed 2 --quiet --out "$T/nokd.safetensors"
cmp -s "$T/kd.safetensors" "$T/nokd.safetensors" && bad "--teacher changed nothing" || ok
expect_err "a teacher with other classes" "5 classes" "$BIN" train --model lenet5 $SMALL --epochs 1 --teacher "$T/nh.safetensors" --out "$T/x.safetensors"
expect_err "a missing teacher" "$T/none.safetensors" "$BIN" train --model lenet5 $SMALL --epochs 1 --teacher "$T/none.safetensors" --out "$T/x.safetensors"
expect_err "--distill-t without --teacher" "--teacher" "$BIN" train --model lenet5 $SMALL --epochs 1 --distill-t 2 --out "$T/x.safetensors"
expect_err "--distill-alpha out of range" "--distill-alpha -0.5" "$BIN" train --model lenet5 $SMALL --epochs 1 --teacher "$T/p.safetensors" --distill-alpha -0.5 --out "$T/x.safetensors"
expect_err "--teacher with --dp" "--dp" "$BIN" train --model lenet5 $SMALL --epochs 1 --dp --noise 1 --teacher "$T/p.safetensors" --out "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] && ok || bad "a refused train wrote its --out"
expect_ok "finetune --json" "$BIN" finetune "$T/p.safetensors" $SMALL --epochs 1 --freeze 'conv*' --json --out "$T/j.safetensors"
grep -q '"event":"epoch"' "$T/out" && grep -q '"event":"done","split":"test","n":500,"accuracy":0\.' "$T/out" \
  && grep -q '"val_accuracy":null,"test_accuracy":0\.' "$T/out" && ok || bad "finetune --json lines: $(cat "$T/out")"
mkdir -p "$T/json"; cp "$T/out" "$T/json/finetune.jsonl"
expect_ok "finetune --val-split --json" "$BIN" finetune "$T/p.safetensors" $SMALL --epochs 1 --val-split 0.2 --json --out "$T/jv.safetensors"
grep -q '"val_accuracy":0\.[0-9]*,"test_accuracy":null' "$T/out" && ok || bad "finetune --val-split names its split: $(head -1 "$T/out")"
cp "$T/out" "$T/json/finetune_val.jsonl"
expect_ok "from scratch (a built-in)" "$BIN" finetune lenet5 $SMALL --labels-per-class 10 --epochs 1 --out "$T/s.safetensors"
grep -q "training from scratch" "$T/out" && ok || bad "scratch message"
expect_err "unmatched --freeze" "matches no node" "$BIN" finetune "$T/p.safetensors" $SMALL --freeze layer9 --out "$T/x.safetensors"
expect_err "bad --lr-backbone" "--lr-backbone" "$BIN" finetune "$T/p.safetensors" $SMALL --lr-backbone fast --out "$T/x.safetensors"
expect_err "too many labels per class" "has only" "$BIN" finetune "$T/p.safetensors" $SMALL --labels-per-class 5000 --out "$T/x.safetensors"
expect_err "everything frozen" "leaves no parameter" "$BIN" finetune "$T/p.safetensors" $SMALL --freeze 'conv*,fc*' --out "$T/x.safetensors"
expect_err "no parent" "parent model" "$BIN" finetune $SMALL
expect_err "missing parent" "nothing.safetensors" "$BIN" finetune "$T/nothing.safetensors" $SMALL

# ---------------------------------------------------------------- pretrain
PRE="--data fashion-mnist --limit 512 --test-limit 200 --threads 2 --epochs 1 --knn-bank 256"
expect_ok "pretrain simclr" "$BIN" pretrain $PRE --batch 64 --json --out "$T/enc.safetensors"
grep -q '"knn_accuracy":0\.' "$T/out" && grep -q '"emb_std":0\.' "$T/out" && grep -q '"event":"done"' "$T/out" && ok || bad "pretrain --json: $(cat "$T/out")"
cp "$T/out" "$T/json/pretrain.jsonl"
for m in byol simsiam; do
  expect_ok "pretrain $m" "$BIN" pretrain $PRE --batch 64 --method $m --out "$T/enc_$m.safetensors"
  grep -q "kNN acc" "$T/out" && ok || bad "$m prints the monitor"
done
expect_ok "eval takes the encoder" "$BIN" eval "$T/enc.safetensors" --data fashion-mnist --limit 200
expect_ok "summary takes the encoder" "$BIN" summary "$T/enc.safetensors"
expect_ok "explain takes the encoder" "$BIN" explain "$T/enc.safetensors" "$SRC/examples/boot.png" --method saliency --out "$T/sal.png"
expect_ok "finetune takes the encoder" "$BIN" finetune "$T/enc.safetensors" $SMALL --freeze backbone --epochs 1 --out "$T/fe.safetensors"
st "
import json, st_py; _, m = st_py.load('$T/enc.safetensors'); p = json.loads(m['deepc.provenance'])
assert p['verb'] == 'pretrain' and p['method'] == 'simclr' and p['features'] == 'relu4' and len(p['history']) == 1, p
" && ok || bad "pretrain provenance"

# other loaders: a CSV without labels (Kaggle's test.csv layout) and one with them, one split each
$PY - /usr/share/datasets/fashion-mnist "$T" <<'EOF'
import csv, gzip, os, sys
import numpy as np
def idx(name):
    for p in (os.path.join(sys.argv[1], name), os.path.join(sys.argv[1], name + ".gz")):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)
x, y = idx("train-images-idx3-ubyte")[:600], idx("train-labels-idx1-ubyte")[:600]
for name, lab in (("unlab.csv", None), ("lab.csv", y)):
    with open(os.path.join(sys.argv[2], name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["label"] if lab is not None else []) + [f"pixel{i}" for i in range(784)])
        for i in range(len(x)):
            w.writerow(([int(lab[i])] if lab is not None else []) + x[i].reshape(-1).tolist())
EOF
CSVPRE="--threads 2 --epochs 1 --batch 64 --knn-bank 256"
expect_ok "pretrain on an unlabelled CSV" "$BIN" pretrain --data "$T/unlab.csv" --val-split 0.25 $CSVPRE --json --out "$T/encu.safetensors"
grep -q '"event":"epoch".*"knn_accuracy":null,"emb_std":0\.' "$T/out" && ok || bad "unlabelled: the spread without kNN: $(head -1 "$T/out")"
expect_ok "pretrain on a one-split source" "$BIN" pretrain --data "$T/unlab.csv" $CSVPRE --out "$T/encu1.safetensors"
grep -q "no test split: no monitor" "$T/err" && ok || bad "no held-out images: the note: $(cat "$T/err")"
expect_err "finetune refuses unlabelled data" "no label column" "$BIN" finetune "$T/encu.safetensors" --data "$T/unlab.csv" --out "$T/x.safetensors"
expect_ok "finetune on a labelled CSV" "$BIN" finetune "$T/encu.safetensors" --data "$T/lab.csv" --val-split 0.2 --threads 2 --epochs 1 --json --out "$T/fcsv.safetensors"
grep -q '"event":"done","split":"val","n":120,"accuracy":0\.' "$T/out" && ok || bad "a one-split source is scored on its validation split: $(tail -1 "$T/out")"
cp "$T/out" "$T/json/finetune_csv.jsonl"
expect_err "unknown method" "--method" "$BIN" pretrain $PRE --method moco --out "$T/x.safetensors"
expect_err "batch of one" "--batch" "$BIN" pretrain $PRE --batch 1 --out "$T/x.safetensors"
expect_err "bad temperature" "--temperature" "$BIN" pretrain $PRE --batch 64 --temperature 0 --out "$T/x.safetensors"

# ---------------------------------------------------------------- tune
cat > "$T/s.json" <<'EOF'
{"lr": {"log_uniform": [0.003, 0.1]},
 "momentum": {"choice": [0.0, 0.9]}}
EOF
TDATA="--data fashion-mnist --limit 1200 --test-limit 300 --val-split 0.25 --budget 3 --threads 1 --parallel 2"
TUNE="$TDATA --space $T/s.json"
expect_ok "tune" "$BIN" tune $TUNE --trials 6 --journal "$T/j.json" --out "$T/best.safetensors" --json
grep -q '"event":"done"' "$T/out" && grep -q '"total_epochs":10' "$T/out" && ok || bad "tune: 6 x 1 + 2 x 2 epochs: $(tail -1 "$T/out")"
grep -q '"event":"unit".*"val_accuracy":0\.' "$T/out" && grep -q '"event":"done".*"val_accuracy":0\..*"test_accuracy":0\.' "$T/out" \
  && ok || bad "tune --json figures: $(tail -1 "$T/out")"
cp "$T/out" "$T/json/tune.jsonl"
[ -f "$T/j.html" ] && grep -q "<svg" "$T/j.html" && ! grep -q "<script" "$T/j.html" && ok || bad "tune page"
expect_ok "the best model evaluates" "$BIN" eval "$T/best.safetensors" --data fashion-mnist --limit 300
expect_err "journal exists" "--resume" "$BIN" tune $TUNE --trials 6 --journal "$T/j.json"
expect_err "settings with --resume" "settings come from" "$BIN" tune --resume "$T/j.json" --trials 9
expect_ok "resume a finished search" "$BIN" tune --resume "$T/j.json" --json
grep -q '"units_run":0' "$T/out" && ok || bad "a finished search runs nothing: $(tail -1 "$T/out")"
printf '{"lr": {"log_uniform": [0.003, 0.1]},\n "momentm": {"choice": [0.0, 0.9]}}\n' > "$T/bad.json"
expect_err "misspelt option" "bad.json:2: unknown option \"momentm\" (did you mean \"momentum\"?)" "$BIN" tune $TDATA --space "$T/bad.json" --journal "$T/b.json"
printf '{"lr": {"log_uniform": [0.003, 0.1]}\n "momentum": {"choice": [0.0, 0.9]}}\n' > "$T/bad2.json"
expect_err "JSON syntax" "bad2.json:2: malformed JSON" "$BIN" tune $TDATA --space "$T/bad2.json" --journal "$T/b.json"
expect_err "no validation split" "--val-split" "$BIN" tune --space "$T/s.json" --val-split 0 --journal "$T/b.json"
expect_err "bad --sampler" "--sampler 'bayes': expected random or tpe" "$BIN" tune $TUNE --sampler bayes --journal "$T/b.json"
expect_err "--brackets without tpe" "--brackets is for --sampler tpe" "$BIN" tune $TUNE --brackets 2 --journal "$T/b.json"
expect_err "--brackets 0" "--brackets 0: expected 1..trials (6)" "$BIN" tune $TUNE --trials 6 --sampler tpe --brackets 0 --journal "$T/b.json"
expect_err "more brackets than trials" "--brackets 7: expected 1..trials (6)" "$BIN" tune $TUNE --trials 6 --sampler tpe --brackets 7 --journal "$T/b.json"
expect_err "--brackets not a number" "--brackets" "$BIN" tune $TUNE --sampler tpe --brackets two --journal "$T/b.json"
expect_err "--sampler with --resume" "settings come from" "$BIN" tune --resume "$T/j.json" --sampler tpe
# TPE: 2 brackets of 3 trials (rungs 1 and 3 epochs: 3 x 1 + 1 x 2 each), bracket 1 drawn from bracket 0
expect_ok "tune --sampler tpe" "$BIN" tune $TUNE --trials 6 --sampler tpe --brackets 2 --journal "$T/tpe.json" --out "$T/tbest.safetensors" --json
grep -q '"event":"done".*"total_epochs":10' "$T/out" && ok || bad "tune --sampler tpe: 2 x (3 x 1 + 1 x 2) epochs: $(tail -1 "$T/out")"
$PY - "$T/tpe.json" "$T/j.json" <<'EOF2' && ok || bad "the TPE journal: sampler, brackets, bracket 0 the random draw"
import json, sys
t, r = (json.load(open(p)) for p in sys.argv[1:3])
assert t["settings"]["sampler"] == "tpe" and t["settings"]["brackets"] == 2, t["settings"]
assert "sampler" not in r["settings"] and "brackets" not in r["settings"], r["settings"]
assert [x["bracket"] for x in t["trials"]] == [0, 0, 0, 1, 1, 1]
assert [x["values"] for x in t["trials"][:3]] == [x["values"] for x in r["trials"][:3]], "bracket 0 is the seed's random draw"
assert t["finished"]
print("ok: TPE journal, bracket 0 = the random draws, bracket 1 drawn by TPE:", [x["config"] for x in t["trials"][3:]])
EOF2
grep -q "Sampler: <b>TPE</b> over 2 brackets" "$T/tpe.html" && grep -q "<th>bracket</th>" "$T/tpe.html" && ok || bad "the TPE page names its sampler and brackets"
expect_ok "resume a finished TPE search" "$BIN" tune --resume "$T/tpe.json" --json
grep -q '"units_run":0' "$T/out" && ok || bad "a finished TPE search runs nothing: $(tail -1 "$T/out")"
$PY - "$T/tpe.json" "$T/tpe-edited.json" <<'EOF2'
import json, sys
j = json.load(open(sys.argv[1]))
j["trials"][4]["values"][0] *= 1.01
json.dump(j, open(sys.argv[2], "w"))
EOF2
expect_err "an edited TPE trial" "trials\[4\].values are not what TPE draws" "$BIN" tune --resume "$T/tpe-edited.json"

# one trial per MPI rank: the same search as one process
if command -v mpirun >/dev/null; then
  MPI="mpirun --allow-run-as-root --oversubscribe -n 2"   # Open MPI's own allocations are not our leaks: LeakSanitizer is off for it
  ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 $MPI "$BIN" tune $TUNE --trials 6 --journal "$T/m.json" --out "$T/mbest.safetensors" --json > "$T/m.out" 2> "$T/m.err" \
    && ok || bad "mpirun -n 2 deepc tune: $(tail -3 "$T/m.err")"
  $PY - "$T/j.json" "$T/m.json" <<'EOF' && ok || bad "tune under MPI differs from one process"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for x, y in zip(a["trials"], b["trials"]):
    assert x["epochs"] == y["epochs"] and x["curve"] == y["curve"], (x["id"], x["curve"], y["curve"])
assert a["best"]["trial"] == b["best"]["trial"] and a["total_epochs"] == b["total_epochs"]
print("ok: 2 MPI ranks give the single process's search, best trial", b["best"]["trial"])
EOF
else
  echo "  (mpirun not found: the MPI search is not tested)"
fi

# kill -9 in the middle, then --resume: nothing finished runs again
"$BIN" tune $TUNE --trials 9 --journal "$T/k.json" --out "$T/kbest.safetensors" --json > "$T/k1.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  n=$(grep -c '"event":"unit"' "$T/k1.out" 2>/dev/null)
  [ "${n:-0}" -ge 4 ] && break
  sleep 0.1
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
before=$($PY -c "import json; j = json.load(open('$T/k.json')); print(' '.join('%d:%d' % (t['id'], t['epochs']) for t in j['trials']))")
expect_ok "resume after kill -9" "$BIN" tune --resume "$T/k.json" --json
cp "$T/out" "$T/k2.out"
$PY - "$T/k.json" "$T/k2.out" "$before" <<'EOF' && ok || bad "resume after kill -9 repeated work or did not finish"
import json, sys
journal, out, before = sys.argv[1], sys.argv[2], dict(map(int, p.split(':')) for p in sys.argv[3].split())
units = [json.loads(l) for l in open(out) if '"event":"unit"' in l]
again = [(u['trial'], u['from']) for u in units if u['from'] < before[u['trial']]]
assert not again, ('finished units ran again', again)
j = json.load(open(journal))
assert j['finished'] and j['total_epochs'] == 9 * 1 + 3 * 2, (j['finished'], j['total_epochs'])
done_before = sum(1 for e in before.values() if e > 0)
print('ok: %d units finished before the kill, %d after, none repeated' % (done_before, len(units)))
EOF

# the three verbs speak the one JSON vocabulary (README, "JSON output"; tests/cli_json.sh's rules)
$PY - "$T/json" <<'EOF' && ok || bad "the JSON vocabulary of finetune, pretrain and tune (see above)"
import json, math, os, sys
FORBIDDEN = {"acc", "test_acc", "train_acc", "val_acc", "knn_acc", "prob", "probs", "held_out", "heldout", "top"}
def walk(v, where):
    if isinstance(v, dict):
        for k, x in v.items():
            assert k not in FORBIDDEN, f"{where}: key {k!r} is another spelling of a shared name"
            bad = {"acc", "accs", "prob", "probs", "heldout"} & set(k.split("_"))
            assert not bad, f"{where}: {k!r}: spelled {bad}"
            if k.endswith(("accuracy", "loss")):
                assert x is None or (isinstance(x, (int, float)) and x != -1), f"{where}: {k} = {x!r} (null, not -1)"
            if isinstance(x, float):
                assert math.isfinite(x), f"{where}: {k} = {x}"
            walk(x, f"{where}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, f"{where}[{i}]")
n = 0
for f in sorted(os.listdir(sys.argv[1])):
    for i, line in enumerate(open(os.path.join(sys.argv[1], f))):
        walk(json.loads(line), f"{f}[{i}]")  # one object per line, valid JSON
        n += 1
print(f"ok: {n} JSON objects of finetune, pretrain and tune: one vocabulary")
EOF

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
