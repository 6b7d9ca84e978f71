"""onnx_check.py MODEL.onnx IMAGES.npy PREDICT.jsonl fp32|int8 - an ONNX file
deepc exported, against deepc's own outputs for the same images.

onnx.checker.check_model (full check, shape inference included) must pass;
ONNX Runtime (CPU) runs the images normalised exactly as deepc normalises
them (x = px * (1 / (255 std)) - mean / std in float32, the metadata's
deepc.norm), once as one batch and once per image (the batch dimension is
symbolic). fp32: every logit within 1e-5 relative + 1e-5 absolute of
deepc's (predict --json "logits"). int8 (QDQ): ONNX Runtime's kernels are not
deepc's, so the predicted classes must agree on at least 99% of the images.
On an x86 CPU without VNNI, ONNX Runtime's u8s8 int8 kernels multiply with
vpmaddubsw, whose int16 pair sums saturate (its quantization docs: use
reduce_range there), so its fused int8 results are not the QDQ graph's; there
it runs with graph optimizations off, which executes each QDQ group as its
definition (DequantizeLinear, the float op, QuantizeLinear), and says so.
Prints the figures; exit 1 on failure."""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, images, pred, mode = sys.argv[1:5]
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
norm = json.loads(meta["deepc.norm"])
px = np.load(images)
if px.ndim == 3:
    px = px[:, None]
C = px.shape[1]
mean = np.array(norm["mean"], np.float32).reshape(1, C, 1, 1)
std = np.array(norm["std"], np.float32).reshape(1, C, 1, 1)
scale = (np.float32(1) / (np.float32(255) * std)).astype(np.float32)
shift = (mean / std).astype(np.float32)
x = (px.astype(np.float32) * scale - shift).astype(np.float32)
want = np.array([json.loads(l)["logits"] for l in open(pred)], np.float32)
so = ort.SessionOptions()
so.intra_op_num_threads = 1
if mode == "int8":
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    if "avx2" in flags and "vnni" not in flags:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        print("int8: this CPU has no VNNI (ONNX Runtime's AVX2 int8 kernels saturate): QDQ run unfused")
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
got = s.run(None, {"input": x})[0]
one = np.concatenate([s.run(None, {"input": x[i:i + 1]})[0] for i in range(min(len(x), 16))])
# batch 1 against the big batch: the same logits (fp32) or the same classes (int8: ONNX Runtime picks
# other int8 kernels for other batch sizes)
if mode == "fp32":
    ok = np.allclose(one, got[: len(one)], 1e-5, 1e-5)
else:
    ok = np.array_equal(one.argmax(1), got[: len(one)].argmax(1))
if got.shape != want.shape or not ok:
    print(f"batch 1 and batch {len(x)} disagree, or shapes differ: {got.shape} vs {want.shape}")
    sys.exit(1)
agree = float((got.argmax(1) == want.argmax(1)).mean())
d = np.abs(got - want)
print(f"{path}: {len(x)} images, max |ORT - deepc| {d.max():.3g}, max rel {(d / np.maximum(np.abs(want), 1e-30)).max():.3g}, "
      f"predictions agree on {100 * agree:.2f}%")
if mode == "fp32":
    bad = d > 1e-5 + 1e-5 * np.abs(want)
    if bad.any():
        print(f"fp32: {int(bad.sum())} logits outside 1e-5 relative + 1e-5 absolute")
        sys.exit(1)
else:
    if agree < 0.99:
        print(f"int8: predictions agree on {100 * agree:.2f}% < 99%")
        sys.exit(1)
