#!/usr/bin/env bash
# Seeds for fuzz_onnx and fuzz_model_int8: a tiny model (a few hundred
# parameters) exported to ONNX, and quantised to an int8 file, by the deepc
# program itself. Usage: gen_onnx_corpus.sh [DEEPC] (writes
# tests/fuzz/corpus/onnx/ and tests/fuzz/corpus/model_int8/).
set -euo pipefail
BIN=${1:-build/deepc}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$HERE/corpus/onnx" "$HERE/corpus/model_int8"
printf 'conv2d out=2 k=3 stride=2 name=c1\nbatchnorm2d name=bn1\nrelu\nmaxpool k=2 name=p\nconv2d out=3 k=1 name=c2\nadd from=c2,c2 name=a\nglobalavgpool name=g\nlinear out=10 name=fc\n' > "$T/tiny.arch"
"$BIN" train --model "$T/tiny.arch" --data fashion-mnist --limit 64 --test-limit 10 --epochs 1 --out "$T/t.safetensors" >/dev/null
"$BIN" export "$T/t.safetensors" --onnx "$HERE/corpus/onnx/tiny.onnx" >/dev/null
"$BIN" quantize "$T/t.safetensors" --calibrate 16 --out "$HERE/corpus/model_int8/tiny-int8" >/dev/null
"$BIN" export "$HERE/corpus/model_int8/tiny-int8" --onnx "$HERE/corpus/onnx/tiny-int8.onnx" >/dev/null
ls -la "$HERE/corpus/onnx" "$HERE/corpus/model_int8"
# a foreign QDQ seed: ONNX Runtime's own quantiser over the fp32 file (needs onnxruntime)
PY=${DEEPC_ONNX_PYTHON:-$(dirname "$BIN")/onnx-venv/bin/python}
if "$PY" -c "import onnxruntime" 2>/dev/null; then
  "$PY" "$HERE/../ort_quantize.py" "$HERE/corpus/onnx/tiny.onnx" "$HERE/corpus/onnx/tiny-ortq.onnx" --per-channel --calibrate 32 >/dev/null 2>&1
fi
