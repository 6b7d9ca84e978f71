// fed_link_fake.h — an in-process dc_link for tests: the ranks of a job are
// threads, messages are copied into per-destination queues (delivered in
// send order between one pair, like MPI), and a rank can be "killed": its
// later sends vanish, its own receives fail at once, and a receive from it
// with nothing queued reports no message immediately (the exit is noticed at
// once, where the real transport waits for --round-timeout). Below it, a
// job runner: dc_federate on every rank of such a network, one thread each,
// with a chosen rank killed at a chosen message. Used by test_fed_link.c
// and test_fed_mpi.c; header-only.
#ifndef DC_FED_LINK_FAKE_H
#define DC_FED_LINK_FAKE_H

#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "dist/dist.h"
#include "federated/fed.h"
#include "model/model.h"

typedef struct fake_msg {
    int src, tag;
    void *buf;
    size_t len;
    struct fake_msg *next;
} fake_msg;

typedef struct fake_net {
    int size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fake_msg **head;     // (size) queue of messages for each destination
    bool *dead;          // (size)
    long *bytes;         // (size) bytes sent by each rank
} fake_net;

typedef struct fake_end {
    fake_net *net;
    int rank;
} fake_end;

static inline void fake_net_init(fake_net *n, int size) {
    n->size = size;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    n->head = calloc((size_t)size, sizeof *n->head);
    n->dead = calloc((size_t)size, sizeof *n->dead);
    n->bytes = calloc((size_t)size, sizeof *n->bytes);
}

static inline void fake_net_free(fake_net *n) {
    for (int d = 0; d < n->size; d++)
        for (fake_msg *m = n->head[d], *nx; m; m = nx) {
            nx = m->next;
            free(m->buf);
            free(m);
        }
    free(n->head);
    free(n->dead);
    free(n->bytes);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
}

