#!/usr/bin/env bash
# deepc export --c end to end: LeNet-5, ResNet-8 and a model with average
# pooling, tanh, sigmoid, concat, add and a global average pool, fp32 and
# int8. Each generated model.c compiles with -std=c99 -Wall -Wextra -Werror
# -pedantic beside tests/c_export_main.c, runs 200 Fashion-MNIST test images,
# and gives deepc's logits: int8 bit for bit, fp32 within 1e-5
# (tests/c_export_check.py); the harness poisons its arena and checks that
# exactly MODEL_ARENA_BYTES are touched. Where arm-none-eabi-gcc, newlib and
# qemu-system-arm are installed, each model also runs on an emulated
# Cortex-M4 (mps2-an386, tests/cortex_m/) and must give the same logits
# there (int8 bit for bit, fp32 1e-5); the LeNet-5s' sizes are printed.
set -u
BIN=${DEEPC_BIN:-build/deepc}
SRC=${DEEPC_SOURCE_DIR:-.}
PY=/usr/bin/python3
CC=${CC:-cc}
source "$(dirname "$0")/lib_cli.sh"
cli_begin cexport
[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
"$PY" -c "
import numpy as np, gzip
d = np.frombuffer(gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz').read()[16:], np.uint8).reshape(-1, 28, 28)[:200]
np.save('$T/x.npy', d); d.tofile('$T/x.raw')
with open('$T/images.h', 'w') as f:  # the board's images (tests/cortex_m/m4_main.c)
    f.write('#define N_IMAGES 50\nstatic const uint8_t images[N_IMAGES][784] = {\n')
    f.write(',\n'.join('{' + ','.join(map(str, r)) + '}' for r in d[:50].reshape(50, -1)) + '};\n')" || bad "images"
M4="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
QEMU=""
if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then QEMU=qemu-system-arm
else echo "SKIP the emulated Cortex-M4 runs: arm-none-eabi-gcc, libnewlib-arm-none-eabi or qemu-system-arm is not installed (scripts/setup.sh installs them with DEEPC_TEST=1)"; fi

printf 'conv2d out=6 k=3 pad=1 name=c1\ntanh name=t1\navgpool k=2 name=p1\nconv2d out=5 k=1 name=a\nrelu name=ra\nconv2d out=5 k=3 pad=1 from=p1 name=b\nsigmoid name=sb\nadd from=ra,sb name=s\nrelu name=rs\nconcat from=rs,p1 name=cat\nmaxpool k=2 name=p2\nconv2d out=8 k=3 stride=2 bias=0 name=c3\nbatchnorm2d name=bn3\nrelu name=r3\nglobalavgpool name=gap\nlinear out=10 name=fc\n' > "$T/mix.arch"
expect_ok "train lenet5" "$BIN" train --model lenet5 --data fashion-mnist --limit 2000 --test-limit 100 --epochs 1 --lr 0.01 --threads 2 --out "$T/l.safetensors"
expect_ok "train resnet8" "$BIN" train --model resnet8 --data fashion-mnist --limit 256 --test-limit 100 --epochs 1 --threads 2 --out "$T/r.safetensors"
expect_ok "train mix" "$BIN" train --model "$T/mix.arch" --data fashion-mnist --limit 512 --test-limit 100 --epochs 1 --threads 2 --out "$T/x.safetensors"
for m in l r x; do
  expect_ok "quantize $m" "$BIN" quantize "$T/$m.safetensors" --calibrate 128 --threads 2 --out "$T/${m}8.safetensors"
done
for m in l:fp32 l8:int8 r:fp32 r8:int8 x:fp32 x8:int8; do
  n=${m%%:*}; mode=${m##*:}; d="$T/c-$n"; mkdir -p "$d"
  expect_ok "export --c $n" "$BIN" export "$T/$n.safetensors" --c "$d" --json
  echo "  $(cat "$T/out")"
  if $CC -std=c99 -Wall -Wextra -Werror -pedantic -O2 -DMODEL_EXTERNAL_ARENA -I"$d" "$d/model.c" "$SRC/tests/c_export_main.c" -o "$d/run" -lm 2>"$T/ccerr"; then ok; else bad "$n: generated C does not compile: $(head -5 "$T/ccerr")"; continue; fi
  if "$d/run" "$T/x.raw" > "$d/out"; then ok; else bad "$n: arena check: $(tail -1 "$d/out")"; fi
  echo "  $n $(tail -1 "$d/out")"
  expect_ok "predict $n" "$BIN" predict "$T/$n.safetensors" "$T/x.npy" --json --batch 200 --threads 2
  cp "$T/out" "$d/p.jsonl"
  if "$PY" "$SRC/tests/c_export_check.py" "$d/out" "$d/p.jsonl" $mode > "$T/chk"; then ok; else bad "$n: $(cat "$T/chk")"; fi
  echo "  $n $(cat "$T/chk")"
  # the same code on an emulated Cortex-M4 board (QEMU's mps2-an386, Arm
  # semihosting for output): the first 50 images, logits as bit patterns
  if [ -n "$QEMU" ]; then
    if arm-none-eabi-gcc $M4 -Os -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections -I"$d" -I"$T" \
         -I"$SRC/tests/cortex_m" --specs=nano.specs -nostartfiles -T "$SRC/tests/cortex_m/mps2_an386.ld" -Wl,--gc-sections \
         "$d/model.c" "$SRC/tests/cortex_m/m4_main.c" "$SRC/tests/cortex_m/startup.c" -lm -o "$d/m4.elf" 2>"$T/ccerr"; then ok
    else bad "$n: arm-none-eabi-gcc cannot build the board image: $(head -5 "$T/ccerr")"; fi
    rm -f "$d/m4.out"
    if timeout 120 "$QEMU" -M mps2-an386 -nographic -monitor none -serial none -chardev file,id=sh,path="$d/m4.out" \
         -semihosting-config enable=on,target=native,chardev=sh -kernel "$d/m4.elf" >"$T/qerr" 2>&1; then ok; else bad "$n: the board run failed: $(tail -2 "$d/m4.out") $(head -2 "$T/qerr")"; fi
    if "$PY" "$SRC/tests/c_export_check.py" "$d/m4.out" "$d/p.jsonl" $mode 50 > "$T/chk"; then ok; else bad "$n on the Cortex-M4: $(cat "$T/chk")"; fi
    echo "  $n on a Cortex-M4 (qemu mps2-an386): $(cat "$T/chk"); $(tail -1 "$d/m4.out")"
  fi
  # no malloc, no stdio in the generated code
  grep -qE "malloc\(|printf\(|#include <(stdio|stdlib)" "$d/model.c" && bad "$n: generated code uses the heap or stdio" || ok
done
grep -q "math.h" "$T/c-l8/model.c" && bad "int8 code includes math.h" || ok
grep -v "model_dequantize\|MODEL_LOGIT_SCALE" "$T/c-l8/model.c" | grep -q "float" && bad "int8 code has float outside model_dequantize" || ok
if command -v arm-none-eabi-gcc >/dev/null; then
  for n in l8 l; do
    if arm-none-eabi-gcc $M4 -Os -std=c99 -Wall -Wextra -Werror -fstack-usage -I"$T/c-$n" -c "$T/c-$n/model.c" -o "$T/m4-$n.o"; then
      ok; echo "  Cortex-M4 (arm-none-eabi-gcc -Os), LeNet-5 $n: model.o sections, then model_run's own stack frame:"
      arm-none-eabi-size -A "$T/m4-$n.o" | grep -E "^\.(text|rodata|data|bss)" | sed 's/^/    /'
      grep -h "model_run" "$T/m4-$n.su" | sed 's/^/    /'
    else bad "arm-none-eabi-gcc cannot compile LeNet-5 $n"; fi
  done
else
  echo "SKIP Cortex-M4 build: arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)"
fi
expect_err "bad --name" "C identifier" "$BIN" export "$T/l.safetensors" --c "$T" --name 9lives
printf 'conv2d out=4 k=3 name=c\ngroupnorm groups=2 name=g\nflatten\nlinear out=10 name=fc\n' > "$T/gn.arch"
expect_ok "train a groupnorm model" "$BIN" train --model "$T/gn.arch" --data fashion-mnist --limit 64 --test-limit 10 --epochs 1 --out "$T/gn.safetensors"
expect_err "groupnorm has no C kernel" "node g (groupnorm)" "$BIN" export "$T/gn.safetensors" --c "$T"
expect_err "missing folder" "nosuch" "$BIN" export "$T/l.safetensors" --c "$T/nosuch"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
