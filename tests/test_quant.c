// test_quant.c — post-training int8 quantisation (src/compress/quant.c,
// qplan.c, compress_io.c).
//
//   - The int8 session's logits against a plain-C interpreter of the same
//     fixed-point arithmetic (below: NCHW loops written from the formulas in
//     kernels/int8_kernels.h, reading the dc_qmodel directly, none of the
//     plan's packing, NHWC layout, bias' folding or im2col), bit for bit
//     (memcmp), for lenet5, resnet8 (BatchNorm folded, residual adds with
//     fused ReLUs, 1x1 strided projections) and a model with average
//     pooling, tanh, sigmoid, concat, a standalone relu and a global
//     average pool; for every GEMM kernel this CPU runs, 1 and 2 threads,
//     the three calibration methods and 7-bit activations.
//   - BatchNorm folding against the unfolded model in eval mode (1e-5
//     relative + 1e-5 absolute: float rounding of the folded weights).
//   - The int8 file round trip (same logits bit for bit), and the loader's
//     strictness: a zero point out of range, a -128 weight, a non-positive
//     scale, a missing tensor each refused with the file and tensor named.
//   - The scalar pieces: per-channel weight quantisation on values with a
//     known answer, asymmetric parameters holding 0 exactly, the KL
//     threshold of a histogram with an outlier tail.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "compress/model_edit.h"
#include "compress/quant.h"
#include "core/cpu.h"
#include "data/data.h"
#include "model/model.h"

// ---------------------------------------------------------------------------
// The plain reference: one node at a time over NCHW int32 values

typedef struct ref_t {
    int32_t *v;   // (n, size) quantised values (int32 for the logits)
} ref_t;

static int32_t clampi(int64_t v, int32_t lo, int32_t hi) { return (int32_t)(v < lo ? lo : v > hi ? hi : v); }

static int32_t requant(int64_t acc, double m, int32_t zo, int32_t lo, int32_t hi) {
    int32_t M0, sh;
    dc_quantize_multiplier(m, &M0, &sh);
    const int32_t v = dc_mbqm((int32_t)acc, M0, sh) + zo;
    return clampi(v, lo, hi);
}

// rescale of one add/concat input, as TFLite's ADD: in units of 2^-20 of twice the largest input scale
static int32_t add_term(int32_t q, int32_t z, double s_in, double twice) {
    int32_t M0, sh;
    dc_quantize_multiplier(s_in / twice, &M0, &sh);
    return dc_mbqm((int32_t)((uint32_t)(q - z) << 20), M0, sh);
}

static int32_t add_out(int64_t sum, double twice, double s_out, int32_t zo, int32_t lo, int32_t hi) {
    int32_t M0, sh;
    dc_quantize_multiplier(twice / ((double)(1 << 20) * s_out), &M0, &sh);
    return clampi((int64_t)dc_mbqm((int32_t)sum, M0, sh) + zo, lo, hi);
}

