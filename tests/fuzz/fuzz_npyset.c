// fuzz_npyset.c — dc_npy_load_pair (src/data/numpy.c): an images .npy and a
// labels .npy into a data set (dtype, rank, layout and range checks, the
// NHWC -> NCHW reorder, float -> byte rounding, label checks).
//
// Input: a 2-byte little-endian length L, then L bytes of the images file,
// then the labels file (the rest); an empty rest means no labels file
// (an unlabelled set). Both go through scratch files (the loader takes
// paths). On success: n >= 1, pixels readable, labels in [0, n_classes)
// (all 0 when unlabelled).
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t l = (size_t)data[0] | (size_t)data[1] << 8;
    if (l > size - 2) l = size - 2;
    const uint8_t *img = data + 2, *lab = data + 2 + l;
    const size_t nlab = size - 2 - l;
    char ipath[4400], lpath[4400];
    snprintf(ipath, sizeof ipath, "%s", fuzz_write_file("x.npy", img, l));
    if (nlab) snprintf(lpath, sizeof lpath, "%s", fuzz_write_file("y.npy", lab, nlab));
    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_npy_load_pair(&ds, ipath, nlab ? lpath : NULL, NULL, &err);
    fuzz_check_error(st, &err, "dc_npy_load_pair");
    if (st != DC_OK) {
        if (ds.pixels || ds.n) fuzz_fail("dc_npy_load_pair failed but left data");
        return 0;
    }
    if (ds.n < 1 || ds.c < 1 || ds.h < 1 || ds.w < 1 || ds.n_classes < 2) fuzz_fail("shape %d %d %d %d", ds.n, ds.c, ds.h, ds.w);
    if (ds.unlabelled != !nlab) fuzz_fail("unlabelled %d with a labels file of %zu bytes", ds.unlabelled, nlab);
    fuzz_touch(ds.pixels, (size_t)ds.n * ds.c * ds.h * ds.w);
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] < 0 || ds.labels[i] >= ds.n_classes) fuzz_fail("label %d of %d", ds.labels[i], ds.n_classes);
    dc_dataset_free(&ds);
    return 0;
}
