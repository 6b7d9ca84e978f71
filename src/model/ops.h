// ops.h — the contract of a node kind ("op"): everything about a kind lives
// in its one table entry (src/model/ops.c), so that adding a kind is one
// entry plus its kernels, and no `strcmp(kind)` grows anywhere else.
//
// An entry owns:
//   - its keys in the text format (type, range, default, required), which
//     drive parsing, the canonical text, the layer table and the messages;
//   - its name prefix (conv1, fc2, pool1, ...) and its init rule;
//   - shape inference from its inputs' shapes, and the tensors it owns:
//     trainable parameters (in the model's flat parameter buffer, with
//     gradients at the same offsets) and non-trainable state (BatchNorm's
//     running statistics, in the flat state buffer);
//   - forward/backward over a slice of the batch, the per-sample gradient
//     norms DP-SGD needs, and flags (has modes, couples the samples).
//
// Legend: N samples in this slice, C,H,W a node's per-sample output shape
// (features are (F,1,1)). Activations are (N, C, H, W), contiguous.
//
// Backward contract: a node's backward writes the gradient with respect to
// each of its inputs into io->dx[i] (OVERWRITING it; NULL when nobody needs
// it) and ACCUMULATES into its parameter gradients. When a tensor feeds
// several nodes, the executor hands the second and later consumers a
// scratch buffer and adds it in (see exec.c): the kernels keep their cheap
// overwrite form, and a graph still gathers every consumer's gradient.
#ifndef DC_OPS_H
#define DC_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "deepc.h"

enum {
    DC_NODE_MAX_IN = 8,       // inputs of one node (concat)
    DC_NODE_MAX_TENSORS = 5,  // tensors of one node (BatchNorm: 2 params + 3 state)
    DC_NODE_NAME_MAX = 64,    // "layer3.2.downsample.0" and the like
};

// Size limits, checked in 64-bit arithmetic when a model is built, so that
// no size computed later (in int or size_t) can wrap. A larger model is
// refused with the node named, before anything is allocated.
// The parameter limit, 2^25 (33.5M: ResNet-50's 25.6M fits, ResNet-101's
// 44.5M does not), keeps what building a model allocates (parameters and
// gradients, 256 MiB at most) well inside the fuzzers' 1 GiB of RSS with
// AddressSanitizer's quarantine: deepc is for small and medium models.
#define DC_MAX_ACT_ELEMS ((int64_t)1 << 28)    // per-sample output of one node
#define DC_MAX_TENSOR_ELEMS ((int64_t)1 << 25) // one parameter or state tensor
#define DC_MAX_MODEL_PARAMS ((int64_t)1 << 25) // all parameters (128 MiB fp32)
#define DC_MAX_DIM (1 << 20)                   // any one dimension

typedef struct dc_node dc_node;
typedef struct dc_op dc_op;

// ---------------------------------------------------------------------------
// Keys of the text format

typedef enum { DC_KEY_INT, DC_KEY_FLOAT, DC_KEY_BOOL, DC_KEY_ENUM } dc_key_type;

enum {
    DC_KEY_REQUIRED = 1u,  // must be given
    DC_KEY_IN = 2u,        // a declared input width (in=): checked against the
                           // inferred input, printed as the inferred value
};

typedef struct dc_key {
    const char *name;
    dc_key_type type;
    size_t offset;           // into dc_node.cfg (int, float, bool or int for ENUM)
    double lo, hi;           // accepted range (INT, FLOAT)
    double def;              // default (INT, FLOAT, BOOL 0/1, ENUM index)
    unsigned flags;          // DC_KEY_*
    const char *default_from;// INT: defaults to this other key's value (pool stride = k)
    const char *const *choices; // ENUM: NULL-terminated spellings
    const char *help;
} dc_key;

// ---------------------------------------------------------------------------
// Per-kind configuration (one small struct per kind, selected by the op)

typedef enum { DC_INIT_PYTORCH = 0, DC_INIT_KAIMING_FAN_OUT = 1 } dc_init_rule;