static void ref_forward(const dc_model *m, const float *x, int N, float *logits) {
    const dc_qmodel *q = m->quant;
    const int nn = m->n_nodes;
    int32_t **v = calloc((size_t)nn, sizeof *v);
    for (int i = 0; i < nn; i++) v[i] = calloc((size_t)N * dc_node_size(&m->nodes[i]) + 1, sizeof(int32_t));
    // the input: q = clamp(round(x / s) + z, 0, qmax), float arithmetic as the plan
    const size_t in = dc_node_size(&m->nodes[0]);
    const float inv = 1.0f / q->act_scale[0];
    for (size_t j = 0; j < (size_t)N * in; j++) {
        const float t = x[j] * inv;
        int32_t r = t < 0 ? -(int32_t)(-t + 0.5f) : (int32_t)(t + 0.5f);
        v[0][j] = clampi((int64_t)r + q->act_zp[0], 0, q->qmax);
    }
    for (int i = 1; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        const char *k = n->op->kind;
        const int a = n->in[0];
        const int32_t za = q->act_zp[a], zo = q->act_zp[i];
        const bool last = i == nn - 1;
        const int r = dc_q_fused_relu(m, i);
        const int32_t lo = last ? INT32_MIN : r >= 0 ? zo : 0, hi = last ? INT32_MAX : q->qmax;
        const size_t osz = dc_node_size(n), isz = dc_node_size(&m->nodes[a]);
        for (int s = 0; s < N; s++) {
            const int32_t *X = v[a] + (size_t)s * isz;
            int32_t *Y = v[i] + (size_t)s * osz;
            if (!strcmp(k, "conv2d")) {
                const dc_conv_cfg *c = &n->cfg.conv;
                const int C = n->in_c, H = n->in_h, W = n->in_w, K = c->k;
                for (int o = 0; o < n->c; o++)
                    for (int oh = 0; oh < n->h; oh++)
                        for (int ow = 0; ow < n->w; ow++) {
                            int64_t acc = q->bias[i][o];
                            for (int ci = 0; ci < C; ci++)
                                for (int kh = 0; kh < K; kh++)
                                    for (int kw = 0; kw < K; kw++) {
                                        const int ih = oh * c->stride - c->pad + kh, iw = ow * c->stride - c->pad + kw;
                                        if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue; // (z_a - z_a) * w
                                        acc += (int64_t)(X[((size_t)ci * H + ih) * W + iw] - za) *
                                               q->w[i][(((size_t)o * C + ci) * K + kh) * K + kw];
                                    }
                            const double mult = (double)q->act_scale[a] * q->w_scale[i][o] / q->act_scale[i];
                            Y[((size_t)o * n->h + oh) * n->w + ow] = requant(acc, mult, last ? 0 : zo, lo, hi);
                        }
            } else if (!strcmp(k, "linear")) {
                for (int o = 0; o < n->c; o++) {
                    int64_t acc = q->bias[i][o];
                    for (size_t j = 0; j < isz; j++) acc += (int64_t)(X[j] - za) * q->w[i][(size_t)o * isz + j];
                    const double mult = (double)q->act_scale[a] * q->w_scale[i][o] / q->act_scale[i];
                    Y[o] = requant(acc, mult, last ? 0 : zo, lo, hi);
                }
            } else if (!strcmp(k, "maxpool") || !strcmp(k, "avgpool")) {
                const int kk = n->cfg.pool.k, st = n->cfg.pool.stride;
                for (int c = 0; c < n->c; c++)
                    for (int oh = 0; oh < n->h; oh++)
                        for (int ow = 0; ow < n->w; ow++) {
                            int32_t mx = INT32_MIN;
                            int64_t sum = 0;
                            for (int di = 0; di < kk; di++)
                                for (int dj = 0; dj < kk; dj++) {
                                    const int32_t t = X[((size_t)c * n->in_h + oh * st + di) * n->in_w + ow * st + dj];
                                    mx = t > mx ? t : mx;
                                    sum += t;
                                }
                            Y[((size_t)c * n->h + oh) * n->w + ow] =
                                k[0] == 'm' ? mx : (int32_t)((sum + kk * kk / 2) / (kk * kk));
                        }
            } else if (!strcmp(k, "globalavgpool")) {
                const int HW = n->in_h * n->in_w;
                for (int c = 0; c < n->c; c++) {
                    int64_t sum = 0;
                    for (int p = 0; p < HW; p++) sum += X[(size_t)c * HW + p];
                    Y[c] = (int32_t)((sum + HW / 2) / HW);
                }
            } else if (!strcmp(k, "flatten") || !strcmp(k, "dropout")) {
                memcpy(Y, X, sizeof(int32_t) * osz);
            } else if (!strcmp(k, "relu")) {
                for (size_t j = 0; j < osz; j++) Y[j] = X[j] > za ? X[j] : za; // a fused one is a copy
            } else if (!strcmp(k, "tanh") || !strcmp(k, "sigmoid")) {
                for (size_t j = 0; j < osz; j++) {
                    const double t = (double)q->act_scale[a] * (X[j] - za);
                    const double f = k[0] == 't' ? tanh(t) : 1.0 / (1.0 + exp(-t));
                    Y[j] = clampi((int64_t)dc_round_i32(f / q->act_scale[i]) + zo, 0, q->qmax);
                }
            } else if (!strcmp(k, "add") || !strcmp(k, "concat")) {
                double mx = 0;
                for (int t = 0; t < n->n_in; t++) mx = fmax(mx, q->act_scale[n->in[t]]);
                const bool add = k[0] == 'a';
                size_t off = 0;
                for (int t = 0; t < n->n_in; t++) {
                    const int b = n->in[t];
                    const int32_t *Xb = v[b] + (size_t)s * dc_node_size(&m->nodes[b]);
                    const size_t nb = dc_node_size(&m->nodes[b]);
                    for (size_t j = 0; j < nb; j++) {
                        const int32_t term = add_term(Xb[j], q->act_zp[b], q->act_scale[b], 2 * mx);
                        if (add) Y[j] += term; // the sum of terms, requantised below
                        else Y[off + j] = add_out(term, 2 * mx, q->act_scale[i], zo, 0, q->qmax);
                    }
                    off += nb;
                }
                if (add)
                    for (size_t j = 0; j < osz; j++) Y[j] = add_out(Y[j], 2 * mx, q->act_scale[i], zo, lo, hi);
            } else {
                CHECK(0, "reference: no rule for %s", k);
            }
        }
    }
    // the logits: int32 values of a weighted output layer times its scale, else dequantised bytes
    const dc_node *o = &m->nodes[nn - 1];
    for (size_t j = 0; j < (size_t)N * o->c; j++)
        logits[j] = dc_q_weighted(o) ? (float)v[nn - 1][j] * q->act_scale[nn - 1]
                                     : (float)(v[nn - 1][j] - q->act_zp[nn - 1]) * q->act_scale[nn - 1];
    for (int i = 0; i < nn; i++) free(v[i]);
    free(v);
}

