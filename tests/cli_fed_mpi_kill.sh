#!/usr/bin/env bash
# `deepc federate --secure-agg` over `mpirun --oversubscribe -n 4` losing a
# client rank mid-round (rank 0 the server; 6 clients on ranks 1-3, two
# each; every round selects all six; threshold 4 of 6):
#  - rank 2 killed (SIGKILL) while round 2 trains, under mpirun
#    --enable-recovery: the server drops it after --round-timeout 6, round 2
#    completes from the survivors' shares without its two clients, round 3
#    runs with the four left, the model is written;
#  - the same with --threshold 6: round 2 is reported LOST, and so is the
#    round after (four clients cannot make six), the model stays that of
#    round 1;
#  - rank 2 stopped (SIGSTOP) instead: dropped alike; when it is resumed
#    after the run, it reads that it was dropped and exits, so the job ends;
#  - without --enable-recovery, Open MPI's launcher ends the whole job when
#    a rank dies (the documented limit): it must end, not hang.
# No rank hangs: every mpirun runs under `timeout 120` and must end well
# before. With --enable-recovery mpirun exits 0 whatever the ranks return,
# so the checks read rank 0's log and the model file.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin fedkill
if ! command -v mpirun >/dev/null; then
  echo "mpirun not found: install openmpi-bin (scripts/setup.sh does)"; echo "0 passed, 1 failed"; exit 1
fi
# DEEPC_TEST_SLOW=K (scripts/sanitize.sh sets 5) stretches every time limit K
# times: under ASan a round's local training takes longer than 6 s
S=${DEEPC_TEST_SLOW:-1}
# 8 local epochs: a round's training (about 0.6 s on a 2-core guest) must
# outlast the time from rank 0's round-1 line to the signal (polled every
# 50 ms, then pgrep); with 2 (0.17 s a round, a Zen 5 guest) the signal
# sometimes came after rank 2 had sent its round-2 inputs
FED="--data fashion-mnist --limit 3000 --test-limit 300 --clients 6 --fraction 1 --rounds 3 --local-epochs 8 --partition iid --seed 4 --secure-agg --round-timeout $((6 * S)) --json"

# start NAME MPIRUN-FLAGS EXTRA: runs the job in the background ($job: the timeout's pid)
start() {
  local name=$1 flags=$2; shift 2
  timeout $((120 * S)) mpirun --allow-run-as-root --oversubscribe $flags -n 4 "$BIN" federate $FED "$@" --out "$T/$name.safetensors" \
    > "$T/$name.log" 2> "$T/$name.err" &
  job=$!
}
# rank_pid R: the pid of rank R of the job started last
rank_pid() {
  local mp p
  for i in $(seq 1 100); do mp=$(pgrep -P $job mpirun) && break; sleep 0.05; done
  for p in $(pgrep -P "$mp"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo $p; return; }
  done
}
# after_round N: waits until rank 0 has logged round N
after_round() {
  for i in $(seq 1 $((600 * S))); do grep -q "\"round\":$1," "$T/$2.log" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
finish() { # waits for the job; $rc its status, $secs how long since the signal
  local t0=$(date +%s); wait $job; rc=$?; secs=$(( $(date +%s) - t0 ))
}
field() { grep "\"round\":$2," "$T/$1.log" | sed "s/.*\"$3\":\([^,}]*\).*/\1/"; }

# --- killed: the round completes from the survivors ---------------------------
start kill "--enable-recovery"
after_round 1 kill || bad "round 1 never came: $(cat "$T/kill.err")"
p=$(rank_pid 2); [ -n "$p" ] && kill -KILL "$p" && ok || bad "could not find rank 2"
finish
echo "  rank 2 killed in round 2: the job ended after ${secs} s (exit $rc)"
[ $rc -ne 124 ] && [ $secs -le $((60 * S)) ] && ok || bad "the job hung (exit $rc, ${secs} s)"
for r in 1 2 3; do echo "    round $r: dropped $(field kill $r dropped), lost $(field kill $r lost), note $(field kill $r note)"; done
[ "$(field kill 1 dropped)" = 0 ] && [ "$(field kill 2 dropped)" = 2 ] && [ "$(field kill 2 lost)" = false ] && ok \
  || bad "round 2 should complete without rank 2's 2 clients: $(cat "$T/kill.log")"
grep '"round":2,' "$T/kill.log" | grep -q 'rank 2 dropped (no answer within 6 s' && ok || bad "round 2's note names rank 2"
[ "$(field kill 3 dropped)" = 2 ] && [ "$(field kill 3 lost)" = false ] && [ "$(field kill 3 ranks_lost)" = 1 ] && ok \
  || bad "round 3 runs with the 4 clients left"
grep -q '"event":"done".*"ranks_lost":1,"rounds_lost":0' "$T/kill.log" && "$BIN" eval "$T/kill.safetensors" --data fashion-mnist --limit 100 > /dev/null 2>&1 \
  && ok || bad "a usable model is written: $(tail -1 "$T/kill.log")"

# --- killed with threshold 6 of 6: the round is lost, and says so -------------
start lost "--enable-recovery" --threshold 6
after_round 1 lost || bad "round 1 never came: $(cat "$T/lost.err")"
p=$(rank_pid 2); [ -n "$p" ] && kill -KILL "$p" && ok || bad "could not find rank 2"
finish
[ $rc -ne 124 ] && [ $secs -le $((60 * S)) ] && ok || bad "the job hung (exit $rc, ${secs} s)"
echo "  threshold 6: rounds lost: $(for r in 1 2 3; do echo -n "$(field lost $r lost) "; done)"
[ "$(field lost 1 lost)" = false ] && [ "$(field lost 2 lost)" = true ] && [ "$(field lost 3 lost)" = true ] && ok \
  || bad "rounds 2-3 should be lost: $(cat "$T/lost.log")"
[ "$(field lost 1 test_accuracy)" = "$(field lost 3 test_accuracy)" ] && ok || bad "lost rounds changed the model"
grep -q '"rounds_lost":2' "$T/lost.log" && [ -s "$T/lost.safetensors" ] && ok || bad "the run ends with 2 rounds lost and a model"

# --- stopped, then resumed after the run: it learns it was dropped -------------
start stop "--enable-recovery"
after_round 1 stop || bad "round 1 never came: $(cat "$T/stop.err")"
p=$(rank_pid 2); [ -n "$p" ] && kill -STOP "$p" && ok || bad "could not find rank 2"
for i in $(seq 1 $((600 * S))); do grep -q '"event":"done"' "$T/stop.log" 2>/dev/null && break; sleep 0.05; done
grep -q '"event":"done".*"ranks_lost":1' "$T/stop.log" && [ "$(field stop 2 dropped)" = 2 ] && ok \
  || bad "the run completes without the stopped rank: $(cat "$T/stop.log")"
[ -n "$p" ] && kill -CONT "$p"
finish
echo "  rank 2 stopped, resumed after the run: the job ended ${secs} s later (exit $rc)"
[ $rc -ne 124 ] && [ $secs -le $((30 * S)) ] && ok || bad "the resumed rank did not exit (exit $rc, ${secs} s)"

# --- without recovery the launcher ends the job (documented) ------------------
start norec ""
after_round 1 norec || bad "round 1 never came: $(cat "$T/norec.err")"
p=$(rank_pid 2); [ -n "$p" ] && kill -KILL "$p" && ok || bad "could not find rank 2"
finish
echo "  without --enable-recovery: the job ended after ${secs} s (exit $rc)"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $secs -le $((30 * S)) ] && ok || bad "expected mpirun to end the job (exit $rc, ${secs} s)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
