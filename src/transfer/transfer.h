// transfer.h — transfer learning: graph surgery on a trained model (cut it
// at a node, give it a new head, copy tensors by name), freezing by node
// name or glob with per-group learning rates, seeded class-balanced label
// subsets, and the parent's identity for provenance.
//
// The pieces are small and independent so that `deepc finetune` (cli/finetune.c),
// self-supervised pretraining (src/ssl/) and the tuner can share them:
//
//   dc_model *ft;
//   dc_transfer_model(&ft, parent, 10, true, &rng, &err);   // new 10-class head
//   float *node_lr = ...n_nodes ones...;
//   dc_freeze_nodes(node_lr, ft, "backbone", &n_frozen, &err);
//   cfg.node_lr = node_lr;                                   // dc_train honours it
//
// Legend: a model's nodes are numbered as dc_model_node_info numbers them
// (0 is the input, the last node the output); the "head" is the last node.
#ifndef DC_TRANSFER_H
#define DC_TRANSFER_H

#include "deepc.h"

// The architecture text of the subgraph that computes node `out` of m: its
// ancestors and itself in m's topological order, every line with its
// canonical configuration, from= (`input` for the model input) and name=
// spelled out, so lines can be appended after it (they read `out` unless
// they say otherwise). *text is malloc'd (free() it).
dc_status dc_arch_subgraph(char **text, const dc_model *m, int out, dc_error *err);

// The head of m: its last node, which must be a `linear` layer reading a
// vector (else DC_ERR_ARG naming the node and its kind). *head receives
// its index, *features the index of the node it reads (the representation).
dc_status dc_model_head(const dc_model *m, int *head, int *features, dc_error *err);

// Copies into dst every tensor (parameters and state) for which src has a
// tensor of the same name and shape, except those of the node called
// skip_node (NULL: none). *copied / *missing (may be NULL) receive the
// number of dst tensors copied / left as they were.
void dc_model_copy_matching(dc_model *dst, const dc_model *src, const char *skip_node, int *copied,
                            int *missing);

// A fresh model for fine-tuning from parent: the same graph, tensors,
// normalisation and class names, but no training state (optimizer, epoch
// count, history, configuration records), so training starts at epoch 0.
// With new_head (or when n_classes differs from the parent's), the head is
// replaced by `linear out=n_classes` of the same name, initialised from rng
// with PyTorch's rule, and the class names are "0".."K-1". n_classes 0
// keeps the parent's class count.
dc_status dc_transfer_model(dc_model **out, const dc_model *parent, int n_classes, bool new_head,
                            dc_rng *rng, dc_error *err);

// Freezes nodes: spec is a comma-separated list of
//   backbone   every node but the head (the linear probe),
//   NAME       the node called NAME and every node under it (NAME.*), as
//              PyTorch names a module's children (layer1 -> layer1.0.conv1),
//   GLOB       an fnmatch pattern over node names ('layer1.*', 'conv?');
// node_lr[i] (dc_model_num_nodes values) is set to 0 for every match. An
// item that matches no node is an error naming it and the node names.
// *n_frozen (may be NULL) receives how many nodes are frozen afterwards.
dc_status dc_freeze_nodes(float *node_lr, const dc_model *m, const char *spec, int *n_frozen,
                          dc_error *err);

// --lr-backbone: "0.1x" is a multiplier of the head's learning rate, a
// plain number ("0.0001") a learning rate of its own (multiplier = v/lr).
// *mult receives the multiplier (>= 0, finite).
dc_status dc_parse_lr_backbone(float *mult, const char *spec, float lr, dc_error *err);

// A seeded class-balanced labelled subset: exactly per_class samples of
// every class of src (0 .. src->n_classes-1), drawn without replacement (the
// first per_class of a seeded shuffle of that class's samples) and kept in
// src's order. dst owns new copies (dc_dataset_free); its n_classes is
// src's. A class with fewer than per_class samples is an error naming it.
dc_status dc_dataset_per_class(dc_dataset *dst, const dc_dataset *src, int per_class, uint64_t seed,
                               dc_error *err);

// The samples of src whose label is in [lo, hi), relabelled label - lo
// (a held-out group of classes as a new task). dst owns copies.
dc_status dc_dataset_class_range(dc_dataset *dst, const dc_dataset *src, int lo, int hi, dc_error *err);

// SHA-256 of a file's bytes as 64 lowercase hex digits (provenance: the
// parent model a fine-tuned model came from).
dc_status dc_file_sha256(char hex[65], const char *path, dc_error *err);

#endif
