// model.h — internal view of a model and of the executor that runs it.
//
// A model is a graph: an array of nodes in topological order (node 0 is the
// input, the last node the output logits), each node of one kind from the
// ops table (ops.h), with named inputs and views into three flat buffers —
// trainable parameters, their gradients (same layout), and non-trainable
// state (BatchNorm's running statistics). Optimizers, DP clipping, weight
// decay and FedAvg's weights see the parameters only; checkpoints and
// FedAvg's state average see the state too.
//
// Three jobs, three files: the text format and built-ins (arch.c), the
// model object (model.c), the executor (exec.c); the public re-entrant
// inference session sits on the executor (session.c).
#ifndef DC_MODEL_H
#define DC_MODEL_H

#include "deepc.h"
#include "model/ops.h"
#include "optim/optim.h"

// What the executor needs of a graph: a view, so that a model and an
// inference plan (with BatchNorm folded away) share one executor.
typedef struct dc_graph {
    const dc_node *nodes;  // (n_nodes) in topological order; nodes[0] the input
    int n_nodes;
    size_t n_params;       // floats in the parameter (and gradient) buffer
    size_t n_state;        // floats in the state buffer
} dc_graph;

struct dc_model {
    int n_nodes;
    dc_node *nodes;             // (n_nodes), owned; nodes[0] is the input
    int in_c, in_h, in_w;       // input shape (nodes[0])
    int n_classes;              // width of the output node
    size_t n_params, n_state;
    float *params, *grads;      // (n_params) each, owned
    float *state;               // (n_state), owned (NULL when n_state == 0)
    char *arch_text;            // canonical architecture text, owned
    char **class_names;         // (n_classes), owned
    float *norm_mean, *norm_std; // (in_c) each, owned: per-channel input
                                 // normalisation of [0,1] pixels (0 and 1 until set)
    bool norm_given;            // set from data, by a setter or from a file's
                                // deepc.norm; false: the defaults above
    // multimodal: tabular inputs (all take the same row of tab_f columns)
    int tab_f;                  // 0: no tabular input
    float *tab_mean, *tab_std;  // (tab_f) standardisation of each column, owned
    char **tab_columns;         // (tab_f) names, owned (NULL until set)
    // training state (for --resume)
    int epochs_done;
    bool has_optim;
    dc_optim optim;             // valid when has_optim
    char *train_config_json;    // config of the run that wrote the state
    char *history_json;         // per-epoch history array
    char *provenance_json;      // data set, seed, threads, version, times
    char *privacy_json;         // DP-SGD accounting (epsilon, delta, sigma, ...)
    char *reference_json;       // drift reference statistics (src/serve/drift.c)
    // compression (src/compress/): both NULL for a dense fp32 model
    uint8_t *mask;              // (n_params) 0: a pruned weight, held at 0 by training; NULL: none
    struct dc_qmodel *quant;    // int8 quantisation (compress/quant.h), owned; a session runs it in int8
    float *qat_master;          // (n_params) quantisation-aware training (compress/qat.c): the fp32
                                // weights the optimizer updates while params hold their int8 grid; NULL: none
};

static inline dc_graph dc_model_graph(const dc_model *m) {
    dc_graph g = {m->nodes, m->n_nodes, m->n_params, m->n_state};
    return g;
}

// Builds the nodes and the buffer layout from the text format WITHOUT
// allocating the flat buffers (the loader checks a file's tensors first).
// dc_model_parse = this + dc_model_alloc_buffers.
dc_status dc_model_build(dc_model **m, const char *text, const char *origin,
                         int in_c, int in_h, int in_w, int n_classes,
                         int tab_features, dc_error *err);
dc_status dc_model_alloc_buffers(dc_model *m, dc_error *err);

