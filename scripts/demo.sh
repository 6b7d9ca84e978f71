#!/usr/bin/env bash
# Sets up, trains LeNet-5 on Fashion-MNIST with the seed recipe, evaluates it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build/deepc train --model lenet5 --data fashion-mnist --epochs 10 --batch 64 \
  --lr 0.001 --momentum 0.9 --seed 1 --out lenet5.safetensors
build/deepc eval lenet5.safetensors --data fashion-mnist
