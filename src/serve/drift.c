// drift.c — input-drift monitoring: the reference statistics a model carries
// from training, the sliding window of what a server sees, and the distances
// between the two.
//
// What is compared (all pixels on the [0,1] scale, quantised to the 256
// levels of an 8-bit image so a PNG and its FP32 tensor count the same):
//   input       per-channel mean and std of the pixels; a 16-bin histogram of
//               pixel intensity; a 20-bin histogram of each image's mean
//               intensity (one value per image: what KS is taken over);
//   prediction  the share of each predicted class (the top class, the lower
//               index on ties);
//   confidence  a 20-bin histogram of the top-class probability.
// The reference takes the inputs from the training set (the held-out set
// under DP-SGD) and the predictions and confidences from the held-out set.
//
// Distances (effect sizes, not tests: they do not grow with the window, so a
// large window does not flag every tiny difference, unlike a p-value;
// Evidently#50):
//   PSI = sum_i (p_i - q_i) ln(p_i / q_i), p the window's and q the
//         reference's bin shares, each smoothed by half a count per bin so an
//         empty bin stays finite. Rule of thumb: < 0.1 no change, 0.1-0.25
//         some, > 0.25 a major shift.
//   KS  = max over bin edges of |F_window - F_reference| of the cumulative
//         shares (a binned two-sample Kolmogorov-Smirnov distance, 0..1).
//   TVD = 1/2 sum |p_i - q_i| for the predicted classes (KS needs an order,
//         classes have none; TVD is KS maximised over every order).
// With no drift the statistics are not 0 but noise: PSI is about
// (bins - 1) (1/n + 1/N) and KS below 1.36 sqrt(1/n + 1/N) 95% of the time,
// n the window and N the reference's samples; the report gives both so a
// threshold can be set above them. The alarm is only evaluated on a full
// window.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data/data.h"
#include "model/model.h"
#include "serve/serve.h"

static int q8(float v) { // a [0,1] value -> its nearest 8-bit level
    long p = lroundf(v * 255.0f);
    return p < 0 ? 0 : p > 255 ? 255 : (int)p;
}

static int mean_bin(double mean) {
    int b = (int)floor(mean * SERVE_MEAN_BINS);
    return b < 0 ? 0 : b >= SERVE_MEAN_BINS ? SERVE_MEAN_BINS - 1 : b;
}

static int conf_bin(double conf) {
    int b = (int)floor(conf * SERVE_CONF_BINS);
    return b < 0 ? 0 : b >= SERVE_CONF_BINS ? SERVE_CONF_BINS - 1 : b;
}

static int argmax(const float *p, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

// ---------------------------------------------------------------------------
// The reference (training time)

static cJSON *fractions(const double *counts, int k, double n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < k; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(n > 0 ? counts[i] / n : 0.0));
    return a;
}

