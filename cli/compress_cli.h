// compress_cli.h — what `deepc prune` shares with deepc train and
// finetune: the fine-tuning options (every training option of
// src/tune/trainopts.h: optimizers, schedules, warmup, augmentation), the
// data they train on, and the epoch lines they print. Implemented in
// prune.c.
#ifndef DC_COMPRESS_CLI_H
#define DC_COMPRESS_CLI_H

#include "cli.h"
#include "learn_common.h"

typedef struct dc_finetune_opts {
    const char *data;
    int threads, limit, test_limit;
    uint64_t seed;
    bool json, quiet;
    learn_opts lo; // the training options, as deepc train's
} dc_finetune_opts;

// Defaults: fashion-mnist, and deepc train's (sgd lr 0.001 momentum 0.9,
// batch 64, constant schedule, no augmentation).
void dc_finetune_defaults(dc_finetune_opts *f);
// Appends the fine-tuning options to opts[n..] (cap rows in all, the
// {NULL} terminator included); returns the new count.
int dc_finetune_add_options(dc_opt *opts, int n, int cap, dc_finetune_opts *f);
// A training configuration for `epochs` epochs of fine-tuning; false
// (message printed) on a bad option.
bool dc_finetune_config(dc_train_config *cfg, dc_finetune_opts *f, int epochs, const char *verb);
// Opens the data set (--limit/--test-limit applied); false (message printed).
bool dc_finetune_data(dc_dataset *train, dc_dataset *test, const dc_finetune_opts *f, const char *verb);
// The per-epoch callback (cb_user: a dc_finetune_opts).
void dc_finetune_on_event(const dc_train_event *ev, void *user);

#endif
