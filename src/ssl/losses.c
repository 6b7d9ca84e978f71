// losses.c — the self-supervised objectives and the moving-average update
// (see ssl.h for the formulas). Their gradients are checked against
// PyTorch autograd in tests/test_ssl.c (fixtures from
// tests/gen_fixtures_ssl.py).
//
// NT-Xent's gradient, written out: with u_i = z_i / |z_i|, s_ik = u_i.u_k / T
// and G_ik = d loss / d s_ik = (softmax_i(s)_k - [k = pair(i)]) / 2N for
// k != i (0 on the diagonal), the similarity matrix is symmetric, so
//   d loss / d u_i = (1/T) sum_k (G_ik + G_ki) u_k        (two GEMMs)
//   d loss / d z_i = (d u_i - (u_i . d u_i) u_i) / |z_i|  (through the norm).
// The similarities come from one GEMM (thread-count independent, as every
// deepc GEMM); each row's log-sum-exp is taken in double.
//
// Legend: n2 = 2N rows, d columns.
#include <math.h>
#include <string.h>
#include "kernels/kernels.h"
#include "ssl/ssl.h"

static int pair_of(int i, int n2) { return (i + n2 / 2) % n2; }

static double row_norm(const float *v, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) s += (double)v[j] * v[j];
    double n = sqrt(s);
    return n > 1e-12 ? n : 1e-12; // F.normalize's eps
}

// u, S, du, the norms (floats), one float of padding and the rows' loss terms (n2 doubles)
size_t dc_ntxent_work_floats(int n2, int d) {
    return 2 * (size_t)n2 * d + (size_t)n2 * n2 + (size_t)n2 + 1 + 2 * (size_t)n2;
}

double dc_ntxent(float *dz, const float *z, int n2, int d, float temperature, float *work, int nthreads) {
    // z, dz are (n2, d)
    float *u = work, *S = u + (size_t)n2 * d, *du = S + (size_t)n2 * n2, *nrm = du + (size_t)n2 * d;
    if (nthreads < 1) nthreads = 1;
    const bool par = nthreads > 1 && (size_t)n2 * n2 >= 16384; // a row's work is a pure function of it
#pragma omp parallel for num_threads(nthreads) schedule(static) if (par)
    for (int i = 0; i < n2; i++) {
        double n = row_norm(z + (size_t)i * d, d);
        nrm[i] = (float)n;
        for (int j = 0; j < d; j++) u[(size_t)i * d + j] = (float)(z[(size_t)i * d + j] / n);
    }
    dc_gemm_mt(nthreads, false, true, n2, n2, d, u, d, u, d, 0.0f, S, n2); // S = u u^T
    const double invT = 1.0 / temperature;
    // Each row's loss term goes to its own slot, summed in row order afterwards, so the loss does not depend on
    // the thread count; the row's exponentials are kept in the row (one exp per similarity), then scaled to G_i.
    const size_t lo = (size_t)(nrm - work) + (size_t)n2;
    double *row_loss = (double *)(void *)(work + lo + (lo & 1)); // 8-byte aligned: see the work size
#pragma omp parallel for num_threads(nthreads) schedule(static) if (par)
    for (int i = 0; i < n2; i++) {
        float *row = S + (size_t)i * n2;
        const int p = pair_of(i, n2);
        double mx = -INFINITY;
        for (int k = 0; k < n2; k++)
            if (k != i && row[k] * invT > mx) mx = row[k] * invT;
        const double sp = row[p] * invT;
        double s = 0;
        for (int k = 0; k < n2; k++) {
            const double e = k == i ? 0.0 : exp(row[k] * invT - mx);
            s += e;
            row[k] = (float)e;
        }
        row_loss[i] = mx + log(s) - sp;
        // the row becomes G_i (softmax minus the target, over 2N)
        const double scale = 1.0 / s;
        for (int k = 0; k < n2; k++) row[k] = (float)(((double)row[k] * scale - (k == p)) / n2);
    }
    double loss = 0;
    for (int i = 0; i < n2; i++) loss += row_loss[i];
    loss /= n2;
    if (!dz) return loss;
    dc_gemm_mt(nthreads, false, false, n2, d, n2, S, n2, u, d, 0.0f, du, d); // G u
    dc_gemm_mt(nthreads, true, false, n2, d, n2, S, n2, u, d, 1.0f, du, d);  // + G^T u
#pragma omp parallel for num_threads(nthreads) schedule(static) if (par)
    for (int i = 0; i < n2; i++) {
        const float *ui = u + (size_t)i * d;
        float *dui = du + (size_t)i * d, *dzi = dz + (size_t)i * d;
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)ui[j] * dui[j] * invT;
        for (int j = 0; j < d; j++) dzi[j] = (float)((dui[j] * invT - dot * ui[j]) / nrm[i]);
    }
    return loss;
}

double dc_cosine_loss(float *dp, const float *p, const float *t, int n2, int d, float a, float b) {
    // p, t, dp are (n2, d); row i of p regresses row pair(i) of t
    double loss = 0;
    for (int i = 0; i < n2; i++) {
        const float *pi = p + (size_t)i * d, *tj = t + (size_t)pair_of(i, n2) * d;
        const double np = row_norm(pi, d), nt = row_norm(tj, d);
        double dot = 0;
        for (int k = 0; k < d; k++) dot += (double)pi[k] * tj[k];
        const double cos = dot / (np * nt);
        loss += a - b * cos;
        if (dp) {
            const double g = -(double)b / n2 / np; // d loss / d (p_hat . t_hat), through the norm of p
            for (int k = 0; k < d; k++)
                dp[(size_t)i * d + k] = (float)(g * (tj[k] / nt - cos * pi[k] / np));
        }
    }
    return loss / n2;
}

void dc_ema_update(float *target, const float *online, size_t n, float tau) {
    const float one_minus = 1.0f - tau;
    for (size_t i = 0; i < n; i++) target[i] = target[i] * tau + online[i] * one_minus;
}

double dc_byol_tau(double base, long step, long total) {
    if (total <= 0) return base;
    return 1.0 - (1.0 - base) * (cos(3.141592653589793 * (double)step / (double)total) + 1.0) / 2.0;
}
