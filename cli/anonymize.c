// anonymize.c — `deepc anonymize TABLE.csv --quasi a,b --sensitive s --k 5
// --l 2 --drop name --pseudonymize id --key-file k.bin --out anon.csv`:
// de-identifies a table (src/anon/anon.h): identifiers dropped or replaced
// by keyed-hash pseudonyms, quasi-identifiers generalised by Mondrian until
// the table is k-anonymous and l-diverse, at most --max-suppress rows
// removed; prints the smallest class, the prosecutor risk, the suppressed
// count and the information loss. `--verify FILE` checks a table instead
// (exit 3 when k or l does not hold). `--make-key FILE` writes a new random
// key (the only way deepc makes one: a missing --key-file is an error).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "anon/anon.h"
#include "cli.h"
#include "core/core.h"

#define VERB "anonymize"
#define KEY_BYTES 32

// "a,b,c" -> a malloc'd copy cut at the commas (*names into it); NULL spec: none.
static char *split(const char *spec, const char **names, int max, int *n, const char *opt) {
    *n = 0;
    if (!spec) return NULL;
    char *copy = strdup(spec);
    if (!copy) return NULL;
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (!*tok) {
            fprintf(stderr, "deepc %s: --%s '%s': an empty name\n", VERB, opt, spec);
            free(copy);
            *n = -1;
            return NULL;
        }
        if (*n == max) {
            fprintf(stderr, "deepc %s: --%s: more than %d names\n", VERB, opt, max);
            free(copy);
            *n = -1;
            return NULL;
        }
        names[(*n)++] = tok;
    }
    return copy;
}

static int make_key(const char *path) {
    if (sodium_init() < 0) {
        fprintf(stderr, "deepc %s: libsodium could not start\n", VERB);
        return 1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "deepc %s: --make-key %s: %s%s\n", VERB, path, strerror(errno),
                errno == EEXIST ? " (an existing key is never overwritten)" : "");
        return 1;
    }
    unsigned char key[KEY_BYTES];
    randombytes_buf(key, sizeof key);
    const bool ok = write(fd, key, sizeof key) == (ssize_t)sizeof key && fsync(fd) == 0;
    sodium_memzero(key, sizeof key);
    if (close(fd) != 0 || !ok) {
        fprintf(stderr, "deepc %s: --make-key %s: could not write the key: %s\n", VERB, path, strerror(errno));
        unlink(path);
        return 1;
    }
    fprintf(stderr, "deepc %s: wrote a new %d-byte key to %s (mode 0600): keep it secret; the same key gives the "
                    "same pseudonyms\n", VERB, KEY_BYTES, path);
    return 0;
}

static bool read_key(const char *path, uint8_t **key, size_t *len) {
    dc_error err;
    if (dc_read_file(path, key, len, 4096, &err)) {
        fprintf(stderr, "deepc %s: --key-file %s (create one with: deepc %s --make-key %s)\n", VERB, err.msg, VERB,
                path);
        return false;
    }
    if (*len < crypto_generichash_KEYBYTES_MIN || *len > crypto_generichash_KEYBYTES_MAX) {
        fprintf(stderr, "deepc %s: --key-file %s: %zu bytes; a key is %d to %d raw bytes (deepc %s --make-key FILE "
                        "writes %d)\n", VERB, path, *len, (int)crypto_generichash_KEYBYTES_MIN,
                (int)crypto_generichash_KEYBYTES_MAX, VERB, KEY_BYTES);
        free(*key);
        return false;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        fprintf(stderr, "deepc %s: warning: --key-file %s can be read by other users (chmod 600 it)\n", VERB, path);
    return true;
}

// Parses "col=file,col=file" into hierarchies.
static bool read_hierarchies(const char *spec, dc_hierarchy *h, int *n, int max) {
    const char *items[DC_ANON_MAX_QUASI];
    int ni;
    char *copy = split(spec, items, max, &ni, "hierarchy");
    *n = 0;
    if (ni < 0) return false;
    bool ok = true;
    for (int i = 0; i < ni && ok; i++) {
        char *eq = strchr(items[i], '=');
        if (!eq || eq == items[i] || !eq[1]) {
            fprintf(stderr, "deepc %s: --hierarchy '%s': expected COLUMN=FILE\n", VERB, items[i]);
            ok = false;
            break;
        }
        *eq = 0;
        dc_error err;
        if (dc_hierarchy_read(&h[*n], eq + 1, &err)) {
            fprintf(stderr, "deepc %s: --hierarchy %s\n", VERB, err.msg);
            ok = false;
            break;
        }
        snprintf(h[*n].column, sizeof h[*n].column, "%s", items[i]);
        (*n)++;
    }
    free(copy);
    return ok;
}

static bool parse_suppress(const char *s, int n_rows, long *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || v < 0 || (*end && strcmp(end, "%"))) return false;
    if (*end == '%') {
        if (v > 100) return false;
        *out = (long)(v / 100.0 * n_rows); // rounded down: never more than asked
    } else {
        if (v != (long)v) return false;
        *out = (long)v;
    }
    return true;
}

