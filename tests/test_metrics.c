// test_metrics.c — classification metrics on small cases worked out by hand
// (the arithmetic is in the comments), their error handling, and the batched
// dataset pass against dc_evaluate (same accuracy, loss and confusion matrix
// to the last bit).
//
// Tolerances: metrics are ratios of integer counts computed in double, so
// they are checked to 1e-12; anything that sums float probabilities (loss,
// ECE, bin confidences) to 1e-6 (the probabilities are floats such as 0.7f).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "eval/metrics.h"
#include "harness.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

// Six samples, three classes. Columns: probabilities, label, argmax, whether
// correct, confidence (max probability), its 15-bin index ceil(15 conf) - 1,
// and the rank of the true class (0 = top):
//   i0 [0.70 0.20 0.10] y0 pred0 ok   conf .70 bin 10 rank 0
//   i1 [0.30 0.65 0.05] y0 pred1 bad  conf .65 bin  9 rank 1
//   i2 [0.10 0.85 0.05] y1 pred1 ok   conf .85 bin 12 rank 0
//   i3 [0.68 0.10 0.22] y1 pred0 bad  conf .68 bin 10 rank 2
//   i4 [0.15 0.15 0.70] y2 pred2 ok   conf .70 bin 10 rank 0
//   i5 [0.05 0.90 0.05] y2 pred1 bad  conf .90 bin 13 rank 2 (p0 == p2 and 0 < 2)
static const float P6[6 * 3] = {0.70f, 0.20f, 0.10f, 0.30f, 0.65f, 0.05f, 0.10f, 0.85f, 0.05f,
                                0.68f, 0.10f, 0.22f, 0.15f, 0.15f, 0.70f, 0.05f, 0.90f, 0.05f};
static const int32_t Y6[6] = {0, 0, 1, 1, 2, 2};

