// test_anon.c — de-identification (src/anon/): random small tables
// anonymised and then checked by a brute-force checker (every pair of rows
// compared for k and l, every generalised value checked to cover the
// original, kept columns unchanged, suppression within its budget);
// identifiers never in the output text; the same key gives the same
// pseudonyms and another key others; suppression worked out by hand; the
// CSV and hierarchy parsers' errors, each naming its line; 100,000 rows with
// four quasi-identifiers, timed; and PNG files written by deepc carrying no
// chunk beyond IHDR, IDAT and IEND (no text, time or EXIF metadata).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "anon/anon.h"
#include "core/core.h"
#include "harness.h"
#include "io/png_write.h"

static const uint8_t KEY1[32] = "0123456789abcdef0123456789abcde";
static const uint8_t KEY2[32] = "fedcba9876543210fedcba987654321";

// ---------------------------------------------------------------------------
// Building test tables as CSV text

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char *ZIP_H = "10001;1000*;10***;*\n10002;1000*;10***;*\n10011;1001*;10***;*\n"
                           "20001;2000*;20***;*\n20002;2000*;20***;*\n";
static const char *ZIPS[5] = {"10001", "10002", "10011", "20001", "20002"};

// rowid, name, phone, pid, age, zip, sex, weight, diagnosis
static char *random_table(int n, dc_rng *r, int n_diag) {
    sbuf b = {0};
    sb_printf(&b, "rowid,name,phone,pid,age,zip,sex,weight,diagnosis\n");
    static const char *diag[5] = {"flu", "cold", "covid", "asthma", "diabetes"};
    for (int i = 0; i < n; i++) {
        const int d = dc_rng_uniform(r) < 0.5f ? 0 : (int)dc_rng_below(r, (uint32_t)n_diag); // skewed
        sb_printf(&b, "%d,\"Doe, Jane %05d\",555-%05d,ID%07d,%d,%s,%s,%.1f,%s\n", i, i, i, 1000000 + i,
                  18 + (int)dc_rng_below(r, 60), ZIPS[dc_rng_below(r, 5)], dc_rng_below(r, 2) ? "M" : "F",
                  50 + dc_rng_below(r, 400) / 10.0, diag[d]);
    }
    return b.s;
}

// ---------------------------------------------------------------------------
// The brute-force checker

static bool covers_numeric(const char *g, const char *orig) {
    const double v = strtod(orig, NULL);
    const char *dots = strstr(g, "..");
    if (!dots) return strtod(g, NULL) == v;
    return strtod(g, NULL) <= v && v <= strtod(dots + 2, NULL);
}

static bool covers_category(const dc_hierarchy *h, const char *g, const char *orig) {
    if (!h) return !strcmp(g, orig) || !strcmp(g, "*");
    int u = dc_hierarchy_find(h, orig);
    const int want = dc_hierarchy_find(h, g);
    while (u >= 0 && u != want) u = h->parent[u];
    return u >= 0 && want >= 0;
}

