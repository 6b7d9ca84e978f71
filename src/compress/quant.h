// quant.h — post-training static int8 quantisation and the int8 inference
// plan.
//
// A quantised model is an fp32 model with BatchNorm folded into its
// convolutions (every conv2d and linear has a bias) plus a dc_qmodel: the
// int8 weights, their per-output-channel scales, the int32 biases and the
// scale and zero point of every node's output (the arithmetic is stated in
// kernels/int8_kernels.h). Its fp32 parameters are the dequantised weights,
// so fp32 tools (explanations, summaries) see what the int8 model computes,
// to rounding. A session over a quantised model runs the int8 kernels
// (qplan.c), chosen through the kernel registry when the session is planned.
//
// Which nodes own their output's quantisation (the rules the calibration,
// the plan, QAT and the exporters share):
//   - pass-through nodes (maxpool, avgpool, globalavgpool, flatten, dropout,
//     relu) keep their input's scale and zero point: max, mean and copy map
//     a quantised grid onto itself, and a relu is max(q, z);
//   - a conv2d, linear or add whose only reader is a relu has that relu
//     fused: its output takes the relu's range [0, max] and the requantised
//     values are clamped at the quantised 0;
//   - the model input (an image) takes the exact range of its normalised
//     pixels, [(0 - mean)/std, (1 - mean)/std];
//   - the output node (the logits) keeps 32 bits: zero point 0, scale
//     max|logit| / 32767, values not clamped to a byte;
//   - every other node (conv2d, linear, add, concat, tanh, sigmoid) its own
//     calibrated range, widened to hold 0 (so padding and ReLU are exact).
#ifndef DC_QUANT_H
#define DC_QUANT_H

#include "model/model.h"
#include "kernels/int8_kernels.h"

typedef struct dc_qmodel {
    int n_nodes;
    float *act_scale;     // (n_nodes) output scale of node i (> 0)
    int32_t *act_zp;      // (n_nodes) output zero point of node i (in [0, qmax]; 0 for the logits)
    int8_t **w;           // (n_nodes) conv2d/linear: (OC, per) int8 weights in the fp32 layout, owned; else NULL
    float **w_scale;      // (n_nodes) conv2d/linear: (OC) weight scales, owned
    int32_t **bias;       // (n_nodes) conv2d/linear: (OC) int32 biases, owned
    int qmax;             // 255, or 127 for 7-bit activations (--reduce-range)
    char method[16];      // calibration: "minmax", "percentile", "kl", "qat"
    int samples;          // calibration samples
    double percentile;    // percentile calibration: the share kept (percent)
} dc_qmodel;

dc_status dc_qmodel_new(dc_qmodel **q, const dc_model *m, dc_error *err);
void dc_qmodel_free(dc_qmodel *q);
dc_status dc_qmodel_copy(dc_qmodel **dst, const dc_qmodel *src, const dc_model *m, dc_error *err);

// The fp32 view of a quantised model: m's conv2d/linear weights and biases
// set to the dequantised values of q (w = s_w * q_w, b = q_b * s_in * s_w),
// as a loaded int8 file has them. Fails (naming the node and `path`) when a
// product overflows float or a requantisation multiplier is not below 2^31:
// a file's scales are each finite, their products need not be.
dc_status dc_qmodel_dequantize_params(dc_model *m, const dc_qmodel *q, const char *path, dc_error *err);

// The rules above. dc_q_fused_relu: the relu fused into node i, or -1.
bool dc_q_weighted(const dc_node *n);     // conv2d or linear
bool dc_q_passthrough(const dc_node *n);  // keeps its input's quantisation
int dc_q_fused_relu(const dc_model *m, int i);
// DC_OK when every node has an int8 kernel; else names the first that has not.
dc_status dc_q_check_supported(const dc_model *m, dc_error *err);

// ---------------------------------------------------------------------------
// Post-training quantisation

typedef enum dc_calib_method { DC_CALIB_MINMAX, DC_CALIB_PERCENTILE, DC_CALIB_KL } dc_calib_method;

typedef struct dc_quant_config {
    dc_calib_method method;  // [minmax]
    int samples;             // calibration samples, a seeded draw from the data [512]
    double percentile;       // PERCENTILE: keep this share of each tensor's values, in % [99.99]
    bool reduce_range;       // 7-bit activations (exact with AVX2's vpmaddubsw) [false]
    uint64_t seed;           // which samples [1]
    int batch;               // calibration batch [128]
    int nthreads;            // <= 0: all cores
} dc_quant_config;

dc_quant_config dc_quant_config_default(void);
const char *dc_calib_method_name(dc_calib_method m);
dc_status dc_calib_method_parse(dc_calib_method *m, const char *name, dc_error *err);

