#!/usr/bin/env bash
# bench/serve.sh — deepc serve under load, beside ONNX Runtime behind FastAPI.
#
#   bash bench/serve.sh                 # everything (about 25 min with the soak)
#   SOAK=0 ONNX=0 bash bench/serve.sh   # deepc only, no soak
#
# Server and load generator share this machine (2 cores): wrk (Debian's, one
# thread, keep-alive, bench/serve_post.lua POSTing one PNG of a Fashion-MNIST
# test image) on 127.0.0.1 only. Every figure is the median of REPS runs of
# DURATION seconds; each run also records the 1-minute load average before it
# (other work on the machine skews wall-clock figures), the share of CPU
# time the hypervisor stole from this guest during it (/proc/stat's steal:
# the host's other guests, invisible to the load average) and the server's CPU
# time per request (utime + stime from /proc, all its threads: a figure that
# other load disturbs much less than requests/s).
#
# Models, trained briefly here (accuracy is not the point):
#   lenet5    deepc train --model lenet5 --data fashion-mnist --epochs 1 --limit 10000
#   resnet20  deepc train --model resnet20 --data fashion-mnist --epochs 1 --limit 2000 --batch 128
# Runs:
#   deepc lenet5    deepc serve M --max-batch 32 --max-delay-us 500   at 1, 8, 64 connections
#   deepc resnet20  the same; and --max-batch 1 at 64 (the batching gain)
#   onnx  lenet5 / resnet20  the same weights exported to ONNX
#                 (bench/serve_export_onnx.py, Debian's torch 1.13), served by
#                 bench/serve_onnx.py: FastAPI + uvicorn --workers 2 (one per
#                 core; ONNX_WORKERS=1 for one), ONNX Runtime
#                 intra_op_num_threads=1, PIL decoding,
#                 from bench/.serve-venv (bench/serve_env.sh)
#   soak    deepc lenet5 at about half its 64-connection peak (64 connections,
#           wrk's delay()), SOAK seconds in 60 s segments: RSS, errors, p99 drift
#
# Environment: BUILD_DIR (build), DURATION (10), REPS (3), CONNS ("1 8 64"),
# ONNX (1), ONNX_WORKERS (2: uvicorn --workers), RESNET (1), DEEPC (1; 0 leaves deepc's runs out), SOAK (600; 0
# skips; needs DEEPC=1), PORT (18400), MODELS (a folder
# with lenet5.safetensors / resnet20.safetensors to reuse instead of training).
# Writes bench/results/<timestamp>-serve/ (raw.jsonl, table.md, server logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
BIN=$ROOT/$BUILD_DIR/deepc
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-1 8 64}
ONNX=${ONNX:-1}
ONNX_WORKERS=${ONNX_WORKERS:-2}
RESNET=${RESNET:-1}
SOAK=${SOAK:-600}
PORT=${PORT:-18400}
OUT=bench/results/$(date -u +%Y%m%d-%H%M%S)-serve
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: > "$RAW"
PY=/usr/bin/python3
LUA=$ROOT/bench/serve_post.lua
command -v wrk >/dev/null || { echo "bench/serve.sh: wrk missing (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench/serve.sh: $BIN missing (bash scripts/setup.sh)" >&2; exit 1; }
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# "steal_total" from /proc/stat's cpu line: the hypervisor's steal ticks and all ticks
steal_total() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t; exit}' /proc/stat; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# models and the request body
MODELS=${MODELS:-$OUT}
if [ ! -f "$MODELS/lenet5.safetensors" ]; then
    say "training lenet5 (1 epoch, 10000 images)"
    "$BIN" train --model lenet5 --data fashion-mnist --epochs 1 --limit 10000 --lr 0.05 --out "$MODELS/lenet5.safetensors" > "$OUT/train-lenet5.txt"
fi
if [ "$RESNET" = 1 ] && [ ! -f "$MODELS/resnet20.safetensors" ]; then
    say "training resnet20 (1 epoch, 2000 images)"
    "$BIN" train --model resnet20 --data fashion-mnist --epochs 1 --limit 2000 --test-limit 1000 --batch 128 --lr 0.05 \
        --out "$MODELS/resnet20.safetensors" > "$OUT/train-resnet20.txt"
fi
$PY tests/cli_serve_client.py pngs /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "$OUT/png" 1 >/dev/null
PNG=$OUT/png/0000.png

