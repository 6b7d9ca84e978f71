// test_model_limits.c — hostile architectures and model files (the
// hardening issue's bugs 1, 5 and 8): sizes that wrap int, tiny files that
// declare huge models, metadata that converts badly to float or integer.
// Each case failed (UBSan overflow, a 4 GB allocation, or a model that
// evaluates to NaN) before the limits and checks it exercises.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "harness.h"
#include "io/safetensors.h"
#include "model/model.h"

static void expect_build_error(const char *text, int c, int h, int w, const char *needle1, const char *needle2) {
    dc_error err = {{0}};
    dc_model *m = NULL;
    dc_status st = dc_model_parse(&m, text, "arch.txt", c, h, w, 0, &err);
    CHECK(st != DC_OK && m == NULL, "expected an error for: %s", text);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    if (st) printf("  ok: %s\n", err.msg);
    dc_model_free(m);
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// A model file with the given architecture and metadata, and no tensors
// (or the tensors of `from`, when not NULL).
static void write_model(const char *path, const char *arch, const char *input, const char *norm,
                        const char *optim, const dc_model *from) {
    dc_st_writer w;
    dc_st_writer_init(&w);
    char name[300];
    if (from)
        for (int i = 0; i < from->n_nodes; i++)
            for (int k = 0; k < from->nodes[i].n_t; k++) {
                const dc_tensor_ref *t = &from->nodes[i].t[k];
                snprintf(name, sizeof name, "%s.%s", from->nodes[i].name, t->suffix);
                dc_st_add(&w, name, DC_ST_F32, t->rank, t->shape, from->params + t->off);
            }
    if (from && optim) {
        int64_t shape[1] = {(int64_t)from->n_params};
        dc_st_add(&w, "optim.buf1", DC_ST_F32, 1, shape, from->grads);
    }
    dc_st_add_meta(&w, "deepc.arch", arch);
    dc_st_add_meta(&w, "deepc.input", input);
    if (norm) dc_st_add_meta(&w, "deepc.norm", norm);
    if (optim) dc_st_add_meta(&w, "deepc.optim", optim);
    dc_error err;
    CHECK(dc_st_write(&w, path, &err) == DC_OK, "%s", err.msg);
    dc_st_writer_free(&w);
}

static void expect_load_error(const char *path, const char *needle) {
    dc_error err = {{0}};
    dc_model *m = NULL;
    dc_status st = dc_model_load(&m, path, &err);
    CHECK(st != DC_OK && m == NULL, "expected %s to be refused", path);
    CHECK(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    if (st) printf("  ok: %s\n", err.msg);
    dc_model_free(m);
}

int main(void) {
    printf("bug 1: sizes that wrap int are refused at build time, naming the layer\n");
    // 1024 x 2049 x 2049 per sample: 4.3e9 values, past INT_MAX
    expect_build_error("conv2d out=1024 k=1 pad=1024\nflatten\nlinear out=10\n", 1, 1, 1, "conv1",
                       "values per sample");
    // each shape fits, their product does not: 65536 x 65536 features into linear
    expect_build_error("conv2d out=65536 k=1\nflatten\nlinear out=10\n", 1, 256, 256, "conv1", "values per sample");
    expect_build_error("flatten\nlinear out=16777216\nlinear out=100\n", 1, 64, 64, "fc", "values");
    // the input shape itself
    expect_build_error("flatten\nlinear out=10\n", 65536, 65536, 1, "input shape", NULL);
    // one tensor past its limit: 2^13 x 2^13 weights
    expect_build_error("flatten\nlinear out=8192\nlinear out=10\n", 1, 64, 128, "fc1", "tensor weight");
    // each tensor within it (2^24, 2^23, 2^23 weights), together past the model's 2^25
    expect_build_error("flatten\nlinear out=4096\nlinear out=2048\nlinear out=4096\nlinear out=10\n", 1, 64, 64,
                       "fc3", "parameters");
    // a 200M-parameter chain (a fuzzer's find: 1.6 GB of parameters and gradients) is refused, not allocated
    expect_build_error("flatten\nlinear out=256128\nlinear out=10\n", 1, 28, 28, "fc1", NULL);

    printf("bug 5: a tiny file declaring a huge model is refused before allocating\n");
    char path[512];
    snprintf(path, sizeof path, "%s/huge.safetensors", dc_test_tmpdir());
    // 2^24 + 2^23 weights: 100 MB of floats, x2 with gradients
    write_model(path, "flatten\nlinear out=4096\nlinear out=2048\nlinear out=10\n", "1,64,64", NULL, NULL, NULL);
    long before = max_rss_kb();
    expect_load_error(path, "fc1.weight");
    long grew = max_rss_kb() - before;
    printf("  peak RSS grew by %ld KiB\n", grew);
    CHECK(grew < 64 * 1024, "loading a %s of no tensors allocated %ld KiB", "huge architecture", grew);

    printf("bug 8: metadata numbers that convert badly are refused\n");
    dc_error err;
    dc_model *small = NULL;
    const char *arch = "flatten\nlinear out=3\n";
    CHECK(dc_model_parse(&small, arch, "small", 1, 2, 2, 3, &err) == DC_OK, "%s", err.msg);
    if (small) {
        snprintf(path, sizeof path, "%s/meta.safetensors", dc_test_tmpdir());
        write_model(path, arch, "1,2,2", "{\"mean\":0.5,\"std\":1e-300}", NULL, small);
        expect_load_error(path, "deepc.norm.std");
        write_model(path, arch, "1,2,2", "{\"mean\":1e300,\"std\":0.5}", NULL, small);
        expect_load_error(path, "deepc.norm.mean");
        const char *opt = "{\"kind\":\"sgd\",\"step\":1e300,\"momentum\":0.9,\"nesterov\":false,\"weight_decay\":0,"
                          "\"beta1\":0.9,\"beta2\":0.999,\"eps\":1e-8}";
        write_model(path, arch, "1,2,2", "{\"mean\":0.5,\"std\":0.5}", opt, small);
        expect_load_error(path, "deepc.optim.step");
        const char *opt2 = "{\"kind\":\"sgd\",\"step\":-3,\"momentum\":0.9,\"nesterov\":false,\"weight_decay\":0,"
                           "\"beta1\":0.9,\"beta2\":0.999,\"eps\":1e-8}";
        write_model(path, arch, "1,2,2", "{\"mean\":0.5,\"std\":0.5}", opt2, small);
        expect_load_error(path, "deepc.optim.step");
        const char *opt3 = "{\"kind\":\"sgd\",\"step\":3,\"momentum\":1e39,\"nesterov\":false,\"weight_decay\":0,"
                           "\"beta1\":0.9,\"beta2\":0.999,\"eps\":1e-8}";
        write_model(path, arch, "1,2,2", "{\"mean\":0.5,\"std\":0.5}", opt3, small);
        expect_load_error(path, "momentum");
        // and the sane file loads
        write_model(path, arch, "1,2,2", "{\"mean\":0.5,\"std\":0.5}", NULL, small);
        dc_model *ok = NULL;
        CHECK(dc_model_load(&ok, path, &err) == DC_OK, "%s", err.msg);
        dc_model_free(ok);
        dc_model_free(small);
    }
    return dc_test_finish();
}
