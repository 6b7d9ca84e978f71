#!/usr/bin/env bash
# cli_interop.sh — deepc model files and PyTorch, both ways (issue: graph).
#  1. deepc trains a resnet18 (torchvision's names) for a few steps; PyTorch
#     loads the checkpoint with load_state_dict(strict=True) after the one
#     documented filter (drop "optim.*") and classifies as many of 200 test
#     images correctly as deepc does.
#  2. PyTorch trains a resnet8 for a few steps and saves a plain state_dict;
#     `deepc import` makes a deepc model of it and `deepc eval` reproduces
#     PyTorch's accuracy (and `deepc import` refuses what does not fit).
# Needs Debian's python3-torch (scripts/setup.sh installs it for the tests);
# skipped with a message without it.
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_begin interop
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
PY=/usr/bin/python3
if ! $PY -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIPPED: $PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
  echo "0 passed, 0 failed"
  exit 0
fi
N=200
same_preds() { # same count of correctly classified images among the same n
  $PY - "$1" "$2" <<'PYEOF'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("deepc %.4f  torch %.4f" % (a["accuracy"], b["accuracy"]))
# the same number of correct images (torch's accuracy is a float32 mean)
sys.exit(0 if round(a["accuracy"] * a["n"]) == round(b["accuracy"] * b["n"]) and a["n"] == b["n"] else 1)
PYEOF
}

# 1. deepc -> PyTorch (resnet18, torchvision's state_dict names)
expect_ok "deepc trains resnet18" "$BIN" train --model resnet18 --data fashion-mnist --limit 64 --batch 32 --epochs 1 \
  --lr 0.05 --test-limit 100 --threads 2 --out "$T/r18.safetensors"
"$BIN" eval "$T/r18.safetensors" --data fashion-mnist --limit $N --json > "$T/d18.json" 2>"$T/err" && ok || bad "deepc eval resnet18: $(cat "$T/err")"
if $PY "$SRC/tests/interop_torch.py" eval "$T/r18.safetensors" --arch resnet18 --limit $N > "$T/t18.json" 2>"$T/err"; then
  ok; if same_preds "$T/d18.json" "$T/t18.json"; then ok; else bad "resnet18: PyTorch's accuracy differs from deepc's"; fi
else bad "PyTorch strict load of a deepc resnet18: $(tail -3 "$T/err")"; fi

# 2. PyTorch -> deepc (resnet8 state_dict, deepc import)
if $PY "$SRC/tests/interop_torch.py" train-export --arch resnet8 --steps 40 --limit $N --out "$T/sd8.safetensors" > "$T/t8.json" 2>"$T/err"; then
  ok
  read -r MEAN STD < <($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["mean"], d["std"])' "$T/t8.json")
  expect_ok "deepc import resnet8" "$BIN" import "$T/sd8.safetensors" --arch resnet8 --mean "$MEAN" --std "$STD" --out "$T/i8.safetensors"
  "$BIN" eval "$T/i8.safetensors" --data fashion-mnist --limit $N --json > "$T/d8.json" 2>"$T/err" && ok || bad "deepc eval imported: $(cat "$T/err")"
  if same_preds "$T/d8.json" "$T/t8.json"; then ok; else bad "resnet8: deepc's accuracy differs from PyTorch's"; fi
  # refusals: wrong architecture, missing normalisation, missing file
  expect_err "import into the wrong architecture" "layer1.1" "$BIN" import "$T/sd8.safetensors" --arch resnet20 --no-norm --out "$T/x.safetensors"
  expect_err "import without normalisation" "--no-norm" "$BIN" import "$T/sd8.safetensors" --arch resnet8 --out "$T/x.safetensors"
  expect_err "import of a missing file" "cannot open" "$BIN" import "$T/nope.safetensors" --arch resnet8 --no-norm --out "$T/x.safetensors"
  [ ! -e "$T/x.safetensors" ] && ok || bad "a refused import wrote a model file"
else bad "PyTorch train-export: $(tail -3 "$T/err")"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
