// fuzz_anon_csv.c — libFuzzer harness for the anonymiser's CSV tables
// (dc_table_parse_csv, src/anon/csv.c, over libcsv) and what runs on them:
// a table that parses is written and parsed again to the same cells, checked
// (dc_anon_verify), and anonymised with its first column as a
// quasi-identifier and its last as the sensitive one; an anonymised table
// must pass its own check.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_table t, back, out;
    dc_error err;
    if (dc_table_parse_csv(&t, (const char *)data, size, "fuzz.csv", &err) != DC_OK) return 0;
    char *csv;
    size_t len;
    if (dc_table_to_csv(&t, &csv, &len, &err) == DC_OK) {
        if (dc_table_parse_csv(&back, csv, len, "back.csv", &err) != DC_OK) abort();
        if (back.n_rows != t.n_rows || back.n_cols != t.n_cols) abort();
        for (int r = 0; r < t.n_rows; r++)
            for (int c = 0; c < t.n_cols; c++)
                // libcsv trims spaces around unquoted fields; the writer quotes such fields, so they survive
                if (strcmp(dc_table_cell(&t, r, c), dc_table_cell(&back, r, c))) abort();
        dc_table_free(&back);
        free(csv);
    }
    const char *quasi[1] = {t.header[0]};
    const char *sens = t.n_cols > 1 ? t.header[t.n_cols - 1] : NULL;
    dc_anon_report rep;
    if (dc_anon_verify(&rep, &t, quasi, 1, sens, 2, 1, &err) != DC_OK) abort();
    dc_anon_config cfg = {.quasi = quasi, .n_quasi = 1, .sensitive = sens, .k = 2, .l = sens ? 2 : 1,
                          .max_suppress = 3};
    if (dc_anonymize(&out, &rep, &t, &cfg, &err) == DC_OK) {
        if (!rep.k_ok || !rep.l_ok || rep.n_out + rep.suppressed != t.n_rows || rep.suppressed > 3) abort();
        dc_table_free(&out);
    }
    dc_table_free(&t);
    return 0;
}