static void hand_case(void) {
    printf("six samples, three classes, by hand\n");
    dc_error err;
    dc_metrics mt;
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 2, 15, &err) == DC_OK, "%s", err.msg);
    // accuracy 3/6; top-2: ranks 0,1,0,2,0,2 -> 4 of 6 below 2
    CHECK(NEAR(mt.accuracy, 0.5, 1e-12), "accuracy %g", mt.accuracy);
    CHECK(mt.top_k == 2 && NEAR(mt.top_k_accuracy, 4.0 / 6, 1e-12), "top-2 %g", mt.top_k_accuracy);
    // confusion [true][pred]: row 0 {i0->0, i1->1}, row 1 {i3->0, i2->1}, row 2 {i5->1, i4->2}
    const int64_t cm[9] = {1, 1, 0, 1, 1, 0, 0, 1, 1};
    CHECK(!memcmp(mt.confusion, cm, sizeof cm), "confusion matrix");
    // support (row sums) 2,2,2; predicted (column sums) 2,3,1
    CHECK(mt.support[0] == 2 && mt.support[1] == 2 && mt.support[2] == 2, "support");
    CHECK(mt.predicted[0] == 2 && mt.predicted[1] == 3 && mt.predicted[2] == 1, "predicted");
    // precision tp/predicted: 1/2, 1/3, 1/1; recall tp/support: 1/2 each;
    // F1 = 2PR/(P+R): .5, 2(1/3)(1/2)/(5/6) = 0.4, 2(1)(1/2)/(3/2) = 2/3
    const double prec[3] = {0.5, 1.0 / 3, 1.0}, rec[3] = {0.5, 0.5, 0.5}, f1[3] = {0.5, 0.4, 2.0 / 3};
    for (int k = 0; k < 3; k++) {
        CHECK(NEAR(mt.precision[k], prec[k], 1e-12), "precision[%d] %g want %g", k, mt.precision[k], prec[k]);
        CHECK(NEAR(mt.recall[k], rec[k], 1e-12), "recall[%d] %g", k, mt.recall[k]);
        CHECK(NEAR(mt.f1[k], f1[k], 1e-12), "f1[%d] %g want %g", k, mt.f1[k], f1[k]);
    }
    // macro: P (.5 + .3333 + 1)/3 = 0.611111, R .5, F1 (.5 + .4 + .6667)/3 = 0.522222;
    // equal supports, so weighted == macro
    CHECK(mt.n_present == 3, "present %d", mt.n_present);
    CHECK(NEAR(mt.macro_precision, 0.6111111111111111, 1e-12), "macro P %g", mt.macro_precision);
    CHECK(NEAR(mt.macro_recall, 0.5, 1e-12), "macro R %g", mt.macro_recall);
    CHECK(NEAR(mt.macro_f1, 0.5222222222222222, 1e-12), "macro F1 %g", mt.macro_f1);
    CHECK(NEAR(mt.weighted_precision, mt.macro_precision, 1e-12) && NEAR(mt.weighted_f1, mt.macro_f1, 1e-12),
          "weighted == macro for equal supports");
    // loss = -(ln .7 + ln .3 + ln .85 + ln .1 + ln .7 + ln .05)/6
    //      = (0.356675 + 1.203973 + 0.162519 + 2.302585 + 0.356675 + 2.995732)/6 = 1.229693
    CHECK(NEAR(mt.loss, 1.2296931647, 1e-6), "loss %.9f", mt.loss);
    // ECE, 15 bins: bin 10 holds i0 (.70 ok), i3 (.68 bad), i4 (.70 ok):
    //   conf (2.08)/3 = .693333, acc 2/3, weight 3/6, gap |2 - 2.08|/3 = .026667;
    // bins 9, 12, 13 hold one sample each: gaps .65, .15, .90, weight 1/6.
    //   ECE = (3 * .08/3 + .65 + .15 + .90)/6 = 1.78/6 = 0.296667; MCE = .90
    CHECK(mt.n_bins == 15, "bins");
    CHECK(NEAR(mt.ece, 1.78 / 6, 1e-6), "ECE %.9f want %.9f", mt.ece, 1.78 / 6);
    CHECK(NEAR(mt.mce, 0.90, 1e-6), "MCE %g", mt.mce);
    CHECK(mt.bin_count[10] == 3 && mt.bin_count[9] == 1 && mt.bin_count[12] == 1 && mt.bin_count[13] == 1,
          "bin counts %lld %lld %lld %lld", (long long)mt.bin_count[10], (long long)mt.bin_count[9],
          (long long)mt.bin_count[12], (long long)mt.bin_count[13]);
    int64_t total = 0;
    for (int b = 0; b < 15; b++) total += mt.bin_count[b];
    CHECK(total == 6, "bin counts sum to n");
    CHECK(NEAR(mt.bin_confidence[10], 2.08 / 3, 1e-6) && NEAR(mt.bin_accuracy[10], 2.0 / 3, 1e-12),
          "bin 10: conf %g acc %g", mt.bin_confidence[10], mt.bin_accuracy[10]);
    CHECK(mt.bin_count[0] == 0 && mt.bin_confidence[0] == 0 && mt.bin_accuracy[0] == 0, "empty bin is zero");
    // most confused: off-diagonal cells (0,1), (1,0), (2,1), one each: row-major order on ties
    dc_confusion_pair pairs[5];
    int np = dc_metrics_most_confused(&mt, pairs, 5);
    CHECK(np == 3, "3 off-diagonal cells, got %d", np);
    CHECK(np == 3 && pairs[0].true_class == 0 && pairs[0].pred_class == 1 && pairs[1].true_class == 1 &&
              pairs[1].pred_class == 0 && pairs[2].true_class == 2 && pairs[2].pred_class == 1 &&
              pairs[2].count == 1,
          "pair order");
    dc_metrics_free(&mt);

    // top-1 is the accuracy; top-k past C clamps to C and is 1
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 1, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.top_k_accuracy == mt.accuracy, "top-1 %g == accuracy %g", mt.top_k_accuracy, mt.accuracy);
    dc_metrics_free(&mt);
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 5, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.top_k == 3 && mt.top_k_accuracy == 1.0, "top-5 of 3 classes: k %d acc %g", mt.top_k,
          mt.top_k_accuracy);
    dc_metrics_free(&mt);

    // one bin: ECE = |accuracy - mean confidence| = |.5 - (.70+.65+.85+.68+.70+.90)/6| = |.5 - 4.48/6|
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 1, 1, &err) == DC_OK, "%s", err.msg);
    CHECK(NEAR(mt.ece, 4.48 / 6 - 0.5, 1e-6), "1-bin ECE %g want %g", mt.ece, 4.48 / 6 - 0.5);
    dc_metrics_free(&mt);
}

