// model_diff.c — test tool: compares the parameters of two deepc model
// files and prints "max_abs=X max_rel=Y n=N"; exits 0 if both load and have
// the same architecture, 1 otherwise. Used by tests/cli_mpi.sh to state how
// far data-parallel training drifts from one process (summation order).
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "deepc.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: model_diff A.safetensors B.safetensors\n");
        return 2;
    }
    dc_error err;
    dc_model *a, *b;
    if (dc_model_load(&a, argv[1], &err) || dc_model_load(&b, argv[2], &err)) {
        fprintf(stderr, "model_diff: %s\n", err.msg);
        return 1;
    }
    if (dc_model_num_params(a) != dc_model_num_params(b) ||
        strcmp(dc_model_arch_text(a), dc_model_arch_text(b))) {
        fprintf(stderr, "model_diff: different architectures\n");
        return 1;
    }
    const float *pa = dc_model_params(a), *pb = dc_model_params(b);
    double max_abs = 0, max_rel = 0, scale = 0;
    size_t n = dc_model_num_params(a);
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(pb[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)pa[i] - pb[i]);
        max_abs = fmax(max_abs, d);
        max_rel = fmax(max_rel, d / (fabs(pb[i]) + 1e-3 * scale));
    }
    printf("max_abs=%.3g max_rel=%.3g n=%zu\n", max_abs, max_rel, n);
    dc_model_free(a);
    dc_model_free(b);
    return 0;
}
