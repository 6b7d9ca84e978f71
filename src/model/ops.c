// ops.c — the table of node kinds: keys, shape inference, init rules and
// thin adapters from a node's views of the flat buffers to the kernels in
// src/layers/ (which know nothing of nodes). See ops.h for the contract.
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "core/core.h"
#include "core/cpu.h"
#include "layers/layers.h"
#include "layers/merge.h"
#include "layers/norm.h"
#include "kernels/conv_registry.h"
#include "model/ops.h"

#define PARAMS(io, n, k) ((io)->params + (n)->t[k].off)
#define GRADS(io, n, k) ((io)->grads ? (io)->grads + (n)->t[k].off : NULL)
#define BIAS(io, n) ((n)->n_t > 1 ? PARAMS(io, n, 1) : NULL)
#define DBIAS(io, n) ((n)->n_t > 1 ? GRADS(io, n, 1) : NULL)
#define CFG(type, field) offsetof(type, field)
#define END_KEYS {NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL}

static const char *const init_choices[] = {"pytorch", "kaiming_fan_out", NULL};

const dc_tensor_ref *dc_node_tensor(const dc_node *n, const char *suffix) {
    for (int i = 0; i < n->n_t; i++)
        if (!strcmp(n->t[i].suffix, suffix)) return &n->t[i];
    return NULL;
}

int64_t dc_node_macs(const dc_node *n) { return n->op->macs ? n->op->macs(n) : 0; }

size_t dc_node_num_params(const dc_node *n) {
    size_t s = 0;
    for (int i = 0; i < n->n_t; i++)
        if (n->t[i].buf == DC_BUF_PARAM) s += n->t[i].n;
    return s;
}

// Adds a tensor view to a node; offsets are assigned by the model later.
static dc_status add_tensor(dc_node *n, const char *suffix, dc_buf_kind buf, int rank,
                            const int64_t *shape, dc_error *err) {
    DC_ASSERT(n->n_t < DC_NODE_MAX_TENSORS && rank >= 1 && rank <= 4);
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1 || shape[i] > DC_MAX_DIM || count > DC_MAX_TENSOR_ELEMS / shape[i])
            return dc_fail(err, DC_ERR_SHAPE, "layer %s (%s): tensor %s would hold more than %lld values",
                           n->name, n->op->kind, suffix, (long long)DC_MAX_TENSOR_ELEMS);
        count *= shape[i];
    }
    dc_tensor_ref *t = &n->t[n->n_t++];
    memset(t, 0, sizeof *t);
    t->suffix = suffix;
    t->buf = buf;
    t->n = (size_t)count;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    return DC_OK;
}

// Sets the node's output shape after checking it in 64-bit arithmetic.
static dc_status set_shape(dc_node *n, int64_t c, int64_t h, int64_t w, dc_error *err) {
    if (c < 1 || h < 1 || w < 1)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (%s): output shape %lldx%lldx%lld is empty", n->name,
                       n->op->kind, (long long)c, (long long)h, (long long)w);
    if (c > DC_MAX_DIM || h > DC_MAX_DIM || w > DC_MAX_DIM || c * h > DC_MAX_ACT_ELEMS ||
        c * h * w > DC_MAX_ACT_ELEMS)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (%s): output %lldx%lldx%lld is larger than the %lld values per sample deepc allows",
                       n->name, n->op->kind, (long long)c, (long long)h, (long long)w,
                       (long long)DC_MAX_ACT_ELEMS);
    n->c = (int)c;
    n->h = (int)h;
    n->w = (int)w;
    return DC_OK;
}

static int64_t in_elems(const dc_node *p) { return (int64_t)p->c * p->h * p->w; }

// PyTorch's default for conv/linear: kaiming_uniform(a=sqrt(5)) gives the
// bound 1/sqrt(fan_in) for weights, and biases are U(-1/sqrt(fan_in), ..).
// kaiming_fan_out (torchvision's ResNet rule): weights N(0, 2/fan_out),
// fan_out = OC*K*K; biases keep PyTorch's rule.
static void init_weight_bias(const dc_node *n, float *params, dc_rng *rng, int rule) {
    const dc_tensor_ref *w = &n->t[0];
    size_t fan_in = w->n / (size_t)w->shape[0];
    float bound = 1.0f / sqrtf((float)fan_in);
    if (rule == DC_INIT_KAIMING_FAN_OUT) {
        size_t fan_out = w->n / (size_t)w->shape[1];
        float sd = sqrtf(2.0f / (float)fan_out);
        for (size_t j = 0; j < w->n; j++) params[w->off + j] = sd * dc_rng_normal(rng);
    } else {
        for (size_t j = 0; j < w->n; j++) params[w->off + j] = (2.0f * dc_rng_uniform(rng) - 1.0f) * bound;
    }
    if (n->n_t > 1) {
        const dc_tensor_ref *b = &n->t[1];
        for (size_t j = 0; j < b->n; j++) params[b->off + j] = (2.0f * dc_rng_uniform(rng) - 1.0f) * bound;
    }
}

// ---------------------------------------------------------------------------
// input: a model input (its buffer is filled by the caller)

static dc_status input_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    return set_shape(n, n->c, n->h, n->w, err); // set by the builder
}

static const char *const input_kinds[] = {"image", "tabular", NULL};
static const dc_key input_keys[] = {
    {"kind", DC_KEY_ENUM, CFG(dc_input_cfg, kind), 0, 0, 0, 0, NULL, input_kinds, "image or tabular"},
    {"features", DC_KEY_INT, CFG(dc_input_cfg, features), 0, 1 << 24, 0, 0, NULL, NULL,
     "tabular: columns (default: the tabular data's)"},
    END_KEYS};
static const dc_op input_op = {.kind = "input", .prefix = "input", .help = "a model input",
                               .keys = input_keys, .min_in = 0, .max_in = 0, .flags = DC_OP_INPUT,
                               .infer = input_infer};

// ---------------------------------------------------------------------------
// conv2d