dc_status dc_drift_reference(dc_model *m, const dc_dataset *inputs, const dc_dataset *eval, int nthreads,
                             dc_error *err) {
    const int C = m->in_c, H = m->in_h, W = m->in_w, K = m->n_classes;
    const dc_dataset *sets[2] = {inputs, eval};
    for (int i = 0; i < 2; i++)
        if (sets[i] && (sets[i]->c != C || sets[i]->h != H || sets[i]->w != W))
            return dc_fail(err, DC_ERR_SHAPE, "drift reference: %s holds %dx%dx%d images, the model takes %dx%dx%d",
                           sets[i]->source, sets[i]->c, sets[i]->h, sets[i]->w, C, H, W);
    if (C > SERVE_MAX_CH)
        return dc_fail(err, DC_ERR_UNSUPPORTED, "drift reference: %d input channels (at most %d)", C, SERVE_MAX_CH);
    cJSON *root = cJSON_CreateObject();
    if (!root) return dc_fail(err, DC_ERR_NOMEM, "drift reference: out of memory");
    cJSON_AddNumberToObject(root, "version", 1);
    dc_status st = DC_OK;
    if (inputs && inputs->n > 0) {
        const size_t hw = (size_t)H * W;
        double sum[SERVE_MAX_CH] = {0}, sq[SERVE_MAX_CH] = {0}, pix[SERVE_PIX_BINS] = {0}, means[SERVE_MEAN_BINS] = {0};
        for (int i = 0; i < inputs->n; i++) {
            const uint8_t *img = inputs->pixels + (size_t)i * C * hw;
            uint64_t isum = 0;
            for (int c = 0; c < C; c++) {
                uint64_t hist[256] = {0};
                for (size_t p = 0; p < hw; p++) hist[img[c * hw + p]]++;
                for (int v = 0; v < 256; v++) {
                    if (!hist[v]) continue;
                    double x = v / 255.0;
                    sum[c] += (double)hist[v] * x;
                    sq[c] += (double)hist[v] * x * x;
                    pix[v >> 4] += (double)hist[v];
                    isum += hist[v] * (uint64_t)v;
                }
            }
            means[mean_bin((double)isum / 255.0 / (double)(C * hw))] += 1;
        }
        const double per = (double)inputs->n * (double)hw;
        cJSON *in = cJSON_AddObjectToObject(root, "input");
        cJSON_AddStringToObject(in, "source", inputs->source);
        cJSON_AddNumberToObject(in, "n", inputs->n);
        cJSON_AddNumberToObject(in, "channels", C);
        cJSON *mean = cJSON_AddArrayToObject(in, "mean"), *sd = cJSON_AddArrayToObject(in, "std");
        for (int c = 0; c < C; c++) {
            double mu = sum[c] / per, var = sq[c] / per - mu * mu;
            cJSON_AddItemToArray(mean, cJSON_CreateNumber(mu));
            cJSON_AddItemToArray(sd, cJSON_CreateNumber(var > 0 ? sqrt(var) : 0.0));
        }
        cJSON_AddItemToObject(in, "pixel_hist", fractions(pix, SERVE_PIX_BINS, per * C));
        cJSON_AddItemToObject(in, "image_mean_hist", fractions(means, SERVE_MEAN_BINS, inputs->n));
    }
    if (eval && eval->n > 0) {
        // at most the first 5000 held-out samples: enough for the prediction
        // and confidence shares (their noise is ~ 1/5000 beside the window's
        // 1/n), without doubling the end-of-training evaluation of a big net
        dc_dataset head = *eval;
        if (head.n > 5000) head.n = 5000;
        eval = &head;
        const int B = eval->n < 256 ? eval->n : 256;
        dc_session *s = NULL;
        double *pred = calloc((size_t)K, sizeof(double));
        float *probs = malloc(sizeof(float) * (size_t)K);
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)B), *y = malloc(sizeof(int32_t) * (size_t)B);
        double conf[SERVE_CONF_BINS] = {0};
        st = pred && probs && idx && y ? DC_OK : dc_fail(err, DC_ERR_NOMEM, "drift reference: out of memory");
        if (!st) st = dc_session_new(&s, m, B, nthreads > 0 ? nthreads : dc_default_threads(), err);
        for (int start = 0; !st && start < eval->n; start += B) {
            int n = eval->n - start < B ? eval->n - start : B;
            for (int i = 0; i < n; i++) idx[i] = start + i;
            dc_batch_gather(dc_session_input(s), y, eval, idx, n, m->norm_mean, m->norm_std);
            const float *z = dc_session_run(s, n);
            for (int i = 0; i < n; i++) {
                serve_softmax(probs, z + (size_t)i * K, K);
                int k = argmax(probs, K);
                pred[k] += 1;
                conf[conf_bin(probs[k])] += 1;
            }
        }
        if (!st) {
            cJSON *ev = cJSON_AddObjectToObject(root, "eval");
            cJSON_AddStringToObject(ev, "source", eval->source);
            cJSON_AddNumberToObject(ev, "n", eval->n);
            cJSON_AddItemToObject(ev, "prediction", fractions(pred, K, eval->n));
            cJSON_AddItemToObject(ev, "confidence_hist", fractions(conf, SERVE_CONF_BINS, eval->n));
        }
        dc_session_free(s);
        free(pred);
        free(probs);
        free(idx);
        free(y);
    }
    char *json = st ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (st) return st;
    if (!json) return dc_fail(err, DC_ERR_NOMEM, "drift reference: out of memory");
    st = dc_model_set_info(m, "reference", json, err);
    free(json);
    return st;
}