// BatchNorm folded into the convolution before it (where that convolution
// feeds only the BatchNorm), as dc_session does: *out is a new model, with
// biases on the convolutions that absorbed one; *n_folded (may be NULL) counts them.
dc_status dc_fold_batchnorm(dc_model **out, const dc_model *m, int *n_folded, dc_error *err);

// The quantised model of m (*out is new; m is unchanged), calibrated on
// cfg->samples samples of calib (normally the training split).
dc_status dc_quantize(dc_model **out, const dc_model *m, const dc_dataset *calib, const dc_quant_config *cfg,
                      dc_error *err);

// The activation range [lo[i], hi[i]] of every node of the folded model fm
// (the rules above: fused relus' ranges substituted, the input's exact) and
// amax[i] = max |output|, from calibration on ds, without quantising
// anything (quantisation-aware training starts from them).
dc_status dc_q_calibrate_ranges(float *lo, float *hi, float *amax, const dc_model *fm, const dc_dataset *ds,
                                const dc_quant_config *cfg, dc_error *err);

// Per-tensor statistics of one node output over the calibration samples.
typedef struct dc_qstats {
    float min, max;
    double *hist;         // (DC_QHIST) counts over [min, max], owned
    double *ahist;        // (DC_QHIST) counts of |x| over [0, max(|min|, |max|)], owned
} dc_qstats;
#define DC_QHIST 2048
// The range [lo, hi] a method chooses from the statistics (before 0 is
// included). levels: the quantisation levels the range is cut into.
void dc_qrange(const dc_qstats *s, dc_calib_method method, double percentile, int levels, float *lo, float *hi);
// TensorRT's entropy calibration on a histogram of |x|: the bin edge that
// minimises KL(P || Q) with Q the histogram quantised to `levels` bins.
int dc_kl_threshold_bin(const double *hist, int bins, int levels);
// scale and zero point of the range [lo, hi] widened to hold 0, on [0, qmax].
void dc_qparams(float lo, float hi, int qmax, float *scale, int32_t *zp);
// Symmetric per-channel int8 of w (OC, per): scale[o] = max|w[o]| / 127 (1
// for an all-zero channel), q = round(w / scale) in [-127, 127].
void dc_quantize_weights(int8_t *q, float *scale, const float *w, int OC, size_t per);

// ---------------------------------------------------------------------------
// Quantisation-aware training (qat.c): the BatchNorm-folded model with a
// fakequant node (model/ops.c) after every node that owns an int8 range (the
// rules above; ranges calibrated first with qcfg), trained for tc->epochs
// more epochs by dc_train with the weights on their per-channel int8 grid in
// every forward and backward (m->qat_master holds the fp32 weights the
// optimizer updates: the straight-through estimator), then quantised as
// dc_quantize does (calibrated again on the trained weights). *out is the
// int8 model; cb as dc_train's.
dc_status dc_quantize_qat(dc_model **out, const dc_model *m, const dc_dataset *train, const dc_dataset *heldout,
                          const dc_quant_config *qcfg, const dc_train_config *tc, dc_train_callback cb, void *user,
                          dc_error *err);
// The two halves of a QAT step (src/train/train.c calls them when
// m->qat_master is set): params <- int8 grid of qat_master (weights of
// conv2d/linear; other parameters copied), and params <- qat_master.
void dc_qat_fake_weights(dc_model *m);
void dc_qat_restore(dc_model *m);

// ---------------------------------------------------------------------------
// The int8 inference plan (qplan.c): the executor's nodes for a quantised
// model, each with its kernel data (packed weights, multipliers), made once
// when a session is planned. The nodes' activations are uint8 NHWC bytes in
// the executor's buffers; the last node writes float logits.

typedef struct dc_qplan {
    dc_node *nodes;       // (n_nodes), owned (malloc)
    int n_nodes;
    int fused;            // ReLUs fused into a convolution, linear layer or add
    int pooled;           // 2x2 max poolings fused into the convolution before them
    void **blobs;         // (n_blobs) kernel data, owned
    int n_blobs;
    const char *gemm;     // the GEMM kernel chosen (the same for every layer)
} dc_qplan;

// force_gemm (may be NULL): a GEMM kernel by name (tests, benchmarks).
dc_status dc_qplan_build(dc_qplan *p, const dc_model *m, const char *force_gemm, dc_error *err);
void dc_qplan_free(dc_qplan *p);

// Quantises normalised inputs as the plan's first node does (the C exporter
// builds its pixel table with it): x (n, C, H, W) -> q (n, H, W, C).
void dc_q_quantize_input(uint8_t *q, const float *x, int n, int C, int H, int W, float scale, int32_t zp,
                         int qmax);

#endif
