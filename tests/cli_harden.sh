#!/usr/bin/env bash
# Hostile and degenerate inputs to the CLI (issue 13): files planted beside
# the output, outputs that are devices or FIFOs, diverging runs, DP-SGD
# resume, paths that need escaping in JSON, odd option values. Each run is a
# few batches of Fashion-MNIST, so the whole script takes seconds.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin harden
TINY="--data fashion-mnist --limit 128 --test-limit 64 --batch 64 --threads 1 --quiet"
# meta FILE KEY [PYEXPR]: the model's __metadata__ "deepc.KEY", parsed as JSON
# (must parse), printed whole or as PYEXPR of it (v)
meta() {
  python3 - "$1" "$2" "${3:-v}" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
v = json.loads(json.loads(b[8:8 + n])['__metadata__']['deepc.' + sys.argv[2]])
r = eval(sys.argv[3], {'v': v})
print(r if isinstance(r, str) else json.dumps(r))
PY
}

# --- the --out probe never touches an existing file (bug 3) -------------------
echo "user data" > "$T/a.safetensors.probe"
expect_ok "train beside a user's .probe file" "$BIN" train $TINY --epochs 1 --out "$T/a.safetensors"
[ "$(cat "$T/a.safetensors.probe" 2>/dev/null)" = "user data" ] && ok || bad "the user's <out>.probe file was deleted or changed"
echo "precious" > "$T/victim"
ln -s "$T/victim" "$T/b.safetensors.probe"
expect_ok "train beside a planted .probe symlink" "$BIN" train $TINY --epochs 1 --out "$T/b.safetensors"
[ "$(cat "$T/victim")" = "precious" ] && ok || bad "the symlink's target was truncated"
[ -L "$T/b.safetensors.probe" ] && ok || bad "the planted symlink was removed"
ls "$T" | grep -q '\.tmp\.' && bad "temporary file left behind: $(ls "$T")" || ok
expect_err "--out in a missing folder" "cannot open the folder" "$BIN" train $TINY --epochs 1 --out "$T/no/such/m.safetensors"

# --- an --out that is not a regular file is refused up front (bug 4) ----------
mkfifo "$T/fifo"
expect_err "train --out FIFO" "FIFO, not a regular file" timeout 30 "$BIN" train $TINY --epochs 1 --out "$T/fifo"
[ -p "$T/fifo" ] && ok || bad "the FIFO was replaced by a regular file"
expect_err "federate --out FIFO" "FIFO, not a regular file" timeout 30 "$BIN" federate --data fashion-mnist --limit 200 \
  --test-limit 64 --clients 2 --fraction 1 --rounds 1 --local-epochs 1 --out "$T/fifo"
[ -p "$T/fifo" ] && ok || bad "federate replaced the FIFO"
if mknod "$T/dev" c 1 7 2>/dev/null; then # a node of /dev/full's kind, in our folder
  expect_err "train --out device" "character device" "$BIN" train $TINY --epochs 1 --out "$T/dev"
  [ -c "$T/dev" ] && ok || bad "the device node was replaced by a regular file"
else
  echo "  (no device-node check: mknod not permitted here)"
fi
mkdir "$T/adir"
expect_err "train --out directory" "directory" "$BIN" train $TINY --epochs 1 --out "$T/adir"

# --- stale temporary files of a killed writer go at the next save (bug 9) ----
sh -c 'exit 0' & dead=$!; wait $dead
head -c 131072 /dev/zero > "$T/c.safetensors.tmp.$dead"          # the older writer's name
head -c 131072 /dev/zero > "$T/c.safetensors.tmp.$dead.Zx81qA"   # the current one's
echo "mine" > "$T/c.safetensors.tmp.notes"
expect_ok "train after a killed writer" "$BIN" train $TINY --epochs 1 --out "$T/c.safetensors"
[ ! -e "$T/c.safetensors.tmp.$dead" ] && [ ! -e "$T/c.safetensors.tmp.$dead.Zx81qA" ] && ok \
  || bad "stale temporary files left: $(ls "$T" | grep '\.tmp\.')"
[ -e "$T/c.safetensors.tmp.notes" ] && ok || bad "a file outside the writer's pattern was removed"

