// cli.h — shared pieces of the deepc command-line program: the verb table,
// strict option parsing, the progress bar. Only the CLI prints and exits.
#ifndef DC_CLI_H
#define DC_CLI_H

#include <stdbool.h>
#include <stdint.h>
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
int cmd_finetune(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_tune(int argc, char **argv);

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
// max_pos). Prints a one-line error and returns false on any bad input;
// returns false with *help set for --help.
bool cli_parse(int argc, char **argv, dc_opt *opts, const char **pos, int max_pos,
               int *n_pos, bool *help, const char *verb);
void cli_usage(const char *verb, const char *synopsis, const dc_opt *opts);
const dc_opt *cli_find(const dc_opt *opts, const char *name);

// stderr progress bar with rate and ETA, only when stderr is a terminal.
typedef struct dc_progress {
    bool enabled;      // stderr is a terminal and the caller allows it
    const char *unit;  // e.g. "batches"
} dc_progress;
void progress_init(dc_progress *p, const char *unit, bool allow);
void progress_update(dc_progress *p, const char *label, long done, long total,
                     double elapsed, const char *extra);
void progress_clear(dc_progress *p);

// Fashion-MNIST's ten class names, used when the data set is Fashion-MNIST.
extern const char *const dc_fashion_classes[10];
bool cli_is_fashion(const char *spec);

int cli_fail(const char *verb, const dc_error *err);
// Prints s to stdout as a JSON string literal (quotes, backslashes and
// control characters escaped): every string in --json output goes through it.
void cli_json_str(const char *s);
// --split must be "test" or "train"; otherwise prints the error, returns false.
bool cli_split_ok(const char *verb, const char *split); // prints "deepc VERB: msg", returns 1

#endif
