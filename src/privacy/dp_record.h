// dp_record.h — the DP-SGD privacy record that dc_train keeps in a model's
// "privacy" metadata, and the rules for continuing a DP run.
//
// The record is one JSON object: epsilon at delta, sigma, clip, sample rate,
// steps, the accountant, and "segments": one entry per run segment (a run
// and each --resume of it) with its epochs, steps, clip and noise source, so
// that a seeded run resumed without --dp-seed (or the reverse) says which
// epochs had reproducible, non-secret noise. Consecutive segments with the
// same clip and noise source are merged. The accountant composes all steps
// at one (sample rate, sigma): a resume that would change either, or delta,
// is refused, as is DP training on top of non-private epochs and non-private
// training on top of DP epochs.
#ifndef DC_PRIVACY_DP_RECORD_H
#define DC_PRIVACY_DP_RECORD_H

#include <stdbool.h>
#include "deepc.h"

// What the current run segment of DP-SGD uses.
typedef struct dc_dp_run {
    double q;              // sample rate (expected lot / n)
    double sigma;          // noise multiplier
    double delta;
    float clip;            // per-sample clip norm
    bool seeded;           // noise keyed by --dp-seed (reproducible, not secret)
    int first_epoch;       // 1-based first epoch of this segment
    long steps_per_epoch;
    int expected_lot;
} dc_dp_run;

// The noise source as the record names it.
const char *dc_dp_noise_source(bool seeded);

// May a run continue a model that has trained epochs_done epochs and holds
// the privacy record prev (NULL if none)? dp: whether this run is DP-SGD;
// run: its setting (ignored when !dp). DC_ERR_ARG with the reason if not.
dc_status dc_dp_resume_check(const char *prev, int epochs_done, bool dp, const dc_dp_run *run,
                             dc_error *err);

// The record after epoch epochs_done (1-based count) of run, keeping the
// segments of prev that end before run->first_epoch. eps: epsilon so far
// (+INFINITY for sigma 0: written as null). Returns a malloc'd string, or
// NULL when out of memory.
char *dc_dp_record_json(const char *prev, const dc_dp_run *run, int epochs_done, double eps, double order,
                        double clipped_fraction);

// The clip of the record's most recent segment (or its top-level "clip"),
// 0 when there is none: what --resume continues with when --clip is not given.
float dc_dp_record_clip(const char *prev);
// Whether any segment of the record (before first_epoch) used seeded noise.
bool dc_dp_record_seeded_before(const char *prev, int first_epoch);

#endif
