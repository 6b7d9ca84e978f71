// dropout.c — inverted dropout. The mask holds 0 or 1/(1-p) so backward is a
// multiply; it is drawn from the caller's rng in index order (reproducible).
#include "layers/layers.h"

void dc_dropout_forward(float *y, float *mask, const float *x, size_t n,
                        float p, dc_rng *rng) {
    const float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        mask[i] = dc_rng_uniform(rng) < p ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

void dc_dropout_backward(float *dx, const float *dy, const float *mask,
                         size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * mask[i];
}
