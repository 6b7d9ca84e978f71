// test_harden_dp.c — the DP-SGD privacy record across resumes (issue 13,
// bug 7): the clip actually used is what a resume continues with, the
// noise source is recorded per run segment, and resumes that would make
// the accounting wrong are refused.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "deepc.h"
#include "harness.h"
#include "privacy/dp_record.h"
#include "federated/fed.h"

// What an older deepc wrote: no segments, clip 1 (the default, while its
// train_config said 0), seeded noise.
static const char *k_old =
    "{\"mechanism\":\"DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise)\",\"epsilon\":1.5,"
    "\"delta\":1e-05,\"sigma\":1.1,\"clip\":1,\"sample_rate\":0.01,\"steps\":200,\"expected_lot\":64,"
    "\"rdp_order\":8,\"accountant\":\"RDP\",\"noise\":\"ChaCha20 keyed by --dp-seed (reproducible, NOT secret)\","
    "\"clipped_fraction_last_epoch\":0.5}";

static const cJSON *seg(const cJSON *rec, int i) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "segments"), i);
}
static int seg_epoch(const cJSON *s, int k) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "epochs"), k)->valueint;
}
static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int main(void) {
    dc_error err = {{0}};
    // the clip used, also from an old record
    CHECK(dc_dp_record_clip(k_old) == 1.0f, "old record clip %g", dc_dp_record_clip(k_old));
    CHECK(dc_dp_record_clip(NULL) == 0.0f, "no record: 0");
    CHECK(dc_dp_record_seeded_before(k_old, 3), "old seeded record");

    // epochs 3-4 with OS noise after 2 seeded epochs of an old record
    dc_dp_run run = {.q = 0.01, .sigma = 1.1, .delta = 1e-5, .clip = 1.0f, .seeded = false, .first_epoch = 3,
                     .steps_per_epoch = 100, .expected_lot = 64};
    CHECK(dc_dp_resume_check(k_old, 2, true, &run, &err) == DC_OK, "same setting: %s", err.msg);
    char *r3 = dc_dp_record_json(k_old, &run, 3, 2.0, 7.0, 0.25);
    char *r4 = dc_dp_record_json(r3, &run, 4, 2.2, 7.0, 0.25); // the next epoch of the same run
    cJSON *rec = cJSON_Parse(r4);
    CHECK(rec != NULL, "record is not JSON: %s", r4);
    if (rec) {
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "segments")) == 2, "two segments: %s", r4);
        CHECK(seg_epoch(seg(rec, 0), 0) == 1 && seg_epoch(seg(rec, 0), 1) == 2 &&
                  strstr(str(seg(rec, 0), "noise"), "--dp-seed"), "old epochs as one seeded segment: %s", r4);
        CHECK(seg_epoch(seg(rec, 1), 0) == 3 && seg_epoch(seg(rec, 1), 1) == 4 &&
                  strstr(str(seg(rec, 1), "noise"), "by the OS"), "this run's segment: %s", r4);
        const char *noise = str(rec, "noise");
        CHECK(!strncmp(noise, "mixed:", 6) && strstr(noise, "epochs 1-2") && strstr(noise, "epochs 3-4"),
              "summary names both sources: %s", noise);
        CHECK(cJSON_GetObjectItemCaseSensitive(rec, "steps")->valuedouble == 400, "steps: %s", r4);
    }
    cJSON_Delete(rec);
    // the same source again merges into one segment
    dc_dp_run again = run;
    again.first_epoch = 5;
    char *r5 = dc_dp_record_json(r4, &again, 5, 2.4, 7.0, 0.25);
    rec = cJSON_Parse(r5);
    CHECK(rec && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "segments")) == 2 &&
              seg_epoch(seg(rec, 1), 1) == 5, "same source merges: %s", r5);
    cJSON_Delete(rec);
    // one source throughout: named plainly
    dc_dp_run fresh = run;
    fresh.first_epoch = 1;
    char *f1 = dc_dp_record_json(NULL, &fresh, 1, 0.5, 9.0, 0.1);
    rec = cJSON_Parse(f1);
    CHECK(rec && !strcmp(str(rec, "noise"), dc_dp_noise_source(false)), "plain source: %s", f1);
    cJSON_Delete(rec);
    // sigma 0: epsilon is null, still JSON
    fresh.sigma = 0;
    char *z = dc_dp_record_json(NULL, &fresh, 1, INFINITY, 0, 0.1);
    rec = cJSON_Parse(z);
    CHECK(rec && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(rec, "epsilon")), "sigma 0: %s", z);
    cJSON_Delete(rec);

    // refusals
    dc_dp_run other = run;
    other.sigma = 2.0;
    CHECK(dc_dp_resume_check(k_old, 2, true, &other, &err) == DC_ERR_ARG && strstr(err.msg, "noise multiplier"),
          "other sigma: %s", err.msg);
    other = run;
    other.q = 0.02;
    CHECK(dc_dp_resume_check(k_old, 2, true, &other, &err) == DC_ERR_ARG, "other sample rate");
    other = run;
    other.delta = 1e-6;
    CHECK(dc_dp_resume_check(k_old, 2, true, &other, &err) == DC_ERR_ARG, "other delta");
    CHECK(dc_dp_resume_check(NULL, 2, true, &run, &err) == DC_ERR_ARG && strstr(err.msg, "without DP"),
          "DP on non-private epochs: %s", err.msg);
    CHECK(dc_dp_resume_check(k_old, 2, false, NULL, &err) == DC_ERR_ARG && strstr(err.msg, "with DP-SGD"),
          "non-private epochs on DP: %s", err.msg);
    CHECK(dc_dp_resume_check(NULL, 0, true, &run, &err) == DC_OK, "a fresh DP run");
    CHECK(dc_dp_resume_check(NULL, 3, false, NULL, &err) == DC_OK, "a plain resume");
    // secure aggregation's keys and masks never come from the public seeds
    dc_fed_config fc = dc_fed_config_default();
    fc.secure_agg = true;
    fc.client_dp = true;
    fc.dp_seeded = true;
    fc.dp_seed = 7;
    fc.seed = 1;
    dc_secagg_params sp = dc_fed_secagg_params(&fc, 10, 1000, 3);
    CHECK(!sp.insecure_test_seed, "secure aggregation keyed by --dp-seed/--seed (test_seed %llu)",
          (unsigned long long)sp.test_seed);
    CHECK(sp.n_clients == 10 && sp.threshold == 7 && sp.n == 1000 && sp.round == 3 && sp.clip == fc.dp_clip,
          "params: K %d t %d n %zu round %llu clip %g", sp.n_clients, sp.threshold, sp.n,
          (unsigned long long)sp.round, sp.clip);
    free(r3);
    free(r4);
    free(r5);
    free(f1);
    free(z);
    return dc_test_finish();
}
