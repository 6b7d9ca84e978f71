#!/usr/bin/env bash
# bench/ssl.sh — the self-supervised and transfer benchmarks of BENCHMARKS.md
# ("Learning from less"), each a function of its own:
#
#   bash bench/ssl.sh label      # 60 labels per class: from scratch vs pretrained (probe, fine-tune)
#   bash bench/ssl.sh probe      # linear probe of the pretrained encoder with all labels
#   bash bench/ssl.sh speed      # pretraining seconds per epoch: deepc vs a PyTorch SimCLR loop
#   bash bench/ssl.sh transfer   # pretrained on classes 0-4, fine-tuned on classes 5-9 with few labels
#   bash bench/ssl.sh all        # all four (default)
#
# Environment: DEEPC (build/deepc), THREADS (2), METHOD (simclr), MODEL
# (lenet5; the encoder of label, probe and transfer, and their from-scratch
# baseline: resnet8 and resnet20 work too; speed always times LeNet-5),
# TEMP (0.2; SimCLR's temperature), PRE_EXTRA and FT_EXTRA (more options for
# pretrain and for every finetune),
# PRE_EPOCHS (30; pretraining epochs), FT_EPOCHS (30), SEEDS ("1 2 3"),
# REPS (3; speed repetitions, alternating deepc and PyTorch), SPEED_LIMIT
# (10000; images per timed epoch), OUT (bench/results/ssl; encoders are reused
# when present, so a second run only fine-tunes; bench/results is git-ignored). PyTorch is bench/.venv's
# (bash bench/torch_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${DEEPC:-build/deepc}
T=${THREADS:-2}
METHOD=${METHOD:-simclr}
MODEL=${MODEL:-lenet5}
TEMP=${TEMP:-0.2}
PRE_EXTRA=${PRE_EXTRA:-}
FT_EXTRA=${FT_EXTRA:-}
PRE_EPOCHS=${PRE_EPOCHS:-30}
FT_EPOCHS=${FT_EPOCHS:-30}
SEEDS=${SEEDS:-1 2 3}
REPS=${REPS:-3}
SPEED_LIMIT=${SPEED_LIMIT:-10000}
OUT=${OUT:-bench/results/ssl}
PY=bench/.venv/bin/python
mkdir -p "$OUT"
FT="--optim adamw --lr 0.001 --weight-decay 0.01 --sched cosine --epochs $FT_EPOCHS --threads $T --json $FT_EXTRA"
# a linear head on frozen features wants a larger step than a whole network
PROBE="--optim adamw --lr 0.02 --sched cosine --epochs $FT_EPOCHS --threads $T --json --freeze backbone $FT_EXTRA"
PRE="--model $MODEL --method $METHOD --temperature $TEMP --epochs $PRE_EPOCHS --batch 256 --threads $T --test-limit 2000 $PRE_EXTRA"