# --- a diverged run exits non-zero and never saves non-finite weights (bug 6) --
# one step per epoch (64 samples, batch 64), so that the damage is done by the
# epoch's last update, after the last loss was seen. Noise 1e30: one DP step
# leaves finite weights so large that every forward overflows.
ONE="--data fashion-mnist --limit 64 --test-limit 64 --batch 64 --threads 1 --quiet"
expect_err "DP noise 1e30" "diverged" "$BIN" train $ONE --epochs 1 --dp --noise 1e30 --dp-seed 1 --out "$T/dpnan.safetensors"
[ ! -e "$T/dpnan.safetensors" ] && ok || bad "a diverged DP run wrote a checkpoint"
expect_err "lr 1e30" "diverged" "$BIN" train $ONE --epochs 2 --lr 1e30 --out "$T/lrnan.safetensors"
[ ! -e "$T/lrnan.safetensors" ] && ok || bad "a diverged run wrote a checkpoint"
# the previous checkpoint stays the last finite one, and resumes with a sane lr
expect_ok "one sane epoch" "$BIN" train $ONE --epochs 1 --lr 0.01 --out "$T/good.safetensors"
cp "$T/good.safetensors" "$T/good-epoch1.safetensors"
expect_err "resume with lr 1e30" "keeps its last finite state" "$BIN" train --resume "$T/good.safetensors" --epochs 3 --lr 1e30
cmp -s "$T/good.safetensors" "$T/good-epoch1.safetensors" && ok || bad "the diverged resume changed the checkpoint"
expect_ok "resume again with a sane lr" "$BIN" train --resume "$T/good.safetensors" --epochs 2 --lr 0.01
grep -q "loss nan" "$T/out" && bad "resumed run reports a NaN loss: $(cat "$T/out")" || ok
expect_err "federate, client DP noise 1e30" "diverged" "$BIN" federate --data fashion-mnist --limit 200 --test-limit 64 \
  --clients 4 --fraction 0.5 --rounds 1 --local-epochs 1 --client-dp --noise 1e30 --out "$T/fednan.safetensors"
[ ! -e "$T/fednan.safetensors" ] && ok || bad "a diverged federated run wrote its model"

# --- DP-SGD resume: the clip used, the noise source per segment (bug 7) -------
DP="--data fashion-mnist --limit 64 --test-limit 64 --batch 32 --threads 1 --quiet --dp --noise 1"
expect_ok "DP run with the default clip" "$BIN" train $DP --epochs 1 --dp-seed 3 --out "$T/dp.safetensors"
[ "$(meta "$T/dp.safetensors" train_config "v['clip']")" = 1 ] && ok || bad "train_config stores clip $(meta "$T/dp.safetensors" train_config "v['clip']"), not the 1 used"
expect_ok "DP resume without --clip and without --dp-seed" "$BIN" train --resume "$T/dp.safetensors" --epochs 2
grep -q "earlier epochs used seeded noise" "$T/out" && ok || bad "no note about the mixed noise sources: $(cat "$T/out")"
segs=$(meta "$T/dp.safetensors" privacy "[(s['epochs'], s['noise'][:22]) for s in v['segments']]")
[ "$segs" = '[[[1, 1], "ChaCha20 keyed by --dp"], [[2, 2], "ChaCha20 keyed by the "]]' ] && ok || bad "segments: $segs"
noise=$(meta "$T/dp.safetensors" privacy "v['noise']")
case "$noise" in mixed:*"epochs 1-1"*dp-seed*"epochs 2-2"*OS*) ok ;; *) bad "record's noise source: $noise" ;; esac
[ "$(meta "$T/dp.safetensors" privacy "v['steps']")" = "$(meta "$T/dp.safetensors" privacy "sum(s['steps'] for s in v['segments'])")" ] \
  && ok || bad "segment steps do not add up to the record's steps"
expect_err "DP resume with other noise" "accountant covers one setting" "$BIN" train --resume "$T/dp.safetensors" --epochs 3 --noise 2
expect_err "DP resume with another batch" "accountant covers one setting" "$BIN" train --resume "$T/dp.safetensors" --epochs 3 --batch 16
expect_ok "non-DP checkpoint" "$BIN" train $ONE --epochs 1 --out "$T/plain.safetensors"
expect_err "DP on top of non-private epochs" "trained without DP" "$BIN" train --resume "$T/plain.safetensors" --epochs 2 --dp --noise 1
expect_err "DP with --clip 0" "clip norm > 0" "$BIN" train $DP --epochs 1 --clip 0 --out "$T/dp0.safetensors"

