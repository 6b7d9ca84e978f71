// fed.h — federated learning, simulated in one process or spread over the
// ranks of a job (rank 0 the server, every other rank a host of clients).
//
// A round (McMahan et al. 2017): the server samples max(1, round(C*K))
// clients; each starts from the global weights w and state s (BatchNorm's
// running statistics) and trains locally (E epochs of plain SGD with batch
// B; FedProx adds mu/2 |w_k - w|^2; FedSGD computes one full-data gradient
// g_k and its "update" is -lr*g_k). Client k with n_k samples contributes
// the vector [n_k (w_k - w), n_k (s_k - s)] (P + S values); the server adds
// the contributions of the clients that delivered (in client order), divides
// by the sum of their n_k, and applies w += server_lr * v with v =
// server_momentum * v + average, s += average of the state part (integer
// counters such as num_batches_tracked rounded). So both the weights and the
// running statistics are the sample-weighted means of the clients'.
// Under client-level DP (DP-FedAvg, McMahan et al. 2018) each client
// contributes its update clipped to L2 norm S (no weighting), the server
// adds N(0, (sigma*S)^2) once to the sum and divides by the expected number
// of clients C*K; models with state are refused (their statistics would be
// neither clipped nor noised). With secure aggregation the server only ever
// sees masked fixed-point contributions and recovers their sum (secagg.h).
//
// Over ranks (cfg->link, fed_mpi.c) the server and the clients are separate
// processes that exchange only protocol messages (dc_fed_msg): the server
// runs only the server side of secure aggregation, each client rank only
// the client side. With the same seed and no rank lost, the result equals
// the simulation's bit for bit. A rank that does not answer within
// cfg->round_timeout (or whose link fails) is dropped for the rest of the
// run; its clients count as dropped, which secure aggregation's threshold
// sharing survives; a round with too few survivors is lost (the global
// model stays) and says so.
#ifndef DC_FED_H
#define DC_FED_H

#include "deepc.h"
#include "dist/dist.h"
#include "federated/secagg.h"

typedef enum dc_split_kind { DC_SPLIT_IID, DC_SPLIT_DIRICHLET, DC_SPLIT_SHARDS } dc_split_kind;
typedef enum dc_fed_algorithm { DC_FED_AVG, DC_FED_PROX, DC_FED_SGD } dc_fed_algorithm;

// The messages of the protocol over ranks (their tags on the link). Every
// message starts with a 16-byte header: u32 magic "dcfl", u32 kind, u32
// round, u32 attempt (little-endian). Payloads are listed in fed_mpi.c;
// the one tests inspect is DC_FED_MSG_MASKED: u32 count, then per client
// {i32 protocol id, u64 clipped coordinates, n u64 masked words}.
typedef enum dc_fed_msg {
    DC_FED_MSG_HELLO = 1, // client -> server, start-up: layout, options, sample counts
    DC_FED_MSG_START,     // server -> client: the run begins (normalisation)
    DC_FED_MSG_ROUND,     // server -> client: participants (and the global model)
    DC_FED_MSG_UPDATE,    // client -> server: plain contributions
    DC_FED_MSG_KEYS,      // client -> server: secure aggregation round 0 public keys
    DC_FED_MSG_RESTART,   // server -> client: key exchange again without lost ranks
    DC_FED_MSG_KEYLIST,   // server -> client: every participant's public keys
    DC_FED_MSG_SHARES,    // client -> server: encrypted key shares, for relaying
    DC_FED_MSG_ROUTED,    // server -> client: the shares addressed to its clients
    DC_FED_MSG_MASKED,    // client -> server: masked contributions
    DC_FED_MSG_UNMASK,    // server -> client: the survivors
    DC_FED_MSG_REVEALS,   // client -> server: the shares that remove the masks
    DC_FED_MSG_LOST,      // server -> client: this round is lost
    DC_FED_MSG_STOP,      // server -> client: the run is over (lost ranks listed)
    DC_FED_MSG_DROPPED,   // server -> client: this rank was dropped
    DC_FED_MSG_ERROR,     // client -> server: this rank failed (message text)
    DC_FED_MSG_SITE,      // client -> server: its own data's shape (dc_fed_agree_sites)
    DC_FED_MSG_SITE_OK,   // server -> client: the agreed shape and normalisation
} dc_fed_msg;

