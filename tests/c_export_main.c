/* c_export_main.c — host harness for `deepc export --c` (tests/cli_c_export.sh):
 * compiled with the generated model.c (-DMODEL_EXTERNAL_ARENA) under
 * -std=c99 -Wall -Wextra -Werror. Reads IMAGES (n raw images of
 * MODEL_IN_C*H*W bytes) and prints one line of logits per image (%.9g: a
 * float's exact digits). The arena is the harness's: MODEL_ARENA_BYTES plus
 * a 4 KiB guard, filled with a poison byte before the run; the run is done
 * twice with two poisons (0xA5, 0x5A). A byte counts as touched when it
 * differs from the poison in either run. The guard must be untouched and
 * the last touched byte must be the arena's last: the size in the header is
 * exactly the memory used. Prints "arena: N bytes, touched M" last. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

#define GUARD 4096
uint8_t *model_arena;

int main(int argc, char **argv) {
    const size_t in = (size_t)MODEL_IN_C * MODEL_IN_H * MODEL_IN_W, total = MODEL_ARENA_BYTES + GUARD;
    FILE *f;
    long size;
    size_t n, i, j, touched = 0;
    uint8_t *px, *mem, *seen;
    int pass, bad = 0;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: %s IMAGES.raw\n", argv[0]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    n = (size_t)size / in;
    px = malloc((size_t)size + 1);
    mem = malloc(total + 16);
    seen = calloc(total, 1);
    if (!px || !mem || !seen || fread(px, 1, (size_t)size, f) != (size_t)size) return 2;
    fclose(f);
    /* 4-byte aligned, as the header asks */
    model_arena = (uint8_t *)(((uintptr_t)mem + 15) & ~(uintptr_t)15);
    for (pass = 0; pass < 2; pass++) {
        const uint8_t poison = pass ? 0x5A : 0xA5;
        memset(model_arena, poison, total);
        for (i = 0; i < n; i++) {
#ifdef MODEL_LOGIT_SCALE
            int32_t q[MODEL_CLASSES];
            float z[MODEL_CLASSES];
            model_run(px + i * in, q);
            model_dequantize(q, z);
#else
            float z[MODEL_CLASSES];
            model_run(px + i * in, z);
#endif
            if (pass == 0)
                for (j = 0; j < MODEL_CLASSES; j++) printf("%.9g%c", (double)z[j], j + 1 < MODEL_CLASSES ? ' ' : '\n');
        }
        for (j = 0; j < total; j++)
            if (model_arena[j] != poison) seen[j] = 1;
    }
    for (j = 0; j < total; j++)
        if (seen[j]) {
            touched = j + 1;
            if (j >= MODEL_ARENA_BYTES) bad = 1;
        }
    printf("arena: %lu bytes, touched %lu%s\n", (unsigned long)MODEL_ARENA_BYTES, (unsigned long)touched,
           bad ? " (BEYOND THE ARENA)" : "");
    free(px);
    free(mem);
    free(seen);
    return bad || touched != MODEL_ARENA_BYTES;
}
