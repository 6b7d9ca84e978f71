// onnx_import.c — an ONNX file as a deepc model (see onnx.h).
//
// The file is unpacked by protobuf-c's generated reader (onnx.pb-c.h), then
// checked as it is read: one float image input (N, C, H, W) with C, H, W
// fixed, nodes in the topological order ONNX requires, every node input
// either an earlier value or an initializer (or Constant) of the expected
// type and shape, every attribute one deepc can express. The nodes become
// lines of deepc's architecture text (so the model is checked and laid out
// exactly as a parsed one), the initializers its tensors, copied after the
// parse against the shapes the parse computed.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "export/onnx.h"
#include "onnx.pb-c.h"

#define MAX_ONNX_BYTES ((size_t)1 << 31)

typedef struct value {
    const char *onnx;       // ONNX value name (points into the unpacked model)
    char node[DC_NODE_NAME_MAX]; // the deepc node that writes it
    int c, h, w;            // per-sample shape
    bool vec;               // (N, F): flattened (c = F, h = w = 1)
    bool clampable;         // written by a conv2d, linear or add (a removed Relu may follow)
} value;

// A tensor to copy after the parse: deepc name <- initializer (transposed for Gemm transB=0).
typedef struct copy_t {
    char name[DC_NODE_NAME_MAX + 24];
    const Onnx__TensorProto *t;
    bool transpose;
} copy_t;

// A QuantizeLinear waiting for its DequantizeLinear: the float value it quantises.
typedef struct qpend {
    const char *out;        // the QuantizeLinear's output
    const char *from;       // its float input
    float scale;
    int32_t zp;
} qpend;

// The quantisation a QDQ pair gives a deepc node's output.
typedef struct qann {
    char node[DC_NODE_NAME_MAX];
    float scale;
    int32_t zp;
} qann;

// A DequantizeLinear of an initializer (int8 weights, int32 biases): its
// output is a float constant (registered with the Constant nodes'), and
// the integers are kept for the int8 model.
typedef struct qconst {
    const char *out;
    const Onnx__TensorProto *q;     // INT8 or INT32 initializer
    const Onnx__TensorProto *scale; // FLOAT (1) or (dims[0])
} qconst;

// The int8 tensors behind a weighted deepc node.
typedef struct qlayer {
    char node[DC_NODE_NAME_MAX];
    int w, b;               // indices into imp.qc (which grows: no pointers)
} qlayer;

typedef struct imp {
    const char *path;
    const Onnx__GraphProto *g;
    const Onnx__TensorProto **consts; // Constant nodes' tensors
    const char **const_names;
    int n_consts;
    value *vals;
    int n_vals;
    copy_t *copies;
    int n_copies;
    char *text;
    size_t len, cap;
    int n_lines;
    qpend *qp;
    int n_qp;
    qann *qa;
    int n_qa;
    qconst *qc;
    int n_qc;
    qlayer *ql;
    int n_ql;
    Onnx__TensorProto **owned;  // the float constants made from DequantizeLinear, owned
    int n_owned;
    bool foreign;               // a QDQ graph without deepc's metadata (ONNX Runtime's quantiser, ...)
    dc_error *err;
} imp;

#define GROW(arr, n) ((arr) = realloc_n((arr), sizeof *(arr), (size_t)(n) + 1))
static void *realloc_n(void *p, size_t elem, size_t n) {
    void *q = realloc(p, elem * n);
    if (!q) free(p);
    return q;
}

static bool append(imp *I, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool append(imp *I, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) return false;
    if (I->len + (size_t)n + 1 > I->cap) {
        size_t nc = I->cap ? 2 * I->cap : 4096;
        while (nc < I->len + (size_t)n + 1) nc *= 2;
        char *t = realloc(I->text, nc);
        if (!t) return false;
        I->text = t;
        I->cap = nc;
    }
    memcpy(I->text + I->len, line, (size_t)n + 1);
    I->len += (size_t)n;
    return true;
}

static const char *node_label(const Onnx__NodeProto *n) {
    if (n->name && *n->name) return n->name;
    return n->n_output && n->output[0] ? n->output[0] : "(unnamed)";
}

static dc_status bad(imp *I, const Onnx__NodeProto *n, const char *what) {
    return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: node %s (%s): %s", I->path, node_label(n),
                   n->op_type ? n->op_type : "?", what);
}

static const Onnx__TensorProto *find_tensor(const imp *I, const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < I->g->n_initializer; i++)
        if (I->g->initializer[i]->name && !strcmp(I->g->initializer[i]->name, name)) return I->g->initializer[i];
    for (int i = I->n_consts - 1; i >= 0; i--)
        if (!strcmp(I->const_names[i], name)) return I->consts[i];
    return NULL;
}

static value *find_value(imp *I, const char *name) {
    if (!name) return NULL;
    for (int i = I->n_vals - 1; i >= 0; i--)
        if (!strcmp(I->vals[i].onnx, name)) return &I->vals[i];
    return NULL;
}

static bool name_used(const imp *I, const char *s) {
    if (!strcmp(s, "input")) return true;
    for (int i = 0; i < I->n_vals; i++)
        if (!strcmp(I->vals[i].node, s)) return true;
    return false;
}

// A deepc node name from an ONNX name: [A-Za-z0-9_.], starting with a letter, unique.
static void make_name(const imp *I, char *out, const char *want) {
    char s[DC_NODE_NAME_MAX];
    size_t k = 0;
    for (const char *p = want ? want : ""; *p && *p != ':' && k + 8 < sizeof s; p++) { // "relu1:float" -> relu1
        const char c = *p;
        if (isalnum((unsigned char)c) || c == '_' || c == '.') s[k++] = c;
        else if (k && s[k - 1] != '_') s[k++] = '_';
    }
    s[k] = 0;
    const char *b = s;
    while (*b == '_' || *b == '.' || isdigit((unsigned char)*b)) b++;
    if (!*b) b = "n";
    snprintf(out, DC_NODE_NAME_MAX, "%.*s", DC_NODE_NAME_MAX - 8, b);
    if (!name_used(I, out)) return;
    char base[DC_NODE_NAME_MAX];
    snprintf(base, sizeof base, "%s", out);
    for (int i = 2; i < 1000000; i++) {
        snprintf(out, DC_NODE_NAME_MAX, "%.*s_%d", DC_NODE_NAME_MAX - 16, base, i);
        if (!name_used(I, out)) return;
    }
}

