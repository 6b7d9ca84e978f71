// common.c — option parsing ("did you mean"), progress bar, JSON output,
// data and model loading and the layer table, shared by every verb.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "dist/dist.h"
#include "data/loaders.h"

const char *const dc_fashion_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

bool cli_is_fashion(const char *spec) {
    if (!strcmp(spec, "fashion-mnist")) return true;
    const char *base = strrchr(spec, '/');
    base = base && base[1] ? base + 1 : spec;
    return strstr(base, "fashion") != NULL || strstr(spec, "fashion-mnist") != NULL;
}

bool cli_json_print(cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) {
        fprintf(stderr, "deepc: out of memory writing JSON\n");
        return false;
    }
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    return true;
}

cJSON *cli_json_number(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

void cli_json_add(cJSON *obj, const char *key, double x, double absent_below) {
    cJSON_AddItemToObject(obj, key, isfinite(x) && x >= absent_below ? cJSON_CreateNumber(x) : cJSON_CreateNull());
}

// Optimal-string-alignment distance (insertions, deletions, substitutions
// and adjacent transpositions cost 1), for names of at most 63 bytes.
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = a[i - 1] == b[j - 1] ? 0 : 1, v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + c < v) v = d[i - 1][j - 1] + c;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *cli_suggest(const char *word, const char *const *cands, int n) {
    // the closest name, if at most 2 edits away (1 for short words), or the
    // one name the word starts (an abbreviation)
    const char *best = NULL, *prefix = NULL;
    int bd = 99, n_prefix = 0;
    const size_t wl = strlen(word);
    for (int i = 0; i < n; i++) {
        int dd = edit_distance(word, cands[i]);
        if (dd < bd) bd = dd, best = cands[i];
        if (wl >= 3 && !strncmp(cands[i], word, wl)) prefix = cands[i], n_prefix++;
    }
    const int limit = wl <= 4 ? 1 : 2;
    if (best && bd <= limit) return best;
    return n_prefix == 1 ? prefix : NULL;
}

int cli_fail(const char *verb, const dc_error *err) {
    fprintf(stderr, "deepc %s: %s\n", verb, err->msg);
    return 1;
}

const dc_opt *cli_find(const dc_opt *opts, const char *name) {
    for (const dc_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

static bool set_value(dc_opt *o, const char *v, const char *verb) {
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L) {
            fprintf(stderr, "deepc %s: --%s '%s': expected an integer\n", verb, o->name, v);
            return false;
        }
        *(int *)o->dst = (int)x;
        return true;
    }
    case OPT_U64: {
        if (*v == '-') {
            fprintf(stderr, "deepc %s: --%s '%s': expected a non-negative integer\n", verb, o->name, v);
            return false;
        }
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) {
            fprintf(stderr, "deepc %s: --%s '%s': expected a non-negative integer\n", verb, o->name, v);
            return false;
        }
        *(uint64_t *)o->dst = (uint64_t)x;
        return true;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (end == v || *end || isnan(x)) {
            fprintf(stderr, "deepc %s: --%s '%s': expected a number\n", verb, o->name, v);
            return false;
        }
        // ERANGE: overflow (x is +-HUGE_VALF) or underflow. A subnormal
        // result (1e-38) is a float all the same and is kept; a value that
        // rounds to zero although it is not zero is refused as too small.
        if (isinf(x) && (errno == ERANGE || !strpbrk(v, "iI"))) {
            fprintf(stderr, "deepc %s: --%s '%s': too large (a float holds at most %g)\n", verb, o->name, v,
                    (double)FLT_MAX);
            return false;
        }
        if (!isfinite(x)) {
            fprintf(stderr, "deepc %s: --%s '%s': expected a finite number\n", verb, o->name, v);
            return false;
        }
        if (errno == ERANGE && x == 0.0f) {
            fprintf(stderr, "deepc %s: --%s '%s': too small (the smallest positive float is %g); use 0 for zero\n",
                    verb, o->name, v, (double)FLT_TRUE_MIN);
            return false;
        }
        *(float *)o->dst = x;
        return true;
    }
    case OPT_STR:
        *(const char **)o->dst = v;
        return true;
    case OPT_FLAG:
        break;
    }
    return false;
}

