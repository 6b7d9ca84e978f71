// dp_record.c — see dp_record.h. Built with cJSON, never with printf, so
// every string is escaped and every number is valid JSON.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "privacy/dp_record.h"

#define DP_MECHANISM "DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise)"

const char *dc_dp_noise_source(bool seeded) {
    return seeded ? "ChaCha20 keyed by --dp-seed (reproducible, NOT secret)" : "ChaCha20 keyed by the OS (randombytes)";
}

static double num(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool is_dp_sgd(const cJSON *rec) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec, "mechanism");
    return cJSON_IsString(m) && !strncmp(m->valuestring, "DP-SGD", 6);
}

// x rounded to `digits` significant digits (as "%.*g" prints it), so that a
// float's value is stored as the number the user typed.
static double sig(double x, int digits) {
    char b[40];
    snprintf(b, sizeof b, "%.*g", digits, x);
    return strtod(b, NULL);
}

static bool differs(double a, double b) { return !(fabs(a - b) <= 1e-6 * fabs(b)); }

dc_status dc_dp_resume_check(const char *prev, int epochs_done, bool dp, const dc_dp_run *run,
                             dc_error *err) {
    if (epochs_done <= 0) return DC_OK;
    cJSON *rec = prev ? cJSON_Parse(prev) : NULL;
    const bool had_dp = rec && is_dp_sgd(rec);
    dc_status st = DC_OK;
    if (dp && !had_dp) {
        st = dc_fail(err, DC_ERR_ARG,
                     "resume with DP-SGD: the checkpoint's %d epochs were trained without DP (no DP-SGD privacy "
                     "record), so no (epsilon, delta) guarantee can cover them: start a fresh --dp run",
                     epochs_done);
    } else if (!dp && had_dp) {
        st = dc_fail(err, DC_ERR_ARG,
                     "resume: the checkpoint was trained with DP-SGD; continuing without DP would make its privacy "
                     "record false: resume with --dp (the stored settings are used by default)");
    } else if (dp) {
        double q = num(rec, "sample_rate", NAN), sigma = num(rec, "sigma", NAN), delta = num(rec, "delta", NAN);
        if (differs(run->q, q) || differs(run->sigma, sigma) || differs(run->delta, delta))
            st = dc_fail(err, DC_ERR_ARG,
                         "resume with DP-SGD: the checkpoint used sample rate %.6g, noise multiplier %.6g, delta %g; "
                         "this run would use %.6g, %.6g, %g: the accountant covers one setting only, so keep "
                         "--batch, --limit, --noise and --delta as they were",
                         q, sigma, delta, run->q, run->sigma, run->delta);
    }
    cJSON_Delete(rec);
    return st;
}

// A segment {epochs:[first,last], steps, clip, noise}.
static cJSON *segment(int first, int last, long steps, double clip, const char *noise) {
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    cJSON *ep = cJSON_AddArrayToObject(s, "epochs");
    if (ep) {
        cJSON_AddItemToArray(ep, cJSON_CreateNumber(first));
        cJSON_AddItemToArray(ep, cJSON_CreateNumber(last));
    }
    cJSON_AddNumberToObject(s, "steps", (double)steps);
    cJSON_AddNumberToObject(s, "clip", sig(clip, 9));
    cJSON_AddStringToObject(s, "noise", noise);
    return s;
}

static int seg_bound(const cJSON *s, int which) {
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(s, "epochs");
    const cJSON *v = cJSON_GetArrayItem(ep, which);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *seg_noise(const cJSON *s) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "noise");
    return cJSON_IsString(v) ? v->valuestring : "unknown";
}

// The segments of prev before first_epoch, as a new array (older records
// without segments become one segment covering their steps).
static cJSON *earlier_segments(const cJSON *rec, int first_epoch, long steps_per_epoch) {
    cJSON *out = cJSON_CreateArray();
    if (!out || !rec || !is_dp_sgd(rec) || first_epoch <= 1) return out;
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(rec, "segments");
    if (cJSON_IsArray(segs)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, segs) {
            int a = seg_bound(s, 0), b = seg_bound(s, 1);
            if (a < 1 || a >= first_epoch) continue;
            if (b >= first_epoch) b = first_epoch - 1; // a run resumed from an earlier checkpoint
            cJSON_AddItemToArray(out, segment(a, b, (long)(b - a + 1) * steps_per_epoch, num(s, "clip", 0),
                                              seg_noise(s)));
        }
    } else { // a record written before segments existed: one segment
        cJSON_AddItemToArray(out, segment(1, first_epoch - 1, (long)(first_epoch - 1) * steps_per_epoch,
                                          num(rec, "clip", 0), seg_noise(rec)));
    }
    return out;
}

