// fed.c — federated learning (see fed.h for the round): the splits, one
// client's local training, the server's update, and the one-process
// simulation. Clients train in parallel on private copies of the weights
// and state (simulation), or on the ranks that host them (fed_mpi.c);
// either way every client's local run uses a random stream derived from
// (seed, round, client), and the server adds the contributions in client
// order, so one seed gives the same weights in both modes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "data/data.h"
#include "federated/fed_impl.h"
#include "federated/secagg.h"

enum { STREAM_SPLIT = 0x53504c, STREAM_SELECT = 0x53454c, STREAM_LOCAL = 0x4c4f43 };

dc_fed_config dc_fed_config_default(void) {
    dc_fed_config c;
    memset(&c, 0, sizeof c);
    c.clients = 100;
    c.split = DC_SPLIT_IID;
    c.alpha = 0.5;
    c.shards = 2;
    c.fraction = 0.1;
    c.local_epochs = 5;
    c.local_batch = 10;
    c.rounds = 50;
    c.algorithm = DC_FED_AVG;
    c.lr = 0.05f;
    c.server_lr = 1.0f;
    c.seed = 1;
    c.eval_every = 1;
    c.dp_clip = 1.0f;
    c.dp_delta = 1e-5;
    return c;
}

// ---------------------------------------------------------------------------
// Splits

// Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through a+1 and U^(1/a).
static double gamma_draw(dc_rng *r, double a) {
    if (a < 1.0) {
        double u = dc_rng_uniform(r);
        return gamma_draw(r, a + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = dc_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = dc_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

dc_status dc_fed_split(const dc_dataset *train, const dc_fed_config *cfg, int32_t **idx_out,
                       int **off_out, dc_error *err) {
    const int K = cfg->clients, n = train->n;
    if (K < 1 || K > n) return dc_fail(err, DC_ERR_ARG, "--clients %d: expected 1..%d (the training set size)", K, n);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    int *off = calloc((size_t)K + 1, sizeof(int));
    int *count = calloc((size_t)K, sizeof(int));
    if (!idx || !off || !count) {
        free(idx), free(off), free(count);
        return dc_fail(err, DC_ERR_NOMEM, "split: out of memory");
    }
    dc_rng r = dc_rng_stream(cfg->seed, STREAM_SPLIT, 0);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *owner = malloc(sizeof(int32_t) * (size_t)n); // client of each sample
    dc_status st = DC_OK;
    if (!perm || !owner) {
        st = dc_fail(err, DC_ERR_NOMEM, "split: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) perm[i] = i;
    if (cfg->split == DC_SPLIT_IID) {
        dc_rng_shuffle_i32(&r, perm, (size_t)n);
        for (int i = 0; i < n; i++) owner[perm[i]] = (int32_t)((long)i * K / n); // equal parts
    } else if (cfg->split == DC_SPLIT_SHARDS) {
        // McMahan et al. 2017: sort by label, cut into K*s shards, deal s to each
        const int S = K * cfg->shards;
        if (cfg->shards < 1 || S > n) {
            st = dc_fail(err, DC_ERR_ARG, "--partition shards:%d: needs 1 <= shards and clients*shards <= %d", cfg->shards, n);
            goto done;
        }
        // counting sort by label keeps the original order within a label
        int *first = calloc((size_t)train->n_classes + 1, sizeof(int));
        if (!first) {
            st = dc_fail(err, DC_ERR_NOMEM, "split: out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) first[train->labels[i] + 1]++;
        for (int c = 0; c < train->n_classes; c++) first[c + 1] += first[c];
        for (int i = 0; i < n; i++) perm[first[train->labels[i]]++] = i;
        free(first);
        int32_t *shard = malloc(sizeof(int32_t) * (size_t)S);
        if (!shard) {
            st = dc_fail(err, DC_ERR_NOMEM, "split: out of memory");
            goto done;
        }
        for (int s = 0; s < S; s++) shard[s] = s;
        dc_rng_shuffle_i32(&r, shard, (size_t)S);
        for (int j = 0; j < S; j++) {
            int s = shard[j];
            int lo = (int)((long)s * n / S), hi = (int)((long)(s + 1) * n / S);
            for (int i = lo; i < hi; i++) owner[perm[i]] = j / cfg->shards;
        }
        free(shard);
    } else {
        // Dirichlet label skew (Hsu et al. 2019): class c's samples are spread
        // over the clients in proportions p ~ Dir(alpha)
        if (!(cfg->alpha > 0)) {
            st = dc_fail(err, DC_ERR_ARG, "--partition dirichlet:%g: alpha must be > 0", cfg->alpha);
            goto done;
        }
        double *p = malloc(sizeof(double) * (size_t)K);
        if (!p) {
            st = dc_fail(err, DC_ERR_NOMEM, "split: out of memory");
            goto done;
        }
        dc_rng_shuffle_i32(&r, perm, (size_t)n);
        for (int c = 0; c < train->n_classes; c++) {
            double sum = 0;
            for (int k = 0; k < K; k++) sum += (p[k] = gamma_draw(&r, cfg->alpha));
            int nc = 0;
            for (int i = 0; i < n; i++) nc += train->labels[perm[i]] == c;
            // cumulative rounding: the counts add up to nc exactly
            double acc = 0;
            int k = 0, given = 0, seen = 0, limit = 0;
            acc = p[0] / sum;
            limit = (int)lround(acc * nc);
            for (int i = 0; i < n; i++) {
                if (train->labels[perm[i]] != c) continue;
                while (seen >= limit && k < K - 1) {
                    k++;
                    acc += p[k] / sum;
                    limit = k == K - 1 ? nc : (int)lround(acc * nc);
                }
                owner[perm[i]] = k;
                seen++;
                given++;
            }
            (void)given;
        }
        free(p);
    }
    for (int i = 0; i < n; i++) count[owner[i]]++;
    for (int k = 0; k < K; k++) off[k + 1] = off[k] + count[k];
    memset(count, 0, sizeof(int) * (size_t)K);
    for (int i = 0; i < n; i++) idx[off[owner[i]] + count[owner[i]]++] = i; // ascending within a client
done:
    free(perm);
    free(owner);
    free(count);
    if (st) {
        free(idx);
        free(off);
        return st;
    }
    *idx_out = idx;
    *off_out = off;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// One client's local work: from the global weights wg and state sg, train on
// its samples; leaves the update (w_k - wg) in upd and the client's state in
// wk->state.

static dc_status local_update(fed_work *wk, const fed_run *r, const int32_t *cidx, int cn, int round, int client,
                              float *upd, double *loss_out, dc_error *err) {
    const dc_model *m = r->m;
    const dc_fed_config *cfg = r->cfg;
    const dc_dataset *train = r->train;
    const float *wg = r->wg;
    const size_t P = r->P;
    memcpy(wk->params, wg, sizeof(float) * P);
    if (r->S) memcpy(wk->state, r->sg, sizeof(float) * r->S);
    double loss = 0;
    const int maxn = dc_runtime_max_batch(wk->rt);
    float *x = dc_runtime_input(wk->rt);
    if (cfg->algorithm == DC_FED_SGD) {
        // one gradient over all the client's data (in chunks), one step
        float *g = upd; // reuse as the accumulator
        memset(g, 0, sizeof(float) * P);
        int used = 0;
        for (int c0 = 0; c0 < cn; c0 += maxn) {
            int n = cn - c0 < maxn ? cn - c0 : maxn;
            if (n < r->min_batch) continue; // too small for BatchNorm
            dc_batch_gather(x, wk->y, train, cidx + c0, n, m->norm_mean, m->norm_std);
            memset(wk->grads, 0, sizeof(float) * P);
            loss += dc_runtime_train_step(wk->rt, n, wk->y, NULL, NULL, NULL) * n;
            for (size_t j = 0; j < P; j++) g[j] += wk->grads[j] * (float)n;
            used += n;
        }
        const float s = used ? -cfg->lr / (float)used : 0.0f;
        for (size_t j = 0; j < P; j++) upd[j] = g[j] * s;
        *loss_out = used ? loss / used : 0;
        return DC_OK;
    }
    const int B = cfg->local_batch < cn ? cfg->local_batch : cn;
    int steps = 0;
    for (int e = 0; e < cfg->local_epochs; e++) {
        memcpy(wk->perm, cidx, sizeof(int32_t) * (size_t)cn);
        dc_rng rs = dc_rng_stream(cfg->seed, STREAM_LOCAL + (uint64_t)e, (uint64_t)round * 1000003u + (uint64_t)client);
        dc_rng_shuffle_i32(&rs, wk->perm, (size_t)cn);
        for (int s0 = 0; s0 < cn; s0 += B) {
            int n = cn - s0 < B ? cn - s0 : B;
            if (n < r->min_batch) continue; // too small for BatchNorm
            dc_batch_gather(x, wk->y, train, wk->perm + s0, n, m->norm_mean, m->norm_std);
            memset(wk->grads, 0, sizeof(float) * P);
            double l = dc_runtime_train_step(wk->rt, n, wk->y, NULL, NULL, NULL);
            if (!isfinite(l))
                return dc_fail(err, DC_ERR_NUMERIC, "round %d, client %d: local loss is %s — try a smaller --lr",
                               round + 1, client, isnan(l) ? "NaN" : "Inf");
            loss += l;
            steps++;
            float *p = wk->params, *g = wk->grads;
            if (cfg->algorithm == DC_FED_PROX) // gradient of mu/2 |w - wg|^2
                for (size_t j = 0; j < P; j++) g[j] += cfg->mu * (p[j] - wg[j]);
            for (size_t j = 0; j < P; j++) p[j] -= cfg->lr * g[j];
        }
    }
    for (size_t j = 0; j < P; j++) upd[j] = wk->params[j] - wg[j];
    *loss_out = steps ? loss / steps : 0;
    return DC_OK;
}

int fed_select(const dc_fed_config *cfg, int round, int32_t *sel) {
    const int K = cfg->clients;
    int m = (int)lround(cfg->fraction * K);
    if (m < 1) m = 1;
    if (m > K) m = K;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)K);
    DC_ASSERT(all);
    for (int k = 0; k < K; k++) all[k] = k;
    dc_rng r = dc_rng_stream(cfg->seed, STREAM_SELECT, (uint64_t)round);
    dc_rng_shuffle_i32(&r, all, (size_t)K);
    // ascending client order, so the server adds contributions in a fixed order
    char *pick = calloc((size_t)K, 1);
    DC_ASSERT(pick);
    for (int i = 0; i < m; i++) pick[all[i]] = 1;
    int j = 0;
    for (int k = 0; k < K; k++)
        if (pick[k]) sel[j++] = k;
    free(pick);
    free(all);
    return m;
}

int fed_sim_drops(const dc_fed_config *cfg, int round, int nsel, bool *dropped) {
    int ndrop = 0;
    dc_rng dr = dc_rng_stream(cfg->seed, 0x44524f50, (uint64_t)round);
    for (int i = 0; i < nsel; i++) {
        dropped[i] = cfg->dropout > 0 && dc_rng_uniform(&dr) < cfg->dropout;
        ndrop += dropped[i];
    }
    return ndrop;
}

int fed_threshold(const dc_fed_config *cfg, int count) {
    int t = cfg->secagg_threshold > 0 ? cfg->secagg_threshold : (2 * count + 2) / 3;
    return t < 2 ? 2 : t;
}

static void clip_l2(float *v, size_t n, float S) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (double)v[j] * v[j];
    double norm = sqrt(s);
    if (norm > S) {
        float f = (float)(S / norm);
        for (size_t j = 0; j < n; j++) v[j] *= f;
    }
}

dc_status fed_train(fed_run *r, int round, const int32_t *clients, int n, float *const *out, dc_error *err) {
    memcpy(r->wg, r->m->params, sizeof(float) * r->P);
    if (r->S) memcpy(r->sg, r->m->state, sizeof(float) * r->S);
    DC_ASSERT(r->T > 0 || n == 0);
    const size_t P = r->P, S = r->S;
    const dc_fed_config *cfg = r->cfg;
    dc_status lst = DC_OK;
    dc_error lerr;
#pragma omp parallel for num_threads(r->T > 0 ? r->T : 1) schedule(dynamic, 1) if (r->T > 1)
    for (int i = 0; i < n; i++) {
        const int k = clients[i], cn = r->off[k + 1] - r->off[k];
        float *o = out[i];
        if (cn == 0) { // a client with no data contributes nothing
            memset(o, 0, sizeof(float) * r->N);
            continue;
        }
        fed_work *w = &r->wk[omp_get_thread_num()];
        double l;
        dc_error e;
        dc_status s1 = local_update(w, r, r->idx + r->off[k], cn, round, k, o, &l, &e);
        if (s1) {
#pragma omp critical(dc_fed_train_err)
            if (!lst) {
                lst = s1;
                lerr = e;
            }
            continue;
        }
        if (cfg->obs.local) cfg->obs.local(cfg->obs.user, round, k, cn, w->params, w->state);
        // weighted by sample count, or clipped for client-level DP
        if (cfg->client_dp) {
            clip_l2(o, P, cfg->dp_clip);
        } else {
            for (size_t j = 0; j < P; j++) o[j] *= (float)cn;
            for (size_t j = 0; j < S; j++) o[P + j] = (w->state[j] - r->sg[j]) * (float)cn;
        }
    }
    if (lst && err) *err = lerr;
    return lst;
}

void fed_keep(fed_run *r) {
    memcpy(r->m->params, r->wg, sizeof(float) * r->P);
    if (r->S) memcpy(r->m->state, r->sg, sizeof(float) * r->S);
}

dc_status fed_apply(fed_run *r, int round, double wsum, dc_error *err) {
    const dc_fed_config *cfg = r->cfg;
    dc_model *m = r->m;
    const size_t P = r->P, S = r->S;
    float *acc = r->acc;
    double denom = wsum;
    if (cfg->client_dp) {
        // DP-FedAvg: noise on the sum of clipped updates, fixed denominator
        const double sd = cfg->dp_sigma * cfg->dp_clip;
        for (size_t j = 0; j < P; j++) acc[j] += (float)(sd * dc_csprng_normal(&r->noise));
        denom = cfg->fraction * r->K;
    }
    const float inv = denom > 0 ? (float)(1.0 / denom) : 0.0f;
    for (size_t j = 0; j < P; j++) {
        r->v[j] = cfg->server_momentum * r->v[j] + acc[j] * inv;
        m->params[j] = r->wg[j] + cfg->server_lr * r->v[j];
    }
    // the running statistics: the sample-weighted mean of the clients' (no
    // server learning rate or momentum: they are not gradients)
    const float inv_s = wsum > 0 ? (float)(1.0 / wsum) : 0.0f;
    for (size_t j = 0; j < S; j++) m->state[j] = r->sg[j] + acc[P + j] * inv_s;
    for (int c = 0; c < r->n_counters; c++) m->state[r->counters[c]] = roundf(m->state[r->counters[c]]);
    // a diverged global model stops the run (and is never saved)
    size_t bad = 0;
    for (size_t j = 0; j < P; j++) bad += !isfinite(m->params[j]);
    for (size_t j = 0; j < S; j++) bad += !isfinite(m->state[j]);
    if (bad)
        return dc_fail(err, DC_ERR_NUMERIC,
                       "federated training diverged in round %d: %zu of the %zu global weights and statistics are "
                       "NaN or Inf — try a smaller --lr or --server-lr (with --client-dp: less noise)",
                       round + 1, bad, P + S);
    return DC_OK;
}

dc_status fed_evaluate(fed_run *r, int round, dc_fed_round *ev, dc_error *err) {
    const dc_fed_config *cfg = r->cfg;
    if (r->test && r->test->n > 0 &&
        ((round + 1) % (cfg->eval_every > 0 ? cfg->eval_every : 1) == 0 || round + 1 == cfg->rounds)) {
        dc_eval_result e;
        dc_status st = dc_evaluate(r->m, r->test, 1000, cfg->nthreads, &e, err);
        if (st) return st;
        ev->test_acc = e.accuracy;
        ev->test_loss = e.loss;
        dc_eval_result_free(&e);
        if (!isfinite(ev->test_loss)) // finite but huge weights can overflow every forward
            return dc_fail(err, DC_ERR_NUMERIC,
                           "federated training diverged in round %d: the test loss is %s — try a smaller --lr "
                           "or --server-lr (with --client-dp: less noise)",
                           round + 1, isnan(ev->test_loss) ? "NaN" : "Inf");
    }
    if (cfg->client_dp) ev->epsilon = dc_rdp_epsilon(cfg->fraction, cfg->dp_sigma, round + 1, cfg->dp_delta, NULL);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// One run's buffers

void fed_run_free(fed_run *r) {
    for (int t = 0; r->wk && t < r->T; t++) {
        dc_runtime_free(r->wk[t].rt);
        dc_free(r->wk[t].params);
        dc_free(r->wk[t].grads);
        dc_free(r->wk[t].state);
        free(r->wk[t].perm);
        free(r->wk[t].y);
    }
    free(r->wk);
    dc_free(r->wg);
    dc_free(r->sg);
    dc_free(r->v);
    dc_free(r->acc);
    free(r->idx);
    free(r->off);
    free(r->count);
    free(r->counters);
    dc_csprng_wipe(&r->noise);
    memset(r, 0, sizeof *r);
}

dc_status fed_run_init(fed_run *r, dc_model *m, const dc_dataset *train, const dc_dataset *test,
                       const dc_fed_config *cfg, bool trains, bool serves, dc_error *err) {
    memset(r, 0, sizeof *r);
    const dc_link *link = cfg->link && cfg->link->size > 1 ? cfg->link : NULL;
    if (train && (train->c != m->in_c || train->h != m->in_h || train->w != m->in_w))
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d",
                       train->source, train->c, train->h, train->w, m->in_c, m->in_h, m->in_w);
    dc_status st = train ? dc_dataset_check_labels(train, m->n_classes, err) : DC_OK;
    if (st) return st;
    if (!train && (!link || !cfg->local_data || link->rank != 0))
        return dc_fail(err, DC_ERR_ARG, "federate: no training data (only the server of a run over per-rank data has none)");
    if (cfg->rounds < 1 || cfg->local_epochs < 1 || cfg->local_batch < 1 || !(cfg->lr > 0) ||
        !(cfg->fraction > 0 && cfg->fraction <= 1) || cfg->mu < 0 || !(cfg->server_lr > 0) ||
        cfg->server_momentum < 0 || cfg->server_momentum >= 1 || cfg->dropout < 0 || cfg->dropout >= 1)
        return dc_fail(err, DC_ERR_ARG,
                       "federate: needs rounds, local epochs, local batch >= 1, lr > 0, fraction in (0,1], mu >= 0, "
                       "server lr > 0, server momentum in [0,1), dropout in [0,1)");
    if (cfg->client_dp && (!(cfg->dp_clip > 0) || !(cfg->dp_sigma >= 0) || !(cfg->dp_delta > 0 && cfg->dp_delta < 1)))
        return dc_fail(err, DC_ERR_ARG, "federate --client-dp: needs clip > 0, noise >= 0, delta in (0,1)");
    if (cfg->client_dp && m->n_state > 0) {
        const dc_node *bn = dc_model_coupled_node(m);
        return dc_fail(err, DC_ERR_ARG,
                       "federate --client-dp: layer %s (%s) keeps running statistics that would be averaged "
                       "without clipping or noise, outside the privacy guarantee; use groupnorm or layernorm instead",
                       bn ? bn->name : "?", bn ? bn->op->kind : "state");
    }
    if (cfg->dropout > 0 && !cfg->secure_agg)
        return dc_fail(err, DC_ERR_ARG, "federate: --dropout simulates clients lost during secure aggregation; it needs --secure-agg");
    if (cfg->secure_agg && lround(cfg->fraction * cfg->clients) < 2)
        return dc_fail(err, DC_ERR_ARG, "federate --secure-agg: needs at least 2 clients per round (fraction * clients >= 2)");
    if (cfg->local_data && (!link || cfg->clients != link->size - 1))
        return dc_fail(err, DC_ERR_ARG, "federate: per-rank data needs a run over ranks with one client per client rank "
                                        "(clients %d, ranks %d)", cfg->clients, link ? link->size : 1);
    if (link && link->size - 1 > cfg->clients)
        return dc_fail(err, DC_ERR_ARG, "federate: %d client ranks for only %d clients", link->size - 1, cfg->clients);
    r->m = m;
    r->train = train;
    r->test = test;
    r->cfg = cfg;
    r->K = cfg->clients;
    r->P = m->n_params;
    r->S = m->n_state;
    r->N = r->P + r->S;
    r->min_batch = dc_model_min_train_batch(m);
    const int K = r->K;
    if (!cfg->local_data) {
        if ((st = dc_fed_split(train, cfg, &r->idx, &r->off, err))) return st;
    } else {
        // one client per client rank, all of its data: client k = rank - 1
        r->off = calloc((size_t)K + 1, sizeof(int));
        r->idx = malloc(sizeof(int32_t) * (size_t)(train && train->n > 0 ? train->n : 1));
        if (!r->off || !r->idx) {
            fed_run_free(r);
            return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        }
        const int me = link->rank - 1;
        for (int i = 0; train && i < train->n; i++) r->idx[i] = i;
        for (int k = 0; k < K; k++) r->off[k + 1] = r->off[k] + (k == me && train ? train->n : 0);
    }
    r->count = calloc((size_t)K, sizeof(int));
    r->maxsel = (int)lround(cfg->fraction * K);
    if (r->maxsel < 1) r->maxsel = 1;
    if (r->maxsel > K) r->maxsel = K;
    r->wg = dc_alloc(sizeof(float) * (r->P ? r->P : 1));
    r->sg = dc_alloc(sizeof(float) * (r->S ? r->S : 1));
    r->v = dc_alloc(sizeof(float) * (r->P ? r->P : 1));
    r->acc = dc_alloc(sizeof(float) * (r->N ? r->N : 1));
    int nc = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int t = 0; t < m->nodes[i].n_t; t++) nc += m->nodes[i].t[t].buf == DC_BUF_STATE && m->nodes[i].t[t].int64_on_disk;
    r->counters = malloc(sizeof(size_t) * (size_t)(nc ? nc : 1));
    if (!r->count || !r->wg || !r->sg || !r->v || !r->acc || !r->counters) {
        fed_run_free(r);
        return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    }
    for (int i = 0; i < m->n_nodes; i++)
        for (int t = 0; t < m->nodes[i].n_t; t++) {
            const dc_tensor_ref *tr = &m->nodes[i].t[t];
            if (tr->buf == DC_BUF_STATE && tr->int64_on_disk)
                for (size_t e = 0; e < tr->n; e++) r->counters[r->n_counters++] = tr->off + e;
        }
    for (int k = 0; k < K; k++) r->count[k] = r->off[k + 1] - r->off[k];
    if (trains) {
        int maxc = 0;
        for (int k = 0; k < K; k++) maxc = r->count[k] > maxc ? r->count[k] : maxc;
        int T = cfg->nthreads > 0 ? cfg->nthreads : dc_default_threads();
        if (T > r->maxsel) T = r->maxsel;
        r->wk = calloc((size_t)T, sizeof(fed_work));
        if (!r->wk) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        else r->T = T;
        const int rtn = cfg->algorithm == DC_FED_SGD ? 256 : cfg->local_batch;
        for (int t = 0; !st && t < T; t++) {
            fed_work *w = &r->wk[t];
            w->params = dc_alloc(sizeof(float) * (r->P ? r->P : 1));
            w->grads = dc_alloc(sizeof(float) * (r->P ? r->P : 1));
            w->state = dc_alloc(sizeof(float) * (r->S ? r->S : 1));
            w->perm = malloc(sizeof(int32_t) * (size_t)(maxc > 0 ? maxc : 1));
            w->y = malloc(sizeof(int32_t) * (size_t)rtn);
            if (!w->params || !w->grads || !w->state || !w->perm || !w->y)
                st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
            dc_graph g = dc_model_graph(m);
            if (!st) st = dc_runtime_new(&w->rt, &g, rtn, DC_MODE_TRAIN, DC_RT_BACKWARD, 1, err);
            if (!st) dc_runtime_bind(w->rt, w->params, w->grads, r->S ? w->state : NULL);
        }
    }
    if (!st && serves && cfg->client_dp) {
        st = dc_csprng_init(&r->noise, cfg->dp_seeded, cfg->dp_seed, err);
        r->noise_ready = !st;
    }
    if (st) fed_run_free(r);
    return st;
}

// ---------------------------------------------------------------------------
// The simulation

// Secure aggregation of `count` contributions (n floats each) of which the
// clients flagged in dropped[] never deliver: the sum of the survivors'.
static dc_status secure_sum(const dc_fed_config *cfg, float *const *vecs, int count, const bool *dropped,
                            size_t n, int round, float *sum, double *bytes_up, double *bytes_down,
                            dc_error *err);

static dc_status simulate(fed_run *r, dc_fed_callback cb, void *user, dc_error *err) {
    const dc_fed_config *cfg = r->cfg;
    const size_t N = r->N;
    const int maxsel = r->maxsel;
    float **upd = calloc((size_t)maxsel, sizeof(float *));
    int32_t *sel = malloc(sizeof(int32_t) * (size_t)maxsel), *todo = malloc(sizeof(int32_t) * (size_t)maxsel);
    float **out = calloc((size_t)maxsel, sizeof(float *));
    bool *dropped = calloc((size_t)maxsel, sizeof(bool));
    dc_status st = DC_OK;
    if (!upd || !sel || !todo || !out || !dropped) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; !st && i < maxsel; i++)
        if (!(upd[i] = dc_alloc(sizeof(float) * (N ? N : 1)))) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int round = 0; !st && round < cfg->rounds; round++) {
        double t0 = dc_now_seconds();
        int nsel = fed_select(cfg, round, sel);
        int ndrop = fed_sim_drops(cfg, round, nsel, dropped);
        // local training of the clients that will deliver (a client that
        // drops out would have trained for nothing)
        int ntodo = 0;
        for (int i = 0; i < nsel; i++)
            if (!dropped[i]) {
                todo[ntodo] = sel[i];
                out[ntodo++] = upd[i];
            }
        if ((st = fed_train(r, round, todo, ntodo, out, err))) break;
        double wsum = 0;
        for (int i = 0; i < nsel; i++)
            if (!dropped[i]) wsum += r->count[sel[i]];
        // secure aggregation needs t survivors to remove the masks; with fewer,
        // the round is lost (the global model stays as it was), as in a real
        // deployment, and the log says so
        const bool lost = cfg->secure_agg && nsel - ndrop < fed_threshold(cfg, nsel);
        double sa_up = -1, sa_down = -1; // secure aggregation's own traffic, when it ran
        if (lost) {
            fed_keep(r);
        } else {
            if (cfg->secure_agg) {
                st = secure_sum(cfg, upd, nsel, dropped, N, round, r->acc, &sa_up, &sa_down, err);
            } else {
                memset(r->acc, 0, sizeof(float) * N);
                for (int i = 0; i < nsel; i++) // client order: fixed
                    if (!dropped[i])
                        for (size_t j = 0; j < N; j++) r->acc[j] += upd[i][j];
            }
            if (!st) st = fed_apply(r, round, wsum, err);
            if (st) break;
        }
        dc_fed_round ev = {.round = round + 1, .rounds = cfg->rounds, .selected = nsel, .dropped = ndrop,
                           .lost = lost, .test_acc = -1, .test_loss = -1, .epsilon = -1};
        ev.bytes_down = (double)nsel * (double)N * 4; // the global model to each selected client
        ev.bytes_up = (double)(nsel - ndrop) * (double)N * 4;
        if (sa_up >= 0) { // plus the protocol: masked words instead of floats, keys, shares
            ev.bytes_up = sa_up;
            ev.bytes_down += sa_down;
        }
        if ((st = fed_evaluate(r, round, &ev, err))) break;
        ev.seconds = dc_now_seconds() - t0;
        if (cb) cb(&ev, user);
    }
    for (int i = 0; upd && i < maxsel; i++) dc_free(upd[i]);
    free(upd);
    free(sel);
    free(todo);
    free(out);
    free(dropped);
    return st;
}

dc_status dc_federate(dc_model *m, const dc_dataset *train, const dc_dataset *test,
                      const dc_fed_config *cfg, dc_fed_callback cb, void *user, dc_error *err) {
    if (dc_model_tabular_features(m))
        return dc_fail(err, DC_ERR_UNSUPPORTED,
                       "federate: the model has a tabular input; federated training takes image-only models");
    const dc_link *link = cfg->link && cfg->link->size > 1 ? cfg->link : NULL;
    const bool server = !link || link->rank == 0;
    fed_run r;
    dc_status st = fed_run_init(&r, m, train, server ? test : NULL, cfg, !link || link->rank != 0, server, err);
    if (st) return st;
    if (!link) st = simulate(&r, cb, user, err);
    else if (server) st = fed_serve(&r, cb, user, err);
    else st = fed_host(&r, err);
    fed_run_free(&r);
    return st;
}

dc_secagg_params dc_fed_secagg_params(const dc_fed_config *cfg, int count, size_t n, int round) {
    dc_secagg_params p = dc_secagg_params_default(count, fed_threshold(cfg, count), n);
    p.round = (uint64_t)round;
    p.nthreads = cfg->nthreads;
    // clipped updates have a tight public bound; otherwise n_k * (delta)
    // must fit, BatchNorm's counters (local steps times n_k) included
    p.clip = cfg->client_dp ? cfg->dp_clip : DC_FED_SECAGG_RANGE;
    // Keys, self-mask seeds and pairwise masks always come from the OS CSPRNG
    // (libsodium's randombytes), never from --seed or --dp-seed: those are
    // public, and masks derived from them would hide nothing. Reproducibility
    // does not need them: the masks cancel exactly, so the aggregate (and the
    // trained model) is the same whatever keys were drawn.
    p.insecure_test_seed = false;
    return p;
}

// The whole protocol of secagg.h for one round, simulated in this process:
// each client masks its fixed-point contribution with pairwise and self
// masks, the server adds the masked vectors it receives, and unmasking uses
// secret shares from the survivors (threshold t: two thirds of the selected
// clients by default). The server code path never holds an unmasked
// contribution.
static dc_status secure_sum(const dc_fed_config *cfg, float *const *vecs, int count, const bool *dropped,
                            size_t n, int round, float *sum, double *bytes_up, double *bytes_down,
                            dc_error *err) {
    dc_secagg_params p = dc_fed_secagg_params(cfg, count, n, round);
    dc_secagg_stats stats;
    const float **v = malloc(sizeof *v * (size_t)count);
    if (!v) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; i < count; i++) v[i] = dropped[i] ? NULL : vecs[i];
    dc_status st = dc_secagg_simulate(&p, v, dropped, sum, NULL, &stats, err);
    free(v);
    if (!st) { // masked 8-byte words, public keys and encrypted shares
        *bytes_up = stats.bytes_up;
        *bytes_down = stats.bytes_down;
    }
    if (!st && stats.clipped > 0)
        return dc_fail(err, DC_ERR_NUMERIC,
                       "round %d: %ld contribution values exceeded the fixed-point range of secure aggregation "
                       "(|v| <= %g): lower --lr or use --client-dp",
                       round + 1, (long)stats.clipped, p.clip);
    return st;
}
