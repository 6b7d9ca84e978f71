// fuzz_npy.c — dc_npy_parse (src/io/npy.c), the .npy parser that
// dc_npy_read runs on a file's bytes.
//
// Input: the .npy file. On success: rank 0..8, n = product(shape), all n
// floats readable; encoding the result as float32 (dc_npy_header_f32 + the
// data) and parsing that gives the same shape and bits.
#include "fuzz_util.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_npy a;
    dc_error err = {{0}};
    dc_status st = dc_npy_parse(&a, data, size, "fuzz.npy", &err);
    fuzz_check_error(st, &err, "dc_npy_parse");
    if (st != DC_OK) {
        if (a.data || a.n || a.rank) fuzz_fail("dc_npy_parse failed but left data");
        return 0;
    }
    if (a.rank < 0 || a.rank > DC_NPY_MAX_RANK) fuzz_fail("rank %d", a.rank);
    size_t n = 1;
    for (int i = 0; i < a.rank; i++) n *= (size_t)a.shape[i];
    if (n != a.n) fuzz_fail("n = %zu, product of shape %zu", a.n, n);
    fuzz_touch(a.data, a.n * sizeof(float));

    char hdr[640];
    size_t hl = dc_npy_header_f32(hdr, sizeof hdr, a.rank, a.shape);
    if (!hl) fuzz_fail("dc_npy_header_f32 cannot encode a shape it parsed");
    uint8_t *buf = malloc(hl + a.n * 4 + 1);
    if (!buf) abort();
    memcpy(buf, hdr, hl);
    memcpy(buf + hl, a.data, a.n * 4); // little-endian host (safetensors.c insists on it too)
    dc_npy b;
    if ((st = dc_npy_parse(&b, buf, hl + a.n * 4, "again.npy", &err))) fuzz_fail("re-parse: %s", err.msg);
    if (b.rank != a.rank || b.n != a.n || memcmp(b.shape, a.shape, sizeof a.shape) ||
        memcmp(b.data, a.data, a.n * sizeof(float)) || strcmp(b.dtype, "f4"))
        fuzz_fail("float32 round trip changed the array");
    dc_npy_free(&b);
    free(buf);
    dc_npy_free(&a);
    return 0;
}