acc() { grep '"event":"done"' "$1" | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/'; } # the test set's, scored once
mean() { awk '{s += $1; n++} END {printf "%.2f", 100 * s / n}'; }
load() { uptime | sed 's/.*load average: //'; }

pretrain() { # $1 = output, rest = extra options
  local out=$1; shift
  if [ -f "$out" ]; then echo "reusing $out"; return; fi
  echo "pretraining $out (load $(load))"
  "$B" pretrain $PRE "$@" --json --out "$out" > "$out.log"
  grep '"event":"done"' "$out.log"
}

label() {
  pretrain "$OUT/enc.safetensors" --data fashion-mnist
  for s in $SEEDS; do
    "$B" finetune "$MODEL" --data fashion-mnist --labels-per-class 60 --seed "$s" $FT --out "$OUT/scratch-$s.safetensors" > "$OUT/scratch-$s.log"
    "$B" finetune "$OUT/enc.safetensors" --data fashion-mnist --labels-per-class 60 --seed "$s" $FT --out "$OUT/ft-$s.safetensors" > "$OUT/ft-$s.log"
    "$B" finetune "$OUT/enc.safetensors" --data fashion-mnist --labels-per-class 60 --seed "$s" $PROBE --out "$OUT/lp-$s.safetensors" > "$OUT/lp-$s.log"
    echo "seed $s: scratch $(acc "$OUT/scratch-$s.log")  pretrained+fine-tune $(acc "$OUT/ft-$s.log")  pretrained+linear probe $(acc "$OUT/lp-$s.log")"
  done
  echo "60 labels/class, mean over seeds ($SEEDS): scratch $(for s in $SEEDS; do acc "$OUT/scratch-$s.log"; done | mean)%," \
       "pretrained+fine-tune $(for s in $SEEDS; do acc "$OUT/ft-$s.log"; done | mean)%," \
       "pretrained+probe $(for s in $SEEDS; do acc "$OUT/lp-$s.log"; done | mean)%"
}

probe() {
  pretrain "$OUT/enc.safetensors" --data fashion-mnist
  "$B" finetune "$OUT/enc.safetensors" --data fashion-mnist --freeze backbone --optim adamw --lr 0.01 --sched cosine \
    --epochs 10 --threads $T --json --out "$OUT/probe-all.safetensors" > "$OUT/probe-all.log"
  "$B" finetune "$MODEL" --data fashion-mnist --freeze backbone --optim adamw --lr 0.01 --sched cosine \
    --epochs 10 --threads $T --json --out "$OUT/probe-random.safetensors" > "$OUT/probe-random.log"
  echo "linear probe, all 60000 labels: pretrained $(acc "$OUT/probe-all.log" | mean)%, random encoder $(acc "$OUT/probe-random.log" | mean)%"
}

speed() {
  [ -x "$PY" ] || { echo "speed: $PY missing (bash bench/torch_env.sh)"; return 1; }
  local d=() p=() dc=() pc=()
  for r in $(seq 1 "$REPS"); do
    echo "rep $r (load $(load))"
    "$B" pretrain --model lenet5 --method simclr --epochs 1 --batch 256 --threads $T --limit "$SPEED_LIMIT" \
      --no-monitor --json --out "$OUT/speed.safetensors" > "$OUT/speed-deepc.log"
    d+=("$(grep '"done"' "$OUT/speed-deepc.log" | sed 's/.*"seconds_per_epoch":\([0-9.]*\).*/\1/')")
    dc+=("$(grep '"done"' "$OUT/speed-deepc.log" | sed 's/.*"cpu_seconds_per_epoch":\([0-9.]*\).*/\1/')")
    "$PY" bench/ssl_torch_simclr.py --threads $T --limit "$SPEED_LIMIT" --epochs 1 > "$OUT/speed-torch.log"
    p+=("$(sed 's/.*"seconds_per_epoch": \([0-9.]*\).*/\1/' "$OUT/speed-torch.log")")
    pc+=("$(sed 's/.*"cpu_seconds_per_epoch": \([0-9.]*\).*/\1/' "$OUT/speed-torch.log")")
    echo "  deepc ${d[-1]} s (cpu ${dc[-1]} s)  torch ${p[-1]} s (cpu ${pc[-1]} s)"
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  local md mp mdc mpc
  md=$(med "${d[@]}"); mp=$(med "${p[@]}"); mdc=$(med "${dc[@]}"); mpc=$(med "${pc[@]}")
  echo "SimCLR epoch of $SPEED_LIMIT images, batch 256, $T threads, medians of $REPS:" \
       "deepc $md s wall / $mdc s cpu, PyTorch $($PY -c 'import torch; print(torch.__version__)') $mp s wall / $mpc s cpu;" \
       "ratio $(awk -v a="$mp" -v b="$md" 'BEGIN {printf "%.2f", a / b}')x wall, $(awk -v a="$mpc" -v b="$mdc" 'BEGIN {printf "%.2f", a / b}')x cpu"
}

transfer() {
  [ -d "$OUT/f04" ] || /usr/bin/python3 bench/ssl_split_classes.py /usr/share/datasets/fashion-mnist "$OUT/f04" 0 5
  [ -d "$OUT/f59" ] || /usr/bin/python3 bench/ssl_split_classes.py /usr/share/datasets/fashion-mnist "$OUT/f59" 5 10
  pretrain "$OUT/enc04.safetensors" --data "$OUT/f04"
  for s in $SEEDS; do
    "$B" finetune "$MODEL" --data "$OUT/f59" --labels-per-class 60 --seed "$s" $FT --out "$OUT/t-scratch-$s.safetensors" > "$OUT/t-scratch-$s.log"
    "$B" finetune "$OUT/enc04.safetensors" --data "$OUT/f59" --labels-per-class 60 --seed "$s" $FT --out "$OUT/t-ft-$s.safetensors" > "$OUT/t-ft-$s.log"
    echo "seed $s: scratch $(acc "$OUT/t-scratch-$s.log")  transferred $(acc "$OUT/t-ft-$s.log")"
  done
  echo "classes 5-9 with 60 labels/class, mean: scratch $(for s in $SEEDS; do acc "$OUT/t-scratch-$s.log"; done | mean)%," \
       "pretrained on classes 0-4 then fine-tuned $(for s in $SEEDS; do acc "$OUT/t-ft-$s.log"; done | mean)%"
}

what=${1:-all}
echo "bench/ssl.sh $what: $(nproc) cores, load $(load), threads $T, model $MODEL, method $METHOD, $PRE_EPOCHS pretraining epochs"
case $what in
  label) label ;;
  probe) probe ;;
  speed) speed ;;
  transfer) transfer ;;
  all) label; probe; speed; transfer ;;
  *) echo "usage: bash bench/ssl.sh [label|probe|speed|transfer|all]"; exit 2 ;;
esac
