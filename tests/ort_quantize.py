"""ort_quantize.py SRC.onnx DST.onnx [--per-channel] [--int8-act] [--calibrate N]
- ONNX Runtime's own static int8 quantiser over an fp32 ONNX file deepc
exported: the "foreign QDQ" a user brings to `deepc import`. The documented
ORT workflow: quant_pre_process (shape inference and graph optimisation,
which folds BatchNormalization into Conv), then quantize_static in QDQ
format, calibrated by min/max on the first N training images (256),
normalised as the file's deepc.norm says. Activations uint8 (or int8 with
--int8-act), weights int8, per tensor (or per output channel with
--per-channel). Needs onnxruntime (build/onnx-venv)."""
import gzip
import json
import os
import sys

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                      quantize_static)

args = sys.argv[1:]
n = 256
if "--calibrate" in args:
    i = args.index("--calibrate"); n = int(args[i + 1]); del args[i:i + 2]
flags = {a for a in args if a.startswith("--")}
src, dst = [a for a in args if not a.startswith("--")]
norm = json.loads({p.key: p.value for p in onnx.load(src).metadata_props}["deepc.norm"])
mean = np.array(norm["mean"], np.float32).reshape(1, -1, 1, 1)
std = np.array(norm["std"], np.float32).reshape(1, -1, 1, 1)
px = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()[16:], np.uint8)
px = px.reshape(-1, 1, 28, 28)[:n]
x = (px.astype(np.float32) * (np.float32(1) / (np.float32(255) * std)) - mean / std).astype(np.float32)


class Reader(CalibrationDataReader):
    def __init__(self):
        self.i = 0

    def get_next(self):
        if self.i >= len(x):
            return None
        self.i += 32
        return {"input": x[self.i - 32:self.i]}


pre = dst + ".pre.onnx"
quant_pre_process(src, pre, skip_symbolic_shape=True)
quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel="--per-channel" in flags,
                activation_type=QuantType.QInt8 if "--int8-act" in flags else QuantType.QUInt8,
                weight_type=QuantType.QInt8)
os.remove(pre)
ops = {}
for node in onnx.load(dst).graph.node:
    ops[node.op_type] = ops.get(node.op_type, 0) + 1
print(f"{dst}: ONNX Runtime's quantiser ({' '.join(sorted(flags)) or 'per tensor, uint8'}):",
      ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
