// test_fed.c — federated learning: client splits cover the data exactly once
// and behave as their parameters say; FedAvg with one client and full-batch
// local steps equals centralised full-batch SGD; runs are deterministic and
// independent of the thread count; client-level DP stays reproducible with
// a seed.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
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

int main(void) {
    dc_dataset tr, te;
    dc_test_make_data(&tr, 1000, 10, 1);
    dc_test_make_data(&te, 200, 10, 2);
    split_checks(&tr);
    training_checks(&tr, &te);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    return dc_test_finish();
}
