#!/usr/bin/env bash
# Multimodal models end to end: image + tabular fusion (examples/multimodal.arch)
# on a small copy of Fashion-MNIST (2000 training, 500 test samples) whose
# rows carry a noisy hint of the label (its pair: label div 2) the pictures
# alone do not give away as well. train --tabular/--test-tabular (also with
# --val-split and --tabular-id: the same model from shuffled rows), the fused model beats the image-only one on
# the same data; eval --tabular, predict --tabular (rows by input order or by
# id give the same answers), explain --tabular (IG attributes to the hint
# column), and every mistake refused in one line.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin multimodal
D=/usr/share/datasets/fashion-mnist
[ -d $D ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
ARCH=$(dirname "$0")/../examples/multimodal.arch
PY=${PYTHON:-python3}

$PY - "$D" "$T" <<'PY' || { echo "FAIL: could not make the data"; exit 1; }
import gzip, os, random, struct, sys
d, t = sys.argv[1], sys.argv[2]
os.makedirs(t + "/fm", exist_ok=True)
rng = random.Random(7)
for split, n in (("train", 2000), ("t10k", 500)):
    img = gzip.open(f"{d}/{split}-images-idx3-ubyte.gz").read()[16:16 + n * 784]
    lab = gzip.open(f"{d}/{split}-labels-idx1-ubyte.gz").read()[8:8 + n]
    open(f"{t}/fm/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, 28, 28) + img)
    open(f"{t}/fm/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + lab)
    rows = [(lab[i] // 2 + rng.gauss(0, 0.15), rng.gauss(50, 10)) for i in range(n)]
    name = "train" if split == "train" else "test"
    with open(f"{t}/{name}.csv", "w") as f:
        f.write("pair_hint,noise\n")
        for a, b in rows: f.write(f"{a:.5f},{b:.5f}\n")
    # the same rows shuffled, numbered by an id column
    order = list(range(n)); rng.shuffle(order)
    with open(f"{t}/{name}_ids.csv", "w") as f:
        f.write("sample,pair_hint,noise\n")
        for i in order: f.write(f"{i},{rows[i][0]:.5f},{rows[i][1]:.5f}\n")
    with open(f"{t}/{name}_other.csv", "w") as f:  # other column names
        f.write("hint,noise\n")
        for a, b in rows: f.write(f"{a:.5f},{b:.5f}\n")
# twenty test images as PGM files for predict, and their rows
with open(f"{t}/pred.csv", "w") as f, open(f"{t}/pred_ids.csv", "w") as g:
    f.write("pair_hint,noise\n"); g.write("id,pair_hint,noise\n")
    test = open(f"{t}/test.csv").read().split("\n")[1:21]
    os.makedirs(t + "/png", exist_ok=True)
    img = open(f"{t}/fm/t10k-images-idx3-ubyte", "rb").read()[16:]
    for i in range(20):
        open(f"{t}/png/{i:02d}.pgm", "wb").write(b"P5\n28 28\n255\n" + img[i * 784:(i + 1) * 784])
        f.write(test[i] + "\n")
    for i in reversed(range(20)): g.write(f"{i},{test[i]}\n")
PY
FM=$T/fm
common=(--data "$FM" --epochs 4 --batch 32 --lr 0.05 --momentum 0.9 --threads 1 --seed 3 --json)

echo "train: fused vs image only"
expect_ok "train fused" $BIN train --model "$ARCH" "${common[@]}" --tabular "$T/train.csv" --test-tabular "$T/test.csv" \
    --out "$T/mm.safetensors"
fused=$($PY -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['accuracy'])" "$T/out")
expect_ok "train image only" $BIN train --model lenet5 "${common[@]}" --out "$T/img.safetensors"
img=$($PY -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['accuracy'])" "$T/out")
echo "  test accuracy: fused $fused, image only $img"
$PY -c "import sys; f,i=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if f > i + 0.04 and f > 0.8 else 1)" "$fused" "$img" \
  && ok || bad "the fused model ($fused) beats the image-only one ($img) by 4 points"

echo "train: rows by id, and a validation split that follows the images"
expect_ok "train --tabular-id" $BIN train --model "$ARCH" "${common[@]}" --tabular "$T/train_ids.csv" \
    --test-tabular "$T/test_ids.csv" --tabular-id sample --out "$T/mm_ids.safetensors"
ids=$($PY -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['accuracy'])" "$T/out")
[ "$ids" = "$fused" ] && ok || bad "rows numbered by id train the same model ($ids vs $fused)"
expect_ok "train --val-split" $BIN train --model "$ARCH" "${common[@]}" --tabular "$T/train.csv" \
    --test-tabular "$T/test.csv" --val-split 0.2 --out "$T/mm_val.safetensors"
grep -q '"val_accuracy":0\.[0-9]' "$T/out" && ok || bad "validation events with --val-split: $(head -c 300 "$T/out")"

echo "eval, predict, explain"
expect_ok "eval --tabular" $BIN eval "$T/mm.safetensors" --data "$FM" --tabular "$T/test.csv" --json
ev=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$T/out")
[ "$ev" = "$fused" ] && ok || bad "eval --tabular ($ev) equals the training run's final accuracy ($fused)"
expect_ok "predict --tabular" $BIN predict "$T/mm.safetensors" "$T/png" --tabular "$T/pred.csv" --json
cp "$T/out" "$T/pred_a.json"
expect_ok "predict --tabular-id" $BIN predict "$T/mm.safetensors" "$T/png" --tabular "$T/pred_ids.csv" --tabular-id id --json
cmp -s "$T/out" "$T/pred_a.json" && ok || bad "rows by id predict the same"
$PY - "$T/pred_a.json" "$FM/t10k-labels-idx1-ubyte" <<'PY' && ok || bad "predict --tabular agrees with the labels about as often as eval"
import json, sys
lab = open(sys.argv[2], "rb").read()[8:]
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 20
right = sum(r["class"] == lab[int(r["path"][-6:-4])] for r in recs)
sys.exit(0 if right >= 14 else 1)
PY
expect_ok "explain --tabular" $BIN explain "$T/mm.safetensors" --data "$FM" --index 3 --tabular "$T/test.csv" \
    --method ig --steps 32 --out "$T/ig.png" --json
$PY - "$T/out" <<'PY' && ok || bad "IG gives the hint column more weight than the noise column: $(cat "$T/out" | head -c 400)"
import json, sys
j = json.load(open(sys.argv[1]))
t = {c["column"]: abs(c["value"]) for c in j["tabular"]}
sys.exit(0 if t["pair_hint"] > 5 * t["noise"] else 1)
PY

echo "mistakes"
expect_err "train without rows" "needs features=F" $BIN train --model "$ARCH" --data "$FM" --epochs 1 --threads 1 --quiet --out "$T/x.safetensors"
expect_err "train without test rows" "--test-tabular" $BIN train --model "$ARCH" --data "$FM" --epochs 1 --threads 1 --tabular "$T/train.csv" --out "$T/x.safetensors"
expect_err "rows for another data set" "test.csv: 500 rows for 2000 samples" $BIN train --model "$ARCH" --data "$FM" --epochs 1 --threads 1 --tabular "$T/test.csv" --test-tabular "$T/test.csv" --out "$T/x.safetensors"
expect_err "test rows of other columns" "columns differ" $BIN train --model "$ARCH" --data "$FM" --epochs 1 --threads 1 --tabular "$T/train.csv" --test-tabular "$T/test_other.csv" --out "$T/x.safetensors"
expect_err "unknown id column" "sample" $BIN train --model "$ARCH" --data "$FM" --epochs 1 --threads 1 --tabular "$T/train.csv" --test-tabular "$T/test.csv" --tabular-id sample --out "$T/x.safetensors"
expect_err "--test-tabular alone" "go with --tabular" $BIN train --model lenet5 --data "$FM" --epochs 1 --test-tabular "$T/test.csv" --out "$T/x.safetensors"
printf 'pair_hint,noise\n1,2\nx,3\n' > "$T/bad.csv"
expect_err "non-number cell" "bad.csv:3" $BIN eval "$T/mm.safetensors" --data "$FM" --limit 2 --tabular "$T/bad.csv"
expect_err "eval without rows" "tabular input" $BIN eval "$T/mm.safetensors" --data "$FM"
expect_err "rows for an image model" "no tabular input" $BIN eval "$T/img.safetensors" --data "$FM" --tabular "$T/test.csv"
expect_err "predict without rows" "--tabular FILE" $BIN predict "$T/mm.safetensors" "$T/png"
expect_err "predict: too few rows" "pred.csv" $BIN predict "$T/mm.safetensors" "$T/png" "$T/png/00.pgm" --tabular "$T/pred.csv"
expect_err "explain without rows" "tabular input" $BIN explain "$T/mm.safetensors" --data "$FM" --index 0 --method ig --out "$T/e.png"
expect_err "serve refuses a multimodal model" "image models only" timeout 20 $BIN serve "$T/mm.safetensors" --port 0
[ ! -e "$T/x.safetensors" ] && ok || bad "no model written by a refused run"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
