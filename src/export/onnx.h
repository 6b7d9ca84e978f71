// onnx.h — a deepc model to ONNX and back, through protobuf-c's code
// generated from third_party/onnx/onnx.proto.
//
// Export (onnx_export.c) writes one graph, opset 13 by default (13..17):
// input "input" float (N, C, H, W) with N the symbolic dimension "N" (any
// batch), output "logits" float (N, classes). The input is the normalised
// image, as deepc's sessions take it: the normalisation (and the class
// names, and the architecture text) are in the model's metadata_props
// ("deepc.norm", "deepc.classes", "deepc.arch"). Node kinds:
//   conv2d -> Conv, batchnorm2d -> BatchNormalization (epsilon, running
//   statistics), relu/tanh/sigmoid -> Relu/Tanh/Sigmoid, maxpool/avgpool ->
//   MaxPool/AveragePool (no padding, floor), globalavgpool ->
//   GlobalAveragePool, flatten -> Flatten(axis 1), linear -> Gemm(transB),
//   add -> Add (Sum for more than two inputs), concat -> Concat(axis 1),
//   dropout -> nothing (inference). groupnorm, layernorm and tabular inputs
//   are refused, naming the node.
// Each ONNX value is named after the deepc node that writes it and each
// initializer after the deepc tensor ("conv1.weight"), so import recovers
// the names.
//
// An int8 model (compress/quant.h) is written as QDQ, the form ONNX
// Runtime's own static quantiser writes: every node that owns a
// quantisation (quant.h's rules) is followed by QuantizeLinear +
// DequantizeLinear with its scale and uint8 zero point (the input too);
// weights are INT8 initializers behind a per-channel DequantizeLinear
// (axis 0, zero points 0), biases INT32 behind one with scale s_in * s_w;
// a fused ReLU is a Relu between the node and its QDQ pair; the logits
// stay float (deepc keeps them in 32 bits; their scale is in metadata
// "deepc.quant", with qmax, for import). ONNX Runtime then runs the
// same quantised model (its own kernels: predictions agree, bits need not).
#ifndef DC_ONNX_H
#define DC_ONNX_H

#include "model/model.h"

typedef struct dc_onnx_options {
    int opset;          // 13..17 [13]
} dc_onnx_options;

dc_onnx_options dc_onnx_options_default(void);

// Writes m to path (atomically).
dc_status dc_export_onnx(const dc_model *m, const char *path, const dc_onnx_options *opt, dc_error *err);

// Reads an ONNX model (what dc_export_onnx writes, fp32 or int8 QDQ: the
// QDQ pairs, int8 weights and int32 biases become the same dc_qmodel, with
// the logits' scale from metadata "deepc.quant"; and
// torch.onnx.export's graphs of the same layers: Conv, BatchNormalization,
// Relu, Tanh, Sigmoid, MaxPool, AveragePool, GlobalAveragePool, Flatten,
// Reshape to (N, -1), Gemm, MatMul + Add, Add, Sum, Concat, Dropout,
// Identity) into a new deepc model. Operators deepc has no layer for, and
// attributes it cannot express (dilations, groups, asymmetric padding,
// ceil_mode), are refused naming the node. Normalisation and class names
// come from deepc's metadata_props when present (norm_given is false
// otherwise).
dc_status dc_import_onnx(dc_model **out, const char *path, dc_error *err);
// The same over bytes in memory (path names them in messages).
dc_status dc_import_onnx_bytes(dc_model **out, const uint8_t *data, size_t len, const char *path, dc_error *err);

#endif