bool cli_parse(int argc, char **argv, dc_opt *opts, const char **pos, int max_pos, int *n_pos,
               bool *help, const char *verb) {
    *n_pos = 0;
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return false;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "deepc %s: unexpected argument '%s' (see deepc %s --help)\n", verb, a, verb);
                return false;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        dc_opt *o = NULL;
        for (dc_opt *q = opts; q->name; q++)
            if (!strcmp(q->name, name)) o = q;
        if (!o) {
            const char *names[256];
            int k = 0;
            for (dc_opt *q = opts; q->name && k < 255; q++) names[k++] = q->name;
            names[k++] = "help";
            const char *near = cli_suggest(name, names, k);
            if (near)
                fprintf(stderr, "deepc %s: unknown option --%s: did you mean --%s? (see deepc %s --help)\n", verb, name,
                        near, verb);
            else
                fprintf(stderr, "deepc %s: unknown option --%s (see deepc %s --help)\n", verb, name, verb);
            return false;
        }
        if (o->seen) {
            fprintf(stderr, "deepc %s: option --%s given twice\n", verb, name);
            return false;
        }
        o->seen = true;
        if (o->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "deepc %s: --%s takes no value\n", verb, name);
                return false;
            }
            *(bool *)o->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "deepc %s: --%s needs a value\n", verb, name);
            return false;
        }
        if (!set_value(o, v, verb)) return false;
    }
    return true;
}