// ---------------------------------------------------------------------------

static void normalised_batch(float *x, const dc_model *m, const dc_dataset *ds, int n) {
    int32_t idx[256];
    for (int i = 0; i < n; i++) idx[i] = i;
    dc_batch_gather(x, NULL, ds, idx, n, m->norm_mean, m->norm_std);
}

// The plan with a forced GEMM kernel, run over x: logits (n, classes).
static bool run_forced(const dc_model *m, const char *gemm, int nthreads, const float *x, int n, float *logits) {
    dc_error err;
    dc_qplan p;
    if (dc_qplan_build(&p, m, gemm, &err)) return false;
    dc_graph g = {p.nodes, p.n_nodes, 0, m->n_state};
    dc_runtime *rt = NULL;
    if (dc_runtime_new(&rt, &g, n, DC_MODE_EVAL, 0, nthreads, &err)) {
        CHECK(0, "runtime: %s", err.msg);
        dc_qplan_free(&p);
        return false;
    }
    float dummy = 0;
    dc_runtime_bind(rt, &dummy, NULL, m->state);
    memcpy(dc_runtime_input(rt), x, sizeof(float) * (size_t)n * dc_node_size(&m->nodes[0]));
    const float *z = dc_runtime_forward(rt, n, NULL);
    memcpy(logits, z, sizeof(float) * (size_t)n * m->n_classes);
    dc_runtime_free(rt);
    dc_qplan_free(&p);
    return true;
}

static void randomise_bn(dc_model *m, uint64_t seed) {
    dc_rng r;
    dc_rng_seed(&r, seed);
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (strcmp(n->op->kind, "batchnorm2d")) continue;
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            float *p = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            if (t->int64_on_disk) continue;
            for (size_t j = 0; j < t->n; j++) {
                const float u = (float)dc_rng_uniform(&r);
                if (!strcmp(t->suffix, "weight")) p[j] = 0.5f + u;
                else if (!strcmp(t->suffix, "bias")) p[j] = u - 0.5f;
                else if (!strcmp(t->suffix, "running_mean")) p[j] = 0.4f * (u - 0.5f);
                else if (!strcmp(t->suffix, "running_var")) p[j] = 0.5f + u;
            }
        }
    }
}

