// test_fed_link.c — the federation over ranks (fed_mpi.c), each rank a
// thread on an in-process link (fed_link_fake.h), so that every phase of the
// protocol can lose a rank deterministically:
//  - plain, secure (with simulated drop-outs) and seeded client-level DP
//    runs over 4 ranks give the simulation's weights and BatchNorm
//    statistics bit for bit; so does per-rank data (each client rank holds
//    only its client's samples, the server none);
//  - a rank killed before its keys, its key shares, its masked vector or its
//    reveals: the round completes from the survivors (restarting the key
//    exchange without the lost rank's clients when needed) and matches a
//    plain run that lost the same clients, or is reported lost when too few
//    survive, leaving the model as it was;
//  - ranks started with other options or another model are refused, naming
//    the rank;
//  - per-rank data (dc_fed_agree_sites): a rank with another image shape or
//    class count, or no data, is refused naming the rank; agreeing sites get
//    the normalisation of their pooled data, bit for bit.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fed_link_fake.h"
#include "harness.h"

static dc_fed_config base_cfg(void) {
    dc_fed_config f = dc_fed_config_default();
    f.clients = 10;
    f.fraction = 0.5;
    f.local_epochs = 1;
    f.rounds = 2;
    f.split = DC_SPLIT_SHARDS;
    f.seed = 3;
    return f;
}

// ---------------------------------------------------------------------------

static void equality_checks(const dc_dataset *tr, const dc_dataset *te) {
    printf("over 4 ranks == the simulation, bit for bit\n");
    dc_error err;
    job jb;
    dc_model *mo, *ms;
    job_spec sp = {.size = 4, .cfg = base_cfg(), .arch = ARCH_BN, .train = tr, .test = te};
    CHECK(run_job(&sp, &jb, &mo, &err) == DC_OK, "plain over ranks: %s", err.msg);
    ms = run_sim(&sp.cfg, ARCH_BN, tr, te);
    CHECK(same_model(mo, ms), "plain FedAvg, BatchNorm model: weights and statistics equal the simulation's");
    CHECK(jb.n_ev == 2 && jb.ev[1].selected == 5 && jb.ev[1].dropped == 0 && !jb.ev[1].lost && jb.ev[1].bytes_up > 0 &&
              jb.ev[1].test_acc >= 0,
          "two rounds reported, 5 clients, none dropped, bytes and accuracy measured");
    dc_model_free(mo);
    dc_model_free(ms);

    sp.cfg.secure_agg = true;
    CHECK(run_job(&sp, &jb, &mo, &err) == DC_OK, "secure over ranks: %s", err.msg);
    ms = run_sim(&sp.cfg, ARCH_BN, tr, te);
    CHECK(same_model(mo, ms), "secure aggregation over ranks == simulated secure aggregation (BatchNorm model)");
    dc_model_free(mo);
    dc_model_free(ms);

    sp.cfg.dropout = 0.3;
    sp.cfg.rounds = 3;
    CHECK(run_job(&sp, &jb, &mo, &err) == DC_OK, "secure with drop-outs over ranks: %s", err.msg);
    ms = run_sim(&sp.cfg, ARCH_BN, tr, te);
    int dropped = 0;
    for (int i = 0; i < jb.n_ev; i++) dropped += jb.ev[i].dropped;
    CHECK(same_model(mo, ms) && dropped > 0, "with simulated drop-outs (%d dropped): equal to the simulation", dropped);
    dc_model_free(mo);
    dc_model_free(ms);

    job_spec dp = {.size = 4, .cfg = base_cfg(), .arch = ARCH_LENET, .train = tr, .test = te};
    dp.cfg.secure_agg = true;
    dp.cfg.client_dp = true;
    dp.cfg.dp_clip = 0.5f;
    dp.cfg.dp_sigma = 1.0;
    dp.cfg.dp_seeded = true;
    dp.cfg.dp_seed = 11;
    CHECK(run_job(&dp, &jb, &mo, &err) == DC_OK, "client-level DP over ranks: %s", err.msg);
    ms = run_sim(&dp.cfg, ARCH_LENET, tr, te);
    CHECK(same_model(mo, ms) && jb.n_ev == 2 && jb.ev[1].epsilon > 0,
          "client-level DP + secure aggregation over ranks (seeded noise, added once by the server) == simulation");
    dc_model_free(mo);
    dc_model_free(ms);

    printf("per-rank data == the simulation's split\n");
    dc_fed_config lc = dc_fed_config_default();
    lc.clients = 3;
    lc.fraction = 1;
    lc.local_epochs = 1;
    lc.rounds = 2;
    lc.split = DC_SPLIT_IID;
    lc.secure_agg = true;
    int32_t *idx;
    int *off;
    CHECK(dc_fed_split(tr, &lc, &idx, &off, &err) == DC_OK, "%s", err.msg);
    dc_dataset site[3];
    for (int k = 0; k < 3; k++) { // client k's samples, in the split's order, are rank k+1's own data
        const int n = off[k + 1] - off[k];
        site[k] = *tr;
        site[k].n = n;
        site[k].pixels = malloc((size_t)n * 784);
        site[k].labels = malloc(sizeof(int32_t) * (size_t)n);
        for (int i = 0; i < n; i++) {
            memcpy(site[k].pixels + (size_t)i * 784, tr->pixels + (size_t)idx[off[k] + i] * 784, 784);
            site[k].labels[i] = tr->labels[idx[off[k] + i]];
        }
    }
    job_spec ls = {.size = 4, .cfg = lc, .arch = ARCH_BN, .train = tr, .test = te};
    ls.cfg.local_data = true;
    for (int k = 0; k < 3; k++) ls.local[k + 1] = &site[k];
    CHECK(run_job(&ls, &jb, &mo, &err) == DC_OK, "per-rank data: %s", err.msg);
    ms = run_sim(&lc, ARCH_BN, tr, te);
    CHECK(same_model(mo, ms), "each rank holding only its own client's samples gives the simulation's model");
    dc_model_free(mo);
    dc_model_free(ms);
    for (int k = 0; k < 3; k++) dc_dataset_free(&site[k]);
    free(idx);
    free(off);
}