typedef struct { int in, out, k, stride, pad; bool bias; int init; } dc_conv_cfg;
typedef struct { int k, stride; } dc_pool_cfg;
typedef struct { int in, out; bool bias; int init; } dc_linear_cfg;
typedef struct { float p; } dc_dropout_cfg;
typedef struct { float eps, momentum; bool affine; } dc_bn_cfg;
typedef struct { int groups; float eps; bool affine; } dc_gn_cfg;
typedef struct { float eps; bool affine; } dc_ln_cfg;
typedef enum { DC_INPUT_IMAGE = 0, DC_INPUT_TABULAR = 1 } dc_input_kind;
typedef struct { int kind, features; } dc_input_cfg;
typedef struct { float scale; int zero, qmax; } dc_fq_cfg; // fakequant (quantisation-aware training)

// ---------------------------------------------------------------------------
// Nodes

typedef enum { DC_BUF_PARAM, DC_BUF_STATE } dc_buf_kind;

// A view of one named tensor ("<node>.<suffix>") into a flat buffer.
typedef struct dc_tensor_ref {
    const char *suffix;   // "weight", "bias", "running_mean", ... (static)
    dc_buf_kind buf;      // parameters (with gradients) or state
    size_t off, n;        // element offset and count in that buffer
    int rank;
    int64_t shape[4];     // as PyTorch stores it: (OC,C,K,K), (O,I), (C)
    bool int64_on_disk;   // stored as I64 in the file (num_batches_tracked)
} dc_tensor_ref;

struct dc_node {
    const dc_op *op;
    char name[DC_NODE_NAME_MAX];
    int n_in;
    int in[DC_NODE_MAX_IN];   // producer node indices, all < this node's index
    int c, h, w;              // per-sample output shape
    int in_c, in_h, in_w;     // per-sample shape of input 0 (kernels' convenience)
    int n_t;
    dc_tensor_ref t[DC_NODE_MAX_TENSORS]; // t[0] weight, t[1] bias by convention
    int line;                 // line in the architecture text (messages), 0 if none
    const void *kdata;        // inference plans only: a backend's data for this node (int8
                              // packed weights, multipliers: compress/qplan.c), owned by the plan
    union {
        dc_conv_cfg conv;
        dc_pool_cfg pool;
        dc_linear_cfg linear;
        dc_dropout_cfg dropout;
        dc_bn_cfg bn;
        dc_gn_cfg gn;
        dc_ln_cfg ln;
        dc_input_cfg input;
        dc_fq_cfg fq;
    } cfg;
};

static inline size_t dc_node_size(const dc_node *n) {
    return (size_t)n->c * (size_t)n->h * (size_t)n->w;
}

// The tensor of a node with this suffix, or NULL.
const dc_tensor_ref *dc_node_tensor(const dc_node *n, const char *suffix);
// Parameter count of a node (trainable tensors only).
size_t dc_node_num_params(const dc_node *n);

// ---------------------------------------------------------------------------
// What a node's kernels see for one slice of the batch.

// Per-sample forward multiply-adds of a node (0 for kinds without any).
int64_t dc_node_macs(const dc_node *n);

typedef struct dc_node_io {
    int N;                 // samples in this slice
    int N_total;           // samples in the whole batch (coupled ops)
    int thread, nthreads;  // this slice's thread among nthreads
    bool train;            // training mode: batch statistics, dropout on
    int n_in;
    const float *x[DC_NODE_MAX_IN]; // inputs (N, in size), this slice
    float *dx[DC_NODE_MAX_IN];      // input gradients, overwritten; NULL: not needed
    const int *in_size;             // per-sample sizes of the inputs (n_in)
    const dc_node *const *in_node;  // the producers (n_in)
    float *y;              // output (N, size)
    const float *dy;       // output gradient (N, size)
    const float *params;   // flat parameters
    float *grads;          // flat parameter gradients (accumulated into); NULL: none wanted
    float *state;          // flat state (read; written by coupled ops in training)
    void *cache;           // cache_bytes(node, N) bytes for this slice
    void *tcache;          // tcache_bytes(node) bytes private to this thread
    float *scratch;        // kernel scratch private to this thread, shared by every node
                           // (scratch_bytes(node, slice) bytes at least)
    double *part;          // coupled ops: this thread's part_doubles(node) partials
    const double *total;   // coupled ops: the partials summed over threads in order
    bool update_state;     // coupled ops: this thread updates the state (thread 0)
    bool relu;             // DC_OP_RELU_EPILOGUE ops: the relu after this node is fused into it
    const float *res;      // DC_OP_RES_EPILOGUE ops: (N, size) added to the output before the relu
                           // (the add after this node, fused into it), or NULL
    int share, shares;     // forward_share: this thread's share of the output, of shares
    const float *pre;      // pre_make's output for the bound parameters, or NULL
    int pre_shares;        // the shares pre_make laid pre out for
    dc_rng *rng;           // dropout draws
} dc_node_io;

