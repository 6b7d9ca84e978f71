#!/usr/bin/env bash
# End-to-end tests of the deepc program on a small subset of Fashion-MNIST:
# train, eval (text and --json), predict (PNG and PGM), resume equivalence,
# and bad inputs (each must give a one-line error and a non-zero exit).
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
source "$(dirname "$0")/lib_cli.sh"
cli_begin cli

DATA=fashion-mnist
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
SMALL="--data $DATA --limit 3000 --test-limit 1000 --threads 2"

expect_ok "deepc --help" "$BIN" --help
for v in train eval predict; do expect_ok "$v --help" "$BIN" $v --help; done
expect_err "unknown verb" "unknown verb" "$BIN" trian

# train, eval, predict
expect_ok "train" "$BIN" train --model lenet5 $SMALL --epochs 2 --batch 64 --lr 0.01 --momentum 0.9 --seed 3 --out "$T/m.safetensors"
grep -q "test accuracy" "$T/out" && ok || bad "train prints the test accuracy"
grep -q "conv1" "$T/out" && grep -q "16x5x5" "$T/out" && ok || bad "train prints the layer table"
[ -f "$T/m.safetensors" ] && ok || bad "checkpoint written"
ls "$T" | grep -q tmp && bad "temporary file left behind" || ok
expect_ok "eval" "$BIN" eval "$T/m.safetensors" --data $DATA --limit 1000
grep -q "accuracy" "$T/out" && grep -q "confusion" "$T/out" && grep -q "Ankle boot" "$T/out" && ok || bad "eval shows accuracy, confusion matrix and class names"
expect_ok "eval --json" "$BIN" eval "$T/m.safetensors" --data $DATA --limit 1000 --json
acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' "$T/out"); n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p' "$T/out")
[ "$n" = 1000 ] && awk -v a="$acc" 'BEGIN{exit !(a>0.5 && a<=1)}' && ok || bad "eval --json has accuracy in (0.5,1] and n=1000: $(cat "$T/out")"
expect_ok "predict png" "$BIN" predict "$T/m.safetensors" "$SRC/examples/boot.png" --top-k 3
grep -q "Ankle boot" "$T/out" && ok || bad "predict names the class: $(cat "$T/out")"
# a PGM cut straight out of the IDX file (test image 0, an ankle boot)
{ printf 'P5\n28 28\n255\n'; zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c $((16+784)) | tail -c 784; } > "$T/boot.pgm"
expect_ok "predict pgm --json" "$BIN" predict "$T/m.safetensors" "$T/boot.pgm" --json
grep -q '"probability"' "$T/out" && grep -q '"logits"' "$T/out" && ok || bad "predict --json"
expect_ok "train --json" "$BIN" train $SMALL --epochs 1 --json --out "$T/j.safetensors"
grep -q '"event":"epoch"' "$T/out" && grep -q '"test_accuracy"' "$T/out" && ok || bad "train --json lines"
expect_ok "train from an architecture file" "$BIN" train --model "$SRC/examples/lenet5.arch" $SMALL --epochs 1 --out "$T/a.safetensors"

# resume: 1 epoch + resume to 2 == 2 epochs straight (same eval to the last digit)
expect_ok "train 1 epoch" "$BIN" train $SMALL --epochs 1 --seed 5 --lr 0.01 --out "$T/r.safetensors"
expect_ok "resume to 2" "$BIN" train --resume "$T/r.safetensors" --epochs 2
grep -q "resuming" "$T/out" && ok || bad "resume says so"
expect_ok "train 2 straight" "$BIN" train $SMALL --epochs 2 --seed 5 --lr 0.01 --out "$T/s.safetensors"
"$BIN" eval "$T/r.safetensors" --data $DATA --limit 1000 --json > "$T/e1"
"$BIN" eval "$T/s.safetensors" --data $DATA --limit 1000 --json > "$T/e2"
# the same weights give the same accuracy and loss to the last printed digit
key() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["accuracy"], j["loss"])' "$1" 2>/dev/null; }
[ -n "$(key "$T/e1")" ] && [ "$(key "$T/e1")" = "$(key "$T/e2")" ] && ok || bad "resumed and straight runs differ: $(key "$T/e1") vs $(key "$T/e2")"
expect_err "resume past the end" "already trained" "$BIN" train --resume "$T/s.safetensors" --epochs 2

# bad inputs
expect_err "missing data folder" "$T/nothing" "$BIN" train --data "$T/nothing" --epochs 1 --out "$T/x.safetensors"
mkdir -p "$T/d"; printf 'garbage' > "$T/d/train-images-idx3-ubyte"
expect_err "folder with a bad IDX file" "train-images-idx3-ubyte" "$BIN" train --data "$T/d" --epochs 1 --out "$T/x.safetensors"
expect_err "non-numeric epochs" "--epochs" "$BIN" train --epochs abc
expect_err "zero batch" "--batch" "$BIN" train --batch 0
expect_err "unknown option" "unknown option" "$BIN" train --epoch 3
expect_err "unknown optimizer" "--optim" "$BIN" train --optim rmsprop
printf 'conv2d in=3 out=6 k=5\nrelu\nflatten\nlinear out=10\n' > "$T/bad.arch"
expect_err "arch: 3-channel conv on gray images" "1x28x28" "$BIN" train --model "$T/bad.arch" $SMALL --epochs 1 --out "$T/x.safetensors"
printf 'conv2d out=6 k=5 pad=2\nrelu\nmaxpool k=2\nconv2d out=16 k=5\nrelu\nmaxpool k=2\nflatten\nlinear in=256 out=120\nrelu\nlinear out=10\n' > "$T/bad2.arch"
expect_err "arch: flatten size mismatch" "400" "$BIN" train --model "$T/bad2.arch" $SMALL --epochs 1 --out "$T/x.safetensors"
expect_err "diverging run" "diverged" "$BIN" train $SMALL --epochs 1 --lr 1e6 --out "$T/x.safetensors"
expect_err "model file missing" "nope.safetensors" "$BIN" eval "$T/nope.safetensors"
head -c 100 "$T/m.safetensors" > "$T/trunc.safetensors"
expect_err "truncated model file" "trunc.safetensors" "$BIN" eval "$T/trunc.safetensors"
printf 'not a model' > "$T/junk.safetensors"
expect_err "junk model file" "junk.safetensors" "$BIN" predict "$T/junk.safetensors" "$SRC/examples/boot.png"
head -c 60 "$SRC/examples/boot.png" > "$T/broken.png"
expect_err "corrupt PNG" "broken.png" "$BIN" predict "$T/m.safetensors" "$T/broken.png"
printf 'hello' > "$T/not-image.txt"
expect_err "text file as image" "not-image.txt" "$BIN" predict "$T/m.safetensors" "$T/not-image.txt"
expect_err "unwritable output" "$T/no/such/dir" "$BIN" train $SMALL --epochs 1 --out "$T/no/such/dir/m.safetensors"
cp "$T/m.safetensors" "$T/keep.safetensors"
expect_err "failed run keeps the old checkpoint" "diverged" "$BIN" train $SMALL --epochs 1 --lr 1e6 --out "$T/keep.safetensors"
cmp -s "$T/m.safetensors" "$T/keep.safetensors" && ok || bad "old checkpoint was changed by a failed run"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
