// nompi.c — what the build has when MPI was not found: the CLI can say so
// instead of failing to link. (CMake compiles this or mpi.c, never both.)
#include <stdlib.h>
#include "core/core.h"
#include "dist/dist.h"

bool dc_mpi_available(void) { return false; }

// Started by mpirun although this build has no MPI: say so instead of letting
// K copies train independently and race to write one checkpoint.
bool dc_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

dc_status dc_mpi_init(int *argc, char ***argv, dc_comm *comm, dc_error *err) {
    (void)argc;
    (void)argv;
    (void)comm;
    return dc_fail(err, DC_ERR_UNSUPPORTED,
                   "this deepc was built without MPI: install libopenmpi-dev and rebuild (scripts/setup.sh does)");
}

void dc_mpi_set_timeout(const dc_comm *comm, double seconds) {
    (void)comm;
    (void)seconds;
}

dc_status dc_mpi_finalize(dc_comm *comm, dc_error *err) {
    (void)comm;
    (void)err;
    return DC_OK;
}

void dc_mpi_abort(int code) { exit(code); }

bool dc_mpi_lost_peers(const dc_comm *comm) {
    (void)comm;
    return false;
}

void dc_mpi_exit(dc_comm *comm, int code) {
    (void)comm;
    exit(code);
}

dc_status dc_mpi_link(const dc_comm *comm, dc_link *link, dc_error *err) {
    (void)comm;
    (void)link;
    return dc_fail(err, DC_ERR_UNSUPPORTED,
                   "this deepc was built without MPI: install libopenmpi-dev and rebuild (scripts/setup.sh does)");
}
