// mpi.c — the dc_comm transport over MPI (Open MPI from Debian). Compiled
// only when CMake finds MPI; src/dist/nompi.c stands in otherwise.
#include <mpi.h>
#include <stdlib.h>
#include "core/core.h"
#include "dist/dist.h"

// MPI counts are int: large vectors go in chunks of 2^30 values.
#define CHUNK ((size_t)1 << 30)

static dc_status mpi_error(dc_error *err, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return dc_fail(err, DC_ERR_IO, "MPI %s failed: %s", what, msg);
}

static dc_status allreduce_f32(void *ctx, float *v, size_t n, dc_error *err) {
    (void)ctx;
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, v + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "all-reduce");
    }
    return DC_OK;
}

static dc_status allreduce_f64(void *ctx, double *v, size_t n, dc_error *err) {
    (void)ctx;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? DC_OK : mpi_error(err, rc, "all-reduce");
}

static dc_status send_f32(void *ctx, int dest, const float *v, size_t n, dc_error *err) {
    (void)ctx;
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Send(v + off, cnt, MPI_FLOAT, dest, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "send");
    }
    return DC_OK;
}

static dc_status recv_f32(void *ctx, int src, float *v, size_t n, dc_error *err) {
    (void)ctx;
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Recv(v + off, cnt, MPI_FLOAT, src, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "receive");
    }
    return DC_OK;
}

static dc_status bcast_f32(void *ctx, float *v, size_t n, int root, dc_error *err) {
    (void)ctx;
    for (size_t off = 0; off < n; off += CHUNK) {
        int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Bcast(v + off, cnt, MPI_FLOAT, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_error(err, rc, "broadcast");
    }
    return DC_OK;
}

bool dc_mpi_available(void) { return true; }

bool dc_mpi_launched(void) {
    // set by mpirun (Open MPI), or by PMI-based launchers (MPICH, Slurm)
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

dc_status dc_mpi_init(int *argc, char ***argv, dc_comm *comm, dc_error *err) {
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) return mpi_error(err, rc, "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    comm->ctx = NULL;
    comm->allreduce_sum = allreduce_f32;
    comm->allreduce_sum_f64 = allreduce_f64;
    comm->send = send_f32;
    comm->recv = recv_f32;
    comm->bcast = bcast_f32;
    return DC_OK;
}

void dc_mpi_finalize(dc_comm *comm) {
    (void)comm;
    MPI_Finalize();
}

void dc_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
