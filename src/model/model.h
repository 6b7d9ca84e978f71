// model.h — internal view of a model: a sequential stack of layers, each a
// small config struct dispatched through one table of layer kinds, all
// parameters in one flat buffer (and gradients in another, same layout).
#ifndef DC_MODEL_H
#define DC_MODEL_H

#include "deepc.h"
#include "optim/optim.h"

typedef struct { int out, k, stride, pad; bool bias; } dc_conv_cfg;   // conv2d
typedef struct { int k, stride; } dc_pool_cfg;                         // max/avg pool
typedef struct { int out; bool bias; } dc_linear_cfg;                  // linear
typedef struct { float p; } dc_dropout_cfg;                            // dropout

typedef struct dc_layer_ops dc_layer_ops;

typedef struct dc_layer {
    const dc_layer_ops *ops;
    char name[32];          // e.g. "conv1": tensors are "<name>.weight/.bias"
    int in_c, in_h, in_w;   // per-sample input shape (C,H,W); features as (I,1,1)
    int out_c, out_h, out_w;// per-sample output shape
    size_t w_off, w_n;      // weight view into the flat params
    size_t b_off, b_n;      // bias view (b_n == 0: none)
    int w_shape[4], w_rank; // weight tensor shape as stored (OC,C,K,K) or (O,I)
    union {
        dc_conv_cfg conv;
        dc_pool_cfg pool;
        dc_linear_cfg linear;
        dc_dropout_cfg dropout;
    } cfg;
} dc_layer;

// What a layer's forward/backward sees. Activations are (N, C, H, W).
typedef struct dc_layer_io {
    int N, nthreads;
    bool train;
    const float *x;     // input (N, in)
    float *y;           // output (N, out)
    float *dx;          // input gradient, NULL when not needed
    const float *dy;    // output gradient
    const float *params;// flat parameters
    float *grads;       // flat gradients (accumulated into)
    void *cache;        // cache_bytes(l, N) bytes written by forward
    dc_rng *rng;        // dropout draws
} dc_layer_io;

struct dc_layer_ops {
    const char *kind;       // keyword in the text format
    const char *keys;       // accepted keys, for messages
    // Infers out_* and parameter shapes from in_*; `declared` is the value the
    // user wrote for in= (0 if absent) and is checked here.
    dc_status (*infer)(dc_layer *l, int declared_in, dc_error *err);
    size_t (*cache_bytes)(const dc_layer *l, int N);
    void (*forward)(const dc_layer *l, dc_layer_io *io);
    void (*backward)(const dc_layer *l, dc_layer_io *io);
    // Per-sample squared gradient norms into sq (N) (DP-SGD); NULL for
    // layers without parameters. Reads io->x and io->dy.
    void (*sample_sqnorm)(const dc_layer *l, dc_layer_io *io, double *sq);
    // Optional: the norms and io->dx in one pass, no weight gradient (when a
    // kernel can do both for the price of one; else sample_sqnorm + backward).
    void (*backward_sqnorm)(const dc_layer *l, dc_layer_io *io, double *sq);
};

extern const dc_layer_ops *const dc_layer_kinds[]; // NULL-terminated table
const dc_layer_ops *dc_layer_find(const char *kind);

struct dc_model {
    int n_layers;
    dc_layer *layers;           // (n_layers), owned
    int in_c, in_h, in_w;       // input shape
    int n_classes;
    size_t n_params;
    float *params, *grads;      // (n_params) each, owned
    char *arch_text;            // canonical architecture text, owned
    char **class_names;         // (n_classes), owned
    float norm_mean, norm_std;  // input normalisation of [0,1] pixels
    // training state (for --resume)
    int epochs_done;
    bool has_optim;
    dc_optim optim;             // valid when has_optim
    char *train_config_json;    // config of the run that wrote the state
    char *history_json;         // per-epoch history array
    char *provenance_json;      // data set, seed, threads, version, times
    char *privacy_json;         // DP-SGD accounting (epsilon, delta, sigma, ...)
    struct dc_runtime *infer_rt;// cached inference buffers for dc_model_predict
};

