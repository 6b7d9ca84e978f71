// c_export.c — C99 source of a model (see c_export.h): the liveness plan of
// the arena, the constant data, and a run function that calls a few plain
// kernels (emitted only when used, so -Wall -Wextra -Werror holds) in the
// model's node order.
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "export/c_export.h"

// ---------------------------------------------------------------------------
// A growing string

typedef struct sb {
    char *s;
    size_t n, cap;
    bool oom;
} sb;

static void sbf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbf(sb *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? 2 * b->cap : 1 << 16;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

static void arr_f32(sb *b, const char *name, const float *v, size_t n) {
    sbf(b, "static const float %s[%zu] = {", name, n ? n : 1);
    for (size_t j = 0; j < n; j++) sbf(b, "%s%.9ef", !j ? "\n    " : j % 6 ? ", " : ",\n    ", (double)v[j]);
    sbf(b, "%s};\n", n ? "" : "0");
}

static void arr_i32(sb *b, const char *name, const int32_t *v, size_t n) {
    sbf(b, "static const int32_t %s[%zu] = {", name, n ? n : 1);
    for (size_t j = 0; j < n; j++) {
        // INT32_MIN has no literal of its own type
        const char *sep = !j ? "\n    " : j % 8 ? ", " : ",\n    ";
        if (v[j] == INT32_MIN) sbf(b, "%s(-2147483647 - 1)", sep);
        else sbf(b, "%s%ld", sep, (long)v[j]);
    }
    sbf(b, "%s};\n", n ? "" : "0");
}

static void arr_i8(sb *b, const char *type, const char *name, const int *v, size_t n) {
    sbf(b, "static const %s %s[%zu] = {", type, name, n ? n : 1);
    for (size_t j = 0; j < n; j++) sbf(b, "%s%d", !j ? "\n    " : j % 16 ? "," : ",\n    ", v[j]);
    sbf(b, "%s};\n", n ? "" : "0");
}

// ---------------------------------------------------------------------------
// Kernels (C source), emitted when used

enum {
    K_QCONV, K_QCONV32, K_QLIN, K_QLIN32, K_QMAX, K_QAVG, K_QGAP, K_QRELU, K_QLUT, K_QADD, K_QCAT,
    K_FCONV, K_FLIN, K_FBN, K_FRELU, K_FTANH, K_FSIG, K_FMAX, K_FAVG, K_FGAP, K_FADD, K_FCAT, K_N
};

static const char *const k_fixed =
    "/* gemmlowp fixed point (kernels/int8_kernels.h): SRDHM(a, b) = (a*b + 2^30) >> 31,\n"
    "   RDBPOT(x, e) rounds half away from zero, MBQM(x, M0, sh) = RDBPOT(SRDHM(x << max(sh,0), M0), max(-sh,0)).\n"
    "   >> of a negative value is arithmetic (as every C99 compiler for these targets does). */\n"
    "static int32_t srdhm(int32_t a, int32_t b) { return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31); }\n"
    "static int32_t rdbpot(int32_t x, int e) {\n"
    "    const int32_t mask = (int32_t)((1u << e) - 1u), rem = x & mask, thr = (mask >> 1) + (x < 0);\n"
    "    return (x >> e) + (rem > thr);\n}\n"
    "static int32_t mbqm(int32_t x, int32_t m0, int32_t sh) {\n"
    "    const int ls = sh > 0 ? sh : 0, rs = sh > 0 ? 0 : -sh;\n"
    "    return rdbpot(srdhm((int32_t)((uint32_t)x << ls), m0), rs);\n}\n"
    "static int32_t clamp32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }\n";

static const char *const k_src[K_N] = {
    [K_QCONV] =
        "/* y (OC,OH,OW) = clamp(zo + MBQM(b[o] + sum (x - za) * w, M[o], S[o]), lo, hi); x (C,H,W) */\n"
        "static void q_conv(uint8_t *y, const uint8_t *x, const int8_t *w, const int32_t *b, const int32_t *M, const int32_t *S,\n"
        "                   int C, int H, int W, int OC, int K, int st, int pad, int OH, int OW, int32_t za, int32_t zo, int32_t lo, int32_t hi) {\n"
        "    int o, oh, ow, c, i, j;\n"
        "    for (o = 0; o < OC; o++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                int32_t acc = b[o];\n"
        "                for (c = 0; c < C; c++)\n"
        "                    for (i = 0; i < K; i++) {\n"
        "                        const int ih = oh * st - pad + i;\n"
        "                        if (ih < 0 || ih >= H) continue;\n"
        "                        for (j = 0; j < K; j++) {\n"
        "                            const int iw = ow * st - pad + j;\n"
        "                            if (iw < 0 || iw >= W) continue;\n"
        "                            acc += ((int32_t)x[(c * H + ih) * W + iw] - za) * w[((o * C + c) * K + i) * K + j];\n"
        "                        }\n"
        "                    }\n"
        "                y[(o * OH + oh) * OW + ow] = (uint8_t)clamp32(mbqm(acc, M[o], S[o]) + zo, lo, hi);\n"
        "            }\n}\n",
    [K_QCONV32] =
        "/* the output layer's convolution: int32 values, not clamped */\n"
        "static void q_conv32(int32_t *y, const uint8_t *x, const int8_t *w, const int32_t *b, const int32_t *M, const int32_t *S,\n"
        "                     int C, int H, int W, int OC, int K, int st, int pad, int OH, int OW, int32_t za) {\n"
        "    int o, oh, ow, c, i, j;\n"
        "    for (o = 0; o < OC; o++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                int32_t acc = b[o];\n"
        "                for (c = 0; c < C; c++)\n"
        "                    for (i = 0; i < K; i++) {\n"
        "                        const int ih = oh * st - pad + i;\n"
        "                        if (ih < 0 || ih >= H) continue;\n"
        "                        for (j = 0; j < K; j++) {\n"
        "                            const int iw = ow * st - pad + j;\n"
        "                            if (iw < 0 || iw >= W) continue;\n"
        "                            acc += ((int32_t)x[(c * H + ih) * W + iw] - za) * w[((o * C + c) * K + i) * K + j];\n"
        "                        }\n"
        "                    }\n"
        "                y[(o * OH + oh) * OW + ow] = mbqm(acc, M[o], S[o]);\n"
        "            }\n}\n",
    [K_QLIN] =
        "/* y (O) = clamp(zo + MBQM(b[o] + sum (x - za) * w[o], M[o], S[o]), lo, hi); x (I) */\n"
        "static void q_linear(uint8_t *y, const uint8_t *x, const int8_t *w, const int32_t *b, const int32_t *M, const int32_t *S,\n"
        "                     int I, int O, int32_t za, int32_t zo, int32_t lo, int32_t hi) {\n"
        "    int o, k;\n"
        "    for (o = 0; o < O; o++) {\n"
        "        int32_t acc = b[o];\n"
        "        for (k = 0; k < I; k++) acc += ((int32_t)x[k] - za) * w[o * I + k];\n"
        "        y[o] = (uint8_t)clamp32(mbqm(acc, M[o], S[o]) + zo, lo, hi);\n"
        "    }\n}\n",
    [K_QLIN32] =
        "/* the output layer: int32 logits, not clamped */\n"
        "static void q_linear32(int32_t *y, const uint8_t *x, const int8_t *w, const int32_t *b, const int32_t *M, const int32_t *S,\n"
        "                       int I, int O, int32_t za) {\n"
        "    int o, k;\n"
        "    for (o = 0; o < O; o++) {\n"
        "        int32_t acc = b[o];\n"
        "        for (k = 0; k < I; k++) acc += ((int32_t)x[k] - za) * w[o * I + k];\n"
        "        y[o] = mbqm(acc, M[o], S[o]);\n"
        "    }\n}\n",
    [K_QMAX] =
        "static void q_maxpool(uint8_t *y, const uint8_t *x, int C, int H, int W, int k, int st, int OH, int OW) {\n"
        "    int c, oh, ow, i, j;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                uint8_t m = 0;\n"
        "                for (i = 0; i < k; i++)\n"
        "                    for (j = 0; j < k; j++) {\n"
        "                        const uint8_t v = x[(c * H + oh * st + i) * W + ow * st + j];\n"
        "                        m = v > m ? v : m;\n"
        "                    }\n"
        "                y[(c * OH + oh) * OW + ow] = m;\n"
        "            }\n}\n",
    [K_QAVG] =
        "/* the mean rounded half up: (sum + k*k/2) / (k*k) */\n"
        "static void q_avgpool(uint8_t *y, const uint8_t *x, int C, int H, int W, int k, int st, int OH, int OW) {\n"
        "    int c, oh, ow, i, j;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                int32_t s = 0;\n"
        "                for (i = 0; i < k; i++)\n"
        "                    for (j = 0; j < k; j++) s += x[(c * H + oh * st + i) * W + ow * st + j];\n"
        "                y[(c * OH + oh) * OW + ow] = (uint8_t)((s + k * k / 2) / (k * k));\n"
        "            }\n}\n",
    [K_QGAP] =
        "static void q_gap(uint8_t *y, const uint8_t *x, int C, int HW) {\n"
        "    int c, p;\n"
        "    for (c = 0; c < C; c++) {\n"
        "        int32_t s = 0;\n"
        "        for (p = 0; p < HW; p++) s += x[c * HW + p];\n"
        "        y[c] = (uint8_t)((s + HW / 2) / HW);\n"
        "    }\n}\n",
    [K_QRELU] =
        "static void q_relu(uint8_t *y, const uint8_t *x, int n, uint8_t z) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++) y[i] = x[i] > z ? x[i] : z;\n}\n",
    [K_QLUT] =
        "static void q_lut(uint8_t *y, const uint8_t *x, int n, const uint8_t *t) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++) y[i] = t[x[i]];\n}\n",
    [K_QADD] =
        "/* TFLite's ADD: each input rescaled to 2^-20 units of a common scale, summed, requantised */\n"
        "static void q_add(uint8_t *y, const uint8_t *const *x, int n_in, int n, const int32_t *p, int32_t mo, int32_t so,\n"
        "                  int32_t zo, int32_t lo, int32_t hi) {\n"
        "    int i, k;\n"
        "    for (i = 0; i < n; i++) {\n"
        "        int32_t s = 0;\n"
        "        for (k = 0; k < n_in; k++) s += mbqm((int32_t)((uint32_t)((int32_t)x[k][i] - p[3 * k]) << 20), p[3 * k + 1], p[3 * k + 2]);\n"
        "        y[i] = (uint8_t)clamp32(mbqm(s, mo, so) + zo, lo, hi);\n"
        "    }\n}\n",
    [K_QCAT] =
        "/* channel concatenation, each input rescaled to the output as one term of an add */\n"
        "static void q_concat(uint8_t *y, const uint8_t *x, int n, const int32_t *p, int32_t mo, int32_t so, int32_t zo, int32_t hi) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++)\n"
        "        y[i] = (uint8_t)clamp32(mbqm(mbqm((int32_t)((uint32_t)((int32_t)x[i] - p[0]) << 20), p[1], p[2]), mo, so) + zo, 0, hi);\n"
        "}\n",
    [K_FCONV] =
        "/* y (OC,OH,OW) = b + w * x (cross-correlation, zero padding); x (C,H,W) */\n"
        "static void f_conv(float *y, const float *x, const float *w, const float *b, int C, int H, int W, int OC, int K,\n"
        "                   int st, int pad, int OH, int OW) {\n"
        "    int o, oh, ow, c, i, j;\n"
        "    for (o = 0; o < OC; o++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                float acc = b ? b[o] : 0.0f;\n"
        "                for (c = 0; c < C; c++)\n"
        "                    for (i = 0; i < K; i++) {\n"
        "                        const int ih = oh * st - pad + i;\n"
        "                        if (ih < 0 || ih >= H) continue;\n"
        "                        for (j = 0; j < K; j++) {\n"
        "                            const int iw = ow * st - pad + j;\n"
        "                            if (iw < 0 || iw >= W) continue;\n"
        "                            acc += x[(c * H + ih) * W + iw] * w[((o * C + c) * K + i) * K + j];\n"
        "                        }\n"
        "                    }\n"
        "                y[(o * OH + oh) * OW + ow] = acc;\n"
        "            }\n}\n",
    [K_FLIN] =
        "static void f_linear(float *y, const float *x, const float *w, const float *b, int I, int O) {\n"
        "    int o, k;\n"
        "    for (o = 0; o < O; o++) {\n"
        "        float acc = b ? b[o] : 0.0f;\n"
        "        for (k = 0; k < I; k++) acc += x[k] * w[o * I + k];\n"
        "        y[o] = acc;\n"
        "    }\n}\n",
    [K_FBN] =
        "/* BatchNorm in eval mode as y = x * s[c] + t[c] (s = gamma / sqrt(var + eps), t = beta - mean * s) */\n"
        "static void f_bn(float *y, const float *x, const float *s, const float *t, int C, int HW) {\n"
        "    int c, p;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (p = 0; p < HW; p++) y[c * HW + p] = x[c * HW + p] * s[c] + t[c];\n}\n",
    [K_FRELU] =
        "static void f_relu(float *y, const float *x, int n) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;\n}\n",
    [K_FTANH] =
        "static void f_tanh(float *y, const float *x, int n) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++) y[i] = tanhf(x[i]);\n}\n",
    [K_FSIG] =
        "static void f_sigmoid(float *y, const float *x, int n) {\n"
        "    int i;\n"
        "    for (i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));\n}\n",
    [K_FMAX] =
        "static void f_maxpool(float *y, const float *x, int C, int H, int W, int k, int st, int OH, int OW) {\n"
        "    int c, oh, ow, i, j;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                float m = x[(c * H + oh * st) * W + ow * st];\n"
        "                for (i = 0; i < k; i++)\n"
        "                    for (j = 0; j < k; j++) {\n"
        "                        const float v = x[(c * H + oh * st + i) * W + ow * st + j];\n"
        "                        m = v > m ? v : m;\n"
        "                    }\n"
        "                y[(c * OH + oh) * OW + ow] = m;\n"
        "            }\n}\n",
    [K_FAVG] =
        "static void f_avgpool(float *y, const float *x, int C, int H, int W, int k, int st, int OH, int OW) {\n"
        "    int c, oh, ow, i, j;\n"
        "    for (c = 0; c < C; c++)\n"
        "        for (oh = 0; oh < OH; oh++)\n"
        "            for (ow = 0; ow < OW; ow++) {\n"
        "                float s = 0.0f;\n"
        "                for (i = 0; i < k; i++)\n"
        "                    for (j = 0; j < k; j++) s += x[(c * H + oh * st + i) * W + ow * st + j];\n"
        "                y[(c * OH + oh) * OW + ow] = s / (float)(k * k);\n"
        "            }\n}\n",
    [K_FGAP] =
        "static void f_gap(float *y, const float *x, int C, int HW) {\n"
        "    int c, p;\n"
        "    for (c = 0; c < C; c++) {\n"
        "        float s = 0.0f;\n"
        "        for (p = 0; p < HW; p++) s += x[c * HW + p];\n"
        "        y[c] = s / (float)HW;\n"
        "    }\n}\n",
    [K_FADD] =
        "static void f_add(float *y, const float *const *x, int n_in, int n) {\n"
        "    int i, k;\n"
        "    for (i = 0; i < n; i++) {\n"
        "        float s = x[0][i];\n"
        "        for (k = 1; k < n_in; k++) s += x[k][i];\n"
        "        y[i] = s;\n"
        "    }\n}\n",
    [K_FCAT] = "", // a memcpy per input
};

// ---------------------------------------------------------------------------
// The plan

typedef struct cplan {
    int nn;
    int *alias;      // (nn) node whose buffer node i's output is (itself when it has its own)
    bool *inplace;   // (nn) fp32 relu computed in its input's buffer
    size_t *bytes;   // (nn) buffer bytes (own buffers)
    int *end;        // (nn) last reader of the buffer (own buffers)
    size_t *off;     // (nn) arena offset
    bool *placed;
    size_t arena, sum;
    int buffers;
} cplan;

static void cplan_free(cplan *p) {
    free(p->alias), free(p->inplace), free(p->bytes), free(p->end), free(p->off), free(p->placed);
}

static bool kind_is(const dc_node *n, const char *k) { return !strcmp(n->op->kind, k); }

static dc_status plan_arena(cplan *p, const dc_model *m, bool q, dc_error *err) {
    const int nn = m->n_nodes;
    memset(p, 0, sizeof *p);
    p->nn = nn;
    p->alias = malloc(sizeof(int) * (size_t)nn);
    p->inplace = calloc((size_t)nn, sizeof(bool));
    p->bytes = calloc((size_t)nn, sizeof(size_t));
    p->end = calloc((size_t)nn, sizeof(int));
    p->off = calloc((size_t)nn, sizeof(size_t));
    p->placed = calloc((size_t)nn, sizeof(bool));
    int *readers = calloc((size_t)nn, sizeof(int));
    if (!p->alias || !p->inplace || !p->bytes || !p->end || !p->off || !p->placed || !readers) {
        free(readers);
        return dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    }
    for (int i = 1; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) readers[m->nodes[i].in[k]]++;
    const size_t esz = q ? 1 : 4;
    bool *fused = calloc((size_t)nn, sizeof(bool));
    if (!fused) {
        free(readers);
        return dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    }
    for (int i = 0; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        p->alias[i] = i;
        if (i > 0 && (kind_is(n, "flatten") || kind_is(n, "dropout"))) p->alias[i] = p->alias[n->in[0]];
        else if (q && fused[i]) p->alias[i] = p->alias[n->in[0]];
        else if (!q && i > 0 && kind_is(n, "relu") && readers[n->in[0]] == 1 && n->in[0] > 0 && i < nn - 1 &&
                 p->alias[n->in[0]] == n->in[0]) // its input's only reader, and not a view of a shared buffer
            p->alias[i] = p->alias[n->in[0]], p->inplace[i] = true;
        if (q) {
            const int r = dc_q_fused_relu(m, i);
            if (r >= 0) fused[r] = true;
        }
        if (p->alias[i] == i) p->bytes[i] = esz * dc_node_size(n);
    }
    // an int8 model's weighted output layer writes the caller's int32 logits
    if (q && dc_q_weighted(&m->nodes[nn - 1])) p->bytes[nn - 1] = 0;
    for (int i = 0; i < nn; i++) p->end[p->alias[i]] = p->end[p->alias[i]] > i ? p->end[p->alias[i]] : i;
    for (int j = 1; j < nn; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++) {
            const int b = p->alias[m->nodes[j].in[k]];
            if (p->end[b] < j) p->end[b] = j;
        }
    p->end[p->alias[nn - 1]] = nn; // read by the final copy to the logits
    // greedy placement: largest first, lowest offset free over the buffer's lifetime
    for (;;) {
        int best = -1;
        for (int i = 0; i < nn; i++)
            if (p->alias[i] == i && p->bytes[i] && !p->placed[i] && (best < 0 || p->bytes[i] > p->bytes[best])) best = i;
        if (best < 0) break;
        size_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < nn; j++) {
                if (!p->placed[j]) continue;
                const bool live = !(p->end[j] < best || p->end[best] < j); // [j, end_j] meets [best, end_best]
                if (live && off < p->off[j] + p->bytes[j] && p->off[j] < off + p->bytes[best]) {
                    off = (p->off[j] + p->bytes[j] + 3) / 4 * 4; // 4-byte aligned
                    moved = true;
                }
            }
        }
        p->off[best] = off;
        p->placed[best] = true;
        p->buffers++;
        p->sum += p->bytes[best];
        if (off + p->bytes[best] > p->arena) p->arena = off + p->bytes[best];
    }
    free(readers);
    free(fused);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Code

