// fuzz_cifar.c — dc_cifar_parse (src/data/cifar.c): CIFAR-10 binary records
// (1 label byte + 3072 pixel bytes each) in memory.
//
// Input: one byte k (the class list has 1 + k % 16 names), then the batch.
// On success: n = size / 3073 exactly (whole records only), shape 3x32x32,
// every label below the class count, and sample i's bytes are the file's.
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int names = 1 + data[0] % 16;
    const uint8_t *b = data + 1;
    const size_t len = size - 1;
    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_cifar_parse(&ds, b, len, "fuzz_batch.bin", names, &err);
    fuzz_check_error(st, &err, "dc_cifar_parse");
    if (st != DC_OK) {
        if (ds.pixels || ds.n) fuzz_fail("dc_cifar_parse failed but left data");
        if (len && len % 3073 == 0) {
            int over = 0;
            for (size_t r = 0; r < len / 3073; r++) over |= b[r * 3073] >= names;
            if (!over) fuzz_fail("whole records with labels in range refused: %s", err.msg);
        }
        return 0;
    }
    if (len % 3073 || (size_t)ds.n != len / 3073 || ds.c != 3 || ds.h != 32 || ds.w != 32 || ds.n_classes != names)
        fuzz_fail("%zu bytes gave %d samples %dx%dx%d, %d classes", len, ds.n, ds.c, ds.h, ds.w, ds.n_classes);
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] != b[(size_t)i * 3073] || memcmp(ds.pixels + (size_t)i * 3072, b + (size_t)i * 3073 + 1, 3072))
            fuzz_fail("record %d is not the file's", i);
    dc_dataset_free(&ds);
    return 0;
}
