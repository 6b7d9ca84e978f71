// rt_helper.h — tests' shorthand for a runtime over a model's own buffers.
#ifndef DC_TEST_RT_HELPER_H
#define DC_TEST_RT_HELPER_H

#include "model/model.h"

// train: training mode with backward; else eval mode without.
static inline dc_status dc_test_runtime(dc_runtime **rt, dc_model *m, int max_n, bool train, int nthreads,
                                        dc_error *err) {
    dc_graph g = dc_model_graph(m);
    dc_status st = dc_runtime_new(rt, &g, max_n, train ? DC_MODE_TRAIN : DC_MODE_EVAL,
                                  train ? DC_RT_BACKWARD : 0, nthreads, err);
    if (!st) dc_runtime_bind_model(*rt, m);
    return st;
}

#endif
