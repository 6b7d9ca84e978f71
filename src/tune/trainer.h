// trainer.h — the tuner's objective for real training: a trial is a
// `deepc train` run with the space's values over the fixed options, scored
// by its validation accuracy after every epoch. Each unit (a trial from one
// rung to the next) continues the trial's checkpoint <dir>/trial-NNNNN.safetensors,
// which holds the weights, the optimizer state and the epoch count, so a
// promoted trial continues bit-identically to an uninterrupted run (the
// schedule spans the budget, stop_after ends the unit), and a unit
// interrupted after its checkpoint was written is not trained again.
#ifndef DC_TUNE_TRAINER_H
#define DC_TUNE_TRAINER_H

#include "tune/tune.h"

typedef struct dc_tune_trainer {
    const char *model;        // built-in name or architecture file
    const dc_dataset *train;  // training split
    const dc_dataset *val;    // validation split (--val-split): the metric, never the test set
    dc_trainopts base;        // the fixed options the space's values override
    uint64_t seed;            // every trial's init, shuffle and augmentation seed
    int threads;              // threads per trial
    const char *dir;          // checkpoint folder (exists)
    const char *const *class_names; // (n_class_names) or NULL
    int n_class_names;
    const char *data_name;    // for the models' records
} dc_tune_trainer;

// The dc_tune_objective for a dc_tune_trainer (user).
dc_status dc_tune_train_objective(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to,
                                  double *curve, double *seconds, dc_error *err);
// <dir>/trial-NNNNN.safetensors into buf.
void dc_tune_trial_path(char *buf, size_t cap, const char *dir, int id);
// The trial's options: base with the trial's values applied.
void dc_tune_trial_options(dc_trainopts *o, const dc_tune *tu, const dc_tune_trial *t, const dc_trainopts *base);

#endif
