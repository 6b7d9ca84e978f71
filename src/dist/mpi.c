// mpi.c — the dc_comm transport over MPI (Open MPI from Debian). Compiled
// only when CMake finds MPI; src/dist/nompi.c stands in otherwise.
//
// Every operation is non-blocking (MPI_Iallreduce, MPI_Isend, ...) and
// polled against a deadline: a rank that stops making progress (SIGSTOP, a
// hang, a lost node that the launcher has not noticed) makes the waiting
// ranks fail after the progress timeout with a message naming the
// operation, instead of waiting forever; the CLI then prints it and calls
// MPI_Abort, which ends the whole job. A killed rank already ends the job
// through the launcher (unless mpirun runs with --enable-recovery).
//
// The message link (dist.h) is the second half: tagged byte messages over
// MPI_COMM_WORLD with tags >= 1 (dc_comm's own point-to-point operations use
// tag 0), sends copied and queued, receives matched with MPI_Improbe so a
// message of any length and tag can be taken whole.
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"
#include "dist/dist.h"

// MPI counts are int: large vectors go in chunks of 2^30 values.
#define CHUNK ((size_t)1 << 30)
#define MAX_REQS 64 // chunks in flight at once (64 * 2^30 floats: more than memory)

// A queued send of the link: the request and the copy it reads.
typedef struct pending_send {
    MPI_Request req;
    void *buf;
    int dest;
} pending_send;

#define MPI_CTX_MAGIC 0x6d70692d63747831ull // "mpi-ctx1": tells dc_mpi_link its own comm

typedef struct mpi_ctx {
    uint64_t magic;
    double timeout; // seconds without completion before giving up; 0: never
    int rank, size;
    // the link's state
    pending_send *pend;  // (n_pend, capacity cap_pend) sends not yet known complete
    int n_pend, cap_pend;
    void **grave;        // (n_grave) buffers of sends abandoned to a lost peer:
    int n_grave, cap_grave; // MPI may still read them, so they live until exit
    bool *lost;          // (size) peers forgotten
    int n_lost;
} mpi_ctx;

static dc_status mpi_error(dc_error *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return dc_fail(err, DC_ERR_IO, "MPI %s failed: %s", what, msg);
}

// Waits for reqs[0..n) to complete, polling. Spins briefly (the common case
// completes in microseconds), then sleeps in growing steps up to 1 ms so a
// long wait does not burn a core.
static dc_status wait_all(const mpi_ctx *c, MPI_Request *reqs, int n, const char *what, size_t count,
                          dc_error *err) {
    const double t0 = MPI_Wtime();
    long sleep_ns = 0;
    for (long polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, what);
        if (done) return DC_OK;
        double waited = MPI_Wtime() - t0;
        if (c->timeout > 0 && waited > c->timeout)
            return dc_fail(err, DC_ERR_IO,
                           "MPI %s of %zu values made no progress for %.0f s on rank %d (--mpi-timeout %g): "
                           "another rank is stopped, hung or far behind; aborting the job",
                           what, count, waited, c->rank, c->timeout);
        if (polls < 20000) continue;
        sleep_ns = sleep_ns ? (sleep_ns * 2 > 1000000 ? 1000000 : sleep_ns * 2) : 1000;
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
    }
}

// The chunked pattern shared by every operation: start the chunk requests
// (start returns an MPI error code), then wait for them together.
typedef int (*start_fn)(void *buf, int cnt, int peer, MPI_Request *req);

static dc_status run_chunked(const mpi_ctx *c, void *v, size_t elem, size_t n, int peer, start_fn start,
                             const char *what, dc_error *err) {
    MPI_Request reqs[MAX_REQS];
    for (size_t off = 0; off < n;) {
        int k = 0;
        for (; k < MAX_REQS && off < n; k++) {
            int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
            int rc = start((char *)v + off * elem, cnt, peer, &reqs[k]);
            if (rc != MPI_SUCCESS) return mpi_error(err, rc, what);
            off += (size_t)cnt;
        }
        dc_status st = wait_all(c, reqs, k, what, n, err);
        if (st) return st;
    }
    return DC_OK;
}

