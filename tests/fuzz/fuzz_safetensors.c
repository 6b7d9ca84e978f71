// fuzz_safetensors.c — dc_st_read (src/io/safetensors.c), the low-level
// safetensors reader under dc_model_load, on any file (no deepc metadata
// needed, so the fuzzer spends its time in the format itself).
//
// Input: the file. On success: every tensor's data is 64-byte aligned and
// nbytes = product(shape) * dtype size, all of it readable; dc_st_find and
// dc_st_meta find each entry; writing the tensors and metadata back with the
// writer and reading the result gives the same entries and bytes.
#include "fuzz_util.h"
#include "io/safetensors.h"

static void check_same(const dc_st_file *a, const dc_st_file *b) {
    if (a->n_tensors != b->n_tensors || a->n_meta != b->n_meta)
        fuzz_fail("rewrite: %d tensors / %d metadata became %d / %d", a->n_tensors, a->n_meta, b->n_tensors,
                  b->n_meta);
    for (int i = 0; i < a->n_tensors; i++) {
        const dc_st_tensor *x = &a->tensors[i], *y = dc_st_find(b, x->name);
        if (!y || y->dtype != x->dtype || y->rank != x->rank || y->nbytes != x->nbytes ||
            memcmp(y->shape, x->shape, sizeof x->shape[0] * (size_t)x->rank) ||
            (x->nbytes && memcmp(x->data, y->data, x->nbytes)))
            fuzz_fail("rewrite: tensor \"%s\" changed", x->name);
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = dc_st_meta(b, a->meta_keys[i]);
        if (!v || strcmp(v, a->meta_vals[i])) fuzz_fail("rewrite: metadata \"%s\" changed", a->meta_keys[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("file.safetensors", data, size);
    dc_st_file f;
    dc_error err = {{0}};
    dc_status st = dc_st_read(&f, path, &err);
    fuzz_check_error(st, &err, "dc_st_read");
    if (st != DC_OK) {
        if (f.n_tensors || f.blob || f.tensors || f.n_meta) fuzz_fail("dc_st_read failed but left entries");
        dc_st_free(&f);
        return 0;
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const dc_st_tensor *t = &f.tensors[i];
        uint64_t numel = 1;
        if (t->rank < 0 || t->rank > DC_ST_MAX_RANK) fuzz_fail("tensor \"%s\": rank %d", t->name, t->rank);
        for (int r = 0; r < t->rank; r++) {
            if (t->shape[r] < 0) fuzz_fail("tensor \"%s\": negative dimension", t->name);
            numel *= (uint64_t)t->shape[r];
        }
        if (numel * dc_st_dtype_size(t->dtype) != t->nbytes) fuzz_fail("tensor \"%s\": nbytes mismatch", t->name);
        if ((uintptr_t)t->data % 64) fuzz_fail("tensor \"%s\": data not 64-byte aligned", t->name);
        fuzz_touch(t->data, t->nbytes);
        if (dc_st_find(&f, t->name) != t) fuzz_fail("dc_st_find(\"%s\") finds another entry", t->name);
        const dc_st_tensor *out;
        if (dc_st_expect(&f, t->name, t->dtype, t->rank, t->shape, &out, &err) || out != t)
            fuzz_fail("dc_st_expect refuses tensor \"%s\" as it is: %s", t->name, err.msg);
    }
    for (int i = 0; i < f.n_meta; i++)
        if (dc_st_meta(&f, f.meta_keys[i]) != f.meta_vals[i]) fuzz_fail("dc_st_meta(\"%s\")", f.meta_keys[i]);

    // write everything back and read it again
    dc_st_writer w;
    dc_st_writer_init(&w);
    for (int i = 0; i < f.n_tensors; i++) {
        const dc_st_tensor *t = &f.tensors[i];
        dc_st_add(&w, t->name, t->dtype, t->rank, t->shape, t->data);
    }
    for (int i = 0; i < f.n_meta; i++) dc_st_add_meta(&w, f.meta_keys[i], f.meta_vals[i]);
    char again[4096 + 256];
    snprintf(again, sizeof again, "%s", fuzz_path("again.safetensors"));
    if ((st = dc_st_write(&w, again, &err))) fuzz_fail("writing back a file that was read failed: %s", err.msg);
    dc_st_writer_free(&w);
    dc_st_file g;
    if ((st = dc_st_read(&g, again, &err))) fuzz_fail("reading back a rewritten file failed: %s", err.msg);
    check_same(&f, &g);
    dc_st_free(&g);
    dc_st_free(&f);
    return 0;
}