// Checks out against in for cfg; returns the number of problems (printing the first).
static int brute_check(const dc_table *in, const dc_table *out, const dc_anon_config *cfg, const dc_hierarchy *zip_h,
                       const char *what) {
    int bad = 0;
    const int Q = cfg->n_quasi;
    int qc[8], sc = dc_table_column(out, cfg->sensitive ? cfg->sensitive : "diagnosis");
    for (int j = 0; j < Q; j++) qc[j] = dc_table_column(out, cfg->quasi[j]);
    // k and l by comparing every pair of rows
    for (int a = 0; a < out->n_rows; a++) {
        int same = 0, distinct = 0;
        const char *seen[64];
        for (int b = 0; b < out->n_rows; b++) {
            bool eq = true;
            for (int j = 0; j < Q && eq; j++) eq = !strcmp(dc_table_cell(out, a, qc[j]), dc_table_cell(out, b, qc[j]));
            if (!eq) continue;
            same++;
            const char *sv = dc_table_cell(out, b, sc);
            bool found = false;
            for (int q = 0; q < distinct && !found; q++) found = !strcmp(seen[q], sv);
            if (!found && distinct < 64) seen[distinct++] = sv;
        }
        if (same < cfg->k || (cfg->sensitive && distinct < cfg->l)) {
            if (!bad++) printf("  %s: row %d has %d matching rows, %d distinct\n", what, a, same, distinct);
        }
    }
    // every output row comes from the input row of its rowid, generalised truthfully
    const int rid = dc_table_column(out, "rowid");
    int last = -1;
    for (int r = 0; r < out->n_rows; r++) {
        const int i = atoi(dc_table_cell(out, r, rid));
        if (i <= last) {
            if (!bad++) printf("  %s: row order not kept\n", what);
        }
        last = i;
        for (int j = 0; j < Q; j++) {
            const char *g = dc_table_cell(out, r, qc[j]);
            const char *o = dc_table_cell(in, i, dc_table_column(in, cfg->quasi[j]));
            const bool num = !strcmp(cfg->quasi[j], "age") || !strcmp(cfg->quasi[j], "weight");
            const bool ok = num ? covers_numeric(g, o)
                                : covers_category(!strcmp(cfg->quasi[j], "zip") ? zip_h : NULL, g, o);
            if (!ok && !bad++) printf("  %s: row %d %s '%s' does not cover '%s'\n", what, r, cfg->quasi[j], g, o);
        }
        if (strcmp(dc_table_cell(out, r, sc), dc_table_cell(in, i, dc_table_column(in, "diagnosis"))) && !bad++)
            printf("  %s: sensitive value changed\n", what);
    }
    if (in->n_rows - out->n_rows > cfg->max_suppress && !bad++)
        printf("  %s: %d rows suppressed, budget %ld\n", what, in->n_rows - out->n_rows, cfg->max_suppress);
    return bad;
}

static void random_tables(void) {
    printf("random tables: k and l hold (brute force), values covered, rows kept in order\n");
    dc_rng r;
    dc_rng_seed(&r, 17);
    dc_error err;
    dc_hierarchy zip;
    CHECK(dc_hierarchy_parse(&zip, ZIP_H, strlen(ZIP_H), "zip.csv", &err) == DC_OK, "%s", err.msg);
    snprintf(zip.column, sizeof zip.column, "zip");
    const dc_hierarchy *hp[1] = {&zip};
    const char *quasi_sets[3][4] = {{"age", "zip", "sex", NULL}, {"age", "weight", NULL, NULL}, {"zip", "sex", NULL, NULL}};
    const int nq[3] = {3, 2, 2};
    const char *drop[2] = {"name", "phone"}, *pseudo[1] = {"pid"};
    int trials = 0, failures = 0, with_supp = 0;
    for (int t = 0; t < 90; t++) {
        const int n = 20 + (int)dc_rng_below(&r, 180);
        char *csv = random_table(n, &r, 2 + (int)dc_rng_below(&r, 4));
        dc_table in, out;
        if (dc_table_parse_csv(&in, csv, strlen(csv), "t.csv", &err)) {
            CHECK(0, "%s", err.msg);
            free(csv);
            continue;
        }
        const int qs = t % 3;
        dc_anon_config cfg = {.quasi = quasi_sets[qs], .n_quasi = nq[qs], .sensitive = "diagnosis",
                              .k = 2 + (int)dc_rng_below(&r, 5), .l = 1 + (int)dc_rng_below(&r, 3), .drop = drop,
                              .n_drop = 2, .pseudo = pseudo, .n_pseudo = 1, .key = KEY1, .key_len = 32,
                              .hier = hp, .n_hier = qs == 1 ? 0 : 1, .max_suppress = t % 2 ? 10 : 0};
        dc_anon_report rep;
        const dc_status st = dc_anonymize(&out, &rep, &in, &cfg, &err);
        if (st) { // only when even the whole table cannot satisfy l
            CHECK(st == DC_ERR_ARG && strstr(err.msg, "distinct values"), "trial %d: %s", t, err.msg);
        } else {
            trials++;
            const int bad = brute_check(&in, &out, &cfg, &zip, "trial");
            failures += bad > 0;
            with_supp += rep.suppressed > 0;
            if (bad) printf("  (trial %d: n %d k %d l %d quasi set %d)\n", t, n, cfg.k, cfg.l, qs);
            CHECK(rep.n_out == out.n_rows && rep.suppressed == n - out.n_rows && rep.k_ok && rep.l_ok &&
                      rep.smallest_class >= cfg.k && fabs(rep.prosecutor_max - 1.0 / rep.smallest_class) < 1e-15 &&
                      rep.ncp >= 0 && rep.ncp <= 1,
                  "trial %d: report consistent", t);
            CHECK(out.n_cols == in.n_cols - 2 && dc_table_column(&out, "name") < 0 && dc_table_column(&out, "phone") < 0,
                  "dropped columns gone");
            dc_table_free(&out);
        }
        dc_table_free(&in);
        free(csv);
    }
    CHECK(failures == 0, "%d of %d anonymised tables failed the brute-force check", failures, trials);
    CHECK(trials >= 60, "%d trials ran", trials);
    printf("  %d tables checked, %d used suppression\n", trials, with_supp);
    dc_hierarchy_free(&zip);
}