static int start_allreduce_f32(void *buf, int cnt, int peer, MPI_Request *req) {
    (void)peer;
    return MPI_Iallreduce(MPI_IN_PLACE, buf, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, req);
}
static int start_allreduce_f64(void *buf, int cnt, int peer, MPI_Request *req) {
    (void)peer;
    return MPI_Iallreduce(MPI_IN_PLACE, buf, cnt, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, req);
}
static int start_send(void *buf, int cnt, int peer, MPI_Request *req) {
    return MPI_Isend(buf, cnt, MPI_FLOAT, peer, 0, MPI_COMM_WORLD, req);
}
static int start_recv(void *buf, int cnt, int peer, MPI_Request *req) {
    return MPI_Irecv(buf, cnt, MPI_FLOAT, peer, 0, MPI_COMM_WORLD, req);
}
static int start_bcast(void *buf, int cnt, int peer, MPI_Request *req) {
    return MPI_Ibcast(buf, cnt, MPI_FLOAT, peer, MPI_COMM_WORLD, req);
}

static dc_status allreduce_f32(void *ctx, float *v, size_t n, dc_error *err) {
    return run_chunked(ctx, v, sizeof(float), n, 0, start_allreduce_f32, "all-reduce", err);
}

static dc_status allreduce_f64(void *ctx, double *v, size_t n, dc_error *err) {
    return run_chunked(ctx, v, sizeof(double), n, 0, start_allreduce_f64, "all-reduce", err);
}

static dc_status send_f32(void *ctx, int dest, const float *v, size_t n, dc_error *err) {
    // MPI_Isend takes a non-const buffer in older MPI headers; it never writes it
    return run_chunked(ctx, (void *)v, sizeof(float), n, dest, start_send, "send", err);
}

static dc_status recv_f32(void *ctx, int src, float *v, size_t n, dc_error *err) {
    return run_chunked(ctx, v, sizeof(float), n, src, start_recv, "receive", err);
}

static dc_status bcast_f32(void *ctx, float *v, size_t n, int root, dc_error *err) {
    return run_chunked(ctx, v, sizeof(float), n, root, start_bcast, "broadcast", err);
}

bool dc_mpi_available(void) { return true; }

bool dc_mpi_launched(void) {
    // set by mpirun (Open MPI), or by PMI-based launchers (MPICH, Slurm)
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

dc_status dc_mpi_init(int *argc, char ***argv, dc_comm *comm, dc_error *err) {
    mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) return dc_fail(err, DC_ERR_NOMEM, "MPI init: out of memory");
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
        free(c);
        return mpi_error(err, rc, "init");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    c->magic = MPI_CTX_MAGIC;
    c->timeout = DC_MPI_TIMEOUT_DEFAULT;
    c->rank = comm->rank;
    c->size = comm->size;
    c->lost = calloc((size_t)comm->size, sizeof *c->lost);
    if (!c->lost) {
        free(c);
        MPI_Finalize();
        return dc_fail(err, DC_ERR_NOMEM, "MPI init: out of memory");
    }
    comm->ctx = c;
    comm->allreduce_sum = allreduce_f32;
    comm->allreduce_sum_f64 = allreduce_f64;
    comm->send = send_f32;
    comm->recv = recv_f32;
    comm->bcast = bcast_f32;
    return DC_OK;
}

void dc_mpi_set_timeout(const dc_comm *comm, double seconds) {
    if (comm && comm->ctx) ((mpi_ctx *)comm->ctx)->timeout = seconds > 0 ? seconds : 0;
}

static dc_status flush_sends(mpi_ctx *c, dc_error *err);

static void ctx_free(mpi_ctx *c) {
    if (!c) return;
    for (int i = 0; i < c->n_pend; i++) free(c->pend[i].buf);
    for (int i = 0; i < c->n_grave; i++) free(c->grave[i]);
    free(c->pend);
    free(c->grave);
    free(c->lost);
    free(c);
}

