#!/usr/bin/env bash
# End-to-end tests of `deepc explain` and `deepc visualize` on a tiny model
# trained here (3000 Fashion-MNIST images, one epoch): every method writes a
# valid PNG (decoded again by `deepc predict`) and a .npy of the right shape,
# --json and --faithfulness report what they should, visualize writes its
# grids, and bad inputs give a one-line error and a non-zero exit.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
source "$(dirname "$0")/lib_cli.sh"
cli_begin explain
# npy_shape FILE: prints the shape tuple of an .npy header, e.g. "(1, 28, 28)"
npy_shape() { head -c 128 "$1" | LC_ALL=C tr -d '\000' | LC_ALL=C sed -n "s/.*'shape': (\([0-9, ]*\)).*/(\1)/p"; }
is_npy() { [ "$(head -c 6 "$1" | tail -c 5)" = NUMPY ]; }

[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
M="$T/m.safetensors"
expect_ok "train a tiny model" "$BIN" train --data fashion-mnist --limit 3000 --test-limit 500 --epochs 1 --lr 0.01 --momentum 0.9 --threads 2 --out "$M"
[ -f "$M" ] || { echo "FAIL: no model; stopping"; echo "$pass passed, $((fail+1)) failed"; exit 1; }
for v in explain visualize; do expect_ok "$v --help" "$BIN" $v --help; done

# test image 17 as a PGM cut straight out of the IDX file: loading the data
# set for --index costs a third of a second per call, so most calls use this
{ printf 'P5\n28 28\n255\n'; zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c $((16+18*784)) | tail -c 784; } > "$T/img17.pgm"
expect_ok "explain --index 17" "$BIN" explain "$M" --data fashion-mnist --index 17 --method saliency --out "$T/i17.png"
expect_ok "explain the same image from a file" "$BIN" explain "$M" "$T/img17.pgm" --method saliency --out "$T/f17.png"
cmp -s "$T/i17.npy" "$T/f17.npy" && ok || bad "--index 17 and the PGM of image 17 give the same map"

# every method writes a PNG and an .npy
for m in saliency gradxinput ig gradcam occlusion lime kernelshap; do
  expect_ok "explain $m" "$BIN" explain "$M" "$T/img17.pgm" --method $m --out "$T/$m.png" --samples 300
  [ -s "$T/$m.png" ] && [ "$(head -c 4 "$T/$m.png" | tail -c 3)" = PNG ] && ok || bad "$m: PNG written"
  expect_ok "$m PNG decodes" "$BIN" predict "$M" "$T/$m.png"
  is_npy "$T/$m.npy" && ok || bad "$m: .npy written beside the PNG"
  case $m in gradxinput|ig) want="(1, 28, 28)";; *) want="(28, 28)";; esac
  [ "$(npy_shape "$T/$m.npy")" = "$want" ] && ok || bad "$m: npy shape $(npy_shape "$T/$m.npy"), expected $want"
  [ "$(stat -c %s "$T/$m.npy")" = 3264 ] && ok || bad "$m: npy size $(stat -c %s "$T/$m.npy") (128 + 784*4 expected)"
done
ls "$T" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok

expect_ok "gradcam on a PNG, --target 9" "$BIN" explain "$M" "$SRC/examples/boot.png" --method gradcam --target 9 --out "$T/cam.png"
grep -q "Ankle boot" "$T/out" && grep -q "conv2" "$T/out" && ok || bad "gradcam names the class and layer: $(cat "$T/out")"
expect_ok "ig --json --faithfulness" "$BIN" explain "$M" "$T/img17.pgm" --method ig --steps 64 --json --faithfulness --out "$T/ig3.png"
for k in '"method":"ig"' '"attr_sum"' '"deletion_auc"' '"insertion_auc"' '"shape":\[1,28,28\]' '"evaluations":67'; do
  grep -q "$k" "$T/out" && ok || bad "ig --json has $k: $(cat "$T/out")"
done
# completeness printed in text mode: |sum - (f(x)-f(b))| within 3% here (1% is tested in test_explain)
expect_ok "ig text" "$BIN" explain "$M" "$T/img17.pgm" --method ig --out "$T/ig3t.png"
awk '/completeness/ { s=$5+0; d=$NF+0; g=s-d; if (g<0) g=-g; if (d<0) d=-d; exit !(g <= 0.03*d) }' "$T/out" && ok || bad "ig completeness line: $(cat "$T/out")"
expect_ok "kernelshap --json" "$BIN" explain "$M" "$T/img17.pgm" --method kernelshap --segments slic:20 --json --out "$T/ks.png"
grep -q '"top_features"' "$T/out" && grep -q '"f_baseline"' "$T/out" && ok || bad "kernelshap json"
expect_ok "lime twice, same seed" "$BIN" explain "$M" "$T/img17.pgm" --method lime --seed 7 --out "$T/l1.png"
expect_ok "lime again" "$BIN" explain "$M" "$T/img17.pgm" --method lime --seed 7 --out "$T/l2.png"
cmp -s "$T/l1.npy" "$T/l2.npy" && ok || bad "lime is reproducible with --seed"
expect_ok "occlusion fill black, output logit" "$BIN" explain "$M" "$T/img17.pgm" --method occlusion --fill black --explains logit --window 6 --stride 3 --out "$T/o.png"
expect_ok "ig blur baseline" "$BIN" explain "$M" "$T/img17.pgm" --method ig --baseline blur --out "$T/b.png"
# a baseline file: the blurred input's own npy is (1,28,28) float, read back as [0,1] pixels
expect_ok "ig npy baseline" "$BIN" explain "$M" "$T/img17.pgm" --method ig --baseline "$T/saliency.npy" --out "$T/c.png"
# a wrong-sized image (PGM 40x40) is resized, not refused
{ printf 'P5\n40 40\n255\n'; head -c 1600 /dev/urandom; } > "$T/big.pgm"
expect_ok "wrong size is resized" "$BIN" explain "$M" "$T/big.pgm" --method saliency --out "$T/big.png"