static value *add_value(imp *I, const char *onnx, const char *node_name, int c, int h, int w, bool vec) {
    char node[DC_NODE_NAME_MAX]; // node_name may point into I->vals, which the realloc moves
    snprintf(node, sizeof node, "%s", node_name);
    value *v = realloc(I->vals, sizeof *v * (size_t)(I->n_vals + 1));
    if (!v) return NULL;
    I->vals = v;
    value *x = &I->vals[I->n_vals++];
    x->onnx = onnx;
    snprintf(x->node, sizeof x->node, "%s", node);
    x->c = c, x->h = h, x->w = w, x->vec = vec;
    x->clampable = false;
    return x;
}

static bool add_copy(imp *I, const char *node, const char *suffix, const Onnx__TensorProto *t, bool transpose) {
    copy_t *c = realloc(I->copies, sizeof *c * (size_t)(I->n_copies + 1));
    if (!c) return false;
    I->copies = c;
    copy_t *x = &I->copies[I->n_copies++];
    snprintf(x->name, sizeof x->name, "%s.%s", node, suffix);
    x->t = t;
    x->transpose = transpose;
    return true;
}

// ---------------------------------------------------------------------------
// Attributes

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static float attr_f(const Onnx__NodeProto *n, const char *name, float def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? a->f : def;
}

// ints attribute with all entries equal: the value (def when absent); -1 when they differ.
static int64_t attr_same(const Onnx__NodeProto *n, const char *name, int64_t def, size_t want_n) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a) return def;
    if (a->n_ints != want_n) return -1;
    for (size_t k = 1; k < a->n_ints; k++)
        if (a->ints[k] != a->ints[0]) return -1;
    return a->n_ints ? a->ints[0] : def;
}

static bool auto_pad_ok(const Onnx__NodeProto *n) {
    const Onnx__AttributeProto *a = attr(n, "auto_pad");
    return !a || !a->has_s || (a->s.len == 6 && !memcmp(a->s.data, "NOTSET", 6)) || a->s.len == 0;
}

// ---------------------------------------------------------------------------
// Tensors

static size_t tensor_count(const Onnx__TensorProto *t) {
    size_t n = 1;
    for (size_t k = 0; k < t->n_dims; k++) {
        if (t->dims[k] < 0 || t->dims[k] > (int64_t)1 << 31) return SIZE_MAX;
        n *= (size_t)t->dims[k];
        if (n > (size_t)1 << 31) return SIZE_MAX;
    }
    return n;
}

// The float values of t (count n), or false when t is not a float tensor of n values.
static bool tensor_floats(const Onnx__TensorProto *t, size_t n, float *out) {
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) return false;
    if (t->n_external_data || (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return false;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != n * sizeof(float)) return false;
        memcpy(out, t->raw_data.data, n * sizeof(float)); // little-endian, as the format stores it
        return true;
    }
    if (t->n_float_data != n) return false;
    if (n) memcpy(out, t->float_data, n * sizeof(float));
    return true;
}

// The int64 values of a small int64 tensor (Reshape's shape), or -1.
static int tensor_int64s(const Onnx__TensorProto *t, int64_t *out, int cap) {
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64) return -1;
    const size_t n = tensor_count(t);
    if (n == SIZE_MAX || n > (size_t)cap) return -1;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != n * 8) return -1;
        memcpy(out, t->raw_data.data, n * 8);
        return (int)n;
    }
    if (t->n_int64_data != n) return -1;
    memcpy(out, t->int64_data, n * 8);
    return (int)n;
}

// A float initializer of exactly these dims.
static const Onnx__TensorProto *weight(imp *I, const char *name, int rank, const int64_t *dims) {
    const Onnx__TensorProto *t = find_tensor(I, name);
    if (!t || !t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || (int)t->n_dims != rank)
        return NULL;
    for (int k = 0; k < rank; k++)
        if (dims[k] >= 0 && t->dims[k] != dims[k]) return NULL;
    return tensor_count(t) == SIZE_MAX ? NULL : t;
}

// The deepc name a weight initializer suggests ("conv1.weight" -> "conv1").
static const qconst *find_qconst(const imp *I, const char *name);
static void name_from(imp *I, char *out, const Onnx__NodeProto *n, const char *init) {
    // a dequantised weight: the name of the integers behind it, less ONNX
    // Runtime's suffix ("conv1.weight_quantized" -> "conv1.weight")
    char qn[256];
    const qconst *qc = find_qconst(I, init);
    if (qc && qc->q->name) {
        const size_t L = strlen(qc->q->name), sl = strlen("_quantized");
        if (L > sl && L - sl < sizeof qn && !strcmp(qc->q->name + L - sl, "_quantized")) {
            const char *b = qc->q->name, *fused = "ConvBnFusion_W_"; // its optimiser's Conv + BatchNorm
            size_t skip = strncmp(b, fused, strlen(fused)) ? 0 : strlen(fused);
            snprintf(qn, sizeof qn, "%.*s", (int)(L - sl - skip), b + skip);
            init = qn;
        }
    }
    const char *dot = init ? strrchr(init, '.') : NULL;
    char want[256];
    if (dot && (!strcmp(dot, ".weight") || !strcmp(dot, ".bias")) && dot - init < (long)sizeof want) {
        snprintf(want, sizeof want, "%.*s", (int)(dot - init), init);
        make_name(I, out, want);
    } else {
        make_name(I, out, n->n_output ? n->output[0] : n->name);
    }
}

// ---------------------------------------------------------------------------
// Nodes

// ---------------------------------------------------------------------------
// QDQ: QuantizeLinear + DequantizeLinear pairs (what deepc export writes for
// an int8 model) and DequantizeLinear of int8/int32 initializers

static const qconst *find_qconst(const imp *I, const char *name) {
    for (int i = 0; name && i < I->n_qc; i++)
        if (!strcmp(I->qc[i].out, name)) return &I->qc[i];
    return NULL;
}

static bool scalar_param(const imp *I, const Onnx__NodeProto *n, int k, int dtype, double *v) {
    if ((int)n->n_input <= k || !n->input[k] || !*n->input[k]) return dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? (*v = 0, true) : false;
    const Onnx__TensorProto *t = find_tensor(I, n->input[k]);
    if (!t || !t->has_data_type || t->data_type != dtype || tensor_count(t) != 1 || t->n_external_data) return false;
    if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        float f;
        if (!tensor_floats(t, 1, &f)) return false;
        *v = f;
        return true;
    }
    // uint8 / int8 (raw bytes, or int32_data as the format stores small types)
    const bool s8 = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    if (t->has_raw_data && t->raw_data.len == 1) *v = s8 ? (int8_t)t->raw_data.data[0] : t->raw_data.data[0];
    else if (t->n_int32_data == 1) *v = t->int32_data[0];
    else return false;
    return s8 ? *v >= -128 && *v <= 127 : *v >= 0 && *v <= 255;
}