static inline void fake_kill(fake_net *n, int rank) {
    pthread_mutex_lock(&n->mu);
    n->dead[rank] = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static inline dc_status fake_send(void *ctx, int dest, int tag, const void *buf, size_t len, dc_error *err) {
    fake_end *e = ctx;
    fake_net *n = e->net;
    pthread_mutex_lock(&n->mu);
    const bool gone = n->dead[e->rank];
    pthread_mutex_unlock(&n->mu);
    if (gone) return DC_OK; // a dead rank's sends vanish
    fake_msg *m = calloc(1, sizeof *m);
    void *copy = malloc(len ? len : 1);
    if (!m || !copy) {
        free(m);
        free(copy);
        return dc_fail(err, DC_ERR_NOMEM, "fake link: out of memory");
    }
    if (len) memcpy(copy, buf, len);
    m->src = e->rank;
    m->tag = tag;
    m->buf = copy;
    m->len = len;
    pthread_mutex_lock(&n->mu);
    fake_msg **p = &n->head[dest];
    while (*p) p = &(*p)->next;
    *p = m;
    n->bytes[e->rank] += (long)len;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return DC_OK;
}

static inline dc_status fake_recv(void *ctx, int src, int tag, int *tag_out, void **buf, size_t *len, double wait_s,
                           bool *got, dc_error *err) {
    fake_end *e = ctx;
    fake_net *n = e->net;
    *got = false;
    *buf = NULL;
    *len = 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    if (wait_s > 0) {
        double s = (double)dl.tv_sec + dl.tv_nsec * 1e-9 + wait_s;
        dl.tv_sec = (time_t)s;
        dl.tv_nsec = (long)((s - (double)dl.tv_sec) * 1e9);
    }
    pthread_mutex_lock(&n->mu);
    dc_status st = DC_OK;
    for (;;) {
        if (n->dead[e->rank]) {
            st = dc_fail(err, DC_ERR_IO, "fake link: rank %d was killed", e->rank);
            break;
        }
        fake_msg **p = &n->head[e->rank];
        while (*p && ((*p)->src != src || (tag >= 0 && (*p)->tag != tag))) p = &(*p)->next;
        if (*p) {
            fake_msg *m = *p;
            *p = m->next;
            *buf = m->buf;
            *len = m->len;
            *tag_out = m->tag;
            *got = true;
            free(m);
            break;
        }
        if (n->dead[src] || wait_s == 0) break; // nothing more will come from a dead rank
        if (wait_s < 0) pthread_cond_wait(&n->cv, &n->mu);
        else if (pthread_cond_timedwait(&n->cv, &n->mu, &dl)) break; // timed out
    }
    pthread_mutex_unlock(&n->mu);
    return st;
}

static inline void fake_forget(void *ctx, int peer) {
    (void)ctx;
    (void)peer;
}

static inline dc_link fake_link(fake_end *e, fake_net *n, int rank) {
    e->net = n;
    e->rank = rank;
    dc_link l = {.rank = rank, .size = n->size, .ctx = e, .send = fake_send, .recv = fake_recv, .forget = fake_forget};
    return l;
}

// ---------------------------------------------------------------------------
// Jobs

static const char *k_bn_arch = "conv2d out=4 k=3 pad=1\nbatchnorm2d\nrelu\nmaxpool k=2\n"
                               "conv2d out=8 k=3 pad=1\nbatchnorm2d\nrelu\nglobalavgpool\nlinear out=10\n";

typedef enum { ARCH_BN, ARCH_LENET } arch_kind;

static inline dc_model *make_model(arch_kind a, const dc_dataset *norm_from) {
    dc_error err;
    dc_model *m = NULL;
    dc_status st = a == ARCH_BN ? dc_model_parse(&m, k_bn_arch, "test", 1, 28, 28, 10, &err)
                                : dc_model_create(&m, "lenet5", 1, 28, 28, 10, &err);
    if (st) {
        printf("model: %s\n", err.msg);
        exit(2);
    }
    dc_model_set_normalisation(m, norm_from);
    dc_rng r = dc_rng_stream(5, 0, 0);
    dc_model_init_params(m, &r);
    return m;
}

// ---------------------------------------------------------------------------
// A job: one thread per rank on one fake network

enum { MAX_RANKS = 6, MAX_EV = 8 };

typedef struct job job;
typedef struct rank_job {
    job *jb;
    int rank;
    fake_end end;
    dc_link link;
    dc_fed_config cfg;
    dc_model *m;
    const dc_dataset *train, *test;
    dc_status st;
    dc_error err;
} rank_job;

struct job {
    fake_net net;
    int size;
    rank_job r[MAX_RANKS];
    int kill_rank, kill_round, kill_kind; // kill_kind 0: nobody dies
    dc_fed_round ev[MAX_EV];
    char notes[MAX_EV][256];
    int n_ev;
};

static inline void on_sending(void *user, int round, int rank, int kind) {
    rank_job *rj = user;
    job *jb = rj->jb;
    if (rank == jb->kill_rank && round == jb->kill_round && kind == jb->kill_kind) fake_kill(&jb->net, rank);
}

static inline void on_round(const dc_fed_round *ev, void *user) {
    job *jb = user;
    if (jb->n_ev >= MAX_EV) return;
    jb->ev[jb->n_ev] = *ev;
    snprintf(jb->notes[jb->n_ev], sizeof jb->notes[0], "%s", ev->note ? ev->note : "");
    jb->n_ev++;
}

static inline void *run_rank(void *arg) {
    rank_job *rj = arg;
    rj->st = dc_federate(rj->m, rj->train, rj->test, &rj->cfg, rj->rank == 0 ? on_round : NULL, rj->jb, &rj->err);
    if (rj->rank == 0 && rj->st) // a failed server: end the clients' waits (the CLI aborts the job)
        for (int k = 1; k < rj->jb->size; k++) fake_kill(&rj->jb->net, k);
    return NULL;
}

// Runs cfg over `size` ranks. trains[rank] is each rank's training data
// (NULL entries: the shared `train`). Returns the server's status; its model
// is *out (the caller frees it).
typedef struct job_spec {
    int size;
    dc_fed_config cfg;
    arch_kind arch;
    const dc_dataset *train, *test;
    const dc_dataset *local[MAX_RANKS]; // per-rank data (cfg.local_data)
    int kill_rank, kill_round, kill_kind;
    // one rank started differently (0: none)
    int odd_rank;
    float odd_lr;
    arch_kind odd_arch;
} job_spec;

static inline dc_status run_job(const job_spec *sp, job *jb, dc_model **out, dc_error *err) {
    memset(jb, 0, sizeof *jb);
    jb->size = sp->size;
    jb->kill_rank = sp->kill_rank;
    jb->kill_round = sp->kill_round;
    jb->kill_kind = sp->kill_kind;
    fake_net_init(&jb->net, sp->size);
    pthread_t th[MAX_RANKS];
    for (int k = 0; k < sp->size; k++) {
        rank_job *rj = &jb->r[k];
        rj->jb = jb;
        rj->rank = k;
        rj->link = fake_link(&rj->end, &jb->net, k);
        rj->cfg = sp->cfg;
        rj->cfg.link = &rj->link;
        rj->cfg.round_timeout = 60; // a bug must not hang the test forever
        rj->cfg.server_timeout = 120;
        rj->cfg.nthreads = 1;
        rj->cfg.obs.sending = on_sending;
        rj->cfg.obs.user = rj;
        const bool odd = sp->odd_rank > 0 && sp->odd_rank == k;
        arch_kind a = odd ? sp->odd_arch : sp->arch;
        rj->m = make_model(a, sp->train);
        if (odd && sp->odd_lr > 0) rj->cfg.lr = sp->odd_lr;
        rj->train = sp->cfg.local_data ? (k == 0 ? NULL : sp->local[k]) : sp->train;
        rj->test = k == 0 ? sp->test : NULL;
        pthread_create(&th[k], NULL, run_rank, rj);
    }
    for (int k = 0; k < sp->size; k++) pthread_join(th[k], NULL);
    for (int k = 1; k < sp->size; k++) dc_model_free(jb->r[k].m);
    fake_net_free(&jb->net);
    *out = jb->r[0].m;
    if (err) *err = jb->r[0].err;
    return jb->r[0].st;
}

static inline dc_model *run_sim(const dc_fed_config *cfg, arch_kind a, const dc_dataset *tr, const dc_dataset *te) {
    dc_error err;
    dc_model *m = make_model(a, tr);
    dc_fed_config c = *cfg;
    c.nthreads = 1;
    if (dc_federate(m, tr, te, &c, NULL, NULL, &err)) {
        printf("simulation failed: %s\n", err.msg);
        exit(2);
    }
    return m;
}

static inline bool same_model(const dc_model *a, const dc_model *b) {
    return a->n_params == b->n_params && a->n_state == b->n_state &&
           !memcmp(a->params, b->params, sizeof(float) * a->n_params) &&
           (!a->n_state || !memcmp(a->state, b->state, sizeof(float) * a->n_state));
}

#endif
