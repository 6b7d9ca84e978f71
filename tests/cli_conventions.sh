#!/usr/bin/env bash
# cli_conventions.sh — the command line's conventions: --version; "did you
# mean" for a mistyped verb or option; one meaning per flag name across
# verbs (the same argument type everywhere, retired spellings gone); --data
# help naming only the data sets installed here; the layer table and the
# progress bar within 80 columns (the bar on a real terminal, redrawn in
# place); "test acc" / "val acc" in the log, never "held-out"; and the loud
# warning for a model file without normalisation, silenced by --norm (which
# restores the file's accuracy) or --no-norm.
. "$(dirname "$0")/lib_cli.sh"
cli_begin conventions
BIN=${DEEPC_BIN:?}
SRC=${DEEPC_SOURCE_DIR:?}
VERSION=$(sed -n 's/^#define DC_VERSION "\(.*\)"/\1/p' "$SRC/include/deepc.h")
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }

expect_ok "--version" "$BIN" --version
[ "$(cat "$T/out")" = "deepc $VERSION" ] && ok || bad "--version says '$(cat "$T/out")', deepc.h says $VERSION"
expect_err "a mistyped verb" "did you mean train?" "$BIN" trian
expect_err "a mistyped option" "did you mean --epochs?" "$BIN" train --epoch 3
expect_err "a transposition" "did you mean --batch?" "$BIN" train --bacth 3
expect_err "an old flag name" "did you mean --top-k?" "$BIN" predict m.safetensors x.png --top 3
expect_err "far from everything" "unknown option --zzzzzz (see" "$BIN" eval m.safetensors --zzzzzz

# one meaning per flag name: every verb's options with their argument kinds
verbs=$("$BIN" --help | awk '/^verbs:/{v=1; next} v && NF {print $1}')
for v in $verbs; do "$BIN" "$v" --help > "$T/help_$v" 2>&1 || bad "$v --help"; done
python3 - "$T" $verbs <<'PY' && ok || bad "flag names across verbs (see above)"
import re, sys
t, verbs = sys.argv[1], sys.argv[2:]
kinds = {}
for v in verbs:
    for line in open(f"{t}/help_{v}"):
        m = re.match(r"\s+--([a-z0-9-]+)( [A-Z]+)?\s", line)
        if m:
            kinds.setdefault(m.group(1), {}).setdefault((m.group(2) or "").strip() or "flag", []).append(v)
# deepc privacy reads its numbers as text (doubles): S, X and N are all "a value" there
norm = lambda k: "value" if k in ("S", "X", "N", "NAME") else k
clash = {f: k for f, k in kinds.items() if len({norm(x) for x in k}) > 1}
assert not clash, f"one flag, several kinds of argument: {clash}"
for retired in ("top", "output", "input", "test-acc"):
    assert retired not in kinds, f"--{retired} is still an option of {kinds[retired]}"
# augmentation only (explain: --upscale); finetune, tune and prune take train's options from one table
assert set(sum(kinds["scale"].values(), [])) <= {"train", "finetune", "tune", "prune"}, kinds["scale"]
split_users = set(sum(kinds["split"].values(), []))
# --split picks test or train everywhere; federate deals its clients by --partition
assert split_users <= {"eval", "audit", "report", "explain", "visualize"}, split_users
print(f"  {len(kinds)} option names over {len(verbs)} verbs, one kind of argument each")
PY
# --data help: only the named sets installed here
grep -- "--data" "$T/help_train" > "$T/d"
grep -q "fashion-mnist" "$T/d" && ok || bad "train --help does not name fashion-mnist: $(cat "$T/d")"
if [ -d /usr/share/datasets/mnist ]; then grep -q "mnist, " "$T/d" && ok || bad "mnist installed but not named"
else grep -qE "(^|[ ,])mnist([ ,]|$)" "$T/d" && bad "train --help names mnist, which is not installed: $(cat "$T/d")" || ok; fi

# 80 columns: the layer table, in summary and in train's log
for a in "lenet5" "resnet20 --input-shape 3,32,32" "resnet18 --input-shape 3,64,64"; do
  "$BIN" summary $a > "$T/s" && awk 'length($0) > 79 {exit 1}' "$T/s" && ok || bad "summary $a is wider than 79 columns"
