// fuzz_hierarchy.c — libFuzzer harness for the generalisation-hierarchy
// parser (dc_hierarchy_parse, src/anon/hierarchy.c): any bytes either parse
// or fail with a message; a parsed hierarchy is a tree (every node reachable
// from the root through its parents, depths consistent, leaf counts adding
// up, every name found again under its own node).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "anon/anon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_hierarchy h;
    dc_error err;
    if (dc_hierarchy_parse(&h, (const char *)data, size, "fuzz", &err) != DC_OK) return 0;
    int leaves = 0;
    for (int i = 0; i < h.n_nodes; i++) {
        if (dc_hierarchy_find(&h, h.name[i]) != i) abort();
        if (i == 0 ? h.parent[i] != -1 : (h.parent[i] < 0 || h.parent[i] >= i || h.depth[i] != h.depth[h.parent[i]] + 1))
            abort();
        leaves += h.depth[i] == h.height;
    }
    if (leaves != h.n_leaves || h.leaves[0] != h.n_leaves) abort();
    dc_hierarchy_free(&h);
    return 0;
}
