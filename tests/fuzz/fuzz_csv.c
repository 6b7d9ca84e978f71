// fuzz_csv.c — dc_csv_parse (src/data/csv.c), the Kaggle-layout CSV loader
// (libcsv underneath) that dc_csv_load runs on a file's bytes.
//
// Input: one flag byte, then the CSV text. Bit 0 gives an input shape
// (opt.shape_*: 1 x 4 x N/4 would be guessed wrong, so 2,2,2 = 8 columns),
// bit 1 a class count of 3 (opt.classes = "3"). On success: n >= 1, the
// pixels (n, c, h, w) readable, every label in [0, n_classes), n_classes
// >= 2, labels all 0 when unlabelled, and parsing the same bytes again gives
// the same bits (no hidden state).
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    dc_data_options opt = dc_data_options_default();
    if (data[0] & 1) opt.shape_c = 2, opt.shape_h = 2, opt.shape_w = 2;
    if (data[0] & 2) opt.classes = "3";
    dc_dataset ds, again;
    dc_error err = {{0}};
    dc_status st = dc_csv_parse(&ds, data + 1, size - 1, "fuzz.csv", &opt, &err);
    fuzz_check_error(st, &err, "dc_csv_parse");
    if (st != DC_OK) {
        if (ds.pixels || ds.labels || ds.n) fuzz_fail("dc_csv_parse failed but left data");
        return 0;
    }
    if (ds.n < 1 || ds.c < 1 || ds.h < 1 || ds.w < 1 || ds.n_classes < 2) fuzz_fail("shape %d %d %d %d, %d classes", ds.n, ds.c, ds.h, ds.w, ds.n_classes);
    if ((data[0] & 2) && ds.n_classes != 3) fuzz_fail("--classes 3 gave %d classes", ds.n_classes);
    const size_t plane = (size_t)ds.c * ds.h * ds.w;
    fuzz_touch(ds.pixels, plane * (size_t)ds.n);
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] < 0 || ds.labels[i] >= ds.n_classes || (ds.unlabelled && ds.labels[i]))
            fuzz_fail("label %d of sample %d (%d classes, unlabelled %d)", ds.labels[i], i, ds.n_classes, ds.unlabelled);
    if ((st = dc_csv_parse(&again, data + 1, size - 1, "fuzz.csv", &opt, &err))) fuzz_fail("second parse: %s", err.msg);
    if (again.n != ds.n || memcmp(again.pixels, ds.pixels, plane * (size_t)ds.n) ||
        memcmp(again.labels, ds.labels, sizeof(int32_t) * (size_t)ds.n))
        fuzz_fail("two parses of the same bytes differ");
    dc_dataset_free(&again);
    dc_dataset_free(&ds);
    return 0;
}
