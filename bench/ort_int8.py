"""ort_int8.py MODEL.onnx... [--threads T] [--reps R] - ONNX Runtime (CPU)
throughput of the same models deepc exported (fp32, and int8 as QDQ), at
batch 1 (first --n1 test images, 2000) and batch 256 (first --n256, 10,000), median of R
passes, intra-op threads T; the images normalised as deepc does. One JSON
line per model. Needs onnxruntime (build/onnx-venv)."""
import gzip
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

args = sys.argv[1:]
threads, reps, n1, n256 = 1, 5, 2000, 10000
if "--threads" in args:
    i = args.index("--threads"); threads = int(args[i + 1]); del args[i:i + 2]
for flag in ("--n1", "--n256"):
    if flag in args:
        i = args.index(flag)
        if flag == "--n1":
            n1 = int(args[i + 1])
        else:
            n256 = int(args[i + 1])
        del args[i:i + 2]
if "--reps" in args:
    i = args.index("--reps"); reps = int(args[i + 1]); del args[i:i + 2]
px = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8)
px = px.reshape(-1, 1, 28, 28)
labels = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
for path in args:
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    norm = json.loads(meta["deepc.norm"])
    mean = np.array(norm["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(norm["std"], np.float32).reshape(1, -1, 1, 1)
    x = (px.astype(np.float32) * (np.float32(1) / (np.float32(255) * std)) - mean / std).astype(np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    acc = float((np.concatenate([s.run(None, {"input": x[i:i + 256]})[0] for i in range(0, len(x), 256)]).argmax(1) == labels).mean())
    def med(batch, n):
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for i in range(0, n, batch):
                s.run(None, {"input": x[i:i + batch]})
            t.append(time.perf_counter() - t0)
        return sorted(t)[len(t) // 2]
    b1 = n1 / med(1, n1)
    b256 = n256 / med(256, n256)
    print(json.dumps({"model": path, "runtime": "onnxruntime " + ort.__version__, "threads": threads, "reps": reps,
                      "b1_ips": round(b1, 1), "b256_ips": round(b256, 1), "accuracy": round(acc, 4)}), flush=True)
