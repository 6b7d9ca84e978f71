// onnx_export.c — a deepc model as an ONNX file (see onnx.h), built as
// protobuf-c messages (onnx.pb-c.h, generated from third_party/onnx) and
// packed by libprotobuf-c. Every message, string and tensor of the file is
// allocated from one builder that frees them all at the end.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "export/onnx.h"
#include "onnx.pb-c.h"

dc_onnx_options dc_onnx_options_default(void) {
    dc_onnx_options o = {.opset = 13};
    return o;
}

// ---------------------------------------------------------------------------
// The builder: allocations owned in one list; nodes and initializers of the graph

typedef struct ob {
    void **p;
    size_t n, cap;
    bool oom;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
} ob;

static void *own(ob *b, void *x) {
    if (!x) {
        b->oom = true;
        return NULL;
    }
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 256;
        void **np = realloc(b->p, sizeof(void *) * nc);
        if (!np) {
            free(x);
            b->oom = true;
            return NULL;
        }
        b->p = np;
        b->cap = nc;
    }
    b->p[b->n++] = x;
    return x;
}

static void *ob_calloc(ob *b, size_t n, size_t size) { return own(b, calloc(n ? n : 1, size)); }

static char *ob_str(ob *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return own(b, strdup(tmp));
}

static bool push(ob *b, void ***arr, size_t *n, size_t *cap, void *x) {
    if (!x) return false;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void **np = realloc(*arr, sizeof(void *) * nc);
        if (!np) {
            b->oom = true;
            return false;
        }
        *arr = np;
        *cap = nc;
    }
    (*arr)[(*n)++] = x;
    return true;
}

static void ob_free(ob *b) {
    for (size_t i = 0; i < b->n; i++) free(b->p[i]);
    free(b->p);
    free(b->nodes);
    free(b->inits);
}

// An initializer: dims (rank), raw little-endian bytes of `bytes` copied.
static void init_raw(ob *b, const char *name, int dtype, const int64_t *dims, int rank, const void *data, size_t bytes) {
    Onnx__TensorProto *t = ob_calloc(b, 1, sizeof *t);
    if (!t) return;
    onnx__tensor_proto__init(t);
    t->name = ob_str(b, "%s", name);
    t->has_data_type = true;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = ob_calloc(b, (size_t)rank, sizeof(int64_t));
    if (t->dims && rank) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->has_raw_data = true;
    t->raw_data.len = bytes;
    t->raw_data.data = ob_calloc(b, bytes, 1);
    if (t->raw_data.data) memcpy(t->raw_data.data, data, bytes);
    push(b, (void ***)&b->inits, &b->n_inits, &b->cap_inits, t);
}

static void init_f32(ob *b, const char *name, const int64_t *dims, int rank, const float *data) {
    size_t n = 1;
    for (int k = 0; k < rank; k++) n *= (size_t)dims[k];
    init_raw(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, rank, data, n * sizeof(float));
}

static Onnx__NodeProto *node(ob *b, const char *op, const char *name, int n_in, const char *const *in,
                             const char *out) {
    Onnx__NodeProto *n = ob_calloc(b, 1, sizeof *n);
    if (!n) return NULL;
    onnx__node_proto__init(n);
    n->op_type = ob_str(b, "%s", op);
    n->name = ob_str(b, "%s", name);
    n->n_input = (size_t)n_in;
    n->input = ob_calloc(b, (size_t)n_in, sizeof(char *));
    for (int k = 0; n->input && k < n_in; k++) n->input[k] = ob_str(b, "%s", in[k]);
    n->n_output = 1;
    n->output = ob_calloc(b, 1, sizeof(char *));
    if (n->output) n->output[0] = ob_str(b, "%s", out);
    push(b, (void ***)&b->nodes, &b->n_nodes, &b->cap_nodes, n);
    return n;
}

