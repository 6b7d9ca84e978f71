#!/usr/bin/env bash
# bench/serve_env.sh — the Python server a user would write, for bench/serve.sh:
# FastAPI + uvicorn + ONNX Runtime (+ numpy, Pillow to decode PNG bodies) from
# PyPI in bench/.serve-venv (git-ignored). No torch here: the ONNX files are
# exported with Debian's python3-torch (bench/serve_export_onnx.py).
#
#   bash bench/serve_env.sh        # create or complete the venv, print versions
#
# Idempotent: a venv that imports every package is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=bench/.serve-venv
PKGS=(fastapi uvicorn onnxruntime numpy pillow)
MODS=(fastapi uvicorn onnxruntime numpy PIL)
die() { echo "bench/serve_env.sh: $*" >&2; exit 1; }
if [[ ! -x $VENV/bin/python ]]; then
    PY=""
    for c in ${PYTHON:-} /root/.pyenv/shims/python3 /usr/bin/python3; do
        [[ -n $c && -x $c ]] && "$c" -c 'import venv, ensurepip' 2>/dev/null && { PY=$c; break; }
    done
    [[ -n $PY ]] || die "no python3 that can create a venv (apt-get install python3-venv)"
    echo "creating $VENV with $PY ($("$PY" --version 2>&1))" >&2
    "$PY" -m venv "$VENV" || die "$PY -m venv $VENV failed"
fi
VPY=$VENV/bin/python
missing=()
for i in "${!PKGS[@]}"; do
    "$VPY" -c "import ${MODS[$i]}" 2>/dev/null || missing+=("${PKGS[$i]}")
done
if ((${#missing[@]})); then
    echo "installing from PyPI into $VENV: ${missing[*]}" >&2
    "$VPY" -m pip install -q --upgrade pip >/dev/null || die "pip upgrade failed"
    "$VPY" -m pip install -q "${missing[@]}" || die "pip install ${missing[*]} failed"
fi
"$VPY" - <<'PY'
import sys, fastapi, uvicorn, onnxruntime, numpy, PIL
print(f"python {sys.version.split()[0]}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}, pillow {PIL.__version__}")
PY
