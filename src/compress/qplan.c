// qplan.c — the int8 inference plan of a quantised model: the executor's
// nodes (exec.c runs them as it runs fp32 nodes: no forked runtime), each
// an int8 op of the table below with its kernel data made here, once, when a
// session is planned: packed weights for the GEMM kernel the registry chose
// (kernels/int8_kernels.h), the per-channel bias' (q_b - z_a * sum w) and
// fixed-point multipliers, add and table parameters.
//
// Activations are uint8 NHWC bytes written into the executor's float-sized
// buffers (a quarter of each is used): node 1 quantises the float input,
// flatten and dropout disappear (NHWC bytes are already the vector; the
// linear layer after a spatial tensor takes its weight columns permuted
// from (c, h, w) to (h, w, c) order instead), a relu fused into the
// convolution, linear layer or add before it clamps at the quantised 0, and
// the output layer writes float logits from its int32 values.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "core/cpu.h"

// ---------------------------------------------------------------------------
// Kernel data

typedef struct qgemm_k {
    const dc_qgemm_impl *impl;
    void *packed;             // the impl's packed weights
    dc_qgemm_params p;
    int C, H, W, K, stride, pad, OH, OW; // conv geometry (linear: C = I)
    int KWe;                  // kernel row width as packed (>= K: zero weights past K)
    bool direct;              // 1x1, stride 1, no padding: the input is the GEMM's A
    bool pool;                // a 2x2 / 2 max pooling fused (pool2): output (PH, PW, OC)
    void (*pool2)(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep, int PW,
                  const void *packed, const dc_qgemm_params *p); // the impl's fused form, or NULL
    int PH, PW;
    uint8_t za;               // the input's zero point (padding value)
    bool to_float;            // the output layer: int32 values -> float logits
    float out_scale;
} qgemm_k;

typedef struct qquant_k {
    float scale;
    int32_t zp, qmax;
    // the quantisation kernel (the input node): dc_q_quantize or its AVX-512 form
    void (*quantize)(uint8_t *q, const float *x, int N, int C, int H, int W, float inv_s, int32_t z, int32_t qmax);
} qquant_k;

