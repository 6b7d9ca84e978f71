// fuzz_npz.c — dc_npz_parse (src/data/numpy.c): a NumPy .npz archive in
// memory, read through libzip, then its .npy entries (io/npy.c's view
// parser) turned into a data set.
//
// Input: one flag byte, then the archive. Bits 0-1 pick the layout for
// rank-4 images (auto, nhwc, nchw, auto). On success: the train split holds
// n >= 1 samples with readable pixels and labels in [0, n_classes); a test
// split, when there is one, has the train split's sample shape.
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    dc_data_options opt = dc_data_options_default();
    static const dc_layout k_layout[4] = {DC_LAYOUT_AUTO, DC_LAYOUT_NHWC, DC_LAYOUT_NCHW, DC_LAYOUT_AUTO};
    opt.layout = k_layout[data[0] & 3];
    dc_dataset tr, te;
    dc_error err = {{0}};
    dc_status st = dc_npz_parse(&tr, &te, data + 1, size - 1, "fuzz.npz", &opt, &err);
    fuzz_check_error(st, &err, "dc_npz_parse");
    if (st != DC_OK) {
        if (tr.pixels || te.pixels || tr.n || te.n) fuzz_fail("dc_npz_parse failed but left data");
        return 0;
    }
    const dc_dataset *s[2] = {&tr, &te};
    for (int k = 0; k < 2; k++) {
        const dc_dataset *ds = s[k];
        if (k == 1 && ds->n == 0) break;
        if (ds->n < 1 || ds->c < 1 || ds->h < 1 || ds->w < 1) fuzz_fail("split %d: shape %d %d %d %d", k, ds->n, ds->c, ds->h, ds->w);
        fuzz_touch(ds->pixels, (size_t)ds->n * ds->c * ds->h * ds->w);
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= ds->n_classes) fuzz_fail("label %d of %d", ds->labels[i], ds->n_classes);
    }
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    return 0;
}