// An activation's zero point on deepc's unsigned grid [0, 255]: a uint8 one
// as it is, an int8 one (ONNX Runtime's QuantType.QInt8 activations) plus
// 128, which maps q in [-128, 127] onto q + 128 in [0, 255] with the same
// scale: the same real values, the same rounding and the same clamps.
static bool zero_point(const imp *I, const Onnx__NodeProto *n, double *z) {
    const Onnx__TensorProto *t = (int)n->n_input > 2 && n->input[2] && *n->input[2] ? find_tensor(I, n->input[2]) : NULL;
    if (t && t->has_data_type && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8) {
        if (!scalar_param(I, n, 2, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, z)) return false;
        *z += 128;
        return true;
    }
    return scalar_param(I, n, 2, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, z);
}

// The integers of an INT8 / INT32 initializer as int32 (n values), or false.
static bool tensor_ints(const Onnx__TensorProto *t, int dtype, size_t n, int32_t *out) {
    if (!t->has_data_type || t->data_type != dtype || tensor_count(t) != n || t->n_external_data) return false;
    const size_t es = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? 1 : 4;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != n * es) return false;
        for (size_t j = 0; j < n; j++) {
            if (es == 1) out[j] = (int8_t)t->raw_data.data[j];
            else memcpy(&out[j], t->raw_data.data + 4 * j, 4);
        }
        return true;
    }
    if (t->n_int32_data != n) return false;
    for (size_t j = 0; j < n; j++) out[j] = t->int32_data[j];
    return true;
}

static dc_status qdq_node(imp *I, const Onnx__NodeProto *n) {
    const bool quant = n->op_type[0] == 'Q';
    const char *out = n->output[0];
    if (n->n_input < 2) return bad(I, n, "expected x, scale and zero point");
    if (quant) {
        const value *x = find_value(I, n->input[0]);
        double s, z;
        if (!x) return bad(I, n, "quantises something that is not an earlier node's output");
        if (!scalar_param(I, n, 1, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &s) || !(s > 0) || !isfinite(s) ||
            !zero_point(I, n, &z))
            return bad(I, n, "expected a positive float scale and a uint8 or int8 zero point (per tensor)");
        // ONNX Runtime's quantiser removes a Relu whose input is quantised with
        // the zero point at the bottom of the grid (the clamp is the Relu). In a
        // foreign graph that Relu comes back, so the fp32 view of the model
        // computes what its int8 form does; it is exact: every value below 0
        // quantises to the zero point either way.
        if (I->foreign && x->clampable && z == 0) {
            char name[DC_NODE_NAME_MAX], want[DC_NODE_NAME_MAX + 8];
            snprintf(want, sizeof want, "%s_relu", x->node);
            make_name(I, name, want);
            const value v = *x; // add_value moves I->vals
            if (!append(I, "relu from=%s name=%s\n", v.node, name) ||
                !add_value(I, n->input[0], name, v.c, v.h, v.w, v.vec))
                return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        }
        if (!GROW(I->qp, I->n_qp)) return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        I->qp[I->n_qp++] = (qpend){.out = out, .from = n->input[0], .scale = (float)s, .zp = (int32_t)z};
        return DC_OK;
    }
    // DequantizeLinear of a QuantizeLinear: an activation's quantisation
    for (int k = I->n_qp - 1; k >= 0; k--) {
        if (strcmp(I->qp[k].out, n->input[0])) continue;
        double s, z;
        if (!scalar_param(I, n, 1, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &s) ||
            !zero_point(I, n, &z) || (float)s != I->qp[k].scale ||
            (int32_t)z != I->qp[k].zp)
            return bad(I, n, "dequantises with another scale or zero point than its QuantizeLinear");
        const value *x = find_value(I, I->qp[k].from);
        if (!GROW(I->qa, I->n_qa)) return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        qann *a = &I->qa[I->n_qa++];
        snprintf(a->node, sizeof a->node, "%s", x->node);
        a->scale = I->qp[k].scale;
        a->zp = I->qp[k].zp;
        return add_value(I, out, x->node, x->c, x->h, x->w, x->vec) ? DC_OK
                                                                     : dc_fail(I->err, DC_ERR_NOMEM, "out of memory");
    }
    // DequantizeLinear of an initializer: per-channel (axis 0) int8 weights or int32 biases, zero points 0
    const Onnx__TensorProto *q = find_tensor(I, n->input[0]), *sc = find_tensor(I, n->input[1]);
    const bool i8 = q && q->has_data_type && q->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    const bool i32 = q && q->has_data_type && q->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    const size_t cnt = q ? tensor_count(q) : 0;
    if (!q || !(i8 || i32) || cnt == SIZE_MAX || cnt == 0 || q->n_dims < 1 || q->dims[0] < 1)
        return bad(I, n, "dequantises neither a QuantizeLinear's output nor an int8/int32 initializer");
    if (attr_i(n, "axis", 1) != 0 && (sc && tensor_count(sc) != 1))
        return bad(I, n, "per-channel scales must be along axis 0 (output channels)");
    const size_t C = (size_t)q->dims[0];
    if (!sc || (tensor_count(sc) != C && tensor_count(sc) != 1))
        return bad(I, n, "the scale must be a float initializer of one value or one per output channel");
    // the data must be there before anything is allocated for it (dims alone can claim gigabytes)
    const size_t es = i8 ? 1 : 4;
    if (!((q->has_raw_data && q->raw_data.len == cnt * es) || (!q->raw_data.len && q->n_int32_data == cnt)))
        return bad(I, n, "the integer initializer's data does not match its dims (external data is not read)");
    float *sv = malloc(sizeof(float) * C), *f = malloc(sizeof(float) * cnt);
    int32_t *iv = malloc(sizeof(int32_t) * cnt), *zv = malloc(sizeof(int32_t) * C);
    dc_status st = DC_OK;
    if (!sv || !f || !iv || !zv) st = dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
    if (!st && !(tensor_floats(sc, tensor_count(sc), sv) && tensor_ints(q, q->data_type, cnt, iv)))
        st = bad(I, n, "unreadable scale or integer data (external data is not read)");
    if (!st && tensor_count(sc) == 1)
        for (size_t c = 1; c < C; c++) sv[c] = sv[0];
    if (!st && n->n_input > 2 && n->input[2] && *n->input[2]) {
        const Onnx__TensorProto *zt = find_tensor(I, n->input[2]);
        const size_t zc = zt ? tensor_count(zt) : 0;
        if (!zt || (zc != C && zc != 1) || !tensor_ints(zt, q->data_type, zc, zv)) st = bad(I, n, "unreadable zero point");
        for (size_t c = 0; !st && c < zc; c++)
            if (zv[c]) st = bad(I, n, "weights and biases must be symmetric (zero point 0)");
    }
    const size_t per = cnt / C;
    for (size_t c = 0; !st && c < C; c++) {
        if (!(sv[c] > 0) || !isfinite(sv[c])) st = bad(I, n, "a scale is not a positive finite number");
        for (size_t j = 0; !st && j < per; j++) {
            const int32_t v = iv[c * per + j];
            if (i8 && v == -128) st = bad(I, n, "int8 weights must be in [-127, 127] (symmetric)");
            f[c * per + j] = (float)((double)sv[c] * v);
            // a finite scale times an integer can still overflow float (scale 3e38 times 127)
            if (!isfinite(f[c * per + j])) st = bad(I, n, "a dequantised value (scale times integer) overflows float");
        }
    }
    Onnx__TensorProto *t = NULL;
    if (!st) {
        t = calloc(1, sizeof *t);
        int64_t *dims = t ? malloc(sizeof(int64_t) * q->n_dims) : NULL;
        Onnx__TensorProto **ow = GROW(I->owned, I->n_owned);
        const Onnx__TensorProto **c = ow ? realloc(I->consts, sizeof *c * (size_t)(I->n_consts + 1)) : NULL;
        const char **cn = c ? realloc(I->const_names, sizeof *cn * (size_t)(I->n_consts + 1)) : NULL;
        if (ow) I->owned = ow;
        if (c) I->consts = c;
        if (cn) I->const_names = cn;
        if (!t || !dims || !ow || !c || !cn || !GROW(I->qc, I->n_qc)) {
            free(t), free(dims);
            st = dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        } else {
            onnx__tensor_proto__init(t);
            memcpy(dims, q->dims, sizeof(int64_t) * q->n_dims);
            t->n_dims = q->n_dims, t->dims = dims;
            t->has_data_type = true, t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
            t->n_float_data = cnt, t->float_data = f, f = NULL;
            t->name = (char *)out;
            I->owned[I->n_owned++] = t;
            I->consts[I->n_consts] = t;
            I->const_names[I->n_consts++] = out;
            I->qc[I->n_qc++] = (qconst){.out = out, .q = q, .scale = sc};
        }
    }
    free(sv), free(f), free(iv), free(zv);
    return st;
}

