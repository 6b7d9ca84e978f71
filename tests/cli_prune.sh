#!/usr/bin/env bash
# deepc prune end to end: structured (resnet8: the table, channels coupled
# through the adds, the pruned file evaluates) and unstructured (LeNet-5 at
# 90%: the file shrinks; fine-tuning with the mask; the table), and bad
# inputs as one-line errors; fine-tuning with deepc train's options.
set -u
BIN=${DEEPC_BIN:-build/deepc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin prune
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
SMALL="--data fashion-mnist --limit 1000 --test-limit 200 --threads 2"
expect_ok "prune --help" "$BIN" prune --help
expect_ok "train lenet5" "$BIN" train --model lenet5 $SMALL --epochs 1 --lr 0.01 --out "$T/l.safetensors"
expect_ok "train resnet8" "$BIN" train --model resnet8 --data fashion-mnist --limit 256 --test-limit 100 --epochs 1 --threads 2 --out "$T/r.safetensors"
expect_ok "structured resnet8" "$BIN" prune "$T/r.safetensors" --structured --macs 0.5 --out "$T/rp.safetensors"
cat "$T/out"
grep -q "layer2.0.downsample.0" "$T/out" && grep -q "total" "$T/out" && ok || bad "the per-layer table"
c2=$(awk '$1=="layer2.0.conv2"{print $2}' "$T/out"); ds=$(awk '$1=="layer2.0.downsample.0"{print $2}' "$T/out")
[ -n "$c2" ] && [ "${c2#*->}" = "${ds#*->}" ] && ok || bad "coupled channels: conv2 $c2, downsample $ds"
expect_ok "eval the pruned resnet8" "$BIN" eval "$T/rp.safetensors" --data fashion-mnist --limit 100
expect_ok "unstructured + fine-tune" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.9 --finetune 1 --steps 1 $SMALL --out "$T/lu.safetensors"
grep -q "fine-tune epoch 2" "$T/out" && grep -q "weight sparsity 90.0%" "$T/out" && ok || bad "fine-tune line and sparsity: $(tail -3 "$T/out")"
# fine-tuning takes deepc train's options (one table): augmentation, warmup, schedules
expect_ok "fine-tune with train's options" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.8 --finetune 2 $SMALL \
  --optim adamw --lr 0.002 --sched cosine --warmup 1 --hflip --crop 2 --out "$T/la.safetensors"
grep -q "weight sparsity 80.0%" "$T/out" && ok || bad "augmented fine-tune: $(tail -2 "$T/out")"
# knowledge distillation: the unpruned model teaches the fine-tuning
expect_ok "fine-tune with --distill" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.9 --finetune 2 --steps 1 $SMALL \
  --distill --distill-alpha 0.7 --distill-t 3 --out "$T/ld.safetensors"
grep -q "weight sparsity 90.0%" "$T/out" && grep -q "distillation: .* teaches the fine-tuning (alpha 0.7, T 3)" "$T/out" \
  && ok || bad "distilled fine-tune: $(grep distillation "$T/out"; tail -2 "$T/out")"
cmp -s "$T/ld.safetensors" "$T/lu.safetensors" && bad "--distill changed nothing" || ok
expect_err "--distill-alpha without --distill" "--distill" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --finetune 1 --distill-alpha 0.3 --out "$T/x.safetensors"
expect_err "--distill without fine-tuning" "--finetune" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --distill --out "$T/x.safetensors"
expect_err "--distill-alpha out of range" "--distill-alpha 1.5" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --finetune 1 $SMALL --distill --distill-alpha 1.5 --out "$T/x.safetensors"
expect_err "--distill-t 0" "--distill-t 0" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --finetune 1 $SMALL --distill --distill-t 0 --out "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] && ok || bad "a refused prune wrote its --out"
expect_err "a bad schedule" "--sched 'bogus'" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --finetune 1 --sched bogus --out "$T/x.safetensors"
expect_err "warmup past the epochs" "--warmup" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --finetune 1 --warmup 5 --out "$T/x.safetensors"
expect_ok "prune --json" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.9 --per-layer --json --out "$T/lj.safetensors"
grep -q '"method":"unstructured"' "$T/out" && ok || bad "prune --json: $(cat "$T/out")"
expect_ok "dense copy (no optimizer state) for sizes" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0 --out "$T/l0.safetensors"
s0=$(stat -c %s "$T/l0.safetensors"); s9=$(stat -c %s "$T/lj.safetensors")
echo "  LeNet-5 file: dense $s0 bytes, 90% sparse $s9 bytes"
[ $((s0)) -gt $((5 * s9)) ] && ok || bad "90% sparse file is not 5x smaller ($s0 vs $s9)"
expect_ok "eval the sparse model" "$BIN" eval "$T/lj.safetensors" --data fashion-mnist --limit 100
expect_err "no method" "--structured and --unstructured" "$BIN" prune "$T/l.safetensors" --sparsity 0.5 --out "$T/x.safetensors"
expect_err "sparsity range" "--sparsity 1.5" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 1.5 --out "$T/x.safetensors"
expect_ok "structured, channels in multiples of 8" "$BIN" prune "$T/r.safetensors" --structured --macs 0.5 --multiple 8 --out "$T/rp8.safetensors"
expect_ok "summary of the multiple-of-8 model" "$BIN" summary "$T/rp8.safetensors"
# every convolution's output channels (the shape column, CxHxW) a multiple of 8
awk '$3 == "conv2d" { split($4, s, "x"); if (s[1] % 8) bad = 1 } END { exit bad }' "$T/out" && ok || bad "--multiple 8: $(grep conv2d "$T/out" | head -3)"
expect_err "multiple needs structured" "--multiple" "$BIN" prune "$T/l.safetensors" --unstructured --sparsity 0.5 --multiple 8 --out "$T/x.safetensors"
expect_err "multiple range" "--multiple 0" "$BIN" prune "$T/r.safetensors" --structured --sparsity 0.5 --multiple 0 --out "$T/x.safetensors"
expect_err "macs needs structured" "--macs" "$BIN" prune "$T/l.safetensors" --unstructured --macs 0.5 --out "$T/x.safetensors"
expect_err "structured after unstructured" "already pruned unstructured" "$BIN" prune "$T/lj.safetensors" --structured --sparsity 0.5 --out "$T/x.safetensors"
[ -e "$T/x.safetensors" ] && bad "no output after an error" || ok
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
