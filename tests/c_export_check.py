"""c_export_check.py HARNESS_OUT PREDICT.jsonl fp32|int8 - the generated C
model's logits (tests/c_export_main.c's lines) against deepc predict --json's:
int8 bit-identical (every float equal), fp32 within 1e-5 relative + 1e-5
absolute. Exit 1 on failure."""
import json
import sys

import numpy as np

lines = open(sys.argv[1]).read().strip().split("\n")
got = np.array([[float(v) for v in l.split()] for l in lines if not l.startswith("arena")], np.float32)
want = np.array([json.loads(l)["logits"] for l in open(sys.argv[2])], np.float32)
if got.shape != want.shape:
    print(f"shapes differ: C {got.shape}, deepc {want.shape}")
    sys.exit(1)
d = np.abs(got.astype(np.float64) - want)
if sys.argv[3] == "int8":
    ok = np.array_equal(got, want)
    print(f"int8: {got.shape[0]} images, {int((got != want).sum())} logits differ from deepc's (bit for bit)")
else:
    ok = bool((d <= 1e-5 + 1e-5 * np.abs(want)).all())
    print(f"fp32: {got.shape[0]} images, max |C - deepc| {d.max():.3g} ({'within' if ok else 'OUTSIDE'} 1e-5 rel + 1e-5 abs)")
sys.exit(0 if ok else 1)
