#!/usr/bin/env bash
# Issue 9 benchmarks, one run: deepc fp32 vs deepc int8 vs ONNX Runtime
# (fp32 and int8 QDQ of the same exported models) at batch 1 and 256, one
# thread each, medians of REPS passes; plus the accuracy of the fp32 and
# PTQ models on the Fashion-MNIST test set, and resnet20 dense vs 50%-MACs
# structured pruning.
#   bash bench/compress.sh LENET5.safetensors [RESNET20.safetensors] [REPS]
# Needs build/ (deepc, libdeepc.a) and build/onnx-venv (onnx, onnxruntime).
set -euo pipefail
cd "$(dirname "$0")/.."
L=$1; R=${2:-}; REPS=${3:-5}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
B=build/deepc; PY=build/onnx-venv/bin/python
gcc -std=c11 -O2 -Wall -Wextra -Iinclude bench/bench_int8.c build/libdeepc.a -fopenmp -lz -lpng -ljpeg -lzip -lcsv \
    -lcjson -lsodium -lmicrohttpd -lprotobuf-c -lm -lpthread -o "$T/bench_int8"
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in minmax percentile kl; do
  $B quantize "$L" --calibrate 512 --method $m --threads 2 --out "$T/l8-$m.safetensors" >/dev/null
done
$B export "$L" --onnx "$T/l.onnx" >/dev/null
$B export "$T/l8-minmax.safetensors" --onnx "$T/l8.onnx" >/dev/null
"$T/bench_int8" --threads 1 --reps "$REPS" "$L" "$T/l8-minmax.safetensors" "$T/l8-percentile.safetensors" "$T/l8-kl.safetensors"
"$PY" bench/ort_int8.py --threads 1 --reps "$REPS" "$T/l.onnx" "$T/l8.onnx"
if [ -n "$R" ]; then
  $B quantize "$R" --calibrate 256 --threads 2 --out "$T/r8.safetensors" >/dev/null
  $B prune "$R" --structured --macs 0.5 --out "$T/rp.safetensors" | tail -1
  $B export "$R" --onnx "$T/r.onnx" >/dev/null
  $B export "$T/r8.safetensors" --onnx "$T/r8.onnx" >/dev/null
  "$T/bench_int8" --threads 1 --reps "$REPS" --n1 500 --n256 2560 "$R" "$T/r8.safetensors" "$T/rp.safetensors"
  "$PY" bench/ort_int8.py --threads 1 --reps "$REPS" --n1 500 --n256 2560 "$T/r.onnx" "$T/r8.onnx"
fi
echo "# end load: $(cut -d' ' -f1-3 /proc/loadavg)"
