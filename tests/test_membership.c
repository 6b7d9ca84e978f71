// test_membership.c — the membership-inference audit (src/privacy/membership.c):
// ROC figures against brute force (every pair for the AUC, every threshold
// for the rates), the DP bounds at known points, the audit of a model
// trained to 100% training accuracy on a small noisy subset (AUC clearly
// above 0.5, for both attacks), of a DP-SGD model with a small epsilon (AUC
// near 0.5, advantage below the bound), reproducibility under a seed, and
// the reference configuration read from a model's training record.
//
// Tolerances: ROC figures are ratios of counts, compared to 1e-12. Small
// models train on one thread here: on a shared machine the synchronisation of
// two threads over 300 samples costs more than the work.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "privacy/membership.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) <= 1e-12)

static void roc_by_hand(void) {
    printf("ROC figures by hand\n");
    dc_mia_attack a;
    dc_error err;
    const double m1[3] = {3, 2, 1}, n1[2] = {0, -1};
    CHECK(dc_mia_roc(&a, m1, 3, n1, 2, &err) == DC_OK, "%s", err.msg);
    CHECK(NEAR(a.auc, 1) && NEAR(a.advantage, 1) && NEAR(a.tpr_at_01, 1) && a.threshold == 1, "separable: auc %g adv %g",
          a.auc, a.advantage);
    // ties: members {1, 1}, non-members {1, 0}: pairs 1v1 1v1 (half each), 1v0 1v0 (wins): 3/4
    const double m2[2] = {1, 1}, n2[2] = {1, 0};
    dc_mia_roc(&a, m2, 2, n2, 2, &err);
    CHECK(NEAR(a.auc, 0.75) && NEAR(a.advantage, 0.5) && NEAR(a.adv_fpr, 0.5) && NEAR(a.tpr_at_1, 0),
          "ties: auc %g (0.75), advantage %g (0.5), tpr@1%% %g (0)", a.auc, a.advantage, a.tpr_at_1);
    CHECK(a.n_roc == 3 && a.roc_fpr[0] == 0 && a.roc_tpr[2] == 1 && a.roc_fpr[2] == 1, "ROC from (0,0) to (1,1)");
    // reversed scores: AUC 0, advantage 0 (the threshold above everything)
    dc_mia_roc(&a, n1, 2, m1, 3, &err);
    CHECK(NEAR(a.auc, 0) && NEAR(a.advantage, 0), "reversed: auc %g adv %g", a.auc, a.advantage);
    const double bad[1] = {NAN};
    CHECK(dc_mia_roc(&a, bad, 1, n1, 2, &err) == DC_ERR_NUMERIC, "NaN score refused");
    CHECK(dc_mia_roc(&a, m1, 0, n1, 2, &err) == DC_ERR_ARG, "no members refused");
}