// ---------------------------------------------------------------------------
// Reading the reference back

void serve_reference_free(serve_reference *r) {
    free(r->pred);
    r->pred = NULL;
}

// Reads array `key` of obj into out (k values), all finite and >= 0.
static bool read_array(const cJSON *obj, const char *key, double *out, int k) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != k) return false;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble < 0) return false;
        out[i] = e->valuedouble;
    }
    return true;
}

dc_status serve_reference_parse(serve_reference *r, const char *json, int channels, int K, dc_error *err) {
    memset(r, 0, sizeof *r);
    r->channels = channels;
    r->n_classes = K;
    cJSON *root = cJSON_Parse(json);
    dc_status st = DC_OK;
    if (!cJSON_IsObject(root)) {
        st = dc_fail(err, DC_ERR_FORMAT, "reference: not a JSON object");
        goto done;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "eval");
    if (in) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(in, "n");
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(in, "channels");
        if (!cJSON_IsNumber(n) || !(n->valuedouble >= 1) || !cJSON_IsNumber(ch) || ch->valuedouble != channels ||
            channels > SERVE_MAX_CH || !read_array(in, "mean", r->ch_mean, channels) ||
            !read_array(in, "std", r->ch_std, channels) || !read_array(in, "pixel_hist", r->pix, SERVE_PIX_BINS) ||
            !read_array(in, "image_mean_hist", r->img_mean, SERVE_MEAN_BINS)) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "reference.input: expected n, channels (%d), mean and std (%d each), pixel_hist (%d), "
                         "image_mean_hist (%d)",
                         channels, channels, SERVE_PIX_BINS, SERVE_MEAN_BINS);
            goto done;
        }
        r->n_input = n->valuedouble;
        r->has_input = true;
    }
    if (ev) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev, "n");
        r->pred = calloc((size_t)K, sizeof(double));
        if (!r->pred) {
            st = dc_fail(err, DC_ERR_NOMEM, "reference: out of memory");
            goto done;
        }
        if (!cJSON_IsNumber(n) || !(n->valuedouble >= 1) || !read_array(ev, "prediction", r->pred, K) ||
            !read_array(ev, "confidence_hist", r->conf, SERVE_CONF_BINS)) {
            st = dc_fail(err, DC_ERR_FORMAT, "reference.eval: expected n, prediction (%d classes), confidence_hist (%d)",
                         K, SERVE_CONF_BINS);
            goto done;
        }
        r->n_eval = n->valuedouble;
        r->has_eval = true;
    }
    if (!r->has_input && !r->has_eval) st = dc_fail(err, DC_ERR_FORMAT, "reference: neither input nor eval statistics");
done:
    cJSON_Delete(root);
    if (st) serve_reference_free(r);
    return st;
}

// ---------------------------------------------------------------------------
// Distances

double serve_psi(const double *a, double n_a, const double *b, double n_b, int k) {
    double s = 0.0;
    for (int i = 0; i < k; i++) {
        double p = (a[i] + 0.5) / (n_a + 0.5 * k), q = (b[i] + 0.5) / (n_b + 0.5 * k);
        s += (p - q) * log(p / q);
    }
    return s;
}