typedef struct gen {
    sb data, body;
    bool used[K_N];
    const dc_model *m;
    const cplan *p;
    const char *name;
    size_t const_bytes;
    bool math;
} gen;

static void buf_expr(char *out, size_t cap, const gen *g, int node, bool q) {
    const int b = g->p->alias[node];
    snprintf(out, cap, "(%s)(A + %zu)", q ? "uint8_t *" : "float *", g->p->off[b]);
}

static void emit_int8_node(gen *g, int i) {
    const dc_model *m = g->m;
    const dc_qmodel *q = m->quant;
    const dc_node *n = &m->nodes[i];
    const int nn = m->n_nodes;
    const bool last = i == nn - 1;
    char y[64], x[64], nm[64];
    buf_expr(y, sizeof y, g, i, true);
    buf_expr(x, sizeof x, g, n->in[0], true);
    const int a = n->in[0];
    const int r = dc_q_fused_relu(m, i);
    const int32_t zo = q->act_zp[i], za = q->act_zp[a];
    const int32_t lo = r >= 0 ? zo : 0, hi = q->qmax;
    sbf(&g->body, "    /* %s (%s) */\n", n->name, n->op->kind);
    if (dc_q_weighted(n)) {
        const int OC = n->c;
        const size_t per = n->t[0].n / (size_t)OC;
        int *w = malloc(sizeof(int) * n->t[0].n);
        int32_t *M = malloc(sizeof(int32_t) * 2 * (size_t)OC);
        if (!w || !M) {
            free(w), free(M);
            g->data.oom = true;
            return;
        }
        for (size_t j = 0; j < n->t[0].n; j++) w[j] = q->w[i][j];
        const double s_in = q->act_scale[a], s_out = q->act_scale[i];
        for (int o = 0; o < OC; o++) dc_quantize_multiplier(s_in * q->w_scale[i][o] / s_out, &M[o], &M[OC + o]);
        snprintf(nm, sizeof nm, "w%d", i);
        arr_i8(&g->data, "int8_t", nm, w, n->t[0].n);
        snprintf(nm, sizeof nm, "b%d", i);
        arr_i32(&g->data, nm, q->bias[i], (size_t)OC);
        snprintf(nm, sizeof nm, "m%d", i);
        arr_i32(&g->data, nm, M, (size_t)OC);
        snprintf(nm, sizeof nm, "s%d", i);
        arr_i32(&g->data, nm, M + OC, (size_t)OC);
        g->const_bytes += n->t[0].n + 12 * (size_t)OC;
        free(w), free(M);
        if (kind_is(n, "conv2d")) {
            const dc_conv_cfg *c = &n->cfg.conv;
            if (last) {
                g->used[K_QCONV32] = true;
                sbf(&g->body, "    q_conv32(logits, %s, w%d, b%d, m%d, s%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %ld);\n", x, i, i, i, i,
                    n->in_c, n->in_h, n->in_w, OC, c->k, c->stride, c->pad, n->h, n->w, (long)za);
            } else {
                g->used[K_QCONV] = true;
                sbf(&g->body, "    q_conv(%s, %s, w%d, b%d, m%d, s%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %ld, %ld, %ld, %ld);\n", y, x,
                    i, i, i, i, n->in_c, n->in_h, n->in_w, OC, c->k, c->stride, c->pad, n->h, n->w, (long)za, (long)zo,
                    (long)lo, (long)hi);
            }
        } else {
            if (last) {
                g->used[K_QLIN32] = true;
                sbf(&g->body, "    q_linear32(logits, %s, w%d, b%d, m%d, s%d, %zu, %d, %ld);\n", x, i, i, i, i, per, OC, (long)za);
            } else {
                g->used[K_QLIN] = true;
                sbf(&g->body, "    q_linear(%s, %s, w%d, b%d, m%d, s%d, %zu, %d, %ld, %ld, %ld, %ld);\n", y, x, i, i, i, i, per, OC,
                    (long)za, (long)zo, (long)lo, (long)hi);
            }
        }
    } else if (kind_is(n, "maxpool") || kind_is(n, "avgpool")) {
        const bool mx = kind_is(n, "maxpool");
        g->used[mx ? K_QMAX : K_QAVG] = true;
        sbf(&g->body, "    %s(%s, %s, %d, %d, %d, %d, %d, %d, %d);\n", mx ? "q_maxpool" : "q_avgpool", y, x, n->in_c, n->in_h,
            n->in_w, n->cfg.pool.k, n->cfg.pool.stride, n->h, n->w);
    } else if (kind_is(n, "globalavgpool")) {
        g->used[K_QGAP] = true;
        sbf(&g->body, "    q_gap(%s, %s, %d, %d);\n", y, x, n->in_c, n->in_h * n->in_w);
    } else if (kind_is(n, "relu")) {
        g->used[K_QRELU] = true;
        sbf(&g->body, "    q_relu(%s, %s, %zu, %ld);\n", y, x, dc_node_size(n), (long)za);
    } else if (kind_is(n, "tanh") || kind_is(n, "sigmoid")) {
        int t[256];
        const double si = q->act_scale[a], so = q->act_scale[i];
        for (int v = 0; v < 256; v++) {
            const double xv = si * (v - za), f = kind_is(n, "tanh") ? tanh(xv) : 1.0 / (1.0 + exp(-xv));
            int32_t o = dc_round_i32(f / so) + zo;
            t[v] = o < 0 ? 0 : o > q->qmax ? q->qmax : o;
        }
        snprintf(nm, sizeof nm, "t%d", i);
        arr_i8(&g->data, "uint8_t", nm, t, 256);
        g->const_bytes += 256;
        g->used[K_QLUT] = true;
        sbf(&g->body, "    q_lut(%s, %s, %zu, t%d);\n", y, x, dc_node_size(n), i);
    } else if (kind_is(n, "add") || kind_is(n, "concat")) {
        // the same parameters as compress/qplan.c's add_params
        double mx = 0;
        for (int k = 0; k < n->n_in; k++) mx = fmax(mx, q->act_scale[n->in[k]]);
        const double twice = 2.0 * mx;
        int32_t pr[3 * DC_NODE_MAX_IN], mo, so;
        for (int k = 0; k < n->n_in; k++) {
            pr[3 * k] = q->act_zp[n->in[k]];
            dc_quantize_multiplier(q->act_scale[n->in[k]] / twice, &pr[3 * k + 1], &pr[3 * k + 2]);
        }
        dc_quantize_multiplier(twice / ((double)(1 << 20) * q->act_scale[i]), &mo, &so);
        snprintf(nm, sizeof nm, "p%d", i);
        arr_i32(&g->data, nm, pr, 3 * (size_t)n->n_in);
        g->const_bytes += 12 * (size_t)n->n_in;
        if (kind_is(n, "add")) {
            g->used[K_QADD] = true;
            sbf(&g->body, "    {\n        const uint8_t *in[%d];\n", n->n_in);
            for (int k = 0; k < n->n_in; k++) {
                char xi[64];
                buf_expr(xi, sizeof xi, g, n->in[k], true);
                sbf(&g->body, "        in[%d] = %s;\n", k, xi);
            }
            sbf(&g->body, "        q_add(%s, in, %d, %zu, p%d, %ld, %ld, %ld, %ld, %ld);\n    }\n", y, n->n_in, dc_node_size(n), i,
                (long)mo, (long)so, (long)zo, (long)lo, (long)hi);
        } else {
            g->used[K_QCAT] = true;
            size_t off = 0;
            for (int k = 0; k < n->n_in; k++) {
                char xi[64];
                buf_expr(xi, sizeof xi, g, n->in[k], true);
                const size_t cnt = dc_node_size(&m->nodes[n->in[k]]);
                sbf(&g->body, "    q_concat(%s + %zu, %s, %zu, p%d + %d, %ld, %ld, %ld, %ld);\n", y, off, xi, cnt, i, 3 * k,
                    (long)mo, (long)so, (long)zo, (long)hi);
                off += cnt;
            }
        }
    }
    // flatten, dropout and fused relus: views (no code)
}