// ---------------------------------------------------------------------------
// Identifiers and pseudonyms

static void identifiers(void) {
    printf("identifiers never in the output; pseudonyms keyed\n");
    dc_rng r;
    dc_rng_seed(&r, 5);
    char *csv = random_table(300, &r, 4);
    dc_error err;
    dc_table in, o1, o2, o3;
    dc_table_parse_csv(&in, csv, strlen(csv), "t.csv", &err);
    const char *quasi[3] = {"age", "zip", "sex"}, *drop[2] = {"name", "phone"}, *pseudo[1] = {"pid"};
    dc_anon_config cfg = {.quasi = quasi, .n_quasi = 3, .sensitive = "diagnosis", .k = 5, .l = 2, .drop = drop,
                          .n_drop = 2, .pseudo = pseudo, .n_pseudo = 1, .key = KEY1, .key_len = 32};
    dc_anon_report rep;
    CHECK(dc_anonymize(&o1, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_anonymize(&o2, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    cfg.key = KEY2;
    CHECK(dc_anonymize(&o3, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    char *t1, *t3;
    size_t l1, l3;
    dc_table_to_csv(&o1, &t1, &l1, &err);
    dc_table_to_csv(&o3, &t3, &l3, &err);
    int leaks = 0;
    const int cn = dc_table_column(&in, "name"), cp = dc_table_column(&in, "phone"), ci = dc_table_column(&in, "pid");
    for (int i = 0; i < in.n_rows; i++) {
        leaks += strstr(t1, dc_table_cell(&in, i, cn)) != NULL;
        leaks += strstr(t1, dc_table_cell(&in, i, cp)) != NULL;
        leaks += strstr(t1, dc_table_cell(&in, i, ci)) != NULL;
        leaks += strstr(t3, dc_table_cell(&in, i, ci)) != NULL;
    }
    CHECK(leaks == 0 && !strstr(t1, "Doe") && !strstr(t1, "555-") && !strstr(t1, "ID1"),
          "no name, phone or id in the output text (%d found)", leaks);
    const int p1 = dc_table_column(&o1, "pid");
    int same = 0, differ = 0, distinct_ok = 1;
    for (int i = 0; i < o1.n_rows; i++) {
        same += !strcmp(dc_table_cell(&o1, i, p1), dc_table_cell(&o2, i, p1));
        differ += strcmp(dc_table_cell(&o1, i, p1), dc_table_cell(&o3, i, p1)) != 0;
        const char *p = dc_table_cell(&o1, i, p1);
        distinct_ok = distinct_ok && strlen(p) == 32 && strspn(p, "0123456789abcdef") == 32;
    }
    CHECK(same == o1.n_rows, "same key, same pseudonyms (%d/%d)", same, o1.n_rows);
    CHECK(differ == o1.n_rows, "another key, other pseudonyms (%d/%d)", differ, o1.n_rows);
    CHECK(distinct_ok, "pseudonyms are 32 hex digits");
    // the pseudonym is keyed BLAKE2b-128 of the value: a known answer
    char ps[33];
    dc_pseudonym(ps, "ID1000000", KEY1, 32, &err);
    CHECK(!strcmp(ps, dc_table_cell(&o1, 0, p1)), "row 0: %s", ps);
    CHECK(dc_pseudonym(ps, "x", KEY1, 8, &err) == DC_ERR_ARG, "an 8-byte key is refused");
    // pseudonyms need a key
    cfg.key = NULL;
    dc_table o4;
    CHECK(dc_anonymize(&o4, &rep, &in, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "key"), "no key: %s", err.msg);
    // roles
    const char *quasi2[2] = {"age", "pid"};
    cfg.key = KEY1;
    cfg.quasi = quasi2;
    cfg.n_quasi = 2;
    CHECK(dc_anonymize(&o4, &rep, &in, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "one role"), "%s", err.msg);
    const char *quasi3[1] = {"height"};
    cfg.quasi = quasi3;
    cfg.n_quasi = 1;
    CHECK(dc_anonymize(&o4, &rep, &in, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "no column 'height'"), "%s",
          err.msg);
    free(t1), free(t3), free(csv);
    dc_table_free(&o1), dc_table_free(&o2), dc_table_free(&o3), dc_table_free(&in);
}

// ---------------------------------------------------------------------------
// Suppression by hand: zip only, k = 2. Twenty rows in 10001/10002 (ten
// each) and one in 20001. Without suppression no cut leaves every part >= 2
// rows (the 20*** branch has one), so everything is "*" (NCP 1). With one
// row of budget: cutting at the root suppresses the 20001 row; the NCP goes
// from 21 * 1 to 1 + 20 * 2/5 (10*** holds 2 of the 5... here 3 leaves) —
// taken; then 10001 vs 10002 is allowed, so the classes are exact.

static void suppression(void) {
    printf("suppression by hand\n");
    const char *hier = "10001;100**;*\n10002;100**;*\n20001;200**;*\n";
    sbuf b = {0};
    sb_printf(&b, "rowid,zip,diagnosis\n");
    for (int i = 0; i < 20; i++) sb_printf(&b, "%d,%s,flu\n", i, i % 2 ? "10002" : "10001");
    sb_printf(&b, "20,20001,cold\n");
    dc_error err;
    dc_table in, out;
    dc_hierarchy h;
    dc_table_parse_csv(&in, b.s, b.len, "s.csv", &err);
    dc_hierarchy_parse(&h, hier, strlen(hier), "h.csv", &err);
    snprintf(h.column, sizeof h.column, "zip");
    const dc_hierarchy *hp[1] = {&h};
    const char *quasi[1] = {"zip"};
    dc_anon_config cfg = {.quasi = quasi, .n_quasi = 1, .k = 2, .l = 1, .hier = hp, .n_hier = 1, .max_suppress = 0};
    dc_anon_report rep;
    CHECK(dc_anonymize(&out, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    CHECK(rep.suppressed == 0 && rep.n_classes == 1 && !strcmp(dc_table_cell(&out, 0, 1), "*") && rep.ncp == 1.0,
          "no budget: one class '*' (got %d classes, '%s', NCP %g)", rep.n_classes, dc_table_cell(&out, 0, 1), rep.ncp);
    dc_table_free(&out);
    cfg.max_suppress = 1;
    CHECK(dc_anonymize(&out, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    CHECK(rep.suppressed == 1 && out.n_rows == 20 && rep.n_classes == 2 && rep.smallest_class == 10 &&
              !strcmp(dc_table_cell(&out, 0, 1), "10001") && fabs(rep.ncp - 1.0 / 21) < 1e-12,
          "budget 1: the 20001 row suppressed, exact zips (got %d suppressed, %d classes, NCP %g)", rep.suppressed,
          rep.n_classes, rep.ncp);
    dc_table_free(&out);
    // the whole table too small for k
    cfg.k = 22;
    cfg.max_suppress = 0;
    CHECK(dc_anonymize(&out, &rep, &in, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "cannot be 22-anonymous"), "%s",
          err.msg);
    cfg.max_suppress = 21;
    CHECK(dc_anonymize(&out, &rep, &in, &cfg, &err) == DC_OK && out.n_rows == 0 && rep.suppressed == 21,
          "all 21 suppressed when the budget allows");
    dc_table_free(&out);
    // l larger than the distinct values
    const char *quasi2[1] = {"zip"};
    dc_anon_config c2 = {.quasi = quasi2, .n_quasi = 1, .sensitive = "diagnosis", .k = 2, .l = 3, .hier = hp, .n_hier = 1};
    CHECK(dc_anonymize(&out, &rep, &in, &c2, &err) == DC_ERR_ARG && strstr(err.msg, "fewer than l = 3"), "%s", err.msg);
    // a value missing from the hierarchy names its line
    b.len = 0;
    sb_printf(&b, "rowid,zip,diagnosis\n0,10001,flu\n1,10001,cold\n\n2,99999,flu\n");
    dc_table t2;
    dc_table_parse_csv(&t2, b.s, b.len, "m.csv", &err);
    cfg.k = 2;
    CHECK(dc_anonymize(&out, &rep, &t2, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "m.csv:5: column zip: value '99999'"),
          "%s", err.msg);
    // verify of a table that violates k
    CHECK(dc_anon_verify(&rep, &t2, quasi, 1, "diagnosis", 2, 2, &err) == DC_OK && !rep.k_ok && rep.smallest_class == 1 &&
              !rep.l_ok && rep.n_classes == 2,
          "verify: k and l violated");
    CHECK(dc_anon_verify(&rep, &t2, quasi, 1, "diagnosis", 1, 1, &err) == DC_OK && rep.k_ok && rep.l_ok, "k = l = 1");
    dc_table_free(&t2);
    dc_table_free(&in);
    dc_hierarchy_free(&h);
    free(b.s);
}

// ---------------------------------------------------------------------------
// Parsers

static void csv_expect(const char *text, const char *want) {
    dc_table t;
    dc_error err;
    dc_status st = dc_table_parse_csv(&t, text, strlen(text), "c.csv", &err);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, want), "want '%s', got '%s'", want, st ? err.msg : "accepted");
    if (!st) dc_table_free(&t);
}

static void hier_expect(const char *text, const char *want) {
    dc_hierarchy h;
    dc_error err;
    dc_status st = dc_hierarchy_parse(&h, text, strlen(text), "h.csv", &err);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, want), "want '%s', got '%s'", want, st ? err.msg : "accepted");
    if (!st) dc_hierarchy_free(&h);
}

static void parsers(void) {
    printf("CSV and hierarchy parsers\n");
    dc_table t;
    dc_error err;
    const char *good = "\xef\xbb\xbf" "a,b\r\n1,\"x, \"\"y\"\"\nz\"\n\n2,3";
    CHECK(dc_table_parse_csv(&t, good, strlen(good), "c.csv", &err) == DC_OK, "%s", err.msg);
    CHECK(t.n_rows == 2 && t.n_cols == 2 && !strcmp(dc_table_cell(&t, 0, 1), "x, \"y\"\nz") && t.line[1] == 5 &&
              !strcmp(t.header[0], "a"),
          "quotes, CRLF, a BOM, a blank line, a last line without newline (row 2 on line %d)", t.line[1]);
    char *back;
    size_t bl;
    dc_table_to_csv(&t, &back, &bl, &err);
    dc_table t2;
    CHECK(dc_table_parse_csv(&t2, back, bl, "back.csv", &err) == DC_OK &&
              !strcmp(dc_table_cell(&t2, 0, 1), dc_table_cell(&t, 0, 1)),
          "written and read back: %s", back);
    dc_table_free(&t2);
    free(back);
    dc_table_free(&t);
    csv_expect("a,b\n1,2\n\"multi\nline\",4,5\n", "c.csv:3: 3 fields, but the header has 2");
    csv_expect("a,b\n1,x\"y\n", "c.csv:2: malformed quoting");
    csv_expect("a,b\n1,2\n3,\"open\n\n", "c.csv:3: a quoted field is not closed");
    csv_expect("a,a\n1,2\n", "c.csv:1: column name 'a' appears twice");
    csv_expect("a,,c\n1,2,3\n", "c.csv:1: column 2 of the header has no name");
    csv_expect("", "c.csv:1: empty");
    char nul[] = "a,b\n1,2\nx\0y,3\n";
    CHECK(dc_table_parse_csv(&t, nul, sizeof nul - 1, "c.csv", &err) == DC_ERR_FORMAT && strstr(err.msg, "c.csv:3: a NUL"),
          "%s", err.msg);

    dc_hierarchy h;
    CHECK(dc_hierarchy_parse(&h, ZIP_H, strlen(ZIP_H), "h.csv", &err) == DC_OK, "%s", err.msg);
    CHECK(h.n_leaves == 5 && h.height == 3 && h.n_nodes == 1 + 2 + 3 + 5 && h.leaves[dc_hierarchy_find(&h, "1000*")] == 2 &&
              h.parent[dc_hierarchy_find(&h, "10011")] == dc_hierarchy_find(&h, "1001*"),
          "zip hierarchy: %d nodes, %d leaves", h.n_nodes, h.n_leaves);
    dc_hierarchy_free(&h);
    hier_expect("a;x;*\nb;*\n", "h.csv:2: 2 levels, but line 1 has 3");
    hier_expect("a;x;*\nb;y;top\n", "h.csv:2: root 'top' differs from '*'");
    hier_expect("a;x;*\n\nb;y;*\na;y;*\n", "h.csv:4: leaf 'a' was already listed on line 1");
    hier_expect("a;x;p;*\nb;x;q;*\n", "h.csv:2: 'x' has parent 'q' here but 'p' on line 1");
    hier_expect("a;x;*\nx;y;*\n", "h.csv:2: 'x' is at level 0 here but at level 1");
    hier_expect("a;;*\n", "h.csv:1: level 1 is empty");
    hier_expect("a\n", "h.csv:1: 'a': expected leaf;parent");
    hier_expect("\n \n", "h.csv:1: no lines");
    char hnul[] = "a;*\nb\0;*\n";
    CHECK(dc_hierarchy_parse(&h, hnul, sizeof hnul - 1, "h.csv", &err) == DC_ERR_FORMAT && strstr(err.msg, "h.csv:2: a NUL"),
          "%s", err.msg);
}

// ---------------------------------------------------------------------------
// Scale: 100,000 rows, four quasi-identifiers

static void scale(void) {
    printf("100,000 rows, 4 quasi-identifiers\n");
    dc_rng r;
    dc_rng_seed(&r, 99);
    sbuf b = {0};
    sb_printf(&b, "pid,age,zip,sex,income,diagnosis\n");
    static const char *diag[6] = {"flu", "cold", "covid", "asthma", "diabetes", "none"};
    for (int i = 0; i < 100000; i++)
        sb_printf(&b, "ID%d,%d,%s,%s,%d,%s\n", i, 18 + (int)dc_rng_below(&r, 70), ZIPS[dc_rng_below(&r, 5)],
                  dc_rng_below(&r, 2) ? "M" : "F", 1000 * (int)dc_rng_below(&r, 200), diag[dc_rng_below(&r, 6)]);
    dc_error err;
    dc_hierarchy zip;
    dc_hierarchy_parse(&zip, ZIP_H, strlen(ZIP_H), "zip.csv", &err);
    snprintf(zip.column, sizeof zip.column, "zip");
    const dc_hierarchy *hp[1] = {&zip};
    const char *quasi[4] = {"age", "zip", "sex", "income"}, *pseudo[1] = {"pid"};
    dc_anon_config cfg = {.quasi = quasi, .n_quasi = 4, .sensitive = "diagnosis", .k = 5, .l = 2, .pseudo = pseudo,
                          .n_pseudo = 1, .key = KEY1, .key_len = 32, .hier = hp, .n_hier = 1};
    const double t0 = dc_now_seconds();
    dc_table in, out;
    CHECK(dc_table_parse_csv(&in, b.s, b.len, "big.csv", &err) == DC_OK, "%s", err.msg);
    const double t1 = dc_now_seconds();
    dc_anon_report rep;
    CHECK(dc_anonymize(&out, &rep, &in, &cfg, &err) == DC_OK, "%s", err.msg);
    const double t2 = dc_now_seconds();
    char *csv;
    size_t len;
    dc_table_to_csv(&out, &csv, &len, &err);
    const double t3 = dc_now_seconds();
    printf("  parse %.3f s, anonymise %.3f s (the report's check included), write %.3f s: %.3f s in all; "
           "%d classes, smallest %d, NCP %.4f\n",
           t1 - t0, t2 - t1, t3 - t2, t3 - t0, rep.n_classes, rep.smallest_class, rep.ncp);
    CHECK(rep.k_ok && rep.l_ok && rep.smallest_class >= 5 && out.n_rows == 100000, "k = 5 and l = 2 hold");
    // the target is < 2 s on an idle core; the bound here leaves room for a loaded CI machine
    CHECK(t3 - t0 < 10.0, "%.2f s for 100,000 rows", t3 - t0);
    free(csv);
    free(b.s);
    dc_table_free(&in);
    dc_table_free(&out);
    dc_hierarchy_free(&zip);
}

// ---------------------------------------------------------------------------
// PNG files carry no metadata: walk the chunks of what dc_png_encode writes

static void png_no_metadata(void) {
    printf("PNG output: IHDR, IDAT, IEND only\n");
    uint8_t px[3 * 5 * 7];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37);
    for (int ch = 1; ch <= 3; ch += 2) {
        uint8_t *buf;
        size_t len;
        dc_error err;
        if (dc_png_encode(&buf, &len, px, 5, 7, ch, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        bool sig = len > 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8), only = true, end = false;
        int n_chunks = 0;
        char names[256] = "";
        for (size_t p = 8; sig && p + 12 <= len && !end; n_chunks++) {
            const uint32_t n = (uint32_t)buf[p] << 24 | (uint32_t)buf[p + 1] << 16 | (uint32_t)buf[p + 2] << 8 | buf[p + 3];
            char type[5] = {(char)buf[p + 4], (char)buf[p + 5], (char)buf[p + 6], (char)buf[p + 7], 0};
            strncat(names, type, sizeof names - strlen(names) - 2);
            strcat(names, " ");
            only = only && (!strcmp(type, "IHDR") || !strcmp(type, "IDAT") || !strcmp(type, "IEND"));
            end = !strcmp(type, "IEND");
            p += 12 + (size_t)n;
        }
        CHECK(sig && only && end, "%d channel(s): chunks %s", ch, names);
        free(buf);
    }
}

int main(void) {
    parsers();
    random_tables();
    identifiers();
    suppression();
    scale();
    png_no_metadata();
    return dc_test_finish();
}
