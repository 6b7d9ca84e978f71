// membership.h — a membership-inference audit of a trained model (issue 12):
// what an attacker who sees the model's outputs can tell about whether a
// given example was in its training set, measured, and for a DP model the
// most that its (epsilon, delta) allows, beside it.
//
// The audit set is balanced and seeded: n members drawn from the model's
// training set and n non-members from held-out data (the test split). Two
// attacks score every audited example (a higher score says "member"):
//   - loss threshold (Yeom et al. 2018, "Privacy risk in machine learning"):
//     score = -loss = ln p(true class); members tend to have lower loss;
//   - calibrated by reference models, offline, in the spirit of LiRA
//     (Carlini et al. 2022, "Membership inference attacks from first
//     principles"): R reference models are trained like the target (its
//     recorded architecture and training configuration, DP included) on
//     disjoint shards of data that holds none of the audited examples, so
//     every reference model is an "out" model for every audited example.
//     With phi = ln(p / (1 - p)) of the true class (LiRA's logit scaling),
//     score = (phi_target(x) - mean_r phi_r(x)) / sigma, sigma the
//     within-example standard deviation of phi_r pooled over all audited
//     examples (LiRA's fixed-variance variant, which its authors recommend
//     when there are few reference models). The per-example mean removes
//     how hard each example is (an outlier has a high loss whether or not
//     it was trained on); the ranking is that of Watson et al.'s (2022)
//     difficulty calibration.
//
// Each attack is summarised by its ROC curve: AUC (Mann-Whitney, ties
// counted half), the largest TPR at FPR <= 0.1% and <= 1% (the thresholds
// are taken on the audit set itself: the resolution is 1/n), and the
// membership advantage max_t TPR(t) - FPR(t) (Yeom et al.), also with the
// threshold chosen on the audit set — an optimistic estimate of what an
// attacker achieves, which is the right side to err on for an audit.
//
// The bound for an (epsilon, delta)-DP model. DP makes any test of "x was
// in the training set" vs "it was not" satisfy (Kairouz, Oh & Viswanath
// 2015; Dong, Roth & Su 2019, hypothesis-testing view)
//     TPR <= e^eps FPR + delta   and   1 - FPR <= e^eps (1 - TPR) + delta,
// and so, the two lines meeting at FPR = (1 - delta)/(e^eps + 1),
//     advantage = TPR - FPR <= (e^eps - 1 + 2 delta) / (e^eps + 1),
// and TPR at a given FPR <= min(1, e^eps FPR + delta, 1 - e^-eps (1 - delta - FPR)).
// Both are linear constraints, so they also bound the averages over an audit
// set of independent examples. The measured figures come from one trained
// model and a finite audit set, so they fluctuate around their expectation
// (about 1/sqrt(n) for the advantage).
//
// Legend: n audited examples of each kind, R reference models, C classes.
#ifndef DC_PRIVACY_MEMBERSHIP_H
#define DC_PRIVACY_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>
#include "deepc.h"

#define DC_MIA_ROC_POINTS 256 // ROC points kept for plots

// One attack's figures.
typedef struct dc_mia_attack {
    double auc;            // area under the ROC curve
    double tpr_at_01;      // largest TPR with FPR <= 0.001
    double tpr_at_1;       // largest TPR with FPR <= 0.01
    double advantage;      // max over thresholds of TPR - FPR
    double adv_tpr, adv_fpr; // where the advantage is attained
    double threshold;      // the score threshold attaining it (member if score >= it)
    int n_roc;             // ROC points kept, from (0,0) to (1,1)
    double roc_fpr[DC_MIA_ROC_POINTS], roc_tpr[DC_MIA_ROC_POINTS];
} dc_mia_attack;

// The ROC figures of scores member (n_m) and nonmember (n_n), n_m, n_n >= 1,
// all finite. Exact: AUC from average ranks; rates from every distinct
// threshold. The kept ROC points are every distinct threshold when there
// are few enough, else an even subsample that keeps the ends.
dc_status dc_mia_roc(dc_mia_attack *a, const double *member, int n_m, const double *nonmember, int n_n,
                     dc_error *err);