static void print_report(const dc_anon_report *r, const char *const *quasi, int nq, int k, int l, const char *sens,
                         bool verify) {
    if (!verify)
        printf("rows: %d in, %d out, %d suppressed\n", r->n_in, r->n_out, r->suppressed);
    else
        printf("rows: %d\n", r->n_out);
    printf("equivalence classes: %d, smallest %d, largest %d  (k = %d: %s)\n", r->n_classes, r->smallest_class,
           r->largest_class, k, r->k_ok ? "holds" : "VIOLATED");
    if (sens)
        printf("fewest distinct values of %s in a class: %d  (l = %d: %s)\n", sens, r->min_distinct, l,
               r->l_ok ? "holds" : "VIOLATED");
    printf("prosecutor re-identification risk: highest %.4f (1/%d), average %.4f\n", r->prosecutor_max,
           r->smallest_class, r->prosecutor_avg);
    if (!verify) {
        printf("information loss (normalised certainty penalty): %.4f\n", r->ncp);
        for (int j = 0; j < nq; j++)
            printf("  %-20s %-12s NCP %.4f\n", quasi[j], r->numeric[j] ? "numeric" : "categorical", r->ncp_col[j]);
        if (r->kept[0]) printf("kept unchanged (neither identifier, quasi-identifier nor sensitive): %s\n", r->kept);
        printf("(%.3f s)\n", r->seconds);
    }
}

static int print_json(const dc_anon_report *r, const char *const *quasi, int nq, int k, int l, bool verify,
                      const char *out) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return 1;
    cJSON_AddNumberToObject(j, "k", k);
    cJSON_AddNumberToObject(j, "l", l);
    if (!verify) cJSON_AddNumberToObject(j, "rows_in", r->n_in);
    cJSON_AddNumberToObject(j, "rows_out", r->n_out);
    if (!verify) cJSON_AddNumberToObject(j, "suppressed", r->suppressed);
    cJSON_AddNumberToObject(j, "classes", r->n_classes);
    cJSON_AddNumberToObject(j, "smallest_class", r->smallest_class);
    cJSON_AddNumberToObject(j, "largest_class", r->largest_class);
    cJSON_AddNumberToObject(j, "min_distinct_sensitive", r->min_distinct);
    cJSON_AddNumberToObject(j, "prosecutor_risk_max", r->prosecutor_max);
    cJSON_AddNumberToObject(j, "prosecutor_risk_avg", r->prosecutor_avg);
    cJSON_AddBoolToObject(j, "k_holds", r->k_ok);
    cJSON_AddBoolToObject(j, "l_holds", r->l_ok);
    if (!verify) {
        cJSON_AddNumberToObject(j, "ncp", r->ncp);
        cJSON *a = cJSON_AddArrayToObject(j, "quasi");
        for (int q = 0; q < nq; q++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "column", quasi[q]);
            cJSON_AddStringToObject(o, "type", r->numeric[q] ? "numeric" : "categorical");
            cJSON_AddNumberToObject(o, "ncp", r->ncp_col[q]);
            cJSON_AddItemToArray(a, o);
        }
        cJSON_AddStringToObject(j, "kept", r->kept);
        cJSON_AddNumberToObject(j, "seconds", r->seconds);
        if (out) cJSON_AddStringToObject(j, "out", out);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