static void check_model(const char *label, dc_model *m, const dc_dataset *ds, dc_calib_method method, bool reduce) {
    dc_error err;
    dc_quant_config qc = dc_quant_config_default();
    qc.method = method;
    qc.samples = 48;
    qc.batch = 16;
    qc.nthreads = 1;
    qc.reduce_range = reduce;
    dc_model *qm = NULL;
    dc_status st = dc_quantize(&qm, m, ds, &qc, &err);
    CHECK(st == DC_OK, "%s: quantize: %s", label, err.msg);
    if (st) return;
    enum { NB = 9 };
    const size_t in = dc_node_size(&m->nodes[0]);
    float *x = malloc(sizeof(float) * NB * in);
    float want[NB * 64], got[NB * 64];
    normalised_batch(x, qm, ds, NB);
    ref_forward(qm, x, NB, want);
    // the session (the registry's own choice)
    dc_session *s = NULL;
    st = dc_session_new(&s, qm, NB, 2, &err);
    CHECK(st == DC_OK, "%s: session: %s", label, err.msg);
    if (!st) {
        CHECK(dc_session_logits(s, x, NB, got, &err) == DC_OK, "%s", err.msg);
        CHECK(!memcmp(got, want, sizeof(float) * NB * qm->n_classes), "%s (%s%s): session logits differ from the "
              "plain reference (%g vs %g)", label, dc_calib_method_name(method), reduce ? ", 7-bit" : "", got[0], want[0]);
        dc_session_free(s);
    }
    // every kernel this CPU runs, 1 and 2 threads
    const unsigned cpu = dc_cpu_features();
    int ran = 0;
    for (int k = 0; k < dc_qgemm_impl_count(); k++) {
        const dc_qgemm_impl *impl = dc_qgemm_impl_at(k);
        if ((impl->cpu & cpu) != impl->cpu) continue;
        for (int t = 1; t <= 2; t++) {
            memset(got, 0, sizeof got);
            if (!run_forced(qm, impl->name, t, x, NB, got)) continue; // e.g. 7-bit kernel on 8-bit data
            ran++;
            CHECK(!memcmp(got, want, sizeof(float) * NB * qm->n_classes), "%s: kernel %s, %d thread(s): logits "
                  "differ from the plain reference", label, impl->name, t);
        }
    }
    CHECK(ran >= 2, "%s: at least the reference kernel ran at 1 and 2 threads (%d)", label, ran);
    // int8 logits near the fp32 model's (a sanity bound, not the contract)
    dc_session *fs = NULL;
    if (method == DC_CALIB_MINMAX && !dc_session_new(&fs, m, NB, 1, &err)) { // (KL clips by design)
        float f[NB * 64];
        dc_session_logits(fs, x, NB, f, &err);
        double mx = 0, d = 0;
        for (int j = 0; j < NB * m->n_classes; j++) mx = fmax(mx, fabs(f[j])), d = fmax(d, fabs(f[j] - want[j]));
        CHECK(d <= 0.25 * mx + 1e-3, "%s: int8 logits within 25%% of the fp32 range (max diff %g, range %g)", label, d, mx);
        dc_session_free(fs);
    }
    printf("  %s %-10s%s: %d kernel runs bit-identical to the reference\n", label, dc_calib_method_name(method),
           reduce ? " 7-bit" : "", ran);
    free(x);
    dc_model_free(qm);
}

static void check_fold(dc_model *m, const dc_dataset *ds) {
    dc_error err;
    dc_model *fm = NULL;
    int folded = 0;
    CHECK(dc_fold_batchnorm(&fm, m, &folded, &err) == DC_OK, "%s", err.msg);
    if (!fm) return;
    CHECK(folded == 9, "resnet8 folds its 9 BatchNorms (%d)", folded);
    enum { NB = 4 };
    float *x = malloc(sizeof(float) * NB * dc_node_size(&m->nodes[0]));
    normalised_batch(x, m, ds, NB);
    dc_graph g = dc_model_graph(m), gf = dc_model_graph(fm);
    dc_runtime *r1 = NULL, *r2 = NULL;
    dc_runtime_new(&r1, &g, NB, DC_MODE_EVAL, DC_RT_NO_FUSE, 1, &err);
    dc_runtime_new(&r2, &gf, NB, DC_MODE_EVAL, DC_RT_NO_FUSE, 1, &err);
    dc_runtime_bind(r1, m->params, NULL, m->state);
    dc_runtime_bind(r2, fm->params, NULL, fm->state);
    memcpy(dc_runtime_input(r1), x, sizeof(float) * NB * dc_node_size(&m->nodes[0]));
    memcpy(dc_runtime_input(r2), x, sizeof(float) * NB * dc_node_size(&m->nodes[0]));
    const float *a = dc_runtime_forward(r1, NB, NULL), *b = dc_runtime_forward(r2, NB, NULL);
    CHECK(dc_check_close("folded resnet8 vs BatchNorm eval", b, a, (size_t)NB * m->n_classes, 1e-5, 1e-5), "fold");
    dc_runtime_free(r1);
    dc_runtime_free(r2);
    dc_model_free(fm);
    free(x);
}

