// fuzz_groups.c — dc_groups_parse_csv (src/audit/audit.c), the groups CSV
// that dc_groups_read_csv reads for `deepc audit --groups FILE`.
//
// Input: one byte n-1 (the data set has 1..256 samples), then the CSV text
// (not NUL-terminated: the parser takes a length). On success: n samples,
// every group index in [0, n_groups), every group used, labels non-empty,
// at most 255 bytes, in strictly increasing strcmp order.
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int n = 1 + data[0];
    dc_groups g;
    dc_error err = {{0}};
    dc_status st = dc_groups_parse_csv(&g, (const char *)data + 1, size - 1, "fuzz.csv", n, &err);
    fuzz_check_error(st, &err, "dc_groups_parse_csv");
    if (st != DC_OK) {
        if (g.names || g.group || g.n) fuzz_fail("dc_groups_parse_csv failed but left groups");
        return 0;
    }
    if (g.n != n || g.n_groups < 1 || g.n_groups > n) fuzz_fail("n=%d (want %d), %d groups", g.n, n, g.n_groups);
    char used[256] = {0};
    for (int i = 0; i < n; i++) {
        if (g.group[i] < 0 || g.group[i] >= g.n_groups) fuzz_fail("sample %d: group %d", i, g.group[i]);
        used[g.group[i]] = 1;
    }
    for (int k = 0; k < g.n_groups; k++) {
        size_t len = strlen(g.names[k]);
        if (!used[k] || !len || len > 255) fuzz_fail("group %d: used %d, label of %zu bytes", k, used[k], len);
        if (k && strcmp(g.names[k - 1], g.names[k]) >= 0) fuzz_fail("group labels not in strcmp order");
    }
    dc_groups_free(&g);
    return 0;
}