// Hooks for tests and audits; any may be NULL.
typedef struct dc_fed_observer {
    // After a client's local training, on the process that ran it (the
    // simulation calls it from several threads at once): the client's
    // weights (n_params; FedSGD: the global ones) and state (n_state).
    void (*local)(void *user, int round, int client, int n_samples, const float *params, const float *state);
    // Over ranks, on the server: every message taken from a client rank, as
    // it arrived (kind: a dc_fed_msg).
    void (*received)(void *user, int round, int from_rank, int kind, const void *bytes, size_t len);
    // Over ranks, on a client rank: it is about to send a message of this
    // kind (a test may stop the rank here).
    void (*sending)(void *user, int round, int rank, int kind);
    void *user;
} dc_fed_observer;

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
    int secagg_threshold;     // survivors needed (0: default ceil(2/3 of the participants))
    double dropout;           // simulated fraction of selected clients that drop
    bool client_dp;           // DP-FedAvg (McMahan et al. 2018)
    float dp_clip;            // S
    double dp_sigma;          // noise multiplier
    double dp_delta;
    bool dp_seeded;
    uint64_t dp_seed;
    // Over ranks (link->size > 1): rank 0 serves, ranks >= 1 host clients
    // (client k on rank 1 + k % (size - 1)). NULL or size 1: the simulation.
    const dc_link *link;
    // Over ranks: each client rank's `train` is its own data and all of it
    // is one client (clients == size - 1, client k on rank k + 1); the
    // server passes train = NULL. Otherwise every rank holds the whole
    // training set and the split.
    bool local_data;
    double round_timeout;     // server: seconds to wait for a rank's answer, local training included (<= 0: forever)
    double server_timeout;    // client rank: seconds to wait for the server's next message (<= 0: forever)
    dc_fed_observer obs;
} dc_fed_config;

dc_fed_config dc_fed_config_default(void);

// Splits train into cfg->clients disjoint parts that cover it exactly once:
// idx (n) holds sample indices client by client, off (clients+1) the starts.
dc_status dc_fed_split(const dc_dataset *train, const dc_fed_config *cfg,
                       int32_t **idx, int **off, dc_error *err);

typedef struct dc_fed_round {
    int round, rounds;
    int selected, dropped;    // dropped: selected clients whose contribution did not arrive
    bool lost;                // too few survivors: no update this round
    double test_acc;          // -1 when not evaluated this round
    double test_loss;
    double bytes_down, bytes_up; // simulation: what would cross the network; over ranks: what did
    double seconds;
    double epsilon;           // client-level DP spent so far (-1: none)
    int ranks_lost;           // over ranks: client ranks dropped so far
    const char *note;         // over ranks: which ranks were dropped this round and why, or NULL (valid during the callback)
} dc_fed_round;
typedef void (*dc_fed_callback)(const dc_fed_round *r, void *user);

// The secure-aggregation parameters of one round with `count` participating
// clients and n-value contributions: threshold cfg->secagg_threshold or
// ceil(2 count / 3) (at least 2), clip bound dp_clip under client-level DP,
// else DC_FED_SECAGG_RANGE. Keys and masks come from the OS CSPRNG
// (insecure_test_seed is always false): never from cfg->seed or dp_seed.
#define DC_FED_SECAGG_RANGE 1073741824.0 // 2^30: n_k * (state delta) fits (num_batches_tracked counts steps)
dc_secagg_params dc_fed_secagg_params(const dc_fed_config *cfg, int count, size_t n, int round);

// Runs the federation. In the simulation and on the server (rank 0) m ends
// as the trained global model; on a client rank m holds the last global
// model it received.
dc_status dc_federate(dc_model *m, const dc_dataset *train,
                      const dc_dataset *test, const dc_fed_config *cfg,
                      dc_fed_callback cb, void *user, dc_error *err);

// ---------------------------------------------------------------------------
// Per-rank data (`--client-data`): before the model is built, every client
// rank reports its own data set (or why it could not open it) and the
// server checks that all agree: the input shape, and the class count
// (1 + the largest label) unless n_classes > 0 is given, which every rank's
// labels must stay below. The server's own test set (may be NULL) must fit
// too. A disagreement fails on the server with a message naming the rank
// (and its source); the client ranks then wait for the job to be aborted.
// The normalisation is agreed from the pooled pixel histogram (each site
// reveals its 256-bin histogram and sample count to the server, no pixel).
typedef struct dc_fed_sites {
    int c, h, w, n_classes;   // agreed input shape and class count
    long n_total;             // samples over all client ranks
    float norm_mean, norm_std;
} dc_fed_sites;

// local: this client rank's data, or NULL with local_error (why it is
// missing) set; both unused on the server. timeout: seconds (<= 0: forever).
dc_status dc_fed_agree_sites(const dc_link *link, const dc_dataset *local, const char *local_error,
                             const dc_dataset *server_test, int n_classes, double timeout, dc_fed_sites *out,
                             dc_error *err);

#endif
