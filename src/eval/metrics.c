// metrics.c — classification metrics from probabilities and labels:
// accuracy, top-k accuracy, cross-entropy, confusion matrix, per-class
// precision/recall/F1 with macro and weighted averages, expected calibration
// error with its reliability bins, and the most confused class pairs; plus
// the batched pass that produces the probabilities for a whole data set.
//
// Contract: everything is computed from (probs, labels) alone, in one pass
// over the samples and then per class, in double precision from integer
// counts, so the results do not depend on thread counts or batch sizes. The
// definitions follow scikit-learn (precision_recall_fscore_support with
// zero_division=0, classification_report's macro/weighted rows) and Guo et
// al. 2017 for ECE; tests/test_metrics.c checks each on hand-worked cases.
//
// Legend: N samples, C classes, B calibration bins.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/data.h"
#include "eval/metrics.h"
#include "layers/layers.h"
#include "model/model.h"

// ---------------------------------------------------------------------------
// Small helpers shared with the audit

int dc_argmax_f32(const float *p, int C) {
    int best = 0;
    for (int k = 1; k < C; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

int dc_class_rank(const float *p, int C, int y) {
    int r = 0;
    for (int k = 0; k < C; k++)
        if (p[k] > p[y] || (k < y && p[k] == p[y])) r++;
    return r;
}

void dc_argmax_rows(int32_t *pred, const float *probs, int N, int C) {
    // probs is (N,C), pred is (N)
    for (int i = 0; i < N; i++) pred[i] = dc_argmax_f32(probs + (size_t)i * C, C);
}

// ---------------------------------------------------------------------------
// Probabilities for a whole data set

dc_status dc_model_predict_dataset(dc_model *m, const dc_dataset *ds, int batch,
                                   int nthreads, float *probs, double *loss,
                                   dc_error *err) {
    return dc_model_predict_dataset_tabular(m, ds, NULL, batch, nthreads, probs, loss, err);
}

dc_status dc_model_predict_dataset_tabular(dc_model *m, const dc_dataset *ds, const dc_tabular *tab, int batch,
                                           int nthreads, float *probs, double *loss, dc_error *err) {
    // probs is (ds->n, C). Mirrors dc_evaluate (same gather, same forward, same
    // loss accumulation) so that accuracy and loss agree with it exactly.
    if (loss) *loss = 0.0;
    const int F = dc_model_tabular_features(m);
    if (F && !tab)
        return dc_fail(err, DC_ERR_ARG, "the model has a tabular input of %d columns: give the samples' rows (--tabular)", F);
    if (!F && tab) return dc_fail(err, DC_ERR_ARG, "%s: the model has no tabular input", tab->source);
    if (tab && tab->f != F)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %d columns, the model's tabular input takes %d", tab->source, tab->f, F);
    if (tab && tab->n != ds->n)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %d rows for the %d samples of %s", tab->source, tab->n, ds->n, ds->source);
    if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d",
                       ds->source, ds->c, ds->h, ds->w, m->in_c, m->in_h, m->in_w);
    if (ds->n < 1) return dc_fail(err, DC_ERR_ARG, "%s: no samples to evaluate", ds->source);
    dc_status st = dc_dataset_check_labels(ds, m->n_classes, err);
    if (st) return st;
    if (batch < 1) batch = 1000;
    if (batch > ds->n) batch = ds->n;
    if (nthreads <= 0) nthreads = dc_default_threads();
    const int C = m->n_classes;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)batch);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    dc_session *ses = NULL;
    if (!idx || !y) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for a batch of %d", ds->source, batch);
    if (!st) st = dc_session_new(&ses, m, batch, nthreads, err);
    double total = 0.0;
    for (int start = 0; !st && start < ds->n; start += batch) {
        int n = ds->n - start < batch ? ds->n - start : batch;
        for (int i = 0; i < n; i++) idx[i] = start + i;
        dc_batch_gather(dc_session_input(ses), y, ds, idx, n, m->norm_mean, m->norm_std);
        if (tab) dc_tabular_gather(dc_session_tabular(ses), tab, idx, n, m->tab_mean, m->tab_std);
        const float *logits = dc_session_run(ses, n);
        total += dc_softmax_xent_forward(probs + (size_t)start * C, logits, y, NULL, n, C) * n;
    }
    dc_session_free(ses);
    free(idx);
    free(y);
    if (!st && loss) *loss = total / ds->n;
    return st;
}

// ---------------------------------------------------------------------------
// Metrics

void dc_metrics_free(dc_metrics *mt) {
    free(mt->confusion);
    free(mt->support);
    free(mt->predicted);
    free(mt->precision);
    free(mt->recall);
    free(mt->f1);
    free(mt->bin_count);
    free(mt->bin_confidence);
    free(mt->bin_accuracy);
    memset(mt, 0, sizeof *mt);
}

static double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

