// fed.h — federated learning, simulated in one process or spread over MPI
// ranks (rank 0 the server, every other rank a host of clients).
//
// A round (McMahan et al. 2017): the server samples max(1, round(C*K))
// clients; each starts from the global weights w and trains locally (E
// epochs of plain SGD with batch B; FedProx adds mu/2 |w_k - w|^2; FedSGD
// computes one full-data gradient g_k and its "update" is -lr*g_k); the
// server averages the updates weighted by client sample count (or, under
// client-level DP, clips each to S, sums, adds N(0, (sigma*S)^2) and divides
// by the expected number of clients) and applies w += server_lr * v with
// v = server_momentum * v + average. With secure aggregation the server only
// ever sees masked fixed-point updates and recovers their sum.
#ifndef DC_FED_H
#define DC_FED_H

#include "deepc.h"
#include "federated/secagg.h"

typedef enum dc_split_kind { DC_SPLIT_IID, DC_SPLIT_DIRICHLET, DC_SPLIT_SHARDS } dc_split_kind;
typedef enum dc_fed_algorithm { DC_FED_AVG, DC_FED_PROX, DC_FED_SGD } dc_fed_algorithm;

typedef struct dc_fed_config {
    int clients;              // K
    dc_split_kind split;
    double alpha;             // Dirichlet concentration
    int shards;               // shards per client (pathological non-IID)
    double fraction;          // C: fraction of clients per round
    int local_epochs;         // E
    int local_batch;          // B (FedAvg/FedProx)
    int rounds;
    dc_fed_algorithm algorithm;
    float mu;                 // FedProx proximal weight
    float lr;                 // client learning rate
    float server_lr, server_momentum;
    uint64_t seed;
    int nthreads;
    int eval_every;           // evaluate the global model every this many rounds
    bool secure_agg;          // masked fixed-point aggregation (secagg.h)
    int secagg_threshold;     // survivors needed (0: default ceil(2/3 of selected))
    double dropout;           // simulated fraction of selected clients that drop
    bool client_dp;           // DP-FedAvg (McMahan et al. 2018)
    float dp_clip;            // S
    double dp_sigma;          // noise multiplier
    double dp_delta;
    bool dp_seeded;
    uint64_t dp_seed;
    const dc_comm *comm;      // MPI: rank 0 serves, ranks >= 1 host clients
} dc_fed_config;

dc_fed_config dc_fed_config_default(void);

// Splits train into cfg->clients disjoint parts that cover it exactly once:
// idx (n) holds sample indices client by client, off (clients+1) the starts.
dc_status dc_fed_split(const dc_dataset *train, const dc_fed_config *cfg,
                       int32_t **idx, int **off, dc_error *err);

typedef struct dc_fed_round {
    int round, rounds;
    int selected, dropped;
    bool lost;                // secure aggregation: too few survivors, no update
    double test_acc;          // -1 when not evaluated this round
    double test_loss;
    double bytes_down, bytes_up; // what would cross the network this round
    double seconds;
    double epsilon;           // client-level DP spent so far (-1: none)
} dc_fed_round;
typedef void (*dc_fed_callback)(const dc_fed_round *r, void *user);

// The secure-aggregation parameters of one round with `count` selected
// clients and n-value updates. Keys and masks come from the OS CSPRNG
// (insecure_test_seed is always false): never from cfg->seed or dp_seed.
dc_secagg_params dc_fed_secagg_params(const dc_fed_config *cfg, int count, size_t n, int round);

dc_status dc_federate(dc_model *m, const dc_dataset *train,
                      const dc_dataset *test, const dc_fed_config *cfg,
                      dc_fed_callback cb, void *user, dc_error *err);

#endif