// The largest relative difference beyond atol, over weights and state.
static double model_diff(const dc_model *a, const dc_model *b) {
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        const float *x = pass ? a->state : a->params, *y = pass ? b->state : b->params;
        size_t n = pass ? a->n_state : a->n_params;
        for (size_t j = 0; j < n; j++) {
            double d = fabs((double)x[j] - y[j]) - 1e-6;
            double rel = d > 0 ? d / (fabs((double)y[j]) + 1e-12) : 0;
            if (rel > worst) worst = rel;
        }
    }
    return worst;
}

static void kill_checks(const dc_dataset *tr, const dc_dataset *te) {
    printf("a rank killed at each phase of a secure round\n");
    dc_error err;
    job jb, jp;
    // 6 clients on 3 client ranks (rank r hosts clients r-1 and r+2), all
    // selected: threshold 4
    dc_fed_config c = base_cfg();
    c.clients = 6;
    c.fraction = 1;
    c.split = DC_SPLIT_IID;
    // the reference: a plain run whose rank 2 dies before delivering round 2
    job_spec ref = {.size = 4, .cfg = c, .arch = ARCH_BN, .train = tr, .test = te, .kill_rank = 2, .kill_round = 1,
                    .kill_kind = DC_FED_MSG_UPDATE};
    dc_model *mref;
    CHECK(run_job(&ref, &jp, &mref, &err) == DC_OK, "plain run losing rank 2: %s", err.msg);
    CHECK(jp.n_ev == 2 && jp.ev[1].dropped == 2 && !jp.ev[1].lost && jp.ev[1].ranks_lost == 1 &&
              strstr(jp.notes[1], "rank 2 dropped"),
          "plain: round 2 averages the 4 survivors (dropped %d, note '%s')", jp.n_ev == 2 ? jp.ev[1].dropped : -1,
          jp.notes[1]);
    struct {
        int round, kind;
        const char *what;
    } at[] = {
        {1, DC_FED_MSG_KEYS, "before its keys (the key exchange restarts without it)"},
        {1, DC_FED_MSG_SHARES, "before its key shares (restart)"},
        {1, DC_FED_MSG_MASKED, "before its masked vector (the survivors' shares unmask)"},
        {0, DC_FED_MSG_REVEALS, "before its reveals in round 1 (its masked vector counts; 4 answers suffice)"},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        job_spec sp = ref;
        sp.cfg.secure_agg = true;
        sp.kill_round = at[i].round;
        sp.kill_kind = at[i].kind;
        dc_model *m;
        dc_status st = run_job(&sp, &jb, &m, &err);
        CHECK(st == DC_OK, "%s: %s", at[i].what, err.msg);
        if (st) {
            dc_model_free(m);
            continue;
        }
        double d = model_diff(m, mref);
        const int last = jb.n_ev - 1;
        printf("  killed %-70s rounds lost %d/%d, dropped in round 2: %d, vs plain: max rel %.2g\n", at[i].what,
               jb.ev[0].lost + jb.ev[1].lost, jb.n_ev, jb.ev[1].dropped, d);
        CHECK(jb.n_ev == 2 && !jb.ev[0].lost && !jb.ev[1].lost && jb.ev[1].dropped == 2 && jb.ev[last].ranks_lost == 1,
              "%s: both rounds complete, round 2 without rank 2's 2 clients", at[i].what);
        CHECK(d < 1e-5, "%s: the model equals the plain run that lost the same clients (max rel %.3g)", at[i].what, d);
        const int when = at[i].round;
        const bool restart = at[i].kind == DC_FED_MSG_KEYS || at[i].kind == DC_FED_MSG_SHARES;
        CHECK(strstr(jb.notes[when], "rank 2 dropped") && !strstr(jb.notes[when], "restarted") == !restart,
              "%s: the round's note says what happened: '%s'", at[i].what, jb.notes[when]);
        dc_model_free(m);
    }
    dc_model_free(mref);

    printf("too few survivors: the round is lost and says so\n");
    job_spec one = ref;
    one.cfg.secure_agg = true;
    one.cfg.rounds = 1;
    one.kill_kind = 0;
    dc_model *m1, *ml;
    CHECK(run_job(&one, &jb, &m1, &err) == DC_OK, "%s", err.msg);
    job_spec all = ref;
    all.cfg.secure_agg = true;
    all.cfg.secagg_threshold = 6; // every client must survive
    all.cfg.rounds = 3;
    all.kill_kind = DC_FED_MSG_MASKED;
    CHECK(run_job(&all, &jb, &ml, &err) == DC_OK, "%s", err.msg);
    CHECK(jb.n_ev == 3 && !jb.ev[0].lost && jb.ev[1].lost && jb.ev[2].lost && jb.ev[2].ranks_lost == 1,
          "threshold 6 of 6: round 1 completes, rounds 2 and 3 are lost");
    CHECK(same_model(m1, ml), "lost rounds leave the model of round 1, bit for bit");
    dc_model_free(m1);
    dc_model_free(ml);
}