wait_ready() { # URL PID
    for _ in $(seq 600); do
        curl -sf "$1/v2/health/ready" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# run_wrk LABEL SERVER MODEL CONFIG CONNS PID [DELAY_MS SECONDS]: one wrk run -> a line of raw.jsonl
run_wrk() {
    local label=$1 server=$2 model=$3 config=$4 c=$5 pid=$6 delay=${7:-0} secs=${8:-$DURATION}
    local l0 t0 t1 line
    l0=$(load1)
    local st0 st1
    st0=$(steal_total)
    t0=$(cpu_ticks "$pid")
    [ "$server" = onnx ] && t0=$(for p in $(pgrep -P "$pid") "$pid"; do cpu_ticks "$p"; done | awk '{s+=$1} END {print s}')
    line=$(wrk -t1 -c"$c" -d"${secs}s" --timeout 5s -s "$LUA" "http://127.0.0.1:$PORT/v2/models/$model/infer" -- "$PNG" image/png "$delay" | tail -1)
    st1=$(steal_total)
    t1=$(cpu_ticks "$pid")
    [ "$server" = onnx ] && t1=$(for p in $(pgrep -P "$pid") "$pid"; do cpu_ticks "$p"; done | awk '{s+=$1} END {print s}')
    local rss
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    echo "$line" | $PY -c "
import json, sys
r = json.loads(sys.stdin.read())
s0, s1 = [int(v) for v in '$st0'.split()], [int(v) for v in '$st1'.split()]
r.update(label='$label', server='$server', model='$model', config='$config', connections=$c, load1=float('$l0'),
         steal_pct=100.0 * (s1[0] - s0[0]) / max(1, s1[1] - s0[1]),
         cpu_us_per_req=(($t1 - $t0) / $TCK * 1e6 / r['requests']) if r['requests'] else None, rss_kb=int('$rss'))
print(json.dumps(r))" | tee -a "$RAW" >&2
}

start_deepc() { # MODEL ARGS...
    local model=$1; shift
    "$BIN" serve "$MODELS/$model.safetensors" --host 127.0.0.1 --port "$PORT" --quiet "$@" 2>"$OUT/deepc-$model.log" &
    SPID=$!
    wait_ready "http://127.0.0.1:$PORT" "$SPID" || { echo "deepc serve did not start: $(cat "$OUT/deepc-$model.log")" >&2; exit 1; }
    check_infer "$model"
}
check_infer() { # MODEL: one request must be answered 200 before any load
    curl -sf -X POST --data-binary @"$PNG" -H 'Content-Type: image/png' \
        "http://127.0.0.1:$PORT/v2/models/$1/infer" >/dev/null || { echo "bench/serve.sh: $1/infer is not answered 200" >&2; exit 1; }
}
stop_server() {
    kill -TERM "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
}

bench_deepc() { # MODEL CONFIG-LABEL CONNS ARGS...
    local model=$1 cfg=$2 conns=$3; shift 3
    start_deepc "$model" "$@"
    for c in $conns; do
        for r in $(seq "$REPS"); do run_wrk "deepc $model $cfg" deepc "$model" "$cfg" "$c" "$SPID"; done
    done
    curl -s "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics-$model-${cfg// /_}.txt"
    stop_server
}

say "uptime: $(uptime)"
if [ "${DEEPC:-1}" = 1 ]; then
    bench_deepc lenet5 "max-batch 32" "$CONNS" --max-batch 32 --max-delay-us 500
    if [ "$RESNET" = 1 ]; then
        bench_deepc resnet20 "max-batch 32" "$CONNS" --max-batch 32 --max-delay-us 500
        bench_deepc resnet20 "max-batch 1" "64" --max-batch 1
    fi
fi

# ---------------------------------------------------------------------------
# ONNX Runtime behind FastAPI + uvicorn
if [ "$ONNX" = 1 ]; then
    bash bench/serve_env.sh >&2
    for model in lenet5 $([ "$RESNET" = 1 ] && echo resnet20); do
        $PY bench/serve_export_onnx.py "$model" "$MODELS/$model.safetensors" "$OUT/$model.onnx" >&2
        read -r MEAN STD < <($PY -c "
import json, struct
d = open('$MODELS/$model.safetensors', 'rb').read(); n = struct.unpack('<Q', d[:8])[0]
m = json.loads(json.loads(d[8:8 + n])['__metadata__']['deepc.norm']); print(m['mean'], m['std'])")
        # the same answer as deepc (probabilities to 1e-5)
        want=$("$BIN" predict "$MODELS/$model.safetensors" "$PNG" --json --top-k 10)
        got=$(bench/.serve-venv/bin/python bench/serve_onnx.py --check "$OUT/$model.onnx" "$MODELS/$model.safetensors" "$PNG")
        $PY -c "
import json, sys
w = json.loads('''$want'''); g = json.loads('$got'); p = w['probabilities']
d = max(abs(a - b) for a, b in zip(p, g)); print('onnx vs deepc $model: max |dp| = %.2e' % d, file=sys.stderr)
sys.exit(0 if d < 1e-5 else 1)" || { echo "ONNX Runtime disagrees with deepc on $model" >&2; exit 1; }
        MODEL=$ROOT/$OUT/$model.onnx MEAN=$MEAN STD=$STD bench/.serve-venv/bin/uvicorn serve_onnx:app --app-dir bench \
            --host 127.0.0.1 --port "$PORT" --workers "$ONNX_WORKERS" --log-level warning --no-access-log 2>"$OUT/onnx-$model.log" &
        SPID=$!
        wait_ready "http://127.0.0.1:$PORT" "$SPID" || { echo "uvicorn did not start: $(cat "$OUT/onnx-$model.log")" >&2; exit 1; }
        check_infer "$model"
        for c in $CONNS; do
            for r in $(seq "$REPS"); do run_wrk "onnx $model" onnx "$model" "fastapi+uvicorn $ONNX_WORKERS worker$([ "$ONNX_WORKERS" = 1 ] || echo s)" "$c" "$SPID"; done
        done
        stop_server
        sleep 1
    done
fi

# ---------------------------------------------------------------------------
# soak: deepc lenet5 at half its peak
if [ "$SOAK" -gt 0 ]; then
    peak=$($PY -c "
import json, statistics
r = [json.loads(l) for l in open('$RAW')]
print(statistics.median(x['rps'] for x in r if x['server'] == 'deepc' and x['model'] == 'lenet5' and x['connections'] == 64))")
    delay=$($PY -c "print(max(1, round(64 * 1000 / ($peak / 2))))")
    say "soak: ${SOAK} s at about half of $peak req/s (64 connections, ${delay} ms between a connection's requests)"
    start_deepc lenet5 --max-batch 32 --max-delay-us 500
    segs=$(( (SOAK + 59) / 60 ))
    for s in $(seq "$segs"); do run_wrk "soak" deepc lenet5 "soak segment $s" 64 "$SPID" "$delay" 60; done
    curl -s "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics-soak.txt"
    stop_server
fi

# ---------------------------------------------------------------------------
# the table
$PY - "$RAW" "$OUT/table.md" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
out = ["| server | model | config | conns | req/s | p50 ms | p99 ms | server CPU us/req | load avg (1 min) | steal % | runs |",
       "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
groups = {}
for r in rows:
    if r["label"] == "soak":
        continue
    groups.setdefault((r["server"], r["model"], r["config"], r["connections"]), []).append(r)
for (server, model, cfg, c), rs in groups.items():
    cpu = [x["cpu_us_per_req"] for x in rs if x["cpu_us_per_req"]]
    errs = sum(x["non2xx"] + x["connect_errors"] + x["read_errors"] + x["write_errors"] + x["timeouts"] for x in rs)
    out.append("| %s | %s | %s | %d | %.0f | %.3f | %.3f | %s | %.1f-%.1f | %.0f | %d%s |" % (
        server, model, cfg, c, med(x["rps"] for x in rs), med(x["p50_us"] for x in rs) / 1e3,
        med(x["p99_us"] for x in rs) / 1e3, "%.0f" % med(cpu) if cpu else "-",
        min(x["load1"] for x in rs), max(x["load1"] for x in rs), med(x.get("steal_pct", 0) for x in rs), len(rs), "" if not errs else " (%d errors)" % errs))
soak = [r for r in rows if r["label"] == "soak"]
if soak:
    errs = sum(x["non2xx"] + x["connect_errors"] + x["read_errors"] + x["write_errors"] + x["timeouts"] for x in soak)
    out += ["", "Soak (%d x 60 s at about half the peak): %.0f req/s on average, %d errors; p99 %.3f ms in the first "
            "minute, %.3f ms in the last (worst %.3f); RSS %d KiB after the first minute, %d KiB at the end; load "
            "average %.1f-%.1f" % (len(soak), statistics.mean(x["rps"] for x in soak), errs, soak[0]["p99_us"] / 1e3,
                                   soak[-1]["p99_us"] / 1e3, max(x["p99_us"] for x in soak) / 1e3, soak[0]["rss_kb"],
                                   soak[-1]["rss_kb"], min(x["load1"] for x in soak), max(x["load1"] for x in soak))]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
say "results in $OUT"