// Records the int8 initializers behind a Conv/Gemm's weight and bias (false:
// one of them is quantised and the other not, or the bias is not int32).
static bool note_qlayer(imp *I, const Onnx__NodeProto *n, const char *name) {
    const qconst *w = find_qconst(I, n->input[1]);
    const qconst *b = n->n_input > 2 && n->input[2] && *n->input[2] ? find_qconst(I, n->input[2]) : NULL;
    if (!w && !b) return true;
    if (!w || !b || w->q->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
        b->q->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
        return false;
    if (!GROW(I->ql, I->n_ql)) return false;
    qlayer *l = &I->ql[I->n_ql++];
    snprintf(l->node, sizeof l->node, "%s", name);
    l->w = (int)(w - I->qc), l->b = (int)(b - I->qc);
    return true;
}

static const qann *find_qann(const imp *I, const char *node) {
    for (int i = I->n_qa - 1; i >= 0; i--)
        if (!strcmp(I->qa[i].node, node)) return &I->qa[i];
    return NULL;
}

// deepc's int32 bias of node i is on the accumulator's grid, scale
// s_in * s_w[o]. Its DequantizeLinear scale must be that product (to float
// rounding, 1e-5 relative), or, in a foreign graph, it is re-scaled onto
// that grid (b' = round(b * s_b / (s_in * s_w[o])), within half a step of
// the same real bias): deepc keeps average pooling on its input's grid
// where ONNX Runtime gives it a grid of its own, so the next layer's input
// scale differs from the one the quantiser used for its bias.
static dc_status check_bias_scale(const imp *I, dc_qmodel *q, const dc_model *m, int i, const qconst *lb) {
    const dc_node *n = &m->nodes[i];
    const size_t OC = (size_t)n->c, ns = tensor_count(lb->scale);
    float *bs = malloc(sizeof(float) * (ns ? ns : 1));
    if (!bs) return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
    dc_status st = DC_OK;
    if ((ns != 1 && ns != OC) || !tensor_floats(lb->scale, ns, bs))
        st = dc_fail(I->err, DC_ERR_FORMAT, "%s: layer %s: the bias scale must be one float or one per output channel",
                     I->path, n->name);
    const double s_in = q->act_scale[n->in[0]];
    for (size_t o = 0; !st && o < OC; o++) {
        const double want = s_in * q->w_scale[i][o], have = bs[ns == 1 ? 0 : o];
        if (fabs(have - want) <= 1e-5 * want) continue;
        const double b = nearbyint((double)q->bias[i][o] * have / want);
        if (!I->foreign || !isfinite(b) || fabs(b) > 2147483647.0)
            st = dc_fail(I->err, DC_ERR_FORMAT, "%s: layer %s: bias scale %.9g of channel %zu is not input scale %.9g "
                         "times weight scale %.9g", I->path, n->name, have, o, s_in, (double)q->w_scale[i][o]);
        else q->bias[i][o] = (int32_t)b;
    }
    free(bs);
    return st;
}

// The int8 model of an imported QDQ graph: deepc's rules (quant.h) decide
// which QDQ pair gives each node its quantisation.
static dc_status build_quant(imp *I, const Onnx__ModelProto *mp, dc_model *m) {
    const cJSON *qm = NULL, *ls = NULL, *cal = NULL, *smp = NULL;
    cJSON *j = NULL;
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (mp->metadata_props[i]->key && !strcmp(mp->metadata_props[i]->key, "deepc.quant") && mp->metadata_props[i]->value)
            j = cJSON_Parse(mp->metadata_props[i]->value);
    qm = cJSON_GetObjectItemCaseSensitive(j, "qmax");
    ls = cJSON_GetObjectItemCaseSensitive(j, "logits_scale");
    cal = cJSON_GetObjectItemCaseSensitive(j, "calibration");
    smp = cJSON_GetObjectItemCaseSensitive(j, "samples");
    const int nn = m->n_nodes;
    float logits_scale = 0;
    if (I->foreign) {
        // Another tool's QDQ graph: 8-bit activations, and the logits on the
        // grid of the output's own QDQ pair (deepc keeps them in 32 bits and
        // does not clamp them to its 256 levels: the same rounding where the
        // quantiser's range holds them).
        const qann *a = dc_q_weighted(&m->nodes[nn - 1]) ? find_qann(I, m->nodes[nn - 1].name) : NULL;
        if (!a) {
            cJSON_Delete(j);
            return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: a QDQ graph without deepc's metadata needs a "
                           "QuantizeLinear/DequantizeLinear pair after its last Gemm or Conv (%s)", I->path,
                           m->nodes[nn - 1].name);
        }
        logits_scale = a->scale;
    } else if (!cJSON_IsNumber(qm) || (qm->valueint != 255 && qm->valueint != 127) || !cJSON_IsNumber(ls) ||
               !(ls->valuedouble > 0) || !isfinite(ls->valuedouble)) {
        cJSON_Delete(j);
        return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: metadata deepc.quant: qmax (255 or 127) or logits_scale is "
                       "missing or invalid", I->path);
    } else {
        logits_scale = (float)ls->valuedouble;
    }
    dc_qmodel *q = NULL;
    dc_status st = dc_q_check_supported(m, I->err);
    if (!st) st = dc_qmodel_new(&q, m, I->err);
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    q->qmax = I->foreign ? 255 : qm->valueint;
    if (I->foreign) snprintf(q->method, sizeof q->method, "onnx");
    else if (cJSON_IsString(cal)) snprintf(q->method, sizeof q->method, "%s", cal->valuestring);
    if (!I->foreign && cJSON_IsNumber(smp)) q->samples = smp->valueint;
    cJSON_Delete(j);
    for (int i = 0; !st && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (i > 0 && dc_q_passthrough(n)) {
            q->act_scale[i] = q->act_scale[n->in[0]];
            q->act_zp[i] = q->act_zp[n->in[0]];
            continue;
        }
        if (i == nn - 1 && dc_q_weighted(n)) {
            q->act_scale[i] = logits_scale;
            q->act_zp[i] = 0;
            continue;
        }
        const int r = dc_q_fused_relu(m, i);
        const qann *a = find_qann(I, m->nodes[r >= 0 ? r : i].name);
        if (!a) {
            st = dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: node %s has no QuantizeLinear/DequantizeLinear after it: "
                         "not an int8 graph deepc can run", I->path, m->nodes[r >= 0 ? r : i].name);
            break;
        }
        if (a->zp > q->qmax) {
            st = dc_fail(I->err, DC_ERR_FORMAT, "%s: node %s: zero point %d above qmax %d", I->path, n->name, a->zp, q->qmax);
            break;
        }
        q->act_scale[i] = a->scale;
        q->act_zp[i] = a->zp;
    }
    for (int i = 1; !st && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (!dc_q_weighted(n)) continue;
        const qlayer *l = NULL;
        for (int k = 0; k < I->n_ql; k++)
            if (!strcmp(I->ql[k].node, n->name)) l = &I->ql[k];
        if (!l) {
            st = dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: layer %s has float weights in an int8 graph", I->path, n->name);
            break;
        }
        const size_t cnt = n->t[0].n, OC = (size_t)n->c;
        const qconst *lw = &I->qc[l->w], *lb = &I->qc[l->b];
        int32_t *w = malloc(sizeof(int32_t) * cnt);
        float *sc = malloc(sizeof(float) * OC);
        if (!w || !sc || !tensor_ints(lw->q, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, cnt, w) ||
            !tensor_ints(lb->q, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, OC, q->bias[i]) ||
            (tensor_count(lw->scale) != OC && tensor_count(lw->scale) != 1) ||
            !tensor_floats(lw->scale, tensor_count(lw->scale), sc)) {
            free(w), free(sc);
            st = dc_fail(I->err, DC_ERR_FORMAT, "%s: layer %s: int8 weights, int32 bias or scales of the wrong size", I->path,
                         n->name);
            break;
        }
        for (size_t k = 0; k < cnt; k++) q->w[i][k] = (int8_t)w[k];
        for (size_t o = 0; o < OC; o++) q->w_scale[i][o] = sc[tensor_count(lw->scale) == 1 ? 0 : o];
        free(w), free(sc);
        st = check_bias_scale(I, q, m, i, lb);
    }
    if (st) {
        dc_qmodel_free(q);
        return st;
    }
    if ((st = dc_qmodel_dequantize_params(m, q, I->path, I->err))) {
        dc_qmodel_free(q);
        return st;
    }
    m->quant = q;
    return DC_OK;
}