dc_status dc_mpi_finalize(dc_comm *comm, dc_error *err) {
    mpi_ctx *c = comm->ctx;
    dc_status st = c ? flush_sends(c, err) : DC_OK;
    if (!st && c && comm->size > 1 && c->n_lost == 0) { // MPI_Finalize waits for every rank: a barrier with a deadline first
        MPI_Request req;
        int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
        st = rc == MPI_SUCCESS ? wait_all(c, &req, 1, "final barrier", 0, err) : mpi_error(err, rc, "final barrier");
    }
    if (!st) MPI_Finalize();
    if (!st || !c || c->n_grave == 0) ctx_free(c); // abandoned buffers stay valid until exit
    comm->ctx = NULL;
    return st;
}

void dc_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

bool dc_mpi_lost_peers(const dc_comm *comm) {
    const mpi_ctx *c = comm ? comm->ctx : NULL;
    return c && c->magic == MPI_CTX_MAGIC && c->n_lost > 0;
}

void dc_mpi_exit(dc_comm *comm, int code) {
    fflush(stdout);
    fflush(stderr);
    mpi_ctx *c = comm ? comm->ctx : NULL;
    if (c) {
        dc_error err;
        if (flush_sends(c, &err)) fprintf(stderr, "deepc: %s\n", err.msg);
    }
    fflush(stderr);
    _exit(code);
}

// ---------------------------------------------------------------------------
// The message link

enum { LINK_TAG_MAX = 32767 };

// Frees the copies of sends that have completed (MPI_Test also drives
// progress). Keeps the order of the rest.
static dc_status reap_sends(mpi_ctx *c, dc_error *err) {
    int j = 0;
    for (int i = 0; i < c->n_pend; i++) {
        int done = 0;
        int rc = MPI_Test(&c->pend[i].req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "send");
        if (done) free(c->pend[i].buf);
        else c->pend[j++] = c->pend[i];
    }
    c->n_pend = j;
    return DC_OK;
}

