#!/usr/bin/env bash
# bench/torch_env.sh — the anchor environment: PyTorch's PyPI wheel (torch 2.x,
# MKL + oneDNN) and ONNX Runtime in bench/.venv (git-ignored).
#
#   bash bench/torch_env.sh          # create or complete bench/.venv, print versions
#   bench/.venv/bin/python ...       # then use it
#
# Installs from PyPI only (pip's default index): torch, numpy, onnx,
# onnxscript (torch 2.x's ONNX exporter needs it) and onnxruntime. PyPI's
# Linux x86_64 torch wheel depends on NVIDIA's CUDA libraries (several GB
# of nvidia-* wheels) even though nothing here uses a GPU; the CPU-only
# wheel is not on PyPI, so this script accepts the download and says so
# before it starts.
#
# Idempotent: a venv that already imports every package is left as it is
# (no pip call at all); otherwise only the missing packages are installed.
# Python: pyenv's python3 (/root/.pyenv/shims/python3) if it can create a
# venv, else Debian's /usr/bin/python3 (apt-get install python3-venv when
# ensurepip is missing). PYTHON=/path/to/python3 overrides the choice.
# torch.compile additionally needs a C++ compiler and the interpreter's
# Python.h (pyenv's build has it; Debian's needs python3-dev).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=bench/.venv
die() { echo "bench/torch_env.sh: $*" >&2; exit 1; }

# pip package names; each is also the name it is imported by.
PKGS=(torch numpy onnx onnxscript onnxruntime)

pick_python() {
    local c
    for c in ${PYTHON:-} /root/.pyenv/shims/python3 /usr/bin/python3; do
        [[ -n $c && -x $c ]] || continue
        if "$c" -c 'import venv, ensurepip' 2>/dev/null; then echo "$c"; return 0; fi
    done
    if [[ -x /usr/bin/python3 && $(id -u) == 0 ]]; then
        local v
        v=$(/usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        echo "installing python3-venv for Debian's python3 ..." >&2
        apt-get install -y "python$v-venv" >/dev/null 2>&1 || apt-get install -y python3-venv >/dev/null ||
            die "apt-get install python3-venv failed"
        /usr/bin/python3 -c 'import venv, ensurepip' && { echo /usr/bin/python3; return 0; }
    fi
    die "no python3 that can create a venv (tried ${PYTHON:-} /root/.pyenv/shims/python3 /usr/bin/python3)"
}

if [[ ! -x $VENV/bin/python ]]; then
    PY=$(pick_python)
    echo "creating $VENV with $PY ($("$PY" --version 2>&1))" >&2
    "$PY" -m venv "$VENV" || die "$PY -m venv $VENV failed"
fi
VPY=$VENV/bin/python

# One interpreter start for the check (importing torch takes seconds).
read -r -a missing < <("$VPY" -c '
import importlib.util, sys
print(" ".join(p for p in sys.argv[1:] if importlib.util.find_spec(p) is None))' "${PKGS[@]}")
if ((${#missing[@]})); then
    echo "installing from PyPI into $VENV: ${missing[*]}" >&2
    if [[ " ${missing[*]} " == *" torch "* ]]; then
        echo "NOTE: PyPI's torch wheel for Linux pulls NVIDIA CUDA libraries (several GB of" >&2
        echo "      nvidia-* wheels) that a CPU-only benchmark never uses; PyPI has no CPU-only" >&2
        echo "      wheel, and no other index is used. Expect a few GB of download and disk." >&2
    fi
    "$VPY" -m pip install --upgrade pip >/dev/null || die "pip upgrade failed"
    "$VPY" -m pip install "${missing[@]}" || die "pip install ${missing[*]} failed"
else
    echo "$VENV already has ${PKGS[*]}: nothing to install" >&2
fi

"$VPY" - <<'EOF'
import re, sys
import numpy, onnx, onnxruntime, torch
print(f"python       {sys.version.split()[0]} ({sys.executable})")
print(f"torch        {torch.__version__}")
print(f"numpy        {numpy.__version__}")
print(f"onnx         {onnx.__version__}")
print(f"onnxruntime  {onnxruntime.__version__} providers={onnxruntime.get_available_providers()}")
cfg = torch.__config__.show()
print(f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()}")
print(f"torch MKL available: {torch.backends.mkl.is_available()}, "
      f"oneDNN (mkldnn) available: {torch.backends.mkldnn.is_available()}, "
      f"OpenMP: {torch.backends.openmp.is_available()}")
for line in cfg.splitlines():
    if re.search(r"Intel\(R\)|MKL-DNN|oneDNN|CPU capability|OpenMP", line):
        print("  " + line.strip()[:160])
    elif "Build settings" in line:
        keep = [kv for kv in re.findall(r"(\w+=[^,]*)", line)
                if kv.split("=")[0] in ("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN",
                                        "USE_OPENMP", "TORCH_VERSION", "USE_CUDA")]
        print("  - build: " + ", ".join(keep))
EOF
