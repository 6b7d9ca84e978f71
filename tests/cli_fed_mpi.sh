#!/usr/bin/env bash
# `deepc federate` over `mpirun --oversubscribe -n 4` (rank 0 the server,
# ranks 1-3 the clients), end to end through the CLI:
#  - --secure-agg with a BatchNorm architecture, and --secure-agg
#    --client-dp with seeded noise on LeNet-5, write the same model file
#    tensors (weights AND running statistics) as the one-process
#    simulation, bit for bit;
#  - --client-data site/rank{rank}/: each client rank reads only its own
#    folder (the three sites hold 300, 200 and 100 images: the run reports
#    600 in all) and the server only its test set; a site with 14x14 images
#    is refused before any training with a message naming rank 3 and its
#    folder; --client-dp refuses BatchNorm, suggesting groupnorm.
# Every mpirun is bounded by `timeout`; the killed-rank test is
# tests/cli_fed_mpi_kill.sh.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
source "$(dirname "$0")/lib_cli.sh"
cli_begin fedmpi
if ! command -v mpirun >/dev/null; then
  echo "mpirun not found: install openmpi-bin (scripts/setup.sh does)"; echo "0 passed, 1 failed"; exit 1
fi
PY=/usr/bin/python3 # Debian's, with numpy (scripts/setup.sh)
MPI="timeout 120 mpirun --allow-run-as-root --oversubscribe -n 4"
# same tensors, every one of them, in two model files
same_tensors() {
  $PY - "$1" "$2" "$SRC/tests" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np, st_py
a, _ = st_py.load(sys.argv[1]); b, _ = st_py.load(sys.argv[2])
assert a.keys() == b.keys(), "different tensors"
bad = [k for k in a if not np.array_equal(a[k], b[k])]
stats = [k for k in a if "running" in k]
print(f"  {len(a)} tensors ({len(stats)} running statistics), {len(bad)} differ" + (f": {bad[:3]}" if bad else ""))
sys.exit(1 if bad else 0)
EOF
}

cat > "$T/bn.arch" <<'EOF'
conv2d out=6 k=3 pad=1
batchnorm2d
relu
maxpool k=2
conv2d out=12 k=3 pad=1
batchnorm2d
relu
globalavgpool
linear out=10
EOF
FED="--data fashion-mnist --limit 3000 --test-limit 500 --clients 10 --fraction 0.5 --rounds 2 --local-epochs 1 --partition shards:2 --seed 4 --json"
# --- BatchNorm + secure aggregation: MPI == simulation -----------------------
"$BIN" federate $FED --model "$T/bn.arch" --secure-agg --threads 1 --out "$T/bsim.safetensors" > "$T/bsim.log" 2> "$T/bsim.err" \
  && ok || bad "simulation: $(cat "$T/bsim.err")"
$MPI "$BIN" federate $FED --model "$T/bn.arch" --secure-agg --out "$T/bmpi.safetensors" > "$T/bmpi.log" 2> "$T/bmpi.err" \
  && ok || bad "mpirun -n 4 --secure-agg: $(cat "$T/bmpi.err")"
same_tensors "$T/bmpi.safetensors" "$T/bsim.safetensors" && ok || bad "BatchNorm model: secure aggregation over MPI differs from the simulation"
[ "$(grep -c '"event":"round"' "$T/bmpi.log")" = 2 ] && ok || bad "rank 0 reports 2 rounds: $(cat "$T/bmpi.log")"
$PY -c "
import json,sys; sys.path.insert(0,'$SRC/tests'); import st_py
_, m = st_py.load('$T/bmpi.safetensors'); c = json.loads(m['deepc.train_config'])
assert c['secure_agg'] and c['ranks'] == 4 and 'OS CSPRNG' in c['secure_agg_keys'], c" && ok || bad "the model records secure aggregation over 4 ranks and its key source"
# --- client-level DP + secure aggregation (seeded noise): MPI == simulation --
DP="--secure-agg --client-dp --noise 1.0 --clip 0.5 --dp-seed 7"
"$BIN" federate $FED $DP --threads 1 --out "$T/dsim.safetensors" > "$T/dsim.log" 2> "$T/dsim.err" \
  && ok || bad "DP simulation: $(cat "$T/dsim.err")"
