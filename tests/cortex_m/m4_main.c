/* m4_main.c — runs an exported model (`deepc export --c`) on an emulated
 * Cortex-M4 (tests/cli_c_export.sh: qemu-system-arm -M mps2-an386 with
 * semihosting). images.h, written by the test, holds N_IMAGES raw images.
 * One line per image: the logits as the bit patterns of their floats (8 hex
 * digits each; int8 models: model_dequantize's floats), so the host can
 * compare them with deepc's exactly without a printf here. Then
 * "stack: N bytes", the deepest stack model_run reached (the stack is
 * painted below main's frame before the runs). */
#include <stdint.h>
#include <string.h>
#include "images.h"
#include "model.h"
#include "semihost.h"

#define PAINT 0xC5u
#define PAINT_BYTES 65536u

static void put_hex(char *p, uint32_t v) {
    int i;
    for (i = 7; i >= 0; i--, v >>= 4) p[i] = "0123456789abcdef"[v & 15u];
}

static void put_dec(char *p, uint32_t v) {
    char t[12];
    int n = 0;
    do t[n++] = (char)('0' + v % 10u);
    while (v /= 10u);
    while (n) *p++ = t[--n];
    *p = 0;
}

__attribute__((noinline)) static void run_all(void) {
    static char line[MODEL_CLASSES * 9 + 2];
    unsigned i, j;
    for (i = 0; i < N_IMAGES; i++) {
        float z[MODEL_CLASSES];
#ifdef MODEL_LOGIT_SCALE
        int32_t q[MODEL_CLASSES];
        model_run(images[i], q);
        model_dequantize(q, z);
#else
        model_run(images[i], z);
#endif
        for (j = 0; j < MODEL_CLASSES; j++) {
            uint32_t b;
            memcpy(&b, &z[j], 4);
            put_hex(line + 9 * j, b);
            line[9 * j + 8] = j + 1 < MODEL_CLASSES ? ' ' : '\n';
        }
        line[9 * MODEL_CLASSES] = 0;
        sh_write(line);
    }
}

int main(void) {
    uint8_t *sp, *lo, *p;
    char msg[40] = "stack: ";
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    lo = sp - PAINT_BYTES;
    for (p = lo; p < sp - 64; p++) *(volatile uint8_t *)p = PAINT;
    run_all();
    for (p = lo; p < sp - 64 && *p == PAINT; p++) {
    }
    put_dec(msg + 7, (uint32_t)(sp - p));
    strcat(msg, " bytes\n");
    sh_write(msg);
    return p == lo; /* the paint was overrun: the figure is a floor */
}
