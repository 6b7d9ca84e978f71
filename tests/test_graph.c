// test_graph.c — the model as a graph: a whole resnet8 SGD step against
// PyTorch (tests/fixtures/resnet8_step.dcfx from tests/gen_fixtures_resnet.py)
// at 1 and 2 threads, eval mode and the folded inference session against
// PyTorch's eval output, the text format's graph checks (cycles, dangling
// inputs, shape mismatches name both nodes), a hand-written residual .arch
// equal to the built-in, and sessions on 8 threads at once giving one
// thread's bits.
//
// Tolerances. Loss and logits: 1e-5 relative + 1e-5 absolute. Gradients
// and updated weights: 1e-4 relative + 1e-6 absolute: BatchNorm divides by
// the batch standard deviation, so the float rounding of every sum feeding
// a statistic (a different summation order in PyTorch) is amplified by
// invstd and by the depth of the network; a whole ResNet step lands at a
// few 1e-6 relative for most values with a tail up to ~2e-5 (measured; the
// LeNet-5 step, without BatchNorm, holds 1e-5). Running statistics: 1e-5.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "harness.h"
#include "rt_helper.h"
#include "model/model.h"

static void load_named(dc_model *m, const dcfx *fx, const char *prefix) {
    char name[256];
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_t; k++) {
            const dc_tensor_ref *t = &m->nodes[i].t[k];
            snprintf(name, sizeof name, "%s%s.%s", prefix, m->nodes[i].name, t->suffix);
            const dcfx_tensor *f = dcfx_get(fx, name);
            CHECK(f && f->n == t->n, "%s: missing or %zu values, want %zu", name, f ? (size_t)f->n : 0, t->n);
            if (f && f->n == t->n)
                memcpy((t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off, f->data, sizeof(float) * t->n);
        }
}

// Compares the tensors of one buffer kind (whose flat buffer is buf).
static void compare_named(dc_model *m, dc_buf_kind kind, const float *buf, const dcfx *fx, const char *prefix,
                          double rtol, double atol) {
    char name[256];
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_t; k++) {
            const dc_tensor_ref *t = &m->nodes[i].t[k];
            if (t->buf != kind) continue;
            snprintf(name, sizeof name, "%s%s.%s", prefix, m->nodes[i].name, t->suffix);
            const dcfx_tensor *f = dcfx_get(fx, name);
            CHECK(f && f->n == t->n, "%s missing", name);
            if (!f || f->n != t->n) continue;
            const float *got = buf + t->off;
            dc_check_close(name, got, f->data, t->n, rtol, atol);
        }
}