// Allocates an empty model (used by the parser and the loader).
dc_model *dc_model_alloc(void);
dc_status dc_model_default_class_names(dc_model *m, dc_error *err);
// Fills x (n, tab_f) with the standardised rows idx (n) of t.
void dc_tabular_gather(float *x, const dc_tabular *t, const int32_t *idx, int n,
                       const float *mean, const float *std);
// Index of the node with this name, or -1.
int dc_model_find_node(const dc_model *m, const char *name);
// The first node whose training mode couples the samples of a batch
// (BatchNorm), or NULL.
const dc_node *dc_model_coupled_node(const dc_model *m);
// The smallest training batch such a model takes: BatchNorm needs at least
// 2 values per channel (1 when the model has no coupled node).
int dc_model_min_train_batch(const dc_model *m);
// The tensor called "<node>.<suffix>" (PyTorch's state_dict name), or NULL.
const dc_tensor_ref *dc_model_find_tensor(const dc_model *m, const char *name);

// ---------------------------------------------------------------------------
// The executor: activation buffers, caches and the forward/backward passes
// for batches of up to max_n samples.
//
// Threading: a batch is split into contiguous sample slices, one per thread,
// and each thread runs every node over its slice inside one parallel region
// (data parallelism within the batch, like MPI ranks in one process). A
// batch-coupled node (BatchNorm in training) is a synchronisation point:
// every thread computes partial sums over its slice, the partials are added
// in thread order, and each thread finishes its slice from the totals.
// Thread 0 accumulates weight gradients into the bound gradient buffer,
// thread t > 0 into its own; those are then added in thread order, so a
// given thread count always gives the same bits.

typedef enum { DC_MODE_EVAL = 0, DC_MODE_TRAIN = 1 } dc_mode;

typedef struct dc_runtime dc_runtime;

enum {
    DC_RT_BACKWARD = 1u,  // allocate gradient buffers: backward passes allowed
    DC_RT_KEEP_ALL = 2u,  // keep every node's output readable after a forward
                          // (else, without backward, outputs share buffers by
                          // liveness and only the input and the logits stay)
    DC_RT_NO_FUSE = 4u,   // run every relu as its own node (explanations read
                          // pre-activation outputs)
};

dc_status dc_runtime_new(dc_runtime **rt, const dc_graph *g, int max_n,
                         dc_mode mode, unsigned flags, int nthreads,
                         dc_error *err);
void dc_runtime_free(dc_runtime *rt);
// The buffers the passes read and write: params (n_params), grads
// (n_params; may be NULL when no backward is run, or for backward passes
// whose weight gradients are not wanted), state (n_state; written only by
// training-mode forward passes). Must be called before the first pass.
void dc_runtime_bind(dc_runtime *rt, const float *params, float *grads,
                     float *state);
// The bound parameters will not change until the next bind (an inference
// session's): each node makes once what its forward derives from them (the
// Winograd-transformed convolution weights), read-only for every thread.
// A bind drops it. Nothing for runtimes with DC_RT_BACKWARD (training
// changes the parameters). The same bits as without.
dc_status dc_runtime_prepare(dc_runtime *rt, dc_error *err);
// Binds a model's own buffers.
void dc_runtime_bind_model(dc_runtime *rt, dc_model *m);
void dc_runtime_set_mode(dc_runtime *rt, dc_mode mode);
// Nodes held fixed in training (fine-tuning): frozen (n_nodes) flags, kept
// by pointer, or NULL for none. A frozen node runs in eval mode inside a
// training-mode pass (BatchNorm normalises by its running statistics and
// leaves them unchanged), its parameters count as having no gradient (a
// backward stops where only frozen nodes lie behind; where one is crossed
// for an input gradient, its weight gradient is still accumulated and the
// caller ignores it), and DP-SGD's norms leave it out.
void dc_runtime_set_frozen(dc_runtime *rt, const bool *frozen);
// Eval-mode forward passes run each thread's slice through every node in
// chunks of at most `chunk` samples (0: the whole slice at once), so a
// chunk's activations stay in cache from node to node. For plans whose
// nodes treat samples independently with the same bits at any batch size
// (the int8 plan); the float plan's GEMMs block over the batch instead.
void dc_runtime_set_chunk(dc_runtime *rt, int chunk);

