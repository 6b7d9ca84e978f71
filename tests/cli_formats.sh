#!/usr/bin/env bash
# cli_formats.sh — deepc on data in the layouts people have, end to end:
#  1. every defect tests/gen_data_formats.py makes (CSV, .npz/.npy, CIFAR-10,
#     image folders) given to `deepc train`: a non-zero exit, a one-line
#     message naming the file, and no model file written;
#  2. the first 3000/1000 Fashion-MNIST images copied by
#     tests/tools/make_data_copies.py into Kaggle CSV, Keras .npz and an
#     ImageFolder of PNGs: LeNet-5 trained on the CSV or the .npz is the IDX
#     model bit for bit, the image-folder one (same images, class-by-class
#     order) reaches the same accuracy within 2.5 points, and every model
#     evaluates the same on every copy of the test split;
#  3. predict on PNG, JPEG, PGM, a folder, a CSV and an .npy, --json per
#     input, and --submission in Kaggle's format; train on CIFAR-10 batches
#     and on a colour image folder (per-channel normalisation stored).
. "$(dirname "$0")/lib_cli.sh"
cli_begin formats
BIN=${DEEPC_BIN:?}
SRC=${DEEPC_SOURCE_DIR:?}
TOOLS=$(dirname "$BIN")
PY=/usr/bin/python3
if ! $PY -c 'import numpy, PIL' 2>/dev/null; then
  echo "SKIPPED: $PY lacks numpy or PIL (apt-get install python3-numpy python3-pil)"; echo "0 passed, 0 failed"; exit 0
fi
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }

# 1. defects: refused by name, nothing written
$PY "$SRC/tests/gen_data_formats.py" "$T/gen" 2>/dev/null || bad "gen_data_formats.py failed"
$PY - "$T/gen/manifest.json" > "$T/defects" <<'PY'
import json, shlex, sys
for c in json.load(open(sys.argv[1])):
    if c["kind"] != "error":
        continue
    o, flags = c["options"], []
    if "channels" in o: flags += ["--channels", str(o["channels"])]
    if "height" in o: flags += ["--input-size", f'{o["height"]}x{o["width"]}']
    if "shape" in o: flags += ["--input-shape", ",".join(map(str, o["shape"]))]
    if "layout" in o: flags += ["--layout", o["layout"]]
    if o.get("skip_bad"): flags += ["--skip-bad"]
    if "classes" in o: flags += ["--classes", o["classes"]]
    print(shlex.quote(c["needle"]), shlex.quote(c["spec"]), " ".join(map(shlex.quote, flags)))
PY
n=0
while read -r line; do
  eval "set -- $line"; needle=$1; spec=$2; shift 2
  rm -f "$T/x.safetensors"
  "$BIN" train --data "$spec" "$@" --epochs 1 --out "$T/x.safetensors" >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$needle" "$T/err" && [ "$(wc -l < "$T/err")" -eq 1 ] && [ ! -e "$T/x.safetensors" ]; then
    ok; n=$((n+1))
  else
    bad "train on $spec: exit $rc, model written: $([ -e "$T/x.safetensors" ] && echo yes || echo no), stderr: $(cat "$T/err")"
  fi
done < "$T/defects"
echo "  $n defective data sets refused by train, no model written"
[ "$n" -ge 35 ] && ok || bad "only $n defects ran"
expect_err "an unlabelled CSV cannot be trained on" "no label column" "$BIN" train --data "$T/gen/csv/test.csv" --out "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] && ok || bad "model written from unlabelled data"

# 2. the same data in four layouts
$PY "$SRC/tests/tools/make_data_copies.py" /usr/share/datasets/fashion-mnist "$T/c" 3000 1000 2>/dev/null || bad "make_data_copies.py failed"
O="--model lenet5 --epochs 1 --threads 1 --seed 5 --lr 0.02 --batch 32"
expect_ok "train on IDX" "$BIN" train --data fashion-mnist --limit 3000 --test-limit 1000 $O --out "$T/idx.safetensors"
expect_ok "train on the Kaggle CSV" "$BIN" train --data "$T/c/train.csv" $O --out "$T/csv.safetensors"
grep -q "no test or validation set" "$T/out" && ok || bad "a CSV has no test split: $(cat "$T/out")"
expect_ok "train on the .npz" "$BIN" train --data "$T/c/fashion.npz" $O --out "$T/npz.safetensors"
expect_ok "train on the image folder" "$BIN" train --data "$T/c/images" $O --out "$T/img.safetensors"
grep -q "10 classes" "$T/out" && ok || bad "image folder classes: $(cat "$T/out")"
for m in csv npz; do
  d=$("$TOOLS/model_diff" "$T/idx.safetensors" "$T/$m.safetensors")
  echo "  $m model vs IDX model: $d"
  echo "$d" | grep -q "max_abs=0 " && ok || bad "the $m model differs from the IDX one: $d"
