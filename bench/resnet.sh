#!/usr/bin/env bash
# bench/resnet.sh — the ResNet-20 job in deepc and its anchors, in one run.
#
#   bash bench/resnet.sh [LIMIT (default 6000)] [EPOCHS (default 2)] [REPS (default 3)]
#
# Job: resnet20 on Fashion-MNIST, batch 128, SGD lr 0.1 momentum 0.9 Nesterov,
# weight decay 5e-4, cosine schedule over the epochs, random crop (4-pixel
# padding) + horizontal flip, the first LIMIT training images per epoch.
# Training runs, interleaved (order reversed on every other repetition):
#   PyTorch wheel (the anchor: PyPI torch 2.x in bench/.venv, made by
#                 bench/torch_env.sh when missing) bench/bench_torch_resnet.py
#                 train --threads 1 and 2
#   PyTorch 1.13  (Debian's /usr/bin/python3; a second column), the same
#                 script, OPENBLAS_NUM_THREADS=1
#   deepc         build/deepc train --model resnet20 --data fashion-mnist
#                 --batch 128 --optim sgd --lr 0.1 --momentum 0.9 --nesterov
#                 --weight-decay 5e-4 --sched cosine --hflip --crop 4
#                 --limit N --epochs E --threads T --json
#                 (skipped, with deepc's message, when a 128-image probe run of
#                 that command fails: deepc does not know resnet20 or --crop yet)
# then one wheel run with --compile at 2 threads (COMPILE=0 skips it), then
# inference for resnet20 and lenet5 at batch 1 and 256, 1 and 2 threads:
#   PyTorch wheel: eager (inference_mode), TorchScript trace+freeze,
#                  torch.compile, ONNX Runtime (opset 17, intra_op threads = T)
#   Debian torch:  eager, TorchScript
#   deepc:         bench/bench_infer_resnet.c when it exists (skipped otherwise),
#                  built like bench_infer.c against BUILD_DIR/libdeepc.a and run as
#                    bench_infer_resnet MODEL.safetensors --data DATA --batch B
#                        --threads T --repeats R
#                  printing one JSON line with "images_per_s" (the median of R
#                  timed repeats after warm-up, softmax included, normalisation
#                  outside the timing, as bench_torch_resnet.py infer does) and,
#                  optionally, "best_images_per_s" (the best repeat);
#                  MODEL is the resnet20 checkpoint of deepc's first 2-thread
#                  training run and a lenet5 that deepc trains for one epoch here.
# Seconds are training time only (deepc's per-epoch "seconds"; PyTorch's timed
# loop, with its warm-up steps run and undone before epoch 1). Each figure is
# the median over all epochs of all repetitions, leaving out each run's first
# epoch when EPOCHS >= 3. Per-epoch seconds for the full 60,000 images are
# that median x 60000/LIMIT. Peak RSS comes from /usr/bin/time -v. GFLOP/s uses
# the analytic count of bench/torch_models.py; % of peak is against threads x
# the best measured 1-core FMA peak (bench/peak.c: AVX-512 where present).
#
# OMP_WAIT_POLICY=PASSIVE is exported for every system (deepc, both torches,
# and ORT's spinning follows it) unless WAIT_POLICY=default: on this shared
# 2-core machine spinning OpenMP threads that other work deschedules made
# PyTorch's 2-thread training 4x slower (27.9 s vs 7.2 s for 1,280 images at
# load average 7-9, 2026-12-01); passive waiting is PyTorch at its best here.
#
# Writes bench/results/<timestamp>-resnet/ (raw JSON lines, time -v output,
# table.md, results.json; git-ignored) and copies results.json to
# bench/results/resnet-latest.json.
#
# Environment: BUILD_DIR (default build), NO_BUILD=1, DATA (default
# fashion-mnist), PYTHON (Debian's python, default /usr/bin/python3; it also
# runs the analysis), WHEEL_PY (default bench/.venv/bin/python), DEBIAN=0
# (leave Debian's torch out), DEEPC=0 (leave deepc out), COMPILE=0, INFER=0
# (no inference), TRAIN=0 (no training; deepc's inference then times the
# resnet20 checkpoint RESNET_CKPT), INFER_REPEATS (default 7),
# WAIT_POLICY (default PASSIVE; "default" leaves OMP_WAIT_POLICY unset).
#
#   bash bench/resnet.sh --analyse DIR   redo only the analysis of an earlier run
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
ANALYSE_ONLY=
if [[ ${1:-} == --analyse ]]; then
    [[ -f ${2:-}/meta.txt ]] || { echo "bench/resnet.sh: --analyse needs a results folder with meta.txt" >&2; exit 1; }
    ANALYSE_ONLY=$2
    shift 2