int cmd_anonymize(int argc, char **argv) {
    const char *quasi_s = NULL, *sens = NULL, *drop_s = NULL, *pseudo_s = NULL, *key_file = NULL, *out = NULL;
    const char *hier_s = NULL, *cat_s = NULL, *supp_s = "0", *make = NULL;
    int k = 5, l = 1;
    bool verify = false, json = false;
    dc_opt opts[] = {
        {"quasi", OPT_STR, &quasi_s, "quasi-identifier columns, comma-separated (generalised until k-anonymous)"},
        {"sensitive", OPT_STR, &sens, "the sensitive column (l-diversity)"},
        {"k", OPT_INT, &k, "every quasi-identifier combination is shared by at least k rows [5]"},
        {"l", OPT_INT, &l, "every class holds at least l distinct sensitive values [1]"},
        {"drop", OPT_STR, &drop_s, "identifier columns to remove, comma-separated"},
        {"pseudonymize", OPT_STR, &pseudo_s, "identifier columns to replace by keyed BLAKE2b pseudonyms (needs --key-file)"},
        {"key-file", OPT_STR, &key_file, "the pseudonym key: 16 to 64 raw bytes (never generated unless --make-key)"},
        {"make-key", OPT_STR, &make, "write a new random 32-byte key to this file (mode 0600, never overwritten) and exit"},
        {"hierarchy", OPT_STR, &hier_s, "COLUMN=FILE,...: generalisation hierarchies (ARX format: leaf;parent;...;root per line)"},
        {"categorical", OPT_STR, &cat_s, "quasi-identifiers to treat as categorical (value or '*') even if numeric"},
        {"max-suppress", OPT_STR, &supp_s, "rows that may be removed: a count or a percentage such as 1% [0]"},
        {"out", OPT_STR, &out, "the anonymised table (CSV, written atomically)"},
        {"verify", OPT_FLAG, &verify, "check TABLE.csv for k-anonymity and l-diversity instead (exit 3 if violated)"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) {
            cli_usage(VERB, "TABLE.csv --quasi COLS [--sensitive COL --l N] --k N [--drop COLS] [--pseudonymize COLS "
                            "--key-file K] --out OUT.csv  |  TABLE.csv --verify --quasi COLS --k N  |  --make-key K",
                      opts);
            return 0;
        }
        return 2;
    }
    if (make) {
        if (n_pos || quasi_s || out || verify) {
            fprintf(stderr, "deepc %s: --make-key FILE takes no table and no other options\n", VERB);
            return 2;
        }
        return make_key(make);
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc %s: expected one CSV table (see deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    if (!quasi_s) {
        fprintf(stderr, "deepc %s: --quasi is required: the quasi-identifier columns, e.g. --quasi age,zip,sex\n", VERB);
        return 2;
    }
    if (k < 1 || l < 1 || (l > 1 && !sens)) {
        fprintf(stderr, "deepc %s: --k and --l must be >= 1, and --l > 1 needs --sensitive\n", VERB);
        return 2;
    }
    if (verify && (drop_s || pseudo_s || key_file || out || hier_s || cat_s || cli_find(opts, "max-suppress")->seen)) {
        fprintf(stderr, "deepc %s: --verify takes only --quasi, --sensitive, --k, --l and --json\n", VERB);
        return 2;
    }
    if (!verify && !out) {
        fprintf(stderr, "deepc %s: --out is required: where to write the anonymised table\n", VERB);
        return 2;
    }
    if (!verify && pseudo_s && !key_file) {
        fprintf(stderr, "deepc %s: --pseudonymize needs --key-file (a secret key is never made silently; "
                        "deepc %s --make-key k.bin makes one)\n", VERB, VERB);
        return 2;
    }
    if (!verify && key_file && !pseudo_s) {
        fprintf(stderr, "deepc %s: --key-file is for --pseudonymize\n", VERB);
        return 2;
    }
    const char *quasi[DC_ANON_MAX_QUASI], *drop[256], *pseudo[256], *cat[DC_ANON_MAX_QUASI];
    int nq, nd, np, nc;
    char *cq = split(quasi_s, quasi, DC_ANON_MAX_QUASI, &nq, "quasi");
    char *cd = split(drop_s, drop, 256, &nd, "drop");
    char *cp = split(pseudo_s, pseudo, 256, &np, "pseudonymize");
    char *cc = split(cat_s, cat, DC_ANON_MAX_QUASI, &nc, "categorical");
    dc_hierarchy hier[DC_ANON_MAX_QUASI];
    int nh = 0;
    uint8_t *key = NULL;
    size_t key_len = 0;
    dc_table in, res;
    memset(&in, 0, sizeof in);
    memset(&res, 0, sizeof res);
    int rc = 0;
    dc_error err;
    if (nq < 0 || nd < 0 || np < 0 || nc < 0) {
        rc = 2;
        goto done;
    }
    if (!verify && (!read_hierarchies(hier_s, hier, &nh, DC_ANON_MAX_QUASI) ||
                    (key_file && !read_key(key_file, &key, &key_len)))) {
        rc = 1;
        goto done;
    }
    if (out && dc_check_output(out, &err)) {
        fprintf(stderr, "deepc %s: --out %s\n", VERB, err.msg);
        rc = 1;
        goto done;
    }
    if (out && !strcmp(out, pos[0])) {
        fprintf(stderr, "deepc %s: --out %s is the input table: write the anonymised table elsewhere\n", VERB, out);
        rc = 2;
        goto done;
    }
    if (dc_table_read_csv(&in, pos[0], &err)) {
        rc = cli_fail(VERB, &err);
        goto done;
    }
    dc_anon_report rep;
    if (verify) {
        if (dc_anon_verify(&rep, &in, quasi, nq, sens, k, l, &err)) {
            rc = cli_fail(VERB, &err);
            goto done;
        }
        if (json) rc = print_json(&rep, quasi, nq, k, l, true, NULL);
        else {
            printf("%s: ", pos[0]);
            print_report(&rep, quasi, nq, k, l, sens, true);
        }
        if (!rc && (!rep.k_ok || !rep.l_ok)) rc = 3;
        goto done;
    }
    long max_suppress;
    if (!parse_suppress(supp_s, in.n_rows, &max_suppress)) {
        fprintf(stderr, "deepc %s: --max-suppress '%s': expected a row count or a percentage such as 1%%\n", VERB,
                supp_s);
        rc = 2;
        goto done;
    }
    const dc_hierarchy *hp[DC_ANON_MAX_QUASI];
    for (int i = 0; i < nh; i++) hp[i] = &hier[i];
    dc_anon_config cfg = {.quasi = quasi, .n_quasi = nq, .sensitive = sens, .k = k, .l = l, .drop = drop,
                          .n_drop = nd, .pseudo = pseudo, .n_pseudo = np, .key = key, .key_len = key_len,
                          .hier = hp, .n_hier = nh, .categorical = cat, .n_categorical = nc,
                          .max_suppress = max_suppress};
    if (dc_anonymize(&res, &rep, &in, &cfg, &err)) {
        rc = cli_fail(VERB, &err);
        goto done;
    }
    if (dc_table_write_csv(&res, out, &err)) {
        rc = cli_fail(VERB, &err);
        goto done;
    }
    if (json) rc = print_json(&rep, quasi, nq, k, l, false, out);
    else {
        printf("wrote %s: %d-anonymous%s%s\n", out, k, sens && l > 1 ? ", l-diverse in " : "", sens && l > 1 ? sens : "");
        print_report(&rep, quasi, nq, k, l, sens, false);
    }
done:
    for (int i = 0; i < nh; i++) dc_hierarchy_free(&hier[i]);
    if (key) {
        sodium_memzero(key, key_len);
        free(key);
    }
    dc_table_free(&in);
    dc_table_free(&res);
    free(cq), free(cd), free(cp), free(cc);
    return rc;
}