typedef struct qpool_k {
    void (*maxpool)(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
} qpool_k;

typedef struct qadd_k {
    dc_qadd_params p;
    // two inputs: the table of every pair of input bytes, and its lookup
    void (*lut)(uint8_t *y, const uint8_t *x0, const uint8_t *x1, size_t n, const uint8_t *table);
    uint8_t table[DC_Q_ADD2_TABLE_BYTES];
} qadd_k;

typedef struct qconcat_k {
    dc_qadd_params p;
    int cs[DC_NODE_MAX_IN];
} qconcat_k;

// the CPU features of the AVX-512 layout kernels (int8_layout_vbmi.c)
#define VBMI (DC_CPU_LEVEL_AVX512 | DC_CPU_AVX512VBMI)

#define U8(p) ((uint8_t *)(p))
#define CU8(p) ((const uint8_t *)(p))

// ---------------------------------------------------------------------------
// The int8 ops (forward only; each reads its slice's NHWC bytes)

void dc_q_quantize_input(uint8_t *q, const float *x, int n, int C, int H, int W, float scale, int32_t zp, int qmax) {
    dc_q_quantize(q, x, n, C, H, W, 1.0f / scale, zp, qmax);
}

static void quantize_fwd(const dc_node *n, dc_node_io *io) {
    const qquant_k *k = n->kdata;
    k->quantize(U8(io->y), io->x[0], io->N, n->c, n->h, n->w, 1.0f / k->scale, k->zp, k->qmax);
}

static void to_float(float *y, size_t cnt, float s) {
    // in place: each int32 value becomes (float)q * s
    int32_t *q = (int32_t *)y;
    for (size_t i = 0; i < cnt; i++) {
        const int32_t v = q[i];
        y[i] = (float)v * s;
    }
}

static size_t conv_scratch(const dc_node *n, int N) {
    const qgemm_k *k = n->kdata;
    (void)N;
    const int extra = k->KWe - k->K;
    if (k->direct || (!k->pad && !extra)) return 0;
    return (size_t)(k->H + 2 * k->pad) * (k->W + 2 * k->pad + extra) * k->C;
}

// x (H, W, C) -> xp (H + 2 pad, W + 2 pad + extra, C): the border, and
// `extra` more columns on the right, = z (the quantised 0)
static void pad_image(uint8_t *xp, const uint8_t *x, int C, int H, int W, int pad, int extra, uint8_t z) {
    const size_t row = (size_t)W * C, prow = (size_t)(W + 2 * pad + extra) * C, side = (size_t)pad * C;
    memset(xp, z, prow * pad);
    for (int h = 0; h < H; h++) {
        uint8_t *d = xp + (h + pad) * prow;
        memset(d, z, side);
        memcpy(d + side, x + h * row, row);
        memset(d + side + row, z, prow - side - row);
    }
    memset(xp + (H + pad) * prow, z, prow * pad);
}

// A convolution with its 2x2 / 2 max pooling fused: pooled row ph from conv
// rows 2 ph and 2 ph + 1, read in place as conv_fwd reads them.
static void pool_fwd(const qgemm_k *k, const uint8_t *x, uint8_t *y, int N, uint8_t *col) {
    const size_t in = (size_t)k->H * k->W * k->C, out = (size_t)k->PH * k->PW * k->p.N;
    const int extra = k->KWe - k->K;
    const size_t prow = k->direct ? (size_t)k->W * k->C : (size_t)(k->W + 2 * k->pad + extra) * k->C;
    const int nseg = k->direct ? 1 : k->K;
    for (int s = 0; s < N; s++) {
        const uint8_t *xp = x + (size_t)s * in;
        if (!k->direct && (k->pad || extra)) {
            pad_image(col, xp, k->C, k->H, k->W, k->pad, extra, k->za);
            xp = col;
        }
        for (int ph = 0; ph < k->PH; ph++)
            k->pool2(y + (size_t)s * out + (size_t)ph * k->PW * k->p.N, xp + (size_t)2 * ph * k->stride * prow,
                                  k->stride * k->C, nseg, (ptrdiff_t)prow, (ptrdiff_t)(k->stride * prow), k->PW, k->packed,
                                  &k->p);
    }
}

static void conv_fwd(const dc_node *n, dc_node_io *io) {
    // x (N, H, W, C) uint8, y (N, OH, OW, OC) uint8 (int32 for the output layer)
    const qgemm_k *k = n->kdata;
    const size_t in = (size_t)k->H * k->W * k->C, P = (size_t)k->OH * k->OW, OC = (size_t)k->p.N;
    const size_t esz = k->p.out32 ? 4 : 1;
    uint8_t *col = (uint8_t *)io->scratch;
    if (k->pool) {
        pool_fwd(k, CU8(io->x[0]), U8(io->y), io->N, col);
        return;
    }
    for (int s = 0; s < io->N; s++) {
        const uint8_t *xs = CU8(io->x[0]) + (size_t)s * in;
        char *ys = (char *)io->y + (size_t)s * P * OC * esz;
        if (k->direct) {
            k->impl->run(ys, (int)OC, xs, k->C, 1, 0, (int)P, k->packed, &k->p);
            continue;
        }
        // Output row oh reads input rows oh*stride + kh of the (padded)
        // image: its OW pixels are GEMM rows stride*C bytes apart, each K
        // segments (kernel rows) of KWe*C contiguous taps, one padded row
        // apart: the products of an im2col GEMM without the copy.
        const int extra = k->KWe - k->K;
        const uint8_t *xp = xs;
        if (k->pad || extra) {
            pad_image(col, xs, k->C, k->H, k->W, k->pad, extra, k->za);
            xp = col;
        }
        const size_t prow = (size_t)(k->W + 2 * k->pad + extra) * k->C;
        for (int oh = 0; oh < k->OH; oh++)
            k->impl->run(ys + (size_t)oh * k->OW * OC * esz, (int)OC, xp + (size_t)oh * k->stride * prow,
                         k->stride * k->C, k->K, (ptrdiff_t)prow, k->OW, k->packed, &k->p);
    }
    if (k->to_float) to_float(io->y, (size_t)io->N * P * OC, k->out_scale);
}

static void linear_fwd(const dc_node *n, dc_node_io *io) {
    // x (N, I) uint8, y (N, O)
    const qgemm_k *k = n->kdata;
    k->impl->run(io->y, k->p.N, CU8(io->x[0]), k->p.K, 1, 0, io->N, k->packed, &k->p);
    if (k->to_float) to_float(io->y, (size_t)io->N * k->p.N, k->out_scale);
}

static void maxpool_fwd(const dc_node *n, dc_node_io *io) {
    const qpool_k *k = n->kdata;
    k->maxpool(U8(io->y), CU8(io->x[0]), io->N, n->in_c, n->in_h, n->in_w, n->cfg.pool.k, n->cfg.pool.stride);
}

static void avgpool_fwd(const dc_node *n, dc_node_io *io) {
    dc_q_avgpool(U8(io->y), CU8(io->x[0]), io->N, n->in_c, n->in_h, n->in_w, n->cfg.pool.k, n->cfg.pool.stride);
}

static void gap_fwd(const dc_node *n, dc_node_io *io) {
    dc_q_gap(U8(io->y), CU8(io->x[0]), io->N, n->in_c, n->in_h * n->in_w);
}

static void relu_fwd(const dc_node *n, dc_node_io *io) {
    const uint8_t z = *(const uint8_t *)n->kdata;
    const size_t cnt = (size_t)io->N * dc_node_size(n);
    const uint8_t *x = CU8(io->x[0]);
    uint8_t *y = U8(io->y);
    for (size_t i = 0; i < cnt; i++) y[i] = x[i] > z ? x[i] : z;
}

static void add_fwd(const dc_node *n, dc_node_io *io) {
    const qadd_k *k = n->kdata;
    if (io->n_in == 2) {
        k->lut(U8(io->y), CU8(io->x[0]), CU8(io->x[1]), (size_t)io->N * dc_node_size(n), k->table);
        return;
    }
    const uint8_t *xs[DC_NODE_MAX_IN];
    for (int i = 0; i < io->n_in; i++) xs[i] = CU8(io->x[i]);
    dc_q_add(U8(io->y), xs, (size_t)io->N * dc_node_size(n), &k->p);
}

static void concat_fwd(const dc_node *n, dc_node_io *io) {
    const qconcat_k *k = n->kdata;
    const uint8_t *xs[DC_NODE_MAX_IN];
    for (int i = 0; i < io->n_in; i++) xs[i] = CU8(io->x[i]);
    dc_q_concat(U8(io->y), xs, k->cs, io->n_in, (size_t)io->N * n->h * n->w, &k->p);
}

static void lut_fwd(const dc_node *n, dc_node_io *io) {
    dc_q_lut(U8(io->y), CU8(io->x[0]), (size_t)io->N * dc_node_size(n), n->kdata);
}

static void dequant_fwd(const dc_node *n, dc_node_io *io) {
    const qquant_k *k = n->kdata;
    dc_q_dequantize(io->y, CU8(io->x[0]), io->N, n->c, n->h, n->w, k->scale, k->zp);
}

#define QOP(name_, kind_, fwd_, scr_)                                                                   \
    static const dc_op name_ = {.kind = kind_, .prefix = kind_, .help = "int8 inference (plans only)", \
                                .min_in = 1, .max_in = DC_NODE_MAX_IN, .forward = fwd_, .scratch_bytes = scr_}
QOP(quantize_op, "q_quantize", quantize_fwd, NULL);
QOP(conv_op, "q_conv2d", conv_fwd, conv_scratch);
QOP(linear_op, "q_linear", linear_fwd, NULL);
QOP(maxpool_op, "q_maxpool", maxpool_fwd, NULL);
QOP(avgpool_op, "q_avgpool", avgpool_fwd, NULL);
QOP(gap_op, "q_globalavgpool", gap_fwd, NULL);
QOP(relu_op, "q_relu", relu_fwd, NULL);
QOP(add_op, "q_add", add_fwd, NULL);
QOP(concat_op, "q_concat", concat_fwd, NULL);
QOP(lut_op, "q_table", lut_fwd, NULL);
QOP(dequant_op, "q_dequantize", dequant_fwd, NULL);

// ---------------------------------------------------------------------------
// Building the plan

typedef struct builder {
    dc_qplan *p;
    int cap;
    const char *force;
    unsigned cpu;
    dc_error *err;
} builder;

static void *blob(builder *b, size_t bytes) {
    void *x = dc_alloc(bytes ? bytes : 1);
    if (!x) return NULL;
    void **nb = realloc(b->p->blobs, sizeof(void *) * (size_t)(b->p->n_blobs + 1));
    if (!nb) {
        dc_free(x);
        return NULL;
    }
    b->p->blobs = nb;
    b->p->blobs[b->p->n_blobs++] = x;
    return x;
}

// A new plan node: a copy of model node `src` (name, shapes, configuration)
// with op and inputs replaced.
static int add_node(builder *b, const dc_op *op, const dc_node *src, int n_in, const int *in, const void *kdata) {
    dc_qplan *p = b->p;
    DC_ASSERT(p->n_nodes < b->cap);
    dc_node *d = &p->nodes[p->n_nodes];
    *d = *src;
    d->op = op;
    d->n_t = 0;
    d->n_in = n_in;
    for (int k = 0; k < n_in; k++) d->in[k] = in[k];
    d->kdata = kdata;
    return p->n_nodes++;
}

static dc_status nomem(builder *b) { return dc_fail(b->err, DC_ERR_NOMEM, "int8 plan: out of memory"); }

// The GEMM of a conv2d or linear model node i reading plan node `src`.
// pool: a 2x2 / 2 max pooling that alone reads this convolution (or its
// fused relu), or -1; fused into it when the layer's GEMM kernel has a
// fused form and the pooling commutes with its requantisation (*pooled set).
static dc_status gemm_node(builder *b, const dc_model *m, int i, int src, bool fused, bool last, int pool, bool *pooled,
                           int *out) {
    const dc_node *n = &m->nodes[i];
    const dc_qmodel *q = m->quant;
    const dc_node *in = &b->p->nodes[src];
    const bool conv = !strcmp(n->op->kind, "conv2d");
    const int OC = n->c;
    // A convolution reads its taps in place (conv_fwd) when a kernel row of
    // KW * C taps is whole 4-byte groups, the kernels' contract for several
    // segments; otherwise each kernel row is widened with zero weights to
    // the next such width KWe (3 -> 4 taps over one channel: the stem's 9
    // products become 12, for no im2col copy) and read from a padded copy
    // with KWe - KW more columns on the right.
    const int KK = conv ? n->cfg.conv.k : 1;
    int kwe = KK;
    while (KK > 1 && (kwe * n->in_c) % 4) kwe++;
    const int Kc = conv ? n->in_c * KK * kwe : n->in_c;
    qgemm_k *k = blob(b, sizeof *k);
    int32_t *arr = blob(b, sizeof(int32_t) * 3 * (size_t)OC);
    int8_t *w = blob(b, (size_t)OC * Kc);
    if (!k || !arr || !w) return nomem(b);
    // weights in the order of the NHWC taps: conv (kh, kw, c); linear after
    // a spatial tensor (h, w, c)
    const int8_t *qw = q->w[i];
    if (conv) {
        const int C = n->in_c, K = n->cfg.conv.k;
        memset(w, 0, (size_t)OC * Kc);
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++)
                        w[(size_t)o * Kc + (kh * kwe + kw) * C + c] = qw[(((size_t)o * C + c) * K + kh) * K + kw];
    } else if (in->h * in->w > 1) {
        const int C = in->c, HW = in->h * in->w;
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < HW; p++) w[(size_t)o * Kc + (size_t)p * C + c] = qw[(size_t)o * Kc + (size_t)c * HW + p];
    } else {
        memcpy(w, qw, (size_t)OC * Kc);
    }
    const int32_t za = q->act_zp[n->in[0]];
    const double s_in = q->act_scale[n->in[0]], s_out = q->act_scale[i];
    int32_t *bias = arr, *mult = arr + OC, *shift = arr + 2 * OC;
    for (int o = 0; o < OC; o++) {
        int64_t sw = 0;
        for (int j = 0; j < Kc; j++) sw += w[(size_t)o * Kc + j];
        bias[o] = (int32_t)((int64_t)q->bias[i][o] - (int64_t)za * sw);
        dc_quantize_multiplier(s_in * q->w_scale[i][o] / s_out, &mult[o], &shift[o]);
    }
    k->p = (dc_qgemm_params){.N = OC, .K = Kc, .bias = bias, .mult = mult, .shift = shift, .zo = q->act_zp[i],
                             .lo = fused ? q->act_zp[i] : 0, .hi = q->qmax, .out32 = last, .a_max = q->qmax};
    if (last) k->p.zo = 0, k->p.lo = INT32_MIN, k->p.hi = INT32_MAX;
    // the row stride conv_fwd / linear_fwd pass (1x1 direct: one pixel; else stride pixels)
    const dc_conv_cfg *cc = conv ? &n->cfg.conv : NULL;
    k->p.lda = !conv ? Kc : cc->k == 1 && cc->stride == 1 && cc->pad == 0 ? n->in_c : cc->stride * n->in_c;
    k->to_float = last;
    k->out_scale = q->act_scale[i];
    k->impl = dc_qgemm_choose(&k->p, b->cpu, b->force);
    if (!k->impl)
        return dc_fail(b->err, DC_ERR_UNSUPPORTED, "int8 plan: GEMM kernel '%s' cannot run layer %s on this CPU",
                       b->force, n->name);
    b->p->gemm = k->impl->name;
    if (!(k->packed = blob(b, k->impl->packed_bytes(OC, Kc)))) return nomem(b);
    k->impl->pack(k->packed, w, OC, Kc);
    k->za = (uint8_t)za;
    if (conv) {
        const dc_conv_cfg *c = &n->cfg.conv;
        k->C = n->in_c, k->H = n->in_h, k->W = n->in_w, k->K = c->k, k->stride = c->stride, k->pad = c->pad;
        k->OH = n->h, k->OW = n->w;
        k->KWe = kwe;
        k->direct = c->k == 1 && c->stride == 1 && c->pad == 0;
    }
    k->pool2 = k->impl->run == dc_qgemm_pixels ? dc_qgemm_pixels_pool2 : k->impl->run == dc_qgemm_vnni ? dc_qgemm_vnni_pool2 : NULL;
    *pooled = conv && pool >= 0 && k->pool2 && dc_qgemm_pool_ok(&k->p);
    if (*pooled) {
        k->pool = true, k->PH = m->nodes[pool].h, k->PW = m->nodes[pool].w;
        b->p->pooled++;
    }
    *out = add_node(b, conv ? &conv_op : &linear_op, *pooled ? &m->nodes[pool] : n, 1, &src, k);
    return DC_OK;
}

