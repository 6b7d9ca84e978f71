#!/usr/bin/env bash
# cli_json.sh — one JSON vocabulary across every verb's --json (README,
# "JSON output"): each verb's output is parsed (one object per line, cJSON
# escaping intact), the shared names are checked where they must appear
# (accuracy, loss, n, split, epoch/epochs, round/rounds, seconds, epsilon,
# class, name, probability, path, out), no other spelling of them exists
# anywhere (acc, test_acc, prob, ...), and nothing "not measured" is -1:
# it is null. Also: the epsilon train --dp reports is the one deepc privacy
# computes for the same epochs, batch and data size.
. "$(dirname "$0")/lib_cli.sh"
cli_begin json
BIN=${DEEPC_BIN:?}
SRC=${DEEPC_SOURCE_DIR:?}
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
D="--data fashion-mnist --limit 600 --test-limit 200 --threads 2"
J="$T/json"; mkdir -p "$J"

run() { local name=$1; shift; if "$@" > "$J/$name.jsonl" 2>"$T/err"; then ok; else bad "$name (exit $?): $(cat "$T/err")"; fi; }
run train "$BIN" train $D --epochs 2 --batch 50 --lr 0.02 --json --out "$T/m.safetensors"
run train_val "$BIN" train $D --epochs 1 --batch 50 --val-split 0.2 --json --out "$T/v.safetensors"
run train_dp "$BIN" train $D --epochs 2 --batch 70 --dp --noise 1.0 --dp-seed 1 --json --out "$T/dp.safetensors"
E="--data fashion-mnist --limit 200 --threads 2"  # the test split's first 200, as train's --test-limit 200
run eval "$BIN" eval "$T/m.safetensors" $E --json
run predict "$BIN" predict "$T/m.safetensors" "$SRC/examples/boot.png" --json
run explain "$BIN" explain "$T/m.safetensors" --index 3 --data fashion-mnist --method ig --steps 8 --json --faithfulness --out "$T/ig.png"
run audit "$BIN" audit "$T/m.safetensors" $E --groups builtin:parity --json
run federate "$BIN" federate $D --clients 4 --fraction 0.5 --rounds 2 --local-epochs 1 --eval-every 2 --json --out "$T/f.safetensors"
run privacy "$BIN" privacy --epochs 2 --batch 70 --n 600 --noise 1.0 --json
run summary "$BIN" summary lenet5 --json
"$BIN" summary "$T/m.safetensors" --json > /dev/null 2>&1 && ok || bad "summary of a model file"
python3 - "$T/m.safetensors" "$T/sd.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
# a plain state_dict: the tensors only (no optimizer state), no deepc metadata
out, parts, off = {"__metadata__": {"format": "pt"}}, [], 0
for k, v in h.items():
    if k == "__metadata__" or k.startswith("optim."):
        continue
    a, z = v["data_offsets"]
    parts.append(data[a:z])
    out[k] = dict(v, data_offsets=[off, off + z - a])
    off += z - a
hb = json.dumps(out).encode()
hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(parts))
PY
run import "$BIN" import "$T/sd.safetensors" --arch lenet5 --mean 0.2860 --std 0.3530 --json --out "$T/i.safetensors"

python3 - "$J" <<'PY' && ok || bad "the JSON vocabulary (see above)"
import json, math, os, sys
J = sys.argv[1]
out = {}
for f in sorted(os.listdir(J)):
    lines = open(os.path.join(J, f)).read().splitlines()
    assert lines, f"{f}: no output"
    out[f[:-6]] = [json.loads(l) for l in lines]  # one object per line, valid JSON
FORBIDDEN = {"acc", "test_acc", "train_acc", "val_acc", "prob", "probs", "test_accuracy_pct", "held_out", "heldout",
             "image", "top"}
MEASURED = ("accuracy", "loss", "epsilon")  # never -1 for "not measured": null