# visualize
expect_ok "visualize" "$BIN" visualize "$M" "$SRC/examples/boot.png" --out "$T/maps/"
n=$(ls "$T/maps" | grep -c '\.png$')
[ "$n" = 14 ] && ok || bad "visualize wrote $n PNGs, expected 14"
for f in input.png 00_conv1.png 03_conv2.png 11_fc3.png filters_conv1.png; do
  [ -s "$T/maps/$f" ] && ok || bad "visualize: $f missing"
done
expect_ok "visualize PNG decodes" "$BIN" predict "$M" "$T/maps/03_conv2.png"
expect_ok "visualize --index" "$BIN" visualize "$M" --index 0 --out "$T/maps2"

# bad inputs: one line, non-zero
head -c 300 "$SRC/examples/boot.png" > "$T/corrupt.png"
expect_err "corrupt PNG" "corrupt.png" "$BIN" explain "$M" "$T/corrupt.png" --out "$T/x.png"
expect_err "missing image" "nope.png" "$BIN" explain "$M" "$T/nope.png" --out "$T/x.png"
expect_err "--index past the data set" "out of range" "$BIN" explain "$M" --index 10000 --out "$T/x.png"
expect_err "--index negative" "out of range" "$BIN" explain "$M" --index -1 --out "$T/x.png"
expect_err "unknown method" "unknown explanation method" "$BIN" explain "$M" "$T/img17.pgm" --method shapley --out "$T/x.png"
expect_err "--steps 0" "steps" "$BIN" explain "$M" "$T/img17.pgm" --method ig --steps 0 --out "$T/x.png"
expect_err "--target 10" "target" "$BIN" explain "$M" "$T/img17.pgm" --target 10 --out "$T/x.png"
expect_err "bad --segments" "--segments" "$BIN" explain "$M" "$T/img17.pgm" --method lime --segments hex:4 --out "$T/x.png"
expect_err "unknown gradcam layer" "conv7" "$BIN" explain "$M" "$T/img17.pgm" --method gradcam --layer conv7 --out "$T/x.png"
expect_err "bad --fill" "--fill" "$BIN" explain "$M" "$T/img17.pgm" --method occlusion --fill grey --out "$T/x.png"
expect_err "bad --explains" "--explains" "$BIN" explain "$M" "$T/img17.pgm" --method lime --explains odds --out "$T/x.png"
expect_err "missing baseline file" "nobase.npy" "$BIN" explain "$M" "$T/img17.pgm" --method ig --baseline "$T/nobase.npy" --out "$T/x.png"
# a (3,) float32 .npy made by hand: the header dict, newline-terminated, after a u16 length
d="{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
{ printf '\223NUMPY\001\000'; printf "\\$(printf %03o $(( ${#d} + 1 )))\\000"; printf '%s\n' "$d"; head -c 12 /dev/zero; } > "$T/short.npy"
expect_err "baseline of the wrong shape" "does not match" "$BIN" explain "$M" "$T/img17.pgm" --method ig --baseline "$T/short.npy" --out "$T/x.png"
printf 'P5\n3 3\n255\n123456789' > "$T/tiny.pgm"
expect_err "not an npy baseline" "NumPy" "$BIN" explain "$M" "$T/img17.pgm" --method ig --baseline "$T/tiny.pgm" --out "$T/x.png"
expect_err "image and --index" "either an image" "$BIN" explain "$M" "$SRC/examples/boot.png" --index 1 --out "$T/x.png"
expect_err "no input" "either an image" "$BIN" explain "$M" --out "$T/x.png"
expect_err "missing model" "nomodel" "$BIN" explain "$T/nomodel.safetensors" --index 1 --out "$T/x.png"
expect_err "unwritable --out" "/nonexistent-dir" "$BIN" explain "$M" "$T/img17.pgm" --out /nonexistent-dir/x.png
expect_err "unknown option" "unknown option" "$BIN" explain "$M" "$T/img17.pgm" --windw 3
expect_err "visualize --index past the data set" "out of range" "$BIN" visualize "$M" --index 99999 --out "$T/m3"
expect_err "visualize into a file" "not a folder" "$BIN" visualize "$M" "$T/img17.pgm" --out "$M"
expect_err "visualize corrupt PNG" "corrupt.png" "$BIN" visualize "$M" "$T/corrupt.png" --out "$T/m4"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
