// cli.h — shared pieces of the deepc command-line program: the verb table,
// strict option parsing, the progress bar. Only the CLI prints and exits.
#ifndef DC_CLI_H
#define DC_CLI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "deepc.h"

typedef int (*dc_verb_fn)(int argc, char **argv);

typedef struct dc_verb {
    const char *name;
    dc_verb_fn fn;
    const char *help; // one line
} dc_verb;

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_visualize(int argc, char **argv);
int cmd_federate(int argc, char **argv);
int cmd_privacy(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_surrogate(int argc, char **argv);
int cmd_anonymize(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_prune(int argc, char **argv);

// Options: "--name value" or "--name=value"; flags take no value.
typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_U64 } dc_opt_type;
typedef struct dc_opt {
    const char *name;  // without the leading "--"
    dc_opt_type type;
    void *dst;         // bool*, int*, float*, const char**, uint64_t*
    const char *help;
    bool seen;         // set by the parser
} dc_opt;

// Parses argv[1..]; positional arguments are collected into pos (at most
// max_pos). Prints a one-line error and returns false on any bad input (an
// unknown option names the nearest known one: "did you mean --epochs?");
// returns false with *help set for --help.
bool cli_parse(int argc, char **argv, dc_opt *opts, const char **pos, int max_pos,
               int *n_pos, bool *help, const char *verb);
void cli_usage(const char *verb, const char *synopsis, const dc_opt *opts);
const dc_opt *cli_find(const dc_opt *opts, const char *name);

// The candidate nearest to word (edit distance, transpositions counted as
// one), or NULL when none is near enough to be a likely typo.
const char *cli_suggest(const char *word, const char *const *cands, int n);

// stderr progress bar with rate and ETA, only when stderr is a terminal;
// redrawn in place and cut to the terminal's width (80 columns when it
// cannot be asked), so it never wraps.
typedef struct dc_progress {
    bool enabled;      // stderr is a terminal and the caller allows it
    const char *unit;  // e.g. "batches"
    int width;         // columns of the terminal
} dc_progress;
void progress_init(dc_progress *p, const char *unit, bool allow);
void progress_update(dc_progress *p, const char *label, long done, long total,
                     double elapsed, const char *extra);
void progress_clear(dc_progress *p);

// Fashion-MNIST's ten class names, used when the data set is Fashion-MNIST.
extern const char *const dc_fashion_classes[10];
bool cli_is_fashion(const char *spec);

int cli_fail(const char *verb, const dc_error *err);
// Runs main_fn(argc, argv, comm): under mpirun over MPI (init; banner, if
// any, printed once by rank 0; a failing rank aborts the job so none waits;
// finalize), else with a one-rank comm. Returns the exit status.
int cli_mpi_main(const char *verb, const char *banner, int (*main_fn)(int, char **, const dc_comm *), int argc,
                 char **argv);
// --split must be "test" or "train"; otherwise prints the error, returns false.
bool cli_split_ok(const char *verb, const char *split); // prints "deepc VERB: msg", returns 1

// ---------------------------------------------------------------------------
// --json: every verb builds its objects with cJSON and prints them with
// cli_json_print (one line each); the shared field names are in README.md,
// "JSON output". Not measured is null, never -1.

// Prints j unformatted on one line of stdout and frees it; false when out of memory.
bool cli_json_print(cJSON *j);
// x, or null when x is NaN or infinite.
cJSON *cli_json_number(double x);
// Adds x under key, null when x is not finite or (for "not measured"
// sentinels) below `absent_below`.
void cli_json_add(cJSON *obj, const char *key, double x, double absent_below);

// ---------------------------------------------------------------------------
// Data options shared by every verb that reads a data set

typedef struct cli_data_opts {
    int channels;
    const char *input_size, *input_shape, *layout, *classes;
    bool skip_bad;
} cli_data_opts;

#define CLI_DATA_OPTIONS(d)                                                                                      \
    {"channels", OPT_INT, &(d)->channels, "image folders: 1 (gray) or 3 (RGB) [1 if every image is gray, else 3]"}, \
    {"input-size", OPT_STR, &(d)->input_size, "image folders: resize every image to HxW, as torchvision's Resize"}, \
    {"input-shape", OPT_STR, &(d)->input_shape, "CSV: the C,H,W of the pixel columns [1,S,S for S*S columns]"},    \
    {"layout", OPT_STR, &(d)->layout, "NumPy rank-4 images: nhwc or nchw [from the shape]"},                       \
    {"skip-bad", OPT_FLAG, &(d)->skip_bad, "image folders: leave out unreadable images (and say how many)"},        \
    {"classes", OPT_STR, &(d)->classes, "the classes: a count K, or a file with one class name per line"}

// The --data help line, listing only the named sets installed here.
void cli_data_help(char *buf, size_t cap);
// The options as the library takes them; prints the error and returns false.
bool cli_data_options(const char *verb, const cli_data_opts *d, int threads, dc_data_options *out);
// Opens spec (dc_data_open_opts) with the options; prints the error (and
// returns 1) or a note about skipped files to stderr (quiet: none).
int cli_data_open(const char *verb, const char *spec, const cli_data_opts *d, int threads, bool quiet,
                  dc_dataset *train, dc_dataset *test);
// The split `split` ("test" or "train") of the pair; a source with one split
// only (test empty) gives its data for either, with a note on stderr.
dc_dataset *cli_pick_split(const char *verb, dc_dataset *train, dc_dataset *test, const char *split, bool quiet);
// "C,H,W" (each >= 1) into c, h, w; prints the error and returns false.
bool cli_parse_shape(const char *verb, const char *opt, const char *s, int *c, int *h, int *w);

// ---------------------------------------------------------------------------
// Loading a model for inference: --norm and --no-norm

typedef struct cli_norm {
    const char *norm;
    bool no_norm;
} cli_norm;

#define CLI_NORM_OPTIONS(n)                                                                                    \
    {"norm", OPT_STR, &(n)->norm, "input normalisation MEAN,STD (or C means then C stds) for a model file without it"}, \
    {"no-norm", OPT_FLAG, &(n)->no_norm, "a model file without normalisation takes [0,1] pixels as they are"}

// Loads path; a model without normalisation metadata gets --norm, or with
// --no-norm mean 0 and std 1, or else a loud warning on stderr. Prints the
// error and returns 1 on failure.
int cli_model_load(const char *verb, const char *path, const cli_norm *n, dc_model **m);
// "M,S" or "M1,..,MC,S1,..,SC" into mean/std (room for 64): the count of
// pairs, or 0 after printing the error.
int cli_parse_norm(const char *verb, const char *opt, const char *s, float *mean, float *std);

// ---------------------------------------------------------------------------
// The node table, cut to fit `width` columns (name, kind, output, params, MACs,
// then as much of the configuration as fits).
void cli_print_layers(FILE *f, const dc_model *m, int width);

#endif