// The (epsilon, delta)-DP bounds above; epsilon >= 0, delta in [0, 1).
// +INFINITY epsilon gives 1.
double dc_mia_dp_max_advantage(double eps, double delta);
double dc_mia_dp_max_tpr(double eps, double delta, double fpr);

typedef struct dc_membership_config {
    int n;                 // members and non-members each, at most [5000]
    uint64_t seed;         // audit sample and reference models [1]
    int n_ref;             // reference models; 0: the loss attack only [4]
    int ref_size;          // training samples of each reference model; 0: as
                           // many as the target trained on, capped so the R
                           // shards fit in the pool [0]
    int ref_epochs;        // 0: the target's epochs [0]
    int batch;             // inference batch [1000]
    int nthreads;          // <= 0: all cores
    dc_train_callback cb;  // progress of the reference training (may be NULL)
    void *user;
} dc_membership_config;
dc_membership_config dc_membership_config_default(void);

typedef struct dc_membership_result {
    int n;                       // members audited (= non-members audited)
    uint64_t seed;
    double member_loss, nonmember_loss;         // mean cross-entropy
    double member_accuracy, nonmember_accuracy; // the target's accuracy on each
    dc_mia_attack loss;          // Yeom et al.
    bool has_calibrated;         // n_ref > 0
    dc_mia_attack calibrated;    // reference-calibrated
    int n_ref, ref_size, ref_epochs;
    double ref_accuracy;         // mean accuracy of the reference models on the non-members
    double sigma;                // the pooled within-example std of phi_ref
    bool dp;                     // the model holds a DP-SGD privacy record
    double epsilon, delta;       // from it (epsilon +INFINITY when unbounded)
    double bound_advantage;      // NaN when not DP
    double bound_tpr_at_01, bound_tpr_at_1;
    double seconds;
} dc_membership_result;

// Audits m. train is the set m was trained on (members are drawn from it),
// heldout data it never saw (non-members), extra (may be NULL) more data
// disjoint from both that reference models may train on besides the
// training samples not audited. ref_cfg is how to train a reference model
// (dc_membership_ref_config gives the target's own), ignored when
// cfg->n_ref == 0. On failure *r is zeroed.
dc_status dc_membership_audit(dc_membership_result *r, dc_model *m, const dc_dataset *train,
                              const dc_dataset *heldout, const dc_dataset *extra,
                              const dc_train_config *ref_cfg, const dc_membership_config *cfg,
                              dc_error *err);

// The training configuration recorded in m ("train_config"; DP-SGD's clip
// from the privacy record): what reference models are trained with.
// Checkpointing, MPI and sample weights are off; seeds are set per
// reference model by the audit. DC_ERR_FORMAT when m has no usable record.
dc_status dc_membership_ref_config(dc_train_config *cfg, const dc_model *m, dc_error *err);

// The data set m was trained on, rebuilt from its training record: the data
// spec (data_spec overrides it; NULL: the record's, else "fashion-mnist"),
// then --limit and --val-split with the run's seed, as deepc train applies
// them. train receives the training set (the members' pool), test the test
// split (non-members), extra the training-split samples the run left out
// (beyond the limit, the validation split; n 0 when none). Fails when the
// rebuilt set's size differs from the provenance's train_samples (the wrong
// data). *note (may be NULL) receives a one-line remark for the user, or "".
dc_status dc_membership_open_data(dc_dataset *train, dc_dataset *test, dc_dataset *extra, const dc_model *m,
                                  const char *data_spec, char *note, size_t note_cap, dc_error *err);

// Whether m holds a DP-SGD privacy record, and its epsilon (+INFINITY when
// the record says null) and delta.
bool dc_membership_model_dp(const dc_model *m, double *eps, double *delta);

#endif