static const char *k_supported = "Conv, BatchNormalization, Relu, Tanh, Sigmoid, MaxPool, AveragePool, "
                                 "GlobalAveragePool, Flatten, Reshape (to N,-1), Gemm, Add, Sum, Concat, "
                                 "Dropout, Identity, QuantizeLinear/DequantizeLinear (deepc's or ONNX Runtime's quantiser's QDQ)";

static dc_status one_node(imp *I, const Onnx__NodeProto *n) {
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return bad(I, n, "operator of another domain than ONNX's own");
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) return bad(I, n, "has no output");
    if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *a = attr(n, "value");
        if (!a || !a->t) return bad(I, n, "a Constant without a tensor 'value'");
        const Onnx__TensorProto **c = realloc(I->consts, sizeof *c * (size_t)(I->n_consts + 1));
        const char **cn = c ? realloc(I->const_names, sizeof *cn * (size_t)(I->n_consts + 1)) : NULL;
        if (c) I->consts = c;
        if (cn) I->const_names = cn;
        if (!c || !cn) return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        I->consts[I->n_consts] = a->t;
        I->const_names[I->n_consts++] = n->output[0];
        return DC_OK;
    }
    if (n->n_input < 1 || !n->input[0]) return bad(I, n, "has no input");
    if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) return qdq_node(I, n);
    value *x = find_value(I, n->input[0]);
    if (!x) {
        char msg[400];
        snprintf(msg, sizeof msg, "input '%.200s' is not the output of an earlier node or the graph input%s", n->input[0],
                 find_tensor(I, n->input[0]) ? " (it is a constant: deepc layers take constants only as weights)" : "");
        return bad(I, n, msg);
    }
    char name[DC_NODE_NAME_MAX];
    const char *out = n->output[0];
    bool ok = true;
    if (!strcmp(op, "Conv")) {
        if (n->n_input < 2) return bad(I, n, "no weight");
        const Onnx__TensorProto *w = find_tensor(I, n->input[1]);
        if (!w || w->n_dims != 4 || !w->has_data_type || w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return bad(I, n, "the weight must be a float initializer (OC, C, K, K)");
        const int64_t OC = w->dims[0], C = w->dims[1], K = w->dims[2];
        if (x->vec || C != x->c || w->dims[3] != K || OC < 1 || K < 1 || OC > 1 << 20 || K > x->h + 64)
            return bad(I, n, "the weight is not (OC, C, K, K) with C the input's channels and a square kernel");
        if (attr_i(n, "group", 1) != 1) return bad(I, n, "grouped convolution (group != 1) has no deepc layer");
        if (attr_same(n, "dilations", 1, 2) != 1) return bad(I, n, "dilated convolution has no deepc layer");
        const int64_t ks = attr_same(n, "kernel_shape", K, 2), s = attr_same(n, "strides", 1, 2);
        const int64_t p = attr_same(n, "pads", 0, 4);
        if (ks != K) return bad(I, n, "kernel_shape differs from the weight's");
        if (s < 1 || s > 64) return bad(I, n, "strides must be equal, in 1..64");
        if (p < 0 || p > K) return bad(I, n, "pads must be the same on every side (symmetric), at most the kernel");
        if (!auto_pad_ok(n)) return bad(I, n, "auto_pad is not supported (give explicit pads)");
        const Onnx__TensorProto *b = NULL;
        const int64_t bd[1] = {OC};
        if (n->n_input > 2 && n->input[2] && *n->input[2] && !(b = weight(I, n->input[2], 1, bd)))
            return bad(I, n, "the bias must be a float initializer (OC)");
        const int64_t OH = (x->h + 2 * p - K) / s + 1, OW = (x->w + 2 * p - K) / s + 1;
        if (x->h + 2 * p < K || x->w + 2 * p < K) return bad(I, n, "the kernel is larger than the padded input");
        name_from(I, name, n, n->input[1]);
        if (!note_qlayer(I, n, name)) return bad(I, n, "int8 weights need int8 (OC, C, K, K) and int32 (OC) initializers behind DequantizeLinear");
        ok = append(I, "conv2d out=%lld k=%lld stride=%lld pad=%lld bias=%d from=%s name=%s\n", (long long)OC,
                    (long long)K, (long long)s, (long long)p, b != NULL, x->node, name) &&
             add_copy(I, name, "weight", w, false) && (!b || add_copy(I, name, "bias", b, false)) &&
             add_value(I, out, name, (int)OC, (int)OH, (int)OW, false);
        if (ok) I->vals[I->n_vals - 1].clampable = true;
    } else if (!strcmp(op, "BatchNormalization")) {
        if (x->vec || n->n_input < 5) return bad(I, n, "expected a (N, C, H, W) input, scale, B, mean and var");
        const int64_t cd[1] = {x->c};
        const Onnx__TensorProto *t[4];
        for (int k = 0; k < 4; k++)
            if (!(t[k] = weight(I, n->input[1 + k], 1, cd)))
                return bad(I, n, "scale, B, mean and var must be float initializers of the input's channel count");
        if (n->n_output > 1 && n->output[1] && *n->output[1]) return bad(I, n, "training mode (running outputs) is not an inference graph");
        const float eps = attr_f(n, "epsilon", 1e-5f);
        if (!(eps > 0 && eps <= 1)) return bad(I, n, "epsilon must be in (0, 1]");
        name_from(I, name, n, n->input[1]);
        ok = append(I, "batchnorm2d eps=%.9g from=%s name=%s\n", (double)eps, x->node, name) &&
             add_copy(I, name, "weight", t[0], false) && add_copy(I, name, "bias", t[1], false) &&
             add_copy(I, name, "running_mean", t[2], false) && add_copy(I, name, "running_var", t[3], false) &&
             add_value(I, out, name, x->c, x->h, x->w, false);
    } else if (!strcmp(op, "Relu") || !strcmp(op, "Tanh") || !strcmp(op, "Sigmoid")) {
        make_name(I, name, out);
        ok = append(I, "%s from=%s name=%s\n", op[0] == 'R' ? "relu" : op[0] == 'T' ? "tanh" : "sigmoid", x->node, name) &&
             add_value(I, out, name, x->c, x->h, x->w, x->vec);
    } else if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
        const int64_t k = attr_same(n, "kernel_shape", -1, 2), s = attr_same(n, "strides", 1, 2);
        if (x->vec || k < 1 || k > x->h || k > x->w) return bad(I, n, "kernel_shape must be square and fit the input");
        if (s < 1 || s > 64) return bad(I, n, "strides must be equal, in 1..64");
        if (attr_same(n, "pads", 0, 4) != 0) return bad(I, n, "padded pooling has no deepc layer");
        if (attr_i(n, "ceil_mode", 0) != 0) return bad(I, n, "ceil_mode=1 has no deepc layer");
        if (attr_same(n, "dilations", 1, 2) != 1) return bad(I, n, "dilated pooling has no deepc layer");
        if (!auto_pad_ok(n)) return bad(I, n, "auto_pad is not supported");
        if (n->n_output > 1 && n->output[1] && *n->output[1]) return bad(I, n, "MaxPool's Indices output is not supported");
        make_name(I, name, out);
        ok = append(I, "%s k=%lld stride=%lld from=%s name=%s\n", op[0] == 'M' ? "maxpool" : "avgpool", (long long)k,
                    (long long)s, x->node, name) &&
             add_value(I, out, name, x->c, (int)((x->h - k) / s + 1), (int)((x->w - k) / s + 1), false);
    } else if (!strcmp(op, "GlobalAveragePool")) {
        if (x->vec) return bad(I, n, "expected a (N, C, H, W) input");
        make_name(I, name, out);
        ok = append(I, "globalavgpool from=%s name=%s\n", x->node, name) && add_value(I, out, name, x->c, 1, 1, false);
    } else if (!strcmp(op, "Flatten") || !strcmp(op, "Reshape")) {
        if (op[0] == 'F' && attr_i(n, "axis", 1) != 1) return bad(I, n, "only axis=1 (one vector per sample)");
        if (op[0] == 'R') {
            const Onnx__TensorProto *sh = n->n_input > 1 ? find_tensor(I, n->input[1]) : NULL;
            int64_t d[8];
            const int64_t F = (int64_t)x->c * x->h * x->w;
            const int nd = sh ? tensor_int64s(sh, d, 8) : -1;
            if (nd != 2 || !(d[0] == -1 || d[0] == 0) || !(d[1] == -1 || d[1] == F) || (d[0] == -1 && d[1] == -1))
                return bad(I, n, "only a Reshape to (N, -1) by a constant shape is supported (torch.flatten(x, 1) "
                                 "exports a Flatten)");
        }
        make_name(I, name, out);
        ok = append(I, "flatten from=%s name=%s\n", x->node, name) &&
             add_value(I, out, name, x->c * x->h * x->w, 1, 1, true);
    } else if (!strcmp(op, "Gemm")) {
        if (n->n_input < 2) return bad(I, n, "no weight");
        if (attr_i(n, "transA", 0) != 0) return bad(I, n, "transA=1 is not supported");
        if (attr_f(n, "alpha", 1.0f) != 1.0f || attr_f(n, "beta", 1.0f) != 1.0f) return bad(I, n, "alpha and beta must be 1");
        if (!x->vec && !(x->h == 1 && x->w == 1)) return bad(I, n, "the input must be a vector per sample (Flatten first)");
        const bool tb = attr_i(n, "transB", 0) != 0;
        const Onnx__TensorProto *w = find_tensor(I, n->input[1]);
        const int64_t F = (int64_t)x->c * x->h * x->w;
        if (!w || w->n_dims != 2 || !w->has_data_type || w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
            w->dims[tb ? 1 : 0] != F || w->dims[tb ? 0 : 1] < 1 || w->dims[tb ? 0 : 1] > 1 << 20)
            return bad(I, n, "the weight must be a float initializer (O, I) with transB=1, or (I, O), I the input's width");
        const int64_t O = w->dims[tb ? 0 : 1];
        const Onnx__TensorProto *b = NULL;
        const int64_t bd[1] = {O};
        if (n->n_input > 2 && n->input[2] && *n->input[2] && !(b = weight(I, n->input[2], 1, bd)))
            return bad(I, n, "the bias C must be a float initializer (O)");
        name_from(I, name, n, n->input[1]);
        if (!note_qlayer(I, n, name) || (!tb && find_qconst(I, n->input[1])))
            return bad(I, n, "int8 weights need transB=1, an int8 (O, I) and an int32 (O) initializer behind DequantizeLinear");
        ok = append(I, "linear out=%lld bias=%d from=%s name=%s\n", (long long)O, b != NULL, x->node, name) &&
             add_copy(I, name, "weight", w, !tb) && (!b || add_copy(I, name, "bias", b, false)) &&
             add_value(I, out, name, (int)O, 1, 1, true);
        if (ok) I->vals[I->n_vals - 1].clampable = true;
    } else if (!strcmp(op, "Add") || !strcmp(op, "Sum") || !strcmp(op, "Concat")) {
        if (n->n_input < 2 || n->n_input > DC_NODE_MAX_IN) return bad(I, n, "expected 2 to 8 inputs");
        if (op[0] == 'C' && attr_i(n, "axis", 0) != 1) return bad(I, n, "only axis=1 (channels)");
        char from[DC_NODE_MAX_IN * DC_NODE_NAME_MAX + 8];
        size_t fl = 0;
        int C = 0;
        for (size_t k = 0; k < n->n_input; k++) {
            const value *y = find_value(I, n->input[k]);
            if (!y) return bad(I, n, "every input must be an earlier node's output (no constants)");
            if (op[0] == 'C' ? (y->h != x->h || y->w != x->w || y->vec != x->vec)
                             : (y->c != x->c || y->h != x->h || y->w != x->w))
                return bad(I, n, "input shapes do not match (deepc adds same shapes and concatenates channels)");
            C += y->c;
            fl += (size_t)snprintf(from + fl, sizeof from - fl, "%s%s", k ? "," : "", y->node);
        }
        make_name(I, name, out);
        ok = append(I, "%s from=%s name=%s\n", op[0] == 'C' ? "concat" : "add", from, name) &&
             add_value(I, out, name, op[0] == 'C' ? C : x->c, x->h, x->w, x->vec);
        if (ok && op[0] != 'C') I->vals[I->n_vals - 1].clampable = true;
    } else if (!strcmp(op, "Dropout") || !strcmp(op, "Identity")) {
        if (n->n_output > 1 && n->output[1] && *n->output[1]) return bad(I, n, "Dropout's mask output is not supported");
        ok = add_value(I, out, x->node, x->c, x->h, x->w, x->vec) != NULL;
    } else {
        char msg[400];
        snprintf(msg, sizeof msg, "operator %s is not supported by deepc import (supported: %s)", op, k_supported);
        return bad(I, n, msg);
    }
    return ok ? DC_OK : dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
}