static void roc_brute_force(void) {
    printf("ROC figures == brute force\n");
    dc_rng r;
    dc_rng_seed(&r, 3);
    const int sizes[][2] = {{50, 70}, {1000, 1000}, {1, 9}, {2000, 300}};
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        const int nm = sizes[c][0], nn = sizes[c][1];
        double *m = malloc(sizeof(double) * nm), *n = malloc(sizeof(double) * nn);
        for (int i = 0; i < nm; i++) m[i] = (double)dc_rng_below(&r, 40) + 3; // shifted: some signal, many ties
        for (int i = 0; i < nn; i++) n[i] = (double)dc_rng_below(&r, 40);
        dc_mia_attack a;
        dc_error err;
        dc_mia_roc(&a, m, nm, n, nn, &err);
        double wins = 0;
        for (int i = 0; i < nm; i++)
            for (int j = 0; j < nn; j++) wins += m[i] > n[j] ? 1.0 : m[i] == n[j] ? 0.5 : 0.0;
        double adv = 0, t01 = 0, t1 = 0;
        for (int t = -1; t <= 45; t++) { // every threshold "score >= t" (all scores are integers)
            int tp = 0, fp = 0;
            for (int i = 0; i < nm; i++) tp += m[i] >= t;
            for (int j = 0; j < nn; j++) fp += n[j] >= t;
            const double tpr = (double)tp / nm, fpr = (double)fp / nn;
            adv = fmax(adv, tpr - fpr);
            if (fpr <= 0.001) t01 = fmax(t01, tpr);
            if (fpr <= 0.01) t1 = fmax(t1, tpr);
        }
        CHECK(NEAR(a.auc, wins / ((double)nm * nn)), "case %zu: auc %.12f vs pairs %.12f", c, a.auc,
              wins / ((double)nm * nn));
        CHECK(NEAR(a.advantage, adv) && NEAR(a.tpr_at_01, t01) && NEAR(a.tpr_at_1, t1),
              "case %zu: advantage %g/%g, tpr@0.1%% %g/%g, tpr@1%% %g/%g", c, a.advantage, adv, a.tpr_at_01, t01,
              a.tpr_at_1, t1);
        bool mono = a.n_roc >= 2;
        for (int q = 1; q < a.n_roc; q++) mono = mono && a.roc_fpr[q] >= a.roc_fpr[q - 1] && a.roc_tpr[q] >= a.roc_tpr[q - 1];
        CHECK(mono && a.roc_fpr[a.n_roc - 1] == 1 && a.roc_tpr[a.n_roc - 1] == 1, "case %zu: ROC monotone to (1,1)", c);
        free(m);
        free(n);
    }
}

static void dp_bounds(void) {
    printf("DP bounds\n");
    CHECK(NEAR(dc_mia_dp_max_advantage(0, 0), 0), "eps 0, delta 0: no advantage");
    CHECK(NEAR(dc_mia_dp_max_advantage(0, 1e-3), 1e-3), "eps 0: delta");
    CHECK(NEAR(dc_mia_dp_max_advantage(1, 0), tanh(0.5)), "eps 1: tanh(1/2) = (e-1)/(e+1)");
    CHECK(NEAR(dc_mia_dp_max_advantage(INFINITY, 1e-5), 1) && dc_mia_dp_max_advantage(50, 0) <= 1, "unbounded: 1");
    // at the corner FPR = (1 - delta)/(e^eps + 1) both lines meet and TPR - FPR is the advantage bound
    const double eps = 2, delta = 1e-5, f = (1 - delta) / (exp(eps) + 1);
    CHECK(fabs(dc_mia_dp_max_tpr(eps, delta, f) - f - dc_mia_dp_max_advantage(eps, delta)) < 1e-12,
          "the corner of the TPR bound attains the advantage bound");
    CHECK(NEAR(dc_mia_dp_max_tpr(1, 0, 0.01), exp(1) * 0.01), "small FPR: e^eps FPR");
    CHECK(NEAR(dc_mia_dp_max_tpr(1, 0, 0.9), 1 - 0.1 / exp(1)), "large FPR: the second line");
    // monotone in epsilon
    CHECK(dc_mia_dp_max_advantage(2, 1e-5) < dc_mia_dp_max_advantage(8, 1e-5), "the bound grows with epsilon");
}

// Learnable squares with 30% of the labels replaced at random: a model
// that fits its training samples to 100% must memorise those.
static void noisy_data(dc_dataset *ds, int n, uint64_t seed) {
    dc_test_make_data(ds, n, 4, seed);
    dc_rng r;
    dc_rng_seed(&r, seed ^ 0x5eed);
    for (int i = 0; i < n; i++)
        if (dc_rng_uniform(&r) < 0.3f) ds->labels[i] = (int32_t)dc_rng_below(&r, 4);
}

