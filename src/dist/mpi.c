// mpi.c — the dc_comm transport over MPI (Open MPI from Debian). Compiled
// only when CMake finds MPI; src/dist/nompi.c stands in otherwise.
//
// Every operation is non-blocking (MPI_Iallreduce, MPI_Isend, ...) and
// polled against a deadline: a rank that stops making progress (SIGSTOP, a
// hang, a lost node that the launcher has not noticed) makes the waiting
// ranks fail after the progress timeout with a message naming the
// operation, instead of waiting forever; the CLI then prints it and calls
// MPI_Abort, which ends the whole job. A killed rank already ends the job
// through the launcher.
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdlib.h>
#include <time.h>
#include "core/core.h"
#include "dist/dist.h"

// MPI counts are int: large vectors go in chunks of 2^30 values.
#define CHUNK ((size_t)1 << 30)
#define MAX_REQS 64 // chunks in flight at once (64 * 2^30 floats: more than memory)

typedef struct mpi_ctx {
    double timeout; // seconds without completion before giving up; 0: never
    int rank;
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
    c->timeout = DC_MPI_TIMEOUT_DEFAULT;
    c->rank = comm->rank;
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

dc_status dc_mpi_finalize(dc_comm *comm, dc_error *err) {
    mpi_ctx *c = comm->ctx;
    dc_status st = DC_OK;
    if (c && comm->size > 1) { // MPI_Finalize waits for every rank: a barrier with a deadline first
        MPI_Request req;
        int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
        st = rc == MPI_SUCCESS ? wait_all(c, &req, 1, "final barrier", 0, err) : mpi_error(err, rc, "final barrier");
    }
    if (!st) MPI_Finalize();
    free(c);
    comm->ctx = NULL;
    return st;
}

void dc_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