// ---------------------------------------------------------------------------

static dc_status graph_input(imp *I, int *C, int *H, int *W) {
    const Onnx__GraphProto *g = I->g;
    const Onnx__ValueInfoProto *in = NULL;
    int n_real = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        if (!g->input[i]->name || find_tensor(I, g->input[i]->name)) continue; // an initializer listed as input
        if (!in) in = g->input[i];
        n_real++;
    }
    if (!in) return dc_fail(I->err, DC_ERR_FORMAT, "%s: the graph has no input", I->path);
    if (n_real > 1)
        return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: the graph has %d inputs; deepc imports one image input", I->path,
                       n_real);
    const Onnx__TypeProto *t = in->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type ||
        !t->tensor_type->has_elem_type || t->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        !t->tensor_type->shape || t->tensor_type->shape->n_dim != 4)
        return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: input '%s': expected a float tensor (N, C, H, W)", I->path,
                       in->name);
    int d[3];
    for (int k = 0; k < 3; k++) {
        const Onnx__TensorShapeProto__Dimension *dim = t->tensor_type->shape->dim[k + 1];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dim->dim_value < 1 ||
            dim->dim_value > 16384)
            return dc_fail(I->err, DC_ERR_UNSUPPORTED, "%s: input '%s': dimension %d must be a fixed size in 1..16384",
                           I->path, in->name, k + 1);
        d[k] = (int)dim->dim_value;
    }
    *C = d[0], *H = d[1], *W = d[2];
    if (!add_value(I, in->name, "input", d[0], d[1], d[2], false)) return dc_fail(I->err, DC_ERR_NOMEM, "out of memory");
    return DC_OK;
}

