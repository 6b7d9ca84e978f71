// common.c — option parsing, progress bar and messages for the CLI.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

const char *const dc_fashion_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

bool cli_is_fashion(const char *spec) {
    if (!strcmp(spec, "fashion-mnist")) return true;
    const char *base = strrchr(spec, '/');
    base = base && base[1] ? base + 1 : spec;
    return strstr(base, "fashion") != NULL || strstr(spec, "fashion-mnist") != NULL;
}

void cli_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
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
}

void progress_update(dc_progress *p, const char *label, long done, long total, double elapsed,
                     const char *extra) {
    // elapsed: seconds since the work started, as measured by the caller
    if (!p->enabled || total <= 0) return;
    double rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = (int)((double)done / total * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld %.0f %s/s ETA %.0fs %s\033[K", label, bar, done, total, rate,
            p->unit, eta, extra ? extra : "");
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
