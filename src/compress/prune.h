// prune.h — magnitude pruning that makes a model smaller or faster.
//
// Unstructured pruning sets the smallest-magnitude weights of the conv2d and
// linear layers to 0 (one threshold over all of them, or one per layer) and
// records them in the model's mask (m->mask): training leaves masked weights
// at 0 (src/train/train.c gives them no gradient), and the model file stores
// the pruned tensors as a bitmap plus the kept values (compress_io.h), so a
// 90%-sparse file is several times smaller. Biases and normalisation
// parameters are not pruned.
//
// Structured pruning removes whole output channels: the L1 (or L2) norm of
// each channel's filter ranks them, and the channels are physically removed
// from the convolution (or linear layer), its bias, the BatchNorm after it
// and every reader (the input channels of the next convolutions, the input
// columns of a linear layer after a flatten), so the pruned model is an
// ordinary smaller model: fewer parameters, fewer multiply-adds, faster with
// the same kernels. Channels coupled by a residual add (the inputs of an add
// and its output must agree channel by channel) form one group, pruned
// together: the group's importance of channel c is the sum over its
// producers of each producer's channel norm divided by that producer's mean
// channel norm. Channels that cannot change are fixed: the model input, the
// logits, the inputs of a concat, groupnorm and layernorm channels.
#ifndef DC_PRUNE_H
#define DC_PRUNE_H

#include "model/model.h"

typedef struct dc_prune_config {
    bool structured;      // remove channels (else zero single weights)
    bool per_layer;       // unstructured: the sparsity in each layer (else one global threshold)
    int norm;             // structured: 1 or 2, the channel norm [1]
    int multiple;         // structured: each group keeps a multiple of this many channels
                          // (the nearest to its share; groups smaller than it are left
                          // as they are): 8 or 16 suit the vector kernels' lanes [1]
    double sparsity;      // unstructured: share of the conv/linear weights that are 0;
                          // structured: share of each group's channels removed
    double macs;          // structured, instead of sparsity (> 0): remove channels until
                          // this share of the multiply-adds is gone (one ratio for every group)
    int steps;            // iterative pruning: this many rounds to the final sparsity,
                          // s_r = s (1 - (1 - r/steps)^3) (Zhu & Gupta 2017) [1]
    int finetune;         // epochs of fine-tuning, spread over the rounds [0]
} dc_prune_config;

dc_prune_config dc_prune_config_default(void);

// Unstructured pruning of m in place to `sparsity` (already pruned weights
// stay pruned): sets m->mask, zeroes the pruned weights and their optimizer
// state. Exactly round(sparsity * count) weights are 0 afterwards (globally
// or in each layer; ties broken by position).
dc_status dc_prune_unstructured(dc_model *m, double sparsity, bool per_layer, dc_error *err);

// The channel groups of m (see above): group[i] of node i's output channels
// (-1: none, e.g. a vector input), with rep[i] the spatial repeat of a
// flattened tensor (feature f of node i is channel f / rep[i]); fixed[g]
// for groups that cannot shrink, size[g] their channel counts.
typedef struct dc_channel_groups {
    int n_nodes, n_groups;
    int *group;   // (n_nodes)
    int *rep;     // (n_nodes)
    bool *fixed;  // (n_groups)
    int *size;    // (n_groups)
    int *producers; // (n_groups) conv2d/linear nodes writing the group
} dc_channel_groups;
dc_status dc_channel_groups_make(dc_channel_groups *g, const dc_model *m, dc_error *err);
void dc_channel_groups_free(dc_channel_groups *g);

// The channels structured pruning keeps: keep[g] (g->size[g] flags, malloc'd,
// as is *keep; free each and the array) for every group of g, removing
// round(ratio * size) of each prunable group by importance; with multiple
// > 1 a group of at least that many channels keeps the multiple of it
// nearest to size - round(ratio * size) (at least one multiple).
dc_status dc_prune_keep(bool ***keep, const dc_model *m, const dc_channel_groups *g, double ratio, int norm,
                        int multiple, dc_error *err);
// Structured pruning: *out is the smaller model, each prunable group
// keeping size - round(ratio * size) channels (at least 1; rounded as
// dc_prune_keep rounds) by importance.
dc_status dc_prune_structured(dc_model **out, const dc_model *m, double ratio, int norm, int multiple, dc_error *err);
// The channel ratio that removes `macs` of m's multiply-adds (bisection),
// channels kept in multiples of `multiple`.
dc_status dc_prune_ratio_for_macs(double *ratio, const dc_model *m, double macs, int multiple, dc_error *err);

// The whole job: rounds of pruning (structured or not) with fine-tuning on
// train after each (tc: optimizer, lr, batch, ...; tc->epochs is ignored),
// held-out accuracy reported through cb. *out is the pruned model (m is not
// changed). tc may be NULL when cfg->finetune is 0.
dc_status dc_prune(dc_model **out, const dc_model *m, const dc_prune_config *cfg, const dc_dataset *train,
                   const dc_dataset *heldout, const dc_train_config *tc, dc_train_callback cb, void *user,
                   dc_error *err);

// The per-layer table of a pruning: for each conv2d and linear layer of
// `before`, its output channels, weight sparsity (share of zero weights),
// parameters and multiply-adds (of the non-zero weights) before and after,
// and the totals.
void dc_prune_table(char *buf, size_t cap, const dc_model *before, const dc_model *after);
// Weights of a node that are 0, and the share of a model's conv/linear weights that are 0.
size_t dc_node_zero_weights(const dc_model *m, const dc_node *n);
double dc_model_weight_sparsity(const dc_model *m);
// Multiply-adds of the non-zero weights per sample (what a sparse kernel
// would do; equals dc_model_macs for a dense model).
int64_t dc_model_nonzero_macs(const dc_model *m);

#endif
