#!/usr/bin/env bash
# bench/tune.sh — the hyperparameter-search benchmarks of BENCHMARKS.md
# ("Learning from less"), on LeNet-5 and Fashion-MNIST, space bench/tune_space.json
# (SPACE=bench/tune_space_aug.json adds random erasing and cropping):
#
#   bash bench/tune.sh compare   # ASHA (eta 3, grace 1) vs random search: 64 trials, budget 9, same space and seed
#   bash bench/tune.sh recipe    # ASHA on all 60000 images, budget RECIPE_BUDGET (15); the winner retrained by deepc train
#   bash bench/tune.sh all       # both (default)
#   OUT=bench/results/tune-tpe64 SAMPLER=tpe bash bench/tune.sh recipe   # the recipe search with the TPE sampler (BOHB-style brackets)
#
# Environment: DEEPC (build/deepc), PARALLEL (2 trials at once, 1 thread
# each), LIMIT (12000: training images of the comparison; 0 for all),
# TRIALS (64), SEED (1), SAMPLER (random; or tpe), BRACKETS (4; tpe only), RECIPE_BUDGET (15; the most epochs a trial of the recipe search gets), RECIPE_GRACE (1; its first rung), OUT (bench/results/tune, git-ignored; a journal
# that exists is resumed, so an interrupted run continues).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${DEEPC:-build/deepc}
P=${PARALLEL:-2}
LIMIT=${LIMIT:-12000}
TRIALS=${TRIALS:-64}
SEED=${SEED:-1}
RECIPE_BUDGET=${RECIPE_BUDGET:-15}
RECIPE_GRACE=${RECIPE_GRACE:-1}
OUT=${OUT:-bench/results/tune}
SAMPLER=${SAMPLER:-random}
BRACKETS=${BRACKETS:-4}
sampler=(--sampler "$SAMPLER")
[ "$SAMPLER" = tpe ] && sampler+=(--brackets "$BRACKETS")
SPACE=${SPACE:-bench/tune_space.json}
mkdir -p "$OUT"
load() { uptime | sed 's/.*load average: //'; }
field() { grep '"event":"done"' "$1" | sed "s/.*\"$2\":\([0-9.e-]*\).*/\1/"; }

search() { # $1 = name, rest = options
  local name=$1; shift
  if [ -f "$OUT/$name.json" ]; then
    "$B" tune --resume "$OUT/$name.json" --parallel "$P" --json > "$OUT/$name.log"
  else
    "$B" tune --space "$SPACE" --seed "$SEED" --trials "$TRIALS" --parallel "$P" --threads 1 --json "${sampler[@]}" \
      --journal "$OUT/$name.json" --out "$OUT/$name.safetensors" "$@" > "$OUT/$name.log"
  fi
  echo "$name: best trial $(field "$OUT/$name.log" best_trial), validation $(field "$OUT/$name.log" val_accuracy)," \
       "test $(field "$OUT/$name.log" test_accuracy), $(field "$OUT/$name.log" total_epochs) epochs, $(field "$OUT/$name.log" seconds) s"
}

compare() {
  echo "compare: limit $LIMIT, $TRIALS trials, budget 9 (load $(load))"
  search random --scheduler random --budget 9 --limit "$LIMIT"
  search asha --scheduler asha --eta 3 --grace 1 --budget 9 --limit "$LIMIT"
  /usr/bin/python3 - "$OUT/random.json" "$OUT/asha.json" <<'PY'
import json, sys
r, a = (json.load(open(p)) for p in sys.argv[1:3])
rb, ab = r["best"], a["best"]
print("random search: %d epochs, best validation %.4f (trial %d)" % (r["total_epochs"], rb["metric"], rb["trial"]))
print("ASHA:          %d epochs (%.1f%% of random's), best validation %.4f (trial %d)"
      % (a["total_epochs"], 100.0 * a["total_epochs"] / r["total_epochs"], ab["metric"], ab["trial"]))
# the same trials train the same way in both: ASHA's finalists' curves are random search's
same = all(a["trials"][i]["curve"] == r["trials"][i]["curve"][:len(a["trials"][i]["curve"])] for i in range(len(a["trials"])))
print("ASHA's curves are prefixes of random search's: %s" % same)
print("ASHA reaches random search's best: %s" % (ab["metric"] >= rb["metric"]))
PY
}

recipe() {
  echo "recipe: all training images, $TRIALS trials, budget $RECIPE_BUDGET, grace $RECIPE_GRACE, sampler $SAMPLER (load $(load))"
  search recipe --scheduler asha --eta 3 --grace "$RECIPE_GRACE" --budget "$RECIPE_BUDGET" --limit 0
  local cmd
  cmd=$(grep '"event":"done"' "$OUT/recipe.log" | sed 's/.*"train_command":"\([^"]*\)".*/\1/')
  echo "retraining the winner on all 60000 images: $cmd"
  ${cmd/deepc/$B} --threads 2 --json --out "$OUT/recipe-retrained.safetensors" > "$OUT/recipe-retrained.log"
  echo "winner retrained by deepc train: test accuracy $(field "$OUT/recipe-retrained.log" accuracy) (the README's hand-found recipe: 0.9161)"
}

what=${1:-all}
echo "bench/tune.sh $what: $(nproc) cores, load $(load), $P trials at once"
case $what in
  compare) compare ;;
  recipe) recipe ;;
  all) compare; recipe ;;
  *) echo "usage: bash bench/tune.sh [compare|recipe|all]"; exit 2 ;;
esac