def walk(v, where):
    if isinstance(v, dict):
        for k, x in v.items():
            assert k not in FORBIDDEN, f"{where}: key {k!r} is another spelling of a shared name"
            bad_words = {"acc", "accs", "prob", "probs", "heldout"} & set(k.split("_"))
            assert not bad_words, f"{where}: {k!r}: spelled {bad_words} (accuracy, probability, val/test)"
            if k.endswith(MEASURED) or k in ("label", "row"):
                y = x["value"] if isinstance(x, dict) else x  # audit's summaries: {"value": ..., ...}
                assert y is None or (isinstance(y, (int, float)) and y != -1), f"{where}: {k} = {x!r} (null, not -1)"
            if isinstance(x, float):
                assert math.isfinite(x)
            walk(x, f"{where}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, f"{where}[{i}]")

for verb, objs in out.items():
    for i, o in enumerate(objs):
        walk(o, f"{verb}[{i}]")

def has(o, *keys):
    for k in keys:
        assert k in o, f"missing {k!r} in {json.dumps(o)[:300]}"

# train: epoch events with split-qualified figures, a done event reporting one split
ep = [o for o in out["train"] if o["event"] == "epoch"]
assert len(ep) == 2 and [o["epoch"] for o in ep] == [1, 2] and all(o["epochs"] == 2 for o in ep)
for o in ep:
    has(o, "train_loss", "train_accuracy", "val_accuracy", "test_accuracy", "seconds", "lr", "epsilon")
    assert o["val_accuracy"] is None and 0 <= o["test_accuracy"] <= 1 and o["epsilon"] is None
done = out["train"][-1]
assert done["event"] == "done" and done["split"] == "test" and done["n"] == 200
has(done, "accuracy", "loss", "seconds", "out", "epochs")
assert done["accuracy"] == ep[-1]["test_accuracy"], "the last epoch's test figure is the final one"
ev = [o for o in out["train_val"] if o["event"] == "epoch"][0]
assert ev["test_accuracy"] is None and 0 <= ev["val_accuracy"] <= 1, ev
# eval, audit, federate's done: one split: split, n, accuracy (and loss)
e = out["eval"][0]
has(e, "split", "n", "accuracy", "loss", "top_k_accuracy", "classes", "per_class")
assert e["n"] == 200 and e["split"] == "test" and abs(e["accuracy"] - done["accuracy"]) < 1e-12
assert all("accuracy" in b for b in e["calibration"]["reliability"])
a = out["audit"][0]
has(a, "n", "accuracy", "split")
assert abs(a["accuracy"] - e["accuracy"]) < 1e-12
rounds = [o for o in out["federate"] if o["event"] == "round"]
assert [r["round"] for r in rounds] == [1, 2] and all(r["rounds"] == 2 for r in rounds)
assert rounds[0]["test_accuracy"] is None and rounds[0]["test_loss"] is None, "round 1 is not evaluated: null"
assert 0 <= rounds[1]["test_accuracy"] <= 1 and rounds[1]["epsilon"] is None
fd = out["federate"][-1]
assert fd["event"] == "done" and fd["split"] == "test" and fd["n"] == 200
has(fd, "accuracy", "loss", "seconds", "out")
# predict and explain: class, name, probability
p = out["predict"][0]
has(p, "index", "path", "row", "label", "class", "name", "top_k", "probabilities", "logits")
assert p["index"] == 0 and p["row"] is None and p["label"] is None
assert all(set(t) == {"class", "name", "probability"} for t in p["top_k"])
x = out["explain"][0]
has(x, "class", "name", "probability", "target", "label", "seconds", "faithfulness")
assert isinstance(x["label"], int) and 0 <= x["label"] <= 9
pr = out["privacy"][0]
has(pr, "epsilon", "delta", "steps", "n", "batch", "epochs", "sample_rate", "noise")
assert pr["steps"] == 18, pr  # 2 epochs of round(600/70) = 9 lots (Opacus would count int(2 / (70/600)) = 17)
# train --dp reports what deepc privacy computes for the same run
dp = [o for o in out["train_dp"] if o["event"] == "epoch"]
# (composed epoch by epoch in train: the last digits differ; one step more or less would move the third)
assert dp[-1]["epsilon"] is not None and abs(dp[-1]["epsilon"] - pr["epsilon"]) < 1e-7 * pr["epsilon"], \
    (dp[-1]["epsilon"], pr["epsilon"])
s = out["summary"][0]
has(s, "params", "macs", "nodes", "classes")
i = out["import"][0]
has(i, "params", "out", "norm")
assert i["params"] == s["params"] == 61706
print(f"  {sum(len(v) for v in out.values())} JSON objects from {len(out)} runs of {len(set(k.split('_')[0] for k in out))} verbs: one vocabulary")
PY
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
