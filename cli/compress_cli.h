// compress_cli.h — what `deepc prune` and `deepc quantize --qat` share: the
// fine-tuning options (the optimizers and schedules of deepc train), the
// data they train on, and the epoch lines they print. Implemented in prune.c.
#ifndef DC_COMPRESS_CLI_H
#define DC_COMPRESS_CLI_H

#include "cli.h"

typedef struct dc_finetune_opts {
    const char *data, *optim, *sched;
    int batch, threads, limit, test_limit;
    float lr, momentum, wd, min_lr;
    uint64_t seed;
    bool json, quiet;
} dc_finetune_opts;

// Defaults: fashion-mnist, sgd lr 0.01 momentum 0.9, batch 64, constant.
void dc_finetune_defaults(dc_finetune_opts *f);
// Appends the fine-tuning options to opts (which must have room for 14
// more rows and its {NULL} terminator); returns the new count.
int dc_finetune_add_options(dc_opt *opts, int n, dc_finetune_opts *f);
// A training configuration of `epochs` more epochs for m; false (message
// printed) on a bad option.
bool dc_finetune_config(dc_train_config *cfg, const dc_finetune_opts *f, const char *verb);
// Opens the data set (--limit/--test-limit applied); false (message printed).
bool dc_finetune_data(dc_dataset *train, dc_dataset *test, const dc_finetune_opts *f, const char *verb);
// The per-epoch callback (cb_user: a dc_finetune_opts).
void dc_finetune_on_event(const dc_train_event *ev, void *user);

#endif
