"""quant_numpy.py FP32.safetensors INT8.safetensors - checks deepc's int8
weights against NumPy: BatchNorm folded in float32 as deepc folds it
(scale = gamma / sqrt(running_var + eps), w' = w * scale, b' = beta + (b -
running_mean) * scale), then per output channel s = max|w'| / 127 (float32)
and q = round-half-away(w' / s) (float64 division) clipped to [-127, 127].
Every scale and every int8 weight must be equal exactly; the int32 bias must
be round(b' / (s_in * s)) with s_in the input's output_scale. Exit 1 on any
mismatch."""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import st_py  # noqa: E402

f32, _ = st_py.load(sys.argv[1])
q8, meta = st_py.load(sys.argv[2])
eps = np.float32(1e-5)
bad = 0
checked = 0
folded = 0
for name in sorted(q8):
    if not name.endswith(".weight_scale"):
        continue
    node = name[: -len(".weight_scale")]
    w = f32[node + ".weight"].astype(np.float32)
    b = f32.get(node + ".bias")
    b = np.zeros(w.shape[0], np.float32) if b is None else b.astype(np.float32)
    # the BatchNorm that reads this convolution, if deepc folded one: bn "bnK" after "convK" in lenet/resnet
    # naming; found as the BatchNorm tensor group whose channel count matches and that the int8 file lacks
    for cand in [node.replace("conv", "bn"), node[:-1] + "1" if node.endswith(".0") else None]:
        if cand and cand + ".running_var" in f32 and cand + ".output_scale" not in q8:
            g, be = f32[cand + ".weight"], f32[cand + ".bias"]
            rm, rv = f32[cand + ".running_mean"], f32[cand + ".running_var"]
            sc = (g / np.sqrt(rv + eps)).astype(np.float32)
            w = (w * sc.reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32)
            b = (be + (b - rm) * sc).astype(np.float32)
            folded += 1
            break
    per = w.reshape(w.shape[0], -1)
    s = (np.abs(per).max(axis=1) / np.float32(127)).astype(np.float32)
    s[s == 0] = 1
    x = per.astype(np.float64) / s.astype(np.float64)[:, None]
    q = np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), -127, 127).astype(np.int8)
    got_s, got_q = q8[name], q8[node + ".weight"].reshape(per.shape)
    if not np.array_equal(got_s, s):
        print(f"{node}: weight_scale differs: max |d| {np.abs(got_s - s).max():g}")
        bad += 1
    if not np.array_equal(got_q, q):
        print(f"{node}: int8 weights differ at {int((got_q != q).sum())} of {q.size}")
        bad += 1
    checked += 1
print(f"{checked} layers checked against NumPy ({folded} with a BatchNorm folded), {bad} mismatches")
sys.exit(1 if bad or not checked else 0)