static void add_params(dc_qadd_params *ap, const dc_qmodel *q, const dc_node *n, int i, bool fused) {
    double mx = 0;
    ap->n_in = n->n_in;
    for (int k = 0; k < n->n_in; k++) mx = fmax(mx, q->act_scale[n->in[k]]);
    const double twice = 2.0 * mx;
    for (int k = 0; k < n->n_in; k++) {
        ap->z_in[k] = q->act_zp[n->in[k]];
        dc_quantize_multiplier(q->act_scale[n->in[k]] / twice, &ap->mult_in[k], &ap->shift_in[k]);
    }
    dc_quantize_multiplier(twice / ((double)(1 << 20) * q->act_scale[i]), &ap->mult_out, &ap->shift_out);
    ap->zo = q->act_zp[i];
    ap->lo = fused ? q->act_zp[i] : 0;
    ap->hi = q->qmax;
}

// The 2x2 max pooling with stride 2 that alone reads node t (and is not
// the output), or -1.
static int pool_reader(const dc_model *m, int t) {
    int reader = -1, count = 0;
    for (int j = t + 1; j < m->n_nodes; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++)
            if (m->nodes[j].in[k] == t) reader = j, count++;
    if (count != 1 || reader == m->n_nodes - 1) return -1;
    const dc_node *p = &m->nodes[reader];
    return !strcmp(p->op->kind, "maxpool") && p->cfg.pool.k == 2 && p->cfg.pool.stride == 2 ? reader : -1;
}

