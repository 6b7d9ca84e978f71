// fed_impl.h — what the simulation (fed.c) and the rounds over ranks
// (fed_mpi.c) share: one run's buffers, local training, client selection,
// and the server's update. Internal to src/federated.
//
// Legend: K clients, P parameters, S state values, N = P + S (one client's
// contribution), T worker threads.
#ifndef DC_FED_IMPL_H
#define DC_FED_IMPL_H

#include "federated/fed.h"
#include "model/model.h"
#include "privacy/csprng.h"

// One worker thread's private buffers: weights, gradients and BatchNorm
// state bound to a single-threaded runtime over the model's graph. Each
// client starts from copies of the global weights and state, so a client's
// result does not depend on which worker ran it (nor on the thread count).
typedef struct fed_work {
    float *params, *grads, *state; // (P), (P), (S)
    dc_runtime *rt;
    int32_t *perm, *y;
} fed_work;

typedef struct fed_run {
    dc_model *m;
    const dc_dataset *train, *test; // train: NULL on a server without data
    const dc_fed_config *cfg;
    int K;
    size_t P, S, N;
    int32_t *idx;           // this process's view of the clients' samples:
    int *off;               // (K+1) client k owns idx[off[k] .. off[k+1]) of train
    int *count;             // (K) samples of each client (the server's weights)
    int maxsel;             // clients selected per round
    int T;                  // worker threads (0: this process trains nobody)
    fed_work *wk;           // (T)
    int min_batch;          // smallest batch the model trains on (BatchNorm: 2 values per channel)
    float *wg, *sg;         // (P), (S) global weights and state at the start of a round
    float *v;               // (P) server momentum
    float *acc;             // (N) the round's sum of contributions
    size_t *counters;       // (n_counters) state offsets of integer counters (num_batches_tracked)
    int n_counters;
    dc_csprng noise;        // server, client-level DP
    bool noise_ready;
} fed_run;

// Checks the configuration against the model and data and allocates what
// this process needs: `trains` (it hosts clients), `serves` (it aggregates).
dc_status fed_run_init(fed_run *r, dc_model *m, const dc_dataset *train, const dc_dataset *test,
                       const dc_fed_config *cfg, bool trains, bool serves, dc_error *err);
void fed_run_free(fed_run *r);

// Which clients take part in round `round`: sel (maxsel) in ascending
// order; returns how many. The same on every rank.
int fed_select(const dc_fed_config *cfg, int round, int32_t *sel);
// The simulated drop-outs (--dropout) among the nsel selected: dropped
// (nsel); returns how many.
int fed_sim_drops(const dc_fed_config *cfg, int round, int nsel, bool *dropped);
// Survivors secure aggregation needs among `count` participants.
int fed_threshold(const dc_fed_config *cfg, int count);

// Trains clients[0..n) from (wg, sg), spread over the workers: out[i] (N)
// receives client clients[i]'s contribution (zeros for a client without
// data). Copies the round's global model into wg/sg first from m.
dc_status fed_train(fed_run *r, int round, const int32_t *clients, int n, float *const *out, dc_error *err);

// The server's update from r->acc (the sum of the delivered contributions)
// and wsum (their clients' sample count): noise under client-level DP, the
// new global weights and state in r->m, and the divergence check.
dc_status fed_apply(fed_run *r, int round, double wsum, dc_error *err);
// The model stays as it was (a lost round): m from wg, sg.
void fed_keep(fed_run *r);
// Fills ev's evaluation (every eval_every rounds, and the last) and epsilon.
dc_status fed_evaluate(fed_run *r, int round, dc_fed_round *ev, dc_error *err);

// The rounds over ranks (fed_mpi.c): the server on rank 0, a client host
// on every other rank.
dc_status fed_serve(fed_run *r, dc_fed_callback cb, void *user, dc_error *err);
dc_status fed_host(fed_run *r, dc_error *err);

#endif
