// fed.c — federated learning (see fed.h for the round). Clients train one
// after another on the model's own buffers (simulation), or on the ranks
// that host them (MPI); either way every client's local run uses a random
// stream derived from (seed, round, client), and the server adds the updates
// in client order, so one seed gives the same weights in both modes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "data/data.h"
#include "federated/fed.h"
#include "model/model.h"
#include "privacy/csprng.h"
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
            st = dc_fail(err, DC_ERR_ARG, "--split shards:%d: needs 1 <= shards and clients*shards <= %d", cfg->shards, n);
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
            st = dc_fail(err, DC_ERR_ARG, "--split dirichlet:%g: alpha must be > 0", cfg->alpha);
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
// One client's local work: from the global weights wg, train on its samples
// and leave the update (w_k - wg) in upd.

// One worker thread's private state: its own parameter and gradient
// buffers bound to a single-threaded runtime over the model's graph. Clients
// are spread over the workers; each client's result does not depend on which
// worker ran it, so the thread count never changes the weights.
typedef struct fed_work {
    float *params, *grads;
    dc_runtime *rt;
    int32_t *perm, *y;
} fed_work;

static dc_status local_update(fed_work *wk, const dc_model *m, const dc_dataset *train, const int32_t *cidx,
                              int cn, const float *wg, const dc_fed_config *cfg, int round, int client,
                              float *upd, double *loss_out, dc_error *err) {
    const size_t P = m->n_params;
    memcpy(wk->params, wg, sizeof(float) * P);
    double loss = 0;
    const int maxn = dc_runtime_max_batch(wk->rt);
    float *x = dc_runtime_input(wk->rt);
    if (cfg->algorithm == DC_FED_SGD) {
        // one gradient over all the client's data (in chunks), one step
        float *g = upd; // reuse as the accumulator
        memset(g, 0, sizeof(float) * P);
        for (int c0 = 0; c0 < cn; c0 += maxn) {
            int n = cn - c0 < maxn ? cn - c0 : maxn;
            dc_batch_gather(x, wk->y, train, cidx + c0, n, m->norm_mean, m->norm_std);
            memset(wk->grads, 0, sizeof(float) * P);
            loss += dc_runtime_train_step(wk->rt, n, wk->y, NULL, NULL, NULL) * n;
            for (size_t j = 0; j < P; j++) g[j] += wk->grads[j] * (float)n;
        }
        const float s = -cfg->lr / (float)cn;
        for (size_t j = 0; j < P; j++) upd[j] = g[j] * s;
        *loss_out = loss / cn;
        return DC_OK;
    }
    const int B = cfg->local_batch < cn ? cfg->local_batch : cn;
    int steps = 0;
    for (int e = 0; e < cfg->local_epochs; e++) {
        memcpy(wk->perm, cidx, sizeof(int32_t) * (size_t)cn);
        dc_rng r = dc_rng_stream(cfg->seed, STREAM_LOCAL + (uint64_t)e, (uint64_t)round * 1000003u + (uint64_t)client);
        dc_rng_shuffle_i32(&r, wk->perm, (size_t)cn);
        for (int s0 = 0; s0 < cn; s0 += B) {
            int n = cn - s0 < B ? cn - s0 : B;
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

// Which clients take part in round r: the same on every rank.
static int select_clients(const dc_fed_config *cfg, int round, int32_t *sel) {
    const int K = cfg->clients;
    int m = (int)lround(cfg->fraction * K);
    if (m < 1) m = 1;
    if (m > K) m = K;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)K);
    DC_ASSERT(all);
    for (int k = 0; k < K; k++) all[k] = k;
    dc_rng r = dc_rng_stream(cfg->seed, STREAM_SELECT, (uint64_t)round);
    dc_rng_shuffle_i32(&r, all, (size_t)K);
    // ascending client order, so the server adds updates in a fixed order
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

static void clip_l2(float *v, size_t n, float S) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (double)v[j] * v[j];
    double norm = sqrt(s);
    if (norm > S) {
        float f = (float)(S / norm);
        for (size_t j = 0; j < n; j++) v[j] *= f;
    }
}

// ---------------------------------------------------------------------------
// The server loop

// Secure aggregation of `count` vectors (n floats each) of which the clients
// flagged in dropped[] never deliver: the sum of the survivors' vectors.
static dc_status secure_sum(const dc_fed_config *cfg, float *const *vecs, int count, const bool *dropped,
                            size_t n, int round, float *sum, double *bytes_up, double *bytes_down,
                            dc_error *err);

typedef struct fed_state {
    float *wg;        // (P) global weights at the start of the round
    float *v;         // (P) server momentum
    float *acc;       // (P) aggregate
    float **upd;      // (selected) per-client updates
    int32_t *sel;     // (K) selected clients
    bool *dropped;    // (K)
} fed_state;

dc_status dc_federate(dc_model *m, const dc_dataset *train, const dc_dataset *test,
                      const dc_fed_config *cfg, dc_fed_callback cb, void *user, dc_error *err) {
    if (train->c != m->in_c || train->h != m->in_h || train->w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d",
                       train->source, train->c, train->h, train->w, m->in_c, m->in_h, m->in_w);
    dc_status st = dc_dataset_check_labels(train, m->n_classes, err);
    if (st) return st;
    if (cfg->rounds < 1 || cfg->local_epochs < 1 || cfg->local_batch < 1 || !(cfg->lr > 0) ||
        !(cfg->fraction > 0 && cfg->fraction <= 1) || cfg->mu < 0 || !(cfg->server_lr > 0) ||
        cfg->server_momentum < 0 || cfg->server_momentum >= 1 || cfg->dropout < 0 || cfg->dropout >= 1)
        return dc_fail(err, DC_ERR_ARG,
                       "federate: needs rounds, local epochs, local batch >= 1, lr > 0, fraction in (0,1], mu >= 0, "
                       "server lr > 0, server momentum in [0,1), dropout in [0,1)");
    if (cfg->client_dp && (!(cfg->dp_clip > 0) || !(cfg->dp_sigma >= 0) || !(cfg->dp_delta > 0 && cfg->dp_delta < 1)))
        return dc_fail(err, DC_ERR_ARG, "federate --client-dp: needs clip > 0, noise >= 0, delta in (0,1)");
    if (cfg->dropout > 0 && !cfg->secure_agg)
        return dc_fail(err, DC_ERR_ARG, "federate: --dropout simulates clients lost during secure aggregation; it needs --secure-agg");
    if (cfg->secure_agg && lround(cfg->fraction * cfg->clients) < 2)
        return dc_fail(err, DC_ERR_ARG, "federate --secure-agg: needs at least 2 clients per round (fraction * clients >= 2)");
    const dc_comm *comm = cfg->comm && cfg->comm->size > 1 ? cfg->comm : NULL;
    if (comm && (cfg->secure_agg || cfg->client_dp))
        return dc_fail(err, DC_ERR_UNSUPPORTED, "federate over MPI: --secure-agg and --client-dp run in the single-process simulation only");
    int32_t *idx = NULL;
    int *off = NULL;
    if ((st = dc_fed_split(train, cfg, &idx, &off, err))) return st;
    const int K = cfg->clients;
    const size_t P = m->n_params;
    const int rank = comm ? comm->rank : 0;
    int maxc = 0;
    for (int k = 0; k < K; k++)
        if (off[k + 1] - off[k] > maxc) maxc = off[k + 1] - off[k];
    fed_state fs;
    memset(&fs, 0, sizeof fs);
    int T = cfg->nthreads > 0 ? cfg->nthreads : dc_default_threads();
    int maxsel = (int)lround(cfg->fraction * K);
    if (maxsel < 1) maxsel = 1;
    if (T > maxsel) T = maxsel;
    fed_work *wk = calloc((size_t)T, sizeof(fed_work));
    fs.wg = dc_alloc(sizeof(float) * P);
    fs.v = dc_alloc(sizeof(float) * P);
    fs.acc = dc_alloc(sizeof(float) * P);
    fs.upd = calloc((size_t)maxsel, sizeof(float *));
    fs.sel = malloc(sizeof(int32_t) * (size_t)K);
    fs.dropped = calloc((size_t)K, sizeof(bool));
    const int rtn = cfg->algorithm == DC_FED_SGD ? 256 : cfg->local_batch;
    if (!wk || !fs.wg || !fs.v || !fs.acc || !fs.upd || !fs.sel || !fs.dropped)
        st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; !st && i < maxsel; i++)
        if (!(fs.upd[i] = dc_alloc(sizeof(float) * P))) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int t = 0; !st && t < T; t++) {
        fed_work *w = &wk[t];
        w->params = dc_alloc(sizeof(float) * (P ? P : 1));
        w->grads = dc_alloc(sizeof(float) * (P ? P : 1));
        w->perm = malloc(sizeof(int32_t) * (size_t)(maxc > 0 ? maxc : 1));
        w->y = malloc(sizeof(int32_t) * (size_t)rtn);
        if (!w->params || !w->grads || !w->perm || !w->y) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        dc_graph g = dc_model_graph(m);
        if (!st) st = dc_runtime_new(&w->rt, &g, rtn, DC_MODE_TRAIN, DC_RT_BACKWARD, 1, err);
        if (!st) dc_runtime_bind(w->rt, w->params, w->grads, m->state);
    }
    dc_csprng noise;
    memset(&noise, 0, sizeof noise);
    if (!st && cfg->client_dp) st = dc_csprng_init(&noise, cfg->dp_seeded, cfg->dp_seed, err);
    for (int round = 0; !st && round < cfg->rounds; round++) {
        double t0 = dc_now_seconds();
        memcpy(fs.wg, m->params, sizeof(float) * P);
        int nsel = select_clients(cfg, round, fs.sel);
        // simulated drop-outs (secure aggregation must survive them)
        int ndrop = 0;
        dc_rng dr = dc_rng_stream(cfg->seed, 0x44524f50, (uint64_t)round);
        for (int i = 0; i < nsel; i++) {
            fs.dropped[i] = cfg->dropout > 0 && dc_rng_uniform(&dr) < cfg->dropout;
            ndrop += fs.dropped[i];
        }
        double wsum = 0;
        // local training: the clients this process hosts, spread over threads
        dc_status lst = DC_OK;
        dc_error lerr;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (T > 1)
        for (int i = 0; i < nsel; i++) {
            int k = fs.sel[i], cn = off[k + 1] - off[k];
            int host = comm ? 1 + k % (comm->size - 1) : 0;
            if (comm && comm->rank != host) continue;
            if (cn == 0) { // a client with no data contributes nothing
                memset(fs.upd[i], 0, sizeof(float) * P);
                continue;
            }
            fed_work *w = &wk[omp_get_thread_num()];
            double l;
            dc_error e;
            dc_status s1 = local_update(w, m, train, idx + off[k], cn, fs.wg, cfg, round, k, fs.upd[i], &l, &e);
            if (s1) {
#pragma omp critical
                if (!lst) {
                    lst = s1;
                    lerr = e;
                }
                continue;
            }
            // weighted by sample count, or clipped for client-level DP
            if (cfg->client_dp) clip_l2(fs.upd[i], P, cfg->dp_clip);
            else
                for (size_t j = 0; j < P; j++) fs.upd[i][j] *= (float)cn;
        }
        if (lst) {
            st = lst;
            if (err) *err = lerr;
            break;
        }
        // client ranks report to the server, in client order
        for (int i = 0; comm && !st && i < nsel; i++) {
            int k = fs.sel[i];
            int host = 1 + k % (comm->size - 1);
            if (off[k + 1] - off[k] == 0) continue;
            if (comm->rank == host) st = comm->send(comm->ctx, 0, fs.upd[i], P, err);
            else if (comm->rank == 0) st = comm->recv(comm->ctx, host, fs.upd[i], P, err);
        }
        if (st) break;
        for (int i = 0; i < nsel; i++)
            if (!fs.dropped[i]) wsum += off[fs.sel[i] + 1] - off[fs.sel[i]];
        // secure aggregation needs t survivors to remove the masks; with fewer,
        // the round is lost (the global model stays as it was), as in a real
        // deployment, and the log says so
        bool lost = false;
        double sa_up = -1, sa_down = -1; // secure aggregation's own traffic, when it ran
        if (cfg->secure_agg) {
            int t = cfg->secagg_threshold > 0 ? cfg->secagg_threshold : (2 * nsel + 2) / 3;
            if (t < 2) t = 2;
            lost = nsel - ndrop < t;
        }
        if (rank == 0 && lost) {
            memcpy(m->params, fs.wg, sizeof(float) * P);
        } else if (rank == 0) {
            if (cfg->secure_agg) {
                st = secure_sum(cfg, fs.upd, nsel, fs.dropped, P, round, fs.acc, &sa_up, &sa_down, err);
                if (st) break;
            } else {
                memset(fs.acc, 0, sizeof(float) * P);
                for (int i = 0; i < nsel; i++) // client order: fixed
                    if (!fs.dropped[i])
                        for (size_t j = 0; j < P; j++) fs.acc[j] += fs.upd[i][j];
            }
            double denom = wsum;
            if (cfg->client_dp) {
                // DP-FedAvg: noise on the sum of clipped updates, fixed denominator
                const double sd = cfg->dp_sigma * cfg->dp_clip;
                for (size_t j = 0; j < P; j++) fs.acc[j] += (float)(sd * dc_csprng_normal(&noise));
                denom = cfg->fraction * K;
            }
            const float inv = denom > 0 ? (float)(1.0 / denom) : 0.0f;
            for (size_t j = 0; j < P; j++) {
                fs.v[j] = cfg->server_momentum * fs.v[j] + fs.acc[j] * inv;
                m->params[j] = fs.wg[j] + cfg->server_lr * fs.v[j];
            }
        } else {
            memcpy(m->params, fs.wg, sizeof(float) * P);
        }
        if (rank == 0) { // a diverged global model stops the run (and is never saved)
            size_t bad = 0;
            for (size_t j = 0; j < P; j++) bad += !isfinite(m->params[j]);
            if (bad) {
                st = dc_fail(err, DC_ERR_NUMERIC,
                             "federated training diverged in round %d: %zu of the %zu global weights are NaN or "
                             "Inf — try a smaller --lr or --server-lr (with --client-dp: less noise)",
                             round + 1, bad, P);
                break;
            }
        }
        if (comm && (st = comm->bcast(comm->ctx, m->params, P, 0, err))) break;
        dc_fed_round ev = {.round = round + 1, .rounds = cfg->rounds, .selected = nsel, .dropped = ndrop,
                           .lost = lost, .test_acc = -1, .test_loss = -1, .epsilon = -1};
        ev.bytes_down = (double)nsel * P * 4; // the global model to each selected client
        ev.bytes_up = (double)(nsel - ndrop) * P * 4;
        if (sa_up >= 0) { // plus the protocol: masked words instead of floats, keys, shares
            ev.bytes_up = sa_up;
            ev.bytes_down += sa_down;
        }
        if (rank == 0 && test && test->n > 0 &&
            ((round + 1) % (cfg->eval_every > 0 ? cfg->eval_every : 1) == 0 || round + 1 == cfg->rounds)) {
            dc_eval_result r;
            if ((st = dc_evaluate(m, test, 1000, cfg->nthreads, &r, err))) break;
            ev.test_acc = r.accuracy;
            ev.test_loss = r.loss;
            dc_eval_result_free(&r);
            if (!isfinite(ev.test_loss)) { // finite but huge weights can overflow every forward
                st = dc_fail(err, DC_ERR_NUMERIC,
                             "federated training diverged in round %d: the test loss is %s — try a smaller --lr "
                             "or --server-lr (with --client-dp: less noise)",
                             round + 1, isnan(ev.test_loss) ? "NaN" : "Inf");
                break;
            }
        }
        ev.seconds = dc_now_seconds() - t0;
        if (cfg->client_dp) ev.epsilon = dc_rdp_epsilon(cfg->fraction, cfg->dp_sigma, round + 1, cfg->dp_delta, NULL);
        if (cb && rank == 0) cb(&ev, user);
    }
    dc_csprng_wipe(&noise);
    for (int t = 0; wk && t < T; t++) {
        dc_runtime_free(wk[t].rt);
        dc_free(wk[t].params);
        dc_free(wk[t].grads);
        free(wk[t].perm);
        free(wk[t].y);
    }
    free(wk);
    dc_free(fs.wg);
    dc_free(fs.v);
    dc_free(fs.acc);
    if (fs.upd)
        for (int i = 0; i < maxsel; i++) dc_free(fs.upd[i]);
    free(fs.upd);
    free(fs.sel);
    free(fs.dropped);
    free(idx);
    free(off);
    return st;
}

