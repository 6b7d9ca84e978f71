// knn.c — the representation monitor: weighted kNN accuracy on normalised
// features, the per-dimension spread that flags a collapse, and feature
// extraction at any node of a model.
//
// Legend: nb bank rows, nq query rows, d feature width.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "data/data.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "ssl/ssl.h"

static void normalise_rows(float *dst, const float *src, int n, int d) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)src[(size_t)i * d + j] * src[(size_t)i * d + j];
        double nr = sqrt(s);
        if (nr < 1e-12) nr = 1e-12;
        for (int j = 0; j < d; j++) dst[(size_t)i * d + j] = (float)(src[(size_t)i * d + j] / nr);
    }
}

dc_status dc_knn_accuracy(double *accuracy, const float *bank, const int32_t *bank_y, int nb, const float *query,
                          const int32_t *query_y, int nq, int d, int n_classes, int k, float t, int nthreads,
                          dc_error *err) {
    *accuracy = 0;
    if (nb < 1 || nq < 0 || d < 1 || k < 1 || n_classes < 2 || !(t > 0))
        return dc_fail(err, DC_ERR_ARG, "kNN monitor: needs a bank, k >= 1, 2+ classes and a temperature > 0");
    if (k > nb) k = nb;
    enum { QB = 256 };
    float *B = malloc(sizeof(float) * (size_t)nb * d), *Q = malloc(sizeof(float) * (size_t)QB * d);
    float *S = malloc(sizeof(float) * (size_t)QB * nb);
    if (!B || !Q || !S) {
        free(B);
        free(Q);
        free(S);
        return dc_fail(err, DC_ERR_NOMEM, "kNN monitor: out of memory for a bank of %d", nb);
    }
    normalise_rows(B, bank, nb, d);
    long correct = 0;
    for (int q0 = 0; q0 < nq; q0 += QB) {
        const int m = nq - q0 < QB ? nq - q0 : QB;
        normalise_rows(Q, query + (size_t)q0 * d, m, d);
        dc_gemm_mt(nthreads, false, true, m, nb, d, Q, d, B, d, 0.0f, S, nb);
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : correct) if (nthreads > 1)
        for (int i = 0; i < m; i++) {
            const float *row = S + (size_t)i * nb;
            int top[256];
            float topv[256];
            const int kk = k < 256 ? k : 256;
            int have = 0;
            for (int j = 0; j < nb; j++) { // insertion into the kk best (ties: lower index first)
                float v = row[j];
                if (have == kk && !(v > topv[kk - 1])) continue;
                int pos = have < kk ? have++ : kk - 1;
                while (pos > 0 && v > topv[pos - 1]) {
                    topv[pos] = topv[pos - 1];
                    top[pos] = top[pos - 1];
                    pos--;
                }
                topv[pos] = v;
                top[pos] = j;
            }
            double votes[1024];
            const int C = n_classes < 1024 ? n_classes : 1024;
            for (int c = 0; c < C; c++) votes[c] = 0;
            for (int j = 0; j < have; j++) {
                int y = bank_y[top[j]];
                if (y >= 0 && y < C) votes[y] += exp((double)topv[j] / t);
            }
            int best = 0;
            for (int c = 1; c < C; c++)
                if (votes[c] > votes[best]) best = c;
            correct += best == query_y[q0 + i];
        }
    }
    free(B);
    free(Q);
    free(S);
    *accuracy = nq ? (double)correct / nq : 0.0;
    return DC_OK;
}

double dc_embedding_std(const float *f, int n, int d) {
    if (n < 2 || d < 1) return 0;
    double *mean = calloc((size_t)d, sizeof(double)), *m2 = calloc((size_t)d, sizeof(double));
    if (!mean || !m2) {
        free(mean);
        free(m2);
        return NAN;
    }
    for (int i = 0; i < n; i++) {
        const float *r = f + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)r[j] * r[j];
        double nr = sqrt(s);
        if (nr < 1e-12) nr = 1e-12;
        for (int j = 0; j < d; j++) { // Welford per dimension
            double v = r[j] / nr, delta = v - mean[j];
            mean[j] += delta / (i + 1);
            m2[j] += delta * (v - mean[j]);
        }
    }
    double s = 0;
    for (int j = 0; j < d; j++) s += sqrt(m2[j] / (n - 1)); // torch.std: unbiased
    free(mean);
    free(m2);
    return s / d;
}

dc_status dc_model_node_features(float *out, dc_model *m, int node, const dc_dataset *ds, int batch, int nthreads,
                                 dc_error *err) {
    if (node < 0 || node >= m->n_nodes) return dc_fail(err, DC_ERR_ARG, "features: no node %d", node);
    if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d", ds->source, ds->c,
                       ds->h, ds->w, m->in_c, m->in_h, m->in_w);
    if (batch < 1) batch = 256;
    if (batch > ds->n) batch = ds->n > 0 ? ds->n : 1;
    dc_graph g = dc_model_graph(m);
    dc_runtime *rt = NULL;
    dc_status st = dc_runtime_new(&rt, &g, batch, DC_MODE_EVAL, DC_RT_KEEP_ALL, nthreads, err);
    if (st) return st;
    dc_runtime_bind(rt, m->params, NULL, m->state);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)batch);
    if (!idx) {
        dc_runtime_free(rt);
        return dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
    }
    const size_t sz = dc_node_size(&m->nodes[node]);
    for (int s = 0; s < ds->n; s += batch) {
        int n = ds->n - s < batch ? ds->n - s : batch;
        for (int i = 0; i < n; i++) idx[i] = s + i;
        dc_batch_gather(dc_runtime_input(rt), NULL, ds, idx, n, m->norm_mean, m->norm_std);
        dc_runtime_forward(rt, n, NULL);
        memcpy(out + (size_t)s * sz, dc_runtime_node_output(rt, node), sizeof(float) * sz * (size_t)n);
    }
    free(idx);
    dc_runtime_free(rt);
    return DC_OK;
}