enum {
    DC_OP_COUPLED = 1u,    // training mode reduces over the whole batch
    DC_OP_MODES = 2u,      // behaves differently in training and eval mode
    DC_OP_INPUT = 4u,      // a model input: no kernels, its buffer is filled by the caller
    DC_OP_RELU = 8u,       // max(0, x): the executor may fuse it into the node before it
    DC_OP_RELU_EPILOGUE = 16u, // forward honours io->relu: writes max(0, output) (same bits as a relu node)
    DC_OP_SUM = 32u,       // forward is the elementwise sum of the inputs (add): the executor may fuse a
                           // two-input one into a DC_OP_RES_EPILOGUE input
    DC_OP_RES_EPILOGUE = 64u, // forward honours io->res: adds it before the relu (same bits as an add node)
};

struct dc_op {
    const char *kind;      // keyword in the text format
    const char *prefix;    // automatic names: <prefix><count>
    const char *help;      // one line for messages and --help
    const dc_key *keys;    // {NULL}-terminated
    int min_in, max_in;    // how many inputs it takes
    unsigned flags;        // DC_OP_*
    // Output shape and tensors from the inputs (in: n->n_in producers).
    dc_status (*infer)(dc_node *n, const dc_node *const *in, dc_error *err);
    // Initial parameters and state (views of the node's tensors).
    void (*init)(const dc_node *n, float *params, float *state, dc_rng *rng);
    size_t (*cache_bytes)(const dc_node *n, int N);  // linear in N; NULL: none
    size_t (*tcache_bytes)(const dc_node *n);        // per thread; NULL: none
    size_t (*scratch_bytes)(const dc_node *n, int N);// per thread, any pass, slices up to N; NULL: none
    size_t (*part_doubles)(const dc_node *n);        // coupled ops
    void (*forward)(const dc_node *n, dc_node_io *io);
    // Optional, eval mode: share io->share of io->shares of the forward over
    // the whole batch (the executor's small-batch split, exec.c), the same
    // bits as forward; false, nothing written, where this node cannot be
    // split (the same answer for every share: the executor then runs
    // forward on one thread).
    bool (*forward_share)(const dc_node *n, dc_node_io *io);
    // Optional: what forward derives from the parameters alone, made once
    // for parameters that will not change (dc_runtime_prepare): pre_floats
    // floats (0: nothing for this node), filled by pre_make, then io->pre.
    // forward gives the same bits with io->pre as without. shares: the
    // threads forward_share will split the node into (1: none), which may
    // lay the prepared data out share by share (io->pre_shares).
    size_t (*pre_floats)(const dc_node *n, int shares);
    void (*pre_make)(const dc_node *n, const float *params, float *pre, int shares);
    void (*backward)(const dc_node *n, dc_node_io *io);
    // Coupled ops in training mode: partial (writes io->part), then after
    // the executor's reduction finish (reads io->total). Forward and
    // backward each have their pair; in eval mode forward/backward are used.
    void (*forward_partial)(const dc_node *n, dc_node_io *io);
    void (*forward_finish)(const dc_node *n, dc_node_io *io);
    void (*backward_partial)(const dc_node *n, dc_node_io *io);
    void (*backward_finish)(const dc_node *n, dc_node_io *io);
    // DP-SGD: sq (N) += each sample's squared parameter-gradient norm.
    // NULL for kinds without parameters. Reads io->x and io->dy.
    void (*sample_sqnorm)(const dc_node *n, dc_node_io *io, double *sq);
    // Optional: the norms and io->dx in one pass, no weight gradient.
    void (*backward_sqnorm)(const dc_node *n, dc_node_io *io, double *sq);
    // Multiply-adds per sample of the forward pass (the layer table); NULL: 0.
    int64_t (*macs)(const dc_node *n);
};

extern const dc_op *const dc_ops[]; // NULL-terminated table of kinds
const dc_op *dc_op_find(const char *kind);
// "conv2d, maxpool, ..." into buf.
void dc_op_list(char *buf, size_t cap);
// Canonical "key=value ..." text of a node's configuration (every default
// spelled out, in the table's key order; in= keys as inferred).
int dc_node_config_text(const dc_node *n, char *buf, size_t cap);

#endif
