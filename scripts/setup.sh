#!/usr/bin/env bash
# The one install-and-build script: README, scripts/*.sh and .ci/run call it.
#   bash scripts/setup.sh            install build deps + Fashion-MNIST, build into build/
#   DEEPC_TEST=1 bash scripts/setup.sh    also the tests' peers (Debian's PyTorch; scripts/test.sh sets it)
#   DEEPC_BENCH=1 bash scripts/setup.sh   also PyTorch (Debian's python3-torch) for bench/ and fixtures
#   DEEPC_FUZZ=1 bash scripts/setup.sh    also clang, libFuzzer and libomp for scripts/fuzz.sh (.ci/run sets it)
set -euo pipefail
cd "$(dirname "$0")/.."

# libjpeg62-turbo-dev: JPEG (libjpeg-turbo); libzip-dev: .npz; libcsv-dev: CSV;
# python3-numpy and python3-pil: the loaders' tests compare with NumPy's and PIL's readers
# protobuf-c-compiler + libprotobuf-c-dev: ONNX export/import (code generated from third_party/onnx/onnx.proto)
# python3-venv: the ONNX tests' virtual environment (onnx + onnxruntime from PyPI, scripts/test.sh)
pkgs=(build-essential cmake pkg-config zlib1g-dev libpng-dev libjpeg62-turbo-dev libzip-dev libcsv-dev libmicrohttpd-dev libcjson-dev
      libsodium-dev libopenmpi-dev openmpi-bin chromium dataset-fashion-mnist python3-numpy python3-pil
      protobuf-c-compiler libprotobuf-c-dev python3-venv)
# python3-torch: the tests' PyTorch peer (tests/cli_interop.sh loads deepc's
# models in PyTorch and PyTorch's in deepc; tests/cli_onnx.sh imports
# torch.onnx.export's files); scripts/test.sh sets DEEPC_TEST=1
# gcc-arm-none-eabi + libnewlib-arm-none-eabi + qemu-system-arm: tests/cli_c_export.sh
# builds the exported C for a Cortex-M4 and runs it on QEMU's mps2-an386 board
if [ "${DEEPC_TEST:-0}" = 1 ]; then pkgs+=(python3-torch gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm); fi
# python3-torchvision: the image-folder test also checks against torchvision's ImageFolder + Resize
if [ "${DEEPC_BENCH:-0}" = 1 ]; then pkgs+=(python3-torch python3-torchvision hyperfine python3-venv); fi
# libclang-rt-dev holds libFuzzer and clang's sanitizer runtimes (only a
# Recommends of clang); llvm gives llvm-symbolizer for readable stacks.
if [ "${DEEPC_FUZZ:-0}" = 1 ]; then pkgs+=(clang libclang-rt-dev libomp-dev llvm); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "setup: built build/deepc and the tests" >&2
