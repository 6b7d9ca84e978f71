// layer_ops.c — the table of layer kinds: shape inference plus thin adapters
// from the model's flat buffers to the kernels in src/layers/.
#include <string.h>
#include "core/core.h"
#include "layers/layers.h"
#include "model/model.h"

#define W(io, l) ((io)->params + (l)->w_off)
#define B(io, l) ((l)->b_n ? (io)->params + (l)->b_off : NULL)
#define DW(io, l) ((io)->grads + (l)->w_off)
#define DB(io, l) ((l)->b_n ? (io)->grads + (l)->b_off : NULL)
#define PER_SAMPLE(fn) .sample_sqnorm = fn

static size_t no_cache(const dc_layer *l, int N) { return 0; }

// ---------------------------------------------------------------------------
// conv2d

static dc_status conv_infer(dc_layer *l, int declared, dc_error *err) {
    const dc_conv_cfg *c = &l->cfg.conv;
    if (declared && declared != l->in_c)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (conv2d): declared in=%d input channels, but its input is %dx%dx%d (%d channels)",
                       l->name, declared, l->in_c, l->in_h, l->in_w, l->in_c);
    if (c->out < 1 || c->k < 1 || c->stride < 1 || c->pad < 0)
        return dc_fail(err, DC_ERR_ARG, "layer %s (conv2d): out, k, stride must be >= 1 and pad >= 0", l->name);
    if (l->in_h + 2 * c->pad < c->k || l->in_w + 2 * c->pad < c->k)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (conv2d): kernel %dx%d (pad %d) does not fit its input %dx%dx%d",
                       l->name, c->k, c->k, c->pad, l->in_c, l->in_h, l->in_w);
    l->out_c = c->out;
    l->out_h = dc_conv_out(l->in_h, c->k, c->stride, c->pad);
    l->out_w = dc_conv_out(l->in_w, c->k, c->stride, c->pad);
    l->w_rank = 4;
    l->w_shape[0] = c->out; l->w_shape[1] = l->in_c; l->w_shape[2] = c->k; l->w_shape[3] = c->k;
    l->w_n = (size_t)c->out * l->in_c * c->k * c->k;
    l->b_n = c->bias ? (size_t)c->out : 0;
    return DC_OK;
}

static void conv_forward(const dc_layer *l, dc_layer_io *io) {
    const dc_conv_cfg *c = &l->cfg.conv;
    dc_conv2d_forward(io->y, io->x, W(io, l), B(io, l), io->N, l->in_c, l->in_h, l->in_w,
                      c->out, c->k, c->stride, c->pad, io->nthreads);
}

static void conv_backward(const dc_layer *l, dc_layer_io *io) {
    const dc_conv_cfg *c = &l->cfg.conv;
    dc_conv2d_backward(io->dx, DW(io, l), DB(io, l), io->dy, io->x, W(io, l), io->N, l->in_c,
                       l->in_h, l->in_w, c->out, c->k, c->stride, c->pad, io->nthreads);
}

static void conv_sqnorm(const dc_layer *l, dc_layer_io *io, double *sq) {
    const dc_conv_cfg *c = &l->cfg.conv;
    dc_conv2d_sample_sqnorm(sq, io->dy, io->x, io->N, l->in_c, l->in_h, l->in_w, c->out, c->k,
                            c->stride, c->pad, c->bias);
}

static void conv_backward_sqnorm(const dc_layer *l, dc_layer_io *io, double *sq) {
    const dc_conv_cfg *c = &l->cfg.conv;
    dc_conv2d_backward_sqnorm(io->dx, sq, io->dy, io->x, W(io, l), io->N, l->in_c, l->in_h, l->in_w,
                              c->out, c->k, c->stride, c->pad, c->bias);
}

static const dc_layer_ops conv_ops = {"conv2d", "in, out, k, stride, pad, bias, name",
                                      conv_infer, no_cache, conv_forward, conv_backward,
                                      PER_SAMPLE(conv_sqnorm), .backward_sqnorm = conv_backward_sqnorm};

// ---------------------------------------------------------------------------
// pooling

