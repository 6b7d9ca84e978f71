#!/usr/bin/env bash
# deepc quantize end to end: a LeNet-5 and a ResNet-8 trained briefly,
# quantised by each calibration method; the int8 weights and per-channel
# scales equal a NumPy computation (tests/quant_numpy.py, BatchNorm folded
# in NumPy too); deepc eval and predict run the int8 model and agree with
# the fp32 one; bad inputs give one-line errors.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
PY=${DEEPC_PYTHON:-/usr/bin/python3}
source "$(dirname "$0")/lib_cli.sh"
cli_begin quantize
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
SMALL="--data fashion-mnist --limit 3000 --test-limit 500 --threads 2"

expect_ok "quantize --help" "$BIN" quantize --help
expect_ok "train lenet5" "$BIN" train --model lenet5 $SMALL --epochs 2 --lr 0.01 --seed 2 --out "$T/m.safetensors"
for meth in minmax percentile kl; do
  expect_ok "quantize --method $meth" "$BIN" quantize "$T/m.safetensors" --calibrate 256 --method $meth --threads 2 --out "$T/q-$meth.safetensors"
done
ls "$T" | grep -q tmp && bad "temporary file left behind" || ok
"$PY" -c "import numpy" 2>/dev/null || { echo "SKIP NumPy checks: numpy missing for $PY"; }
if "$PY" -c "import numpy" 2>/dev/null; then
  if "$PY" "$SRC/tests/quant_numpy.py" "$T/m.safetensors" "$T/q-minmax.safetensors" >"$T/np" 2>&1; then ok; else bad "lenet5 int8 vs NumPy: $(cat "$T/np")"; fi
  cat "$T/np"
fi
# eval of int8 against fp32 on the same 500 test images: within 2 points
expect_ok "eval fp32" "$BIN" eval "$T/m.safetensors" --data fashion-mnist --limit 500 --json
a32=$(sed -n 's/.*"accuracy":\([0-9.]*\)}$/\1/p' "$T/out")
expect_ok "eval int8" "$BIN" eval "$T/q-minmax.safetensors" --data fashion-mnist --limit 500 --json
a8=$(sed -n 's/.*"accuracy":\([0-9.]*\)}$/\1/p' "$T/out")
echo "  fp32 accuracy $a32, int8 $a8"
awk -v a="$a32" -v b="$a8" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a>0.5 && d<=0.02)}' && ok || bad "int8 accuracy $a8 within 2 points of fp32 $a32"
expect_ok "predict int8" "$BIN" predict "$T/q-minmax.safetensors" "$SRC/examples/boot.png" --top-k 1 --json
grep -q '"probability"' "$T/out" && ok || bad "predict of an int8 model: $(cat "$T/out")"
expect_ok "summary int8" "$BIN" summary "$T/q-minmax.safetensors"

# quantisation-aware training: fake int8 fine-tuning, then the int8 model
expect_ok "quantize --qat" "$BIN" quantize "$T/m.safetensors" --qat 1 --limit 2000 --test-limit 200 --calibrate 128 --threads 2 --out "$T/qat.safetensors"
grep -q "qat epoch 1" "$T/out" && grep -q "qat+minmax" "$T/out" && ok || bad "qat epoch line and method: $(cat "$T/out")"
expect_ok "eval the QAT model" "$BIN" eval "$T/qat.safetensors" --data fashion-mnist --limit 500 --json
aq=$(sed -n 's/.*"accuracy":\([0-9.]*\)}$/\1/p' "$T/out")
echo "  QAT int8 accuracy $aq (fp32 $a32)"
awk -v a="$a32" -v b="$aq" 'BEGIN{exit !(b > a - 0.03)}' && ok || bad "QAT int8 accuracy $aq far below fp32 $a32"
expect_err "qat negative" "--qat" "$BIN" quantize "$T/m.safetensors" --qat -1 --out "$T/x.safetensors"

# ResNet-8: BatchNorm folded, residual adds
expect_ok "train resnet8" "$BIN" train --model resnet8 --data fashion-mnist --limit 256 --test-limit 100 --epochs 1 --threads 2 --out "$T/r.safetensors"
expect_ok "quantize resnet8" "$BIN" quantize "$T/r.safetensors" --calibrate 64 --threads 2 --json --out "$T/rq.safetensors"
grep -q '"batchnorm_folded":9' "$T/out" && grep -q '"relu_fused":7' "$T/out" && ok || bad "resnet8: 9 BatchNorms folded, 7 ReLUs fused: $(cat "$T/out")"
if "$PY" -c "import numpy" 2>/dev/null; then
  if "$PY" "$SRC/tests/quant_numpy.py" "$T/r.safetensors" "$T/rq.safetensors" >"$T/np" 2>&1 && grep -q "(9 with a BatchNorm folded), 0 mismatches" "$T/np"; then ok; else bad "resnet8 int8 vs NumPy: $(cat "$T/np")"; fi
  cat "$T/np"
fi
expect_ok "eval int8 resnet8" "$BIN" eval "$T/rq.safetensors" --data fashion-mnist --limit 200

# errors
expect_err "no --out" "--out" "$BIN" quantize "$T/m.safetensors"
expect_err "bad method" "expected minmax, percentile or kl" "$BIN" quantize "$T/m.safetensors" --method mse --out "$T/x.safetensors"
expect_err "--percentile without the method" "--method percentile" "$BIN" quantize "$T/m.safetensors" --percentile 99 --out "$T/x.safetensors"
expect_err "percentile out of range" "--percentile 40" "$BIN" quantize "$T/m.safetensors" --method percentile --percentile 40 --calibrate 8 --out "$T/x.safetensors"
expect_err "already int8" "already quantised" "$BIN" quantize "$T/q-minmax.safetensors" --calibrate 8 --out "$T/x.safetensors"
expect_err "train an int8 model" "int8 model does not train" "$BIN" train --resume "$T/q-minmax.safetensors" $SMALL --epochs 5 --out "$T/x.safetensors"
# scales that are each finite but whose products are not: refused at load, naming the node
if "$PY" -c "import numpy" 2>/dev/null; then
  for case in "conv2.weight_scale:3e38:node conv2: input scale" "conv2.output_scale:1e-38:not below 2^31"; do
    IFS=: read -r tname val want <<<"$case"
    "$PY" - "$T/q-minmax.safetensors" "$T/scaled.safetensors" "$tname" "$val" <<'PY'
import json, struct, sys
import numpy as np
src, dst, name, val = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
b = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
lo, hi = h[name]["data_offsets"]
a = np.frombuffer(bytes(b[8 + n + lo:8 + n + hi]), dtype="<f4").copy()
a[0] = val
b[8 + n + lo:8 + n + hi] = a.tobytes()
open(dst, "wb").write(b)
PY
    expect_err "$tname = $val" "$want" "$BIN" eval "$T/scaled.safetensors" --data fashion-mnist --limit 10
  done
fi
expect_err "missing model" "nosuch.safetensors" "$BIN" quantize "$T/nosuch.safetensors" --out "$T/x.safetensors"
[ -f "$T/x.safetensors" ] && bad "no output file after an error" || ok
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