// Waits (under the timeout) until every send to a peer that is not lost has
// left: before MPI_Finalize or exit, so the last messages are not cut off.
static dc_status flush_sends(mpi_ctx *c, dc_error *err) {
    const double t0 = MPI_Wtime();
    for (;;) {
        dc_status st = reap_sends(c, err);
        if (st) return st;
        if (c->n_pend == 0) return DC_OK;
        if (c->timeout > 0 && MPI_Wtime() - t0 > c->timeout)
            return dc_fail(err, DC_ERR_IO,
                           "MPI: %d messages from rank %d were not received within %g s (--mpi-timeout): a peer is "
                           "stopped or hung",
                           c->n_pend, c->rank, c->timeout);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static dc_status link_send(void *ctx, int dest, int tag, const void *buf, size_t len, dc_error *err) {
    mpi_ctx *c = ctx;
    if (dest < 0 || dest >= c->size || dest == c->rank || tag < 1 || tag > LINK_TAG_MAX || len > INT_MAX)
        return dc_fail(err, DC_ERR_ARG, "MPI link: send of %zu bytes to rank %d with tag %d: bad destination, tag or "
                                        "length (at most %d bytes)", len, dest, tag, INT_MAX);
    if (c->lost[dest]) return DC_OK; // a lost peer gets nothing more
    dc_status st = reap_sends(c, err);
    if (st) return st;
    if (c->n_pend == c->cap_pend) {
        int cap = c->cap_pend ? 2 * c->cap_pend : 16;
        pending_send *p = realloc(c->pend, sizeof *p * (size_t)cap);
        if (!p) return dc_fail(err, DC_ERR_NOMEM, "MPI link: out of memory queueing a send");
        c->pend = p;
        c->cap_pend = cap;
    }
    void *copy = malloc(len ? len : 1);
    if (!copy) return dc_fail(err, DC_ERR_NOMEM, "MPI link: out of memory copying a %zu-byte message", len);
    if (len) memcpy(copy, buf, len);
    pending_send *p = &c->pend[c->n_pend];
    int rc = MPI_Isend(copy, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &p->req);
    if (rc != MPI_SUCCESS) {
        free(copy);
        return mpi_error(err, rc, "send");
    }
    p->buf = copy;
    p->dest = dest;
    c->n_pend++;
    return DC_OK;
}

static dc_status link_recv(void *ctx, int src, int tag, int *tag_out, void **buf, size_t *len, double wait_s,
                           bool *got, dc_error *err) {
    mpi_ctx *c = ctx;
    *got = false;
    *buf = NULL;
    *len = 0;
    if (src < 0 || src >= c->size || src == c->rank || tag > LINK_TAG_MAX || tag == 0)
        return dc_fail(err, DC_ERR_ARG, "MPI link: receive from rank %d with tag %d: bad source or tag", src, tag);
    const double t0 = MPI_Wtime();
    long sleep_ns = 0;
    for (long polls = 0;; polls++) {
        dc_status st = reap_sends(c, err);
        if (st) return st;
        int flag = 0;
        MPI_Message msg;
        MPI_Status status;
        int rc = MPI_Improbe(src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &flag, &msg, &status);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "probe");
        if (flag && status.MPI_TAG == 0) // dc_comm's own traffic: not ours; never expected here
            return dc_fail(err, DC_ERR_IO, "MPI link: rank %d got a tag-0 message from rank %d (mixed protocols)",
                           c->rank, src);
        if (flag) {
            int count = 0;
            MPI_Get_count(&status, MPI_BYTE, &count);
            void *b = malloc(count > 0 ? (size_t)count : 1);
            if (!b) return dc_fail(err, DC_ERR_NOMEM, "MPI link: out of memory for a %d-byte message", count);
            MPI_Request req;
            rc = MPI_Imrecv(b, count, MPI_BYTE, &msg, &req);
            if (rc != MPI_SUCCESS) {
                free(b);
                return mpi_error(err, rc, "receive");
            }
            if ((st = wait_all(c, &req, 1, "receive", (size_t)count, err))) {
                free(b);
                return st;
            }
            *buf = b;
            *len = (size_t)count;
            *tag_out = status.MPI_TAG;
            *got = true;
            return DC_OK;
        }
        if (wait_s == 0 || (wait_s > 0 && MPI_Wtime() - t0 > wait_s)) return DC_OK;
        if (polls < 2000) continue;
        sleep_ns = sleep_ns ? (sleep_ns * 2 > 1000000 ? 1000000 : sleep_ns * 2) : 1000;
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
    }
}

static void link_forget(void *ctx, int peer) {
    mpi_ctx *c = ctx;
    if (peer < 0 || peer >= c->size || peer == c->rank || c->lost[peer]) return;
    c->lost[peer] = true;
    c->n_lost++;
    int j = 0;
    for (int i = 0; i < c->n_pend; i++) {
        if (c->pend[i].dest != peer) {
            c->pend[j++] = c->pend[i];
            continue;
        }
        // MPI completes (or never completes) it on its own; the buffer must
        // outlive it, so it joins the graveyard (freed at exit by the OS)
        MPI_Request_free(&c->pend[i].req);
        if (c->n_grave == c->cap_grave) {
            int cap = c->cap_grave ? 2 * c->cap_grave : 16;
            void **g = realloc(c->grave, sizeof *g * (size_t)cap);
            if (!g) continue; // out of memory: the copy leaks, it is not freed under MPI
            c->grave = g;
            c->cap_grave = cap;
        }
        c->grave[c->n_grave++] = c->pend[i].buf;
    }
    c->n_pend = j;
}

dc_status dc_mpi_link(const dc_comm *comm, dc_link *link, dc_error *err) {
    mpi_ctx *c = comm ? comm->ctx : NULL;
    if (!c || c->magic != MPI_CTX_MAGIC)
        return dc_fail(err, DC_ERR_ARG, "MPI link: the comm was not made by dc_mpi_init");
    link->rank = comm->rank;
    link->size = comm->size;
    link->ctx = c;
    link->send = link_send;
    link->recv = link_recv;
    link->forget = link_forget;
    return DC_OK;
}
