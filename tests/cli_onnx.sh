#!/usr/bin/env bash
# deepc export --onnx and deepc import of ONNX files, end to end:
#   - LeNet-5 and ResNet-8, fp32 and int8 (QDQ), exported; onnx.checker and
#     ONNX Runtime (tests/onnx_check.py) reproduce deepc's logits to 1e-5
#     (fp32) and its predictions (int8, >= 99% of 1000 test images), at any
#     batch size. Needs onnx + onnxruntime from PyPI in build/onnx-venv
#     (scripts/test.sh makes it; DEEPC_ONNX_PYTHON names another): skipped,
#     saying so, where they are missing.
#   - export -> import -> the same logits, bit for bit (17 printed digits),
#     fp32 and int8 (the QDQ graph read back into the same int8 model).
#   - torch.onnx.export of lenet5, resnet8 and resnet20 (Debian's torch):
#     deepc import runs them to PyTorch's logits within 1e-5.
#   - refusals: what ONNX cannot hold here, what import does not read, each
#     a one-line error naming the node.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
TORCH_PY=/usr/bin/python3
ONNX_PY=${DEEPC_ONNX_PYTHON:-$(dirname "$BIN")/onnx-venv/bin/python}
source "$(dirname "$0")/lib_cli.sh"
cli_begin onnx
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
logits() { grep -o '"logits":.*' "$1"; }

"$TORCH_PY" -c "
import numpy as np, gzip
d = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz').read()[16:], np.uint8)
np.save('$T/x.npy', d.reshape(-1, 28, 28)[:1000]); np.save('$T/x200.npy', d.reshape(-1, 28, 28)[:200])" || { bad "numpy images"; }

expect_ok "export --help" "$BIN" export --help
expect_ok "train lenet5" "$BIN" train --model lenet5 --data fashion-mnist --limit 3000 --test-limit 200 --epochs 1 --lr 0.01 --threads 2 --out "$T/l.safetensors"
expect_ok "quantize lenet5" "$BIN" quantize "$T/l.safetensors" --calibrate 256 --threads 2 --out "$T/l8.safetensors"
expect_ok "train resnet8" "$BIN" train --model resnet8 --data fashion-mnist --limit 256 --test-limit 100 --epochs 1 --threads 2 --out "$T/r.safetensors"
expect_ok "quantize resnet8" "$BIN" quantize "$T/r.safetensors" --calibrate 64 --threads 2 --out "$T/r8.safetensors"
for m in l l8 r r8; do
  expect_ok "export $m" "$BIN" export "$T/$m.safetensors" --onnx "$T/$m.onnx"
  expect_ok "predict $m" "$BIN" predict "$T/$m.safetensors" "$T/x.npy" --json --batch 250 --threads 2
  cp "$T/out" "$T/$m.jsonl"
