// fed_mpi.c — federated learning over the ranks of a job (fed.h): rank 0 is
// the server, every other rank hosts clients (client k on rank 1 + k % R, R
// client ranks). Everything crosses a dc_link (dist.h): point-to-point
// messages only, so that a rank that dies costs one timeout, not the job.
//
// ---- A round. The server sends every live client rank ROUND: the round's
// participants (the selected clients whose rank is alive, in client order:
// a participant's index is its id in the secure-aggregation protocol) and,
// to the ranks that host one, the global weights and state.
//  Plain: each host trains its participants and answers UPDATE (each one's
//    contribution, fed.h); the server adds them in client order.
//  Secure aggregation (secagg.h; the client side on the hosts, the server
//    side here, nothing else): KEYS (public keys) -> KEYLIST -> SHARES
//    (encrypted Shamir shares, which the server only relays) -> ROUTED;
//    then the hosts train, mask and answer MASKED; the server announces the
//    survivors (UNMASK) and the survivors answer REVEALS. Keys are
//    exchanged BEFORE local training, so a rank that dies while training
//    (the long part of a round) is a drop-out after key sharing, which the
//    threshold sharing survives. A rank lost during the key exchange makes
//    the server RESTART it without that rank's clients (fresh keys).
// The server waits for each answer at most cfg->round_timeout seconds
// (training included). A rank that has not answered by then, or whose link
// failed, is dropped for the rest of the run: it is sent DROPPED (a rank
// that was only stopped learns so when it resumes, and exits) and never
// waited for again. A round whose survivors are too few to unmask (or none,
// without secure aggregation) is LOST: the global model stays.
//
// ---- Equality with the simulation. Participants, simulated drop-outs and
// local training use the same seeds, contributions are added in the same
// order (plain) or exactly (secure: fixed point mod 2^64), and the server's
// update is the same function (fed_apply), so with no rank lost the weights
// are the simulation's bit for bit.
//
// ---- Wire format. Each message: a 16-byte header (u32 magic "dcfl", u32
// kind, u32 round, u32 attempt; little-endian), then the payload described
// at each writer. Integers are little-endian; float and u64 vectors are in
// the hosts' byte order, which HELLO checks is the same on every rank.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "federated/fed_impl.h"
#include "federated/secagg.h"

#define FED_MAGIC 0x6c666364u // "dcfl"
enum { HDR_BYTES = 16 };