dc_status dc_metrics_compute(dc_metrics *mt, const float *probs, const int32_t *labels, int n,
                             int C, int top_k, int n_bins, dc_error *err) {
    // probs is (n,C), labels is (n)
    memset(mt, 0, sizeof *mt);
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "metrics: %d samples: need at least one", n);
    if (C < 1) return dc_fail(err, DC_ERR_ARG, "metrics: %d classes: need at least one", C);
    if (top_k < 1) return dc_fail(err, DC_ERR_ARG, "metrics: top-k %d: must be >= 1", top_k);
    if (n_bins < 1 || n_bins > 10000)
        return dc_fail(err, DC_ERR_ARG, "metrics: %d calibration bins: expected 1..10000", n_bins);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= C)
            return dc_fail(err, DC_ERR_ARG, "metrics: label %d of sample %d is outside 0..%d", (int)labels[i],
                           i, C - 1);
        for (int k = 0; k < C; k++)
            if (!isfinite(probs[(size_t)i * C + k]))
                return dc_fail(err, DC_ERR_NUMERIC, "metrics: probability %d of sample %d is %g", k, i,
                               (double)probs[(size_t)i * C + k]);
    }
    mt->n = n;
    mt->n_classes = C;
    mt->top_k = top_k < C ? top_k : C;
    mt->n_bins = n_bins;
    mt->confusion = calloc((size_t)C * C, sizeof(int64_t));
    mt->support = calloc((size_t)C, sizeof(int64_t));
    mt->predicted = calloc((size_t)C, sizeof(int64_t));
    mt->precision = calloc((size_t)C, sizeof(double));
    mt->recall = calloc((size_t)C, sizeof(double));
    mt->f1 = calloc((size_t)C, sizeof(double));
    mt->bin_count = calloc((size_t)n_bins, sizeof(int64_t));
    mt->bin_confidence = calloc((size_t)n_bins, sizeof(double));
    mt->bin_accuracy = calloc((size_t)n_bins, sizeof(double));
    if (!mt->confusion || !mt->support || !mt->predicted || !mt->precision || !mt->recall || !mt->f1 ||
        !mt->bin_count || !mt->bin_confidence || !mt->bin_accuracy) {
        dc_metrics_free(mt);
        return dc_fail(err, DC_ERR_NOMEM, "metrics: out of memory for %d classes", C);
    }

    // One pass over the samples: counts, loss, calibration sums (the bin
    // sums of confidence and of correct predictions are divided at the end).
    int64_t correct = 0, topk = 0;
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * C;
        const int y = labels[i], pred = dc_argmax_f32(p, C);
        correct += pred == y;
        topk += dc_class_rank(p, C, y) < mt->top_k;
        mt->confusion[(size_t)y * C + pred]++;
        // floored so that a confidently wrong float softmax (p rounds to 0)
        // costs -ln(FLT_MIN) ~ 87.3, not infinity
        loss -= log(p[y] > FLT_MIN ? (double)p[y] : (double)FLT_MIN);
        const double conf = p[pred];
        int b = (int)ceil(conf * n_bins) - 1; // (b/B, (b+1)/B]
        if (b < 0) b = 0;
        if (b >= n_bins) b = n_bins - 1;
        mt->bin_count[b]++;
        mt->bin_confidence[b] += conf;
        mt->bin_accuracy[b] += pred == y;
    }
    mt->accuracy = (double)correct / n;
    mt->top_k_accuracy = (double)topk / n;
    mt->loss = loss / n;

    for (int b = 0; b < n_bins; b++) {
        if (!mt->bin_count[b]) continue;
        mt->bin_confidence[b] /= (double)mt->bin_count[b];
        mt->bin_accuracy[b] /= (double)mt->bin_count[b];
        const double gap = fabs(mt->bin_accuracy[b] - mt->bin_confidence[b]);
        mt->ece += (double)mt->bin_count[b] / n * gap;
        if (gap > mt->mce) mt->mce = gap;
    }

    // Per class, from the confusion matrix.
    for (int t = 0; t < C; t++)
        for (int p = 0; p < C; p++) {
            mt->support[t] += mt->confusion[(size_t)t * C + p];
            mt->predicted[p] += mt->confusion[(size_t)t * C + p];
        }
    for (int k = 0; k < C; k++) {
        const double tp = (double)mt->confusion[(size_t)k * C + k];
        mt->precision[k] = safe_div(tp, (double)mt->predicted[k]);
        mt->recall[k] = safe_div(tp, (double)mt->support[k]);
        mt->f1[k] = safe_div(2 * mt->precision[k] * mt->recall[k], mt->precision[k] + mt->recall[k]);
        mt->weighted_precision += mt->precision[k] * (double)mt->support[k] / n;
        mt->weighted_recall += mt->recall[k] * (double)mt->support[k] / n;
        mt->weighted_f1 += mt->f1[k] * (double)mt->support[k] / n;
        // scikit-learn averages over the labels seen in y_true or y_pred: a
        // class absent from a (small) test subset does not drag the macro down
        if (mt->support[k] || mt->predicted[k]) {
            mt->n_present++;
            mt->macro_precision += mt->precision[k];
            mt->macro_recall += mt->recall[k];
            mt->macro_f1 += mt->f1[k];
        }
    }
    // n >= 1 so at least one class is present
    mt->macro_precision /= mt->n_present;
    mt->macro_recall /= mt->n_present;
    mt->macro_f1 /= mt->n_present;
    return DC_OK;
}

int dc_metrics_most_confused(const dc_metrics *mt, dc_confusion_pair *out, int k) {
    // Repeated selection: each round takes the largest cell that comes after
    // the previous pick in the order (count descending, then row-major
    // position). k*C*C steps, no allocation; k is small (5).
    const int C = mt->n_classes;
    int got = 0;
    for (; got < k; got++) {
        int bt = -1, bp = -1;
        int64_t bc = 0;
        for (int t = 0; t < C; t++)
            for (int p = 0; p < C; p++) {
                const int64_t c = mt->confusion[(size_t)t * C + p];
                if (t == p || c <= bc) continue; // strict: the first of equal cells wins
                if (got > 0) {
                    const dc_confusion_pair *last = &out[got - 1];
                    const long pos = (long)t * C + p, lpos = (long)last->true_class * C + last->pred_class;
                    if (c > last->count || (c == last->count && pos <= lpos)) continue;
                }
                bt = t;
                bp = p;
                bc = c;
            }
        if (bt < 0) break;
        out[got] = (dc_confusion_pair){.true_class = bt, .pred_class = bp, .count = bc};
    }
    return got;
}
