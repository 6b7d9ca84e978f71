// compress_io.h — how pruned and quantised models are stored in the one
// safetensors model file (src/io/model_io.c calls these hooks).
//
// Sparse tensors (a pruning mask with zeros in that tensor): instead of
// "NAME" (F32, dense) the file holds
//   "NAME:mask"    U8 (ceil(n / 8)): bit j % 8 of byte j / 8 (LSB first) set
//                  when element j (row-major) is kept
//   "NAME:values"  F32 (kept): the kept elements in row-major order
// and, when the model carries optimizer state, "optim.buf1:values" (and
// buf2) instead of the dense flat buffers: their elements at the kept
// positions of the whole flat mask (pruned positions are 0 by construction:
// pruned weights get no gradient). __metadata__ "deepc.sparse" says so:
// {"format":"bitmap+values","kept":K,"total":T,"tensors":S}. The mask
// reappears on load, so fine-tuning a pruned file keeps its zeros.
//
// Quantised models: each conv2d and linear holds
//   "NODE.weight"         I8 (as the fp32 shape)  int8 weights
//   "NODE.weight_scale"   F32 (OC)                per-output-channel scales
//   "NODE.bias"           I32 (OC)                bias in units of s_in * s_w
// and every node "NODE.output_scale" F32 (1) and "NODE.output_zero_point"
// I32 (1) (the input node too: "input.output_scale", ...). __metadata__
// "deepc.quant": {"scheme":"int8","weights":"symmetric per-channel int8",
// "activations":"asymmetric per-tensor uint8","qmax":255,"calibration":
// "minmax","samples":512,"requantization":"gemmlowp fixed-point",
// "output":"int32"}.
#ifndef DC_COMPRESS_IO_H
#define DC_COMPRESS_IO_H

#include "io/safetensors.h"
#include "model/model.h"

typedef struct dc_compress_keep {
    void **p;      // buffers the writer references until the file is written
    int n, cap;
} dc_compress_keep;

// Saving. True when tensor t of node n is written by dc_compress_save
// instead of the plain F32 writer.
bool dc_compress_skips(const dc_model *m, const dc_node *n, const dc_tensor_ref *t);
// True when dc_compress_save writes the optimizer buffers (sparse).
bool dc_compress_writes_optim(const dc_model *m);
dc_status dc_compress_save(dc_st_writer *w, const dc_model *m, dc_compress_keep *keep, dc_error *err);
void dc_compress_keep_free(dc_compress_keep *k);

// Loading. True when the file holds tensor t of node n in a compressed
// form (dc_compress_load reads it; the plain loader skips it).
bool dc_compress_file_holds(const dc_st_file *f, const dc_node *n, const dc_tensor_ref *t);
// Reads the compressed tensors of m (its buffers allocated, plain tensors
// loaded), sets m->mask / m->quant.
dc_status dc_compress_load(dc_model *m, const dc_st_file *f, dc_error *err);
// True when the optimizer buffers are stored sparse; then
// dc_compress_load_optim fills m->optim's buffers (after dc_optim_init).
bool dc_compress_file_sparse_optim(const dc_st_file *f);
dc_status dc_compress_load_optim(dc_model *m, const dc_st_file *f, dc_error *err);

#endif