done
acc() { "$BIN" eval "$1" --data "$2" --json 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'; }
a_idx=$(acc "$T/idx.safetensors" fashion-mnist)
for d in "$T/c/test.csv" "$T/c/fashion.npz" "$T/c/images"; do
  for m in idx csv npz img; do
    a=$(acc "$T/$m.safetensors" "$d"); eval "a_$m=\$a"
    [ -n "$a" ] && ok || bad "eval $m on $d"
  done
  [ "$a_idx" = "$(acc "$T/idx.safetensors" "$d")" ] && ok || bad "the IDX model scores differently on $d"
done
# the image folder lists the same images class by class: a different order,
# so the same accuracy within what another seed would change (about 2
# points after 3 epochs on 3000 images)
O3="--model lenet5 --epochs 3 --threads 2 --seed 5 --lr 0.02 --batch 32"
expect_ok "train 3 epochs on IDX" "$BIN" train --data fashion-mnist --limit 3000 --test-limit 1000 $O3 --out "$T/idx3.safetensors"
expect_ok "train 3 epochs on the image folder" "$BIN" train --data "$T/c/images" $O3 --out "$T/img3.safetensors"
a_idx=$(acc "$T/idx3.safetensors" "$T/c/test.csv")
a_img=$(acc "$T/img3.safetensors" "$T/c/images")
printf '  LeNet-5 on 3000 images, test accuracy on 1000: 1 epoch IDX = CSV = npz %s; 3 epochs IDX %s, image folder %s\n' \
  "$(acc "$T/csv.safetensors" "$T/c/test.csv")" "$a_idx" "$a_img"
$PY -c "import sys; sys.exit(abs($a_idx - $a_img) > 0.025)" && ok || bad "image folder accuracy $a_img vs IDX $a_idx"

# 3. predict on every kind of input
$PY - "$T" <<'PY'
import sys, numpy as np
from PIL import Image
t = sys.argv[1]
x = np.load(t + "/c/x_test.npy")
Image.fromarray(x[0]).save(t + "/p0.png")
Image.fromarray(x[1]).convert("RGB").save(t + "/p1.jpg", quality=95)
Image.fromarray(x[2]).save(t + "/p2.pgm")
np.save(t + "/few.npy", x[:7])
PY
M="$T/idx.safetensors"
expect_ok "predict PNG JPEG PGM" "$BIN" predict "$M" "$T/p0.png" "$T/p1.jpg" "$T/p2.pgm" --top-k 2
[ "$(grep -c '^  1\. ' "$T/out")" = 3 ] && ok || bad "three predictions: $(cat "$T/out")"
expect_ok "predict --json on a folder, a CSV and an .npy" "$BIN" predict "$M" "$T/c/images/test/0_tshirt_top" \
    "$T/c/kaggle_test.csv" "$T/few.npy" --json --top-k 3
$PY - "$T/out" "$T/c" <<'PY' && ok || bad "predict --json: $(head -c 600 "$T/out")"
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
nfold = len(os.listdir(os.path.join(sys.argv[2], "images/test/0_tshirt_top")))
assert len(lines) == nfold + 50 + 7, len(lines)
for i, o in enumerate(lines):
    assert o["index"] == i
    assert len(o["top_k"]) == 3 and len(o["probabilities"]) == 10 and len(o["logits"]) == 10
    assert abs(sum(o["probabilities"]) - 1) < 1e-4
    assert o["class"] == o["top_k"][0]["class"] == max(range(10), key=lambda k: (o["probabilities"][k], -k))
    assert o["top_k"][0]["probability"] >= o["top_k"][1]["probability"] >= o["top_k"][2]["probability"]
    assert o["top_k"][0]["name"] == o["name"]
f, c, n = lines[0], lines[nfold], lines[nfold + 50]
assert f["row"] is None and f["path"].endswith(".png") and f["label"] is None
assert c["row"] == 0 and c["path"].endswith("kaggle_test.csv") and n["row"] == 0 and n["path"].endswith("few.npy")
# the same images by three routes: the CSV's row k and the .npy's row k are test image k
for k in range(7):
    assert lines[nfold + k]["logits"] == lines[nfold + 50 + k]["logits"]
PY
expect_ok "predict --submission" "$BIN" predict "$M" "$T/c/kaggle_test.csv" --submission "$T/sub.csv"
$PY - "$T/sub.csv" <<'PY' && ok || bad "submission file: $(head -3 "$T/sub.csv")"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["ImageId", "Label"] and len(rows) == 51
assert [int(r[0]) for r in rows[1:]] == list(range(1, 51)) and all(0 <= int(r[1]) <= 9 for r in rows[1:])
PY
expect_err "predict on a CSV of the wrong shape" "pixel columns" "$BIN" predict "$M" "$T/gen/csv/train.csv"
expect_err "a bad submission path" "--submission" "$BIN" predict "$M" "$T/p0.png" --submission "$T/no/such/dir/s.csv"

# colour data: CIFAR-10 batches and an RGB image folder, per-channel normalisation
expect_ok "train on CIFAR-10 batches" "$BIN" train --model resnet8 --data "$T/gen/cifar" --epochs 1 --batch 4 --threads 1 --out "$T/cifar.safetensors"
$PY - "$T/cifar.safetensors" <<'PY' && ok || bad "CIFAR model metadata"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
m = json.loads(b[8:8 + n])["__metadata__"]
norm = json.loads(m["deepc.norm"])
assert len(norm["mean"]) == 3 and len(norm["std"]) == 3 and len(set(norm["mean"])) == 3, norm
assert json.loads(m["deepc.classes"])[0] == "airplane"
assert json.loads(m["deepc.provenance"])["version"] == m["deepc.library_version"]
PY
expect_ok "train on a colour image folder" "$BIN" train --model lenet5 --data "$T/gen/images" --input-size 32x32 --channels 3 \
    --epochs 1 --batch 2 --threads 1 --hflip --crop 2 --out "$T/rgb.safetensors"
grep -q "3x32x32" "$T/out" && ok || bad "colour folder shape: $(cat "$T/out")"
expect_ok "predict a JPEG with the colour model" "$BIN" predict "$T/rgb.safetensors" "$T/gen/images/test/dog/t.jpg" --json
grep -q '"name":"\(cat\|dog\|zebra\)"' "$T/out" && ok || bad "class names from the folders: $(cat "$T/out")"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