void cli_usage(const char *verb, const char *synopsis, const dc_opt *opts) {
    printf("usage: deepc %s %s\n\noptions:\n", verb, synopsis);
    for (const dc_opt *o = opts; o->name; o++) {
        const char *arg = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : o->type == OPT_FLOAT ? " X" : " N";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        printf("  %-22s %s\n", left, o->help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

void progress_init(dc_progress *p, const char *unit, bool allow) {
    p->enabled = allow && isatty(STDERR_FILENO);
    p->unit = unit;
    p->width = 80;
    struct winsize ws;
    if (p->enabled && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) p->width = ws.ws_col;
}

void progress_update(dc_progress *p, const char *label, long done, long total, double elapsed,
                     const char *extra) {
    // elapsed: seconds since the work started, as measured by the caller
    if (!p->enabled || total <= 0) return;
    double rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    // label [bar] done/total rate unit/s ETA Ns extra, within width-1
    // columns (the last column would make some terminals wrap); the bar
    // takes what the text leaves, 10..30 cells, and the extra goes first
    // when even that does not fit
    char tail[160];
    snprintf(tail, sizeof tail, " %ld/%ld %.0f %s/s ETA %.0fs", done, total, rate, p->unit, eta);
    const int room = p->width - 1;
    int fixed = (int)strlen(label) + 3 + (int)strlen(tail);
    int ex = extra ? (int)strlen(extra) + 1 : 0;
    if (fixed + 10 + ex > room) ex = 0;
    int width = room - fixed - ex;
    if (width > 30) width = 30;
    if (width < 10) width = 10;
    int fill = (int)((double)done / total * width);
    char bar[40], line[512];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    snprintf(line, sizeof line, "%s [%s]%s%s%s", label, bar, tail, ex ? " " : "", ex ? extra : "");
    if ((int)strlen(line) > room) line[room > 0 ? room : 0] = 0;
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

void progress_clear(dc_progress *p) {
    if (p->enabled) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}

bool cli_split_ok(const char *verb, const char *split) {
    if (!strcmp(split, "test") || !strcmp(split, "train")) return true;
    fprintf(stderr, "deepc %s: --split '%s': expected test or train\n", verb, split);
    return false;
}

// ---------------------------------------------------------------------------
// Data

void cli_data_help(char *buf, size_t cap) {
    const char *named = dc_data_named_available();
    snprintf(buf, cap, "%s%sa .csv or .npz file, or a folder of IDX files, CIFAR-10 batches, x_train.npy/y_train.npy "
             "or class folders of images (README: Data)%s", named, named[0] ? ", " : "",
             !strncmp(named, "fashion-mnist", 13) ? " [fashion-mnist]" : "");
}

bool cli_parse_shape(const char *verb, const char *opt, const char *s, int *c, int *h, int *w) {
    char tail;
    if (sscanf(s, "%d,%d,%d%c", c, h, w, &tail) != 3 || *c < 1 || *h < 1 || *w < 1 || *c > 4096 || *h > 65536 ||
        *w > 65536) {
        fprintf(stderr, "deepc %s: --%s '%s': expected C,H,W such as 1,28,28\n", verb, opt, s);
        return false;
    }
    return true;
}

bool cli_data_options(const char *verb, const cli_data_opts *d, int threads, dc_data_options *o) {
    *o = dc_data_options_default();
    o->nthreads = threads;
    o->skip_bad = d->skip_bad;
    o->classes = d->classes;
    if (d->channels != 0 && d->channels != 1 && d->channels != 3) {
        fprintf(stderr, "deepc %s: --channels %d: expected 1 (gray) or 3 (RGB)\n", verb, d->channels);
        return false;
    }
    o->channels = d->channels;
    if (d->input_size) {
        char tail;
        if (sscanf(d->input_size, "%dx%d%c", &o->height, &o->width, &tail) != 2 || o->height < 1 || o->width < 1 ||
            o->height > 16384 || o->width > 16384) {
            fprintf(stderr, "deepc %s: --input-size '%s': expected HxW such as 32x32\n", verb, d->input_size);
            return false;
        }
    }
    if (d->input_shape && !cli_parse_shape(verb, "input-shape", d->input_shape, &o->shape_c, &o->shape_h, &o->shape_w))
        return false;
    if (d->layout) {
        if (!strcmp(d->layout, "nhwc")) o->layout = DC_LAYOUT_NHWC;
        else if (!strcmp(d->layout, "nchw")) o->layout = DC_LAYOUT_NCHW;
        else {
            fprintf(stderr, "deepc %s: --layout '%s': expected nhwc or nchw\n", verb, d->layout);
            return false;
        }
    }
    return true;
}

int cli_data_open(const char *verb, const char *spec, const cli_data_opts *d, int threads, bool quiet,
                  dc_dataset *train, dc_dataset *test) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    dc_data_options o;
    if (!cli_data_options(verb, d, threads, &o)) return 2;
    dc_error err;
    if (dc_data_open_opts(train, test, spec, &o, &err)) return cli_fail(verb, &err);
    if (!quiet && (train->skipped || test->skipped))
        fprintf(stderr, "deepc %s: note: --skip-bad left out %d unreadable image%s (%d train, %d test)\n", verb,
                train->skipped + test->skipped, train->skipped + test->skipped == 1 ? "" : "s", train->skipped,
                test->skipped);
    return 0;
}

dc_dataset *cli_pick_split(const char *verb, dc_dataset *train, dc_dataset *test, const char *split, bool quiet) {
    if (test->n == 0) {
        if (!quiet && !strcmp(split, "test"))
            fprintf(stderr, "deepc %s: note: %s has no separate test split: using all of its %d samples\n", verb,
                    train->source, train->n);
        return train;
    }
    return !strcmp(split, "test") ? test : train;
}

// ---------------------------------------------------------------------------
// Models

int cli_parse_norm(const char *verb, const char *opt, const char *s, float *mean, float *std) {
    float v[128];
    int n = 0;
    const char *p = s;
    while (*p && n < 128) {
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        if (end == p || errno || !isfinite(x)) break;
        v[n++] = x;
        p = end;
        if (*p == ',') p++;
        else break;
    }
    if (*p || n < 2 || n % 2) {
        fprintf(stderr, "deepc %s: --%s '%s': expected MEAN,STD or C means then C standard deviations, e.g. "
                "0.2860,0.3530\n", verb, opt, s);
        return 0;
    }
    for (int k = 0; k < n / 2; k++) {
        mean[k] = v[k];
        std[k] = v[n / 2 + k];
        if (!(std[k] > 0)) {
            fprintf(stderr, "deepc %s: --%s '%s': standard deviation %g must be > 0\n", verb, opt, s, std[k]);
            return 0;
        }
    }
    return n / 2;
}

int cli_model_load(const char *verb, const char *path, const cli_norm *n, dc_model **m) {
    *m = NULL;
    dc_error err;
    float mean[64], std[64];
    int k = 0;
    if (n && n->norm && n->no_norm) {
        fprintf(stderr, "deepc %s: --norm and --no-norm contradict each other: give one\n", verb);
        return 2;
    }
    if (n && n->norm && !(k = cli_parse_norm(verb, "norm", n->norm, mean, std))) return 2;
    if (dc_model_load(m, path, &err)) return cli_fail(verb, &err);
    if (k) {
        if (dc_model_set_normalisation_channels(*m, mean, std, k, &err)) {
            dc_model_free(*m);
            *m = NULL;
            return cli_fail(verb, &err);
        }
    } else if (n && n->no_norm) {
        if (dc_model_has_normalisation(*m))
            fprintf(stderr, "deepc %s: note: --no-norm replaces the normalisation stored in %s\n", verb, path);
        dc_model_set_normalisation_values(*m, 0.0f, 1.0f);
    } else if (!dc_model_has_normalisation(*m)) {
        fprintf(stderr, "deepc %s: WARNING: %s has no input normalisation (__metadata__ deepc.norm), so its inputs "
                "are [0,1] pixels with mean 0 and std 1. A model trained on normalised inputs loses accuracy without "
                "it: give --norm MEAN,STD (the values it was trained with), or --no-norm if that is right; deepc "
                "import --mean M --std S writes them into the file\n", verb, path);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// The layer table

static void human(char *buf, size_t cap, double v) {
    if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, cap, "%.1fK", v / 1e3);
    else snprintf(buf, cap, "%.0f", v);
}

void cli_print_layers(FILE *f, const dc_model *m, int width) {
    const int N = dc_model_num_nodes(m);
    int nw = 4; // name column: the longest name, at most 22
    for (int i = 0; i < N; i++) {
        dc_node_info ni;
        dc_model_node_info(m, i, &ni);
        int l = (int)strlen(ni.name);
        if (l > nw) nw = l > 22 ? 22 : l;
    }
    // "#   name  kind        output       params    MACs  config"
    char line[1024];
    snprintf(line, sizeof line, "%-3s %-*s %-13s %-9s %6s %7s  %s", "#", nw, "name", "kind", "output", "params", "MACs",
             "config");
    fprintf(f, "%.*s\n", width - 1, line);
    for (int i = 0; i < N; i++) {
        dc_node_info ni;
        dc_model_node_info(m, i, &ni);
        char shape[48], params[16], macs[16], cfg[512], idx[16];
        snprintf(shape, sizeof shape, "%dx%dx%d", ni.c, ni.h, ni.w);
        human(params, sizeof params, (double)ni.params);
        human(macs, sizeof macs, (double)ni.macs);
        if (i) snprintf(idx, sizeof idx, "%d", i - 1);
        else snprintf(idx, sizeof idx, "-");
        size_t cl = (size_t)snprintf(cfg, sizeof cfg, "%s", ni.config);
        if (!(ni.n_in == 0 || (ni.n_in == 1 && ni.in[0] == i - 1))) {
            cl += (size_t)snprintf(cfg + cl, sizeof cfg - cl, "%sfrom=", cl ? " " : "");
            for (int k = 0; k < ni.n_in && cl < sizeof cfg; k++) {
                dc_node_info src;
                dc_model_node_info(m, ni.in[k], &src);
                cl += (size_t)snprintf(cfg + cl, sizeof cfg - cl, "%s%s", k ? "," : "", src.name);
            }
        }
        if (i == 0) snprintf(line, sizeof line, "%-3s %-*.*s %-13s %-9s", idx, nw, nw, ni.name, "", shape);
        else
            snprintf(line, sizeof line, "%-3s %-*.*s %-13.13s %-9s %6s %7s  %s", idx, nw, nw, ni.name, ni.kind, shape,
                     params, macs, cfg);
        int len = (int)strlen(line);
        while (len > 0 && line[len - 1] == ' ') line[--len] = 0;
        if (len > width - 1) { // cut the configuration, and say so
            line[width - 4] = 0;
            strcat(line, "...");
        }
        fprintf(f, "%s\n", line);
    }
    char tp[16], tm[16];
    human(tp, sizeof tp, (double)dc_model_num_params(m));
    human(tm, sizeof tm, (double)dc_model_macs(m));
    (void)tp;
    snprintf(line, sizeof line, "total: %zu parameters (%.1f KiB as fp32), %s MACs per sample", dc_model_num_params(m),
             dc_model_num_params(m) * 4.0 / 1024.0, tm);
    fprintf(f, "%.*s\n", width - 1, line);
}

int cli_mpi_main(const char *verb, const char *banner, int (*main_fn)(int, char **, const dc_comm *), int argc,
                 char **argv) {
    dc_comm comm = {.rank = 0, .size = 1};
    const bool mpi = dc_mpi_launched();
    if (mpi) {
        dc_error err;
        if (dc_mpi_init(&argc, &argv, &comm, &err)) return cli_fail(verb, &err);
        if (banner && comm.rank == 0 && comm.size > 1) fprintf(stderr, "deepc %s: %s (%d ranks)\n", verb, banner, comm.size);
    }
    int rc = main_fn(argc, argv, &comm);
    if (mpi) {
        if (rc != 0 && comm.size > 1) dc_mpi_abort(rc);       // do not leave ranks waiting
        if (dc_mpi_lost_peers(&comm)) dc_mpi_exit(&comm, rc); // a lost rank would hold MPI_Finalize
        dc_error err;
        if (dc_mpi_finalize(&comm, &err)) {
            cli_fail(verb, &err);
            dc_mpi_abort(1);
            return 1;
        }
    }
    return rc;
}
