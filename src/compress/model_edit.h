// model_edit.h — a new model from an existing one with some nodes dropped or
// re-configured, through the text format (so the new model is checked and
// laid out exactly as a parsed one, and its file says what it is).
//
// Used by BatchNorm folding (drop the BatchNorm, give the convolution a
// bias) and structured pruning (fewer output channels). The tensors are not
// copied: the caller fills them (tensor by name, with its own index maps);
// metadata (classes, normalisation, tabular standardisation, the JSON
// records) is copied. Optimizer state and epoch count are not: the layout
// changed.
#ifndef DC_MODEL_EDIT_H
#define DC_MODEL_EDIT_H

#include "model/model.h"

typedef struct dc_model_edit {
    bool *drop;       // (n_nodes) or NULL: drop node i (it must have one input; its readers read that)
    int *out;         // (n_nodes) or NULL: new output channels of a conv2d / output features of a linear (0: same)
    bool *bias;       // (n_nodes) or NULL: give conv2d / linear node i a bias
} dc_model_edit;

// The architecture text of m after the edit (malloc'd; free() it).
dc_status dc_model_edit_text(char **text, const dc_model *m, const dc_model_edit *e, dc_error *err);
// The edited model with buffers allocated (zero), metadata copied.
dc_status dc_model_edit_apply(dc_model **out, const dc_model *m, const dc_model_edit *e, dc_error *err);
// Copies m's metadata (classes, normalisation, tabular, info records) into dst.
dc_status dc_model_copy_meta(dc_model *dst, const dc_model *m, dc_error *err);
// Copies every tensor of dst that src has under the same name and size.
void dc_model_copy_same_tensors(dc_model *dst, const dc_model *src);
// A deep copy (buffers, metadata, mask; not the optimizer state).
dc_status dc_model_clone(dc_model **out, const dc_model *m, dc_error *err);

#endif