done
ls "$T" | grep -q tmp && bad "temporary file left behind" || ok
# batch 1 on 2 threads shares each node: one thread's bits, also when OpenMP grants fewer threads
for v in "1:" "2:" "2:OMP_THREAD_LIMIT=1"; do
  env ${v#*:} "$BIN" predict "$T/r.safetensors" "$T/x200.npy" --json --batch 1 --threads "${v%%:*}" >"$T/b1-${v%%:*}${v#*:}.jsonl" 2>/dev/null || bad "predict batch 1 ($v)"
done
cmp -s "$T/b1-1.jsonl" "$T/b1-2.jsonl" && cmp -s "$T/b1-1.jsonl" "$T/b1-2OMP_THREAD_LIMIT=1.jsonl" && ok || bad "batch 1: 1 thread, 2 threads and a 1-thread OpenMP limit differ"
if "$ONNX_PY" -c "import onnx, onnxruntime" 2>/dev/null; then
  for m in l:fp32 l8:int8 r:fp32 r8:int8; do
    if "$ONNX_PY" "$SRC/tests/onnx_check.py" "$T/${m%%:*}.onnx" "$T/x.npy" "$T/${m%%:*}.jsonl" "${m##*:}" >"$T/chk" 2>&1; then ok; else bad "ONNX Runtime vs deepc, ${m}: $(tail -3 "$T/chk")"; fi
    cat "$T/chk"
  done
else
  echo "SKIP onnx.checker / ONNX Runtime checks: no python with onnx and onnxruntime at $ONNX_PY (scripts/test.sh installs them from PyPI; DEEPC_ONNX_PYTHON=... names another)"
fi

# a foreign QDQ graph: ONNX Runtime's own quantiser (pre-processing + quantize_static) over deepc's fp32
# export, imported into deepc's int8 model; deepc's predictions against ONNX Runtime's on the same file
if "$ONNX_PY" -c "import onnx, onnxruntime" 2>/dev/null; then
  for v in l: l:--per-channel,--int8-act r:--per-channel r:--int8-act; do
    m=${v%%:*}; o=${v#*:}; o=${o//,/ }; q="$T/ortq-$m${o// /}.onnx"
    if "$ONNX_PY" "$SRC/tests/ort_quantize.py" "$T/$m.onnx" "$q" $o --calibrate 128 >"$T/qlog" 2>&1; then ok; else bad "ORT quantiser $m $o: $(tail -2 "$T/qlog")"; continue; fi
    grep -v WARNING "$T/qlog"
    "$BIN" import "$q" --out "$T/ortq.safetensors" >"$T/ilog" 2>&1 && grep -q "ONNX, int8" "$T/ilog" && ok || bad "ORT's QDQ $m $o: not imported as an int8 model: $(cat "$T/ilog")"
    expect_ok "predict ORT's QDQ $m $o" "$BIN" predict "$T/ortq.safetensors" "$T/x.npy" --json --batch 250 --threads 2
    if "$ONNX_PY" "$SRC/tests/onnx_check.py" "$q" "$T/x.npy" "$T/out" int8 >"$T/chk" 2>&1; then ok; else bad "ONNX Runtime vs deepc on ORT's QDQ, $m $o: $(tail -3 "$T/chk")"; fi
    cat "$T/chk"
  done
fi

# export -> import -> the same logits, bit for bit (int8 QDQ too: the same int8 model comes back)
for m in l r l8 r8; do
  expect_ok "import $m.onnx" "$BIN" import "$T/$m.onnx" --out "$T/$m-imp.safetensors"
  expect_ok "predict imported $m" "$BIN" predict "$T/$m-imp.safetensors" "$T/x.npy" --json --batch 250 --threads 2
  [ "$(logits "$T/out" | md5sum)" = "$(logits "$T/$m.jsonl" | md5sum)" ] && ok || bad "$m: export -> import changed the logits"
done
"$BIN" summary "$T/r-imp.safetensors" | grep -q "layer3.0.downsample.1" && ok || bad "import keeps deepc's node names"

# torch.onnx.export -> deepc import
if "$TORCH_PY" -c "import torch" 2>/dev/null; then
  for a in lenet5 resnet8 resnet20; do
    if "$TORCH_PY" "$SRC/tests/torch_onnx.py" $a "$T/t-$a.onnx" "$T/x200.npy" "$T/t-$a.npy" >"$T/tlog" 2>&1; then ok; else bad "torch.onnx.export $a: $(tail -2 "$T/tlog")"; continue; fi
    expect_ok "import torch's $a" "$BIN" import "$T/t-$a.onnx" --no-norm --out "$T/t-$a.safetensors"
    expect_ok "predict torch's $a" "$BIN" predict "$T/t-$a.safetensors" "$T/x200.npy" --json --batch 200 --threads 2
    cp "$T/out" "$T/t.jsonl"
    if "$TORCH_PY" "$SRC/tests/logits_close.py" "$T/t.jsonl" "$T/t-$a.npy" >"$T/chk" 2>&1; then ok; else bad "torch $a vs deepc: $(cat "$T/chk")"; fi
    echo "  torch.onnx.export $a: $(cat "$T/chk")"
  done
else
  echo "SKIP torch.onnx.export checks: $TORCH_PY has no torch (python3-torch)"
fi

# refusals
printf 'conv2d out=4 k=3 name=c\ngroupnorm groups=2 name=g\nflatten\nlinear out=10 name=fc\n' > "$T/gn.arch"
expect_ok "train a groupnorm model" "$BIN" train --model "$T/gn.arch" --data fashion-mnist --limit 64 --test-limit 10 --epochs 1 --out "$T/gn.safetensors"
expect_err "groupnorm has no ONNX form here" "node g (groupnorm)" "$BIN" export "$T/gn.safetensors" --onnx "$T/gn.onnx"
[ -e "$T/gn.onnx" ] && bad "no file after a refused export" || ok
expect_err "export without --onnx" "--onnx" "$BIN" export "$T/l.safetensors"
expect_err "bad opset" "opsets 13 to 17" "$BIN" export "$T/l.safetensors" --onnx "$T/x.onnx" --opset 9
head -c 300 /dev/urandom > "$T/junk.onnx"
expect_err "junk is not ONNX" "junk.onnx" "$BIN" import "$T/junk.onnx" --no-norm --out "$T/x.safetensors"
if "$ONNX_PY" -c "import onnx" 2>/dev/null; then
  "$ONNX_PY" - "$T/l8.onnx" "$T/nometa.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
keep = [p for p in m.metadata_props if p.key != "deepc.quant"]
del m.metadata_props[:]
m.metadata_props.extend(keep)
onnx.save(m, sys.argv[2])
PY
  expect_err "deepc's QDQ without its metadata" "without deepc's metadata needs a QuantizeLinear" "$BIN" import "$T/nometa.onnx" --out "$T/x.safetensors"
  "$ONNX_PY" - "$T/l8.onnx" "$T/hugescale.onnx" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {t.name: t for t in m.graph.initializer}
for n in m.graph.node:
    if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.INT8:
        s = inits[n.input[1]]
        a = numpy_helper.to_array(s).copy()
        a.flat[0] = 3e38  # finite, but 3e38 * 127 is not
        s.CopyFrom(numpy_helper.from_array(a.astype(np.float32), s.name))
        break
onnx.save(m, sys.argv[2])
PY
  expect_err "a scale that overflows the weights" "overflows float" "$BIN" import "$T/hugescale.onnx" --out "$T/x.safetensors"
  "$ONNX_PY" - "$T/l8.onnx" "$T/biasscale.onnx" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {t.name: t for t in m.graph.initializer}
for n in m.graph.node:
    if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.INT32:
        s = inits[n.input[1]]
        s.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(s) * 2).astype(np.float32), s.name))
        break
onnx.save(m, sys.argv[2])
PY
  expect_err "a bias scale that is not input times weight scale" "is not input scale" "$BIN" import "$T/biasscale.onnx" --out "$T/x.safetensors"
fi
expect_err "no norm for a foreign file" "--no-norm" "$BIN" import "$T/t-lenet5.onnx" --out "$T/x.safetensors"
if "$ONNX_PY" -c "import onnx" 2>/dev/null; then
  "$ONNX_PY" - "$T/l.onnx" "$T/leaky.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
for n in m.graph.node:
    if n.op_type == "Relu":
        n.op_type = "LeakyRelu"
        break
onnx.save(m, sys.argv[2])
PY
  expect_err "unsupported operator named" "operator LeakyRelu is not supported" "$BIN" import "$T/leaky.onnx" --out "$T/x.safetensors"
fi
[ -e "$T/x.safetensors" ] && bad "no output file after an error" || ok
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