static Onnx__AttributeProto *attr(ob *b, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType t) {
    if (!n) return NULL;
    Onnx__AttributeProto *a = ob_calloc(b, 1, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = ob_str(b, "%s", name);
    a->has_type = true;
    a->type = t;
    Onnx__AttributeProto **na = ob_calloc(b, n->n_attribute + 1, sizeof *na);
    if (!na) return NULL;
    if (n->n_attribute) memcpy(na, n->attribute, sizeof *na * n->n_attribute);
    na[n->n_attribute++] = a;
    n->attribute = na; // the old array stays owned by the builder
    return a;
}

static void attr_int(ob *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = true, a->i = v;
}

static void attr_float(ob *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = true, a->f = v;
}

static void attr_ints(ob *b, Onnx__NodeProto *n, const char *name, int cnt, ...) {
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a) return;
    a->n_ints = (size_t)cnt;
    a->ints = ob_calloc(b, (size_t)cnt, sizeof(int64_t));
    va_list ap;
    va_start(ap, cnt);
    for (int k = 0; k < cnt; k++) {
        const int64_t v = va_arg(ap, int);
        if (a->ints) a->ints[k] = v;
    }
    va_end(ap);
}

// A float tensor value (N, dims...) with N symbolic.
static Onnx__ValueInfoProto *value_info(ob *b, const char *name, int rank, const int *dims) {
    Onnx__ValueInfoProto *v = ob_calloc(b, 1, sizeof *v);
    Onnx__TypeProto *t = ob_calloc(b, 1, sizeof *t);
    Onnx__TypeProto__Tensor *tt = ob_calloc(b, 1, sizeof *tt);
    Onnx__TensorShapeProto *sh = ob_calloc(b, 1, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = ob_calloc(b, (size_t)rank + 1, sizeof *d);
    if (!v || !t || !tt || !sh || !d) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int k = 0; k <= rank; k++) {
        d[k] = ob_calloc(b, 1, sizeof **d);
        if (!d[k]) return NULL;
        onnx__tensor_shape_proto__dimension__init(d[k]);
        if (k == 0) {
            d[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[k]->dim_param = ob_str(b, "N");
        } else {
            d[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[k]->dim_value = dims[k - 1];
        }
    }
    sh->n_dim = (size_t)rank + 1;
    sh->dim = d;
    tt->has_elem_type = true;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = ob_str(b, "%s", name);
    v->type = t;
    return v;
}

// ---------------------------------------------------------------------------
// The graph

static bool kind_is(const dc_node *n, const char *k) { return !strcmp(n->op->kind, k); }

// A QuantizeLinear + DequantizeLinear pair from value `from` to value `to`.
static void qdq(ob *b, const char *from, const char *to, float scale, int32_t zp) {
    char sn[300], zn[300], qn[300];
    snprintf(sn, sizeof sn, "%s.output_scale", to);
    snprintf(zn, sizeof zn, "%s.output_zero_point", to);
    snprintf(qn, sizeof qn, "%s:quantized", to);
    const uint8_t z = (uint8_t)zp;
    init_raw(b, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &scale, sizeof scale);
    init_raw(b, zn, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, NULL, 0, &z, 1);
    const char *qi[3] = {from, sn, zn};
    char nm[320];
    snprintf(nm, sizeof nm, "%s/QuantizeLinear", to);
    node(b, "QuantizeLinear", nm, 3, qi, qn);
    const char *di[3] = {qn, sn, zn};
    snprintf(nm, sizeof nm, "%s/DequantizeLinear", to);
    node(b, "DequantizeLinear", nm, 3, di, to);
}

// The int8 weights and int32 bias of weighted node i behind per-channel
// DequantizeLinear nodes: the names of the dequantised values in wname/bname.
static void q_weights(ob *b, const dc_model *m, int i, char *wname, char *bname, size_t cap) {
    const dc_node *n = &m->nodes[i];
    const dc_qmodel *q = m->quant;
    const int OC = n->c;
    char a[300], s[300], z[300], nm[320];
    int64_t oc[1] = {OC};
    float *sb = ob_calloc(b, (size_t)OC, sizeof(float));
    int8_t *z8 = ob_calloc(b, (size_t)OC, 1);
    int32_t *z32 = ob_calloc(b, (size_t)OC, sizeof(int32_t));
    if (!sb || !z8 || !z32) return;
    // weights
    snprintf(a, sizeof a, "%s.weight:quantized", n->name);
    snprintf(s, sizeof s, "%s.weight_scale", n->name);
    snprintf(z, sizeof z, "%s.weight_zero_point", n->name);
    init_raw(b, a, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, n->t[0].shape, n->t[0].rank, q->w[i], n->t[0].n);
    init_f32(b, s, oc, 1, q->w_scale[i]);
    init_raw(b, z, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, oc, 1, z8, (size_t)OC);
    snprintf(wname, cap, "%s.weight", n->name);
    const char *wi[3] = {a, s, z};
    snprintf(nm, sizeof nm, "%s.weight/DequantizeLinear", n->name);
    attr_int(b, node(b, "DequantizeLinear", nm, 3, wi, wname), "axis", 0);
    // bias: scale s_in * s_w[o]
    const double s_in = q->act_scale[n->in[0]];
    for (int o = 0; o < OC; o++) sb[o] = (float)(s_in * q->w_scale[i][o]);
    snprintf(a, sizeof a, "%s.bias:quantized", n->name);
    snprintf(s, sizeof s, "%s.bias_scale", n->name);
    snprintf(z, sizeof z, "%s.bias_zero_point", n->name);
    init_raw(b, a, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, oc, 1, q->bias[i], sizeof(int32_t) * (size_t)OC);
    init_f32(b, s, oc, 1, sb);
    init_raw(b, z, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, oc, 1, z32, sizeof(int32_t) * (size_t)OC);
    snprintf(bname, cap, "%s.bias", n->name);
    const char *bi[3] = {a, s, z};
    snprintf(nm, sizeof nm, "%s.bias/DequantizeLinear", n->name);
    attr_int(b, node(b, "DequantizeLinear", nm, 3, bi, bname), "axis", 0);
}

static void param_init(ob *b, const dc_model *m, const dc_node *n, int k) {
    const dc_tensor_ref *t = &n->t[k];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.%s", n->name, t->suffix);
    init_f32(b, nm, t->shape, t->rank, (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off);
}

static dc_status build_graph(ob *b, const dc_model *m, const char **value, const char *path, dc_error *err) {
    const dc_qmodel *q = m->quant;
    const int nn = m->n_nodes;
    bool *fused = calloc((size_t)nn, sizeof(bool)), *vec = calloc((size_t)nn, sizeof(bool));
    if (!fused || !vec) {
        free(fused), free(vec);
        return dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    }
    // value[i]: the ONNX value holding node i's output; vec[i]: it is (N, F) rather than (N, C, H, W)
    value[0] = "input";
    if (q) {
        // input (float, normalised) -> its quantised grid
        value[0] = "input:dequantized";
        qdq(b, "input", value[0], q->act_scale[0], q->act_zp[0]);
    }
    dc_status st = DC_OK;
    for (int i = 1; !st && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        const bool last = i == nn - 1;
        const char *in[DC_NODE_MAX_IN + 2];
        for (int k = 0; k < n->n_in; k++) in[k] = value[n->in[k]];
        if (fused[i]) { // a relu the int8 model fused into its producer: already written
            value[i] = value[n->in[0]];
            continue;
        }
        const int relu = q ? dc_q_fused_relu(m, i) : -1;
        if (relu >= 0) fused[relu] = true;
        // the float result of this node: its own name, or a pre-quantisation name when a QDQ pair follows
        const bool owns_q = q && !last && !dc_q_passthrough(n);
        vec[i] = kind_is(n, "linear") || kind_is(n, "flatten") || (n->n_in >= 1 && vec[n->in[0]] && !kind_is(n, "concat"));
        // the value a QDQ pair quantises is named after the node whose range it is: the fused relu's, if any
        const char *qname = relu >= 0 ? m->nodes[relu].name : n->name;
        const char *out = last && vec[i] ? "logits" : owns_q ? ob_str(b, "%s:float", qname) : ob_str(b, "%s", n->name);
        const char *raw = relu >= 0 ? ob_str(b, "%s", n->name) : out; // a fused relu's input: the node's own output
        char wn[300], bn[300];
        Onnx__NodeProto *o = NULL;
        if (kind_is(n, "conv2d")) {
            const dc_conv_cfg *c = &n->cfg.conv;
            bool has_b = n->n_t > 1;
            if (q) q_weights(b, m, i, wn, bn, sizeof wn), has_b = true;
            else {
                snprintf(wn, sizeof wn, "%s.weight", n->name), param_init(b, m, n, 0);
                if (has_b) snprintf(bn, sizeof bn, "%s.bias", n->name), param_init(b, m, n, 1);
            }
            in[1] = wn, in[2] = bn;
            o = node(b, "Conv", n->name, has_b ? 3 : 2, in, raw);
            attr_ints(b, o, "kernel_shape", 2, c->k, c->k);
            attr_ints(b, o, "strides", 2, c->stride, c->stride);
            attr_ints(b, o, "pads", 4, c->pad, c->pad, c->pad, c->pad);
        } else if (kind_is(n, "linear")) {
            bool has_b = n->n_t > 1;
            if (q) q_weights(b, m, i, wn, bn, sizeof wn), has_b = true;
            else {
                snprintf(wn, sizeof wn, "%s.weight", n->name), param_init(b, m, n, 0);
                if (has_b) snprintf(bn, sizeof bn, "%s.bias", n->name), param_init(b, m, n, 1);
            }
            if (!vec[n->in[0]]) { // a (C, H, W) tensor read as a vector: ONNX needs the Flatten
                char fo[300], fnm[300];
                snprintf(fo, sizeof fo, "%s:flat", n->name);
                snprintf(fnm, sizeof fnm, "%s/Flatten", n->name);
                attr_int(b, node(b, "Flatten", fnm, 1, in, fo), "axis", 1);
                in[0] = ob_str(b, "%s", fo);
            }
            in[1] = wn, in[2] = bn;
            o = node(b, "Gemm", n->name, has_b ? 3 : 2, in, raw);
            attr_int(b, o, "transB", 1);
        } else if (kind_is(n, "batchnorm2d")) {
            char nm[4][300];
            const char *sfx[4] = {"weight", "bias", "running_mean", "running_var"};
            float *ones = NULL, *zeros = NULL;
            const dc_tensor_ref *rm = dc_node_tensor(n, "running_mean"), *rv = dc_node_tensor(n, "running_var");
            int64_t cdim[1] = {n->c};
            for (int k = 0; k < 4; k++) snprintf(nm[k], sizeof nm[k], "%s.%s", n->name, sfx[k]);
            if (n->cfg.bn.affine) {
                param_init(b, m, n, 0), param_init(b, m, n, 1);
            } else {
                ones = ob_calloc(b, (size_t)n->c, sizeof(float)), zeros = ob_calloc(b, (size_t)n->c, sizeof(float));
                for (int k = 0; ones && k < n->c; k++) ones[k] = 1.0f;
                if (ones && zeros) init_f32(b, nm[0], cdim, 1, ones), init_f32(b, nm[1], cdim, 1, zeros);
            }
            init_f32(b, nm[2], cdim, 1, m->state + rm->off);
            init_f32(b, nm[3], cdim, 1, m->state + rv->off);
            for (int k = 0; k < 4; k++) in[1 + k] = nm[k];
            o = node(b, "BatchNormalization", n->name, 5, in, out);
            attr_float(b, o, "epsilon", n->cfg.bn.eps);
        } else if (kind_is(n, "relu") || kind_is(n, "tanh") || kind_is(n, "sigmoid")) {
            o = node(b, kind_is(n, "relu") ? "Relu" : kind_is(n, "tanh") ? "Tanh" : "Sigmoid", n->name, 1, in, out);
        } else if (kind_is(n, "maxpool") || kind_is(n, "avgpool")) {
            o = node(b, kind_is(n, "maxpool") ? "MaxPool" : "AveragePool", n->name, 1, in, out);
            attr_ints(b, o, "kernel_shape", 2, n->cfg.pool.k, n->cfg.pool.k);
            attr_ints(b, o, "strides", 2, n->cfg.pool.stride, n->cfg.pool.stride);
        } else if (kind_is(n, "globalavgpool")) {
            // deepc's (C, 1, 1) output as ONNX's (N, C, 1, 1)
            o = node(b, "GlobalAveragePool", n->name, 1, in, out);
        } else if (kind_is(n, "flatten")) {
            o = node(b, "Flatten", n->name, 1, in, out);
            attr_int(b, o, "axis", 1);
        } else if (kind_is(n, "dropout")) {
            value[i] = value[n->in[0]];
            if (last) st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: the output node %s is a dropout", path, n->name);
            continue;
        } else if (kind_is(n, "add")) {
            o = node(b, n->n_in == 2 ? "Add" : "Sum", n->name, n->n_in, in, raw);
        } else if (kind_is(n, "concat")) {
            o = node(b, "Concat", n->name, n->n_in, in, out);
            attr_int(b, o, "axis", 1);
        } else {
            st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: node %s (%s) has no ONNX form deepc writes (supported: "
                         "conv2d, batchnorm2d, relu, tanh, sigmoid, maxpool, avgpool, globalavgpool, flatten, linear, "
                         "add, concat, dropout)", path, n->name, n->op->kind);
            break;
        }
        if (relu >= 0) {
            const char *ri[1] = {o->output[0]};
            node(b, "Relu", m->nodes[relu].name, 1, ri, out);
        }
        if (owns_q) {
            const int qi = relu >= 0 ? relu : i; // the fused relu's range
            value[i] = ob_str(b, "%s", qname);
            qdq(b, out, value[i], q->act_scale[qi], q->act_zp[qi]);
        } else {
            value[i] = out;
        }
        // a logits node that is not last, or a value written twice, would break the graph: deepc's last node is the output
        (void)last;
    }
    // a flatten-free model whose last node is spatial (1x1) still gives (N, classes) only through a Flatten
    if (!st && (m->nodes[nn - 1].h != 1 || m->nodes[nn - 1].w != 1))
        st = dc_fail(err, DC_ERR_UNSUPPORTED, "%s: the output node %s is not a vector of class scores",
                     path, m->nodes[nn - 1].name);
    if (!st && strcmp(value[nn - 1], "logits")) {
        const dc_node *ln = &m->nodes[nn - 1];
        const char *fi[1] = {value[nn - 1]};
        Onnx__NodeProto *o = node(b, "Flatten", "logits/Flatten", 1, fi, "logits");
        attr_int(b, o, "axis", 1);
        (void)ln;
    }
    free(fused);
    free(vec);
    return st;
}

static dc_status check_exportable(const dc_model *m, const char *path, dc_error *err) {
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (n->op->flags & DC_OP_INPUT)
            return dc_fail(err, DC_ERR_UNSUPPORTED, "%s: %s is a tabular input; ONNX export covers image models",
                           path, n->name);
        if (kind_is(n, "groupnorm") || kind_is(n, "layernorm"))
            return dc_fail(err, DC_ERR_UNSUPPORTED, "%s: node %s (%s) has no ONNX form at opset 13 (deepc writes "
                           "conv2d, batchnorm2d, relu, tanh, sigmoid, pooling, flatten, linear, add, concat)",
                           path, n->name, n->op->kind);
    }
    return m->quant ? dc_q_check_supported(m, err) : DC_OK;
}

static char *meta_json(const dc_model *m) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "mean", cJSON_CreateFloatArray(m->norm_mean, m->in_c));
    cJSON_AddItemToObject(j, "std", cJSON_CreateFloatArray(m->norm_std, m->in_c));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static char *classes_json(const dc_model *m) {
    cJSON *j = cJSON_CreateArray();
    for (int k = 0; k < m->n_classes; k++) cJSON_AddItemToArray(j, cJSON_CreateString(dc_model_class_name(m, k)));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

dc_status dc_export_onnx(const dc_model *m, const char *path, const dc_onnx_options *opt, dc_error *err) {
    const dc_onnx_options o = opt ? *opt : dc_onnx_options_default();
    if (o.opset < 13 || o.opset > 17)
        return dc_fail(err, DC_ERR_ARG, "--opset %d: deepc writes ONNX opsets 13 to 17", o.opset);
    dc_status st = check_exportable(m, path, err);
    if (st) return st;
    ob b = {0};
    const char **value = calloc((size_t)m->n_nodes, sizeof(char *));
    if (!value) return dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
    st = build_graph(&b, m, value, path, err);
    uint8_t *buf = NULL;
    if (!st) {
        Onnx__GraphProto g;
        onnx__graph_proto__init(&g);
        g.name = "deepc";
        g.n_node = b.n_nodes;
        g.node = b.nodes;
        g.n_initializer = b.n_inits;
        g.initializer = b.inits;
        const int in_dims[3] = {m->in_c, m->in_h, m->in_w}, out_dims[1] = {m->n_classes};
        Onnx__ValueInfoProto *vin = value_info(&b, "input", 3, in_dims), *vout = value_info(&b, "logits", 1, out_dims);
        Onnx__ValueInfoProto *ins[1] = {vin}, *outs[1] = {vout};
        g.n_input = 1, g.input = ins;
        g.n_output = 1, g.output = outs;
        Onnx__OperatorSetIdProto os;
        onnx__operator_set_id_proto__init(&os);
        os.domain = "";
        os.has_version = true;
        os.version = o.opset;
        Onnx__OperatorSetIdProto *oss[1] = {&os};
        char *norm = meta_json(m), *cls = classes_json(m);
        Onnx__StringStringEntryProto mp[4];
        Onnx__StringStringEntryProto *mps[4] = {&mp[0], &mp[1], &mp[2], &mp[3]};
        for (int k = 0; k < 4; k++) onnx__string_string_entry_proto__init(&mp[k]);
        char qmeta[256] = "";
        if (m->quant) // what QDQ does not hold: the 32-bit logits' scale (deepc import reads it back)
            snprintf(qmeta, sizeof qmeta, "{\"qmax\":%d,\"logits_scale\":%.9g,\"calibration\":\"%s\",\"samples\":%d}",
                     m->quant->qmax, (double)m->quant->act_scale[m->n_nodes - 1], m->quant->method, m->quant->samples);
        mp[0].key = "deepc.norm", mp[0].value = norm;
        mp[1].key = "deepc.classes", mp[1].value = cls;
        mp[2].key = "deepc.arch", mp[2].value = m->arch_text ? m->arch_text : "";
        Onnx__ModelProto mo;
        onnx__model_proto__init(&mo);
        mo.has_ir_version = true;
        mo.ir_version = 8;
        mo.producer_name = "deepc";
        mo.producer_version = (char *)dc_version();
        mo.n_opset_import = 1, mo.opset_import = oss;
        mo.graph = &g;
        mp[3].key = "deepc.quant", mp[3].value = qmeta;
        mo.n_metadata_props = m->quant ? 4 : 3, mo.metadata_props = mps;
        if (!vin || !vout || !norm || !cls || b.oom) st = dc_fail(err, DC_ERR_NOMEM, "export: out of memory");
        size_t len = 0;
        if (!st) {
            len = onnx__model_proto__get_packed_size(&mo);
            if (!(buf = malloc(len ? len : 1))) st = dc_fail(err, DC_ERR_NOMEM, "export: out of memory (%zu bytes)", len);
        }
        if (!st) {
            onnx__model_proto__pack(&mo, buf);
            dc_buf part = {buf, len};
            st = dc_write_atomic(path, &part, 1, err);
        }
        free(norm);
        free(cls);
    }
    free(buf);
    free(value);
    ob_free(&b);
    return st;
}
