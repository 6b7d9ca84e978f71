#!/usr/bin/env bash
# Benchmarks of issue 4 (privacy and scale-out), each printed as a markdown row
# with the command that produced it. Results land in bench/results/privacy_fed/.
#   bash bench/privacy_fed.sh [all|dpcost|dpacc|fedavg|roundspeed|mpi]
# Runs take minutes each on 2 cores (all: ~30-40 min); pick one to rerun.
set -u
cd "$(dirname "$0")/.."
BIN=build/deepc
OUT=bench/results/privacy_fed
mkdir -p "$OUT"
what=${1:-all}
jnum() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" "$1" | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

if [ "$what" = all ] || [ "$what" = dpcost ]; then
  # DP-SGD step vs a non-private step of the same lot size (LeNet-5, lot 256,
  # 1 epoch each, 2 threads): median epoch seconds of 3 runs each, interleaved
  for r in 1 2 3; do
    $BIN train --model lenet5 --batch 256 --lr 0.05 --epochs 1 --threads 2 --json --out /tmp/b.safetensors > "$OUT/plain$r.json"
    $BIN train --model lenet5 --batch 256 --lr 0.05 --epochs 1 --threads 2 --json --dp --noise 1.0 --clip 1.0 --out /tmp/b.safetensors > "$OUT/dp$r.json"
  done
  p=$(for r in 1 2 3; do grep '"event":"epoch"' "$OUT/plain$r.json" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p'; done | median)
  d=$(for r in 1 2 3; do grep '"event":"epoch"' "$OUT/dp$r.json" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p'; done | median)
  echo "| DP-SGD epoch vs non-private epoch (LeNet-5, lot 256, 2 threads, median of 3) | ${d} s vs ${p} s = $(awk -v a="$d" -v b="$p" 'BEGIN{printf "%.2fx", a/b}') | \`bash bench/privacy_fed.sh dpcost\` |" | tee "$OUT/dpcost.md"
fi

if [ "$what" = all ] || [ "$what" = dpacc ]; then
  # DP-SGD accuracy at epsilon <= 3, delta 1e-5 (the tanh CNN of Papernot et al. 2020)
  cmd="$BIN train --model examples/dp_tanh.arch --dp --target-epsilon ${DP_EPS:-3} --delta 1e-5 --clip ${DP_CLIP:-0.1} --batch ${DP_BATCH:-1024} --lr ${DP_LR:-2} --momentum ${DP_MOM:-0.9} --epochs ${DP_EPOCHS:-30} --threads 2 --json --out $OUT/dp.safetensors"
  $cmd > "$OUT/dpacc.json"
  acc=$(jnum "$OUT/dpacc.json" accuracy); eps=$(grep '"event":"epoch"' "$OUT/dpacc.json" | tail -1 | sed -n 's/.*"epsilon":\([0-9.]*\).*/\1/p')
  echo "| DP-SGD test accuracy at eps=$eps, delta=1e-5 | $acc | \`${cmd#$BIN }\` |" | tee "$OUT/dpacc.md"
fi

rounds_to() { # file target -> first round whose test_accuracy >= target, or ">N"
  awk -v t="$2" -F'"test_accuracy":' '/"event":"round"/{split($2,a,","); r++; if (a[1]+0 >= t && !hit) {hit=r}} END{ if (hit) print hit; else print ">" r }' "$1"
}
if [ "$what" = all ] || [ "$what" = fedavg ]; then
  # McMahan et al. Table 2 shape: rounds to reach 85% test accuracy, 100 clients, C = 0.1
  for split in iid shards:2; do
    tag=${split/:/}
    $BIN federate --clients 100 --fraction 0.1 --split $split --algorithm fedavg --local-epochs 5 --local-batch 10 --lr 0.05 --rounds ${FEDAVG_ROUNDS:-150} --threads 2 --json --out /tmp/f.safetensors > "$OUT/fedavg_$tag.json"
    $BIN federate --clients 100 --fraction 0.1 --split $split --algorithm fedsgd --lr ${FEDSGD_LR:-0.5} --rounds ${FEDSGD_ROUNDS:-1500} --eval-every 5 --threads 2 --json --out /tmp/f.safetensors > "$OUT/fedsgd_$tag.json"
    a=$(rounds_to "$OUT/fedavg_$tag.json" 0.85); s=$(rounds_to "$OUT/fedsgd_$tag.json" 0.85)
    echo "| $split | FedSGD (E=1, B=all, lr ${FEDSGD_LR:-0.5}): $s rounds | FedAvg (E=5, B=10, lr 0.05): $a rounds |" | tee "$OUT/fed_$tag.md"
  done
fi

if [ "$what" = all ] || [ "$what" = roundspeed ]; then
  # one round of 10 clients x 600 samples x 5 local epochs (B=10), no evaluation
  $BIN federate --clients 100 --fraction 0.1 --local-epochs 5 --local-batch 10 --rounds 5 --eval-every 1000 --threads 2 --json --out /tmp/f.safetensors > "$OUT/roundspeed.json"
  m=$(grep '"event":"round"' "$OUT/roundspeed.json" | head -4 | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' | median)
  echo "| one FedAvg round, 10 clients x 600 samples x 5 epochs, B=10, 2 threads (median of rounds 1-4) | ${m} s | \`bash bench/privacy_fed.sh roundspeed\` |" | tee "$OUT/roundspeed.md"
fi

if [ "$what" = all ] || [ "$what" = mpi ]; then
  # data-parallel scaling: mpirun -n 2 (1 thread each) vs 1 process with 2 threads
  for r in 1 2 3; do
    $BIN train --epochs 2 --batch 256 --lr 0.05 --threads 2 --json --out /tmp/m1.safetensors > "$OUT/mpi_one$r.json"
    mpirun --allow-run-as-root --oversubscribe -n 2 $BIN train --epochs 2 --batch 256 --lr 0.05 --threads 1 --json --out /tmp/m2.safetensors > "$OUT/mpi_two$r.json"
  done
  one=$(for r in 1 2 3; do grep '"event":"epoch"' "$OUT/mpi_one$r.json" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p'; done | median)
  two=$(for r in 1 2 3; do grep '"event":"epoch"' "$OUT/mpi_two$r.json" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p'; done | median)
  echo "| epoch, batch 256: 1 process x 2 threads vs mpirun -n 2 x 1 thread (median of 6 epochs) | ${one} s vs ${two} s | \`bash bench/privacy_fed.sh mpi\` |" | tee "$OUT/mpi.md"
fi
