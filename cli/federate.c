// federate.c — `deepc federate`: federated learning simulated in one process,
// or over MPI ranks (`mpirun -n K deepc federate ...`: rank 0 is the server,
// every other rank hosts clients, or with --client-data is one client that
// reads only its own data). One line (or JSON object) per round.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "core/core.h"
#include "dist/dist.h"
#include "federated/fed.h"
#include "privacy/dp_record.h"

typedef struct fed_cb {
    bool json;
    double elapsed;
    double bytes;
    int ranks_lost, rounds_lost;
} fed_cb;

static void on_round(const dc_fed_round *r, void *user) {
    fed_cb *s = user;
    s->elapsed += r->seconds;
    s->bytes += (long)(r->bytes_down + r->bytes_up);
    s->ranks_lost = r->ranks_lost;
    s->rounds_lost += r->lost;
    if (s->json) { // the shared vocabulary (README, "JSON output"): null where not measured
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "round");
        cJSON_AddNumberToObject(j, "round", r->round);
        cJSON_AddNumberToObject(j, "rounds", r->rounds);
        cJSON_AddNumberToObject(j, "selected", r->selected);
        cJSON_AddNumberToObject(j, "dropped", r->dropped);
        cJSON_AddBoolToObject(j, "lost", r->lost);
        cli_json_add(j, "test_accuracy", r->test_acc, 0);
        cli_json_add(j, "test_loss", r->test_loss, 0);
        cJSON_AddNumberToObject(j, "bytes_down", r->bytes_down);
        cJSON_AddNumberToObject(j, "bytes_up", r->bytes_up);
        cJSON_AddNumberToObject(j, "seconds", r->seconds);
        cJSON_AddNumberToObject(j, "elapsed", s->elapsed);
        cli_json_add(j, "epsilon", r->epsilon, 0);
        cJSON_AddNumberToObject(j, "ranks_lost", r->ranks_lost);
        if (r->note) cJSON_AddStringToObject(j, "note", r->note);
        else cJSON_AddNullToObject(j, "note");
        cli_json_print(j);
    } else {
        printf("round %4d/%d  clients %d", r->round, r->rounds, r->selected);
        if (r->dropped) printf(" (-%d dropped)", r->dropped);
        if (r->lost) printf("  LOST: too few survivors, model unchanged");
        if (r->test_acc >= 0) printf("  test acc %6.2f%%", 100 * r->test_acc);
        printf("  %.2f MB  %.2f s", (r->bytes_down + r->bytes_up) / 1e6, r->seconds);
        if (r->epsilon >= 0) printf("  eps %.3f", r->epsilon);
        if (r->note) printf("  [%s]", r->note);
        printf("\n");
    }
    fflush(stdout);
}