static const dc_key conv_keys[] = {
    {"in", DC_KEY_INT, CFG(dc_conv_cfg, in), 1, 1 << 20, 0, DC_KEY_IN, NULL, NULL, "input channels (checked)"},
    {"out", DC_KEY_INT, CFG(dc_conv_cfg, out), 1, 1 << 20, 0, DC_KEY_REQUIRED, NULL, NULL, "output channels"},
    {"k", DC_KEY_INT, CFG(dc_conv_cfg, k), 1, 1024, 0, DC_KEY_REQUIRED, NULL, NULL, "kernel size"},
    {"stride", DC_KEY_INT, CFG(dc_conv_cfg, stride), 1, 1024, 1, 0, NULL, NULL, "stride"},
    {"pad", DC_KEY_INT, CFG(dc_conv_cfg, pad), 0, 1024, 0, 0, NULL, NULL, "zero padding"},
    {"bias", DC_KEY_BOOL, CFG(dc_conv_cfg, bias), 0, 1, 1, 0, NULL, NULL, "learn a bias"},
    {"init", DC_KEY_ENUM, CFG(dc_conv_cfg, init), 0, 0, 0, 0, NULL, init_choices, "weight init rule"},
    END_KEYS};

static dc_status conv_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    const dc_conv_cfg *c = &n->cfg.conv;
    const dc_node *p = in[0];
    if (c->in && c->in != p->c)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (conv2d): declared in=%d input channels, but its input is %dx%dx%d (%d channels)",
                       n->name, c->in, p->c, p->h, p->w, p->c);
    if ((int64_t)p->h + 2 * (int64_t)c->pad < c->k || (int64_t)p->w + 2 * (int64_t)c->pad < c->k)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (conv2d): kernel %dx%d (pad %d) does not fit its input %dx%dx%d",
                       n->name, c->k, c->k, c->pad, p->c, p->h, p->w);
    int64_t oh = ((int64_t)p->h + 2 * c->pad - c->k) / c->stride + 1;
    int64_t ow = ((int64_t)p->w + 2 * c->pad - c->k) / c->stride + 1;
    dc_status st = set_shape(n, c->out, oh, ow, err);
    // im2col rows C*K*K must stay an int too
    if (!st && (int64_t)p->c * c->k * c->k > DC_MAX_ACT_ELEMS)
        st = dc_fail(err, DC_ERR_SHAPE, "layer %s (conv2d): %d channels x %dx%d kernel is too large", n->name, p->c,
                     c->k, c->k);
    int64_t ws[4] = {c->out, p->c, c->k, c->k}, bs[1] = {c->out};
    if (!st) st = add_tensor(n, "weight", DC_BUF_PARAM, 4, ws, err);
    if (!st && c->bias) st = add_tensor(n, "bias", DC_BUF_PARAM, 1, bs, err);
    return st;
}

static void conv_init(const dc_node *n, float *params, float *state, dc_rng *rng) {
    init_weight_bias(n, params, rng, n->cfg.conv.init);
}

#define CONV_ARGS(n, io) (io)->N, (n)->in_c, (n)->in_h, (n)->in_w, \
                         (n)->cfg.conv.out, (n)->cfg.conv.k, (n)->cfg.conv.stride, (n)->cfg.conv.pad

// The kernels come from the convolution registry (kernels/conv_registry.h):
// a plan per pass, made the first time a slice size is seen and kept in the
// thread's cache, run with the thread's shared scratch.
typedef struct conv_plans {
    dc_conv_plan fwd, bwd;
    int fwd_n, bwd_n;       // slice size each was made for (0: none yet)
    unsigned bwd_passes;
} conv_plans;

static dc_conv_shape conv_shape(const dc_node *n) {
    const dc_conv_cfg *c = &n->cfg.conv;
    return dc_conv_shape_make(n->in_c, n->in_h, n->in_w, c->out, c->k, c->stride, c->pad);
}

static const dc_conv_plan *conv_plan(const dc_node *n, dc_node_io *io, bool fwd, unsigned passes) {
    conv_plans *cp = io->tcache;
    dc_conv_plan *p = fwd ? &cp->fwd : &cp->bwd;
    int *pn = fwd ? &cp->fwd_n : &cp->bwd_n;
    if (*pn != io->N || (!fwd && cp->bwd_passes != passes)) {
        const dc_conv_shape s = conv_shape(n);
        dc_error err;
        dc_status st = dc_conv_plan_make_prepared(p, &s, io->N, passes, dc_cpu_features(), fwd && io->pre, &err);
        DC_ASSERT(st == DC_OK); // the shape was checked when the model was built
        *pn = io->N;
        if (!fwd) cp->bwd_passes = passes;
    }
    return p;
}

static size_t conv_tcache(const dc_node *n) { return sizeof(conv_plans); }

static size_t conv_scratch(const dc_node *n, int N) {
    // every pass, at the small-batch and the batched kernel choices
    const dc_conv_shape s = conv_shape(n);
    size_t most = 0;
    const int ns[2] = {1, N > 4 ? N : 4};
    for (int i = 0; i < 4; i++) { // and with prepared weights or without
        dc_conv_plan p;
        dc_error err;
        if (dc_conv_plan_make_prepared(&p, &s, ns[i / 2], DC_CONV_ALL, dc_cpu_features(), i % 2, &err) == DC_OK &&
            dc_conv_plan_floats(&p) > most)
            most = dc_conv_plan_floats(&p);
    }
    return sizeof(float) * most;
}

static void conv_forward(const dc_node *n, dc_node_io *io) {
    const dc_conv_plan *p = conv_plan(n, io, true, DC_CONV_FWD);
    if (io->res && !dc_conv_plan_takes_res(p, io->pre)) { // the add as its own pass, its own bits
        dc_conv_run_forward_packed(p, io->y, io->x[0], PARAMS(io, n, 0), io->pre, BIAS(io, n), false, NULL,
                                   io->N, io->scratch);
        dc_add_relu_forward(io->y, io->y, io->res, (size_t)io->N * dc_node_size(n), io->relu);
        return;
    }
    dc_conv_run_forward_packed(p, io->y, io->x[0], PARAMS(io, n, 0), io->pre, BIAS(io, n), io->relu, io->res,
                               io->N, io->scratch);
}