static void refusal_checks(const dc_dataset *tr, const dc_dataset *te) {
    printf("ranks that disagree are refused, named\n");
    dc_error err;
    job jb;
    dc_model *m;
    job_spec sp = {.size = 4, .cfg = base_cfg(), .arch = ARCH_BN, .train = tr, .test = te, .odd_rank = 2, .odd_lr = 0.5f,
                   .odd_arch = ARCH_BN};
    dc_status st = run_job(&sp, &jb, &m, &err);
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "rank 2") && strstr(err.msg, "options"), "other options: %s", err.msg);
    dc_model_free(m);
    sp.odd_rank = 3;
    sp.odd_lr = 0;
    sp.odd_arch = ARCH_LENET;
    st = run_job(&sp, &jb, &m, &err);
    CHECK(st == DC_ERR_SHAPE && strstr(err.msg, "rank 3"), "another model: %s", err.msg);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// dc_fed_agree_sites

typedef struct site_job {
    fake_end end;
    dc_link link;
    const dc_dataset *local;
    const char *why;
    const dc_dataset *server_test;
    int n_classes;
    dc_fed_sites out;
    dc_status st;
    dc_error err;
    fake_net *net;
} site_job;

static void *run_site(void *arg) {
    site_job *s = arg;
    s->st = dc_fed_agree_sites(&s->link, s->local, s->why, s->server_test, s->n_classes, 30, &s->out, &s->err);
    if (s->link.rank == 0 && s->st) // the CLI ends the job
        for (int k = 1; k < s->net->size; k++) fake_kill(s->net, k);
    return NULL;
}

