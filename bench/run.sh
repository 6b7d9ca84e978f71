#!/usr/bin/env bash
# bench/run.sh — deepc against PyTorch on the same job, in one run.
#
#   bash bench/run.sh [EPOCHS (default 5)] [REPS (default 3)]
#
# Job: LeNet-5 on Fashion-MNIST, cross-entropy, SGD lr 0.001 momentum 0.9,
# batch 64, normalised with the training mean/std, reshuffled every epoch,
# last partial batch kept. Runs, interleaved to spread machine noise evenly
# (the order is reversed on every other repetition):
#   deepc         build/deepc train ... --threads 2   and   --threads 1
#   PyTorch wheel (the anchor: PyPI's torch 2.x, MKL + oneDNN, in bench/.venv,
#                 made by bench/torch_env.sh when missing) bench/bench_torch.py
#                 --threads 2 and 1 (OMP_NUM_THREADS=T)
#   PyTorch 1.13  (Debian's /usr/bin/python3, generic BLAS; a second column)
#                 bench/bench_torch.py --threads 2 and 1 (OMP_NUM_THREADS=T,
#                 OPENBLAS_NUM_THREADS=1)
# plus one extra Debian-torch run at 2 threads with OPENBLAS_NUM_THREADS unset
# (min(EPOCHS,3) epochs; TORCH_EXTRA=0 skips it), the FMA peak (bench/peak.c,
# AVX2 and AVX-512) and deepc's inference throughput (bench/bench_infer.c on
# the first 2-thread model). Seconds per epoch are training time only (deepc's
# "seconds" field; PyTorch's timed loop), the median over all epochs of all
# repetitions, leaving out each run's first epoch as warm-up when EPOCHS >= 3.
# Peak RSS comes from /usr/bin/time -v. "% of peak" is against threads x the
# best measured 1-core peak (AVX-512 where the CPU has it, else AVX2).
#
# OMP_WAIT_POLICY=PASSIVE is exported for every system unless
# WAIT_POLICY=default (see bench/resnet.sh: on this shared 2-core machine,
# spinning OpenMP threads that other work deschedules slow 2-thread runs
# several-fold); the peak measurement runs with it unset.
#
# Writes everything under bench/results/<timestamp>/ (raw JSON lines, time -v
# output, table.md, results.json) and copies results.json to
# bench/results/latest.json. bench/results/ is git-ignored.
#
# Environment: BUILD_DIR (default build), NO_BUILD=1 (use the binaries already
# in BUILD_DIR; otherwise `cmake --build` is run, configuring first if needed),
# DATA (default fashion-mnist), TORCH_EXTRA=0, PYTHON (Debian's torch, default
# /usr/bin/python3; also runs the analysis), WHEEL_PY (default
# bench/.venv/bin/python), DEBIAN=0 (leave Debian's torch out),
# LIMIT=N (train on the first N images only: a smoke test of this script),
# WAIT_POLICY (default PASSIVE; "default" leaves OMP_WAIT_POLICY unset).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
EPOCHS=${1:-5}
REPS=${2:-3}
BUILD_DIR=${BUILD_DIR:-build}
DATA=${DATA:-fashion-mnist}
PY=${PYTHON:-/usr/bin/python3}
WHEEL_PY=${WHEEL_PY:-bench/.venv/bin/python}
DEBIAN=${DEBIAN:-1}
TORCH_EXTRA=${TORCH_EXTRA:-1}
LIMIT=${LIMIT:-0}
WAIT_POLICY=${WAIT_POLICY:-PASSIVE}
if [[ $WAIT_POLICY == default ]]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY=$WAIT_POLICY; fi
NPROC=$(nproc)
T_HI=$(( NPROC < 2 ? NPROC : 2 ))