static bool conv_forward_share(const dc_node *n, dc_node_io *io) {
    const dc_conv_plan *p = conv_plan(n, io, true, DC_CONV_FWD);
    if (io->res && !dc_conv_plan_takes_res(p, io->pre)) {
        // conv_forward's separate add, over this share's channels (such a
        // plan shares by channels): a projection shortcut after the block's
        // second convolution carries the block's add (resnet20's 1x1 stride 2)
        if (!dc_conv_run_forward_share(p, io->share, io->shares, io->y, io->x[0], PARAMS(io, n, 0), io->pre,
                                       io->pre_shares, BIAS(io, n), false, NULL, io->N, io->scratch))
            return false;
        int lo, hi;
        dc_conv_share_channels(n->c, io->share, io->shares, &lo, &hi);
        const size_t P = (size_t)n->h * n->w;
        for (int s = 0; s < io->N; s++) {
            const size_t at = ((size_t)s * n->c + lo) * P;
            dc_add_relu_forward(io->y + at, io->y + at, io->res + at, (size_t)(hi - lo) * P, io->relu);
        }
        return true;
    }
    return dc_conv_run_forward_share(p, io->share, io->shares, io->y, io->x[0], PARAMS(io, n, 0), io->pre,
                                     io->pre_shares, BIAS(io, n), io->relu, io->res, io->N, io->scratch);
}

// Prepared weights: the Winograd transform of a 3x3 stride-1 convolution's
// weights, made once for a session's fixed parameters.
static size_t conv_pre_floats(const dc_node *n, int shares) {
    const dc_conv_shape s = conv_shape(n);
    return dc_conv_pack_floats_shared(&s, dc_cpu_features(), shares);
}

static void conv_pre_make(const dc_node *n, const float *params, float *pre, int shares) {
    const dc_conv_shape s = conv_shape(n);
    dc_conv_pack_shared(pre, params + n->t[0].off, &s, dc_cpu_features(), shares);
}

static void conv_backward(const dc_node *n, dc_node_io *io) {
    float *dw = GRADS(io, n, 0), *db = DBIAS(io, n);
    const unsigned passes = (io->dx[0] ? DC_CONV_BWD_DATA : 0u) | (dw || db ? DC_CONV_BWD_WEIGHTS : 0u);
    if (!passes) return;
    const dc_conv_plan *p = conv_plan(n, io, false, passes);
    dc_conv_run_backward(p, io->dx[0], dw, db, io->dy, io->x[0], PARAMS(io, n, 0), io->N, io->scratch);
}

static void conv_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    dc_conv2d_sample_sqnorm(sq, io->dy, io->x[0], CONV_ARGS(n, io), n->cfg.conv.bias);
}

static void conv_backward_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    dc_conv2d_backward_sqnorm(io->dx[0], sq, io->dy, io->x[0], PARAMS(io, n, 0), CONV_ARGS(n, io),
                              n->cfg.conv.bias);
}

static int64_t conv_macs(const dc_node *n) {
    const dc_conv_cfg *c = &n->cfg.conv;
    return (int64_t)n->c * n->h * n->w * n->in_c * c->k * c->k;
}

static const dc_op conv_op = {.kind = "conv2d", .prefix = "conv", .help = "2-D convolution", .macs = conv_macs,
                              .keys = conv_keys, .min_in = 1, .max_in = 1,
                              .flags = DC_OP_RELU_EPILOGUE | DC_OP_RES_EPILOGUE,
                              .infer = conv_infer, .init = conv_init, .tcache_bytes = conv_tcache, .scratch_bytes = conv_scratch,
                              .forward = conv_forward, .forward_share = conv_forward_share,
                              .pre_floats = conv_pre_floats, .pre_make = conv_pre_make,
                              .backward = conv_backward, .sample_sqnorm = conv_sqnorm, .backward_sqnorm = conv_backward_sqnorm};

// ---------------------------------------------------------------------------
// pooling (no padding; floor of the output size)

static const dc_key pool_keys[] = {
    {"k", DC_KEY_INT, CFG(dc_pool_cfg, k), 1, 1024, 0, DC_KEY_REQUIRED, NULL, NULL, "window size"},
    {"stride", DC_KEY_INT, CFG(dc_pool_cfg, stride), 1, 1024, 0, 0, "k", NULL, "stride [k]"},
    END_KEYS};

static dc_status pool_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    const dc_pool_cfg *p = &n->cfg.pool;
    const dc_node *x = in[0];
    if (x->h < p->k || x->w < p->k)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (%s): window %dx%d is larger than its input %dx%dx%d", n->name,
                       n->op->kind, p->k, p->k, x->c, x->h, x->w);
    return set_shape(n, x->c, (x->h - p->k) / p->stride + 1, (x->w - p->k) / p->stride + 1, err);
}

static size_t maxpool_cache(const dc_node *n, int N) { return sizeof(int32_t) * (size_t)N * dc_node_size(n); }

#define POOL_ARGS(n, io) (io)->N, (n)->in_c, (n)->in_h, (n)->in_w, \
                         (n)->cfg.pool.k, (n)->cfg.pool.stride

static void maxpool_forward(const dc_node *n, dc_node_io *io) {
    dc_maxpool2d_forward(io->y, io->cache, io->x[0], POOL_ARGS(n, io));
}

static void maxpool_backward(const dc_node *n, dc_node_io *io) {
    if (io->dx[0]) dc_maxpool2d_backward(io->dx[0], io->dy, io->cache, POOL_ARGS(n, io));
}

static void avgpool_forward(const dc_node *n, dc_node_io *io) {
    dc_avgpool2d_forward(io->y, io->x[0], POOL_ARGS(n, io));
}

static void avgpool_backward(const dc_node *n, dc_node_io *io) {
    if (io->dx[0]) dc_avgpool2d_backward(io->dx[0], io->dy, POOL_ARGS(n, io));
}

static const dc_op maxpool_op = {.kind = "maxpool", .prefix = "pool", .help = "max pooling",
                                 .keys = pool_keys, .min_in = 1, .max_in = 1, .infer = pool_infer,
                                 .cache_bytes = maxpool_cache, .forward = maxpool_forward,
                                 .backward = maxpool_backward};
static const dc_op avgpool_op = {.kind = "avgpool", .prefix = "pool", .help = "average pooling",
                                 .keys = pool_keys, .min_in = 1, .max_in = 1, .infer = pool_infer,
                                 .forward = avgpool_forward, .backward = avgpool_backward};

// ---------------------------------------------------------------------------
// elementwise activations: output shape = input shape

static const dc_key no_keys[] = {END_KEYS};