// Saves qm with one field spoiled by `spoil`, loads it: the error must name the tensor.
static void expect_load_error(dc_model *qm, const char *dir, int which, const char *needle) {
    dc_error err;
    dc_model *c = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/bad%d.safetensors", dir, which);
    int li = -1;
    for (int i = 0; i < qm->n_nodes; i++)
        if (qm->quant->w[i]) li = i;
    int32_t zp = qm->quant->act_zp[2];
    int8_t w0 = qm->quant->w[li][0];
    float s0 = qm->quant->w_scale[li][1];
    if (which == 0) qm->quant->act_zp[2] = 300;
    if (which == 1) qm->quant->w[li][0] = -128;
    if (which == 2) qm->quant->w_scale[li][1] = -1.0f;
    CHECK(dc_model_save(qm, path, &err) == DC_OK, "%s", err.msg);
    qm->quant->act_zp[2] = zp, qm->quant->w[li][0] = w0, qm->quant->w_scale[li][1] = s0;
    if (which == 3) { // a missing tensor: delete the weight scale of the last layer from a good file
        // write the file, then rename the tensor in its header (same length)
        CHECK(dc_model_save(qm, path, &err) == DC_OK, "%s", err.msg);
        FILE *f = fopen(path, "r+b");
        uint64_t hl = 0;
        if (f && fread(&hl, 8, 1, f) == 1) {
            char *h = malloc(hl + 1);
            if (fread(h, 1, hl, f) == hl) {
                h[hl] = 0;
                char key[300];
                snprintf(key, sizeof key, "\"%s.weight_scale\"", qm->nodes[li].name);
                char *p = strstr(h, key);
                if (p) p[1] = 'X';
                fseek(f, 8, SEEK_SET);
                fwrite(h, 1, hl, f);
            }
            free(h);
        }
        if (f) fclose(f);
    }
    dc_status st = dc_model_load(&c, path, &err);
    CHECK(st != DC_OK && strstr(err.msg, needle) && strstr(err.msg, path), "spoiled file %d is refused naming %s and "
          "the file: %s", which, needle, st ? err.msg : "(loaded)");
    if (st) printf("  refused: %s\n", err.msg);
    dc_model_free(c);
}