static void resnet8_step_vs_torch(int nthreads) {
    printf("resnet8: one SGD step (train mode) vs PyTorch, %d thread(s)\n", nthreads);
    dcfx fx;
    if (dcfx_load(&fx, dc_src_path("tests/fixtures/resnet8_step.dcfx"))) {
        CHECK(0, "%s", fx.err);
        return;
    }
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_builtin(&m, "resnet8", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    load_named(m, &fx, "before.");
    const dcfx_tensor *x = dcfx_get(&fx, "input"), *lab = dcfx_get(&fx, "labels"), *hy = dcfx_get(&fx, "hyper");
    const int N = (int)lab->n;
    int32_t y[64];
    for (int i = 0; i < N; i++) y[i] = (int32_t)lab->data[i];
    dc_runtime *rt = NULL;
    CHECK(dc_test_runtime(&rt, m, N, true, nthreads, &err) == DC_OK, "%s", err.msg);
    memcpy(dc_runtime_input(rt), x->data, sizeof(float) * x->n);
    memset(m->grads, 0, sizeof(float) * m->n_params);
    double loss = dc_runtime_train_step(rt, N, y, NULL, NULL, NULL);
    float lf = (float)loss;
    dc_check_close("loss", &lf, dcfx_get(&fx, "loss")->data, 1, 1e-5, 1e-5);
    dc_check_close("logits", dc_runtime_node_output(rt, m->n_nodes - 1), dcfx_get(&fx, "logits")->data,
                   (size_t)N * 10, 1e-5, 1e-5);
    // gradients (the gradient buffer has the parameters' layout)
    compare_named(m, DC_BUF_PARAM, m->grads, &fx, "grad.", 1e-4, 1e-6);
    dc_optim opt;
    CHECK(dc_optim_init(&opt, DC_OPTIM_SGD, hy->data[1], hy->data[2] != 0, hy->data[3], 0.9f, 0.999f, 1e-8f,
                        m->n_params, &err) == DC_OK, "%s", err.msg);
    dc_optim_step(&opt, m->params, m->grads, hy->data[0]);
    compare_named(m, DC_BUF_PARAM, m->params, &fx, "after.", 1e-4, 1e-6);
    compare_named(m, DC_BUF_STATE, m->state, &fx, "after.", 1e-5, 1e-6);
    dc_optim_free(&opt);
    dc_runtime_free(rt);

    // eval mode on a second batch: the plain executor and the folded session
    const dcfx_tensor *x2 = dcfx_get(&fx, "input2"), *want = dcfx_get(&fx, "eval_logits");
    dc_runtime *ev = NULL;
    CHECK(dc_test_runtime(&ev, m, N, false, nthreads, &err) == DC_OK, "%s", err.msg);
    memcpy(dc_runtime_input(ev), x2->data, sizeof(float) * x2->n);
    dc_check_close("eval logits (executor)", dc_runtime_forward(ev, N, NULL), want->data, want->n, 1e-5, 1e-5);
    dc_runtime_free(ev);
    dc_session *s = NULL;
    CHECK(dc_session_new(&s, m, N, nthreads, &err) == DC_OK, "%s", err.msg);
    if (s) {
        CHECK(dc_session_folded(s) == 9, "resnet8 folds its 9 BatchNorms (%d)", dc_session_folded(s));
        // the relus after a conv+BN (stem, first conv of each block) and after each add
        CHECK(dc_session_fused(s) == 7, "resnet8 fuses 7 ReLUs into the node before them (%d)", dc_session_fused(s));
        float logits[64 * 10];
        CHECK(dc_session_logits(s, x2->data, N, logits, &err) == DC_OK, "%s", err.msg);
        dc_check_close("eval logits (folded session)", logits, want->data, want->n, 1e-5, 1e-5);
        dc_session_free(s);
    }
    dc_model_free(m);
    dcfx_free(&fx);
}

// ReLU fusion changes no bit: a training step with fused relus (into
// BatchNorm and add) and one with every relu its own node.
static void fusion_is_exact(void) {
    printf("relu fusion: a resnet8 training step and eval forward give the same bits fused and unfused\n");
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_builtin(&m, "resnet8", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 21);
    dc_model_init_params(m, &r);
    enum { N = 9 };
    float *x = malloc(sizeof(float) * N * 784);
    int32_t y[N];
    for (int i = 0; i < N * 784; i++) x[i] = dc_rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int32_t)dc_rng_below(&r, 10);
    float *g[2], *state[2], *logits[2];
    double loss[2];
    float *state0 = malloc(sizeof(float) * m->n_state);
    memcpy(state0, m->state, sizeof(float) * m->n_state);
    for (int f = 0; f < 2; f++) {
        dc_graph gr = dc_model_graph(m);
        dc_runtime *rt = NULL;
        CHECK(dc_runtime_new(&rt, &gr, N, DC_MODE_TRAIN, DC_RT_BACKWARD | (f ? DC_RT_NO_FUSE : 0), 2, &err) == DC_OK,
              "%s", err.msg);
        memcpy(m->state, state0, sizeof(float) * m->n_state);
        dc_runtime_bind_model(rt, m);
        CHECK((dc_runtime_fused(rt) > 0) == (f == 0), "fused %d", dc_runtime_fused(rt));
        memcpy(dc_runtime_input(rt), x, sizeof(float) * N * 784);
        memset(m->grads, 0, sizeof(float) * m->n_params);
        loss[f] = dc_runtime_train_step(rt, N, y, NULL, NULL, NULL);
        g[f] = malloc(sizeof(float) * m->n_params);
        memcpy(g[f], m->grads, sizeof(float) * m->n_params);
        state[f] = malloc(sizeof(float) * m->n_state);
        memcpy(state[f], m->state, sizeof(float) * m->n_state);
        dc_runtime_free(rt);
        dc_runtime *ev = NULL;
        CHECK(dc_runtime_new(&ev, &gr, N, DC_MODE_EVAL, f ? DC_RT_NO_FUSE : 0, 2, &err) == DC_OK, "%s", err.msg);
        dc_runtime_bind_model(ev, m);
        memcpy(dc_runtime_input(ev), x, sizeof(float) * N * 784);
        logits[f] = malloc(sizeof(float) * N * 10);
        memcpy(logits[f], dc_runtime_forward(ev, N, NULL), sizeof(float) * N * 10);
        dc_runtime_free(ev);
    }
    CHECK(loss[0] == loss[1] && !memcmp(g[0], g[1], sizeof(float) * m->n_params) &&
              !memcmp(state[0], state[1], sizeof(float) * m->n_state) && !memcmp(logits[0], logits[1], sizeof(float) * N * 10),
          "fused and unfused: the same loss, gradients, statistics and eval logits");
    for (int f = 0; f < 2; f++) free(g[f]), free(state[f]), free(logits[f]);
    free(state0);
    free(x);
    dc_model_free(m);
}