static dc_status pool_infer(dc_layer *l, int declared, dc_error *err) {
    dc_pool_cfg *p = &l->cfg.pool;
    if (p->k < 1 || p->stride < 1)
        return dc_fail(err, DC_ERR_ARG, "layer %s (%s): k and stride must be >= 1", l->name, l->ops->kind);
    if (l->in_h < p->k || l->in_w < p->k)
        return dc_fail(err, DC_ERR_SHAPE, "layer %s (%s): window %dx%d is larger than its input %dx%dx%d",
                       l->name, l->ops->kind, p->k, p->k, l->in_c, l->in_h, l->in_w);
    l->out_c = l->in_c;
    l->out_h = (l->in_h - p->k) / p->stride + 1;
    l->out_w = (l->in_w - p->k) / p->stride + 1;
    return DC_OK;
}

static size_t maxpool_cache(const dc_layer *l, int N) {
    return sizeof(int32_t) * (size_t)N * dc_layer_out_size(l);
}

static void maxpool_forward(const dc_layer *l, dc_layer_io *io) {
    dc_maxpool2d_forward(io->y, io->cache, io->x, io->N, l->in_c, l->in_h, l->in_w,
                         l->cfg.pool.k, l->cfg.pool.stride);
}

static void maxpool_backward(const dc_layer *l, dc_layer_io *io) {
    if (io->dx)
        dc_maxpool2d_backward(io->dx, io->dy, io->cache, io->N, l->in_c, l->in_h, l->in_w,
                              l->cfg.pool.k, l->cfg.pool.stride);
}

static void avgpool_forward(const dc_layer *l, dc_layer_io *io) {
    dc_avgpool2d_forward(io->y, io->x, io->N, l->in_c, l->in_h, l->in_w, l->cfg.pool.k,
                         l->cfg.pool.stride);
}

static void avgpool_backward(const dc_layer *l, dc_layer_io *io) {
    if (io->dx)
        dc_avgpool2d_backward(io->dx, io->dy, io->N, l->in_c, l->in_h, l->in_w, l->cfg.pool.k,
                              l->cfg.pool.stride);
}

static const dc_layer_ops maxpool_ops = {"maxpool", "k, stride, name", pool_infer, maxpool_cache,
                                         maxpool_forward, maxpool_backward};
static const dc_layer_ops avgpool_ops = {"avgpool", "k, stride, name", pool_infer, no_cache,
                                         avgpool_forward, avgpool_backward};

// ---------------------------------------------------------------------------
// elementwise activations and flatten: output shape = input shape

static dc_status same_infer(dc_layer *l, int declared, dc_error *err) {
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return DC_OK;
}

#define ACT(name_, fwd, bwd)                                                            \
    static void name_##_forward(const dc_layer *l, dc_layer_io *io) {                   \
        fwd(io->y, io->x, (size_t)io->N * dc_layer_in_size(l));                         \
    }                                                                                   \
    static void name_##_backward(const dc_layer *l, dc_layer_io *io) {                  \
        if (io->dx) bwd(io->dx, io->dy, io->y, (size_t)io->N * dc_layer_in_size(l));    \
    }                                                                                   \
    static const dc_layer_ops name_##_ops = {#name_, "name", same_infer, no_cache,      \
                                             name_##_forward, name_##_backward};
ACT(relu, dc_relu_forward, dc_relu_backward)
ACT(tanh, dc_tanh_forward, dc_tanh_backward)
ACT(sigmoid, dc_sigmoid_forward, dc_sigmoid_backward)

static dc_status flatten_infer(dc_layer *l, int declared, dc_error *err) {
    l->out_c = l->in_c * l->in_h * l->in_w;
    l->out_h = l->out_w = 1;
    return DC_OK;
}

static void flatten_forward(const dc_layer *l, dc_layer_io *io) {
    memcpy(io->y, io->x, sizeof(float) * (size_t)io->N * dc_layer_in_size(l));
}

static void flatten_backward(const dc_layer *l, dc_layer_io *io) {
    if (io->dx) memcpy(io->dx, io->dy, sizeof(float) * (size_t)io->N * dc_layer_in_size(l));
}

static const dc_layer_ops flatten_ops = {"flatten", "name", flatten_infer, no_cache,
                                         flatten_forward, flatten_backward};

// ---------------------------------------------------------------------------
// linear