int dc_runtime_max_batch(const dc_runtime *rt);
// ReLUs fused into the node before them (see exec.c).
int dc_runtime_fused(const dc_runtime *rt);
// How many adds it fused into the convolution before them (forward-only plans).
int dc_runtime_fused_adds(const dc_runtime *rt);
// Whether a batch under the thread count shares each node among the threads
// (eval, forward-only, at least 4 M multiply-adds a sample) or runs on fewer.
bool dc_runtime_shares_nodes(const dc_runtime *rt);
int dc_runtime_threads(const dc_runtime *rt);
// The input batch to fill: (max_n, in size) floats.
float *dc_runtime_input(dc_runtime *rt);
// Another input node's batch (multi-input models): (max_n, its size).
float *dc_runtime_input_at(dc_runtime *rt, int node);
// Where backward passes put the gradient with respect to input node `node`
// (> 0; node 0's is the dinput argument): (max_n, its size), or NULL for
// none. Kept until changed.
void dc_runtime_set_input_grad(dc_runtime *rt, int node, float *dinput);
// Node i's output after a forward pass: (n, size of node i). Only with
// DC_RT_BACKWARD or DC_RT_KEEP_ALL (and always for the input and logits).
const float *dc_runtime_node_output(const dc_runtime *rt, int i);
// Softmax probabilities of the last train/eval step: (n, n_classes).
float *dc_runtime_probs(dc_runtime *rt);
// The largest per-sample size of any node (scratch sizing).
size_t dc_runtime_biggest(const dc_runtime *rt);

// Runs the input batch (n samples, already filled) through the graph and
// returns the logits (n, n_classes). rng (may be NULL in eval mode) seeds
// dropout.
const float *dc_runtime_forward(dc_runtime *rt, int n, dc_rng *rng);
// Backward from dlogits (n, n_classes) after a forward of the same n;
// accumulates into the bound gradients. dinput (n, input size) receives the
// gradient with respect to the input, or is NULL. When cap_node >= 0,
// cap_out (n, size of that node) receives the gradient with respect to that
// node's output (Grad-CAM).
void dc_runtime_backward(dc_runtime *rt, int n, const float *dlogits,
                         float *dinput, int cap_node, float *cap_out);
// One training step's forward, softmax cross-entropy and backward in a single
// parallel region. labels (n); weights (n) or NULL. Fills the probabilities,
// adds the gradient of the mean loss into the bound gradients, returns the
// mean loss.
double dc_runtime_train_step(dc_runtime *rt, int n, const int32_t *labels,
                             const float *weights, dc_rng *rng, float *dinput);
// The same step with knowledge distillation: the loss is dc_distill_loss's
// (layers.h) against the teacher's logits (n, n_classes) for the same
// inputs, with weight alpha on the soft term and temperature temp. Returns
// that mean loss.
double dc_runtime_distill_step(dc_runtime *rt, int n, const int32_t *labels, const float *weights,
                               const float *teacher_logits, float alpha, float temp, dc_rng *rng);
// DP-SGD's clipped step over n samples (Abadi et al. 2016): forward, each
// sample's gradient norm (first backward pass, sq_out (n) receives the
// squared norms if not NULL), then the batched backward of the loss
// gradients scaled by min(1, clip/norm): the gradients receive the SUM over
// the samples of their clipped gradients (no 1/n, no noise: the caller adds
// noise and divides by the expected lot size). Returns the mean loss.
// Needs a graph of per-sample nodes (no BatchNorm).
double dc_runtime_dp_step(dc_runtime *rt, int n, const int32_t *labels,
                          float clip, double *sq_out, int *n_clipped);

#endif