static void expect_error(const char *text, const char *needle1, const char *needle2) {
    dc_error err = {{0}};
    dc_model *m = NULL;
    dc_status st = dc_model_parse(&m, text, "g.arch", 1, 8, 8, 0, &err);
    CHECK(st != DC_OK && !m, "expected an error for:\n%s", text);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    if (st) printf("  ok: %s\n", err.msg);
    dc_model_free(m);
}

static void graph_text_checks(void) {
    printf("graph text format: cycles, dangling inputs, shape mismatches, unused nodes\n");
    expect_error("conv2d out=4 k=3 pad=1 name=a from=b\nconv2d out=4 k=3 pad=1 name=b from=a\nflatten\nlinear out=3\n",
                 "a (line 1)", "b (line 2)");
    expect_error("conv2d out=4 k=3 pad=1 name=a from=a\nflatten\nlinear out=3\n", "its own output", NULL);
    expect_error("conv2d out=4 k=3 pad=1 name=a\nadd from=a,nosuch\nflatten\nlinear out=3\n", "'nosuch'", "g.arch:2");
    expect_error("conv2d out=4 k=3 pad=1 name=a\nconv2d out=6 k=3 pad=1 name=b\nadd from=a,b\nflatten\nlinear out=3\n",
                 "a (4x8x8)", "b (6x8x8)");
    expect_error("conv2d out=4 k=3 name=a\nconv2d out=4 k=3 pad=1 from=input name=b\nconcat from=a,b\nflatten\nlinear out=3\n",
                 "a (4x6x6)", "b (4x8x8)");
    expect_error("conv2d out=4 k=3 pad=1 name=a\nconv2d out=4 k=3 pad=1 from=input name=b\nflatten from=a\nlinear out=3\n",
                 "b does not feed the output", NULL);
    expect_error("relu\nadd from=relu1\nflatten\nlinear out=3\n", "add takes 2 to", NULL);
    expect_error("groupnorm groups=3\nflatten\nlinear out=3\n", "groups=3", "1 channels");
    expect_error("conv2d out=4 k=3 from=x,y\nflatten\nlinear out=3\n", "conv2d takes 1 to 1", NULL);
    expect_error("relu\ninput name=x\nflatten\nlinear out=3\n", "first line", NULL);
    expect_error("input kind=tabular name=t\nflatten\nlinear out=3\n", "needs features", NULL);
    // a graph whose lines are not in topological order is ordered, and
    // from=input reaches the model input
    dc_error err;
    dc_model *m = NULL;
    const char *ok = "conv2d out=4 k=3 pad=1 from=input name=a\nadd from=a,b name=s\nflatten from=s\nlinear out=3\n"
                     "conv2d out=4 k=3 pad=1 from=input name=b\n";
    // the output must be the last line: this one ends in b, which is not the output
    CHECK(dc_model_parse(&m, ok, "g.arch", 1, 8, 8, 0, &err) != DC_OK, "last line must be the output");
    const char *ok2 = "conv2d out=4 k=3 pad=1 from=input name=a\nadd from=a,b name=s\n"
                      "conv2d out=4 k=3 pad=1 from=input name=b\nconcat from=s,b name=c\nflatten\nlinear out=3\n";
    CHECK(dc_model_parse(&m, ok2, "g.arch", 1, 8, 8, 0, &err) == DC_OK, "%s", err.msg);
    if (m) {
        CHECK(dc_model_find_node(m, "b") < dc_model_find_node(m, "s"), "b is ordered before its consumer s");
        CHECK(m->nodes[dc_model_find_node(m, "c")].c == 8, "concat of 4+4 channels");
        dc_model_free(m);
    }
}

