// anon.h — de-identification of tables that travel with images (issue 12):
// direct identifiers dropped or pseudonymised with a keyed hash, and
// k-anonymity with l-diversity by Mondrian partitioning.
//
// A table is a CSV file with a header row (RFC 4180 quoting, read and
// written with libcsv; every row must have the header's number of fields;
// errors name "file:line"). Columns play one of these roles:
//   identifiers        dropped (--drop) or replaced by a pseudonym
//                      (--pseudonymize): the first 16 bytes of keyed BLAKE2b
//                      (libsodium's crypto_generichash, key of 16..64 bytes
//                      read from a file, never generated unless asked) as 32
//                      hex digits. The same key and value give the same
//                      pseudonym, so records stay linkable by whoever holds
//                      the key and by nobody else; another key gives others.
//   quasi-identifiers  generalised so that every combination of their
//                      values in the output is shared by at least k rows
//                      (k-anonymity, Sweeney 2002). A QI with a hierarchy
//                      file is categorical and generalised up its hierarchy
//                      (to the lowest common ancestor of a class's values);
//                      otherwise a QI whose every value is a number is
//                      numeric and generalised to the range "lo..hi" of its
//                      class (written with the original texts of lo and hi,
//                      or one value when they are equal); any other QI is
//                      categorical with the flat hierarchy value -> "*"
//                      (suppression of the cell).
//   sensitive          kept, but every class must hold at least l distinct
//                      values of it (distinct l-diversity, Machanavajjhala
//                      et al. 2007).
//   everything else    kept as it is (the report lists these columns).
// Rows whose class cannot be made k-anonymous and l-diverse may be removed
// (record suppression), at most max_suppress of them.
//
// Mondrian (LeFevre, DeWitt & Ramakrishnan 2006), strict multidimensional,
// top-down: a partition is cut on the quasi-identifier with the widest
// normalised range (numeric: (max-min)/(domain max-min); categorical:
// leaves under the values' common ancestor / all leaves), the widest first
// and the next ones if that cut is not allowed. A numeric cut is at the
// median (at the boundary between distinct values nearest to it); a
// categorical cut splits the values by the children of their common
// ancestor. A cut is allowed when every part has >= k rows and >= l
// distinct sensitive values. With a suppression budget, a cut whose failing
// parts hold s rows is also taken when s fits in what is left of the budget
// and it lowers the certainty penalty (counting each suppressed row as fully
// generalised); those rows are removed. A partition no cut is allowed on is
// an equivalence class. Partitions are processed depth first, left part
// first, so the result (and the use of the budget) is deterministic.
//
// The information loss reported is the normalised certainty penalty (NCP,
// Xu et al. 2006): per row and quasi-identifier, numeric (hi-lo)/(domain
// max - min), categorical 0 for a leaf and leaves(node)/leaves(root)
// otherwise, suppressed rows 1; averaged over rows and quasi-identifiers,
// so 0 is the input and 1 everything suppressed. The prosecutor
// re-identification risk of a row is 1/(size of its class): the report
// gives the highest (1/smallest class) and the average (classes / rows).
//
// Legend: N rows, Q quasi-identifiers.
#ifndef DC_ANON_H
#define DC_ANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "deepc.h"

// ---------------------------------------------------------------------------
// Tables

typedef struct dc_table {
    int n_rows, n_cols;
    char **header;        // (n_cols) column names, owned
    size_t *off;          // (n_rows * n_cols) offsets of cells in arena
    char *arena;          // NUL-terminated cells, owned
    size_t arena_len, arena_cap;
    int *line;            // (n_rows) the input line each row starts on (0 when built)
    char origin[512];     // file name for messages
} dc_table;

static inline const char *dc_table_cell(const dc_table *t, int r, int c) {
    return t->arena + t->off[(size_t)r * t->n_cols + c];
}

// Parses CSV text (a header row, then rows). Strict: a quote inside an
// unquoted field, an unterminated quote, a NUL byte, a row with another
// number of fields than the header, an empty or repeated column name are
// refused with "origin:line: ...". Blank lines are skipped; spaces around
// unquoted fields are trimmed (libcsv's rule). On failure *t is empty.
dc_status dc_table_parse_csv(dc_table *t, const char *text, size_t len, const char *origin, dc_error *err);
dc_status dc_table_read_csv(dc_table *t, const char *path, dc_error *err);
// CSV text of t (a field is quoted only when it needs it); *out malloc'd.
dc_status dc_table_to_csv(const dc_table *t, char **out, size_t *len, dc_error *err);
dc_status dc_table_write_csv(const dc_table *t, const char *path, dc_error *err);
// The column named name, or -1.
int dc_table_column(const dc_table *t, const char *name);
void dc_table_free(dc_table *t);

