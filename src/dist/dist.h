// dist.h — process-level parallelism: the MPI transport for dc_comm.
#ifndef DC_DIST_H
#define DC_DIST_H

#include <stdbool.h>
#include "deepc.h"

bool dc_mpi_available(void); // built with MPI?
bool dc_mpi_launched(void);  // started by mpirun (or another MPI launcher)?
// MPI_Init, and a dc_comm over MPI_COMM_WORLD.
dc_status dc_mpi_init(int *argc, char ***argv, dc_comm *comm, dc_error *err);
void dc_mpi_finalize(dc_comm *comm);
void dc_mpi_abort(int code); // stop every rank (after an error on one)

#endif
