// fuzz_tabular.c — dc_tabular_parse_csv (src/data/tabular.c), the multimodal
// models' side tables (--tabular FILE; libcsv underneath).
//
// Input: byte 0 gives the number of samples the rows must match (1..16),
// byte 1 bit 0 whether the column named "id" numbers them; the rest is the
// CSV text. On success: n rows of f >= 1 finite values each, f column names,
// the id column absent from the features, every sample row filled (an id
// file: each id once), and parsing again gives the same bits; then a
// validation split follows dc_tabular_split's contract.
#include "fuzz_util.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const int n = 1 + data[0] % 16;
    const char *id = (data[1] & 1) ? "id" : NULL;
    const char *text = (const char *)data + 2;
    const size_t len = size - 2;
    dc_tabular t, again, val;
    dc_error err = {{0}};
    dc_status st = dc_tabular_parse_csv(&t, text, len, "fuzz.csv", id, n, &err);
    fuzz_check_error(st, &err, "dc_tabular_parse_csv");
    if (st != DC_OK) {
        if (t.x || t.columns || t.n) fuzz_fail("dc_tabular_parse_csv failed but left data");
        return 0;
    }
    if (t.n != n || t.f < 1) fuzz_fail("%d rows of %d columns for %d samples", t.n, t.f, n);
    for (int k = 0; k < t.f; k++) {
        if (!t.columns[k]) fuzz_fail("column %d has no name", k);
        if (id && !strcmp(t.columns[k], id)) fuzz_fail("the id column is a feature");
    }
    for (size_t i = 0; i < (size_t)t.n * t.f; i++)
        if (!isfinite(t.x[i])) fuzz_fail("value %zu is not finite", i);
    if ((st = dc_tabular_parse_csv(&again, text, len, "fuzz.csv", id, n, &err))) fuzz_fail("second parse: %s", err.msg);
    if (again.f != t.f || memcmp(again.x, t.x, sizeof(float) * (size_t)t.n * t.f))
        fuzz_fail("two parses of the same bytes differ");
    dc_tabular_free(&again);
    if (t.n >= 2) {
        const int n0 = t.n;
        if ((st = dc_tabular_split(&t, &val, 0.5, 7, &err))) fuzz_fail("split of %d rows: %s", n0, err.msg);
        if (t.n + val.n != n0 || val.f != t.f || val.n < 1 || t.n < 1) fuzz_fail("split %d into %d + %d", n0, t.n, val.n);
        dc_tabular_free(&val);
    }
    dc_tabular_free(&t);
    return 0;
}