static void emit_fp32_node(gen *g, int i) {
    const dc_model *m = g->m;
    const dc_node *n = &m->nodes[i];
    char y[64], x[64], nm[64];
    buf_expr(y, sizeof y, g, i, false);
    buf_expr(x, sizeof x, g, n->in[0], false);
    sbf(&g->body, "    /* %s (%s) */\n", n->name, n->op->kind);
    if (kind_is(n, "conv2d") || kind_is(n, "linear")) {
        const bool has_b = n->n_t > 1 && !strcmp(n->t[1].suffix, "bias");
        snprintf(nm, sizeof nm, "w%d", i);
        arr_f32(&g->data, nm, m->params + n->t[0].off, n->t[0].n);
        g->const_bytes += 4 * n->t[0].n;
        if (has_b) {
            snprintf(nm, sizeof nm, "b%d", i);
            arr_f32(&g->data, nm, m->params + n->t[1].off, n->t[1].n);
            g->const_bytes += 4 * n->t[1].n;
        }
        char bb[16];
        snprintf(bb, sizeof bb, has_b ? "b%d" : "0", i);
        if (kind_is(n, "conv2d")) {
            const dc_conv_cfg *c = &n->cfg.conv;
            g->used[K_FCONV] = true;
            sbf(&g->body, "    f_conv(%s, %s, w%d, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d);\n", y, x, i, bb, n->in_c, n->in_h,
                n->in_w, n->c, c->k, c->stride, c->pad, n->h, n->w);
        } else {
            g->used[K_FLIN] = true;
            sbf(&g->body, "    f_linear(%s, %s, w%d, %s, %zu, %d);\n", y, x, i, bb, n->t[0].n / (size_t)n->c, n->c);
        }
    } else if (kind_is(n, "batchnorm2d")) {
        const int C = n->c;
        float *s = malloc(sizeof(float) * 2 * (size_t)C);
        if (!s) {
            g->data.oom = true;
            return;
        }
        const dc_tensor_ref *rm = dc_node_tensor(n, "running_mean"), *rv = dc_node_tensor(n, "running_var");
        for (int c = 0; c < C; c++) {
            const float gamma = n->cfg.bn.affine ? m->params[n->t[0].off + c] : 1.0f;
            const float beta = n->cfg.bn.affine ? m->params[n->t[1].off + c] : 0.0f;
            s[c] = gamma / sqrtf(m->state[rv->off + c] + n->cfg.bn.eps);
            s[C + c] = beta - m->state[rm->off + c] * s[c];
        }
        snprintf(nm, sizeof nm, "bs%d", i);
        arr_f32(&g->data, nm, s, (size_t)C);
        snprintf(nm, sizeof nm, "bt%d", i);
        arr_f32(&g->data, nm, s + C, (size_t)C);
        g->const_bytes += 8 * (size_t)C;
        free(s);
        g->used[K_FBN] = true;
        sbf(&g->body, "    f_bn(%s, %s, bs%d, bt%d, %d, %d);\n", y, x, i, i, C, n->h * n->w);
    } else if (kind_is(n, "relu") || kind_is(n, "tanh") || kind_is(n, "sigmoid")) {
        const int k = kind_is(n, "relu") ? K_FRELU : kind_is(n, "tanh") ? K_FTANH : K_FSIG;
        g->used[k] = true;
        if (k != K_FRELU) g->math = true;
        sbf(&g->body, "    %s(%s, %s, %zu);\n", k == K_FRELU ? "f_relu" : k == K_FTANH ? "f_tanh" : "f_sigmoid", y, x,
            dc_node_size(n));
    } else if (kind_is(n, "maxpool") || kind_is(n, "avgpool")) {
        const bool mx = kind_is(n, "maxpool");
        g->used[mx ? K_FMAX : K_FAVG] = true;
        sbf(&g->body, "    %s(%s, %s, %d, %d, %d, %d, %d, %d, %d);\n", mx ? "f_maxpool" : "f_avgpool", y, x, n->in_c, n->in_h,
            n->in_w, n->cfg.pool.k, n->cfg.pool.stride, n->h, n->w);
    } else if (kind_is(n, "globalavgpool")) {
        g->used[K_FGAP] = true;
        sbf(&g->body, "    f_gap(%s, %s, %d, %d);\n", y, x, n->in_c, n->in_h * n->in_w);
    } else if (kind_is(n, "add")) {
        g->used[K_FADD] = true;
        sbf(&g->body, "    {\n        const float *in[%d];\n", n->n_in);
        for (int k = 0; k < n->n_in; k++) {
            char xi[64];
            buf_expr(xi, sizeof xi, g, n->in[k], false);
            sbf(&g->body, "        in[%d] = %s;\n", k, xi);
        }
        sbf(&g->body, "        f_add(%s, in, %d, %zu);\n    }\n", y, n->n_in, dc_node_size(n));
    } else if (kind_is(n, "concat")) {
        size_t off = 0;
        for (int k = 0; k < n->n_in; k++) {
            char xi[64];
            buf_expr(xi, sizeof xi, g, n->in[k], false);
            const size_t cnt = dc_node_size(&m->nodes[n->in[k]]);
            sbf(&g->body, "    memcpy(%s + %zu, %s, %zu);\n", y, off, xi, 4 * cnt);
            off += cnt;
        }
    }
}

