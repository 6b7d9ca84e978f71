// learn_common.h — what the finetune, pretrain and tune verbs share: the
// training options as command-line rows (from the table in
// src/tune/trainopts.h, so every verb spells and checks them alike), the
// per-epoch printer, and the run's provenance record.
#ifndef DC_CLI_LEARN_COMMON_H
#define DC_CLI_LEARN_COMMON_H

#include "cli.h"
#include "tune/trainopts.h"

typedef struct learn_opts {
    dc_trainopts o;            // values, filled by the parser
    const char *enum_str[4];   // the ENUM rows' strings, in table order
} learn_opts;

// Appends one dc_opt row per training option (dc_topts) to opts[*n..],
// pointing into lo (defaults: deepc train's). cap is the array's length.
void learn_add_train_rows(dc_opt *opts, int *n, int cap, learn_opts *lo);
// After cli_parse: the ENUM strings into indices. Prints the error and
// returns false on an unknown spelling.
bool learn_finish(learn_opts *lo, const char *verb);

typedef struct learn_printer {
    bool json, quiet;
    dc_progress bar;
    const char *split; // the held-out set: "val" or "test" (JSON: val_accuracy or test_accuracy)
} learn_printer;
// A dc_train_callback printing one line per epoch (or one JSON object).
void learn_on_event(const dc_train_event *ev, void *user);

// "2024-01-01T00:00:00Z" of now into buf.
void learn_utc_now(char *buf, size_t cap);

#endif