$MPI "$BIN" federate $FED $DP --out "$T/dmpi.safetensors" > "$T/dmpi.log" 2> "$T/dmpi.err" \
  && ok || bad "mpirun -n 4 --client-dp: $(cat "$T/dmpi.err")"
same_tensors "$T/dmpi.safetensors" "$T/dsim.safetensors" && ok || bad "client-level DP over MPI differs from the simulation"
e1=$(grep '"round":2' "$T/dsim.log" | sed 's/.*"epsilon":\([^,]*\).*/\1/'); e2=$(grep '"round":2' "$T/dmpi.log" | sed 's/.*"epsilon":\([^,]*\).*/\1/')
[ -n "$e1" ] && [ "$e1" = "$e2" ] && ok || bad "epsilon accounted as in the simulation: $e1 vs $e2"
expect_err "client-level DP refuses BatchNorm" "groupnorm" "$BIN" federate $FED --model "$T/bn.arch" --client-dp --noise 1 --out "$T/x.safetensors"

# --- per-rank data ------------------------------------------------------------
# three sites cut from Fashion-MNIST (300, 200, 100 images), and a fourth
# variant of site 3 with 14x14 images
$PY - "$T" <<'EOF' || bad "writing the site folders"
import gzip, os, struct, sys
T = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist"
def read(name):
    with gzip.open(f"{src}/{name}", "rb") as f: return f.read()
img, lab = read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")
def write(folder, lo, hi, size=28):
    os.makedirs(folder, exist_ok=True)
    n = hi - lo
    px = bytearray()
    for i in range(lo, hi):
        a = img[16 + 784 * i: 16 + 784 * (i + 1)]
        if size == 28: px += a
        else: px += bytes(a[28 * (2 * y) + 2 * x] for y in range(size) for x in range(size))
    for pre in ("train", "t10k"):
        with open(f"{folder}/{pre}-images-idx3-ubyte", "wb") as f: f.write(struct.pack(">IIII", 0x803, n, size, size) + px)
        with open(f"{folder}/{pre}-labels-idx1-ubyte", "wb") as f: f.write(struct.pack(">II", 0x801, n) + lab[8 + lo:8 + hi])
write(f"{T}/site/rank1", 0, 300); write(f"{T}/site/rank2", 300, 500); write(f"{T}/site/rank3", 500, 600)
write(f"{T}/bad/rank1", 0, 300); write(f"{T}/bad/rank2", 300, 500); write(f"{T}/bad/rank3", 500, 600, 14)
EOF
CD="--rounds 2 --local-epochs 1 --fraction 1 --test-limit 500 --seed 2"
$MPI "$BIN" federate --client-data "$T/site/rank{rank}" --data fashion-mnist $CD --secure-agg --out "$T/site.safetensors" \
  > "$T/site.log" 2> "$T/site.err" && ok || bad "mpirun --client-data: $(cat "$T/site.err")"
grep -q "3 client ranks read their own data (.*: 600 samples in all)" "$T/site.log" && ok || bad "the sites' 600 samples: $(cat "$T/site.log")"
grep -q "round    2/2  clients 3" "$T/site.log" && [ -s "$T/site.safetensors" ] && ok || bad "two rounds of 3 clients and a model: $(cat "$T/site.log")"
$MPI "$BIN" federate --client-data "$T/bad/rank{rank}" $CD --out "$T/bad.safetensors" > "$T/bad.log" 2> "$T/bad.err"; rc=$?
echo "  $(grep -m1 'client-data' "$T/bad.err")"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "mismatched sites: exit $rc (124: hung)"
grep -q "rank 3 (.*bad/rank3/[^)]*) has 1x14x14 images but rank 1 (.*bad/rank1/[^)]*) has 1x28x28" "$T/bad.err" && ok \
  || bad "the refusal names rank 3: $(cat "$T/bad.err")"
grep -q "^round" "$T/bad.log" && bad "training started despite the mismatch" || ok
[ ! -e "$T/bad.safetensors" ] && ok || bad "a model was written"
expect_err "--client-data without mpirun" "needs mpirun" "$BIN" federate --client-data "$T/site/rank{rank}" --out "$T/x.safetensors"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
