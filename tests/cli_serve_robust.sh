#!/usr/bin/env bash
# Robustness of `deepc serve` against malformed HTTP (tests/cli_serve_client.py
# fuzz): truncated request lines and headers, huge and negative
# Content-Length, bodies shorter than declared, invalid and oversized chunked
# encoding, huge headers and URLs, 30 slowloris clients while good requests
# go on, random garbage and mutations of a good request (bounded: at most
# 5000 inputs in DEEPC_SERVE_FUZZ_SECONDS, default 4 s), connect/close storms.
# The server must keep answering, never answer 500, keep its memory bounded,
# and still exit 0 on SIGTERM. Bound to 127.0.0.1 on a free port.
# Under AddressSanitizer: DEEPC_BIN=build-asan/deepc bash tests/cli_serve_robust.sh
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
PY=/usr/bin/python3
source "$(dirname "$0")/lib_cli.sh"
cli_begin serve-robust
PID=""
trap '[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; rm -rf "$T"' EXIT
expect_ok "train" "$BIN" train --model lenet5 --data fashion-mnist --limit 1000 --test-limit 200 --epochs 1 --threads 2 --out "$T/m.safetensors"
"$BIN" serve "$T/m.safetensors" --port 0 --idle-timeout 2 --max-header 8192 >"$T/s.out" 2>"$T/s.log" &
PID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/s.log" | head -1)
  [ -n "$PORT" ] && break; sleep 0.1
done
[ -n "$PORT" ] && ok || { bad "server did not start: $(cat "$T/s.log")"; echo "$pass passed, $fail failed"; exit 1; }
$PY "$SRC/tests/cli_serve_client.py" fuzz "$PORT" "$PID" "${DEEPC_SERVE_FUZZ_SECONDS:-4}" && ok || bad "fuzz"
kill -0 "$PID" 2>/dev/null && ok || bad "the server died: $(tail -5 "$T/s.log")"
curl -s "http://127.0.0.1:$PORT/metrics" > "$T/metrics"
grep -q 'code="500"' "$T/metrics" && bad "a 500 was counted" || ok
# every request the fuzzer began has been accounted for: only this /metrics is in flight
sleep 2.5  # the connections the fuzzer left half-open time out (--idle-timeout 2)
curl -s "http://127.0.0.1:$PORT/metrics" > "$T/metrics"
grep -q '^deepc_inflight_requests 1$' "$T/metrics" && ok || bad "requests left in flight: $(grep inflight "$T/metrics")"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ $rc -eq 0 ] && ok || bad "SIGTERM exit $rc: $(tail -3 "$T/s.log")"
grep -qi "Sanitizer\|runtime error" "$T/s.log" && bad "sanitizer report: $(grep -i -m3 'sanitizer\|runtime error' "$T/s.log")" || ok
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