double serve_ks(const double *a, double n_a, const double *b, double n_b, int k) {
    double fa = 0.0, fb = 0.0, d = 0.0;
    for (int i = 0; i < k; i++) {
        fa += n_a > 0 ? a[i] / n_a : 0.0;
        fb += n_b > 0 ? b[i] / n_b : 0.0;
        double g = fabs(fa - fb);
        if (g > d) d = g;
    }
    return d;
}

// ---------------------------------------------------------------------------
// The window

void serve_sample_stats_compute(serve_sample_stats *s, const float *x, int C, int H, int W, float mean, float std,
                                const float *p, int K) {
    memset(s, 0, sizeof *s);
    const size_t hw = (size_t)H * W;
    uint64_t total = 0;
    for (int c = 0; c < C && c < SERVE_MAX_CH; c++) {
        uint64_t sum = 0, sq = 0;
        for (size_t i = 0; i < hw; i++) {
            int v = q8(x[c * hw + i] * std + mean);
            s->pix[v >> 4]++;
            sum += (uint64_t)v;
            sq += (uint64_t)(v * v);
        }
        s->ch_sum[c] = (double)sum / 255.0;
        s->ch_sq[c] = (double)sq / (255.0 * 255.0);
        total += sum;
    }
    s->mean_bin = (uint8_t)mean_bin((double)total / 255.0 / (double)((size_t)C * hw));
    int k = argmax(p, K);
    s->pred = (int16_t)k;
    s->conf_bin = (uint8_t)conf_bin(p[k]);
}

dc_status serve_drift_init(serve_drift *d, const char *ref_json, int window, double psi, double ks, int channels,
                           int hw, int K, dc_error *err) {
    memset(d, 0, sizeof *d);
    d->window = window;
    d->n_classes = K;
    d->channels = channels;
    d->hw = hw;
    d->psi_threshold = psi;
    d->ks_threshold = ks;
    if (pthread_mutex_init(&d->lock, NULL)) return dc_fail(err, DC_ERR_NOMEM, "drift: cannot create a mutex");
    d->ring = calloc((size_t)window, sizeof *d->ring);
    d->pred = calloc((size_t)K, sizeof(double));
    if (!d->ring || !d->pred) return dc_fail(err, DC_ERR_NOMEM, "drift: out of memory for a window of %d", window);
    if (!ref_json) {
        snprintf(d->why, sizeof d->why,
                 "the model has no reference statistics (trained before deepc stored them; retrain or see README "
                 "'Serving')");
        return DC_OK;
    }
    if (channels > SERVE_MAX_CH) {
        snprintf(d->why, sizeof d->why, "models with more than %d input channels are not monitored", SERVE_MAX_CH);
        return DC_OK;
    }
    dc_error e2;
    if (serve_reference_parse(&d->ref, ref_json, channels, K, &e2)) {
        snprintf(d->why, sizeof d->why, "the model's reference record is unusable: %.200s", e2.msg);
        return DC_OK;
    }
    d->available = true;
    return DC_OK;
}

void serve_drift_free(serve_drift *d) {
    serve_reference_free(&d->ref);
    free(d->ring);
    free(d->pred);
    pthread_mutex_destroy(&d->lock);
}

static void apply(serve_drift *d, const serve_sample_stats *s, double sign) {
    for (int i = 0; i < SERVE_PIX_BINS; i++) d->pix[i] += sign * s->pix[i];
    for (int c = 0; c < d->channels && c < SERVE_MAX_CH; c++) {
        d->ch_sum[c] += sign * s->ch_sum[c];
        d->ch_sq[c] += sign * s->ch_sq[c];
    }
    d->img_mean[s->mean_bin] += sign;
    d->conf[s->conf_bin] += sign;
    if (s->pred >= 0 && s->pred < d->n_classes) d->pred[s->pred] += sign;
}

