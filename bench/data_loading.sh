#!/usr/bin/env bash
# bench/data_loading.sh — reading data sets into memory, deepc against what a
# Python user would use, on the same machine in the same run:
#   1. a Kaggle-layout CSV of about 100 MB (Fashion-MNIST rows, label +
#      784 pixel columns): deepc's loader (libcsv) against pandas.read_csv
#      (its C engine, then .to_numpy(uint8) to hold the same bytes);
#   2. 10,000 JPEGs (Fashion-MNIST images scaled to 256x256 and tinted, RGB,
#      quality 90, in ImageFolder layout) decoded and resized to 64x64:
#      deepc's image-folder loader (libjpeg-turbo, PIL's bilinear resize)
#      at 1 and 2 threads against PIL doing what torchvision's ImageFolder
#      does per image (Image.open().convert("RGB").resize((64, 64),
#      BILINEAR), np.asarray) in one process and in a pool of 2 processes.
# pandas and pillow come from PyPI into bench/.venv-data (created here, git-
# ignored). Each figure is the median of REPS runs (default 3).
#
#   bash bench/data_loading.sh [REPS]     # needs build/ (scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
OUT=${OUT:-bench/out/data}
VENV=bench/.venv-data
mkdir -p "$OUT"
[ -x build/deepc ] || { echo "bench: build/deepc missing: bash scripts/setup.sh" >&2; exit 1; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "bench: Fashion-MNIST missing: bash scripts/setup.sh" >&2; exit 1; }

PY=${PYTHON:-python3}
if ! "$VENV/bin/python" -c 'import pandas, PIL, numpy' 2>/dev/null; then
  echo "bench: creating $VENV with pandas, pillow and numpy from PyPI" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q pandas pillow numpy
fi
VPY="$VENV/bin/python"
"$VPY" -c 'import pandas, PIL, numpy, sys; print(f"python {sys.version.split()[0]}, pandas {pandas.__version__}, pillow {PIL.__version__}, numpy {numpy.__version__}")' | tee "$OUT/versions.txt"

# the timing tool, against this build's static library
gcc -std=c11 -O2 -Iinclude bench/bench_data.c build/libdeepc.a -fopenmp -lz -lpng -ljpeg -lzip -lcsv -lcjson -lsodium -lm \
    $(pkg-config --libs ompi-c 2>/dev/null || true) -o "$OUT/bench_data"

# the data: written once, reused by later runs
"$VPY" - "$OUT" <<'PY'
import csv, gzip, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
def idx(name):
    raw = gzip.open(f"/usr/share/datasets/fashion-mnist/{name}.gz").read()
    r = raw[3]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * r).reshape([int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(r)])
x, y = idx("train-images-idx3-ubyte"), idx("train-labels-idx1-ubyte")
p = os.path.join(out, "fashion100.csv")
if not os.path.exists(p):
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label"] + [f"pixel{i}" for i in range(784)])
        for i in range(len(x)):
            w.writerow([int(y[i])] + x[i].reshape(-1).tolist())
            if i % 1000 == 999 and f.tell() >= 100_000_000:
                break
d = os.path.join(out, "jpegs")
if not os.path.exists(os.path.join(d, "done")):
    rng = np.random.default_rng(1)
    for i in range(10000):
        g = Image.fromarray(x[i]).resize((256, 256), Image.BILINEAR)
        a = np.asarray(g, np.float32)[..., None] * (0.5 + 0.5 * rng.random(3, dtype=np.float32))
        a = np.clip(a + rng.normal(0, 6, a.shape), 0, 255).astype(np.uint8)
        c = os.path.join(d, f"{y[i]}")
        os.makedirs(c, exist_ok=True)
        Image.fromarray(a, "RGB").save(os.path.join(c, f"{i:05d}.jpg"), quality=90)
    open(os.path.join(d, "done"), "w").close()
PY
CSV="$OUT/fashion100.csv"
IMG="$OUT/jpegs"
echo "csv: $(du -m "$CSV" | cut -f1) MB, $(($(wc -l < "$CSV") - 1)) rows; jpegs: $(find "$IMG" -name '*.jpg' | wc -l) files, $(du -sm "$IMG" | cut -f1) MB" | tee "$OUT/data.txt"
uptime | tee "$OUT/load_before.txt"

"$OUT/bench_data" "$CSV" --reps "$REPS" --threads 1 | tee "$OUT/deepc_csv.json"
"$VPY" - "$CSV" "$REPS" <<'PY' | tee "$OUT/pandas_csv.json"
import json, statistics, sys, time
import numpy as np, pandas as pd
p, reps = sys.argv[1], int(sys.argv[2])
t_read, t_all = [], []
for _ in range(reps):
    t0 = time.perf_counter()
    df = pd.read_csv(p)
    t1 = time.perf_counter()
    y = df["label"].to_numpy(np.int32)
    x = df.drop(columns="label").to_numpy(np.uint8).reshape(-1, 1, 28, 28)
    t2 = time.perf_counter()
    t_read.append(t1 - t0); t_all.append(t2 - t0)
print(json.dumps({"n": len(y), "read_csv": t_read, "read_csv_median": statistics.median(t_read),
                  "with_to_numpy": t_all, "median": statistics.median(t_all)}))
PY
for t in 1 2; do
  "$OUT/bench_data" "$IMG" --reps "$REPS" --threads $t --input-size 64x64 --channels 3 | tee "$OUT/deepc_jpeg_t$t.json"
done
"$VPY" - "$IMG" "$REPS" <<'PY' | tee "$OUT/pil_jpeg.json"
import json, os, statistics, sys, time
from multiprocessing import Pool
import numpy as np
from PIL import Image
root, reps = sys.argv[1], int(sys.argv[2])
files = [os.path.join(r, f) for r, _, fs in sorted(os.walk(root)) for f in sorted(fs) if f.endswith(".jpg")]
def load(p):  # torchvision's pil_loader, then Resize((64, 64)) on the PIL image
    with open(p, "rb") as f:
        return np.asarray(Image.open(f).convert("RGB").resize((64, 64), Image.BILINEAR))
res = {"n": len(files)}
for procs in (1, 2):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        if procs == 1:
            x = np.stack([load(p) for p in files])
        else:
            with Pool(procs) as pool:
                x = np.stack(pool.map(load, files, chunksize=64))
        ts.append(time.perf_counter() - t0)
    res[f"processes_{procs}"] = ts
    res[f"median_{procs}"] = statistics.median(ts)
print(json.dumps(res))
PY
uptime | tee "$OUT/load_after.txt"