static dc_status same_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    return set_shape(n, in[0]->c, in[0]->h, in[0]->w, err);
}

#define ACT(name_, fwd, bwd, help_, flags_)                                                    \
    static void name_##_forward(const dc_node *n, dc_node_io *io) {                            \
        fwd(io->y, io->x[0], (size_t)io->N * dc_node_size(n));                                 \
    }                                                                                          \
    static void name_##_backward(const dc_node *n, dc_node_io *io) {                           \
        if (io->dx[0]) bwd(io->dx[0], io->dy, io->y, (size_t)io->N * dc_node_size(n));         \
    }                                                                                          \
    static const dc_op name_##_op = {.kind = #name_, .prefix = #name_, .help = help_,          \
                                     .keys = no_keys, .min_in = 1, .max_in = 1, .flags = flags_, \
                                     .infer = same_infer, .forward = name_##_forward,          \
                                     .backward = name_##_backward};
ACT(relu, dc_relu_forward, dc_relu_backward, "max(0, x)", DC_OP_RELU)
ACT(tanh, dc_tanh_forward, dc_tanh_backward, "tanh(x)", 0)
ACT(sigmoid, dc_sigmoid_forward, dc_sigmoid_backward, "1 / (1 + exp(-x))", 0)

// ---------------------------------------------------------------------------
// fakequant: the fake quantisation of quantisation-aware training
// (compress/qat.c inserts it after every node that owns an int8 range):
// y = (clamp(round(x / scale) + zero, 0, qmax) - zero) * scale, the values an
// int8 activation can hold (round half away from zero, as
// kernels/int8_kernels.h's dc_q_quantize); backward is the straight-through
// estimator: dy where x fell inside the grid's range, 0 where it was clamped.

static const dc_key fq_keys[] = {
    {"scale", DC_KEY_FLOAT, CFG(dc_fq_cfg, scale), 1e-30, 1e30, 1, DC_KEY_REQUIRED, NULL, NULL, "quantisation step"},
    {"zero", DC_KEY_INT, CFG(dc_fq_cfg, zero), 0, 255, 0, 0, NULL, NULL, "zero point"},
    {"qmax", DC_KEY_INT, CFG(dc_fq_cfg, qmax), 1, 255, 255, 0, NULL, NULL, "largest quantised value"},
    END_KEYS};

static int32_t fq_level(float x, float inv, int32_t z) {
    const float v = x * inv;
    if (!(v > -1e9f && v < 1e9f)) return v > 0 ? INT32_MAX : INT32_MIN; // huge or NaN: clamped
    return (v < 0 ? -(int32_t)(-v + 0.5f) : (int32_t)(v + 0.5f)) + z;
}

static void fq_forward(const dc_node *n, dc_node_io *io) {
    // x, y (N, C, H, W)
    const dc_fq_cfg *c = &n->cfg.fq;
    const size_t cnt = (size_t)io->N * dc_node_size(n);
    const float inv = 1.0f / c->scale;
    for (size_t i = 0; i < cnt; i++) {
        int32_t r = fq_level(io->x[0][i], inv, c->zero);
        r = r < 0 ? 0 : r > c->qmax ? c->qmax : r;
        io->y[i] = (float)(r - c->zero) * c->scale;
    }
}

static void fq_backward(const dc_node *n, dc_node_io *io) {
    if (!io->dx[0]) return;
    const dc_fq_cfg *c = &n->cfg.fq;
    const size_t cnt = (size_t)io->N * dc_node_size(n);
    const float inv = 1.0f / c->scale;
    for (size_t i = 0; i < cnt; i++) {
        const int32_t r = fq_level(io->x[0][i], inv, c->zero);
        io->dx[0][i] = r >= 0 && r <= c->qmax ? io->dy[i] : 0.0f;
    }
}

static const dc_op fq_op = {.kind = "fakequant", .prefix = "fq", .help = "fake int8 quantisation (QAT)",
                            .keys = fq_keys, .min_in = 1, .max_in = 1, .infer = same_infer, .forward = fq_forward,
                            .backward = fq_backward};

// ---------------------------------------------------------------------------
// flatten: (C,H,W) -> (C*H*W,1,1), a copy

static dc_status flatten_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    return set_shape(n, in_elems(in[0]), 1, 1, err);
}

static void flatten_forward(const dc_node *n, dc_node_io *io) {
    memcpy(io->y, io->x[0], sizeof(float) * (size_t)io->N * dc_node_size(n));
}

static void flatten_backward(const dc_node *n, dc_node_io *io) {
    if (io->dx[0]) memcpy(io->dx[0], io->dy, sizeof(float) * (size_t)io->N * dc_node_size(n));
}

static const dc_op flatten_op = {.kind = "flatten", .prefix = "flatten", .help = "(C,H,W) to a vector",
                                 .keys = no_keys, .min_in = 1, .max_in = 1, .infer = flatten_infer,
                                 .forward = flatten_forward, .backward = flatten_backward};

// ---------------------------------------------------------------------------
// linear

static const dc_key linear_keys[] = {
    {"in", DC_KEY_INT, CFG(dc_linear_cfg, in), 1, 1 << 28, 0, DC_KEY_IN, NULL, NULL, "input features (checked)"},
    {"out", DC_KEY_INT, CFG(dc_linear_cfg, out), 1, 1 << 24, 0, DC_KEY_REQUIRED, NULL, NULL, "output features"},
    {"bias", DC_KEY_BOOL, CFG(dc_linear_cfg, bias), 0, 1, 1, 0, NULL, NULL, "learn a bias"},
    {"init", DC_KEY_ENUM, CFG(dc_linear_cfg, init), 0, 0, 0, 0, NULL, init_choices, "weight init rule"},
    END_KEYS};

static dc_status linear_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    const dc_linear_cfg *c = &n->cfg.linear;
    const dc_node *p = in[0];
    if (p->h != 1 || p->w != 1)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (linear): its input is %dx%dx%d, not a vector; add a 'flatten' layer before it (it would give %lld features)",
                       n->name, p->c, p->h, p->w, (long long)in_elems(p));
    if (c->in && c->in != p->c)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (linear): declared in=%d features, but the incoming shape gives %d",
                       n->name, c->in, p->c);
    dc_status st = set_shape(n, c->out, 1, 1, err);
    int64_t ws[2] = {c->out, p->c}, bs[1] = {c->out};
    if (!st) st = add_tensor(n, "weight", DC_BUF_PARAM, 2, ws, err);
    if (!st && c->bias) st = add_tensor(n, "bias", DC_BUF_PARAM, 1, bs, err);
    return st;
}