done
expect_ok "train log" "$BIN" train --data fashion-mnist --limit 300 --test-limit 100 --epochs 1 --threads 2 --out "$T/m.safetensors"
awk '!/\// && length($0) > 79 {exit 1}' "$T/out" && ok || bad "train's log (lines without a path) is wider than 79 columns"
grep -q "test acc" "$T/out" && ! grep -qi "held-out" "$T/out" && ok || bad "the log says test acc: $(cat "$T/out")"
expect_ok "train --val-split log" "$BIN" train --data fashion-mnist --limit 300 --val-split 0.2 --epochs 1 --threads 2 --out "$T/v.safetensors"
grep -q "val acc" "$T/out" && ok || bad "with --val-split the log says val acc: $(cat "$T/out")"
# the progress bar on a terminal 80 columns wide: every redraw within 79 columns
script -qfec "stty cols 80 rows 24; $BIN train --data fashion-mnist --limit 2000 --test-limit 100 --epochs 1 --batch 8 --threads 1 --out $T/p.safetensors" "$T/tty.log" > /dev/null 2>&1
python3 - "$T/tty.log" <<'PY' && ok || bad "progress bar (see above)"
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
frames = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f) for f in re.split(r"[\r\n]", raw)]
bars = [f for f in frames if "ETA" in f]
assert bars, "no progress bar drawn on the terminal"
wide = [f for f in bars if len(f) > 79]
assert not wide, f"{len(wide)} of {len(bars)} frames wider than 79 columns: {wide[0]!r}"
print(f"  {len(bars)} progress-bar frames, the widest {max(map(len, bars))} columns")
PY

# a model file without normalisation metadata: loud warning, --norm, --no-norm
python3 - "$T/m.safetensors" "$T/nonorm.safetensors" > "$T/norm" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
norm = json.loads(h["__metadata__"].pop("deepc.norm"))
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
print(f'{norm["mean"]:.9g},{norm["std"]:.9g}')
PY
acc() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1"; }
"$BIN" eval "$T/m.safetensors" --data fashion-mnist --limit 500 --json > "$T/a.json" 2>"$T/e0" && ok || bad "eval the model"
"$BIN" eval "$T/nonorm.safetensors" --data fashion-mnist --limit 500 --json > "$T/b.json" 2>"$T/e1" && ok || bad "eval without norm"
grep -q "WARNING: .*nonorm.safetensors has no input normalisation" "$T/e1" && grep -q -- "--norm MEAN,STD" "$T/e1" && ok \
  || bad "no loud warning: $(cat "$T/e1")"
[ ! -s "$T/e0" ] && ok || bad "a model with normalisation warns: $(cat "$T/e0")"
"$BIN" eval "$T/nonorm.safetensors" --data fashion-mnist --limit 500 --json --norm "$(cat "$T/norm")" > "$T/c.json" 2>"$T/e2" && ok || bad "--norm"
[ ! -s "$T/e2" ] && [ "$(acc "$T/c.json")" = "$(acc "$T/a.json")" ] && ok || bad "--norm $(cat "$T/norm") gives $(acc "$T/c.json"), the file with its metadata $(acc "$T/a.json")"
"$BIN" eval "$T/nonorm.safetensors" --data fashion-mnist --limit 500 --json --no-norm > "$T/d.json" 2>"$T/e3" && [ ! -s "$T/e3" ] && ok || bad "--no-norm still warns: $(cat "$T/e3")"
echo "  accuracy on 500 test images: with the file's normalisation $(acc "$T/a.json"), without $(acc "$T/b.json")"
expect_err "--norm and --no-norm together" "contradict" "$BIN" eval "$T/nonorm.safetensors" --norm 0.5,0.5 --no-norm
expect_err "--norm with three values" "--norm '1,2,3'" "$BIN" predict "$T/nonorm.safetensors" "$SRC/examples/boot.png" --norm 1,2,3
expect_err "--norm for the wrong channel count" "give one mean and one std" "$BIN" eval "$T/nonorm.safetensors" --norm 0.1,0.2,0.3,0.4
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
