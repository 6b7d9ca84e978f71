"""logits_close.py PREDICT.jsonl LOGITS.npy [RTOL ATOL] - deepc predict --json's
logits against reference logits (a PyTorch run): every value within rtol *
|ref| + atol (1e-5 each by default). Prints the max differences; exit 1 on
failure."""
import json
import sys

import numpy as np

got = np.array([json.loads(l)["logits"] for l in open(sys.argv[1])], np.float64)
want = np.load(sys.argv[2]).astype(np.float64)
rtol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
atol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
if got.shape != want.shape:
    print(f"shapes differ: deepc {got.shape}, reference {want.shape}")
    sys.exit(1)
d = np.abs(got - want)
ok = bool((d <= atol + rtol * np.abs(want)).all())
print(f"{got.shape[0]} samples: max |deepc - ref| {d.max():.3g}, predictions agree on "
      f"{100 * float((got.argmax(1) == want.argmax(1)).mean()):.2f}% ({'ok' if ok else 'FAIL'} at {rtol:g} rel + {atol:g} abs)")
sys.exit(0 if ok else 1)