static void linear_init(const dc_node *n, float *params, float *state, dc_rng *rng) {
    init_weight_bias(n, params, rng, n->cfg.linear.init);
}

static void linear_forward(const dc_node *n, dc_node_io *io) {
    dc_linear_forward(io->y, io->x[0], PARAMS(io, n, 0), BIAS(io, n), io->N, n->in_c,
                      n->cfg.linear.out, 1);
}

static void linear_backward(const dc_node *n, dc_node_io *io) {
    dc_linear_backward(io->dx[0], GRADS(io, n, 0), DBIAS(io, n), io->dy, io->x[0], PARAMS(io, n, 0), io->N,
                       n->in_c, n->cfg.linear.out, 1);
}

static void linear_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    dc_linear_sample_sqnorm(sq, io->dy, io->x[0], io->N, n->in_c, n->cfg.linear.out,
                            n->cfg.linear.bias);
}

static void linear_backward_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    // the norms by ||dy||^2 ||x||^2, then dx alone: no weight-gradient GEMM
    linear_sqnorm(n, io, sq);
    if (io->dx[0])
        dc_linear_backward(io->dx[0], NULL, NULL, io->dy, io->x[0], PARAMS(io, n, 0), io->N, n->in_c,
                           n->cfg.linear.out, 1);
}

static int64_t linear_macs(const dc_node *n) { return (int64_t)n->c * n->in_c; }

static const dc_op linear_op = {.kind = "linear", .prefix = "fc", .help = "fully connected", .macs = linear_macs,
                                .keys = linear_keys, .min_in = 1, .max_in = 1, .infer = linear_infer,
                                .init = linear_init, .forward = linear_forward, .backward = linear_backward,
                                .sample_sqnorm = linear_sqnorm, .backward_sqnorm = linear_backward_sqnorm};

// ---------------------------------------------------------------------------
// dropout (inverted; the identity in eval mode)

static const dc_key dropout_keys[] = {
    {"p", DC_KEY_FLOAT, CFG(dc_dropout_cfg, p), -1e30, 1e30, 0.5, 0, NULL, NULL, "drop probability in [0, 1)"},
    END_KEYS};

static dc_status dropout_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    if (!(n->cfg.dropout.p >= 0.0f && n->cfg.dropout.p < 1.0f))
        return dc_fail(err, DC_ERR_ARG, "layer %s (dropout): p must be in [0, 1)", n->name);
    return same_infer(n, in, err);
}

static size_t dropout_cache(const dc_node *n, int N) { return sizeof(float) * (size_t)N * dc_node_size(n); }

static void dropout_forward(const dc_node *n, dc_node_io *io) {
    size_t cnt = (size_t)io->N * dc_node_size(n);
    if (io->train && n->cfg.dropout.p > 0.0f)
        dc_dropout_forward(io->y, io->cache, io->x[0], cnt, n->cfg.dropout.p, io->rng);
    else
        memcpy(io->y, io->x[0], sizeof(float) * cnt);
}

static void dropout_backward(const dc_node *n, dc_node_io *io) {
    size_t cnt = (size_t)io->N * dc_node_size(n);
    if (!io->dx[0]) return;
    if (io->train && n->cfg.dropout.p > 0.0f) dc_dropout_backward(io->dx[0], io->dy, io->cache, cnt);
    else memcpy(io->dx[0], io->dy, sizeof(float) * cnt);
}

static const dc_op dropout_op = {.kind = "dropout", .prefix = "dropout", .help = "inverted dropout",
                                 .keys = dropout_keys, .min_in = 1, .max_in = 1, .flags = DC_OP_MODES,
                                 .infer = dropout_infer, .cache_bytes = dropout_cache,
                                 .forward = dropout_forward, .backward = dropout_backward};

// ---------------------------------------------------------------------------
// add: the elementwise sum of its inputs (residual connections)

static dc_status add_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    for (int k = 1; k < n->n_in; k++)
        if (in[k]->c != in[0]->c || in[k]->h != in[0]->h || in[k]->w != in[0]->w)
            return dc_fail(err, DC_ERR_SHAPE, "layer %s (add): inputs %s (%dx%dx%d) and %s (%dx%dx%d) differ in shape",
                           n->name, in[0]->name, in[0]->c, in[0]->h, in[0]->w, in[k]->name, in[k]->c, in[k]->h,
                           in[k]->w);
    return set_shape(n, in[0]->c, in[0]->h, in[0]->w, err);
}

static void add_forward(const dc_node *n, dc_node_io *io) {
    // sample by sample, so a fused relu reads what was just written (in cache)
    const size_t per = dc_node_size(n);
    for (int s = 0; s < io->N; s++) {
        const size_t o = (size_t)s * per;
        // the relu rides on the last add
        dc_add_relu_forward(io->y + o, io->x[0] + o, io->x[1] + o, per, io->relu && io->n_in == 2);
        for (int k = 2; k < io->n_in; k++)
            dc_add_relu_forward(io->y + o, io->y + o, io->x[k] + o, per, io->relu && k == io->n_in - 1);
    }
}

static void add_backward(const dc_node *n, dc_node_io *io) {
    size_t cnt = (size_t)io->N * dc_node_size(n);
    for (int k = 0; k < io->n_in; k += 2)
        dc_add_backward(io->dx[k], k + 1 < io->n_in ? io->dx[k + 1] : NULL, io->dy, cnt);
}

static const dc_op add_op = {.kind = "add", .prefix = "add", .help = "elementwise sum (residual)",
                             .keys = no_keys, .min_in = 2, .max_in = DC_NODE_MAX_IN,
                             .flags = DC_OP_RELU_EPILOGUE | DC_OP_SUM,
                             .infer = add_infer,
                             .forward = add_forward, .backward = add_backward};

// ---------------------------------------------------------------------------
// concat: along channels