static inline size_t dc_layer_out_size(const dc_layer *l) {
    return (size_t)l->out_c * l->out_h * l->out_w;
}
static inline size_t dc_layer_in_size(const dc_layer *l) {
    return (size_t)l->in_c * l->in_h * l->in_w;
}

// Activation buffers and caches for a batch of up to max_n samples.
//
// Threading: a batch is split into contiguous sample slices, one per thread,
// and each thread runs the whole network over its slice inside one parallel
// region (data parallelism within the batch, like MPI ranks in one process).
// Thread 0 accumulates weight gradients into m->grads, thread t > 0 into its
// own buffer; the buffers are then added in thread order, so a given thread
// count always gives the same bits.
typedef struct dc_runtime {
    const dc_model *m;
    int max_n;
    int nthreads;        // threads used (>= 1)
    bool train;
    float **acts;        // (n_layers+1): acts[0] input, acts[i+1] layer i output, (max_n, size)
    void **caches;       // (n_layers): per-layer forward caches, linear in samples
    float *gbuf[2];      // ping-pong activation-gradient buffers (max_n, biggest)
    size_t biggest;      // largest per-sample activation size of any layer
    float *probs;        // (max_n, n_classes)
    float *dlogits;      // (max_n, n_classes)
    float *tgrads;       // (nthreads-1, n_params) private gradients of threads 1..T-1
    float *sgrads;       // (nthreads, n_params) scratch for DP's norm pass, lazily
    double *sq;          // (max_n) per-sample squared norms, lazily
} dc_runtime;

dc_status dc_runtime_init(dc_runtime *rt, const dc_model *m, int max_n,
                          bool train, int nthreads, dc_error *err);
void dc_runtime_free(dc_runtime *rt);
// Runs acts[0] (n samples, already filled) through the network; returns the
// logits (acts[n_layers]). rng (may be NULL in eval mode) seeds dropout.
float *dc_runtime_forward(dc_runtime *rt, dc_model *m, int n, dc_rng *rng);
// Backward from dlogits (n, n_classes); accumulates into m->grads. dinput
// (n, input) receives the gradient with respect to the input, or is NULL.
void dc_runtime_backward(dc_runtime *rt, dc_model *m, int n,
                         const float *dlogits, float *dinput);
// The same, and also copies the gradient with respect to the output of layer
// `layer` (n, out_size of that layer) into dlayer_out (Grad-CAM needs it).
void dc_runtime_backward_capture(dc_runtime *rt, dc_model *m, int n,
                                 const float *dlogits, float *dinput, int layer,
                                 float *dlayer_out);
// One training step's forward, softmax cross-entropy and backward in a single
// parallel region. labels (n); weights (n) or NULL. Fills rt->probs, adds the
// gradient of the mean loss into m->grads, returns the mean loss.
double dc_runtime_train_step(dc_runtime *rt, dc_model *m, int n,
                             const int32_t *labels, const float *weights,
                             dc_rng *rng, float *dinput);

// DP-SGD's clipped step over n samples (Abadi et al. 2016): forward, each
// sample's gradient norm (first backward pass, sq_out (n) receives the
// squared norms if not NULL), then the batched backward of the loss
// gradients scaled by min(1, clip/norm): m->grads receives the SUM over the
// samples of their clipped gradients (no 1/n, no noise: the caller adds
// noise and divides by the expected lot size). Returns the mean loss.
double dc_runtime_dp_step(dc_runtime *rt, dc_model *m, int n,
                          const int32_t *labels, float clip, double *sq_out,
                          int *n_clipped);

// Allocates an empty model (used by the parser and the loader).
dc_model *dc_model_alloc(void);
dc_status dc_model_default_class_names(dc_model *m, dc_error *err);

#endif