static dc_model *trained(const dc_dataset *train, bool dp, int epochs, dc_train_config *out_cfg) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_parse(&m, "flatten\nlinear out=16\nrelu\nlinear out=4\n", "mlp", 1, 28, 28, 4, &err)) {
        printf("%s\n", err.msg);
        return NULL;
    }
    dc_model_set_normalisation(m, train);
    dc_rng r;
    dc_rng_seed(&r, 1);
    dc_model_init_params(m, &r);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = epochs;
    cfg.batch = 32;
    cfg.optim = DC_OPTIM_ADAM;
    cfg.lr = 3e-3f;
    cfg.momentum = 0;
    cfg.nthreads = 1;
    if (dp) {
        cfg.dp.enabled = true;
        cfg.dp.clip = 1.0f;
        cfg.dp.sigma = 8.0;
        cfg.dp.delta = 1e-3;
        cfg.dp.seeded = true;
        cfg.dp.seed = 7;
        cfg.batch = 64;
        cfg.optim = DC_OPTIM_SGD;
        cfg.lr = 0.5f;
    }
    if (dc_train(m, train, NULL, &cfg, NULL, NULL, &err)) {
        printf("%s\n", err.msg);
        dc_model_free(m);
        return NULL;
    }
    *out_cfg = cfg;
    return m;
}

static void audits(void) {
    printf("membership audits of an overfitted model and a DP model\n");
    dc_dataset train, held, extra;
    noisy_data(&train, 300, 41);
    noisy_data(&held, 300, 42);
    noisy_data(&extra, 600, 43);
    dc_train_config tcfg;
    dc_model *m = trained(&train, false, 40, &tcfg);
    if (!m) {
        CHECK(0, "training failed");
        return;
    }
    dc_error err;
    dc_eval_result ev;
    dc_evaluate(m, &train, 300, 1, &ev, &err);
    CHECK(ev.accuracy == 1.0, "the target fits its 300 training samples: %.4f", ev.accuracy);
    dc_eval_result_free(&ev);
    dc_membership_config cfg = dc_membership_config_default();
    cfg.n = 300;
    cfg.n_ref = 2;
    cfg.ref_epochs = 20;
    cfg.nthreads = 1;
    dc_membership_result r;
    if (dc_membership_audit(&r, m, &train, &held, &extra, &tcfg, &cfg, &err)) {
        CHECK(0, "%s", err.msg);
    } else {
        printf("  overfitted: loss attack AUC %.3f adv %.3f; calibrated AUC %.3f adv %.3f (ref acc %.3f)\n",
               r.loss.auc, r.loss.advantage, r.calibrated.auc, r.calibrated.advantage, r.ref_accuracy);
        CHECK(r.n == 300 && r.member_accuracy == 1.0 && r.member_loss < r.nonmember_loss, "members fit, lower loss");
        CHECK(r.loss.auc > 0.75, "loss attack AUC %.3f clearly above 0.5", r.loss.auc);
        CHECK(r.has_calibrated && r.calibrated.auc > 0.75, "calibrated AUC %.3f clearly above 0.5", r.calibrated.auc);
        CHECK(!r.dp && isnan(r.bound_advantage), "no DP record: no bound");
        CHECK(r.ref_size == 300 && r.ref_epochs == 20, "reference models of %d samples, %d epochs", r.ref_size,
              r.ref_epochs);
        // the same seed gives the same figures; another seed another audit set
        dc_membership_result r2;
        dc_membership_audit(&r2, m, &train, &held, &extra, &tcfg, &cfg, &err);
        CHECK(r2.loss.auc == r.loss.auc && r2.calibrated.auc == r.calibrated.auc &&
                  r2.calibrated.advantage == r.calibrated.advantage && r2.sigma == r.sigma,
              "seeded: identical figures on a second run");
        cfg.seed = 2;
        cfg.n = 200;
        cfg.n_ref = 0;
        dc_membership_audit(&r2, m, &train, &held, &extra, &tcfg, &cfg, &err);
        CHECK(r2.n == 200 && !r2.has_calibrated && r2.loss.auc != r.loss.auc, "another seed, another sample");
        // too little data outside the audit set for the reference models asked for
        cfg.n = 300;
        cfg.n_ref = 4;
        cfg.ref_size = 200;
        CHECK(dc_membership_audit(&r2, m, &train, &held, &extra, &tcfg, &cfg, &err) == DC_ERR_ARG &&
                  strstr(err.msg, "outside the audit set"),
              "4 x 200 reference samples from a pool of 600 refused: %s", err.msg);
    }
    dc_model_free(m);

    // DP-SGD with a large noise multiplier: a small epsilon
    m = trained(&train, true, 8, &tcfg);
    double eps, delta;
    CHECK(m && dc_membership_model_dp(m, &eps, &delta) && eps < 2.0 && delta == 1e-3, "DP model: eps %.3f", eps);
    cfg = dc_membership_config_default();
    cfg.n = 300;
    cfg.n_ref = 0;
    cfg.nthreads = 1;
    if (m && dc_membership_audit(&r, m, &train, &held, &extra, NULL, &cfg, &err) == DC_OK) {
        printf("  DP eps %.3f: loss attack AUC %.3f adv %.3f (bound %.3f)\n", r.epsilon, r.loss.auc, r.loss.advantage,
               r.bound_advantage);
        CHECK(fabs(r.loss.auc - 0.5) < 0.08, "DP: AUC %.3f near 0.5", r.loss.auc);
        CHECK(r.dp && r.loss.advantage <= r.bound_advantage, "advantage %.3f <= bound %.3f", r.loss.advantage,
              r.bound_advantage);
        CHECK(r.loss.tpr_at_1 <= r.bound_tpr_at_1 + 3.0 / r.n, "TPR at 1%% FPR %.3f vs bound %.3f", r.loss.tpr_at_1,
              r.bound_tpr_at_1);
    } else {
        CHECK(0, "%s", m ? err.msg : "DP training failed");
    }
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&held);
    dc_dataset_free(&extra);
}

