// test_fed.c — federated learning: client splits cover the data exactly once
// and behave as their parameters say; FedAvg with one client and full-batch
// local steps equals centralised full-batch SGD; runs are deterministic and
// independent of the thread count; client-level DP stays reproducible with
// a seed. With BatchNorm: the running statistics are the sample-weighted
// mean of the clients' (each client trains on its own copy, so the thread
// count changes nothing), secure aggregation carries them, and client-level
// DP refuses such a model.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "federated/fed.h"
#include "harness.h"
#include "model/model.h"

static void split_checks(const dc_dataset *ds) {
    printf("splits\n");
    dc_error err;
    const char *names[3] = {"iid", "shards:2", "dirichlet"};
    for (int kind = 0; kind < 3; kind++) {
        dc_fed_config c = dc_fed_config_default();
        c.clients = 20;
        c.split = kind == 0 ? DC_SPLIT_IID : kind == 1 ? DC_SPLIT_SHARDS : DC_SPLIT_DIRICHLET;
        c.shards = 2;
        c.alpha = 0.1;
        int32_t *idx;
        int *off;
        if (dc_fed_split(ds, &c, &idx, &off, &err)) {
            CHECK(0, "%s: %s", names[kind], err.msg);
            continue;
        }
        char *seen = calloc((size_t)ds->n, 1);
        int dup = 0;
        for (int i = 0; i < off[c.clients]; i++) dup += seen[idx[i]]++;
        int missing = 0;
        for (int i = 0; i < ds->n; i++) missing += !seen[i];
        CHECK(off[c.clients] == ds->n && dup == 0 && missing == 0, "%s covers the data exactly once", names[kind]);
        int minc = ds->n, maxc = 0, maxlabels = 0;
        double skew = 0; // mean share of a client's most common label
        for (int k = 0; k < c.clients; k++) {
            int cn = off[k + 1] - off[k], hist[10] = {0}, labels = 0, top = 0;
            minc = cn < minc ? cn : minc;
            maxc = cn > maxc ? cn : maxc;
            for (int i = off[k]; i < off[k + 1]; i++) hist[ds->labels[idx[i]]]++;
            for (int l = 0; l < 10; l++) {
                labels += hist[l] > 0;
                top = hist[l] > top ? hist[l] : top;
            }
            maxlabels = labels > maxlabels ? labels : maxlabels;
            skew += cn ? (double)top / cn : 1.0;
        }
        skew /= c.clients;
        printf("  %-9s sizes %d..%d, at most %d labels per client, top-label share %.2f\n", names[kind], minc, maxc,
               maxlabels, skew);
        if (kind == 0) CHECK(maxc - minc <= 1 && skew < 0.4, "iid: equal sizes, mixed labels");
        if (kind == 1) CHECK(maxc - minc <= 1 && maxlabels <= 4, "shards:2: equal sizes, at most 2 shards' labels");
        if (kind == 2) {
            CHECK(skew > 0.5, "dirichlet alpha=0.1: strong label skew (%.2f)", skew);
            free(idx);
            free(off);
            c.alpha = 100;
            CHECK(dc_fed_split(ds, &c, &idx, &off, &err) == DC_OK, "%s", err.msg);
            double s2 = 0;
            for (int k = 0; k < c.clients; k++) {
                int cn = off[k + 1] - off[k], hist[10] = {0}, top = 0;
                for (int i = off[k]; i < off[k + 1]; i++) hist[ds->labels[idx[i]]]++;
                for (int l = 0; l < 10; l++) top = hist[l] > top ? hist[l] : top;
                s2 += cn ? (double)top / cn : 1.0;
            }
            s2 /= c.clients;
            printf("  dirichlet alpha=100: top-label share %.2f\n", s2);
            CHECK(s2 < 0.35, "dirichlet alpha=100: close to uniform (%.2f)", s2);
        }
        free(seen);
        free(idx);
        free(off);
    }
    dc_fed_config bad = dc_fed_config_default();
    bad.clients = ds->n + 1;
    int32_t *i2;
    int *o2;
    CHECK(dc_fed_split(ds, &bad, &i2, &o2, &err) == DC_ERR_ARG, "more clients than samples is refused");
}

