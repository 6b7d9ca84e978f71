// harness.h — a tiny test harness: CHECK records a failure and goes on;
// dc_test_finish prints "N passed, N failed" and returns the exit code.
#ifndef DC_TEST_HARNESS_H
#define DC_TEST_HARNESS_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dc_test_counts { int passed, failed; } dc_test_counts;
extern dc_test_counts dc_tc;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            dc_tc.passed++;                                                    \
        } else {                                                               \
            dc_tc.failed++;                                                    \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

// Compares two float arrays: passes when for every i
// |a-b| <= atol + rtol*|b|. Prints max abs and max rel difference.
int dc_check_close(const char *what, const float *got, const float *want,
                   size_t n, double rtol, double atol);

// Path of a file under the source tree (tests/fixtures/..., etc.).
const char *dc_src_path(const char *rel);
// A fresh temporary directory for this test (removed by the OS, not us).
const char *dc_test_tmpdir(void);

// A small learnable synthetic data set: n images 1x28x28 of n_classes
// classes; class k is a bright square at its own place in a grid, over
// random dark noise. Owned by the caller (dc_dataset_free).
struct dc_dataset;
void dc_test_make_data(struct dc_dataset *ds, int n, int n_classes, uint64_t seed);

int dc_test_finish(void);

#endif