char *dc_dp_record_json(const char *prev, const dc_dp_run *run, int epochs_done, double eps, double order,
                        double clipped_fraction) {
    cJSON *old = prev ? cJSON_Parse(prev) : NULL;
    cJSON *segs = earlier_segments(old, run->first_epoch, run->steps_per_epoch);
    cJSON_Delete(old);
    cJSON *j = cJSON_CreateObject();
    if (!segs || !j) {
        cJSON_Delete(segs);
        cJSON_Delete(j);
        return NULL;
    }
    const char *noise = dc_dp_noise_source(run->seeded);
    // this segment, merged into the previous one when nothing changed
    cJSON *last = cJSON_GetArrayItem(segs, cJSON_GetArraySize(segs) - 1);
    if (last && seg_bound(last, 1) == run->first_epoch - 1 && !strcmp(seg_noise(last), noise) &&
        !differs(num(last, "clip", 0), run->clip)) {
        int a = seg_bound(last, 0);
        cJSON_ReplaceItemInArray(segs, cJSON_GetArraySize(segs) - 1,
                                 segment(a, epochs_done, (long)(epochs_done - a + 1) * run->steps_per_epoch, run->clip,
                                         noise));
    } else {
        cJSON_AddItemToArray(segs, segment(run->first_epoch, epochs_done,
                                           (long)(epochs_done - run->first_epoch + 1) * run->steps_per_epoch,
                                           run->clip, noise));
    }
    // one source for every step, or a summary naming each segment's
    bool mixed = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, segs) mixed |= strcmp(seg_noise(s), noise) != 0;
    char summary[1024];
    if (!mixed) {
        snprintf(summary, sizeof summary, "%s", noise);
    } else {
        size_t k = (size_t)snprintf(summary, sizeof summary, "mixed:");
        const char *sep = " ";
        cJSON_ArrayForEach(s, segs) {
            if (k >= sizeof summary) break;
            k += (size_t)snprintf(summary + k, sizeof summary - k, "%sepochs %d-%d %s", sep, seg_bound(s, 0),
                                  seg_bound(s, 1), seg_noise(s));
            sep = "; ";
        }
    }
    cJSON_AddStringToObject(j, "mechanism", DP_MECHANISM);
    if (isfinite(eps)) cJSON_AddNumberToObject(j, "epsilon", eps);
    else cJSON_AddNullToObject(j, "epsilon"); // sigma 0: an unbounded epsilon
    cJSON_AddNumberToObject(j, "delta", sig(run->delta, 7)); // a float on the command line
    cJSON_AddNumberToObject(j, "sigma", sig(run->sigma, 9));
    cJSON_AddNumberToObject(j, "clip", sig(run->clip, 9));
    cJSON_AddNumberToObject(j, "sample_rate", sig(run->q, 9));
    cJSON_AddNumberToObject(j, "steps", (double)((long)epochs_done * run->steps_per_epoch));
    cJSON_AddNumberToObject(j, "expected_lot", run->expected_lot);
    cJSON_AddNumberToObject(j, "rdp_order", order);
    cJSON_AddStringToObject(j, "accountant", "RDP of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019)");
    cJSON_AddStringToObject(j, "noise", summary);
    cJSON_AddNumberToObject(j, "clipped_fraction_last_epoch", clipped_fraction);
    cJSON_AddItemToObject(j, "segments", segs);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

float dc_dp_record_clip(const char *prev) {
    cJSON *rec = prev ? cJSON_Parse(prev) : NULL;
    if (!rec) return 0;
    double clip = num(rec, "clip", 0);
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(rec, "segments");
    const cJSON *last = cJSON_GetArrayItem(segs, cJSON_GetArraySize(segs) - 1);
    if (last) clip = num(last, "clip", clip);
    cJSON_Delete(rec);
    return clip > 0 && isfinite(clip) ? (float)clip : 0;
}

bool dc_dp_record_seeded_before(const char *prev, int first_epoch) {
    cJSON *rec = prev ? cJSON_Parse(prev) : NULL;
    if (!rec) return false;
    cJSON *segs = earlier_segments(rec, first_epoch, 0);
    bool seeded = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, segs) seeded |= strstr(seg_noise(s), "--dp-seed") != NULL;
    cJSON_Delete(segs);
    cJSON_Delete(rec);
    return seeded;
}