static dc_status copy_tensors(imp *I, dc_model *m) {
    for (int i = 0; i < I->n_copies; i++) {
        const copy_t *c = &I->copies[i];
        const dc_tensor_ref *t = dc_model_find_tensor(m, c->name);
        if (!t || tensor_count(c->t) != t->n)
            return dc_fail(I->err, DC_ERR_FORMAT, "%s: initializer for %s has %zu values; the layer needs %zu", I->path,
                           c->name, tensor_count(c->t), t ? t->n : 0);
        float *dst = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
        float *tmp = malloc(sizeof(float) * (t->n ? t->n : 1));
        if (!tmp) return dc_fail(I->err, DC_ERR_NOMEM, "%s: out of memory", I->path);
        if (!tensor_floats(c->t, t->n, tmp)) {
            free(tmp);
            return dc_fail(I->err, DC_ERR_FORMAT, "%s: initializer '%s' (%s): not float data of %zu values (external "
                           "data is not read)", I->path, c->t->name ? c->t->name : "?", c->name, t->n);
        }
        bool finite = true;
        for (size_t j = 0; j < t->n; j++) finite = finite && isfinite(tmp[j]);
        if (!finite) {
            free(tmp);
            return dc_fail(I->err, DC_ERR_FORMAT, "%s: initializer '%s' holds a NaN or infinity", I->path,
                           c->t->name ? c->t->name : "?");
        }
        if (c->transpose) { // Gemm transB=0: (I, O) -> (O, I)
            const size_t In = (size_t)c->t->dims[0], O = (size_t)c->t->dims[1];
            for (size_t o = 0; o < O; o++)
                for (size_t k = 0; k < In; k++) dst[o * In + k] = tmp[k * O + o];
        } else {
            memcpy(dst, tmp, sizeof(float) * t->n);
        }
        free(tmp);
    }
    return DC_OK;
}