// "{rank}" in a --client-data pattern becomes this rank's number.
static bool subst_rank(const char *pat, int rank, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = pat; *p;) {
        if (!strncmp(p, "{rank}", 6)) {
            int w = snprintf(out + n, cap - n, "%d", rank);
            if (w < 0 || (size_t)w >= cap - n) return false;
            n += (size_t)w;
            p += 6;
        } else {
            if (n + 1 >= cap) return false;
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return true;
}

static bool parse_split(const char *v, dc_fed_config *c) {
    char *end;
    if (!strcmp(v, "iid")) {
        c->split = DC_SPLIT_IID;
        return true;
    }
    if (!strncmp(v, "shards:", 7)) {
        long k = strtol(v + 7, &end, 10);
        if (end == v + 7 || *end || k < 1 || k > 100000) return false;
        c->split = DC_SPLIT_SHARDS;
        c->shards = (int)k;
        return true;
    }
    if (!strncmp(v, "dirichlet:", 10)) {
        double a = strtod(v + 10, &end);
        if (end == v + 10 || *end || !(a > 0) || !isfinite(a)) return false;
        c->split = DC_SPLIT_DIRICHLET;
        c->alpha = a;
        return true;
    }
    return false;
}

static int federate_main(int argc, char **argv, const dc_comm *comm) {
    dc_fed_config c = dc_fed_config_default();
    const char *model = "lenet5", *data = "fashion-mnist", *out = "fl.safetensors", *split = "iid",
               *algorithm = "fedavg", *client_data = NULL;
    int limit = 0, test_limit = 0, classes = 0;
    float round_timeout = (float)DC_MPI_TIMEOUT_DEFAULT;
    float fraction = 0.1f, target_eps = 0, noise = 0, delta = 1e-5f, dropout = 0;
    bool json = false;
    float mpi_timeout = (float)DC_MPI_TIMEOUT_DEFAULT;
    dc_opt opts[] = {
        {"model", OPT_STR, &model, "built-in (lenet5, mlp) or architecture file [lenet5]"},
        {"data", OPT_STR, &data, "fashion-mnist, mnist, or a folder of MNIST-format IDX files [fashion-mnist]; with --client-data: the server's test set (optional)"},
        {"client-data", OPT_STR, &client_data, "under mpirun: each client rank reads only this folder, {rank} replaced by its rank (one client per rank)"},
        {"classes", OPT_INT, &classes, "with --client-data: the number of classes (when a site lacks the last ones) [agreed from the data]"},
        {"clients", OPT_INT, &c.clients, "number of clients K [100]"},
        {"partition", OPT_STR, &split, "how the training set is dealt to the clients: iid, shards:S (sort by label, S shards each), dirichlet:ALPHA [iid]"},
        {"fraction", OPT_FLOAT, &fraction, "fraction C of clients per round [0.1]"},
        {"local-epochs", OPT_INT, &c.local_epochs, "local epochs E [5]"},
        {"local-batch", OPT_INT, &c.local_batch, "local batch B [10]"},
        {"rounds", OPT_INT, &c.rounds, "communication rounds [50]"},
        {"algorithm", OPT_STR, &algorithm, "fedavg, fedprox or fedsgd [fedavg]"},
        {"mu", OPT_FLOAT, &c.mu, "FedProx proximal weight [0]"},
        {"lr", OPT_FLOAT, &c.lr, "client learning rate [0.05]"},
        {"server-lr", OPT_FLOAT, &c.server_lr, "server learning rate [1]"},
        {"server-momentum", OPT_FLOAT, &c.server_momentum, "server momentum [0]"},
        {"seed", OPT_U64, &c.seed, "seed for the split, client sampling and local shuffles [1]"},
        {"threads", OPT_INT, &c.nthreads, "threads per process (0: all cores) [0]"},
        {"eval-every", OPT_INT, &c.eval_every, "evaluate on the test set every N rounds [1]"},
        {"secure-agg", OPT_FLAG, &c.secure_agg, "secure aggregation: the server sees only masked updates"},
        {"threshold", OPT_INT, &c.secagg_threshold, "with --secure-agg: survivors needed to unmask a round [2/3 of the participants]"},
        {"dropout", OPT_FLOAT, &dropout, "with --secure-agg: fraction of selected clients that drop out [0]"},
        {"client-dp", OPT_FLAG, &c.client_dp, "client-level DP (DP-FedAvg): clip updates, noise the sum"},
        {"clip", OPT_FLOAT, &c.dp_clip, "client-level DP: update clip norm S [1]"},
        {"noise", OPT_FLOAT, &noise, "client-level DP: noise multiplier (or --target-epsilon)"},
        {"target-epsilon", OPT_FLOAT, &target_eps, "client-level DP: solve the noise for this epsilon"},
        {"delta", OPT_FLOAT, &delta, "client-level DP: delta [1e-5]"},
        {"dp-seed", OPT_U64, &c.dp_seed, "client-level DP: reproducible noise (tests; not secret)"},
        {"limit", OPT_INT, &limit, "use only the first N training samples (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "use only the first N test samples (0: all)"},
        {"out", OPT_STR, &out, "model file to write at the end [fl.safetensors]"},
        {"mpi-timeout", OPT_FLOAT, &mpi_timeout, "under mpirun: seconds a transfer may stall, and a client rank may wait for the server beyond --round-timeout, before the job is aborted (0: forever) [300]"},
        {"round-timeout", OPT_FLOAT, &round_timeout, "under mpirun: seconds the server waits for a rank's answer (local training included) before dropping that rank (0: forever) [300]"},
        {"json", OPT_FLAG, &json, "one JSON object per round"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 0, &n_pos, &help, "federate")) {
        if (help) {
            cli_usage("federate", "[options]", opts);
            return 0;
        }
        return 2;
    }
    const bool root = comm->rank == 0;
    if (!root) json = false;
    if (!(mpi_timeout >= 0)) {
        if (root) fprintf(stderr, "deepc federate: --mpi-timeout %g: expected seconds >= 0 (0: wait forever)\n", mpi_timeout);
        return 2;
    }
    dc_mpi_set_timeout(comm, mpi_timeout);
    if (!(round_timeout >= 0)) {
        if (root) fprintf(stderr, "deepc federate: --round-timeout %g: expected seconds >= 0 (0: wait forever)\n", round_timeout);
        return 2;
    }
#define BAD(...) do { if (root) { fprintf(stderr, "deepc federate: " __VA_ARGS__); fprintf(stderr, "\n"); } return 2; } while (0)
    if (!parse_split(split, &c)) BAD("--partition '%s': expected iid, shards:S or dirichlet:ALPHA", split);
    if (!strcmp(algorithm, "fedavg")) c.algorithm = DC_FED_AVG;
    else if (!strcmp(algorithm, "fedprox")) c.algorithm = DC_FED_PROX;
    else if (!strcmp(algorithm, "fedsgd")) c.algorithm = DC_FED_SGD;
    else BAD("--algorithm '%s': expected fedavg, fedprox or fedsgd", algorithm);
    if (c.algorithm == DC_FED_PROX && !cli_find(opts, "mu")->seen) c.mu = 0.01f;
    if (c.algorithm != DC_FED_PROX && c.mu != 0) BAD("--mu needs --algorithm fedprox");
    if (c.clients < 1 || c.rounds < 1 || c.local_epochs < 1 || c.local_batch < 1)
        BAD("--clients, --rounds, --local-epochs and --local-batch must be >= 1");
    if (!(fraction > 0 && fraction <= 1)) BAD("--fraction %g: expected (0, 1]", fraction);
    if (c.nthreads < 0 || limit < 0 || test_limit < 0) BAD("--threads, --limit, --test-limit must be >= 0");
    if (dropout && !c.secure_agg) BAD("--dropout needs --secure-agg");
    if (!(dropout >= 0 && dropout < 1)) BAD("--dropout %g: expected [0, 1)", dropout);
    bool noise_given = cli_find(opts, "noise")->seen, target_given = cli_find(opts, "target-epsilon")->seen;
    if (!c.client_dp && (noise_given || target_given || cli_find(opts, "dp-seed")->seen))
        BAD("--noise, --target-epsilon and --dp-seed need --client-dp");
    if (c.client_dp && noise_given == target_given) BAD("--client-dp needs exactly one of --noise and --target-epsilon");
    if (c.client_dp && (!(c.dp_clip > 0) || noise < 0 || !(delta > 0 && delta < 1) || (target_given && !(target_eps > 0))))
        BAD("--client-dp: --clip > 0, --noise >= 0, --target-epsilon > 0, --delta in (0,1)");
    if (client_data && comm->size < 2)
        BAD("--client-data needs mpirun with at least 2 ranks: rank 0 serves, each other rank is one client reading its own data");
    if (client_data && cli_find(opts, "clients")->seen && c.clients != comm->size - 1)
        BAD("--client-data: one client per client rank, so --clients must be %d (or left out)", comm->size - 1);
    if (!client_data && (cli_find(opts, "classes")->seen)) BAD("--classes needs --client-data");
    if (classes < 0 || classes == 1 || classes > 65536) BAD("--classes %d: expected 2..65536", classes);
    if (client_data) c.clients = comm->size - 1;
    if (c.secagg_threshold && !c.secure_agg) BAD("--threshold needs --secure-agg");
    if (c.secagg_threshold < 0 || c.secagg_threshold == 1) BAD("--threshold %d: expected >= 2", c.secagg_threshold);
    if (comm->size > 1 && comm->size - 1 > c.clients) BAD("%d client ranks for only %d clients", comm->size - 1, c.clients);
    c.fraction = fraction;
    c.dropout = dropout;
    c.dp_delta = delta;
    c.dp_seeded = cli_find(opts, "dp-seed")->seen;
    dc_error err;
    dc_link link;
    if (comm->size > 1) {
        if (dc_mpi_link(comm, &link, &err)) return cli_fail("federate", &err);
        c.link = &link;
        c.local_data = client_data != NULL;
        c.round_timeout = round_timeout;
        // a client rank waits for the server while the server waits for the
        // slowest rank (up to --round-timeout) and evaluates
        c.server_timeout = round_timeout > 0 && mpi_timeout > 0 ? (double)round_timeout + mpi_timeout : 0;
    }
    if (comm->size > 1 && !cli_find(opts, "threads")->seen) c.nthreads = 1;
    if (c.client_dp) {
        if (target_given) {
            double sigma;
            if (dc_rdp_solve_sigma(c.fraction, c.rounds, delta, target_eps, &sigma, &err)) return cli_fail("federate", &err);
            c.dp_sigma = sigma;
        } else {
            c.dp_sigma = noise;
        }
    }
    if (root && dc_check_output(out, &err)) { // fail now, not after the last round
        fprintf(stderr, "deepc federate: --out %s\n", err.msg);
        return 1;
    }
    if (root && c.client_dp && c.dp_seeded)
        fprintf(stderr, "deepc federate: warning: --dp-seed makes the client-level DP noise reproducible and NOT "
                        "secret: for tests only (the model's privacy record says so)\n");
    dc_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    dc_model *m = NULL;
    int rc = 0;
    dc_fed_sites sites;
    const bool server_test = client_data && cli_find(opts, "data")->seen;
    if (client_data) {
        // per-rank data: each client rank opens its own folder and nothing
        // else; the server opens only its test set (if --data is given).
        // Every rank reports to the server, which checks that all agree
        // (naming the rank that does not) before the model is built.
        dc_status ds = DC_OK;
        char path[4096], why[1100] = "";
        if (!root) {
            if (!subst_rank(client_data, comm->rank, path, sizeof path)) {
                snprintf(why, sizeof why, "--client-data %s: the path is too long", client_data);
                ds = DC_ERR_ARG;
            } else if ((ds = dc_data_open(&train, &test, path, &err))) {
                snprintf(why, sizeof why, "%s", err.msg);
            } else {
                dc_dataset_free(&test); // a site's own test files are not used
                if (limit > 0) dc_dataset_truncate(&train, limit);
            }
        } else if (server_test) {
            dc_dataset unused;
            if (dc_data_open(&unused, &test, data, &err)) {
                rc = cli_fail("federate", &err);
                goto done;
            }
            dc_dataset_free(&unused);
            if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
        }
        if (dc_fed_agree_sites(&link, !root && !ds ? &train : NULL, why, server_test ? &test : NULL,
                               classes, c.server_timeout > 0 ? c.server_timeout : round_timeout, &sites, &err)) {
            rc = cli_fail("federate", &err);
            goto done;
        }
        if (dc_model_create(&m, model, sites.c, sites.h, sites.w, sites.n_classes, &err)) {
            rc = cli_fail("federate", &err);
            goto done;
        }
        dc_model_set_normalisation_values(m, sites.norm_mean, sites.norm_std);
    } else {
        if (dc_data_open(&train, &test, data, &err)) return cli_fail("federate", &err);
        if (limit > 0) dc_dataset_truncate(&train, limit);
        if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
        if (dc_model_create(&m, model, train.c, train.h, train.w, train.n_classes, &err)) {
            rc = cli_fail("federate", &err);
            goto done;
        }
        if (cli_is_fashion(data) && dc_model_num_classes(m) == 10) dc_model_set_class_names(m, dc_fashion_classes, 10, &err);
        // the normalisation is computed on the pooled training set: a real
        // deployment would agree on it (or on fixed constants) beforehand
        dc_model_set_normalisation(m, &train);
    }
    dc_rng rng = dc_rng_stream(c.seed, 0, 0);
    dc_model_init_params(m, &rng);
    if (root && !json) {
        printf("federated %s: %d clients, partition %s, C=%g, E=%d, B=%d, %d rounds, client lr %g%s%s\n", algorithm,
               c.clients, split, c.fraction, c.local_epochs, c.local_batch, c.rounds, c.lr,
               c.secure_agg ? ", secure aggregation" : "", c.client_dp ? ", client-level DP" : "");
        if (c.client_dp)
            printf("client-level DP: clip %g, noise multiplier %.4f, delta %g%s\n", c.dp_clip, c.dp_sigma, delta,
                   c.dp_seeded ? " (seeded noise: reproducible, not secret)" : "");
        if (client_data)
            printf("over MPI: rank 0 serves, %d client ranks read their own data (%s: %ld samples in all)%s\n",
                   comm->size - 1, client_data, sites.n_total, server_test ? "" : "; no test set on the server (--data)");
        else if (comm->size > 1) printf("over MPI: rank 0 serves, %d ranks host the clients\n", comm->size - 1);
        fflush(stdout);
    }
    fed_cb s = {.json = json};
    if (dc_federate(m, root && client_data ? NULL : &train, &test, &c, on_round, &s, &err)) {
        rc = cli_fail("federate", &err);
        goto done;
    }
    if (root) {
        // the run's record, built with cJSON (strings escaped, numbers valid)
        cJSON *jc = cJSON_CreateObject();
        cJSON_AddStringToObject(jc, "mode", "federated");
        cJSON_AddStringToObject(jc, "algorithm", algorithm);
        cJSON_AddNumberToObject(jc, "clients", c.clients);
        cJSON_AddStringToObject(jc, "partition", split);
        cJSON_AddNumberToObject(jc, "fraction", c.fraction);
        cJSON_AddNumberToObject(jc, "local_epochs", c.local_epochs);
        cJSON_AddNumberToObject(jc, "local_batch", c.local_batch);
        cJSON_AddNumberToObject(jc, "rounds", c.rounds);
        cJSON_AddNumberToObject(jc, "lr", c.lr);
        cJSON_AddNumberToObject(jc, "mu", c.mu);
        cJSON_AddNumberToObject(jc, "server_lr", c.server_lr);
        cJSON_AddNumberToObject(jc, "server_momentum", c.server_momentum);
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)c.seed);
        cJSON_AddStringToObject(jc, "seed", seed);
        cJSON_AddBoolToObject(jc, "secure_agg", c.secure_agg);
        if (c.secure_agg)
            cJSON_AddStringToObject(jc, "secure_agg_keys",
                                    "X25519 keys and masks from the OS CSPRNG (libsodium randombytes), fresh every round");
        cJSON_AddNumberToObject(jc, "dropout", c.dropout);
        cJSON_AddBoolToObject(jc, "client_dp", c.client_dp);
        cJSON_AddNumberToObject(jc, "clip", c.dp_clip);
        cJSON_AddNumberToObject(jc, "noise", c.dp_sigma);
        cJSON_AddNumberToObject(jc, "delta", c.dp_delta);
        cJSON_AddNumberToObject(jc, "ranks", comm->size);
        if (client_data) cJSON_AddStringToObject(jc, "client_data", client_data);
        if (comm->size > 1) {
            cJSON_AddNumberToObject(jc, "round_timeout", round_timeout);
            cJSON_AddNumberToObject(jc, "ranks_lost", s.ranks_lost);
            cJSON_AddNumberToObject(jc, "rounds_lost", s.rounds_lost);
        }
        char *cfg = cJSON_PrintUnformatted(jc);
        cJSON_Delete(jc);
        if (cfg) dc_model_set_info(m, "train_config", cfg, &err);
        free(cfg);
        if (c.client_dp) {
            double eps = dc_rdp_epsilon(c.fraction, c.dp_sigma, c.rounds, delta, NULL);
            cJSON *jp = cJSON_CreateObject();
            cJSON_AddStringToObject(jp, "mechanism", "DP-FedAvg (client-level: updates clipped by each client, Gaussian noise added once to the sum by the server)");
            if (isfinite(eps)) cJSON_AddNumberToObject(jp, "epsilon", eps);
            else cJSON_AddNullToObject(jp, "epsilon"); // sigma = 0: no bound
            cJSON_AddNumberToObject(jp, "delta", delta);
            cJSON_AddNumberToObject(jp, "sigma", c.dp_sigma);
            cJSON_AddNumberToObject(jp, "clip", c.dp_clip);
            cJSON_AddNumberToObject(jp, "sample_rate", c.fraction);
            cJSON_AddNumberToObject(jp, "rounds", c.rounds);
            cJSON_AddStringToObject(jp, "accountant", "RDP of the sampled Gaussian mechanism");
            cJSON_AddStringToObject(jp, "noise", dc_dp_noise_source(c.dp_seeded));
            char *prv = cJSON_PrintUnformatted(jp);
            cJSON_Delete(jp);
            if (prv) dc_model_set_info(m, "privacy", prv, &err);
            free(prv);
        }
        if (dc_model_save(m, out, &err)) {
            rc = cli_fail("federate", &err);
            goto done;
        }
        dc_eval_result r = {0};
        const bool have_test = test.n > 0;
        if (have_test && dc_evaluate(m, &test, 1000, c.nthreads, &r, &err)) {
            rc = cli_fail("federate", &err);
            goto done;
        }
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "event", "done");
            cJSON_AddStringToObject(j, "split", "test");
            if (have_test) {
                cJSON_AddNumberToObject(j, "n", r.n);
                cJSON_AddNumberToObject(j, "accuracy", r.accuracy);
                cJSON_AddNumberToObject(j, "loss", r.loss);
            } else { // rank 0 without a test set (per-site data): not measured
                cJSON_AddNullToObject(j, "n");
                cJSON_AddNullToObject(j, "accuracy");
                cJSON_AddNullToObject(j, "loss");
            }
            cJSON_AddNumberToObject(j, "rounds", c.rounds);
            cJSON_AddNumberToObject(j, "seconds", s.elapsed);
            cJSON_AddNumberToObject(j, "bytes", (double)s.bytes);
            cJSON_AddNumberToObject(j, "ranks_lost", s.ranks_lost);
            cJSON_AddNumberToObject(j, "rounds_lost", s.rounds_lost);
            cJSON_AddStringToObject(j, "out", out);
            cli_json_print(j);
        } else {
            if (have_test) printf("test accuracy: %.2f%% (%d images) after", 100 * r.accuracy, r.n);
            else printf("no test set; trained");
            printf(" %d rounds, %.1f s, %.1f MB exchanged", c.rounds, s.elapsed, s.bytes / 1e6);
            if (s.rounds_lost) printf(", %d rounds lost", s.rounds_lost);
            if (s.ranks_lost) printf(", %d client ranks dropped", s.ranks_lost);
            printf("; saved %s\n", out);
        }
        if (have_test) dc_eval_result_free(&r);
    }
done:
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}

int cmd_federate(int argc, char **argv) {
    return cli_mpi_main("federate", NULL, federate_main, argc, argv);
}
