// space.h — a hyperparameter search space: a JSON object naming training
// options (src/tune/trainopts.h) and how to draw each one:
//
//   {"lr":       {"log_uniform": [0.001, 0.1]},
//    "momentum": {"choice": [0.0, 0.9]},
//    "batch":    {"choice": [32, 64]},
//    "warmup":   {"int": [0, 2]},
//    "optim":    {"choice": ["sgd", "adamw"]},
//    "hflip":    {"choice": [false, true]},
//    "weight-decay": {"uniform": [0, 0.05]}}
//
//   log_uniform [lo, hi]  0 < lo < hi, exp(U(ln lo, ln hi)); float options
//   uniform [lo, hi]      lo < hi, U(lo, hi); float options
//   int [lo, hi]          lo <= hi integers, each equally likely; integer options
//   choice [v, ...]       1..32 distinct values of the option's type (numbers,
//                         true/false, or the option's spellings), each equally likely
//
// Parsing is strict (cJSON underneath): a syntax error, an unknown option
// (with a "did you mean"), an unknown distribution, a second key in an
// option's object, a duplicate key, a wrong type, a bound outside the
// option's range or in the wrong order are errors that name the file, the
// line and the key. Every value drawn lies in the option's range.
#ifndef DC_TUNE_SPACE_H
#define DC_TUNE_SPACE_H

#include "tune/trainopts.h"

#define DC_TUNE_MAX_PARAMS 32
#define DC_TUNE_MAX_CHOICES 32
#define DC_TUNE_MAX_SPACE_BYTES (1 << 20)

typedef enum { DC_DIST_LOG_UNIFORM, DC_DIST_UNIFORM, DC_DIST_INT, DC_DIST_CHOICE } dc_dist_kind;

typedef struct dc_tune_param {
    const dc_topt *opt;      // the option (its row in dc_topts)
    char key[64];            // its key as spelt in the file
    dc_dist_kind dist;
    double lo, hi;           // LOG_UNIFORM, UNIFORM, INT
    int n_choices;
    double choices[DC_TUNE_MAX_CHOICES]; // CHOICE: numbers, 0/1, or ENUM indices
    int line;                // of its key in the file
} dc_tune_param;

typedef struct dc_tune_space {
    int n;                   // parameters, in file order
    dc_tune_param p[DC_TUNE_MAX_PARAMS];
} dc_tune_space;

// "log_uniform", "uniform", "int", "choice"
const char *dc_dist_name(dc_dist_kind d);

// Parses len bytes of text (need not be NUL-terminated; NUL bytes are an
// error). origin names the text in messages ("space.json").
dc_status dc_tune_space_parse(dc_tune_space *sp, const char *text, size_t len, const char *origin, dc_error *err);
// Reads and parses a file (at most DC_TUNE_MAX_SPACE_BYTES); *text_out (may
// be NULL) receives the file's text, NUL-terminated (free() it).
dc_status dc_tune_space_read(dc_tune_space *sp, const char *path, char **text_out, dc_error *err);

// Draws one value per parameter into values (sp->n), in file order from rng.
// Float options' values are rounded to float, so applying them is exact.
void dc_tune_space_sample(const dc_tune_space *sp, double *values, dc_rng *rng);
// Sets the sampled options in o.
void dc_tune_space_apply(const dc_tune_space *sp, const double *values, dc_trainopts *o);
// Whether values (sp->n) could have been drawn from sp (journal checks).
bool dc_tune_space_contains(const dc_tune_space *sp, const double *values);
// One value as text ("0.00312", "adamw", "true", "64").
void dc_tune_value_text(const dc_tune_param *p, double v, char *buf, size_t cap);

#endif