static dc_status apply_meta(imp *I, const Onnx__ModelProto *mp, dc_model *m) {
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "deepc.norm")) {
            cJSON *j = cJSON_Parse(e->value);
            const cJSON *mean = cJSON_GetObjectItemCaseSensitive(j, "mean"), *sd = cJSON_GetObjectItemCaseSensitive(j, "std");
            const int n = cJSON_GetArraySize(mean);
            float mv[64], sv[64];
            bool ok = cJSON_IsArray(mean) && cJSON_IsArray(sd) && n == cJSON_GetArraySize(sd) && n >= 1 && n <= 64;
            for (int k = 0; ok && k < n; k++) {
                const cJSON *a = cJSON_GetArrayItem(mean, k), *b = cJSON_GetArrayItem(sd, k);
                ok = cJSON_IsNumber(a) && cJSON_IsNumber(b);
                if (ok) mv[k] = (float)a->valuedouble, sv[k] = (float)b->valuedouble;
            }
            cJSON_Delete(j);
            if (!ok) return dc_fail(I->err, DC_ERR_FORMAT, "%s: metadata deepc.norm: expected {\"mean\":[...],\"std\":[...]}", I->path);
            dc_status st = dc_model_set_normalisation_channels(m, mv, sv, n, I->err);
            if (st) return st;
        } else if (!strcmp(e->key, "deepc.classes")) {
            cJSON *j = cJSON_Parse(e->value);
            const int n = cJSON_GetArraySize(j);
            bool ok = cJSON_IsArray(j) && n == m->n_classes;
            const char **names = ok ? calloc((size_t)n, sizeof(char *)) : NULL;
            for (int k = 0; ok && names && k < n; k++) {
                const cJSON *s = cJSON_GetArrayItem(j, k);
                ok = cJSON_IsString(s);
                if (ok) names[k] = s->valuestring;
            }
            dc_status st = DC_OK;
            if (!ok) st = dc_fail(I->err, DC_ERR_FORMAT, "%s: metadata deepc.classes: expected %d class names", I->path, m->n_classes);
            else if (!names) st = dc_fail(I->err, DC_ERR_NOMEM, "out of memory");
            else st = dc_model_set_class_names(m, names, n, I->err);
            free(names);
            cJSON_Delete(j);
            if (st) return st;
        }
    }
    return DC_OK;
}

dc_status dc_import_onnx_bytes(dc_model **out, const uint8_t *data, size_t len, const char *path, dc_error *err) {
    *out = NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    if (!mp) return dc_fail(err, DC_ERR_FORMAT, "%s: not an ONNX model (the protobuf does not parse as a ModelProto)", path);
    imp I = {.path = path, .err = err};
    dc_status st = DC_OK;
    int C = 0, H = 0, W = 0;
    if (!mp->graph || !mp->graph->n_node) st = dc_fail(err, DC_ERR_FORMAT, "%s: the model has no graph nodes", path);
    int64_t opset = -1;
    for (size_t i = 0; !st && i < mp->n_opset_import; i++)
        if (!mp->opset_import[i]->domain || !*mp->opset_import[i]->domain || !strcmp(mp->opset_import[i]->domain, "ai.onnx"))
            opset = mp->opset_import[i]->has_version ? mp->opset_import[i]->version : -1;
    if (!st && (opset < 7 || opset > 21))
        st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: ONNX opset %lld: deepc imports opsets 7 to 21", path, (long long)opset);
    if (!st) {
        I.g = mp->graph;
        I.foreign = true;
        for (size_t i = 0; i < mp->n_metadata_props; i++)
            if (mp->metadata_props[i]->key && !strcmp(mp->metadata_props[i]->key, "deepc.quant")) I.foreign = false;
        st = graph_input(&I, &C, &H, &W);
    }
    for (size_t i = 0; !st && i < I.g->n_node; i++) st = one_node(&I, I.g->node[i]);
    const value *last = NULL;
    if (!st) {
        if (I.g->n_output != 1 || !I.g->output[0]->name)
            st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; deepc imports one (the logits)", path,
                         I.g->n_output);
        else if (!(last = find_value(&I, I.g->output[0]->name)) || !strcmp(last->node, "input"))
            st = dc_fail(err, DC_ERR_FORMAT, "%s: the graph output '%s' is not written by any node", path,
                         I.g->output[0]->name);
        else if (I.n_vals < 2 || strcmp(last->node, I.vals[I.n_vals - 1].node))
            st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: the graph output '%s' is not the last node's output (nodes after "
                         "it would be dropped)", path, I.g->output[0]->name);
        else if (!last->vec && !(last->h == 1 && last->w == 1))
            st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: the graph output '%s' is not a vector of class scores", path,
                         I.g->output[0]->name);
    }
    dc_model *m = NULL;
    if (!st) st = dc_model_parse(&m, I.text, path, C, H, W, last->c, err);
    if (!st) st = copy_tensors(&I, m);
    if (!st) st = apply_meta(&I, mp, m);
    if (!st && (I.n_qa || I.n_qc)) st = build_quant(&I, mp, m);
    for (int i = 0; i < I.n_owned; i++) {
        free(I.owned[i]->dims);
        free(I.owned[i]->float_data);
        free(I.owned[i]);
    }
    free(I.owned);
    free(I.qp), free(I.qa), free(I.qc), free(I.ql);
    free(I.text);
    free(I.vals);
    free(I.copies);
    free(I.consts);
    free(I.const_names);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st) {
        dc_model_free(m);
        return st;
    }
    *out = m;
    return DC_OK;
}

dc_status dc_import_onnx(dc_model **out, const char *path, dc_error *err) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    dc_status st = dc_read_file(path, &data, &len, MAX_ONNX_BYTES, err);
    if (st) return st;
    st = dc_import_onnx_bytes(out, data, len, path, err);
    free(data);
    return st;
}