# --- federate: client-DP noise source recorded, secure aggregation never keyed
# by the public seeds (bug 7) ------------------------------------------------
TOOLS=$(dirname "$BIN")
FED="--data fashion-mnist --limit 300 --test-limit 64 --clients 4 --fraction 1 --rounds 1 --local-epochs 1 --threads 1"
expect_ok "federate --client-dp --dp-seed --secure-agg" "$BIN" federate $FED --secure-agg --client-dp --noise 0.5 --dp-seed 3 \
  --out "$T/f1.safetensors"
grep -q "warning: --dp-seed makes the client-level DP noise reproducible and NOT secret" "$T/err" && ok \
  || bad "no warning about seeded client-DP noise: $(cat "$T/err")"
case "$(meta "$T/f1.safetensors" privacy "v['noise']")" in *"--dp-seed"*NOT*) ok ;; *) bad "privacy record lacks the seeded noise source: $(meta "$T/f1.safetensors" privacy)" ;; esac
case "$(meta "$T/f1.safetensors" train_config "v.get('secure_agg_keys', '')")" in *"OS CSPRNG"*) ok ;; *) bad "train_config lacks the key source" ;; esac
expect_ok "federate, OS noise" "$BIN" federate $FED --client-dp --noise 0.5 --out "$T/f2.safetensors"
case "$(meta "$T/f2.safetensors" privacy "v['noise']")" in *"by the OS"*) ok ;; *) bad "privacy record: $(meta "$T/f2.safetensors" privacy)" ;; esac
# fresh OS keys every run, yet the same seeds give the same model: the masks cancel exactly
expect_ok "federate again" "$BIN" federate $FED --secure-agg --client-dp --noise 0.5 --dp-seed 3 --out "$T/f3.safetensors"
d=$("$TOOLS/model_diff" "$T/f1.safetensors" "$T/f3.safetensors")
echo "$d" | grep -q "max_abs=0 " && ok || bad "seeded secure-aggregation runs differ: $d"

# --- small ones (bug 10) ------------------------------------------------------
mkdir "$T/folder"
expect_err "a folder without images given to predict" "no image files" "$BIN" predict "$T/good.safetensors" "$T/folder"
grep -q 9223372036854775807 "$T/err" && bad "the size of a directory is reported" || ok
expect_err "a directory given as --reweight" "is a directory" "$BIN" train $ONE --epochs 1 --reweight "$T/folder" --out "$T/rw.safetensors"
expect_ok "a subnormal --clip" "$BIN" train $ONE --epochs 1 --clip 1e-38 --out "$T/sub.safetensors"
expect_err "an underflowing --clip" "too small" "$BIN" train $ONE --epochs 1 --clip 1e-50 --out "$T/sub.safetensors"
expect_err "an overflowing --lr" "too large" "$BIN" train $ONE --epochs 1 --lr 1e39 --out "$T/sub.safetensors"
expect_err "a non-number" "expected a number" "$BIN" train $ONE --epochs 1 --lr 1e-3x --out "$T/sub.safetensors"
# a data path with a quote and a backslash: the model's provenance and the
# --json lines must still be valid JSON holding the path
Q="$T/da\"ta\\set"
mkdir "$Q"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  ln -s "/usr/share/datasets/fashion-mnist/$f.gz" "$Q/$f.gz"
done
expect_ok "train on a quoted path" "$BIN" train --data "$Q" --limit 64 --test-limit 64 --batch 64 --threads 1 --epochs 1 --json \
  --out "$Q/m\"odel.safetensors"
prov=$(meta "$Q/m\"odel.safetensors" provenance "v['data']")
[ "$prov" = "$Q/train-images-idx3-ubyte.gz" ] && ok || bad "provenance data path: '$prov'"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]; d=json.loads(open(sys.argv[1]).readlines()[-1]); sys.exit(d["out"]!=sys.argv[2])' \
  "$T/out" "$Q/m\"odel.safetensors" && ok || bad "train --json lines are not JSON with the path: $(cat "$T/out")"
cp "$(dirname "$0")/../examples/boot.png" "$Q/bo\"ot.png"
expect_ok "predict --json on a quoted path" "$BIN" predict "$Q/m\"odel.safetensors" "$Q/bo\"ot.png" --json
python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); sys.exit(d["path"]!=sys.argv[2])' "$T/out" "$Q/bo\"ot.png" \
  && ok || bad "predict --json is not JSON with the path: $(cat "$T/out")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