die() { echo "bench/run.sh: $*" >&2; exit 1; }
[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer, got '$EPOCHS'"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"

# --- prerequisites --------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) == 0 ]]; then
        echo "installing GNU time (for peak RSS) ..." >&2
        apt-get install -y time >/dev/null || die "apt-get install time failed"
    else
        die "/usr/bin/time missing: sudo apt-get install -y time"
    fi
fi
if [[ $DEBIAN == 1 ]]; then
    "$PY" -c 'import torch, numpy' 2>/dev/null ||
        die "$PY cannot import torch and numpy: apt-get install -y python3-torch python3-numpy (or DEBIAN=0)"
else
    TORCH_EXTRA=0
fi
if ! "$WHEEL_PY" -c 'import torch, numpy' 2>/dev/null; then
    [[ $WHEEL_PY == bench/.venv/bin/python ]] || die "$WHEEL_PY cannot import torch and numpy"
    bash bench/torch_env.sh >&2 || die "bench/torch_env.sh failed"
fi

# --- build ----------------------------------------------------------------
if [[ ${NO_BUILD:-0} != 1 ]]; then
    [[ -f $BUILD_DIR/CMakeCache.txt ]] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j"$NPROC" >/dev/null || die "build failed: cmake --build $BUILD_DIR"
fi
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
DEEPC=$BUILD_DIR/deepc
LIB=$BUILD_DIR/libdeepc.a
[[ -x $DEEPC && -f $LIB ]] || die "$DEEPC or $LIB missing (build first, or unset NO_BUILD)"

OUT=bench/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/bin"
gcc -O2 -fopenmp bench/peak.c -o "$OUT/bin/peak" || die "cannot compile bench/peak.c"
gcc -std=c11 -O2 -Wall -Wextra -Iinclude bench/bench_infer.c "$LIB" \
    -fopenmp -lz -lpng -ljpeg -lzip -lcsv -lcjson -lsodium -lm -o "$OUT/bin/bench_infer" || die "cannot compile bench/bench_infer.c"

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "nproc=$NPROC"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)"
    echo "epochs=$EPOCHS"
    echo "reps=$REPS"
    echo "limit=$LIMIT"
    echo "omp_wait_policy=${OMP_WAIT_POLICY:-unset}"
    echo "torch_wheel=$("$WHEEL_PY" -c 'import torch; print(torch.__version__)')"
    [[ $DEBIAN == 1 ]] && echo "torch_debian=$("$PY" -c 'import torch; print(torch.__version__)')"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/meta.txt"

echo "bench: $EPOCHS epochs x $REPS repetitions, results in $OUT" >&2
env -u OMP_WAIT_POLICY "$OUT/bin/peak" --json > "$OUT/peak.json"
cat "$OUT/peak.json" >&2

run_deepc() { # threads rep
    local name=deepc_t$1_r$2
    echo "  $name" >&2
    /usr/bin/time -v -o "$OUT/$name.time" "$DEEPC" train --model lenet5 --data "$DATA" \
        --epochs "$EPOCHS" --batch 64 --lr 0.001 --momentum 0.9 --seed "$2" \
        --threads "$1" --limit "$LIMIT" --json --out "$OUT/$name.safetensors" > "$OUT/$name.jsonl" ||
        die "deepc run failed, see $OUT/$name.jsonl and $OUT/$name.time"
}
run_torch() { # which(wheel|deb) threads rep [extra]
    local which=$1 t=$2 rep=$3 py=$WHEEL_PY epochs=$EPOCHS
    local name=torch_${which}_t${t}_r${rep}
    local -a envs=(OMP_NUM_THREADS="$t")
    if [[ $which == deb ]]; then
        py=$PY
        envs+=(OPENBLAS_NUM_THREADS=1)
        if [[ ${4:-} == extra ]]; then
            name=torch_deb_t${t}_blasfree
            epochs=$(( EPOCHS < 3 ? EPOCHS : 3 ))
            envs=(-u OPENBLAS_NUM_THREADS OMP_NUM_THREADS="$t")
        fi
    fi
    echo "  $name" >&2
    env "${envs[@]}" /usr/bin/time -v -o "$OUT/$name.time" "$py" bench/bench_torch.py \
        --epochs "$epochs" --threads "$t" --seed "$rep" --limit "$LIMIT" > "$OUT/$name.jsonl" ||
        die "PyTorch run failed, see $OUT/$name.jsonl and $OUT/$name.time"
}
run_deb() { [[ $DEBIAN == 1 ]] && run_torch deb "$@" || true; }

for ((r = 1; r <= REPS; r++)); do
    echo "repetition $r/$REPS" >&2
    if ((r % 2)); then
        run_deepc "$T_HI" "$r"; run_torch wheel "$T_HI" "$r"; run_deb "$T_HI" "$r"
        run_deepc 1 "$r"; run_torch wheel 1 "$r"; run_deb 1 "$r"
    else
        run_deb 1 "$r"; run_torch wheel 1 "$r"; run_deepc 1 "$r"
        run_deb "$T_HI" "$r"; run_torch wheel "$T_HI" "$r"; run_deepc "$T_HI" "$r"
    fi
done
if [[ $TORCH_EXTRA == 1 && $T_HI -gt 1 ]]; then
    run_torch deb "$T_HI" 1 extra