static dc_status concat_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    int64_t c = 0;
    for (int k = 0; k < n->n_in; k++) {
        if (in[k]->h != in[0]->h || in[k]->w != in[0]->w)
            return dc_fail(err, DC_ERR_SHAPE,
                           "layer %s (concat): inputs %s (%dx%dx%d) and %s (%dx%dx%d) differ in height or width",
                           n->name, in[0]->name, in[0]->c, in[0]->h, in[0]->w, in[k]->name, in[k]->c, in[k]->h,
                           in[k]->w);
        c += in[k]->c;
    }
    return set_shape(n, c, in[0]->h, in[0]->w, err);
}

static void concat_channels(const dc_node *n, const dc_node_io *io, int *cs) {
    for (int k = 0; k < io->n_in; k++) cs[k] = io->in_size[k] / (n->h * n->w);
}

static void concat_forward(const dc_node *n, dc_node_io *io) {
    int cs[DC_NODE_MAX_IN];
    concat_channels(n, io, cs);
    dc_concat_forward(io->y, io->x, cs, io->n_in, io->N, n->h * n->w);
}

static void concat_backward(const dc_node *n, dc_node_io *io) {
    int cs[DC_NODE_MAX_IN];
    concat_channels(n, io, cs);
    dc_concat_backward(io->dx, io->dy, cs, io->n_in, io->N, n->h * n->w);
}

static const dc_op concat_op = {.kind = "concat", .prefix = "concat", .help = "concatenation along channels",
                                .keys = no_keys, .min_in = 1, .max_in = DC_NODE_MAX_IN, .infer = concat_infer,
                                .forward = concat_forward, .backward = concat_backward};

// ---------------------------------------------------------------------------
// globalavgpool: (C,H,W) -> (C,1,1)

static dc_status gap_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    return set_shape(n, in[0]->c, 1, 1, err);
}

static void gap_forward(const dc_node *n, dc_node_io *io) {
    dc_gap_forward(io->y, io->x[0], io->N, n->in_c, n->in_h * n->in_w);
}

static void gap_backward(const dc_node *n, dc_node_io *io) {
    if (io->dx[0]) dc_gap_backward(io->dx[0], io->dy, io->N, n->in_c, n->in_h * n->in_w);
}

static const dc_op gap_op = {.kind = "globalavgpool", .prefix = "avgpool", .help = "mean of each channel's plane",
                             .keys = no_keys, .min_in = 1, .max_in = 1, .infer = gap_infer,
                             .forward = gap_forward, .backward = gap_backward};

// ---------------------------------------------------------------------------
// batchnorm2d (PyTorch's BatchNorm2d): batch statistics in training (the
// executor's synchronisation point), running statistics in eval mode.
// Tensors: weight, bias (affine), running_mean, running_var,
// num_batches_tracked (state). The thread cache holds this batch's mean and
// invstd (C each), written by forward and read by backward.

static const dc_key bn_keys[] = {
    {"eps", DC_KEY_FLOAT, CFG(dc_bn_cfg, eps), 0, 1, 1e-5, 0, NULL, NULL, "added to the variance"},
    {"momentum", DC_KEY_FLOAT, CFG(dc_bn_cfg, momentum), 0, 1, 0.1, 0, NULL, NULL, "running-statistics momentum"},
    {"affine", DC_KEY_BOOL, CFG(dc_bn_cfg, affine), 0, 1, 1, 0, NULL, NULL, "learn a scale and shift"},
    END_KEYS};

static dc_status bn_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    dc_status st = same_infer(n, in, err);
    int64_t cs[1] = {n->c}, one[1] = {1};
    if (!st && n->cfg.bn.affine) st = add_tensor(n, "weight", DC_BUF_PARAM, 1, cs, err);
    if (!st && n->cfg.bn.affine) st = add_tensor(n, "bias", DC_BUF_PARAM, 1, cs, err);
    if (!st) st = add_tensor(n, "running_mean", DC_BUF_STATE, 1, cs, err);
    if (!st) st = add_tensor(n, "running_var", DC_BUF_STATE, 1, cs, err);
    if (!st) st = add_tensor(n, "num_batches_tracked", DC_BUF_STATE, 1, one, err);
    if (!st) n->t[n->n_t - 1].int64_on_disk = true;
    return st;
}

// index of the first state tensor (running_mean)
static int bn_state0(const dc_node *n) { return n->cfg.bn.affine ? 2 : 0; }

static void bn_init(const dc_node *n, float *params, float *state, dc_rng *rng) {
    const int s0 = bn_state0(n), C = n->c;
    for (int c = 0; c < C; c++) {
        if (n->cfg.bn.affine) {
            params[n->t[0].off + c] = 1.0f;
            params[n->t[1].off + c] = 0.0f;
        }
        state[n->t[s0].off + c] = 0.0f;
        state[n->t[s0 + 1].off + c] = 1.0f;
    }
    state[n->t[s0 + 2].off] = 0.0f;
}

static size_t bn_tcache(const dc_node *n) { return sizeof(float) * 2 * (size_t)n->c; }
static size_t bn_parts(const dc_node *n) { return 2 * (size_t)n->c; }

#define BN_GAMMA(io, n) ((n)->cfg.bn.affine ? PARAMS(io, n, 0) : NULL)
#define BN_BETA(io, n) ((n)->cfg.bn.affine ? PARAMS(io, n, 1) : NULL)
#define BN_HW(n) ((n)->h * (n)->w)

// y = BN(x) sample by sample, with the fused relu right behind (in cache)
static void bn_apply_slice(const dc_node *n, dc_node_io *io, const float *mean, const float *invstd) {
    const size_t per = dc_node_size(n);
    for (int s = 0; s < io->N; s++) {
        float *y = io->y + (size_t)s * per;
        dc_bn2d_apply(y, io->x[0] + (size_t)s * per, mean, invstd, BN_GAMMA(io, n), BN_BETA(io, n), 1, n->c, BN_HW(n));
        if (io->relu) dc_relu_forward(y, y, per);
    }
}

static void bn_forward_eval(const dc_node *n, dc_node_io *io) {
    float *mean = io->tcache, *invstd = mean + n->c;
    const int s0 = bn_state0(n);
    dc_bn2d_eval_stats(mean, invstd, io->state + n->t[s0].off, io->state + n->t[s0 + 1].off, n->c, n->cfg.bn.eps);
    bn_apply_slice(n, io, mean, invstd);
}

