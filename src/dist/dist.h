// dist.h — process-level parallelism: the MPI transport for dc_comm.
#ifndef DC_DIST_H
#define DC_DIST_H

#include <stdbool.h>
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
// not finalized: call dc_mpi_abort.
dc_status dc_mpi_finalize(dc_comm *comm, dc_error *err);
void dc_mpi_abort(int code); // stop every rank (after an error on one)

#endif