dc_secagg_params dc_fed_secagg_params(const dc_fed_config *cfg, int count, size_t n, int round) {
    int t = cfg->secagg_threshold > 0 ? cfg->secagg_threshold : (2 * count + 2) / 3;
    if (t < 2) t = 2;
    dc_secagg_params p = dc_secagg_params_default(count, t, n);
    p.round = (uint64_t)round;
    p.nthreads = cfg->nthreads;
    if (cfg->client_dp) p.clip = cfg->dp_clip; // clipped updates: a tighter public bound
    // Keys, self-mask seeds and pairwise masks always come from the OS CSPRNG
    // (libsodium's randombytes), never from --seed or --dp-seed: those are
    // public, and masks derived from them would hide nothing. Reproducibility
    // does not need them: the masks cancel exactly, so the aggregate (and the
    // trained model) is the same whatever keys were drawn.
    p.insecure_test_seed = false;
    return p;
}

// The whole protocol of secagg.h for one round, simulated in this process:
// each client masks its fixed-point update with pairwise and self masks, the
// server adds the masked vectors it receives, and unmasking uses secret
// shares from the survivors (threshold t: two thirds of the selected clients
// by default). The server code path never holds an unmasked update.
static dc_status secure_sum(const dc_fed_config *cfg, float *const *vecs, int count, const bool *dropped,
                            size_t n, int round, float *sum, double *bytes_up, double *bytes_down,
                            dc_error *err) {
    dc_secagg_params p = dc_fed_secagg_params(cfg, count, n, round);
    dc_secagg_stats stats;
    dc_status st = dc_secagg_simulate(&p, (const float *const *)vecs, dropped, sum, NULL, &stats, err);
    if (!st) { // masked 8-byte words, public keys and encrypted shares
        *bytes_up = stats.bytes_up;
        *bytes_down = stats.bytes_down;
    }
    if (!st && stats.clipped > 0)
        return dc_fail(err, DC_ERR_NUMERIC,
                       "round %d: %ld update values exceeded the fixed-point range of secure aggregation (|v| <= %g): "
                       "lower --lr or use --client-dp",
                       round + 1, (long)stats.clipped, p.clip);
    return st;
}