fi
echo "  deepc inference" >&2
"$OUT/bin/bench_infer" "$OUT/deepc_t${T_HI}_r1.safetensors" --data "$DATA" --n1 10000 \
    > "$OUT/deepc_infer.json" || die "bench_infer failed"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
rm -f "$OUT"/*.safetensors

# --- analysis ---------------------------------------------------------------
"$PY" - "$OUT" "$T_HI" <<'EOF'
import glob, json, os, re, statistics, sys

out, t_hi = sys.argv[1], int(sys.argv[2])
meta = dict(l.rstrip("\n").split("=", 1) for l in open(f"{out}/meta.txt") if "=" in l)
epochs = int(meta["epochs"])
skip = 1 if epochs >= 3 else 0

# FLOPs per training image, counted analytically (multiply-adds x 2; bias
# adds, ReLU, pooling, softmax and the optimizer are left out: < 2% here).
# forward MACs of a conv = out_c*out_h*out_w * in_c*k*k; of a linear = in*out.
layers = [("conv1", 6 * 28 * 28 * 1 * 5 * 5),
          ("conv2", 16 * 10 * 10 * 6 * 5 * 5),
          ("fc1", 400 * 120), ("fc2", 120 * 84), ("fc3", 84 * 10)]
fwd = sum(m for _, m in layers)
# backward: weight gradient (same MACs as forward) for every layer, input
# gradient for every layer but conv1 (its input is the image: neither deepc
# nor PyTorch computes it).
bwd = fwd + (fwd - layers[0][1])
flops_img = 2 * (fwd + bwd)

def jl(path):
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]

def maxrss_mb(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024 if m else None

def collect(prefix):
    secs, accs, rss, done = [], [], [], []
    for f in sorted(glob.glob(f"{out}/{prefix}_r*.jsonl")):
        recs = jl(f)
        ep = [r["seconds"] for r in recs if r.get("event") == "epoch"]
        secs += ep[skip:]
        d = [r for r in recs if r.get("event") == "done"][-1]
        accs.append(d.get("accuracy", d.get("test_accuracy")))  # deepc: "accuracy"; bench_torch.py: "test_accuracy"
        done.append(d)
        rss.append(maxrss_mb(f[:-len(".jsonl")] + ".time"))
    return {"median_s": statistics.median(secs), "epoch_seconds": secs,
            "min_s": min(secs), "max_s": max(secs),
            "test_accuracy": accs, "peak_rss_mb": max(rss), "done": done}

def peak():
    p = json.load(open(f"{out}/peak.json"))
    n = p["cores"]
    return p["best"]["isa"], p["best"]["1"], n, p["best"][str(n)], p

isa, p1, pn_cores, pn, peak_all = peak()
n_train = int(meta["limit"]) or 60000
res = {"meta": meta, "skip_first_epoch": bool(skip),
       "flops_per_train_image": flops_img, "forward_macs_per_image": fwd,
       "peak_gflops": peak_all, "runs": {}}
systems = [("deepc", "deepc"), ("torch_wheel", f"PyTorch {meta.get('torch_wheel', '?')} (PyPI wheel)")]
if "torch_debian" in meta:
    systems.append(("torch_deb", f"PyTorch {meta['torch_debian']} (Debian)"))
label = dict(systems)
for t in sorted({1, t_hi}):
    for sysname, _ in systems:
        r = collect(f"{sysname}_t{t}")
        r["threads"] = t
        r["gflops"] = flops_img * n_train / r["median_s"] * 1e-9
        # Peak for t threads = t x the measured 1-core peak of the best ISA:
        # the all-core measurement is reported too, but it drops whenever
        # another process shares the machine, and would flatter the share.
        r["peak_gflops"] = t * p1
        r["share_of_peak"] = r["gflops"] / (t * p1)
        res["runs"][f"{sysname}_t{t}"] = r
extra = f"{out}/torch_deb_t{t_hi}_blasfree.jsonl"
if os.path.exists(extra):
    ep = [r["seconds"] for r in jl(extra) if r.get("event") == "epoch"]
    ep = ep[1:] if len(ep) >= 2 else ep
    res["torch_deb_openblas_unset"] = {"threads": t_hi, "median_s": statistics.median(ep),
                                       "epoch_seconds": ep}
inf = jl(f"{out}/deepc_infer.json")[0]
R = res["runs"]
med = lambda v: statistics.median(v)
res["inference"] = {
    "deepc": {"b1_1t": inf["infer_b1_ips"], "b1000_1t": inf["infer_b1000_1t_ips"],
              f"b1000_{t_hi}t": inf["infer_b1000_ips"], "accuracy_check": inf["test_accuracy"]}}
for sysname, _ in systems[1:]:
    tb = {t: R[f"{sysname}_t{t}"]["done"] for t in sorted({1, t_hi})}
    res["inference"][sysname] = {
        "b1_1t": med([d["infer_b1_ips"] for d in tb[1]]),
        "b1000_1t": med([d["infer_b1000_ips"] for d in tb[1]]),
        f"b1000_{t_hi}t": med([d["infer_b1000_ips"] for d in tb[t_hi]])}
best = lambda s: min((R[k]["median_s"], k) for k in R if k.startswith(s + "_t"))
dbest, dkey = best("deepc")
res["ratios"] = {}
for sysname, _ in systems[1:]:
    tb_, tk = best(sysname)
    res["ratios"][sysname] = {
        "best_over_deepc_best": tb_ / dbest, "best_run": tk,
        "same_threads": {str(t): R[f"{sysname}_t{t}"]["median_s"] / R[f"deepc_t{t}"]["median_s"]
                         for t in sorted({1, t_hi})}}
for r in R.values():
    del r["done"]

n_samples = len(R[f"deepc_t{t_hi}"]["epoch_seconds"])
L = []
L.append(f"LeNet-5 / Fashion-MNIST, batch 64, SGD 0.001 m0.9 — {meta['date']}, {meta['cpu']} "
         f"({meta['nproc']} cores), commit {meta['commit']}{' (+uncommitted changes)' if meta['dirty'] != '0' else ''}")
L.append(f"{epochs} epochs x {meta['reps']} runs per configuration; s/epoch is the median of "
         f"{n_samples} epochs per configuration"
         + (" (first epoch of each run left out as warm-up)" if skip else "")
         + f"; load average {meta['loadavg_start']} at start, {meta.get('loadavg_end', '?')} at end; "
         f"OMP_WAIT_POLICY {meta.get('omp_wait_policy', '?')}.")
L.append(f"FLOPs per training image: {flops_img:,} (forward {2*fwd:,} + backward {2*bwd:,}; "
         f"measured fp32 FMA peak ({isa}) {p1:.1f} GFLOP/s on 1 core ({pn:.1f} measured on {pn_cores}); "
         f"% of peak is against threads x the 1-core peak).")
L.append("")
L.append("| | threads | s/epoch (median) | min–max | GFLOP/s | % of peak | peak RSS (MB) | test acc |")
L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for k, r in R.items():
    sysname = label[k.rsplit("_t", 1)[0]]
    L.append(f"| {sysname} | {r['threads']} | {r['median_s']:.2f} | {r['min_s']:.2f}–{r['max_s']:.2f} | "
             f"{r['gflops']:.1f} | {100*r['share_of_peak']:.1f}% | {r['peak_rss_mb']:.0f} | "
             + ", ".join(f"{100*a:.2f}%" for a in r["test_accuracy"]) + " |")
if "torch_deb_openblas_unset" in res:
    u = res["torch_deb_openblas_unset"]
    L.append(f"| PyTorch (Debian), OPENBLAS_NUM_THREADS unset | {u['threads']} | {u['median_s']:.2f} | "
             f"({len(u['epoch_seconds'])} epochs) | | | | |")
L.append("")
for sysname, _ in systems[1:]:
    q = res["ratios"][sysname]
    L.append(f"{label[sysname]} at its best ({q['best_run']}, {R[q['best_run']]['median_s']:.2f} s) / "
             f"deepc's best ({dkey}, {dbest:.2f} s): **{q['best_over_deepc_best']:.2f}x**; at equal threads: "
             + ", ".join(f"{t} thread{'s' if t != '1' else ''} {v:.2f}x" for t, v in q["same_threads"].items()))
    L.append("")
I = res["inference"]
L.append("| inference, images/s | batch 1, 1 thread | batch 1000, 1 thread | "
         f"batch 1000, {t_hi} threads |")
L.append("| --- | ---: | ---: | ---: |")
for key in I:
    v = I[key]
    L.append(f"| {label[key]} | {v['b1_1t']:,.0f} | {v['b1000_1t']:,.0f} | {v[f'b1000_{t_hi}t']:,.0f} |")
table = "\n".join(L)
print(table)
open(f"{out}/table.md", "w").write(table + "\n")
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
json.dump(res, open(os.path.join(os.path.dirname(out), "latest.json"), "w"), indent=1)
EOF
echo >&2
echo "wrote $OUT/table.md, $OUT/results.json, bench/results/latest.json" >&2
