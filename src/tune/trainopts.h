// trainopts.h — the training options as data: one table row per option
// (name, type, range, choices, help) over one plain struct, so that the
// tuner's search space, the journal, the model's train_config record and
// the command-line options of finetune/tune all come from the same rows.
// The names and ranges are `deepc train`'s (README, "Using deepc").
#ifndef DC_TRAINOPTS_H
#define DC_TRAINOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include "deepc.h"

// The options of one training run (a trial, a fine-tuning run).
typedef struct dc_trainopts {
    int batch;           // mini-batch size
    int optim;           // index into dc_optim_names: sgd, adam, adamw
    float lr;
    float momentum;      // SGD only
    bool nesterov;
    float weight_decay;
    float beta1, beta2, eps;
    int sched;           // index into dc_sched_names: constant, step, cosine
    int step_size;
    float gamma;
    float min_lr;
    int warmup;          // epochs of linear warmup
    float clip;          // global gradient-norm clip (0: off)
    float rotate, scale, translate; // augmentation
    bool hflip;
    int crop;
    float erase;
} dc_trainopts;

typedef enum { DC_TOPT_FLOAT, DC_TOPT_INT, DC_TOPT_BOOL, DC_TOPT_ENUM } dc_topt_type;

typedef struct dc_topt {
    const char *name;         // as on the command line ("weight-decay")
    dc_topt_type type;
    size_t offset;            // into dc_trainopts (float, int, bool, int)
    double lo, hi;            // accepted range (FLOAT, INT)
    bool lo_open, hi_open;    // exclusive ends
    const char *const *choices; // ENUM: NULL-terminated spellings
    const char *help;         // one line, default in brackets
} dc_topt;

extern const dc_topt dc_topts[];            // {NULL}-terminated
extern const char *const dc_optim_names[];  // "sgd", "adam", "adamw", NULL
extern const char *const dc_sched_names[];  // "constant", "step", "cosine", NULL

// The row called name; '-' and '_' are the same ("weight_decay" finds
// "weight-decay"). NULL when there is none.
const dc_topt *dc_topt_find(const char *name);
// The closest row name to a misspelt one (edit distance <= 2), or NULL.
const char *dc_topt_suggest(const char *name);
// "batch, optim, lr, ..." into buf.
void dc_topt_list(char *buf, size_t cap);

dc_trainopts dc_trainopts_default(void); // deepc train's defaults

// Reading and writing one option's value as a double (FLOAT, INT, BOOL 0/1,
// ENUM index).
double dc_topt_get(const dc_trainopts *o, const dc_topt *t);
void dc_topt_set(dc_trainopts *o, const dc_topt *t, double v);
// Whether v is in the row's range (integral for INT, 0/1 for BOOL, an
// index for ENUM).
bool dc_topt_in_range(const dc_topt *t, double v);
// "[0, 1)" style text of the range into buf.
void dc_topt_range_text(const dc_topt *t, char *buf, size_t cap);

// The checks between options (Nesterov needs SGD with momentum > 0, warmup
// shorter than the run); epochs is the run's total. DC_ERR_ARG naming them.
dc_status dc_trainopts_check(const dc_trainopts *o, int epochs, dc_error *err);
// The dc_train_config fields these options set (the rest is left alone).
void dc_trainopts_apply(dc_train_config *cfg, const dc_trainopts *o);
// The options as a JSON object (malloc'd; NULL when out of memory) with
// `deepc train`'s train_config keys, plus the given extras (may be NULL):
// model, data, epochs, seed, threads, val_split, limit, test_limit.
typedef struct dc_trainopts_extra {
    const char *model, *data;
    int epochs, threads, limit, test_limit;
    uint64_t seed;
    float val_split;
} dc_trainopts_extra;
char *dc_trainopts_json(const dc_trainopts *o, const dc_trainopts_extra *x);

#endif