static dc_status build(builder *b, const dc_model *m) {
    const dc_qmodel *q = m->quant;
    const int nn = m->n_nodes;
    int *map = malloc(sizeof(int) * (size_t)nn);
    bool *fused_into = calloc((size_t)nn, sizeof(bool)); // relu i is fused into its producer
    if (!map || !fused_into) {
        free(map), free(fused_into);
        return nomem(b);
    }
    dc_status st = DC_OK;
    // node 0: the float input; node 1 quantises it
    add_node(b, m->nodes[0].op, &m->nodes[0], 0, NULL, NULL);
    qquant_k *qk = blob(b, sizeof *qk);
    if (!qk) st = nomem(b);
    else {
        *qk = (qquant_k){.scale = q->act_scale[0], .zp = q->act_zp[0], .qmax = q->qmax,
                         .quantize = dc_cpu_has(b->cpu, VBMI) ? dc_q_quantize_avx512 : dc_q_quantize};
        const int zero = 0;
        map[0] = add_node(b, &quantize_op, &m->nodes[0], 1, &zero, qk);
    }
    for (int i = 1; !st && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        const char *kind = n->op->kind;
        const bool last = i == nn - 1;
        int in[DC_NODE_MAX_IN];
        for (int k = 0; k < n->n_in; k++) in[k] = map[n->in[k]];
        if (fused_into[i]) {
            map[i] = map[n->in[0]];
            continue;
        }
        const int r = dc_q_fused_relu(m, i);
        if (r >= 0) {
            fused_into[r] = true;
            b->p->fused++;
        }
        if (dc_q_weighted(n)) {
            bool pooled = false;
            const int pj = pool_reader(m, r >= 0 ? r : i);
            st = gemm_node(b, m, i, in[0], r >= 0, last, pj, &pooled, &map[i]);
            if (pooled) fused_into[pj] = true;
        } else if (!strcmp(kind, "flatten") || !strcmp(kind, "dropout")) {
            map[i] = in[0];
        } else if (!strcmp(kind, "maxpool")) {
            qpool_k *pk = blob(b, sizeof *pk);
            if (!pk) st = nomem(b);
            else {
                pk->maxpool = dc_cpu_has(b->cpu, VBMI) ? dc_q_maxpool_vbmi : dc_q_maxpool;
                map[i] = add_node(b, &maxpool_op, n, 1, in, pk);
            }
        } else if (!strcmp(kind, "avgpool")) {
            map[i] = add_node(b, &avgpool_op, n, 1, in, NULL);
        } else if (!strcmp(kind, "globalavgpool")) {
            map[i] = add_node(b, &gap_op, n, 1, in, NULL);
        } else if (!strcmp(kind, "relu")) {
            uint8_t *z = blob(b, 1);
            if (!z) st = nomem(b);
            else {
                *z = (uint8_t)q->act_zp[i];
                map[i] = add_node(b, &relu_op, n, 1, in, z);
            }
        } else if (!strcmp(kind, "add")) {
            qadd_k *ak = blob(b, sizeof *ak);
            if (!ak) st = nomem(b);
            else {
                add_params(&ak->p, q, n, i, r >= 0);
                if (n->n_in == 2) {
                    dc_q_add2_table(ak->table, &ak->p);
                    memset(ak->table + 65536, 0, DC_Q_ADD2_TABLE_BYTES - 65536);
                    ak->lut = dc_cpu_has(b->cpu, DC_CPU_LEVEL_AVX2) ? dc_q_add2_lut_avx2 : dc_q_add2_lut;
                }
                map[i] = add_node(b, &add_op, n, n->n_in, in, ak);
            }
        } else if (!strcmp(kind, "concat")) {
            qconcat_k *ck = blob(b, sizeof *ck);
            if (!ck) st = nomem(b);
            else {
                add_params(&ck->p, q, n, i, false);
                for (int k = 0; k < n->n_in; k++) ck->cs[k] = m->nodes[n->in[k]].c;
                map[i] = add_node(b, &concat_op, n, n->n_in, in, ck);
            }
        } else if (!strcmp(kind, "tanh") || !strcmp(kind, "sigmoid")) {
            uint8_t *t = blob(b, 256);
            if (!t) st = nomem(b);
            else {
                const double si = q->act_scale[n->in[0]], so = q->act_scale[i];
                const int zi = q->act_zp[n->in[0]], zo = q->act_zp[i];
                for (int v = 0; v < 256; v++) {
                    const double x = si * (v - zi), f = kind[0] == 't' ? tanh(x) : 1.0 / (1.0 + exp(-x));
                    int32_t o = dc_round_i32(f / so) + zo;
                    t[v] = (uint8_t)(o < 0 ? 0 : o > q->qmax ? q->qmax : o);
                }
                map[i] = add_node(b, &lut_op, n, 1, in, t);
            }
        } else {
            st = dc_q_check_supported(m, b->err);
            if (!st) st = dc_fail(b->err, DC_ERR_UNSUPPORTED, "int8: layer %s (%s) has no int8 kernel", n->name, kind);
        }
    }
    // the logits: a weighted output layer wrote floats; anything else is dequantised
    if (!st && !dc_q_weighted(&m->nodes[nn - 1])) {
        qquant_k *dk = blob(b, sizeof *dk);
        if (!dk) st = nomem(b);
        else {
            *dk = (qquant_k){.scale = q->act_scale[nn - 1], .zp = q->act_zp[nn - 1], .qmax = q->qmax};
            const int src = map[nn - 1];
            add_node(b, &dequant_op, &m->nodes[nn - 1], 1, &src, dk);
        }
    } else if (!st && map[nn - 1] != b->p->n_nodes - 1) {
        st = dc_fail(b->err, DC_ERR_UNSUPPORTED, "int8 plan: the output layer is not the last node");
    }
    free(map);
    free(fused_into);
    return st;
}

dc_status dc_qplan_build(dc_qplan *p, const dc_model *m, const char *force_gemm, dc_error *err) {
    memset(p, 0, sizeof *p);
    if (!m->quant) return dc_fail(err, DC_ERR_ARG, "int8 plan: the model is not quantised");
    dc_status st = dc_q_check_supported(m, err);
    if (st) return st;
    builder b = {.p = p, .cap = 2 * m->n_nodes + 2, .force = force_gemm, .cpu = dc_cpu_features(), .err = err};
    if (!(p->nodes = calloc((size_t)b.cap, sizeof(dc_node)))) return dc_fail(err, DC_ERR_NOMEM, "int8 plan: out of memory");
    if ((st = build(&b, m))) dc_qplan_free(p);
    return st;
}

void dc_qplan_free(dc_qplan *p) {
    if (!p) return;
    for (int i = 0; i < p->n_blobs; i++) dc_free(p->blobs[i]);
    free(p->blobs);
    free(p->nodes);
    memset(p, 0, sizeof *p);
}