// A class never predicted and unequal supports, as scikit-learn computes:
// labels 0,0,0,1, every prediction 0 (probabilities .8/.2).
//   class 0: P = 3/4, R = 1, F1 = 2(.75)(1)/1.75 = 0.857143; class 1: all 0
//   macro F1 = .857143/2 = 0.428571, weighted F1 = (3 * .857143 + 1 * 0)/4 = 0.642857
//   weighted P = 3/4 * 3/4 = 0.5625, weighted R = 3/4 (= accuracy, always)
// Then a fourth class absent from labels and predictions: not in the macro.
static void unequal_case(void) {
    printf("unequal supports, a class never predicted, an absent class\n");
    const float p[4 * 2] = {0.8f, 0.2f, 0.8f, 0.2f, 0.8f, 0.2f, 0.8f, 0.2f};
    const int32_t y[4] = {0, 0, 0, 1};
    dc_error err;
    dc_metrics mt;
    CHECK(dc_metrics_compute(&mt, p, y, 4, 2, 5, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.precision[1] == 0 && mt.recall[1] == 0 && mt.f1[1] == 0, "never predicted: zeros");
    CHECK(NEAR(mt.f1[0], 6.0 / 7, 1e-12), "f1[0] %g", mt.f1[0]);
    CHECK(NEAR(mt.macro_f1, 3.0 / 7, 1e-12), "macro F1 %g", mt.macro_f1);
    CHECK(NEAR(mt.weighted_f1, 0.75 * 6.0 / 7, 1e-12), "weighted F1 %g", mt.weighted_f1);
    CHECK(NEAR(mt.weighted_precision, 0.5625, 1e-12), "weighted P %g", mt.weighted_precision);
    CHECK(NEAR(mt.weighted_recall, 0.75, 1e-12) && NEAR(mt.accuracy, 0.75, 1e-12), "weighted R");
    // calibration: all four in bin ceil(15 * .8) - 1 = 11 (.8f is a hair above .8), acc .75
    // ECE = |.75 - .8| = .05
    CHECK(NEAR(mt.ece, 0.05, 1e-6), "ECE %g", mt.ece);
    dc_metrics_free(&mt);

    const float p4[4 * 3] = {0.8f, 0.2f, 0, 0.8f, 0.2f, 0, 0.8f, 0.2f, 0, 0.8f, 0.2f, 0};
    CHECK(dc_metrics_compute(&mt, p4, y, 4, 3, 1, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.n_present == 2 && NEAR(mt.macro_f1, 3.0 / 7, 1e-12), "absent class left out: %d present, F1 %g",
          mt.n_present, mt.macro_f1);
    dc_metrics_free(&mt);

    // a confidence of exactly 1 lands in the last bin; tied probabilities
    // predict the lower index (as dc_evaluate)
    const float q[2 * 2] = {1.0f, 0.0f, 0.5f, 0.5f};
    const int32_t yq[2] = {0, 1};
    CHECK(dc_metrics_compute(&mt, q, yq, 2, 2, 1, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.bin_count[14] == 1 && mt.bin_count[7] == 1, "conf 1.0 -> bin 14, conf .5 -> bin 7");
    CHECK(mt.confusion[1 * 2 + 0] == 1, "tie -> class 0");
    dc_metrics_free(&mt);
}

static void bad_inputs(void) {
    printf("bad inputs\n");
    dc_error err;
    dc_metrics mt;
    const int32_t ybad[6] = {0, 0, 1, 3, 2, 2};
    CHECK(dc_metrics_compute(&mt, P6, ybad, 6, 3, 1, 15, &err) == DC_ERR_ARG && strstr(err.msg, "sample 3"),
          "label out of range: %s", err.msg);
    CHECK(mt.confusion == NULL, "failed compute leaves the struct empty");
    float pn[6 * 3];
    memcpy(pn, P6, sizeof pn);
    pn[7] = NAN;
    CHECK(dc_metrics_compute(&mt, pn, Y6, 6, 3, 1, 15, &err) == DC_ERR_NUMERIC && strstr(err.msg, "sample 2"),
          "NaN probability: %s", err.msg);
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 0, 15, &err) == DC_ERR_ARG, "top-k 0");
    CHECK(dc_metrics_compute(&mt, P6, Y6, 6, 3, 1, 0, &err) == DC_ERR_ARG, "0 bins");
    CHECK(dc_metrics_compute(&mt, P6, Y6, 0, 3, 1, 15, &err) == DC_ERR_ARG, "no samples");
    dc_metrics_free(&mt); // freeing an empty struct is harmless
}

// The dataset pass agrees with dc_evaluate exactly: same accuracy, loss and
// confusion, on a random LeNet-5 over random images (two batches, one short).
static void agrees_with_evaluate(void) {
    printf("dc_model_predict_dataset + dc_metrics_compute vs dc_evaluate\n");
    dc_error err;
    dc_model *m;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_model_init_params(m, &rng);
    dc_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = 300;
    ds.c = 1;
    ds.h = ds.w = 28;
    ds.n_classes = 10;
    ds.pixels = dc_alloc((size_t)ds.n * 784);
    ds.labels = dc_alloc(sizeof(int32_t) * (size_t)ds.n);
    snprintf(ds.source, sizeof ds.source, "random images");
    for (size_t i = 0; i < (size_t)ds.n * 784; i++) ds.pixels[i] = (uint8_t)dc_rng_below(&rng, 256);
    for (int i = 0; i < ds.n; i++) ds.labels[i] = (int32_t)dc_rng_below(&rng, 10);
    dc_model_set_normalisation(m, &ds);
    float *probs = malloc(sizeof(float) * (size_t)ds.n * 10);
    double loss = -1;
    CHECK(dc_model_predict_dataset(m, &ds, 128, 2, probs, &loss, &err) == DC_OK, "%s", err.msg);
    dc_eval_result r;
    CHECK(dc_evaluate(m, &ds, 128, 2, &r, &err) == DC_OK, "%s", err.msg);
    dc_metrics mt;
    CHECK(dc_metrics_compute(&mt, probs, ds.labels, ds.n, 10, 5, 15, &err) == DC_OK, "%s", err.msg);
    CHECK(mt.accuracy == r.accuracy, "accuracy %.17g vs %.17g", mt.accuracy, r.accuracy);
    CHECK(loss == r.loss, "loss %.17g vs %.17g", loss, r.loss);
    CHECK(NEAR(mt.loss, r.loss, 1e-5 * r.loss), "loss from probabilities %.9g vs %.9g", mt.loss, r.loss);
    CHECK(!memcmp(mt.confusion, r.confusion, sizeof(int64_t) * 100), "confusion matrices differ");
    CHECK(mt.top_k_accuracy >= mt.accuracy, "top-5 >= top-1");
    // probabilities match dc_model_predict on three rows
    float *x = malloc(sizeof(float) * 784 * 3), p3[30];
    dc_model_normalise(m, x, ds.pixels + 100 * 784, 784 * 3);
    CHECK(dc_model_predict(m, x, 3, p3, 2, &err) == DC_OK, "%s", err.msg);
    // (not bit for bit: dc_model_normalise and the batch gather round differently)
    dc_check_close("probabilities vs dc_model_predict", p3, probs + 100 * 10, 30, 1e-4, 1e-6);
    // a data set of the wrong shape is refused
    dc_dataset bad = ds;
    bad.h = 27;
    CHECK(dc_model_predict_dataset(m, &bad, 128, 2, probs, &loss, &err) == DC_ERR_SHAPE, "shape check");
    free(x);
    dc_metrics_free(&mt);
    dc_eval_result_free(&r);
    free(probs);
    dc_dataset_free(&ds);
    dc_model_free(m);
}

int main(void) {
    hand_case();
    unequal_case();
    bad_inputs();
    agrees_with_evaluate();
    return dc_test_finish();
}