// Caller holds the lock.
static void report_locked(serve_drift *d, serve_drift_report *r) {
    memset(r, 0, sizeof *r);
    r->available = d->available;
    r->window = d->window;
    r->fill = d->fill;
    r->count = d->count;
    r->full = d->fill == d->window;
    r->alarms = d->alarms;
    r->psi_pixel = r->psi_image_mean = r->ks_image_mean = NAN;
    r->psi_prediction = r->tvd_prediction = r->psi_confidence = r->ks_confidence = NAN;
    for (int c = 0; c < SERVE_MAX_CH; c++) r->ch_mean[c] = r->ch_std[c] = r->ch_shift[c] = NAN;
    if (!d->available || d->fill == 0) return;
    const serve_reference *ref = &d->ref;
    const double n = d->fill;
    double nref = 0;
    if (ref->has_input) {
        double rpix[SERVE_PIX_BINS], rmean[SERVE_MEAN_BINS];
        double npix = 0;
        for (int i = 0; i < SERVE_PIX_BINS; i++) npix += d->pix[i];
        for (int i = 0; i < SERVE_PIX_BINS; i++) rpix[i] = ref->pix[i] * ref->n_input * d->hw * d->channels;
        for (int i = 0; i < SERVE_MEAN_BINS; i++) rmean[i] = ref->img_mean[i] * ref->n_input;
        r->psi_pixel = serve_psi(d->pix, npix, rpix, ref->n_input * d->hw * d->channels, SERVE_PIX_BINS);
        r->psi_image_mean = serve_psi(d->img_mean, n, rmean, ref->n_input, SERVE_MEAN_BINS);
        r->ks_image_mean = serve_ks(d->img_mean, n, rmean, ref->n_input, SERVE_MEAN_BINS);
        for (int c = 0; c < d->channels; c++) {
            double per = n * d->hw, mu = d->ch_sum[c] / per, var = d->ch_sq[c] / per - mu * mu;
            r->ch_mean[c] = mu;
            r->ch_std[c] = var > 0 ? sqrt(var) : 0.0;
            r->ch_shift[c] = ref->ch_std[c] > 0 ? (mu - ref->ch_mean[c]) / ref->ch_std[c] : NAN;
        }
        nref = ref->n_input;
    }
    if (ref->has_eval) {
        const int K = d->n_classes;
        double *rp = malloc(sizeof(double) * (size_t)K), rconf[SERVE_CONF_BINS];
        if (rp) {
            double tvd = 0;
            for (int k = 0; k < K; k++) {
                rp[k] = ref->pred[k] * ref->n_eval;
                tvd += fabs(d->pred[k] / n - ref->pred[k]);
            }
            r->psi_prediction = serve_psi(d->pred, n, rp, ref->n_eval, K);
            r->tvd_prediction = 0.5 * tvd;
            free(rp);
        }
        for (int i = 0; i < SERVE_CONF_BINS; i++) rconf[i] = ref->conf[i] * ref->n_eval;
        r->psi_confidence = serve_psi(d->conf, n, rconf, ref->n_eval, SERVE_CONF_BINS);
        r->ks_confidence = serve_ks(d->conf, n, rconf, ref->n_eval, SERVE_CONF_BINS);
        if (!nref || ref->n_eval < nref) nref = ref->n_eval;
    }
    r->psi_noise = (SERVE_MEAN_BINS - 1) * (1.0 / n + 1.0 / nref);
    r->ks_noise = 1.36 * sqrt(1.0 / n + 1.0 / nref);
    if (r->full) {
        const double P = d->psi_threshold, Q = d->ks_threshold;
        r->alarm = r->psi_pixel > P || r->psi_image_mean > P || r->ks_image_mean > Q || r->psi_prediction > P ||
                   r->psi_confidence > P || r->ks_confidence > Q;
    }
}