static void ref_config(void) {
    printf("reference configuration from the training record\n");
    dc_error err;
    dc_model *m = NULL;
    dc_model_parse(&m, "flatten\nlinear out=4\n", "lin", 1, 28, 28, 4, &err);
    dc_train_config c;
    CHECK(dc_membership_ref_config(&c, m, &err) == DC_ERR_FORMAT && strstr(err.msg, "--ref-models 0"),
          "no record: %s", err.msg);
    dc_model_set_info(m, "train_config",
                      "{\"epochs\":15,\"batch\":64,\"optim\":\"adamw\",\"lr\":0.003,\"momentum\":0.9,"
                      "\"weight_decay\":0.05,\"sched\":\"cosine\",\"warmup\":1,\"hflip\":true,\"clip\":0}",
                      &err);
    CHECK(dc_membership_ref_config(&c, m, &err) == DC_OK, "%s", err.msg);
    CHECK(c.epochs == 15 && c.batch == 64 && c.optim == DC_OPTIM_ADAMW && fabsf(c.lr - 0.003f) < 1e-9f &&
              c.momentum == 0 && c.sched == DC_SCHED_COSINE && c.warmup_epochs == 1 && c.augment.hflip &&
              !c.dp.enabled && c.checkpoint == NULL,
          "the recipe comes back (momentum 0 for adamw, as deepc train)");
    dc_model_set_info(m, "train_config", "{\"epochs\":3,\"optim\":\"sgd\",\"sched\":\"constant\",\"lr\":0.5,"
                                         "\"dp\":true,\"noise\":1.1,\"delta\":1e-5,\"clip\":0.5}", &err);
    CHECK(dc_membership_ref_config(&c, m, &err) == DC_OK && c.dp.enabled && c.dp.sigma == 1.1 && c.dp.clip == 0.5f &&
              c.dp.seeded && c.clip_norm == 0,
          "DP recipe: sigma, clip, seeded");
    dc_model_set_info(m, "train_config", "{\"optim\":\"lbfgs\"}", &err);
    CHECK(dc_membership_ref_config(&c, m, &err) == DC_ERR_FORMAT, "unknown optimiser refused");
    dc_model_free(m);
}

int main(void) {
    roc_by_hand();
    roc_brute_force();
    dp_bounds();
    ref_config();
    audits();
    return dc_test_finish();
}
