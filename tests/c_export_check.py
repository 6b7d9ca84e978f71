"""c_export_check.py HARNESS_OUT PREDICT.jsonl fp32|int8 [N] - the generated C
model's logits (tests/c_export_main.c's lines, or tests/cortex_m/m4_main.c's
hex bit patterns; N: only deepc's first N) against deepc predict --json's:
int8 bit-identical (every float equal), fp32 within 1e-5 relative + 1e-5
absolute. Exit 1 on failure."""
import json
import sys

import numpy as np

lines = open(sys.argv[1]).read().strip().split("\n")
rows = [l.split() for l in lines if not l.startswith(("arena", "stack"))]
if rows and all(len(v) == 8 and not v.startswith("0x") and "." not in v for v in rows[0]):
    # tests/cortex_m/m4_main.c prints each float's bits as 8 hex digits
    got = np.array([[int(v, 16) for v in r] for r in rows], np.uint32).view(np.float32)
else:
    got = np.array([[float(v) for v in r] for r in rows], np.float32)
want = np.array([json.loads(l)["logits"] for l in open(sys.argv[2])], np.float32)
if len(sys.argv) > 4:  # the first N of deepc's lines (the board runs fewer images)
    want = want[:int(sys.argv[4])]
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