int serve_drift_add(serve_drift *d, const serve_sample_stats *s, int n, serve_drift_report *rep) {
    if (!d->available) return 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < n; i++) {
        if (d->fill == d->window) apply(d, &d->ring[d->head], -1.0);
        else d->fill++;
        d->ring[d->head] = s[i];
        apply(d, &s[i], 1.0);
        d->head = (d->head + 1) % d->window;
        d->count++;
    }
    int flip = 0;
    if (d->fill == d->window) {
        report_locked(d, rep);
        if (rep->alarm != d->alarm) {
            flip = rep->alarm ? 1 : -1;
            d->alarm = rep->alarm;
            if (rep->alarm) d->alarms++;
            rep->alarms = d->alarms;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return flip;
}

void serve_drift_report_get(serve_drift *d, serve_drift_report *rep) {
    pthread_mutex_lock(&d->lock);
    report_locked(d, rep);
    pthread_mutex_unlock(&d->lock);
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void add_nums(cJSON *o, const char *k, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, k);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
}

char *serve_drift_json(serve_drift *d, const char *model, int version) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    serve_drift_report rep, *r = &rep;
    const char *why = d->why; // written once, at init
    pthread_mutex_lock(&d->lock); // the window's counts are read below too
    report_locked(d, r);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", version);
    cJSON_AddStringToObject(o, "model_name", model);
    cJSON_AddStringToObject(o, "model_version", ver);
    cJSON_AddBoolToObject(o, "available", r->available);
    if (!r->available) {
        cJSON_AddStringToObject(o, "reason", why);
    } else {
        cJSON_AddNumberToObject(o, "window", r->window);
        cJSON_AddNumberToObject(o, "samples_in_window", r->fill);
        cJSON_AddNumberToObject(o, "samples_seen", (double)r->count);
        cJSON_AddBoolToObject(o, "window_full", r->full);
        cJSON_AddBoolToObject(o, "alarm", r->alarm);
        cJSON_AddNumberToObject(o, "alarms", (double)r->alarms);
        cJSON *th = cJSON_AddObjectToObject(o, "thresholds");
        cJSON_AddNumberToObject(th, "psi", d->psi_threshold);
        cJSON_AddNumberToObject(th, "ks", d->ks_threshold);
        cJSON *nz = cJSON_AddObjectToObject(o, "no_drift_noise");
        add_num(nz, "psi", r->fill ? r->psi_noise : NAN);
        add_num(nz, "ks95", r->fill ? r->ks_noise : NAN);
        if (d->ref.has_input) {
            cJSON *in = cJSON_AddObjectToObject(o, "input");
            add_num(in, "psi_pixel_intensity", r->psi_pixel);
            add_num(in, "psi_image_mean", r->psi_image_mean);
            add_num(in, "ks_image_mean", r->ks_image_mean);
            add_nums(in, "channel_mean", r->ch_mean, d->channels);
            add_nums(in, "channel_std", r->ch_std, d->channels);
            add_nums(in, "reference_mean", d->ref.ch_mean, d->channels);
            add_nums(in, "reference_std", d->ref.ch_std, d->channels);
            add_nums(in, "mean_shift_in_std", r->ch_shift, d->channels);
        }
        if (d->ref.has_eval) {
            cJSON *pr = cJSON_AddObjectToObject(o, "prediction");
            add_num(pr, "psi", r->psi_prediction);
            add_num(pr, "tvd", r->tvd_prediction);
            double *share = malloc(sizeof(double) * (size_t)d->n_classes);
            if (share) {
                for (int k = 0; k < d->n_classes; k++) share[k] = r->fill ? d->pred[k] / r->fill : NAN;
                add_nums(pr, "distribution", share, d->n_classes);
                free(share);
            }
            add_nums(pr, "reference", d->ref.pred, d->n_classes);
            cJSON *cf = cJSON_AddObjectToObject(o, "confidence");
            add_num(cf, "psi", r->psi_confidence);
            add_num(cf, "ks", r->ks_confidence);
        }
    }
    pthread_mutex_unlock(&d->lock);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
