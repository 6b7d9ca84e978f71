// softmax_xent.c — softmax + cross-entropy fused, numerically stable:
// log p_k = z_k - max(z) - log(sum exp(z - max(z))). The loss is accumulated
// in double so a batch mean does not lose digits.
#include <math.h>
#include "layers/layers.h"

double dc_softmax_xent_forward(float *probs, const float *logits,
                               const int32_t *labels, const float *weights,
                               int N, int C) {
    // logits and probs are (N,C), labels and weights are (N)
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        float m = z[0];
        for (int k = 1; k < C; k++)
            if (z[k] > m) m = z[k];
        double s = 0.0;
        for (int k = 0; k < C; k++) {
            float e = expf(z[k] - m);
            p[k] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int k = 0; k < C; k++) p[k] *= inv;
        if (labels) {
            double l = -((double)z[labels[n]] - (double)m - log(s));
            total += weights ? (double)weights[n] * l : l;
        }
    }
    return total / (double)N;
}

void dc_softmax_xent_backward(float *dlogits, const float *probs,
                              const int32_t *labels, const float *weights,
                              int N, int C) {
    // dlogits (N,C) = w_n (probs - onehot(labels)) / N
    const float invN = 1.0f / (float)N;
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * C;
        float *d = dlogits + (size_t)n * C;
        float s = (weights ? weights[n] : 1.0f) * invN;
        for (int k = 0; k < C; k++) d[k] = p[k] * s;
        d[labels[n]] -= s;
    }
}