fi
LIMIT=${1:-6000}
EPOCHS=${2:-2}
REPS=${3:-3}
BUILD_DIR=${BUILD_DIR:-build}
DATA=${DATA:-fashion-mnist}
PY=${PYTHON:-/usr/bin/python3}
WHEEL_PY=${WHEEL_PY:-bench/.venv/bin/python}
DEBIAN=${DEBIAN:-1}
USE_DEEPC=${DEEPC:-1}
COMPILE=${COMPILE:-1}
INFER=${INFER:-1}
TRAIN=${TRAIN:-1}
INFER_REPEATS=${INFER_REPEATS:-7}
WAIT_POLICY=${WAIT_POLICY:-PASSIVE}
if [[ $WAIT_POLICY == default ]]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY=$WAIT_POLICY; fi
NPROC=$(nproc)
T_HI=$(( NPROC < 2 ? NPROC : 2 ))
DATA_DIR=/usr/share/datasets/fashion-mnist
[[ $DATA == fashion-mnist ]] || DATA_DIR=$DATA

die() { echo "bench/resnet.sh: $*" >&2; exit 1; }
[[ $LIMIT =~ ^[1-9][0-9]*$ ]] || die "LIMIT must be a positive integer, got '$LIMIT'"
[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer, got '$EPOCHS'"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"

if [[ -z $ANALYSE_ONLY ]]; then
# --- prerequisites --------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    [[ $(id -u) == 0 ]] || die "/usr/bin/time missing: sudo apt-get install -y time"
    echo "installing GNU time (for peak RSS) ..." >&2
    apt-get install -y time >/dev/null || die "apt-get install time failed"
fi
if ! "$WHEEL_PY" -c 'import torch, numpy, onnxruntime' 2>/dev/null; then
    [[ $WHEEL_PY == bench/.venv/bin/python ]] || die "$WHEEL_PY cannot import torch, numpy, onnxruntime"
    bash bench/torch_env.sh >&2 || die "bench/torch_env.sh failed"
fi
if [[ $DEBIAN == 1 ]]; then
    "$PY" -c 'import torch, numpy' 2>/dev/null ||
        die "$PY cannot import torch and numpy: apt-get install -y python3-torch python3-numpy (or DEBIAN=0)"
fi

OUT=bench/results/$(date +%Y%m%d-%H%M%S)-resnet
mkdir -p "$OUT/bin"
gcc -O2 -fopenmp bench/peak.c -o "$OUT/bin/peak" || die "cannot compile bench/peak.c"

# --- deepc: build and probe -----------------------------------------------
DEEPC_OK=0 DEEPC_INFER_OK=0
deepc_cmd() { # threads limit epochs seed out: sets DEEPC_CMD, the deepc training command
    DEEPC_CMD=("$DEEPC_BIN" train --model resnet20 --data "$DATA" --batch 128 --optim sgd
        --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 --sched cosine --hflip --crop 4
        --limit "$2" --epochs "$3" --threads "$1" --seed "$4" --json --out "$5")
}
if [[ $USE_DEEPC == 1 ]]; then
    if [[ ${NO_BUILD:-0} != 1 ]]; then
        [[ -f $BUILD_DIR/CMakeCache.txt ]] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$BUILD_DIR" -j"$NPROC" >/dev/null || die "build failed: cmake --build $BUILD_DIR"
    fi
    [[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
    DEEPC_BIN=$BUILD_DIR/deepc
    [[ -x $DEEPC_BIN ]] || die "$DEEPC_BIN missing (build first, or unset NO_BUILD, or DEEPC=0)"
    deepc_cmd 1 128 1 1 "$OUT/probe.safetensors"
    if timeout 300 "${DEEPC_CMD[@]}" --test-limit 100 \
        > "$OUT/deepc_probe.jsonl" 2> "$OUT/deepc_probe.err"; then
        DEEPC_OK=1
    else
        echo "deepc: skipped, the resnet20 probe failed: $(head -c 300 "$OUT/deepc_probe.err" | head -3)" >&2
    fi
    rm -f "$OUT/probe.safetensors"
    if [[ $INFER == 1 && -f bench/bench_infer_resnet.c ]]; then
        if gcc -std=c11 -O2 -Wall -Wextra -Iinclude bench/bench_infer_resnet.c "$BUILD_DIR/libdeepc.a" \
            -fopenmp -lz -lpng -ljpeg -lzip -lcsv -lcjson -lsodium -lm -o "$OUT/bin/bench_infer_resnet"; then
            DEEPC_INFER_OK=1
        else
            echo "deepc inference: skipped, bench/bench_infer_resnet.c does not build" >&2
        fi
    elif [[ $INFER == 1 ]]; then
        echo "deepc inference: skipped, bench/bench_infer_resnet.c does not exist yet" >&2
    fi
fi

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpu_flags=$(grep -o -w -E 'avx2|fma|avx512f|avx512_vnni|avx512_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "nproc=$NPROC"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)"
    echo "limit=$LIMIT"
    echo "epochs=$EPOCHS"
    echo "reps=$REPS"
    echo "deepc=$DEEPC_OK"
    echo "deepc_infer=$DEEPC_INFER_OK"
    echo "torch_wheel=$("$WHEEL_PY" -c 'import torch; print(torch.__version__)')"
    echo "onnxruntime=$("$WHEEL_PY" -c 'import onnxruntime; print(onnxruntime.__version__)')"
    [[ $DEBIAN == 1 ]] && echo "torch_debian=$("$PY" -c 'import torch; print(torch.__version__)')"
    echo "omp_wait_policy=${OMP_WAIT_POLICY:-unset}"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/meta.txt"

echo "bench: resnet20, $LIMIT images x $EPOCHS epochs x $REPS repetitions, results in $OUT" >&2
env -u OMP_WAIT_POLICY "$OUT/bin/peak" --json > "$OUT/peak.json"
cat "$OUT/peak.json" >&2

# --- training -------------------------------------------------------------
run_torch() { # which(wheel|deb) threads rep [compile]
    local which=$1 t=$2 rep=$3 py=$WHEEL_PY name=train_torch_$1_t$2_r$3
    local -a envs=(OMP_NUM_THREADS="$t") extra=()
    [[ $which == deb ]] && { py=$PY; envs+=(OPENBLAS_NUM_THREADS=1); }
    [[ ${4:-} == compile ]] && { extra=(--compile); name=train_torch_${which}_compile_t${t}_r${rep}; }
    echo "  $name" >&2
    env "${envs[@]}" /usr/bin/time -v -o "$OUT/$name.time" "$py" bench/bench_torch_resnet.py train \
        --model resnet20 --threads "$t" --limit "$LIMIT" --epochs "$EPOCHS" --seed "$rep" \
        --test-limit 1000 --data "$DATA_DIR" "${extra[@]}" --json > "$OUT/$name.jsonl" 2> "$OUT/$name.err" || {
        [[ ${4:-} == compile ]] && { echo "    torch.compile run failed: $(tail -c 300 "$OUT/$name.jsonl")" >&2; return 0; }
        die "PyTorch run failed, see $OUT/$name.jsonl, .err and .time"; }
}
run_deb() { if [[ $DEBIAN == 1 ]]; then run_torch deb "$@"; fi; }
run_deepc() { # threads rep
    [[ $DEEPC_OK == 1 ]] || return 0
    local name=train_deepc_t$1_r$2
    echo "  $name" >&2
    deepc_cmd "$1" "$LIMIT" "$EPOCHS" "$2" "$OUT/deepc_resnet20_t$1_r$2.safetensors"
    /usr/bin/time -v -o "$OUT/$name.time" "${DEEPC_CMD[@]}" --test-limit 1000 \
        > "$OUT/$name.jsonl" 2> "$OUT/$name.err" ||
        die "deepc run failed, see $OUT/$name.jsonl, .err and .time"
}

if [[ $TRAIN == 1 ]]; then
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
    if [[ $COMPILE == 1 ]]; then run_torch wheel "$T_HI" 1 compile; fi
fi

# --- inference ------------------------------------------------------------
infer_torch() { # which model threads
    local which=$1 py=$WHEEL_PY backends=eager,jit,ort name=infer_torch_$1_$2_t$3
    [[ $COMPILE == 1 ]] && backends=eager,jit,compile,ort
    local -a envs=(OMP_NUM_THREADS="$3")
    [[ $which == deb ]] && { py=$PY; backends=eager,jit; envs+=(OPENBLAS_NUM_THREADS=1); }
    echo "  $name ($backends)" >&2
    env "${envs[@]}" "$py" bench/bench_torch_resnet.py infer --model "$2" --threads "$3" \
        --batches 1,256 --backends "$backends" --repeats "$INFER_REPEATS" --data "$DATA_DIR" --json \
        > "$OUT/$name.jsonl" 2> "$OUT/$name.err" ||
        die "PyTorch inference failed, see $OUT/$name.jsonl and .err"
}
infer_deepc() { # model threads
    [[ $DEEPC_INFER_OK == 1 ]] || return 0
    local ckpt=$OUT/deepc_$1.safetensors b
    [[ -f $ckpt ]] || { echo "  deepc $1: no checkpoint, skipped" >&2; return 0; }
    for b in 1 256; do
        echo "  infer_deepc_$1_t$2_b$b" >&2
        "$OUT/bin/bench_infer_resnet" "$ckpt" --data "$DATA" --batch "$b" --threads "$2" \
            --repeats "$INFER_REPEATS" > "$OUT/infer_deepc_$1_t$2_b$b.json" ||
            die "deepc inference failed for $1 batch $b threads $2"
    done
}
if [[ $INFER == 1 ]]; then
    if [[ $DEEPC_INFER_OK == 1 ]]; then
        [[ -f $OUT/deepc_resnet20_t${T_HI}_r1.safetensors ]] &&
            cp "$OUT/deepc_resnet20_t${T_HI}_r1.safetensors" "$OUT/deepc_resnet20.safetensors"
        # TRAIN=0: the checkpoint to time comes from RESNET_CKPT
        if [[ ! -f $OUT/deepc_resnet20.safetensors && -n ${RESNET_CKPT:-} ]]; then
            cp "$RESNET_CKPT" "$OUT/deepc_resnet20.safetensors" || die "cannot read RESNET_CKPT=$RESNET_CKPT"
        fi
        "$DEEPC_BIN" train --model lenet5 --data "$DATA" --epochs 1 --batch 64 --lr 0.01 \
            --momentum 0.9 --threads "$T_HI" --json --out "$OUT/deepc_lenet5.safetensors" \
            > "$OUT/deepc_lenet5_train.jsonl" || die "deepc lenet5 training (for inference) failed"
    fi
    echo "inference" >&2
    # Threads 1 then T_HI (once when T_HI is 1); the order of the systems
    # alternates from one (model, threads) pair to the next.
    THREADS=(1)
    if ((T_HI > 1)); then THREADS+=("$T_HI"); fi
    i=0
    for model in resnet20 lenet5; do
        for t in "${THREADS[@]}"; do
            if ((i++ % 2)); then
                infer_deepc "$model" "$t"
                if [[ $DEBIAN == 1 ]]; then infer_torch deb "$model" "$t"; fi
                infer_torch wheel "$model" "$t"
            else
                infer_torch wheel "$model" "$t"
                if [[ $DEBIAN == 1 ]]; then infer_torch deb "$model" "$t"; fi
                infer_deepc "$model" "$t"
            fi
        done
    done
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
rm -f "$OUT"/deepc_resnet20_t*_r*.safetensors
else
    OUT=$ANALYSE_ONLY
    PY=${PYTHON:-/usr/bin/python3}
    T_HI=$(sed -n 's/^nproc=//p' "$OUT/meta.txt")
    T_HI=$(( T_HI < 2 ? T_HI : 2 ))
fi

# --- analysis ---------------------------------------------------------------
"$PY" - "$OUT" "$T_HI" <<'EOF'
import glob, json, os, re, statistics, sys

out, t_hi = sys.argv[1], int(sys.argv[2])
meta = dict(l.rstrip("\n").split("=", 1) for l in open(f"{out}/meta.txt") if "=" in l)
limit, epochs = int(meta["limit"]), int(meta["epochs"])
skip = 1 if epochs >= 3 else 0
peak = json.load(open(f"{out}/peak.json"))
isa, p1 = peak["best"]["isa"], peak["best"]["1"]
med = statistics.median

def jl(path):
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]

def maxrss_mb(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024 if m else None

label = {"torch_wheel": f"PyTorch {meta['torch_wheel']} (PyPI wheel)",
         "torch_wheel_compile": f"PyTorch {meta['torch_wheel']} (PyPI wheel), torch.compile",
         "torch_deb": f"PyTorch {meta.get('torch_debian', '?')} (Debian)", "deepc": "deepc"}
flops_img = None
for f in glob.glob(f"{out}/train_torch_*.jsonl"):
    for r in jl(f):
        if r.get("event") == "done":
            flops_img = r["train_flops_per_image"]
res = {"meta": meta, "peak_gflops": peak, "train_flops_per_image": flops_img,
       "skip_first_epoch": bool(skip), "train": {}, "infer": {}}
R = res["train"]
for sysname in ("torch_wheel", "torch_deb", "deepc", "torch_wheel_compile"):
    for t in sorted({1, t_hi}):
        files = sorted(glob.glob(f"{out}/train_{sysname}_t{t}_r*.jsonl"))
        secs, cpus, rss, accs, warm = [], [], [], [], []
        for f in files:
            recs = jl(f)
            ep = [r for r in recs if r.get("event") == "epoch"]
            if not ep:
                continue
            use = ep[skip:] if len(ep) > skip else ep[-1:]
            secs += [r["seconds"] for r in use]
            cpus += [r["cpu_seconds"] for r in use if r.get("cpu_seconds") is not None]
            accs.append(ep[-1].get("test_acc", ep[-1].get("test_accuracy")))
            warm += [r["warmup_seconds"] for r in recs if r.get("event") == "done" and "warmup_seconds" in r]
            rss.append(maxrss_mb(f[:-len(".jsonl")] + ".time"))
        if not secs:
            continue
        m = med(secs)
        R[f"{sysname}_t{t}"] = {
            "system": sysname, "threads": t, "median_s": m, "min_s": min(secs), "max_s": max(secs),
            "epoch_seconds": secs, "epoch60k_s": m * 60000 / limit, "images_per_s": limit / m,
            "gflops": flops_img * limit / m * 1e-9 if flops_img else None,
            "share_of_peak": flops_img * limit / m * 1e-9 / (t * p1) if flops_img else None,
            "peak_rss_mb": max(x for x in rss if x is not None) if any(rss) else None,
            "test_acc_1000": accs, "warmup_seconds": warm,
            "median_cpu_s": med(cpus) if cpus else None}

def best(prefix):
    c = [(v["median_s"], k) for k, v in R.items() if v["system"] == prefix]
    return min(c) if c else None

res["ratios"] = {}
dbest = best("deepc")
if dbest:
    for s in ("torch_wheel", "torch_deb"):
        b = best(s)
        if b:
            res["ratios"][s] = {"best_over_deepc_best": b[0] / dbest[0], "best_run": b[1],
                                "same_threads": {str(t): R[f"{s}_t{t}"]["median_s"] / R[f"deepc_t{t}"]["median_s"]
                                                 for t in sorted({1, t_hi})
                                                 if f"{s}_t{t}" in R and f"deepc_t{t}" in R}}

I = res["infer"]
for f in sorted(glob.glob(f"{out}/infer_torch_*.jsonl")):
    which = "torch_wheel" if "_wheel_" in f else "torch_deb"
    for r in jl(f):
        if r.get("event") == "infer":
            I.setdefault(r["model"], {}).setdefault(f"{which}:{r['backend']}", {})[
                f"b{r['batch']}_t{r['threads']}"] = {"median": r["images_per_s"], "best": max(r["repeats"]),
                                                     "per_cpu_s": r.get("images_per_cpu_s")}
        elif r.get("event") == "skip":
            I.setdefault(r["model"], {}).setdefault(f"{which}:{r['backend']}", {})["skipped"] = r["reason"]
for f in sorted(glob.glob(f"{out}/infer_deepc_*.json")):
    m = re.search(r"infer_deepc_(\w+?)_t(\d+)_b(\d+)\.json$", f)
    r = jl(f)[0]
    I.setdefault(m.group(1), {}).setdefault("deepc", {})[f"b{m.group(3)}_t{m.group(2)}"] = {
        "median": r["images_per_s"], "best": r.get("best_images_per_s"), "per_cpu_s": None}

L = []
L.append(f"ResNet-20 / Fashion-MNIST, batch 128, SGD 0.1 m0.9 Nesterov wd 5e-4 cosine, crop 4 + flip — "
         f"{meta['date']}, {meta['cpu']} ({meta['nproc']} cores; {meta['cpu_flags'].strip()}), commit {meta['commit']}"
         f"{' (+uncommitted changes)' if meta['dirty'] != '0' else ''}")
n_ep = max((len(v["epoch_seconds"]) for v in R.values()), default=0)
L.append(f"{limit:,} training images x {epochs} epochs x {meta['reps']} runs per configuration; each time is "
         f"the median of {n_ep} epochs" + (" (first epoch of each run left out)" if skip else "")
         + f"; load average {meta['loadavg_start']} at start, {meta.get('loadavg_end', '?')} at end; "
         f"OMP_WAIT_POLICY {meta.get('omp_wait_policy', '?')}.")
if flops_img:
    L.append(f"FLOPs per training image: {flops_img:,} (analytic, bench/torch_models.py); fp32 FMA peak "
             f"({isa}) {p1:.1f} GFLOP/s on 1 core ({peak['best'][str(peak['cores'])]:.1f} measured on "
             f"{peak['cores']}); % of peak is against threads x the 1-core peak.")
if meta["deepc"] != "1":
    L.append("deepc: not run (the resnet20 probe failed; see deepc_probe.err).")
L.append("")
L.append(f"| | threads | s per {limit:,} images (median) | min–max | s/epoch (60k) | images/s | GFLOP/s | % of peak | CPU s per {limit:,} | peak RSS (MB) | warm-up s |")
L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for k, r in R.items():
    gf = f"{r['gflops']:.1f}" if r["gflops"] else ""
    sh = f"{100 * r['share_of_peak']:.1f}%" if r["share_of_peak"] else ""
    rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else ""
    wu = f"{med(r['warmup_seconds']):.1f}" if r["warmup_seconds"] else ""
    L.append(f"| {label[r['system']]} | {r['threads']} | {r['median_s']:.2f} | {r['min_s']:.2f}–{r['max_s']:.2f} | "
             f"{r['epoch60k_s']:.1f} | {r['images_per_s']:.0f} | {gf} | {sh} | "
             f"{'' if r['median_cpu_s'] is None else format(r['median_cpu_s'], '.2f')} | {rss} | {wu} |")
L.append("")
for s, q in res["ratios"].items():
    L.append(f"{label[s]} at its best ({q['best_run']}) / deepc's best ({dbest[1]}): "
             f"**{q['best_over_deepc_best']:.2f}x**; at equal threads: "
             + ", ".join(f"{t} thread{'s' if t != '1' else ''} {v:.2f}x" for t, v in q["same_threads"].items()))
    L.append("")
if I:
    cols = [f"b{b}_t{t}" for b in (1, 256) for t in sorted({1, t_hi})]
    L.append("Inference: images/s, the median of the timed repeats (the best repeat in brackets).")
    L.append("")
    L.append("| inference, images/s | " +
             " | ".join(f"batch {c.split('_')[0][1:]}, {c.split('_t')[1]} thr" for c in cols) + " |")
    L.append("| --- |" + " ---: |" * len(cols))
    for model in I:
        for sysb, v in I[model].items():
            if "skipped" in v and len(v) == 1:
                L.append(f"| {model}, {sysb}: skipped ({v['skipped'][:80]}) |" + " |" * len(cols))
                continue
            name = sysb if sysb == "deepc" else f"{label[sysb.split(':')[0]].split(' (')[0]} {sysb.split(':')[1]}" \
                + (" (Debian)" if sysb.startswith("torch_deb") else "")
            cell = lambda x: f"{x['median']:,.0f}" + (f" ({x['best']:,.0f})" if x.get("best") else "")
            L.append(f"| {model}, {name} | " + " | ".join(cell(v[c]) if c in v else "" for c in cols) + " |")
table = "\n".join(L)
print(table)
open(f"{out}/table.md", "w").write(table + "\n")
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
json.dump(res, open(os.path.join(os.path.dirname(out), "resnet-latest.json"), "w"), indent=1)
EOF
echo >&2
echo "wrote $OUT/table.md, $OUT/results.json, bench/results/resnet-latest.json" >&2