static void check_file(const dc_dataset *ds) {
    dc_error err;
    dc_model *m = NULL, *qm = NULL, *lm = NULL;
    dc_model_create(&m, "lenet5", 1, 28, 28, 10, &err);
    dc_rng r;
    dc_rng_seed(&r, 5);
    dc_model_init_params(m, &r);
    dc_quant_config qc = dc_quant_config_default();
    qc.samples = 32;
    qc.method = DC_CALIB_PERCENTILE;
    CHECK(dc_quantize(&qm, m, ds, &qc, &err) == DC_OK, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/q.safetensors", dc_test_tmpdir());
    CHECK(dc_model_save(qm, path, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_model_load(&lm, path, &err) == DC_OK, "load int8: %s", err.msg);
    if (lm) {
        CHECK(lm->quant != NULL && lm->quant->qmax == 255 && !strcmp(lm->quant->method, "percentile"),
              "the loaded model is int8 with its calibration recorded");
        enum { NB = 5 };
        float x[NB * 784], a[NB * 10], b[NB * 10];
        normalised_batch(x, qm, ds, NB);
        dc_session *s1 = NULL, *s2 = NULL;
        dc_session_new(&s1, qm, NB, 1, &err);
        dc_session_new(&s2, lm, NB, 1, &err);
        dc_session_logits(s1, x, NB, a, &err);
        dc_session_logits(s2, x, NB, b, &err);
        CHECK(!memcmp(a, b, sizeof a), "saved and loaded int8 model: same logits bit for bit");
        dc_session_free(s1);
        dc_session_free(s2);
        // saving the loaded model again gives the same tensors (a second round trip)
        char p2[512];
        snprintf(p2, sizeof p2, "%s/q2.safetensors", dc_test_tmpdir());
        CHECK(dc_model_save(lm, p2, &err) == DC_OK, "%s", err.msg);
        FILE *f1 = fopen(path, "rb"), *f2 = fopen(p2, "rb");
        long n1 = 0, n2 = 0;
        if (f1 && f2) {
            fseek(f1, 0, SEEK_END), fseek(f2, 0, SEEK_END);
            n1 = ftell(f1), n2 = ftell(f2);
        }
        if (f1) fclose(f1);
        if (f2) fclose(f2);
        CHECK(n1 > 0 && n1 == n2, "re-saved int8 file has the same size (%ld, %ld)", n1, n2);
        // an int8 model does not train
        dc_train_config tc = dc_train_config_default();
        tc.epochs = 1;
        CHECK(dc_train(lm, ds, NULL, &tc, NULL, NULL, &err) != DC_OK && strstr(err.msg, "int8"),
              "training an int8 model is refused: %s", err.msg);
    }
    expect_load_error(qm, dc_test_tmpdir(), 0, "output_zero_point");
    expect_load_error(qm, dc_test_tmpdir(), 1, "-128");
    expect_load_error(qm, dc_test_tmpdir(), 2, "weight_scale");
    expect_load_error(qm, dc_test_tmpdir(), 3, "weight_scale");
    dc_model *again = NULL;
    CHECK(dc_quantize(&again, qm, ds, &qc, &err) != DC_OK && !again && strstr(err.msg, "already"),
          "quantising an int8 model again is refused: %s", err.msg);
    dc_model_free(lm);
    dc_model_free(qm);
    dc_model_free(m);
}

static void check_scalars(void) {
    // per-channel: channel 0 max 2.54 -> scale 0.02, values round half away from zero
    const float w[8] = {2.54f, -1.27f, 0.01f, -0.03f, 0, 0, 0, 0};
    int8_t q[8];
    float s[2];
    dc_quantize_weights(q, s, w, 2, 4);
    CHECK(fabsf(s[0] - 2.54f / 127.0f) == 0 && q[0] == 127 && q[1] == -64 && q[2] == 1 && q[3] == -2,
          "channel 0: scale %g, q %d %d %d %d (want 127 -64 1 -2: -63.5 and -1.5 round away from zero)", s[0], q[0],
          q[1], q[2], q[3]);
    CHECK(s[1] == 1.0f && !q[4] && !q[7], "an all-zero channel has scale 1 and zero weights");
    float sc;
    int32_t zp;
    dc_qparams(-1.0f, 3.0f, 255, &sc, &zp);
    CHECK(fabsf(sc - 4.0f / 255) < 1e-9f && zp == 64, "[-1, 3] -> scale 4/255, zero point 64 (%g, %d)", sc, zp);
    dc_qparams(0.5f, 2.0f, 255, &sc, &zp);
    CHECK(zp == 0 && fabsf(sc - 2.0f / 255) < 1e-9f, "a positive range is widened to hold 0 (zp %d)", zp);
    // KL: a half-normal-like mass in the first 300 bins, a few outliers at the end: the threshold cuts the tail
    double h[2048] = {0};
    for (int j = 0; j < 300; j++) h[j] = 1000.0 * exp(-(double)j * j / (2 * 100.0 * 100.0));
    h[2040] = 1;
    const int t = dc_kl_threshold_bin(h, 2048, 128);
    CHECK(t >= 128 && t < 1000, "KL threshold %d cuts the outlier tail (bins 128..1000)", t);
}

// The two-input add table (the plan's fast path) against dc_q_add, its twin:
// random scales and zero points, every pair of bytes and an awkward length.
static void check_add_table(void) {
    dc_rng r;
    dc_rng_seed(&r, 17);
    uint8_t *t = malloc(65536);
    enum { N = 1237 };
    uint8_t a[N], b[N], y1[N], y2[N];
    int bad = 0;
    for (int trial = 0; trial < 20; trial++) {
        dc_qadd_params p = {.n_in = 2};
        double s[3];
        for (int k = 0; k < 3; k++) s[k] = 0.001 + 0.2 * dc_rng_uniform(&r);
        const double twice = 2.0 * (s[0] > s[1] ? s[0] : s[1]);
        for (int k = 0; k < 2; k++) {
            p.z_in[k] = (int32_t)(dc_rng_uniform(&r) * 255);
            dc_quantize_multiplier(s[k] / twice, &p.mult_in[k], &p.shift_in[k]);
        }
        dc_quantize_multiplier(twice / ((double)(1 << 20) * s[2]), &p.mult_out, &p.shift_out);
        p.zo = (int32_t)(dc_rng_uniform(&r) * 255);
        p.lo = trial % 2 ? p.zo : 0;
        p.hi = trial % 3 ? 255 : 127;
        dc_q_add2_table(t, &p);
        for (int j = 0; j < N; j++) a[j] = (uint8_t)(dc_rng_uniform(&r) * 256), b[j] = (uint8_t)(dc_rng_uniform(&r) * 256);
        const uint8_t *x[2] = {a, b};
        dc_q_add(y1, x, N, &p);
        dc_q_add2_lut(y2, a, b, N, t);
        bad += memcmp(y1, y2, N) != 0;
    }
    CHECK(!bad, "two-input add table equals dc_q_add (%d of 20 parameter sets differ)", bad);
    free(t);
}

// Quantisation-aware training: the fakequant op's grid and straight-through
// gradient, the weights' int8 grid (the same values PTQ's dequantised weights
// have), and a QAT run whose int8 model is bit-identical to the reference.
static void check_qat(const dc_dataset *ds) {
    dc_error err;
    dc_model *f = NULL;
    CHECK(dc_model_parse(&f, "fakequant scale=0.5 zero=3 qmax=7 name=q\nflatten\nlinear out=10 name=fc\n", "fq.arch", 1, 1,
                         4, 10, &err) == DC_OK, "%s", err.msg);
    if (f) {
        // x -> round(x / 0.5) + 3 clamped to [0, 7], back: (q - 3) * 0.5; x = -2.0 is level -1, 2.4 level 8: clamped
        const float x[4] = {-2.0f, -0.26f, 0.74f, 2.4f}, want[4] = {-1.5f, -0.5f, 0.5f, 2.0f};
        dc_rng fr;
        dc_rng_seed(&fr, 3);
        dc_model_init_params(f, &fr);
        dc_graph g = dc_model_graph(f);
        dc_runtime *rt = NULL;
        CHECK(dc_runtime_new(&rt, &g, 1, DC_MODE_TRAIN, DC_RT_BACKWARD | DC_RT_KEEP_ALL, 1, &err) == DC_OK, "%s", err.msg);
        if (rt) {
            dc_runtime_bind_model(rt, f);
            memcpy(dc_runtime_input(rt), x, sizeof x);
            dc_runtime_forward(rt, 1, NULL);
            const float *y = dc_runtime_node_output(rt, 1);
            CHECK(!memcmp(y, want, sizeof want), "fakequant grid: %g %g %g %g", y[0], y[1], y[2], y[3]);
            // straight-through: the gradient passes inside the range, 0 where the value was clamped
            float dl[10], dx[4];
            for (int k = 0; k < 10; k++) dl[k] = 0.1f * (float)(k + 1);
            dc_runtime_backward(rt, 1, dl, dx, -1, NULL);
            CHECK(dx[0] == 0 && dx[3] == 0 && dx[1] != 0 && dx[2] != 0, "fakequant gradient %g %g %g %g (0 at the clamped ends)",
                  dx[0], dx[1], dx[2], dx[3]);
            dc_runtime_free(rt);
        }
        dc_model_free(f);
    }
    dc_model *m = NULL, *p = NULL;
    dc_model_create(&m, "lenet5", 1, 28, 28, 10, &err);
    dc_rng r;
    dc_rng_seed(&r, 8);
    dc_model_init_params(m, &r);
    dc_model_clone(&p, m, &err);
    m->qat_master = malloc(sizeof(float) * m->n_params);
    dc_qat_fake_weights(m);
    dc_quant_config qc = dc_quant_config_default();
    qc.samples = 32;
    dc_model *ptq = NULL;
    CHECK(dc_quantize(&ptq, p, ds, &qc, &err) == DC_OK, "%s", err.msg);
    bool same = ptq != NULL;
    for (int i = 1; same && i < m->n_nodes; i++)
        if (dc_q_weighted(&m->nodes[i]))
            same = !memcmp(m->params + m->nodes[i].t[0].off, ptq->params + ptq->nodes[i].t[0].off,
                           sizeof(float) * m->nodes[i].t[0].n);
    CHECK(same, "QAT's weight grid equals PTQ's dequantised int8 weights");
    dc_qat_restore(m);
    CHECK(!memcmp(m->params, p->params, sizeof(float) * m->n_params), "restore gives the fp32 weights back");
    free(m->qat_master);
    m->qat_master = NULL;
    dc_train_config tc = dc_train_config_default();
    tc.epochs = 1, tc.batch = 16, tc.lr = 0.01f, tc.nthreads = 1;
    dc_model *q = NULL;
    CHECK(dc_quantize_qat(&q, m, ds, NULL, &qc, &tc, NULL, NULL, &err) == DC_OK, "qat: %s", err.msg);
    if (q) {
        CHECK(!strncmp(q->quant->method, "qat", 3) && !q->qat_master, "a QAT model records its method (%s)", q->quant->method);
        CHECK(memcmp(q->params, ptq->params, sizeof(float) * q->n_params) != 0, "QAT changed the weights");
        enum { NB = 5 };
        float x[NB * 784], a[NB * 10], b[NB * 10];
        normalised_batch(x, q, ds, NB);
        ref_forward(q, x, NB, a);
        dc_session *s = NULL;
        dc_session_new(&s, q, NB, 1, &err);
        if (s) dc_session_logits(s, x, NB, b, &err);
        dc_session_free(s);
        CHECK(!memcmp(a, b, sizeof a), "the QAT int8 model runs bit-identical to the reference");
        dc_model_free(q);
    }
    dc_model_free(ptq);
    dc_model_free(p);
    dc_model_free(m);
}

int main(void) {
    check_add_table();
    dc_dataset ds;
    dc_test_make_data(&ds, 64, 10, 3);
    dc_error err;
    check_scalars();
    {
        dc_model *m = NULL;
        CHECK(dc_model_create(&m, "lenet5", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
        dc_rng r;
        dc_rng_seed(&r, 1);
        dc_model_init_params(m, &r);
        dc_model_set_normalisation_values(m, 0.2860f, 0.3530f);
        check_model("lenet5", m, &ds, DC_CALIB_MINMAX, false);
        check_model("lenet5", m, &ds, DC_CALIB_PERCENTILE, false);
        check_model("lenet5", m, &ds, DC_CALIB_KL, false);
        check_model("lenet5", m, &ds, DC_CALIB_MINMAX, true);
        dc_model_free(m);
    }
    {
        dc_model *m = NULL;
        CHECK(dc_model_create(&m, "resnet8", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
        dc_rng r;
        dc_rng_seed(&r, 2);
        dc_model_init_params(m, &r);
        randomise_bn(m, 9);
        check_fold(m, &ds);
        check_model("resnet8", m, &ds, DC_CALIB_MINMAX, false);
        check_model("resnet8", m, &ds, DC_CALIB_KL, false);
        check_model("resnet8", m, &ds, DC_CALIB_PERCENTILE, true);
        dc_model_free(m);
    }
    {
        const char *arch = "conv2d out=6 k=3 pad=1 name=c1\ntanh name=t1\navgpool k=2 name=p1\n"
                           "conv2d out=5 k=1 name=a\nrelu name=ra\n"
                           "conv2d out=3 k=3 stride=1 pad=1 from=p1 name=b\nsigmoid name=sb\n"
                           "concat from=ra,sb name=cat\nmaxpool k=2 name=p2\nrelu name=r2\n"
                           "conv2d out=7 k=3 stride=2 pad=0 bias=0 name=c3\nbatchnorm2d name=bn3\n"
                           "globalavgpool name=gap\nlinear out=10 name=fc\n";
        dc_model *m = NULL;
        dc_status st = dc_model_parse(&m, arch, "mix.arch", 1, 28, 28, 10, &err);
        CHECK(st == DC_OK, "%s", err.msg);
        if (!st) {
            dc_rng r;
            dc_rng_seed(&r, 4);
            dc_model_init_params(m, &r);
            randomise_bn(m, 11);
            check_model("mix", m, &ds, DC_CALIB_MINMAX, false);
            check_model("mix", m, &ds, DC_CALIB_KL, false);
            dc_model_free(m);
        }
    }
    {
        // a layer with no int8 kernel is refused, named
        dc_model *m = NULL, *qm = NULL;
        dc_model_parse(&m, "conv2d out=4 k=3 name=c\ngroupnorm groups=2 name=g\nflatten\nlinear out=10 name=fc\n",
                       "gn.arch", 1, 28, 28, 10, &err);
        dc_quant_config qc = dc_quant_config_default();
        qc.samples = 8;
        CHECK(m && dc_quantize(&qm, m, &ds, &qc, &err) != DC_OK && strstr(err.msg, "g (groupnorm)"),
              "groupnorm refused by name: %s", err.msg);
        dc_model_free(qm);
        dc_model_free(m);
    }
    check_file(&ds);
    check_qat(&ds);
    dc_dataset_free(&ds);
    return dc_test_finish();
}