// ---------------------------------------------------------------------------
// Generalisation hierarchies (ARX's format): one line per leaf value,
//   leaf;parent;grandparent;...;root
// every line with the same number of levels and the same root; a name is
// one node (the same level and parent wherever it appears), a leaf appears
// once. Errors name "origin:line" (and the earlier line it contradicts).

typedef struct dc_hierarchy {
    char column[128];     // the column it generalises (set by the caller)
    int n_nodes;
    int height;           // levels below the root (the deepest leaf's depth)
    char **name;          // (n_nodes) owned
    int *parent;          // (n_nodes), -1 for the root (node 0)
    int *depth;           // (n_nodes), root 0
    int *leaves;          // (n_nodes) leaves under each node (1 for a leaf)
    int n_leaves;
    void *index;          // name -> node, owned (opaque)
} dc_hierarchy;

dc_status dc_hierarchy_parse(dc_hierarchy *h, const char *text, size_t len, const char *origin, dc_error *err);
dc_status dc_hierarchy_read(dc_hierarchy *h, const char *path, dc_error *err);
// The node called name, or -1.
int dc_hierarchy_find(const dc_hierarchy *h, const char *name);
void dc_hierarchy_free(dc_hierarchy *h);

// ---------------------------------------------------------------------------
// Anonymisation

#define DC_ANON_MAX_QUASI 64

typedef struct dc_anon_config {
    const char *const *quasi;     // (n_quasi) quasi-identifier columns
    int n_quasi;
    const char *sensitive;        // the sensitive column, or NULL (then l <= 1)
    int k;                        // >= 1
    int l;                        // >= 1
    const char *const *drop;      // (n_drop) columns removed
    int n_drop;
    const char *const *pseudo;    // (n_pseudo) columns pseudonymised
    int n_pseudo;
    const uint8_t *key;           // the pseudonym key, 16..64 bytes (needed with n_pseudo)
    size_t key_len;
    const dc_hierarchy *const *hier; // (n_hier) hierarchies, each for h->column
    int n_hier;
    const char *const *categorical; // (n_categorical) QIs forced to the flat hierarchy
    int n_categorical;
    long max_suppress;            // rows that may be removed [0]
} dc_anon_config;

typedef struct dc_anon_report {
    int n_in, n_out, suppressed;
    int n_classes;
    int smallest_class, largest_class;
    int min_distinct;             // fewest distinct sensitive values in a class (0: no sensitive column)
    double prosecutor_max;        // 1 / smallest class
    double prosecutor_avg;        // classes / rows
    bool k_ok, l_ok;              // verify: whether the table satisfies k and l
    double ncp;                   // normalised certainty penalty (NaN for verify)
    int n_quasi;
    double ncp_col[DC_ANON_MAX_QUASI]; // per quasi-identifier
    bool numeric[DC_ANON_MAX_QUASI];   // how each was treated
    char kept[1024];              // columns kept unchanged (", " separated)
    double seconds;
} dc_anon_report;

// out: in's columns minus the dropped ones, pseudonyms in place of the
// pseudonymised ones, generalised quasi-identifiers, suppressed rows left
// out, row order kept. rep: the figures above, computed on out. Fails
// (DC_ERR_ARG) on unknown or overlapping columns, a value missing from its
// hierarchy (naming the row's line), a table that cannot be made k-anonymous
// and l-diverse within the suppression budget.
dc_status dc_anonymize(dc_table *out, dc_anon_report *rep, const dc_table *in, const dc_anon_config *cfg,
                       dc_error *err);

// Checks a table: groups rows by their quasi-identifier values and fills
// rep (smallest class, prosecutor risk, fewest distinct sensitive values,
// k_ok, l_ok). sensitive may be NULL. DC_ERR_ARG for unknown columns only;
// a violation is reported in rep, not as an error.
dc_status dc_anon_verify(dc_anon_report *rep, const dc_table *t, const char *const *quasi, int n_quasi,
                         const char *sensitive, int k, int l, dc_error *err);

// The pseudonym of value under key: 32 lowercase hex digits and a NUL in out.
dc_status dc_pseudonym(char out[33], const char *value, const uint8_t *key, size_t key_len, dc_error *err);

#endif