static void bn_forward_partial(const dc_node *n, dc_node_io *io) {
    dc_bn2d_stats_partial(io->part, io->part + n->c, io->x[0], io->N, n->c, BN_HW(n));
}

static void bn_forward_finish(const dc_node *n, dc_node_io *io) {
    float *mean = io->tcache, *invstd = mean + n->c;
    const int s0 = bn_state0(n);
    float *rm = io->update_state ? io->state + n->t[s0].off : NULL;
    float *rv = io->update_state ? io->state + n->t[s0 + 1].off : NULL;
    float *nbt = io->update_state ? io->state + n->t[s0 + 2].off : NULL;
    dc_bn2d_stats_finish(mean, invstd, rm, rv, nbt, io->total, io->total + n->c, n->c,
                         (int64_t)io->N_total * BN_HW(n), n->cfg.bn.eps, n->cfg.bn.momentum);
    bn_apply_slice(n, io, mean, invstd);
}

// Eval-mode backward (explanations): the statistics are constants; this
// slice's weight gradients go to this thread's gradient buffer.
static void bn_backward_eval(const dc_node *n, dc_node_io *io) {
    float *mean = io->tcache, *invstd = mean + n->c;
    const int s0 = bn_state0(n);
    dc_bn2d_eval_stats(mean, invstd, io->state + n->t[s0].off, io->state + n->t[s0 + 1].off, n->c, n->cfg.bn.eps);
    if (n->cfg.bn.affine && io->grads) {
        dc_bn2d_backward_partial(io->part, io->part + n->c, io->dy, io->x[0], mean, invstd, io->N, n->c, BN_HW(n));
        dc_bn2d_backward_params(GRADS(io, n, 0), GRADS(io, n, 1), io->part, io->part + n->c, n->c);
    }
    if (io->dx[0]) dc_bn2d_backward_dx_eval(io->dx[0], io->dy, invstd, BN_GAMMA(io, n), io->N, n->c, BN_HW(n));
}

static void bn_backward_partial(const dc_node *n, dc_node_io *io) {
    const float *mean = io->tcache, *invstd = mean + n->c;
    dc_bn2d_backward_partial(io->part, io->part + n->c, io->dy, io->x[0], mean, invstd, io->N, n->c, BN_HW(n));
}

static void bn_backward_finish(const dc_node *n, dc_node_io *io) {
    const float *mean = io->tcache, *invstd = mean + n->c;
    // the batch totals are the whole batch's weight gradient: added once
    if (n->cfg.bn.affine && io->grads && io->thread == 0)
        dc_bn2d_backward_params(GRADS(io, n, 0), GRADS(io, n, 1), io->total, io->total + n->c, n->c);
    if (io->dx[0])
        dc_bn2d_backward_dx_train(io->dx[0], io->dy, io->x[0], mean, invstd, BN_GAMMA(io, n), io->total,
                                  io->total + n->c, (int64_t)io->N_total * BN_HW(n), io->N, n->c, BN_HW(n));
}

static const dc_op bn_op = {.kind = "batchnorm2d", .prefix = "bn", .help = "batch normalisation (PyTorch's BatchNorm2d)",
                            .keys = bn_keys, .min_in = 1, .max_in = 1,
                            .flags = DC_OP_COUPLED | DC_OP_MODES | DC_OP_RELU_EPILOGUE,
                            .infer = bn_infer, .init = bn_init, .tcache_bytes = bn_tcache, .part_doubles = bn_parts,
                            .forward = bn_forward_eval, .backward = bn_backward_eval,
                            .forward_partial = bn_forward_partial, .forward_finish = bn_forward_finish,
                            .backward_partial = bn_backward_partial, .backward_finish = bn_backward_finish};

// ---------------------------------------------------------------------------
// groupnorm and layernorm: per-sample normalisation (no batch coupling, so
// DP-SGD can use them). The cache holds each sample's mean and rstd.

static const dc_key gn_keys[] = {
    {"groups", DC_KEY_INT, CFG(dc_gn_cfg, groups), 1, 1 << 20, 0, DC_KEY_REQUIRED, NULL, NULL, "channel groups"},
    {"eps", DC_KEY_FLOAT, CFG(dc_gn_cfg, eps), 0, 1, 1e-5, 0, NULL, NULL, "added to the variance"},
    {"affine", DC_KEY_BOOL, CFG(dc_gn_cfg, affine), 0, 1, 1, 0, NULL, NULL, "learn a scale and shift"},
    END_KEYS};

static dc_status gn_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    if (in[0]->c % n->cfg.gn.groups)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (groupnorm): groups=%d does not divide its input's %d channels",
                       n->name, n->cfg.gn.groups, in[0]->c);
    dc_status st = same_infer(n, in, err);
    int64_t cs[1] = {n->c};
    if (!st && n->cfg.gn.affine) st = add_tensor(n, "weight", DC_BUF_PARAM, 1, cs, err);
    if (!st && n->cfg.gn.affine) st = add_tensor(n, "bias", DC_BUF_PARAM, 1, cs, err);
    return st;
}

static void affine_init(const dc_node *n, float *params, float *state, dc_rng *rng) {
    if (n->n_t < 2) return;
    for (size_t j = 0; j < n->t[0].n; j++) params[n->t[0].off + j] = 1.0f;
    for (size_t j = 0; j < n->t[1].n; j++) params[n->t[1].off + j] = 0.0f;
}

static size_t gn_cache(const dc_node *n, int N) { return sizeof(float) * 2 * (size_t)N * n->cfg.gn.groups; }

#define AFF_GAMMA(io, n) ((n)->n_t ? PARAMS(io, n, 0) : NULL)
#define AFF_BETA(io, n) ((n)->n_t ? PARAMS(io, n, 1) : NULL)
#define AFF_DGAMMA(io, n) ((n)->n_t ? GRADS(io, n, 0) : NULL)
#define AFF_DBETA(io, n) ((n)->n_t ? GRADS(io, n, 1) : NULL)

static void gn_forward(const dc_node *n, dc_node_io *io) {
    float *mean = io->cache, *rstd = mean + (size_t)io->N * n->cfg.gn.groups;
    dc_groupnorm_forward(io->y, mean, rstd, io->x[0], AFF_GAMMA(io, n), AFF_BETA(io, n), io->N, n->c, n->h * n->w,
                         n->cfg.gn.groups, n->cfg.gn.eps);
}