// Add fusion: an add folded into the convolution before it (forward-only
// plans) gives the unfused plan's bits, on prepared weights (the Winograd
// kernels add the residual themselves: winot at N < 4, wino at 5) and not
// (a 1x1 convolution adds it in a pass after), at 1 and 2 threads (batch 1
// on 2 threads shares each node); an add whose convolution input runs
// before its other input takes the later input; one without a relu writes
// its own buffer.
static void add_fusion_is_exact(void) {
    printf("add fusion: the unfused plan's bits\n");
    const char *text = "conv2d out=16 k=3 pad=1 name=stem\nrelu name=r0\n"
                       "conv2d out=16 k=3 pad=1 name=c1\nadd from=c1,r0 name=a1\nrelu name=r1\n"
                       "conv2d out=16 k=3 pad=1 name=c2\nconv2d out=16 k=1 from=r1 name=proj\n"
                       "add from=c2,proj name=a2\nrelu name=r2\n"
                       "conv2d out=16 k=3 pad=1 name=c3\nadd from=r2,c3 name=a3\n"
                       "flatten from=a3\nlinear out=5\n";
    dc_error err;
    dc_model *m = NULL;
    // 40x40: enough multiply-adds (11 M) that batch 1 on 2 threads shares the nodes
    CHECK(dc_model_parse(&m, text, "fuse.arch", 1, 40, 40, 0, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 33);
    dc_model_init_params(m, &r);
    for (size_t j = 0; j < m->n_params; j++) m->params[j] += 0.05f * dc_rng_normal(&r); // biases not 0
    enum { NMAX = 5 };
    enum { PIX = 40 * 40 };
    float *x = malloc(sizeof(float) * NMAX * PIX);
    for (int i = 0; i < NMAX * PIX; i++) x[i] = dc_rng_normal(&r);
    const int ns[3] = {1, 3, 5};
    for (int T = 1; T <= 2; T++)
        for (int q = 0; q < 3; q++) {
            float out[2][NMAX * 5];
            for (int f = 0; f < 2; f++) {
                dc_graph gr = dc_model_graph(m);
                dc_runtime *rt = NULL;
                CHECK(dc_runtime_new(&rt, &gr, NMAX, DC_MODE_EVAL, f ? DC_RT_NO_FUSE : 0, T, &err) == DC_OK, "%s",
                      err.msg);
                if (!rt) continue;
                dc_runtime_bind_model(rt, m);
                CHECK(dc_runtime_prepare(rt, &err) == DC_OK, "%s", err.msg);
                CHECK(dc_runtime_fused_adds(rt) == (f ? 0 : 3), "fused adds %d", dc_runtime_fused_adds(rt));
                CHECK(dc_runtime_shares_nodes(rt), "an 11 M-MAC network does not share its nodes at batch 1");
                memcpy(dc_runtime_input(rt), x, sizeof(float) * ns[q] * PIX);
                memcpy(out[f], dc_runtime_forward(rt, ns[q], NULL), sizeof(float) * ns[q] * 5);
                dc_runtime_free(rt);
            }
            CHECK(!memcmp(out[0], out[1], sizeof(float) * ns[q] * 5), "fused != unfused logits, N=%d, %d threads",
                  ns[q], T);
        }
    // plans that keep outputs (training, explanations) fuse no add
    dc_graph gr = dc_model_graph(m);
    dc_runtime *rt = NULL;
    CHECK(dc_runtime_new(&rt, &gr, 2, DC_MODE_TRAIN, DC_RT_BACKWARD, 1, &err) == DC_OK, "%s", err.msg);
    CHECK(rt && dc_runtime_fused_adds(rt) == 0, "a training plan fused an add");
    dc_runtime_free(rt);
    free(x);
    dc_model_free(m);
}

static void handwritten_equals_builtin(void) {
    printf("examples/resnet8.arch equals the built-in resnet8\n");
    dc_error err;
    dc_model *a = NULL, *b = NULL;
    CHECK(dc_model_builtin(&a, "resnet8", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_model_create(&b, dc_src_path("examples/resnet8.arch"), 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    if (a && b) {
        CHECK(!strcmp(a->arch_text, b->arch_text), "same canonical text:\n%s\n---\n%s", a->arch_text, b->arch_text);
        dc_rng r1, r2;
        dc_rng_seed(&r1, 9);
        dc_rng_seed(&r2, 9);
        dc_model_init_params(a, &r1);
        dc_model_init_params(b, &r2);
        CHECK(a->n_params == b->n_params && !memcmp(a->params, b->params, sizeof(float) * a->n_params),
              "same parameters from the same seed");
    }
    dc_model_free(a);
    dc_model_free(b);
}

// ---------------------------------------------------------------------------
// DP-SGD through per-sample normalisation: the per-sample gradient norms of
// a residual net with groupnorm and layernorm equal those of batches of one

static void dp_with_groupnorm(int nthreads) {
    printf("DP-SGD per-sample norms through groupnorm, layernorm and a residual add, %d thread(s)\n", nthreads);
    const char *arch = "conv2d out=6 k=3 pad=1 name=c1\ngroupnorm groups=2 name=g1\nrelu\n"
                       "conv2d out=6 k=3 pad=1 name=c2\nadd from=c2,c1 name=a\nlayernorm name=l\n"
                       "maxpool k=2\nflatten\nlinear out=5 name=fc\n";
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_parse(&m, arch, "dp.arch", 1, 8, 8, 5, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 4);
    dc_model_init_params(m, &r);
    for (size_t j = 0; j < m->n_params; j++) m->params[j] += 0.05f * dc_rng_normal(&r); // non-trivial affine
    enum { N = 6 };
    float x[N * 64];
    int32_t y[N];
    for (int i = 0; i < N * 64; i++) x[i] = dc_rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int32_t)dc_rng_below(&r, 5);
    const size_t P = m->n_params;
    float *g = malloc(sizeof(float) * P), *want = calloc(P, sizeof(float));
    double ref[N];
    dc_runtime *one = NULL, *rt = NULL;
    CHECK(dc_test_runtime(&one, m, 1, true, 1, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_test_runtime(&rt, m, N, true, nthreads, &err) == DC_OK, "%s", err.msg);
    const float clip = 0.5f;
    for (int i = 0; i < N; i++) {
        memcpy(dc_runtime_input(one), x + i * 64, sizeof(float) * 64);
        memset(m->grads, 0, sizeof(float) * P);
        dc_runtime_train_step(one, 1, y + i, NULL, NULL, NULL);
        double s = 0;
        for (size_t j = 0; j < P; j++) s += (double)m->grads[j] * m->grads[j];
        ref[i] = s;
        double f = fmin(1.0, clip / (sqrt(s) + 1e-6));
        for (size_t j = 0; j < P; j++) want[j] += (float)(m->grads[j] * f);
    }
    double sq[N];
    memcpy(dc_runtime_input(rt), x, sizeof x);
    memset(m->grads, 0, sizeof(float) * P);
    dc_runtime_dp_step(rt, N, y, clip, sq, NULL);
    float fsq[N], fref[N];
    for (int i = 0; i < N; i++) fsq[i] = (float)sq[i], fref[i] = (float)ref[i];
    dc_check_close("per-sample squared norms vs batches of one", fsq, fref, N, 1e-4, 1e-8);
    dc_check_close("clipped sum vs sum of clipped batches of one", m->grads, want, P, 1e-4, 1e-7);
    dc_runtime_free(one);
    dc_runtime_free(rt);
    free(g);
    free(want);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// Sessions: 8 threads at once over one model

typedef struct worker {
    const dc_model *m;
    const float *x;
    int n, reps;
    float *out;     // (n, K)
    int ok;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    dc_error err;
    dc_session *s;
    if (dc_session_new(&s, w->m, w->n, 1, &err)) return NULL;
    w->ok = 1;
    for (int r = 0; r < w->reps && w->ok; r++)
        if (dc_session_predict(s, w->x, w->n, w->out, &err)) w->ok = 0;
    dc_session_free(s);
    return NULL;
}

static void sessions_concurrently(void) {
    printf("sessions: 8 threads predicting at once on one model give one thread's bits\n");
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_builtin(&m, "resnet8", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 3);
    dc_model_init_params(m, &r);
    for (size_t j = 0; j < m->n_state; j++) m->state[j] += 0.01f * (float)(j % 7); // non-trivial statistics
    enum { T = 8, N = 5 };
    float *x = malloc(sizeof(float) * N * 784);
    for (int i = 0; i < N * 784; i++) x[i] = dc_rng_normal(&r);
    float ref[N * 10];
    worker one = {m, x, N, 1, ref, 0};
    run_worker(&one);
    CHECK(one.ok, "one session predicts");
    pthread_t th[T];
    worker w[T];
    float out[T][N * 10];
    for (int t = 0; t < T; t++) {
        w[t] = (worker){m, x, N, 20, out[t], 0};
        pthread_create(&th[t], NULL, run_worker, &w[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        CHECK(w[t].ok && !memcmp(out[t], ref, sizeof ref), "thread %d: same bits as one thread alone", t);
    }
    free(x);
    dc_model_free(m);
}

// Batches smaller than the team share each node (output channels of the
// convolutions) in networks of 4 M multiply-adds or more (the resnets; LeNet-5
// runs on one thread): batch 1 and 2 on 2 and 3 threads give one thread's bits.
static void small_batch_shares_nodes(void) {
    printf("sessions: batches under the thread count share each node, one thread's bits\n");
    const char *models[] = {"resnet8", "resnet20", "lenet5"};
    for (int k = 0; k < 3; k++) {
        dc_error err;
        dc_model *m = NULL;
        CHECK(dc_model_builtin(&m, models[k], 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
        if (!m) continue;
        dc_rng r;
        dc_rng_seed(&r, 5 + (uint64_t)k);
        dc_model_init_params(m, &r);
        for (size_t j = 0; j < m->n_state; j++) m->state[j] += 0.01f * (float)(j % 7);
        enum { N = 2 };
        float x[N * 784], ref[N * 10], out[N * 10];
        for (int i = 0; i < N * 784; i++) x[i] = dc_rng_normal(&r);
        for (int n = 1; n <= N; n++) {
            dc_session *s1 = NULL;
            CHECK(dc_session_new(&s1, m, n, 1, &err) == DC_OK && dc_session_predict(s1, x, n, ref, &err) == DC_OK,
                  "%s: %s", models[k], err.msg);
            dc_session_free(s1);
            dc_graph gr = dc_model_graph(m);
            dc_runtime *rt = NULL;
            CHECK(dc_runtime_new(&rt, &gr, n, DC_MODE_EVAL, 0, 2, &err) == DC_OK, "%s", err.msg);
            CHECK(rt && dc_runtime_shares_nodes(rt) == (k < 2), "%s: sharing nodes %d", models[k],
                  rt && dc_runtime_shares_nodes(rt));
            dc_runtime_free(rt);
            for (int T = 2; T <= 3; T++) {
                dc_session *s = NULL;
                CHECK(dc_session_new(&s, m, n, T, &err) == DC_OK, "%s", err.msg);
                if (!s) continue;
                for (int rep = 0; rep < 3; rep++) {
                    memset(out, 0, sizeof out);
                    CHECK(dc_session_predict(s, x, n, out, &err) == DC_OK, "%s", err.msg);
                    CHECK(!memcmp(out, ref, sizeof(float) * 10 * (size_t)n),
                          "%s, batch %d, %d threads: not one thread's bits", models[k], n, T);
                }
                dc_session_free(s);
            }
        }
        dc_model_free(m);
    }
}

int main(int argc, char **argv) {
    // `test_graph sessions`: the concurrency part alone (for ThreadSanitizer,
    // which cannot see inside libgomp's own synchronisation)
    if (argc > 1 && !strcmp(argv[1], "sessions")) {
        sessions_concurrently();
        return dc_test_finish();
    }
    resnet8_step_vs_torch(1);
    resnet8_step_vs_torch(2);
    fusion_is_exact();
    add_fusion_is_exact();
    dp_with_groupnorm(1);
    dp_with_groupnorm(2);
    graph_text_checks();
    handwritten_equals_builtin();
    sessions_concurrently();
    small_batch_shares_nodes();
    return dc_test_finish();
}
