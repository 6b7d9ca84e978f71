// dist.h — process-level parallelism: the MPI transport for dc_comm, and a
// message link for protocols that must survive a lost rank.
#ifndef DC_DIST_H
#define DC_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include "deepc.h"

// Seconds an MPI operation may go without completing before the rank gives
// up (the CLI's --mpi-timeout default): long enough for rank 0 to evaluate
// and write a checkpoint while the others wait in the next all-reduce.
#define DC_MPI_TIMEOUT_DEFAULT 300.0

bool dc_mpi_available(void); // built with MPI?
bool dc_mpi_launched(void);  // started by mpirun (or another MPI launcher)?
// MPI_Init, and a dc_comm over MPI_COMM_WORLD (its transport state in
// comm->ctx, released by dc_mpi_finalize).
dc_status dc_mpi_init(int *argc, char ***argv, dc_comm *comm, dc_error *err);
// Every operation of comm fails (DC_ERR_IO, the message names the operation
// and the rank) once it has waited `seconds` without completing; 0 waits
// forever. After such a failure the job must be ended with dc_mpi_abort.
void dc_mpi_set_timeout(const dc_comm *comm, double seconds);
// A barrier under the same timeout, then MPI_Finalize. On failure MPI is
// not finalized: call dc_mpi_abort. After a link of this comm forgot a peer
// (see dc_link), use dc_mpi_exit instead: a barrier would wait for the lost
// rank.
dc_status dc_mpi_finalize(dc_comm *comm, dc_error *err);
void dc_mpi_abort(int code); // stop every rank (after an error on one)
// True once a link over comm has forgotten a peer (a rank that died or
// stopped answering).
bool dc_mpi_lost_peers(const dc_comm *comm);
// Ends this process with `code` without MPI_Finalize (whose closing
// synchronisation would wait for the lost rank): flushes stdio, waits (up to
// the timeout) for this rank's own messages to live peers to leave, exits.
// Under Open MPI the job survives a lost rank only when mpirun was started
// with --enable-recovery; otherwise the launcher has already ended it.
void dc_mpi_exit(dc_comm *comm, int code);

// ---------------------------------------------------------------------------
// A message link: tagged byte messages between the ranks of a job, point to
// point only (a collective operation would wait for every rank, a dead one
// too), every wait bounded. Federated learning over ranks runs on it
// (src/federated/fed_mpi.c), so that a rank that dies or stops answering
// costs the server one timeout, not the job.
//
// Sends never block: the payload is copied and handed to the transport,
// which delivers messages between one pair of ranks in the order they were
// sent. A receive names its source and a tag (or -1: whichever message from
// that source comes next) and waits at most wait_s seconds for one to start
// arriving (0: look once; < 0: forever); a message that has started
// arriving is completed under the transport's own timeout.
typedef struct dc_link {
    int rank, size;   // this process, and how many take part
    void *ctx;        // the transport's state
    // Queues len bytes (at most INT_MAX) for dest under tag (0..32767).
    dc_status (*send)(void *ctx, int dest, int tag, const void *buf, size_t len, dc_error *err);
    // The next message from src with this tag (-1: any tag). *got = false
    // when none arrived in time (not an error). Otherwise *buf is malloc'ed
    // (free it; never NULL), *len its length, *tag_out its tag.
    dc_status (*recv)(void *ctx, int src, int tag, int *tag_out, void **buf, size_t *len, double wait_s,
                      bool *got, dc_error *err);
    // peer is gone: never wait for it again (its queued messages are
    // abandoned, not freed while the transport might still read them).
    void (*forget)(void *ctx, int peer);
} dc_link;

// The link over an MPI comm made by dc_mpi_init (same ranks, same timeout).
// Fails when comm is not one.
dc_status dc_mpi_link(const dc_comm *comm, dc_link *link, dc_error *err);

#endif