static void gn_backward(const dc_node *n, dc_node_io *io) {
    const float *mean = io->cache, *rstd = mean + (size_t)io->N * n->cfg.gn.groups;
    dc_groupnorm_backward(io->dx[0], AFF_DGAMMA(io, n), AFF_DBETA(io, n), io->dy, io->x[0], mean, rstd,
                          AFF_GAMMA(io, n), io->N, n->c, n->h * n->w, n->cfg.gn.groups);
}

static void gn_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    if (!n->n_t) return;
    const float *mean = io->cache, *rstd = mean + (size_t)io->N * n->cfg.gn.groups;
    dc_groupnorm_sample_sqnorm(sq, io->dy, io->x[0], mean, rstd, io->N, n->c, n->h * n->w, n->cfg.gn.groups);
}

static const dc_op gn_op = {.kind = "groupnorm", .prefix = "gn", .help = "group normalisation (per sample)",
                            .keys = gn_keys, .min_in = 1, .max_in = 1, .infer = gn_infer, .init = affine_init,
                            .cache_bytes = gn_cache, .forward = gn_forward, .backward = gn_backward,
                            .sample_sqnorm = gn_sqnorm};

static const dc_key ln_keys[] = {
    {"eps", DC_KEY_FLOAT, CFG(dc_ln_cfg, eps), 0, 1, 1e-5, 0, NULL, NULL, "added to the variance"},
    {"affine", DC_KEY_BOOL, CFG(dc_ln_cfg, affine), 0, 1, 1, 0, NULL, NULL, "learn an elementwise scale and shift"},
    END_KEYS};

// PyTorch's LayerNorm(normalized_shape = the per-sample shape): weight and
// bias are (C,H,W), or (C) for a vector.
static dc_status ln_infer(dc_node *n, const dc_node *const *in, dc_error *err) {
    dc_status st = same_infer(n, in, err);
    int64_t sh[3] = {n->c, n->h, n->w};
    int rank = n->h == 1 && n->w == 1 ? 1 : 3;
    if (!st && n->cfg.ln.affine) st = add_tensor(n, "weight", DC_BUF_PARAM, rank, sh, err);
    if (!st && n->cfg.ln.affine) st = add_tensor(n, "bias", DC_BUF_PARAM, rank, sh, err);
    return st;
}

static size_t ln_cache(const dc_node *n, int N) { return sizeof(float) * 2 * (size_t)N; }

static void ln_forward(const dc_node *n, dc_node_io *io) {
    float *mean = io->cache, *rstd = mean + io->N;
    dc_layernorm_forward(io->y, mean, rstd, io->x[0], AFF_GAMMA(io, n), AFF_BETA(io, n), io->N,
                         (int)dc_node_size(n), n->cfg.ln.eps);
}

static void ln_backward(const dc_node *n, dc_node_io *io) {
    const float *mean = io->cache, *rstd = mean + io->N;
    dc_layernorm_backward(io->dx[0], AFF_DGAMMA(io, n), AFF_DBETA(io, n), io->dy, io->x[0], mean, rstd,
                          AFF_GAMMA(io, n), io->N, (int)dc_node_size(n));
}

static void ln_sqnorm(const dc_node *n, dc_node_io *io, double *sq) {
    if (!n->n_t) return;
    const float *mean = io->cache, *rstd = mean + io->N;
    dc_layernorm_sample_sqnorm(sq, io->dy, io->x[0], mean, rstd, io->N, (int)dc_node_size(n));
}

static const dc_op ln_op = {.kind = "layernorm", .prefix = "ln", .help = "layer normalisation (per sample)",
                            .keys = ln_keys, .min_in = 1, .max_in = 1, .infer = ln_infer, .init = affine_init,
                            .cache_bytes = ln_cache, .forward = ln_forward, .backward = ln_backward,
                            .sample_sqnorm = ln_sqnorm};

// ---------------------------------------------------------------------------

const dc_op *const dc_ops[] = {
    &conv_op, &maxpool_op, &avgpool_op, &relu_op, &tanh_op, &sigmoid_op,
    &flatten_op, &linear_op, &dropout_op, &add_op, &concat_op, &gap_op,
    &bn_op, &gn_op, &ln_op, &input_op, &fq_op, NULL,
};

const dc_op *dc_op_find(const char *kind) {
    for (int i = 0; dc_ops[i]; i++)
        if (!strcmp(dc_ops[i]->kind, kind)) return dc_ops[i];
    return NULL;
}

void dc_op_list(char *buf, size_t cap) {
    size_t len = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; dc_ops[i]; i++) {
        if (dc_ops[i]->flags & DC_OP_INPUT) continue;
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", dc_ops[i]->kind);
    }
}

// Shortest %g text that reads back as the same float.
static int float_text(char *buf, size_t cap, float v) {
    for (int prec = 6; prec <= 9; prec++) {
        int len = snprintf(buf, cap, "%.*g", prec, v);
        if (strtof(buf, NULL) == v) return len;
    }
    return snprintf(buf, cap, "%.9g", v);
}

int dc_node_config_text(const dc_node *n, char *buf, size_t cap) {
    size_t len = 0;
    if (cap) buf[0] = 0;
    const char *base = (const char *)&n->cfg;
    for (const dc_key *k = n->op->keys; k->name; k++) {
        char v[48];
        const void *field = base + k->offset;
        switch (k->type) {
        case DC_KEY_INT: {
            // a declared input width is printed as inferred
            int x = (k->flags & DC_KEY_IN) ? n->in_c : *(const int *)field;
            snprintf(v, sizeof v, "%d", x);
            break;
        }
        case DC_KEY_FLOAT: float_text(v, sizeof v, *(const float *)field); break;
        case DC_KEY_BOOL: snprintf(v, sizeof v, "%d", *(const bool *)field ? 1 : 0); break;
        case DC_KEY_ENUM: {
            int x = *(const int *)field;
            if (x == (int)k->def) continue; // the default rule is not spelled out (older files lack it)
            snprintf(v, sizeof v, "%s", k->choices[x]);
            break;
        }
        }
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", len ? " " : "", k->name, v);
    }
    return (int)len;
}