static dc_model *fresh(const dc_dataset *ds) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_create(&m, "lenet5", 1, 28, 28, 10, &err)) return NULL;
    dc_model_set_normalisation(m, ds);
    dc_rng r = dc_rng_stream(4, 0, 0);
    dc_model_init_params(m, &r);
    return m;
}

static void training_checks(const dc_dataset *tr, const dc_dataset *te) {
    printf("FedAvg with one client == centralised full-batch SGD\n");
    dc_error err;
    dc_model *a = fresh(tr), *b = fresh(tr);
    dc_fed_config c = dc_fed_config_default();
    c.clients = 1;
    c.fraction = 1;
    c.local_epochs = 1;
    c.local_batch = tr->n;
    c.rounds = 3;
    c.lr = 0.1f;
    c.nthreads = 1;
    CHECK(dc_federate(a, tr, NULL, &c, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_train_config t = dc_train_config_default();
    t.epochs = 3;
    t.batch = tr->n;
    t.lr = 0.1f;
    t.momentum = 0;
    t.nthreads = 1;
    CHECK(dc_train(b, tr, NULL, &t, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    // same steps; only the order of the sums over the batch differs
    dc_check_close("FedAvg(K=1,E=1,B=n) vs SGD(B=n)", a->params, b->params, a->n_params, 1e-4, 1e-6);
    dc_model_free(a);
    dc_model_free(b);

    printf("determinism and thread independence\n");
    dc_fed_config f = dc_fed_config_default();
    f.clients = 10;
    f.fraction = 0.5;
    f.local_epochs = 1;
    f.rounds = 2;
    f.split = DC_SPLIT_SHARDS;
    f.nthreads = 1;
    dc_model *p = fresh(tr), *q = fresh(tr), *r = fresh(tr);
    CHECK(dc_federate(p, tr, te, &f, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    f.nthreads = 2;
    CHECK(dc_federate(q, tr, te, &f, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(!memcmp(p->params, q->params, sizeof(float) * p->n_params), "1 and 2 threads give the same bits");
    f.algorithm = DC_FED_PROX;
    f.mu = 0.5f;
    CHECK(dc_federate(r, tr, te, &f, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(memcmp(p->params, r->params, sizeof(float) * p->n_params) != 0, "FedProx's proximal term changes the result");
    dc_model_free(p);
    dc_model_free(q);
    dc_model_free(r);

    printf("secure aggregation gives the plain sum (to fixed-point resolution)\n");
    dc_fed_config sa = f;
    sa.algorithm = DC_FED_AVG;
    sa.mu = 0;
    dc_model *s1 = fresh(tr), *s2 = fresh(tr);
    CHECK(dc_federate(s1, tr, te, &sa, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    sa.secure_agg = true;
    CHECK(dc_federate(s2, tr, te, &sa, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_check_close("FedAvg with vs without secure aggregation", s2->params, s1->params, s1->n_params, 1e-5, 1e-6);
    sa.dropout = 0.3;
    CHECK(dc_federate(s2, tr, te, &sa, NULL, NULL, &err) == DC_OK, "drop-outs are survived: %s", err.msg);
    sa.dropout = 0;
    sa.fraction = 0.1; // one client per round: nothing to hide it among
    CHECK(dc_federate(s2, tr, te, &sa, NULL, NULL, &err) == DC_ERR_ARG, "secure aggregation of one client is refused");
    dc_model_free(s1);
    dc_model_free(s2);

    printf("client-level DP, seeded\n");
    dc_fed_config d = f;
    d.algorithm = DC_FED_AVG;
    d.mu = 0;
    d.client_dp = true;
    d.dp_clip = 0.5f;
    d.dp_sigma = 1.0;
    d.dp_seeded = true;
    d.dp_seed = 7;
    dc_model *u = fresh(tr), *v = fresh(tr);
    CHECK(dc_federate(u, tr, te, &d, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_federate(v, tr, te, &d, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(!memcmp(u->params, v->params, sizeof(float) * u->n_params), "seeded client-level DP is reproducible");
    dc_model_free(u);
    dc_model_free(v);
    dc_fed_config bad = f;
    bad.fraction = 0;
    dc_model *w = fresh(tr);
    CHECK(dc_federate(w, tr, te, &bad, NULL, NULL, &err) == DC_ERR_ARG, "fraction 0 is refused");
    dc_model_free(w);
}

// ---------------------------------------------------------------------------
// BatchNorm state

static const char *k_bn_arch = "conv2d out=4 k=3 pad=1\nbatchnorm2d\nrelu\nmaxpool k=2\n"
                               "conv2d out=8 k=3 pad=1\nbatchnorm2d\nrelu\nglobalavgpool\nlinear out=10\n";

static dc_model *fresh_bn(const dc_dataset *ds) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_parse(&m, k_bn_arch, "test", 1, 28, 28, 10, &err)) {
        printf("bn arch: %s\n", err.msg);
        return NULL;
    }
    dc_model_set_normalisation(m, ds);
    dc_rng r = dc_rng_stream(5, 0, 0);
    dc_model_init_params(m, &r);
    return m;
}

// What each client ended its local training with (the observer's view).
typedef struct capture {
    pthread_mutex_t mu;
    int n;
    int client[16], samples[16];
    float *params[16], *state[16];
    size_t P, S;
} capture;

static void on_local(void *user, int round, int client, int n_samples, const float *params, const float *state) {
    (void)round;
    capture *c = user;
    pthread_mutex_lock(&c->mu);
    if (c->n < 16) {
        int i = c->n++;
        c->client[i] = client;
        c->samples[i] = n_samples;
        c->params[i] = malloc(sizeof(float) * c->P);
        c->state[i] = malloc(sizeof(float) * c->S);
        memcpy(c->params[i], params, sizeof(float) * c->P);
        memcpy(c->state[i], state, sizeof(float) * c->S);
    }
    pthread_mutex_unlock(&c->mu);
}

static void bn_checks(const dc_dataset *tr, const dc_dataset *te) {
    printf("BatchNorm: running statistics averaged like the weights\n");
    dc_error err;
    dc_fed_config f = dc_fed_config_default();
    f.clients = 10;
    f.fraction = 0.5;
    f.local_epochs = 1;
    f.rounds = 2;
    f.split = DC_SPLIT_SHARDS;
    f.nthreads = 1;
    dc_model *a = fresh_bn(tr), *b = fresh_bn(tr);
    CHECK(a && b && a->n_state > 0, "the test architecture has BatchNorm state");
    if (!a || !b) return;
    CHECK(dc_federate(a, tr, te, &f, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    f.nthreads = 2; // clients train in parallel, each on its own state copy
    CHECK(dc_federate(b, tr, te, &f, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(!memcmp(a->params, b->params, sizeof(float) * a->n_params) &&
              !memcmp(a->state, b->state, sizeof(float) * a->n_state),
          "BatchNorm model: 1 and 2 threads give the same weights and statistics");
    dc_model_free(b);

    // one round, observed: the new state is the sample-weighted mean of the
    // clients' states; the new weights the sample-weighted mean of theirs
    dc_model *c = fresh_bn(tr);
    const size_t P = c->n_params, S = c->n_state;
    float *w0 = malloc(sizeof(float) * P), *s0 = malloc(sizeof(float) * S);
    memcpy(w0, c->params, sizeof(float) * P);
    memcpy(s0, c->state, sizeof(float) * S);
    capture cap = {.P = P, .S = S};
    pthread_mutex_init(&cap.mu, NULL);
    dc_fed_config g = f;
    g.rounds = 1;
    g.obs.local = on_local;
    g.obs.user = &cap;
    CHECK(dc_federate(c, tr, te, &g, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(cap.n == 5, "5 clients observed (%d)", cap.n);
    double *ws = calloc(S, sizeof(double)), *ww = calloc(P, sizeof(double)), nsum = 0;
    for (int i = 0; i < cap.n; i++) {
        nsum += cap.samples[i];
        for (size_t j = 0; j < S; j++) ws[j] += (double)cap.samples[i] * cap.state[i][j];
        for (size_t j = 0; j < P; j++) ww[j] += (double)cap.samples[i] * cap.params[i][j];
    }
    float *want_s = malloc(sizeof(float) * S), *want_w = malloc(sizeof(float) * P);
    for (size_t j = 0; j < S; j++) want_s[j] = (float)(ws[j] / nsum);
    for (size_t j = 0; j < P; j++) want_w[j] = (float)(ww[j] / nsum);
    // the counters (num_batches_tracked) are rounded to integers
    int counters = 0, counters_ok = 0;
    for (int i = 0; i < c->n_nodes; i++)
        for (int t = 0; t < c->nodes[i].n_t; t++) {
            const dc_tensor_ref *r = &c->nodes[i].t[t];
            if (r->buf != DC_BUF_STATE || !r->int64_on_disk) continue;
            counters++;
            counters_ok += c->state[r->off] == roundf(want_s[r->off]) && c->state[r->off] > s0[r->off];
            want_s[r->off] = c->state[r->off];
        }
    CHECK(counters == 2 && counters_ok == 2, "num_batches_tracked: the rounded weighted mean of the clients' (%d of %d)",
          counters_ok, counters);
    size_t differ = 0, moved = 0;
    for (size_t j = 0; j < S; j++) {
        differ += cap.state[0][j] != cap.state[1][j];
        moved += c->state[j] != s0[j];
    }
    CHECK(differ > S / 2 && moved > S / 2, "clients' statistics differ (%zu of %zu) and the global ones moved (%zu)",
          differ, S, moved);
    dc_check_close("state == sample-weighted mean of the clients' states", c->state, want_s, S, 1e-5, 1e-6);
    dc_check_close("weights == sample-weighted mean of the clients' weights", c->params, want_w, P, 1e-4, 1e-6);
    for (int i = 0; i < cap.n; i++) {
        free(cap.params[i]);
        free(cap.state[i]);
    }
    pthread_mutex_destroy(&cap.mu);
    free(ws);
    free(ww);
    free(want_s);
    free(want_w);
    free(w0);
    free(s0);
    dc_model_free(c);

    printf("BatchNorm: secure aggregation carries the statistics\n");
    dc_model *p = fresh_bn(tr), *q = fresh_bn(tr);
    dc_fed_config sa = f;
    sa.nthreads = 1;
    CHECK(dc_federate(p, tr, te, &sa, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    sa.secure_agg = true;
    CHECK(dc_federate(q, tr, te, &sa, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_check_close("BN weights with vs without secure aggregation", q->params, p->params, p->n_params, 1e-5, 1e-6);
    dc_check_close("BN statistics with vs without secure aggregation", q->state, p->state, p->n_state, 1e-5, 1e-6);
    dc_model_free(p);
    dc_model_free(q);

    dc_fed_config dp = f;
    dp.client_dp = true;
    dp.dp_sigma = 1;
    dc_model *d = fresh_bn(tr);
    dc_status st = dc_federate(d, tr, te, &dp, NULL, NULL, &err);
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "groupnorm") && strstr(err.msg, "batchnorm2d"),
          "client-level DP refuses BatchNorm, suggesting groupnorm: %s", err.msg);
    dc_model_free(d);
    dc_model_free(a);
}

int main(void) {
    dc_dataset tr, te;
    dc_test_make_data(&tr, 1000, 10, 1);
    dc_test_make_data(&te, 200, 10, 2);
    split_checks(&tr);
    training_checks(&tr, &te);
    bn_checks(&tr, &te);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    return dc_test_finish();
}
