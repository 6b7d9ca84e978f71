// fuzz_idx.c — dc_idx_load (src/data/idx.c): an IDX image file and an IDX
// label file, raw or gzip.
//
// Input layout: one flag byte, then the images file, the 8-byte separator
// "DCIDXSEP", then the labels file (no separator: an empty labels file).
// Flag bit 0 names the images file *.gz, bit 1 the labels file, so the
// "named .gz but not gzip" check is reached too; gzip itself is sniffed from
// the bytes, as the loader does.
// On success: n, c, h, w >= 1, every label in [0, n_classes), and all
// n*c*h*w pixel bytes readable.
#include "fuzz_util.h"

static const char k_sep[8] = "DCIDXSEP";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++, size--;
    const uint8_t *sep = memmem(data, size, k_sep, sizeof k_sep);
    size_t n_img = sep ? (size_t)(sep - data) : size;
    const uint8_t *lab = sep ? sep + sizeof k_sep : data + size;
    size_t n_lab = (size_t)(data + size - lab);
    char img_path[4096 + 256];
    snprintf(img_path, sizeof img_path, "%s", fuzz_write_file(flags & 1 ? "images.gz" : "images", data, n_img));
    const char *lab_path = fuzz_write_file(flags & 2 ? "labels.gz" : "labels", lab, n_lab);

    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_idx_load(&ds, img_path, lab_path, &err);
    fuzz_check_error(st, &err, "dc_idx_load");
    if (st == DC_OK) {
        if (ds.n < 1 || ds.c < 1 || ds.h < 1 || ds.w < 1 || ds.n_classes < 2)
            fuzz_fail("dc_idx_load: n=%d c=%d h=%d w=%d n_classes=%d", ds.n, ds.c, ds.h, ds.w, ds.n_classes);
        for (int i = 0; i < ds.n; i++)
            if (ds.labels[i] < 0 || ds.labels[i] >= ds.n_classes)
                fuzz_fail("dc_idx_load: label %d of sample %d outside [0, %d)", ds.labels[i], i, ds.n_classes);
        fuzz_touch(ds.pixels, (size_t)ds.n * ds.c * ds.h * ds.w);
    } else if (ds.pixels || ds.labels || ds.n) {
        fuzz_fail("dc_idx_load failed but left the dataset non-empty");
    }
    dc_dataset_free(&ds);
    return 0;
}