static dc_status linear_infer(dc_layer *l, int declared, dc_error *err) {
    const dc_linear_cfg *c = &l->cfg.linear;
    if (l->in_h != 1 || l->in_w != 1)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (linear): its input is %dx%dx%d, not a vector; add a 'flatten' layer before it (it would give %d features)",
                       l->name, l->in_c, l->in_h, l->in_w, l->in_c * l->in_h * l->in_w);
    if (declared && declared != l->in_c)
        return dc_fail(err, DC_ERR_SHAPE,
                       "layer %s (linear): declared in=%d features, but the incoming shape gives %d",
                       l->name, declared, l->in_c);
    if (c->out < 1) return dc_fail(err, DC_ERR_ARG, "layer %s (linear): out must be >= 1", l->name);
    l->out_c = c->out;
    l->out_h = l->out_w = 1;
    l->w_rank = 2;
    l->w_shape[0] = c->out;
    l->w_shape[1] = l->in_c;
    l->w_n = (size_t)c->out * l->in_c;
    l->b_n = c->bias ? (size_t)c->out : 0;
    return DC_OK;
}

static void linear_forward(const dc_layer *l, dc_layer_io *io) {
    dc_linear_forward(io->y, io->x, W(io, l), B(io, l), io->N, l->in_c, l->cfg.linear.out,
                      io->nthreads);
}

static void linear_backward(const dc_layer *l, dc_layer_io *io) {
    dc_linear_backward(io->dx, DW(io, l), DB(io, l), io->dy, io->x, W(io, l), io->N, l->in_c,
                       l->cfg.linear.out, io->nthreads);
}

static void linear_sqnorm(const dc_layer *l, dc_layer_io *io, double *sq) {
    dc_linear_sample_sqnorm(sq, io->dy, io->x, io->N, l->in_c, l->cfg.linear.out, l->cfg.linear.bias);
}

static void linear_backward_sqnorm(const dc_layer *l, dc_layer_io *io, double *sq) {
    // the norms by ||dy||^2 ||x||^2, then dx alone: no weight-gradient GEMM
    linear_sqnorm(l, io, sq);
    if (io->dx)
        dc_linear_backward(io->dx, NULL, NULL, io->dy, io->x, W(io, l), io->N, l->in_c, l->cfg.linear.out,
                           io->nthreads);
}

static const dc_layer_ops linear_ops = {"linear", "in, out, bias, name", linear_infer, no_cache,
                                        linear_forward, linear_backward, PER_SAMPLE(linear_sqnorm),
                                        .backward_sqnorm = linear_backward_sqnorm};

// ---------------------------------------------------------------------------
// dropout

static dc_status dropout_infer(dc_layer *l, int declared, dc_error *err) {
    if (!(l->cfg.dropout.p >= 0.0f && l->cfg.dropout.p < 1.0f))
        return dc_fail(err, DC_ERR_ARG, "layer %s (dropout): p must be in [0, 1)", l->name);
    return same_infer(l, declared, err);
}

static size_t dropout_cache(const dc_layer *l, int N) {
    return sizeof(float) * (size_t)N * dc_layer_in_size(l);
}

static void dropout_forward(const dc_layer *l, dc_layer_io *io) {
    size_t n = (size_t)io->N * dc_layer_in_size(l);
    if (io->train && l->cfg.dropout.p > 0.0f)
        dc_dropout_forward(io->y, io->cache, io->x, n, l->cfg.dropout.p, io->rng);
    else
        memcpy(io->y, io->x, sizeof(float) * n);
}

static void dropout_backward(const dc_layer *l, dc_layer_io *io) {
    size_t n = (size_t)io->N * dc_layer_in_size(l);
    if (!io->dx) return;
    if (l->cfg.dropout.p > 0.0f) dc_dropout_backward(io->dx, io->dy, io->cache, n);
    else memcpy(io->dx, io->dy, sizeof(float) * n);
}

static const dc_layer_ops dropout_ops = {"dropout", "p, name", dropout_infer, dropout_cache,
                                         dropout_forward, dropout_backward};

// ---------------------------------------------------------------------------

const dc_layer_ops *const dc_layer_kinds[] = {
    &conv_ops, &maxpool_ops, &avgpool_ops, &relu_ops, &tanh_ops, &sigmoid_ops,
    &flatten_ops, &linear_ops, &dropout_ops, NULL,
};

const dc_layer_ops *dc_layer_find(const char *kind) {
    for (int i = 0; dc_layer_kinds[i]; i++)
        if (strcmp(dc_layer_kinds[i]->kind, kind) == 0) return dc_layer_kinds[i];
    return NULL;
}
