// softmax_xent.c — softmax + cross-entropy fused, numerically stable:
// log p_k = z_k - max(z) - log(sum exp(z - max(z))). The loss is accumulated
// in double so a batch mean does not lose digits.
#include <math.h>
#include "core/core.h"
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

// Softmax of z / temp into q (C), in double; returns log of its normaliser
// (log sum_k exp(z_k / temp - max)) with the max subtracted into *mx.
static double softmax_t(double *q, const float *z, int C, double temp, double *mx) {
    double m = (double)z[0] / temp;
    for (int k = 1; k < C; k++)
        if ((double)z[k] / temp > m) m = (double)z[k] / temp;
    double s = 0.0;
    for (int k = 0; k < C; k++) s += (q[k] = exp((double)z[k] / temp - m));
    for (int k = 0; k < C; k++) q[k] /= s;
    *mx = m;
    return log(s);
}

// The per-sample distillation loss and, when d is not NULL, its gradient
// times `scale` (see layers.h). C <= DC_DISTILL_MAX_C.
static double distill_one(float *d, const float *z, const float *t, int32_t label, int C, double a, double temp,
                          double scale) {
    double ps[DC_DISTILL_MAX_C], qs[DC_DISTILL_MAX_C], qt[DC_DISTILL_MAX_C], m1, ms, mt;
    const double l1 = softmax_t(ps, z, C, 1.0, &m1);
    const double ls = softmax_t(qs, z, C, temp, &ms);
    const double lt = softmax_t(qt, t, C, temp, &mt);
    const double ce = -((double)z[label] - m1 - l1);
    double kl = 0.0; // sum_k qt log(qt / qs), terms with qt = 0 are 0
    for (int k = 0; k < C; k++)
        if (qt[k] > 0) kl += qt[k] * (((double)t[k] / temp - mt - lt) - ((double)z[k] / temp - ms - ls));
    if (d)
        for (int k = 0; k < C; k++) {
            const double g = (1.0 - a) * (ps[k] - (k == label)) + a * temp * (qs[k] - qt[k]);
            d[k] = (float)(g * scale);
        }
    return (1.0 - a) * ce + a * temp * temp * kl;
}

double dc_distill_loss(const float *logits, const float *teacher, const int32_t *labels, const float *weights,
                       int N, int C, float alpha, float temp) {
    DC_ASSERT(C >= 1 && C <= DC_DISTILL_MAX_C && temp > 0);
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const double l = distill_one(NULL, logits + (size_t)n * C, teacher + (size_t)n * C, labels[n], C, alpha,
                                     temp, 0.0);
        total += weights ? (double)weights[n] * l : l;
    }
    return N ? total / (double)N : 0.0;
}

void dc_distill_backward(float *dlogits, const float *logits, const float *teacher, const int32_t *labels,
                         const float *weights, int N, int C, float alpha, float temp, float scale) {
    DC_ASSERT(C >= 1 && C <= DC_DISTILL_MAX_C && temp > 0);
    for (int n = 0; n < N; n++)
        distill_one(dlogits + (size_t)n * C, logits + (size_t)n * C, teacher + (size_t)n * C, labels[n], C, alpha,
                    temp, (weights ? (double)weights[n] : 1.0) * scale);
}