static bool c_ident(const char *s) {
    if (!*s || isdigit((unsigned char)*s) || strlen(s) > 40) return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return false;
    return true;
}

static dc_status check_c(const dc_model *m, dc_error *err) {
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        static const char *const ok[] = {"conv2d", "linear", "batchnorm2d", "relu", "tanh", "sigmoid", "maxpool",
                                         "avgpool", "globalavgpool", "flatten", "dropout", "add", "concat"};
        bool found = false;
        for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) found = found || kind_is(n, ok[k]);
        if (!found || (n->op->flags & DC_OP_INPUT))
            return dc_fail(err, DC_ERR_UNSUPPORTED, "C export: node %s (%s) has no C kernel (covered: conv2d, linear, "
                           "batchnorm2d, relu, tanh, sigmoid, pooling, flatten, dropout, add, concat; one image input)",
                           n->name, n->op->kind);
    }
    if (m->n_nodes < 2 || kind_is(&m->nodes[m->n_nodes - 1], "flatten") || kind_is(&m->nodes[m->n_nodes - 1], "dropout"))
        return dc_fail(err, DC_ERR_UNSUPPORTED, "C export: the output node must compute the logits");
    return m->quant ? dc_q_check_supported(m, err) : DC_OK;
}

dc_status dc_export_c(const dc_model *m0, const char *dir, const char *name, dc_c_export_info *info, dc_error *err) {
    if (!c_ident(name))
        return dc_fail(err, DC_ERR_ARG, "--name %s: expected a C identifier (letters, digits, _; at most 40)", name);
    dc_status st = check_c(m0, err);
    if (st) return st;
    // an fp32 model is exported with its BatchNorms folded into the convolutions before them (as sessions run it)
    dc_model *folded = NULL;
    const bool q = m0->quant != NULL;
    if (!q && (st = dc_fold_batchnorm(&folded, m0, NULL, err))) return st;
    const dc_model *m = q ? m0 : folded;
    cplan p;
    st = plan_arena(&p, m, q, err);
    gen g = {.m = m, .p = &p, .name = name};
    const int nn = m->n_nodes;
    const int C = m->in_c, HW = m->in_h * m->in_w;
    if (!st) {
        // the input: pixels -> normalised (fp32) or quantised (int8, by a table of deepc's own arithmetic)
        char x0[64];
        buf_expr(x0, sizeof x0, &g, 0, q);
        float sc[64], sh[64];
        for (int c = 0; c < C && c < 64; c++) {
            sc[c] = 1.0f / (255.0f * m->norm_std[c]);
            sh[c] = m->norm_mean[c] / m->norm_std[c];
        }
        if (C > 64) st = dc_fail(err, DC_ERR_UNSUPPORTED, "C export: %d input channels (at most 64)", C);
        if (!st && q) {
            int *t = malloc(sizeof(int) * 256 * (size_t)C);
            if (!t) st = dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
            for (int c = 0; t && c < C; c++)
                for (int v = 0; v < 256; v++) {
                    const float xv = (float)v * sc[c] - sh[c];
                    uint8_t qv;
                    dc_q_quantize_input(&qv, &xv, 1, 1, 1, 1, m->quant->act_scale[0], m->quant->act_zp[0], m->quant->qmax);
                    t[c * 256 + v] = qv;
                }
            if (t) arr_i8(&g.data, "uint8_t", "px_table", t, 256 * (size_t)C);
            g.const_bytes += 256 * (size_t)C;
            free(t);
            sbf(&g.body, "    /* input: quantised by a table of deepc's normalisation and quantisation */\n");
            sbf(&g.body, "    {\n        int c, i;\n        uint8_t *x = %s;\n", x0);
            sbf(&g.body, "        for (c = 0; c < %d; c++)\n            for (i = 0; i < %d; i++) x[c * %d + i] = "
                         "px_table[c * 256 + pixels[c * %d + i]];\n    }\n", C, HW, HW, HW);
        } else if (!st) {
            arr_f32(&g.data, "px_scale", sc, (size_t)C);
            arr_f32(&g.data, "px_shift", sh, (size_t)C);
            sbf(&g.body, "    /* input: x = p * (1 / (255 std)) - mean / std, deepc's arithmetic */\n");
            sbf(&g.body, "    {\n        int c, i;\n        float *x = %s;\n", x0);
            sbf(&g.body, "        for (c = 0; c < %d; c++)\n            for (i = 0; i < %d; i++) x[c * %d + i] = "
                         "(float)pixels[c * %d + i] * px_scale[c] - px_shift[c];\n    }\n", C, HW, HW, HW);
        }
        for (int i = 1; !st && i < nn; i++) {
            if (q && p.alias[i] != i) continue; // views and fused relus
            if (!q && p.alias[i] != i && !p.inplace[i]) continue;
            if (q) emit_int8_node(&g, i);
            else emit_fp32_node(&g, i);
        }
        // the logits
        const dc_node *last = &m->nodes[nn - 1];
        char y[64];
        buf_expr(y, sizeof y, &g, nn - 1, q);
        if (q && !dc_q_weighted(last)) {
            sbf(&g.body, "    {\n        int k;\n        const uint8_t *y = %s;\n        for (k = 0; k < %d; k++) logits[k] = "
                         "(int32_t)y[k] - %ld;\n    }\n", y, m->n_classes, (long)m->quant->act_zp[nn - 1]);
        } else if (!q) {
            sbf(&g.body, "    memcpy(logits, %s, %zu);\n", y, sizeof(float) * (size_t)m->n_classes);
        }
    }
    if (!st && (g.data.oom || g.body.oom)) st = dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    sb h = {0}, c = {0};
    char up[64];
    for (size_t k = 0; k <= strlen(name); k++) up[k] = (char)toupper((unsigned char)name[k]);
    if (!st) {
        const char *lt = q ? "int32_t" : "float";
        sbf(&h, "/* %s.h — generated by deepc %s (deepc export --c) from a%s model.\n", name, dc_version(),
            q ? "n int8" : " fp32");
        sbf(&h, " * No malloc; weights are const (flash); activations live in one static arena\n"
                " * of %s_ARENA_BYTES, the peak of simultaneously live buffers by liveness\n"
                " * analysis (%d buffers, %zu bytes if each had its own).\n *\n * Architecture (deepc's text format%s):\n", up, p.buffers, p.sum,
            q ? "" : ", BatchNorm folded");
        for (const char *l = m->arch_text; l && *l;) {
            const char *e = strchr(l, '\n');
            const int len = e ? (int)(e - l) : (int)strlen(l);
            if (len && l[0] != '#') sbf(&h, " *   %.*s\n", len, l);
            l = e ? e + 1 : l + len;
        }
        sbf(&h, " */\n");
        sbf(&h, "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n", up, up);
        sbf(&h, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n#define %s_CLASSES %d\n", up, C, up, m->in_h, up,
            m->in_w, up, m->n_classes);
        sbf(&h, "#define %s_ARENA_BYTES %zu /* exact: activations; stack use is a few locals per call */\n", up, p.arena);
        sbf(&h, "#define %s_CONST_BYTES %zu /* weights, biases, multipliers, tables */\n", up, g.const_bytes);
        if (q) sbf(&h, "#define %s_LOGIT_SCALE %.9ef /* real logit = logits[k] * %s_LOGIT_SCALE */\n", up,
                   (double)m->quant->act_scale[nn - 1], up);
        sbf(&h, "\n/* pixels: one image, (C, H, W) bytes 0..255; logits: %s_CLASSES values%s. */\n", up,
            q ? " (int32, fixed point)" : "");
        sbf(&h, "void %s_run(const uint8_t *pixels, %s *logits);\n", name, lt);
        if (q) sbf(&h, "/* the optional floating-point step: logits[k] * %s_LOGIT_SCALE */\nvoid %s_dequantize(const int32_t *q, float *logits);\n", up, name);
        sbf(&h, "\n#endif\n");
        sbf(&c, "/* %s.c — generated by deepc %s (deepc export --c). C99; no malloc; see %s.h. */\n", name, dc_version(), name);
        sbf(&c, "#include <stdint.h>\n#include <string.h>\n%s#include \"%s.h\"\n\n", g.math ? "#include <math.h>\n" : "", name);
        sbf(&c, "#ifdef %s_EXTERNAL_ARENA\nextern uint8_t *%s_arena; /* at least %s_ARENA_BYTES, 4-byte aligned */\n"
                "#define A %s_arena\n#else\n", up, name, up, name);
        if (q) sbf(&c, "static uint8_t arena[%s_ARENA_BYTES > 0 ? %s_ARENA_BYTES : 1];\n#define A arena\n#endif\n\n", up, up);
        else sbf(&c, "static float arena[(%s_ARENA_BYTES + 3) / 4 > 0 ? (%s_ARENA_BYTES + 3) / 4 : 1];\n#define A ((uint8_t *)arena)\n#endif\n\n", up, up);
        if (q) sbf(&c, "%s\n", k_fixed);
        for (int k = 0; k < K_N; k++)
            if (g.used[k] && k_src[k][0]) sbf(&c, "%s\n", k_src[k]);
        sbf(&c, "%s\n", g.data.s ? g.data.s : "");
        sbf(&c, "void %s_run(const uint8_t *pixels, %s *logits) {\n%s}\n", name, lt, g.body.s ? g.body.s : "");
        if (q) sbf(&c, "\nvoid %s_dequantize(const int32_t *q, float *logits) {\n    int k;\n    for (k = 0; k < %s_CLASSES; k++) "
                       "logits[k] = (float)q[k] * %s_LOGIT_SCALE;\n}\n", name, up, up);
        if (h.oom || c.oom) st = dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    }
    if (!st) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.h", dir, name);
        dc_buf part = {h.s, h.n};
        st = dc_write_atomic(path, &part, 1, err);
        if (!st) {
            snprintf(path, sizeof path, "%s/%s.c", dir, name);
            dc_buf pc = {c.s, c.n};
            st = dc_write_atomic(path, &pc, 1, err);
        }
    }
    if (!st && info) {
        info->arena_bytes = p.arena;
        info->sum_bytes = p.sum;
        info->weight_bytes = g.const_bytes;
        info->buffers = p.buffers;
    }
    free(h.s), free(c.s), free(g.data.s), free(g.body.s);
    cplan_free(&p);
    dc_model_free(folded);
    return st;
}