// ---------------------------------------------------------------------------
// Byte buffers

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void wb_need(wbuf *b, size_t more) {
    if (b->oom || b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}
static void wb_bytes(wbuf *b, const void *v, size_t len) {
    wb_need(b, len);
    if (b->oom || !len) return;
    memcpy(b->p + b->n, v, len);
    b->n += len;
}
static void wb_u32(wbuf *b, uint32_t v) {
    uint8_t t[4];
    for (int i = 0; i < 4; i++) t[i] = (uint8_t)(v >> (8 * i));
    wb_bytes(b, t, 4);
}
static void wb_i32(wbuf *b, int32_t v) { wb_u32(b, (uint32_t)v); }
static void wb_u64(wbuf *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(v >> (8 * i));
    wb_bytes(b, t, 8);
}
static void wb_f64(wbuf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    wb_u64(b, u);
}
static void wb_str(wbuf *b, const char *s) {
    size_t n = strlen(s);
    wb_u32(b, (uint32_t)n);
    wb_bytes(b, s, n);
}
static void wb_hdr(wbuf *b, int kind, int round, int attempt) {
    b->n = 0;
    wb_u32(b, FED_MAGIC);
    wb_u32(b, (uint32_t)kind);
    wb_u32(b, (uint32_t)round);
    wb_u32(b, (uint32_t)attempt);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n, at;
    bool bad;
} rbuf;

static const uint8_t *rb_take(rbuf *b, size_t len) {
    if (b->bad || len > b->n - b->at) {
        b->bad = true;
        return NULL;
    }
    const uint8_t *q = b->p + b->at;
    b->at += len;
    return q;
}
static void rb_bytes(rbuf *b, void *out, size_t len) {
    if (!len) return;
    const uint8_t *q = rb_take(b, len);
    if (q) memcpy(out, q, len);
    else memset(out, 0, len);
}
static uint32_t rb_u32(rbuf *b) {
    const uint8_t *q = rb_take(b, 4);
    uint32_t v = 0;
    for (int i = 0; q && i < 4; i++) v |= (uint32_t)q[i] << (8 * i);
    return v;
}
static int32_t rb_i32(rbuf *b) {
    uint32_t u = rb_u32(b);
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}
static uint64_t rb_u64(rbuf *b) {
    const uint8_t *q = rb_take(b, 8);
    uint64_t v = 0;
    for (int i = 0; q && i < 8; i++) v |= (uint64_t)q[i] << (8 * i);
    return v;
}
static double rb_f64(rbuf *b) {
    uint64_t u = rb_u64(b);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
// A string of at most cap-1 bytes into out (NUL-terminated).
static void rb_str(rbuf *b, char *out, size_t cap) {
    uint32_t n = rb_u32(b);
    const uint8_t *q = rb_take(b, n);
    size_t k = q ? (n < cap - 1 ? n : cap - 1) : 0;
    if (k) memcpy(out, q, k);
    out[k] = 0;
}
static bool rb_done(const rbuf *b) { return !b->bad && b->at == b->n; }

static void write_reveal(wbuf *b, const dc_secagg_reveal *r) {
    wb_i32(b, r->about);
    wb_i32(b, r->kind);
    wb_u32(b, r->share.x);
    for (int j = 0; j < DC_SECAGG_LIMBS; j++) wb_u64(b, r->share.y[j]);
}
static void read_reveal(rbuf *b, dc_secagg_reveal *r) {
    memset(r, 0, sizeof *r);
    r->about = rb_i32(b);
    r->kind = rb_i32(b);
    r->share.x = rb_u32(b);
    for (int j = 0; j < DC_SECAGG_LIMBS; j++) r->share.y[j] = rb_u64(b);
}

// FNV-1a over 64-bit words (a checksum, not a secret): do all ranks run the
// same options on the same data?
static uint64_t fnv(uint64_t h, const void *p, size_t len) {
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull
#define HASH(h, x) ((h) = fnv((h), &(x), sizeof(x)))

static uint64_t config_hash(const dc_fed_config *c) {
    uint64_t h = FNV0;
    HASH(h, c->clients);
    HASH(h, c->split);
    HASH(h, c->alpha);
    HASH(h, c->shards);
    HASH(h, c->fraction);
    HASH(h, c->local_epochs);
    HASH(h, c->local_batch);
    HASH(h, c->rounds);
    HASH(h, c->algorithm);
    HASH(h, c->mu);
    HASH(h, c->lr);
    HASH(h, c->seed);
    HASH(h, c->secure_agg);
    HASH(h, c->secagg_threshold);
    HASH(h, c->dropout);
    HASH(h, c->client_dp);
    HASH(h, c->dp_clip);
    HASH(h, c->local_data);
    return h;
}

// What every rank must hold the same in the shared-data mode: the training
// set and its split.
static uint64_t data_hash(const fed_run *r) {
    if (r->cfg->local_data || !r->train) return 0;
    const dc_dataset *d = r->train;
    uint64_t h = FNV0;
    HASH(h, d->n);
    h = fnv(h, d->labels, sizeof(int32_t) * (size_t)d->n);
    h = fnv(h, d->pixels, (size_t)d->n * d->c * d->h * d->w);
    h = fnv(h, r->off, sizeof(int) * (size_t)(r->K + 1));
    return h;
}

static uint32_t byte_order_probe(void) {
    const uint8_t b[4] = {1, 2, 3, 4};
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

static int host_of(const fed_run *r, int k) { return 1 + k % (r->cfg->link->size - 1); }

static double wait_left(double deadline) {
    if (deadline < 0) return -1; // forever
    double w = deadline - dc_now_seconds();
    return w > 0 ? w : 0;
}
static double deadline_in(double seconds) { return seconds > 0 ? dc_now_seconds() + seconds : -1; }

// One participant of a round: a selected client on a live rank.
typedef struct part {
    int32_t client;
    bool simdrop;  // --dropout: vanishes after the key exchange
} part;

static void write_parts(wbuf *w, const part *pt, int n) {
    wb_u32(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        wb_i32(w, pt[i].client);
        wb_u32(w, pt[i].simdrop);
    }
}

// ===========================================================================
// The server

typedef struct srv {
    fed_run *r;
    const dc_link *L;
    bool *alive;          // (size) client ranks still in the run (alive[0] unused)
    int n_lost;
    double up, down;      // this round's bytes received / sent
    char note[256];       // what happened to ranks this round
    wbuf w;
    int round, attempt;
} srv;

static void note_add(srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(srv *s, const char *fmt, ...) {
    size_t used = strlen(s->note);
    if (used + 3 >= sizeof s->note) return;
    if (used) {
        memcpy(s->note + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->note + used, sizeof s->note - used, fmt, ap);
    va_end(ap);
}

// Rank `rank` is out of the run: told so (a stopped rank reads it when it
// resumes), then never waited for again.
static void drop_rank(srv *s, int rank, const char *why) {
    if (!s->alive[rank]) return;
    s->alive[rank] = false;
    s->n_lost++;
    note_add(s, "rank %d dropped (%s)", rank, why);
    wbuf w = {0};
    wb_hdr(&w, DC_FED_MSG_DROPPED, s->round, s->attempt);
    dc_error e;
    if (!w.oom) s->L->send(s->L->ctx, rank, DC_FED_MSG_DROPPED, w.p, w.n, &e);
    free(w.p);
    s->L->forget(s->L->ctx, rank);
}

// Sends s->w to a live rank; a failing link drops it.
static dc_status srv_send(srv *s, int rank, int kind, dc_error *err) {
    if (!s->alive[rank]) return DC_OK;
    if (s->w.oom) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory for a message");
    dc_error e;
    if (s->L->send(s->L->ctx, rank, kind, s->w.p, s->w.n, &e)) {
        drop_rank(s, rank, e.msg);
        return DC_OK;
    }
    s->down += (double)s->w.n;
    return DC_OK;
}

// The answer of kind `want` from `rank`, by the deadline: *got false (and
// the rank dropped) when none came. A client's ERROR report, a message of
// another kind, round or attempt, or a malformed header fail the run.
static dc_status srv_recv(srv *s, int rank, int want, double deadline, rbuf *rb, void **owned, bool *got,
                          dc_error *err) {
    *got = false;
    *owned = NULL;
    if (!s->alive[rank]) return DC_OK;
    int tag;
    void *buf;
    size_t len;
    bool ok;
    dc_error e;
    if (s->L->recv(s->L->ctx, rank, -1, &tag, &buf, &len, wait_left(deadline), &ok, &e)) {
        drop_rank(s, rank, e.msg);
        return DC_OK;
    }
    if (!ok) {
        char why[96];
        snprintf(why, sizeof why, "no answer within %g s, --round-timeout", s->r->cfg->round_timeout);
        drop_rank(s, rank, why);
        return DC_OK;
    }
    const dc_fed_config *cfg = s->r->cfg;
    if (cfg->obs.received) cfg->obs.received(cfg->obs.user, s->round, rank, tag, buf, len);
    s->up += (double)len;
    rbuf b = {buf, len, 0, false};
    uint32_t magic = rb_u32(&b), kind = rb_u32(&b), round = rb_u32(&b), attempt = rb_u32(&b);
    if (magic != FED_MAGIC || kind != (uint32_t)tag) {
        free(buf);
        return dc_fail(err, DC_ERR_FORMAT, "federate: rank %d sent a malformed message (tag %d): not a deepc client?",
                       rank, tag);
    }
    if (kind == DC_FED_MSG_ERROR) {
        char text[800];
        rb_str(&b, text, sizeof text);
        free(buf);
        return dc_fail(err, DC_ERR_IO, "rank %d: %s", rank, text);
    }
    if (kind != (uint32_t)want || (want != DC_FED_MSG_HELLO && (round != (uint32_t)s->round || attempt != (uint32_t)s->attempt))) {
        free(buf);
        return dc_fail(err, DC_ERR_FORMAT,
                       "federate: protocol error: rank %d sent message %u for round %u (attempt %u) while the server "
                       "waited for message %d of round %d (attempt %d)",
                       rank, kind, round + 1, attempt, want, s->round + 1, s->attempt);
    }
    *rb = b;
    *owned = buf;
    *got = true;
    return DC_OK;
}

static dc_status bad_payload(int rank, const char *what, dc_error *err) {
    return dc_fail(err, DC_ERR_FORMAT, "federate: rank %d sent a malformed %s message", rank, what);
}

// Start-up: every client rank reports its model layout, options and data;
// all must agree with the server's before the first round.
static dc_status srv_hello(srv *s, dc_error *err) {
    fed_run *r = s->r;
    const dc_model *m = r->m;
    const int size = s->L->size;
    const uint64_t ch = config_hash(r->cfg), dhash = data_hash(r);
    const double dl = deadline_in(r->cfg->round_timeout);
    dc_status st = DC_OK;
    for (int rank = 1; !st && rank < size; rank++) {
        rbuf b;
        void *buf;
        bool got;
        if ((st = srv_recv(s, rank, DC_FED_MSG_HELLO, dl, &b, &buf, &got, err))) break;
        if (!got) {
            st = dc_fail(err, DC_ERR_IO, "federate: rank %d did not report at start-up within %g s (--round-timeout)",
                         rank, r->cfg->round_timeout);
            break;
        }
        uint32_t probe = rb_u32(&b);
        uint64_t P = rb_u64(&b), S = rb_u64(&b);
        int c = rb_i32(&b), h = rb_i32(&b), w = rb_i32(&b), nc = rb_i32(&b);
        uint64_t cfgh = rb_u64(&b), dh = rb_u64(&b);
        int n = rb_i32(&b);
        if (!rb_done(&b)) st = bad_payload(rank, "start-up", err);
        else if (probe != byte_order_probe())
            st = dc_fail(err, DC_ERR_UNSUPPORTED, "federate: rank %d has another byte order than the server", rank);
        else if (P != r->P || S != r->S || c != m->in_c || h != m->in_h || w != m->in_w || nc != m->n_classes)
            st = dc_fail(err, DC_ERR_SHAPE,
                         "federate: rank %d built a model with %llu weights, %llu state values, %dx%dx%d input and %d "
                         "classes; the server's has %zu, %zu, %dx%dx%d and %d",
                         rank, (unsigned long long)P, (unsigned long long)S, c, h, w, nc, r->P, r->S, m->in_c, m->in_h,
                         m->in_w, m->n_classes);
        else if (cfgh != ch)
            st = dc_fail(err, DC_ERR_ARG, "federate: rank %d was started with other federate options than the server",
                         rank);
        else if (!r->cfg->local_data && dh != dhash)
            st = dc_fail(err, DC_ERR_ARG,
                         "federate: rank %d holds another training set or split than the server (every rank must read "
                         "the same --data, or use --client-data)",
                         rank);
        else if (r->cfg->local_data) {
            if (n < 0) st = bad_payload(rank, "start-up", err);
            else r->count[rank - 1] = n;
        }
        free(buf);
    }
    if (st) return st;
    wb_hdr(&s->w, DC_FED_MSG_START, 0, 0);
    for (int c = 0; c < m->in_c; c++) { // the normalisation, per input channel
        uint32_t mu, sd;
        memcpy(&mu, &m->norm_mean[c], 4);
        memcpy(&sd, &m->norm_std[c], 4);
        wb_u32(&s->w, mu);
        wb_u32(&s->w, sd);
    }
    for (int rank = 1; !st && rank < size; rank++) st = srv_send(s, rank, DC_FED_MSG_START, err);
    return st;
}

// ROUND to every live rank: the participants, and the model to their hosts.
static dc_status srv_round_msg(srv *s, const part *pt, int np, int t, double clip, dc_error *err) {
    fed_run *r = s->r;
    bool *hosts = calloc((size_t)s->L->size, sizeof(bool));
    if (!hosts) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; i < np; i++) hosts[host_of(r, pt[i].client)] = true;
    dc_status st = DC_OK;
    for (int rank = 1; !st && rank < s->L->size; rank++) {
        if (!s->alive[rank]) continue;
        // payload: u32 flags (1: model follows), participants {i32 client,
        // u32 simdrop}, i32 t, f64 clip, then P + S floats if flagged
        wb_hdr(&s->w, DC_FED_MSG_ROUND, s->round, 0);
        wb_u32(&s->w, hosts[rank] ? 1u : 0u);
        write_parts(&s->w, pt, np);
        wb_i32(&s->w, t);
        wb_f64(&s->w, clip);
        if (hosts[rank]) {
            wb_bytes(&s->w, r->m->params, sizeof(float) * r->P);
            wb_bytes(&s->w, r->m->state, sizeof(float) * r->S);
        }
        st = srv_send(s, rank, DC_FED_MSG_ROUND, err);
    }
    free(hosts);
    return st;
}

// The live ranks hosting participants, ascending.
static int involved(const srv *s, const part *pt, int np, int *ranks) {
    int n = 0;
    for (int rank = 1; rank < s->L->size; rank++) {
        if (!s->alive[rank]) continue;
        bool any = false;
        for (int i = 0; i < np && !any; i++) any = host_of(s->r, pt[i].client) == rank;
        if (any) ranks[n++] = rank;
    }
    return n;
}

// Plain aggregation: each host answers UPDATE {u32 count, then per client
// i32 client, i32 samples, N floats}.
static dc_status srv_plain(srv *s, const part *pt, int np, float **upd, bool *delivered, dc_error *err) {
    fed_run *r = s->r;
    int *ranks = malloc(sizeof(int) * (size_t)s->L->size);
    if (!ranks) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    dc_status st = srv_round_msg(s, pt, np, 0, 0, err);
    int nr = st ? 0 : involved(s, pt, np, ranks);
    const double dl = deadline_in(r->cfg->round_timeout);
    for (int i = 0; i < np; i++) delivered[i] = false;
    for (int a = 0; !st && a < nr; a++) {
        rbuf b;
        void *buf;
        bool got;
        if ((st = srv_recv(s, ranks[a], DC_FED_MSG_UPDATE, dl, &b, &buf, &got, err)) || !got) continue;
        uint32_t cnt = rb_u32(&b);
        int expect = 0;
        for (int i = 0; i < np; i++) expect += host_of(r, pt[i].client) == ranks[a];
        if (cnt != (uint32_t)expect) st = bad_payload(ranks[a], "update", err);
        for (uint32_t e = 0; !st && e < cnt; e++) {
            int k = rb_i32(&b), n = rb_i32(&b), i = 0;
            while (i < np && pt[i].client != k) i++;
            if (b.bad || i == np || host_of(r, k) != ranks[a] || delivered[i] || n != r->count[k]) {
                st = bad_payload(ranks[a], "update", err);
                break;
            }
            rb_bytes(&b, upd[i], sizeof(float) * r->N);
            delivered[i] = true;
        }
        if (!st && !rb_done(&b)) st = bad_payload(ranks[a], "update", err);
        free(buf);
    }
    // ranks dropped mid-gather took their clients with them
    for (int i = 0; i < np; i++)
        if (!s->alive[host_of(r, pt[i].client)]) delivered[i] = false;
    free(ranks);
    return st;
}

// Sends kind (header only, or the UNMASK flags) to the live ranks in ranks[].
static dc_status srv_tell(srv *s, const int *ranks, int nr, int kind, const bool *flags, int nflags, dc_error *err) {
    dc_status st = DC_OK;
    for (int a = 0; !st && a < nr; a++) {
        wb_hdr(&s->w, kind, s->round, s->attempt);
        for (int i = 0; i < nflags; i++) wb_u32(&s->w, flags[i]);
        st = srv_send(s, ranks[a], kind, err);
    }
    return st;
}

// Secure aggregation over the ranks. On success *lost tells whether the
// survivors sufficed; r->acc then holds their sum and delivered[] who they are.
static dc_status srv_secure(srv *s, part *pt, int np, bool *delivered, bool *lost, dc_error *err) {
    fed_run *r = s->r;
    const dc_fed_config *cfg = r->cfg;
    const size_t N = r->N;
    int *ranks = malloc(sizeof(int) * (size_t)s->L->size);
    int *pid_of = malloc(sizeof(int) * (size_t)(np ? np : 1)); // participant index in the original list
    part *cur = malloc(sizeof(part) * (size_t)(np ? np : 1));
    dc_secagg_pubkeys *keys = malloc(sizeof *keys * (size_t)(np ? np : 1));
    dc_secagg_ciphertext *mat = malloc(sizeof *mat * (size_t)(np ? np : 1) * (size_t)(np ? np : 1));
    bool *surv = calloc((size_t)(np ? np : 1), sizeof(bool));
    bool *seen = calloc((size_t)(np ? np : 1), sizeof(bool));
    dc_secagg_reveal *rev = malloc(sizeof *rev * (size_t)(np ? np : 1));
    dc_secagg_server *sv = NULL;
    dc_status st = DC_OK;
    if (!ranks || !pid_of || !cur || !keys || !mat || !surv || !seen || !rev)
        st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory for secure aggregation of %d clients", np);
    int K2 = np, nr = 0;
    for (int i = 0; i < np; i++) {
        delivered[i] = false;
        if (cur) cur[i] = pt[i];
        if (pid_of) pid_of[i] = i;
    }
    *lost = true;
    s->attempt = 0;
    // ---- key exchange, restarted without the clients of a lost rank
    for (;; s->attempt++) {
        if (st) break;
        int live = 0;
        for (int i = 0; i < K2; i++) live += !cur[i].simdrop;
        const int t = fed_threshold(cfg, K2);
        if (K2 < 2 || live < t) { // nothing to protect them among, or too few will deliver
            for (int i = 0; i < K2; i++) delivered[pid_of[i]] = !cur[i].simdrop;
            if (s->attempt == 0) st = srv_round_msg(s, cur, 0, 0, 0, err);
            else st = srv_tell(s, ranks, nr, DC_FED_MSG_LOST, NULL, 0, err);
            goto done;
        }
        dc_secagg_params p = dc_fed_secagg_params(cfg, K2, N, s->round);
        dc_secagg_server_free(sv);
        sv = NULL;
        if ((st = dc_secagg_server_new(&sv, &p, err))) break;
        if (s->attempt == 0) {
            st = srv_round_msg(s, cur, K2, t, p.clip, err);
        } else { // RESTART: payload as ROUND's participants, i32 t
            for (int a = 0; !st && a < nr; a++) {
                wb_hdr(&s->w, DC_FED_MSG_RESTART, s->round, s->attempt);
                write_parts(&s->w, cur, K2);
                wb_i32(&s->w, t);
                st = srv_send(s, ranks[a], DC_FED_MSG_RESTART, err);
            }
        }
        if (st) break;
        nr = involved(s, cur, K2, ranks);
        const int lost_before = s->n_lost;
        // KEYS {u32 count, then per hosted participant i32 id, c_pk, s_pk}
        double dl = deadline_in(cfg->round_timeout);
        memset(seen, 0, sizeof(bool) * (size_t)K2);
        for (int a = 0; !st && a < nr; a++) {
            rbuf b;
            void *buf;
            bool got;
            if ((st = srv_recv(s, ranks[a], DC_FED_MSG_KEYS, dl, &b, &buf, &got, err)) || !got) continue;
            uint32_t cnt = rb_u32(&b);
            for (uint32_t e = 0; !st && e < cnt; e++) {
                int id = rb_i32(&b);
                if (b.bad || id < 0 || id >= K2 || seen[id] || host_of(r, cur[id].client) != ranks[a]) {
                    st = bad_payload(ranks[a], "keys", err);
                    break;
                }
                rb_bytes(&b, &keys[id], sizeof keys[id]);
                seen[id] = true;
            }
            if (!st && !rb_done(&b)) st = bad_payload(ranks[a], "keys", err);
            free(buf);
        }
        for (int i = 0; !st && i < K2; i++)
            if (!seen[i] && s->alive[host_of(r, cur[i].client)])
                st = dc_fail(err, DC_ERR_FORMAT, "federate: rank %d sent no keys for client %d",
                             host_of(r, cur[i].client), cur[i].client);
        if (st) break;
        if (s->n_lost == lost_before) {
            if ((st = dc_secagg_server_set_keys(sv, keys, err))) break;
            // KEYLIST: K2 key pairs in protocol-id order
            for (int a = 0; !st && a < nr; a++) {
                wb_hdr(&s->w, DC_FED_MSG_KEYLIST, s->round, s->attempt);
                wb_bytes(&s->w, keys, sizeof *keys * (size_t)K2);
                st = srv_send(s, ranks[a], DC_FED_MSG_KEYLIST, err);
            }
            // SHARES {u32 count, then per hosted participant u: i32 u, K2
            // ciphertexts u -> v (v = u: zeros)}
            dl = deadline_in(cfg->round_timeout);
            memset(seen, 0, sizeof(bool) * (size_t)K2);
            for (int a = 0; !st && a < nr; a++) {
                rbuf b;
                void *buf;
                bool got;
                if ((st = srv_recv(s, ranks[a], DC_FED_MSG_SHARES, dl, &b, &buf, &got, err)) || !got) continue;
                uint32_t cnt = rb_u32(&b);
                for (uint32_t e = 0; !st && e < cnt; e++) {
                    int u = rb_i32(&b);
                    if (b.bad || u < 0 || u >= K2 || seen[u] || host_of(r, cur[u].client) != ranks[a]) {
                        st = bad_payload(ranks[a], "shares", err);
                        break;
                    }
                    rb_bytes(&b, mat + (size_t)u * (size_t)K2, sizeof *mat * (size_t)K2);
                    seen[u] = true;
                }
                if (!st && !rb_done(&b)) st = bad_payload(ranks[a], "shares", err);
                free(buf);
            }
            if (st) break;
        }
        if (s->n_lost == lost_before) break; // key exchange complete
        // a rank was lost: again, without its clients
        int j = 0;
        for (int i = 0; i < K2; i++)
            if (s->alive[host_of(r, cur[i].client)]) {
                cur[j] = cur[i];
                pid_of[j++] = pid_of[i];
            }
        K2 = j;
        note_add(s, "key exchange restarted with %d clients", K2);
        nr = involved(s, cur, K2, ranks);
    }
    if (st) goto done;
    // ROUTED {u32 count, then per hosted participant v: i32 v, K2 ciphertexts u -> v}
    for (int a = 0; !st && a < nr; a++) {
        wb_hdr(&s->w, DC_FED_MSG_ROUTED, s->round, s->attempt);
        int cnt = 0;
        for (int v = 0; v < K2; v++) cnt += host_of(r, cur[v].client) == ranks[a];
        wb_u32(&s->w, (uint32_t)cnt);
        for (int v = 0; v < K2; v++) {
            if (host_of(r, cur[v].client) != ranks[a]) continue;
            wb_i32(&s->w, v);
            for (int u = 0; u < K2; u++) wb_bytes(&s->w, mat + (size_t)u * (size_t)K2 + v, sizeof *mat);
        }
        st = srv_send(s, ranks[a], DC_FED_MSG_ROUTED, err);
    }
    // MASKED {u32 count, then per delivering participant: i32 id, u64
    // clipped coordinates, N u64 masked words}; local training comes first
    uint64_t *masked = st ? NULL : malloc(sizeof(uint64_t) * (N ? N : 1));
    if (!st && !masked) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    double dl = deadline_in(cfg->round_timeout);
    uint64_t clipped = 0;
    memset(seen, 0, sizeof(bool) * (size_t)(K2 ? K2 : 1));
    for (int a = 0; !st && a < nr; a++) {
        rbuf b;
        void *buf;
        bool got;
        if ((st = srv_recv(s, ranks[a], DC_FED_MSG_MASKED, dl, &b, &buf, &got, err)) || !got) continue;
        uint32_t cnt = rb_u32(&b);
        for (uint32_t e = 0; !st && e < cnt; e++) {
            int u = rb_i32(&b);
            uint64_t cl = rb_u64(&b);
            if (b.bad || u < 0 || u >= K2 || seen[u] || cur[u].simdrop || host_of(r, cur[u].client) != ranks[a]) {
                st = bad_payload(ranks[a], "masked", err);
                break;
            }
            rb_bytes(&b, masked, sizeof(uint64_t) * N);
            if (b.bad) {
                st = bad_payload(ranks[a], "masked", err);
                break;
            }
            seen[u] = true;
            clipped += cl;
            st = dc_secagg_server_add_masked(sv, u, masked, err);
        }
        if (!st && !rb_done(&b)) st = bad_payload(ranks[a], "masked", err);
        free(buf);
    }
    free(masked);
    if (!st && clipped > 0)
        st = dc_fail(err, DC_ERR_NUMERIC,
                     "round %d: %llu contribution values exceeded the fixed-point range of secure aggregation (|v| <= "
                     "%g): lower --lr or use --client-dp",
                     s->round + 1, (unsigned long long)clipped,
                     cfg->client_dp ? (double)cfg->dp_clip : DC_FED_SECAGG_RANGE);
    if (st) goto done;
    dc_error e2;
    nr = involved(s, cur, K2, ranks);
    if (dc_secagg_server_unmask_request(sv, surv, &e2)) { // fewer than t delivered
        for (int i = 0; i < K2; i++) delivered[pid_of[i]] = seen[i];
        st = srv_tell(s, ranks, nr, DC_FED_MSG_LOST, NULL, 0, err);
        goto done;
    }
    // UNMASK {K2 u32 flags: survived}; REVEALS {u32 count, then per hosted
    // survivor: i32 id, K2 reveals}
    if ((st = srv_tell(s, ranks, nr, DC_FED_MSG_UNMASK, surv, K2, err))) goto done;
    dl = deadline_in(cfg->round_timeout);
    for (int a = 0; !st && a < nr; a++) {
        rbuf b;
        void *buf;
        bool got;
        if ((st = srv_recv(s, ranks[a], DC_FED_MSG_REVEALS, dl, &b, &buf, &got, err)) || !got) continue;
        uint32_t cnt = rb_u32(&b);
        for (uint32_t e = 0; !st && e < cnt; e++) {
            int u = rb_i32(&b);
            if (b.bad || u < 0 || u >= K2 || !surv[u] || host_of(r, cur[u].client) != ranks[a]) {
                st = bad_payload(ranks[a], "reveals", err);
                break;
            }
            for (int v = 0; v < K2; v++) read_reveal(&b, &rev[v]);
            if (b.bad) st = bad_payload(ranks[a], "reveals", err);
            else st = dc_secagg_server_add_reveals(sv, u, rev, err);
        }
        if (!st && !rb_done(&b)) st = bad_payload(ranks[a], "reveals", err);
        free(buf);
    }
    if (st) goto done;
    for (int i = 0; i < K2; i++) delivered[pid_of[i]] = surv[i];
    if (dc_secagg_server_finish(sv, r->acc, NULL, &e2)) goto done; // fewer than t answered: lost
    *lost = false;
done:
    dc_secagg_server_free(sv);
    free(ranks);
    free(pid_of);
    free(cur);
    free(keys);
    free(mat);
    free(surv);
    free(seen);
    free(rev);
    return st;
}

dc_status fed_serve(fed_run *r, dc_fed_callback cb, void *user, dc_error *err) {
    const dc_fed_config *cfg = r->cfg;
    srv s;
    memset(&s, 0, sizeof s);
    s.r = r;
    s.L = cfg->link;
    const int size = s.L->size, maxsel = r->maxsel;
    s.alive = malloc(sizeof(bool) * (size_t)size);
    int32_t *sel = malloc(sizeof(int32_t) * (size_t)maxsel);
    bool *drops = calloc((size_t)maxsel, sizeof(bool)), *delivered = calloc((size_t)maxsel, sizeof(bool));
    part *pt = malloc(sizeof(part) * (size_t)maxsel);
    float **upd = calloc((size_t)maxsel, sizeof(float *));
    dc_status st = DC_OK;
    if (!s.alive || !sel || !drops || !delivered || !pt || !upd)
        st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; !st && !cfg->secure_agg && i < maxsel; i++)
        if (!(upd[i] = dc_alloc(sizeof(float) * (r->N ? r->N : 1))))
            st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    for (int i = 0; s.alive && i < size; i++) s.alive[i] = i > 0;
    if (!st) st = srv_hello(&s, err);
    for (int round = 0; !st && round < cfg->rounds; round++) {
        double t0 = dc_now_seconds();
        s.round = round;
        s.attempt = 0;
        s.up = s.down = 0;
        s.note[0] = 0;
        memcpy(r->wg, r->m->params, sizeof(float) * r->P);
        if (r->S) memcpy(r->sg, r->m->state, sizeof(float) * r->S);
        const int nsel = fed_select(cfg, round, sel);
        fed_sim_drops(cfg, round, nsel, drops);
        int np = 0;
        for (int i = 0; i < nsel; i++)
            if (s.alive[host_of(r, sel[i])]) pt[np++] = (part){sel[i], drops[i]};
        bool lost = false;
        double wsum = 0;
        int ndeliv = 0;
        if (cfg->secure_agg) {
            st = srv_secure(&s, pt, np, delivered, &lost, err);
        } else {
            st = srv_plain(&s, pt, np, upd, delivered, err);
            if (!st) { // client order: fixed, as in the simulation
                memset(r->acc, 0, sizeof(float) * r->N);
                for (int i = 0; i < np; i++)
                    if (delivered[i])
                        for (size_t j = 0; j < r->N; j++) r->acc[j] += upd[i][j];
            }
        }
        for (int i = 0; !st && i < np; i++)
            if (delivered[i]) {
                wsum += r->count[pt[i].client];
                ndeliv++;
            }
        if (st) break;
        if (!cfg->secure_agg) lost = ndeliv == 0;
        if (lost) fed_keep(r);
        else if ((st = fed_apply(r, round, wsum, err))) break;
        dc_fed_round ev = {.round = round + 1, .rounds = cfg->rounds, .selected = nsel, .dropped = nsel - ndeliv,
                           .lost = lost, .test_acc = -1, .test_loss = -1, .epsilon = -1, .ranks_lost = s.n_lost};
        ev.bytes_down = s.down;
        ev.bytes_up = s.up;
        ev.note = s.note[0] ? s.note : NULL;
        if ((st = fed_evaluate(r, round, &ev, err))) break;
        ev.seconds = dc_now_seconds() - t0;
        if (cb) cb(&ev, user);
    }
    // STOP {u32 count, then the lost ranks}: every survivor learns not to
    // wait for them when it ends
    if (!st) {
        wb_hdr(&s.w, DC_FED_MSG_STOP, cfg->rounds, 0);
        wb_u32(&s.w, (uint32_t)s.n_lost);
        for (int rank = 1; rank < size; rank++)
            if (!s.alive[rank]) wb_i32(&s.w, rank);
        for (int rank = 1; !st && rank < size; rank++) st = srv_send(&s, rank, DC_FED_MSG_STOP, err);
    }
    for (int i = 0; upd && i < maxsel; i++) dc_free(upd[i]);
    free(upd);
    free(s.alive);
    free(s.w.p);
    free(sel);
    free(drops);
    free(delivered);
    free(pt);
    return st;
}

// ===========================================================================
// A client rank

typedef struct host {
    fed_run *r;
    const dc_link *L;
    const dc_fed_config *cfg;
    int round, attempt;
    // this round: the participants and the ones hosted here
    part *pt;
    int np;
    int *mine;                 // (n_mine) protocol ids hosted here
    int n_mine;
    int t;
    double clip;
    dc_secagg_client **sc;     // (n_mine) client side of secure aggregation
    dc_secagg_pubkeys *keys;   // (np)
    float **out;               // (n_mine) contributions
    int32_t *clients;          // (n_mine) scratch
    bool dropped;              // the server dropped this rank
    wbuf w;
} host;

static void host_free_sc(host *h) {
    for (int i = 0; h->sc && i < h->n_mine; i++) dc_secagg_client_free(h->sc[i]);
    free(h->sc);
    h->sc = NULL;
}

// Before every send: has the server dropped this rank meanwhile (it was
// stopped or slow)? Then it stops here.
static dc_status host_send(host *h, int kind, dc_error *err) {
    if (h->w.oom) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory for a message");
    int tag;
    void *buf;
    size_t len;
    bool got;
    dc_status st = h->L->recv(h->L->ctx, 0, DC_FED_MSG_DROPPED, &tag, &buf, &len, 0, &got, err);
    if (st) return st;
    if (got) {
        free(buf);
        h->dropped = true;
        return DC_OK;
    }
    if (h->cfg->obs.sending) h->cfg->obs.sending(h->cfg->obs.user, h->round, h->L->rank, kind);
    return h->L->send(h->L->ctx, 0, kind, h->w.p, h->w.n, err);
}

// Reads the participants of a ROUND or RESTART and finds the ones hosted here.
static dc_status host_parts(host *h, rbuf *b, dc_error *err) {
    uint32_t np = rb_u32(b);
    if (b->bad || np > (uint32_t)h->r->maxsel) return dc_fail(err, DC_ERR_FORMAT, "federate: malformed round message");
    h->np = (int)np;
    h->n_mine = 0;
    for (int i = 0; i < h->np; i++) {
        h->pt[i].client = rb_i32(b);
        h->pt[i].simdrop = rb_u32(b) != 0;
        if (b->bad || h->pt[i].client < 0 || h->pt[i].client >= h->r->K)
            return dc_fail(err, DC_ERR_FORMAT, "federate: malformed round message");
        if (host_of(h->r, h->pt[i].client) == h->L->rank) h->mine[h->n_mine++] = i;
    }
    h->t = rb_i32(b);
    return DC_OK;
}

static dc_status host_make_clients(host *h, dc_error *err) {
    host_free_sc(h);
    dc_secagg_params p = dc_secagg_params_default(h->np, h->t, h->r->N);
    p.clip = h->clip;
    p.round = (uint64_t)h->round;
    p.nthreads = 1;
    h->sc = calloc((size_t)(h->n_mine ? h->n_mine : 1), sizeof *h->sc);
    if (!h->sc) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    // KEYS {u32 count, then per hosted participant i32 id, c_pk, s_pk}
    wb_hdr(&h->w, DC_FED_MSG_KEYS, h->round, h->attempt);
    wb_u32(&h->w, (uint32_t)h->n_mine);
    for (int i = 0; i < h->n_mine; i++) {
        dc_status st = dc_secagg_client_new(&h->sc[i], &p, h->mine[i], err);
        if (st) return st;
        dc_secagg_pubkeys k;
        dc_secagg_client_advertise(h->sc[i], &k);
        wb_i32(&h->w, h->mine[i]);
        wb_bytes(&h->w, &k, sizeof k);
    }
    return host_send(h, DC_FED_MSG_KEYS, err);
}

// Trains the hosted participants that deliver (not the simulated drop-outs).
static dc_status host_train(host *h, int *n_out, dc_error *err) {
    int n = 0;
    for (int i = 0; i < h->n_mine; i++)
        if (!h->pt[h->mine[i]].simdrop) h->clients[n++] = h->pt[h->mine[i]].client;
    *n_out = n;
    return fed_train(h->r, h->round, h->clients, n, h->out, err);
}

static dc_status host_message(host *h, int kind, rbuf *b, bool *stop, dc_error *err) {
    fed_run *r = h->r;
    const size_t N = r->N;
    dc_status st = DC_OK;
    switch (kind) {
    case DC_FED_MSG_ROUND: {
        host_free_sc(h);
        h->attempt = 0;
        uint32_t flags = rb_u32(b);
        if ((st = host_parts(h, b, err))) return st;
        h->clip = rb_f64(b);
        if (flags & 1u) {
            rb_bytes(b, r->m->params, sizeof(float) * r->P);
            rb_bytes(b, r->m->state, sizeof(float) * r->S);
        }
        if (!rb_done(b) || (h->n_mine && !(flags & 1u)))
            return dc_fail(err, DC_ERR_FORMAT, "federate: malformed round message");
        if (h->n_mine == 0) return DC_OK;
        if (h->cfg->secure_agg) return host_make_clients(h, err);
        int n;
        if ((st = host_train(h, &n, err))) return st;
        // UPDATE {u32 count, then per client i32 client, i32 samples, N floats}
        wb_hdr(&h->w, DC_FED_MSG_UPDATE, h->round, 0);
        wb_u32(&h->w, (uint32_t)n);
        for (int i = 0; i < n; i++) {
            wb_i32(&h->w, h->clients[i]);
            wb_i32(&h->w, r->count[h->clients[i]]);
            wb_bytes(&h->w, h->out[i], sizeof(float) * N);
        }
        return host_send(h, DC_FED_MSG_UPDATE, err);
    }
    case DC_FED_MSG_RESTART:
        if ((st = host_parts(h, b, err))) return st;
        if (!rb_done(b)) return dc_fail(err, DC_ERR_FORMAT, "federate: malformed restart message");
        return h->n_mine ? host_make_clients(h, err) : DC_OK;
    case DC_FED_MSG_KEYLIST: {
        if (!h->sc) return dc_fail(err, DC_ERR_FORMAT, "federate: key list outside a key exchange");
        rb_bytes(b, h->keys, sizeof *h->keys * (size_t)h->np);
        if (!rb_done(b)) return dc_fail(err, DC_ERR_FORMAT, "federate: malformed key list");
        dc_secagg_ciphertext *ct = malloc(sizeof *ct * (size_t)h->np);
        if (!ct) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        wb_hdr(&h->w, DC_FED_MSG_SHARES, h->round, h->attempt);
        wb_u32(&h->w, (uint32_t)h->n_mine);
        for (int i = 0; !st && i < h->n_mine; i++) {
            st = dc_secagg_client_share_keys(h->sc[i], h->keys, ct, err);
            wb_i32(&h->w, h->mine[i]);
            wb_bytes(&h->w, ct, sizeof *ct * (size_t)h->np);
        }
        free(ct);
        return st ? st : host_send(h, DC_FED_MSG_SHARES, err);
    }
    case DC_FED_MSG_ROUTED: {
        if (!h->sc) return dc_fail(err, DC_ERR_FORMAT, "federate: shares outside a key exchange");
        uint32_t cnt = rb_u32(b);
        if (cnt != (uint32_t)h->n_mine) return dc_fail(err, DC_ERR_FORMAT, "federate: malformed routed shares");
        for (int i = 0; !st && i < h->n_mine; i++) {
            if (rb_i32(b) != h->mine[i]) return dc_fail(err, DC_ERR_FORMAT, "federate: malformed routed shares");
            for (int u = 0; !st && u < h->np; u++) {
                dc_secagg_ciphertext ct;
                rb_bytes(b, &ct, sizeof ct);
                if (u != h->mine[i]) st = dc_secagg_client_receive(h->sc[i], u, &ct, err);
            }
        }
        if (!st && !rb_done(b)) st = dc_fail(err, DC_ERR_FORMAT, "federate: malformed routed shares");
        if (st) return st;
        int n;
        if ((st = host_train(h, &n, err))) return st;
        // MASKED {u32 count, then per delivering participant: i32 id, u64
        // clipped, N u64 words}
        uint64_t *y = malloc(sizeof(uint64_t) * (N ? N : 1));
        if (!y) return dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        wb_hdr(&h->w, DC_FED_MSG_MASKED, h->round, h->attempt);
        wb_u32(&h->w, (uint32_t)n);
        for (int i = 0, j = 0; !st && i < h->n_mine; i++) {
            if (h->pt[h->mine[i]].simdrop) continue;
            st = dc_secagg_client_mask(h->sc[i], h->out[j++], y, err);
            wb_i32(&h->w, h->mine[i]);
            wb_u64(&h->w, (uint64_t)dc_secagg_client_clipped(h->sc[i]));
            wb_bytes(&h->w, y, sizeof(uint64_t) * N);
        }
        free(y);
        return st ? st : host_send(h, DC_FED_MSG_MASKED, err);
    }
    case DC_FED_MSG_UNMASK: {
        if (!h->sc) return dc_fail(err, DC_ERR_FORMAT, "federate: unmasking request outside a round");
        bool *surv = malloc(sizeof(bool) * (size_t)h->np);
        dc_secagg_reveal *rev = malloc(sizeof *rev * (size_t)h->np);
        if (!surv || !rev) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
        for (int i = 0; !st && i < h->np; i++) surv[i] = rb_u32(b) != 0;
        if (!st && !rb_done(b)) st = dc_fail(err, DC_ERR_FORMAT, "federate: malformed unmasking request");
        int cnt = 0;
        for (int i = 0; !st && i < h->n_mine; i++) cnt += surv[h->mine[i]];
        // REVEALS {u32 count, then per hosted survivor: i32 id, np reveals}
        wb_hdr(&h->w, DC_FED_MSG_REVEALS, h->round, h->attempt);
        wb_u32(&h->w, (uint32_t)cnt);
        for (int i = 0; !st && i < h->n_mine; i++) {
            if (!surv[h->mine[i]]) continue;
            // the client side checks the request (threshold, never both kinds of share)
            st = dc_secagg_client_unmask(h->sc[i], surv, rev, err);
            wb_i32(&h->w, h->mine[i]);
            for (int v = 0; v < h->np; v++) write_reveal(&h->w, &rev[v]);
        }
        free(surv);
        free(rev);
        host_free_sc(h); // one round, one set of keys
        return st ? st : host_send(h, DC_FED_MSG_REVEALS, err);
    }
    case DC_FED_MSG_LOST:
        host_free_sc(h);
        return DC_OK;
    case DC_FED_MSG_STOP: {
        uint32_t n = rb_u32(b);
        for (uint32_t i = 0; !b->bad && i < n; i++) {
            int rank = rb_i32(b);
            if (rank > 0 && rank < h->L->size && rank != h->L->rank) h->L->forget(h->L->ctx, rank);
        }
        *stop = true;
        return rb_done(b) ? DC_OK : dc_fail(err, DC_ERR_FORMAT, "federate: malformed stop message");
    }
    case DC_FED_MSG_DROPPED:
        h->dropped = true;
        return DC_OK;
    default:
        return dc_fail(err, DC_ERR_FORMAT, "federate: unexpected message %d from the server", kind);
    }
}

// The next message from the server, under cfg->server_timeout.
static dc_status host_recv(host *h, int *kind, rbuf *b, void **owned, dc_error *err) {
    int tag;
    size_t len;
    bool got;
    dc_status st = h->L->recv(h->L->ctx, 0, -1, &tag, owned, &len, h->cfg->server_timeout > 0 ? h->cfg->server_timeout : -1,
                              &got, err);
    if (st) return st;
    if (!got)
        return dc_fail(err, DC_ERR_IO,
                       "federate: rank %d heard nothing from the server (rank 0) for %g s: it is stopped, hung or "
                       "gone; aborting",
                       h->L->rank, h->cfg->server_timeout);
    *b = (rbuf){*owned, len, 0, false};
    uint32_t magic = rb_u32(b);
    *kind = (int)rb_u32(b);
    uint32_t round = rb_u32(b), attempt = rb_u32(b);
    if (magic != FED_MAGIC || *kind != tag) {
        free(*owned);
        *owned = NULL;
        return dc_fail(err, DC_ERR_FORMAT, "federate: malformed message from the server");
    }
    if (*kind == DC_FED_MSG_ROUND) h->round = (int)round;
    else if (*kind == DC_FED_MSG_RESTART) h->attempt = (int)attempt;
    else if (*kind != DC_FED_MSG_STOP && *kind != DC_FED_MSG_DROPPED && *kind != DC_FED_MSG_START &&
             (round != (uint32_t)h->round || (*kind != DC_FED_MSG_LOST && attempt != (uint32_t)h->attempt))) {
        free(*owned);
        *owned = NULL;
        return dc_fail(err, DC_ERR_FORMAT, "federate: server message %d for round %u, attempt %u; this rank is at round %d, attempt %d",
                       *kind, round + 1, attempt, h->round + 1, h->attempt);
    }
    return DC_OK;
}

dc_status fed_host(fed_run *r, dc_error *err) {
    host h;
    memset(&h, 0, sizeof h);
    h.r = r;
    h.cfg = r->cfg;
    h.L = r->cfg->link;
    const int maxsel = r->maxsel;
    h.pt = malloc(sizeof(part) * (size_t)maxsel);
    h.mine = malloc(sizeof(int) * (size_t)maxsel);
    h.keys = malloc(sizeof *h.keys * (size_t)maxsel);
    h.out = calloc((size_t)maxsel, sizeof(float *));
    h.clients = malloc(sizeof(int32_t) * (size_t)maxsel);
    dc_status st = DC_OK;
    if (!h.pt || !h.mine || !h.keys || !h.out || !h.clients) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    // contributions of the clients this rank hosts (at most all selected)
    int hosted = 0;
    for (int k = 0; k < r->K; k++) hosted += host_of(r, k) == h.L->rank;
    const int nout = hosted < maxsel ? hosted : maxsel;
    for (int i = 0; !st && i < nout; i++)
        if (!(h.out[i] = dc_alloc(sizeof(float) * (r->N ? r->N : 1)))) st = dc_fail(err, DC_ERR_NOMEM, "federate: out of memory");
    // HELLO {u32 byte-order probe, u64 P, u64 S, i32 c, h, w, classes, u64
    // options hash, u64 data hash, i32 samples}
    if (!st) {
        wb_hdr(&h.w, DC_FED_MSG_HELLO, 0, 0);
        wb_u32(&h.w, byte_order_probe());
        wb_u64(&h.w, r->P);
        wb_u64(&h.w, r->S);
        wb_i32(&h.w, r->m->in_c);
        wb_i32(&h.w, r->m->in_h);
        wb_i32(&h.w, r->m->in_w);
        wb_i32(&h.w, r->m->n_classes);
        wb_u64(&h.w, config_hash(r->cfg));
        wb_u64(&h.w, data_hash(r));
        wb_i32(&h.w, r->train ? r->train->n : 0);
        st = host_send(&h, DC_FED_MSG_HELLO, err);
    }
    bool started = false, stop = false;
    while (!st && !stop && !h.dropped) {
        int kind = 0;
        rbuf b;
        void *buf = NULL;
        if ((st = host_recv(&h, &kind, &b, &buf, err))) break;
        if (!started) {
            if (kind == DC_FED_MSG_START) {
                for (int c = 0; c < r->m->in_c; c++) {
                    uint32_t mu = rb_u32(&b), sd = rb_u32(&b);
                    memcpy(&r->m->norm_mean[c], &mu, 4);
                    memcpy(&r->m->norm_std[c], &sd, 4);
                }
                if (!rb_done(&b)) st = dc_fail(err, DC_ERR_FORMAT, "federate: malformed start message");
                started = true;
            } else if (kind == DC_FED_MSG_DROPPED) {
                h.dropped = true;
            } else {
                st = dc_fail(err, DC_ERR_FORMAT, "federate: message %d before the start", kind);
            }
        } else {
            st = host_message(&h, kind, &b, &stop, err);
        }
        free(buf);
    }
    if (h.dropped) h.L->forget(h.L->ctx, 0); // not an error of this rank: it ends quietly
    if (st && !h.dropped) {
        // tell the server, which names this rank and ends the job; wait a
        // moment for that, then fail on our own
        wbuf w = {0};
        wb_hdr(&w, DC_FED_MSG_ERROR, h.round, h.attempt);
        wb_str(&w, err ? err->msg : "failed");
        dc_error e2;
        if (!w.oom && !h.L->send(h.L->ctx, 0, DC_FED_MSG_ERROR, w.p, w.n, &e2)) {
            int tag;
            void *buf;
            size_t len;
            bool got;
            if (!h.L->recv(h.L->ctx, 0, DC_FED_MSG_STOP, &tag, &buf, &len, 10, &got, &e2) && got) free(buf);
        }
        free(w.p);
    }
    host_free_sc(&h);
    for (int i = 0; h.out && i < maxsel; i++) dc_free(h.out[i]);
    free(h.out);
    free(h.pt);
    free(h.mine);
    free(h.keys);
    free(h.clients);
    free(h.w.p);
    return st;
}

// ===========================================================================
// Per-rank data: agreeing on shapes, classes and normalisation

dc_status dc_fed_agree_sites(const dc_link *link, const dc_dataset *local, const char *local_error,
                             const dc_dataset *server_test, int n_classes, double timeout, dc_fed_sites *out,
                             dc_error *err) {
    memset(out, 0, sizeof *out);
    if (!link || link->size < 2)
        return dc_fail(err, DC_ERR_ARG, "--client-data: needs a run over ranks (mpirun -n K+1): rank 0 serves, each "
                                        "other rank reads its own data");
    wbuf w = {0};
    dc_status st = DC_OK;
    if (link->rank != 0) {
        // SITE {u32 ok; ok: i32 c, h, w, classes, n, u64 hist[256], string
        // source; not ok: string error}
        wb_hdr(&w, DC_FED_MSG_SITE, 0, 0);
        wb_u32(&w, local ? 1u : 0u);
        if (local) {
            uint64_t hist[256] = {0};
            size_t count = (size_t)local->n * local->c * local->h * local->w;
            for (size_t i = 0; i < count; i++) hist[local->pixels[i]]++;
            wb_i32(&w, local->c);
            wb_i32(&w, local->h);
            wb_i32(&w, local->w);
            wb_i32(&w, local->n_classes);
            wb_i32(&w, local->n);
            for (int v = 0; v < 256; v++) wb_u64(&w, hist[v]);
            wb_str(&w, local->source);
        } else {
            wb_str(&w, local_error ? local_error : "no data");
        }
        if (w.oom) st = dc_fail(err, DC_ERR_NOMEM, "--client-data: out of memory");
        if (!st) st = link->send(link->ctx, 0, DC_FED_MSG_SITE, w.p, w.n, err);
        free(w.p);
        if (st) return st;
        int tag;
        void *buf;
        size_t len;
        bool got;
        if ((st = link->recv(link->ctx, 0, -1, &tag, &buf, &len, timeout > 0 ? timeout : -1, &got, err))) return st;
        if (!got)
            return dc_fail(err, DC_ERR_IO, "--client-data: rank %d heard nothing from the server for %g s", link->rank,
                           timeout);
        rbuf b = {buf, len, 0, false};
        uint32_t magic = rb_u32(&b), kind = rb_u32(&b);
        rb_u32(&b);
        rb_u32(&b);
        out->c = rb_i32(&b);
        out->h = rb_i32(&b);
        out->w = rb_i32(&b);
        out->n_classes = rb_i32(&b);
        out->n_total = (long)rb_u64(&b);
        uint32_t mu = rb_u32(&b), sd = rb_u32(&b);
        memcpy(&out->norm_mean, &mu, 4);
        memcpy(&out->norm_std, &sd, 4);
        bool ok = magic == FED_MAGIC && kind == DC_FED_MSG_SITE_OK && tag == DC_FED_MSG_SITE_OK && rb_done(&b);
        free(buf);
        return ok ? DC_OK : dc_fail(err, DC_ERR_FORMAT, "--client-data: malformed answer from the server");
    }
    // the server: gather, compare, answer
    const int R = link->size - 1;
    int ref = -1, rc = 0, rh = 0, rw = 0, rn = 0;
    char ref_src[200] = "";
    if (server_test) {
        rc = server_test->c, rh = server_test->h, rw = server_test->w;
        snprintf(ref_src, sizeof ref_src, "the server's test set %.170s", server_test->source);
        ref = 0;
    }
    uint64_t pool[256] = {0};
    long total = 0;
    int *classes = calloc((size_t)R + 1, sizeof(int));
    if (!classes) return dc_fail(err, DC_ERR_NOMEM, "--client-data: out of memory");
    const double dl = deadline_in(timeout);
    for (int rank = 1; !st && rank <= R; rank++) {
        int tag;
        void *buf;
        size_t len;
        bool got;
        if ((st = link->recv(link->ctx, rank, DC_FED_MSG_SITE, &tag, &buf, &len, wait_left(dl), &got, err))) break;
        if (!got) {
            st = dc_fail(err, DC_ERR_IO, "--client-data: rank %d did not report its data within %g s", rank, timeout);
            break;
        }
        rbuf b = {buf, len, 0, false};
        uint32_t magic = rb_u32(&b);
        rb_u32(&b);
        rb_u32(&b);
        rb_u32(&b);
        uint32_t ok = rb_u32(&b);
        char src[600];
        if (magic != FED_MAGIC) {
            st = dc_fail(err, DC_ERR_FORMAT, "--client-data: rank %d sent a malformed report", rank);
        } else if (!ok) {
            rb_str(&b, src, sizeof src);
            st = dc_fail(err, DC_ERR_IO, "--client-data: rank %d: %s", rank, src);
        } else {
            int c = rb_i32(&b), h = rb_i32(&b), wd = rb_i32(&b), nc = rb_i32(&b), n = rb_i32(&b);
            uint64_t hist[256];
            for (int v = 0; v < 256; v++) hist[v] = rb_u64(&b);
            rb_str(&b, src, sizeof src);
            if (!rb_done(&b) || n < 0) {
                st = dc_fail(err, DC_ERR_FORMAT, "--client-data: rank %d sent a malformed report", rank);
            } else if (n == 0) {
                st = dc_fail(err, DC_ERR_ARG, "--client-data: rank %d (%s) has no training samples", rank, src);
            } else if (n_classes > 0 && nc > n_classes) {
                st = dc_fail(err, DC_ERR_ARG, "--client-data: rank %d (%.200s) has labels up to %d, beyond --classes %d",
                             rank, src, nc - 1, n_classes);
            } else if (ref < 0) {
                ref = rank, rc = c, rh = h, rw = wd, rn = nc;
                snprintf(ref_src, sizeof ref_src, "rank %d (%.160s)", rank, src);
            } else if (c != rc || h != rh || wd != rw) {
                st = dc_fail(err, DC_ERR_SHAPE,
                             "--client-data: rank %d (%.200s) has %dx%dx%d images but %s has %dx%dx%d: every site needs "
                             "the same input shape",
                             rank, src, c, h, wd, ref_src, rc, rh, rw);
            } else if (n_classes <= 0 && rn > 0 && nc != rn) {
                st = dc_fail(err, DC_ERR_ARG,
                             "--client-data: rank %d (%.200s) has %d classes (labels 0..%d) but %s has %d: give "
                             "--classes N when a site lacks the last classes",
                             rank, src, nc, nc - 1, ref_src, rn);
            }
            if (!st) {
                if (rn == 0) rn = nc;
                classes[rank] = nc;
                for (int v = 0; v < 256; v++) pool[v] += hist[v];
                total += n;
            }
        }
        free(buf);
    }
    if (!st) {
        out->c = rc, out->h = rh, out->w = rw;
        out->n_classes = n_classes > 0 ? n_classes : rn;
        if (server_test && server_test->n_classes > out->n_classes)
            st = dc_fail(err, DC_ERR_ARG, "--client-data: the server's test set %s has labels up to %d but the sites %d classes",
                         server_test->source, server_test->n_classes - 1, out->n_classes);
    }
    free(classes);
    if (st) return st; // the CLI prints it and ends the job: the client ranks wait for that
    // the normalisation of the pooled data, as dc_model_set_normalisation computes it
    uint64_t count = 0;
    double s = 0, s2 = 0;
    for (int v = 0; v < 256; v++) {
        double x = v / 255.0;
        count += pool[v];
        s += (double)pool[v] * x;
        s2 += (double)pool[v] * x * x;
    }
    double mean = count ? s / (double)count : 0.0;
    double var = count ? s2 / (double)count - mean * mean : 1.0;
    out->norm_mean = (float)mean;
    out->norm_std = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    out->n_total = total;
    // SITE_OK {i32 c, h, w, classes, u64 samples, f32 mean, f32 std}
    wb_hdr(&w, DC_FED_MSG_SITE_OK, 0, 0);
    wb_i32(&w, out->c);
    wb_i32(&w, out->h);
    wb_i32(&w, out->w);
    wb_i32(&w, out->n_classes);
    wb_u64(&w, (uint64_t)total);
    uint32_t mu, sd;
    memcpy(&mu, &out->norm_mean, 4);
    memcpy(&sd, &out->norm_std, 4);
    wb_u32(&w, mu);
    wb_u32(&w, sd);
    if (w.oom) st = dc_fail(err, DC_ERR_NOMEM, "--client-data: out of memory");
    for (int rank = 1; !st && rank <= R; rank++) st = link->send(link->ctx, rank, DC_FED_MSG_SITE_OK, w.p, w.n, err);
    free(w.p);
    return st;
}