static dc_status agree(const dc_dataset *const *local, const char *const *why, const dc_dataset *server_test,
                       int n_classes, int size, dc_fed_sites *out, dc_error *err) {
    fake_net net;
    fake_net_init(&net, size);
    site_job s[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    memset(s, 0, sizeof s);
    for (int k = 0; k < size; k++) {
        s[k].link = fake_link(&s[k].end, &net, k);
        s[k].local = local[k];
        s[k].why = why ? why[k] : NULL;
        s[k].server_test = server_test;
        s[k].n_classes = n_classes;
        s[k].net = &net;
        pthread_create(&th[k], NULL, run_site, &s[k]);
    }
    for (int k = 0; k < size; k++) pthread_join(th[k], NULL);
    bool clients_agree = true;
    for (int k = 1; k < size && !s[0].st; k++)
        clients_agree = clients_agree && !s[k].st && !memcmp(&s[k].out, &s[0].out, sizeof s[0].out);
    fake_net_free(&net);
    *out = s[0].out;
    *err = s[0].err;
    if (!s[0].st && !clients_agree) return dc_fail(err, DC_ERR_ARG, "the client ranks got another answer");
    return s[0].st;
}

static void sites_checks(void) {
    printf("per-rank data: shapes and classes agreed at start-up\n");
    dc_dataset a, b, c, small;
    dc_test_make_data(&a, 300, 10, 21);
    dc_test_make_data(&b, 200, 10, 22);
    dc_test_make_data(&c, 100, 7, 23); // labels 0..6 only (seed permitting: checked below)
    memset(&small, 0, sizeof small);
    small.n = 50;
    small.c = 1;
    small.h = small.w = 14;
    small.n_classes = 10;
    small.pixels = calloc(50 * 196, 1);
    small.labels = calloc(50, sizeof(int32_t));
    for (int i = 0; i < 50; i++) small.labels[i] = i % 10;
    snprintf(small.source, sizeof small.source, "site-data/rank3/");
    dc_error err;
    dc_fed_sites out;
    const dc_dataset *ok3[4] = {NULL, &a, &b, &a};
    CHECK(agree(ok3, NULL, NULL, 0, 4, &out, &err) == DC_OK, "%s", err.msg);
    // the agreed normalisation is that of the pooled data, bit for bit
    dc_dataset pool = a;
    pool.n = 800;
    pool.pixels = malloc(800 * 784);
    memcpy(pool.pixels, a.pixels, 300 * 784);
    memcpy(pool.pixels + 300 * 784, b.pixels, 200 * 784);
    memcpy(pool.pixels + 500 * 784, a.pixels, 300 * 784);
    dc_model *m = make_model(ARCH_BN, &pool);
    float mean, sd;
    dc_model_get_normalisation(m, &mean, &sd);
    CHECK(out.c == 1 && out.h == 28 && out.w == 28 && out.n_classes == 10 && out.n_total == 800,
          "agreed: 1x28x28, 10 classes, 800 samples (%dx%dx%d, %d, %ld)", out.c, out.h, out.w, out.n_classes,
          out.n_total);
    CHECK(out.norm_mean == mean && out.norm_std == sd, "normalisation of the pooled data: %g/%g vs %g/%g",
          out.norm_mean, out.norm_std, mean, sd);
    dc_model_free(m);
    free(pool.pixels);

    const dc_dataset *bad_shape[4] = {NULL, &a, &b, &small};
    CHECK(agree(bad_shape, NULL, NULL, 0, 4, &out, &err) == DC_ERR_SHAPE && strstr(err.msg, "rank 3") &&
              strstr(err.msg, "1x14x14") && strstr(err.msg, "site-data/rank3/"),
          "another image shape is refused naming the rank: %s", err.msg);
    printf("  %s\n", err.msg);
    const bool c_short = c.n_classes < 10;
    const dc_dataset *bad_classes[4] = {NULL, &a, &c, &b};
    CHECK(c_short && agree(bad_classes, NULL, NULL, 0, 4, &out, &err) == DC_ERR_ARG && strstr(err.msg, "rank 2") &&
              strstr(err.msg, "--classes"),
          "another class count is refused naming the rank and suggesting --classes: %s", err.msg);
    CHECK(agree(bad_classes, NULL, NULL, 10, 4, &out, &err) == DC_OK && out.n_classes == 10,
          "--classes 10 accepts a site without the last classes: %s", err.msg);
    CHECK(agree(bad_classes, NULL, NULL, 5, 4, &out, &err) == DC_ERR_ARG && strstr(err.msg, "rank 1"),
          "labels beyond --classes are refused naming the rank: %s", err.msg);
    const dc_dataset *missing[4] = {NULL, &a, NULL, &b};
    const char *why[4] = {NULL, NULL, "site-data/rank2/: no such folder", NULL};
    CHECK(agree(missing, why, NULL, 0, 4, &out, &err) == DC_ERR_IO && strstr(err.msg, "rank 2: site-data/rank2/"),
          "a rank that could not open its data is named: %s", err.msg);
    CHECK(agree(ok3, NULL, &small, 0, 4, &out, &err) == DC_ERR_SHAPE && strstr(err.msg, "rank 1") &&
              strstr(err.msg, "test set"),
          "the server's test set must fit the sites: %s", err.msg);
    dc_dataset_free(&a);
    dc_dataset_free(&b);
    dc_dataset_free(&c);
    dc_dataset_free(&small);
}

int main(void) {
    dc_dataset tr, te;
    dc_test_make_data(&tr, 1000, 10, 1);
    dc_test_make_data(&te, 200, 10, 2);
    equality_checks(&tr, &te);
    kill_checks(&tr, &te);
    refusal_checks(&tr, &te);
    sites_checks();
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    return dc_test_finish();
}
