// tune_html.c — the search as one self-contained HTML page (inline CSS and
// SVG drawn here; no scripts, fonts or links). Every string that does not
// come from deepc's own tables (the title, the caller's meta record) is
// escaped. The same search gives the same bytes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/tune.h"

typedef struct sb {
    char *p;
    size_t len, cap;
    bool oom;
} sb;

static void put(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sb *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 65536;
        while (nc < b->len + (size_t)n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
}

static void esc(sb *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '&': put(b, "&amp;"); break;
        case '"': put(b, "&quot;"); break;
        case '\'': put(b, "&#39;"); break;
        default: put(b, "%c", *s);
        }
    }
}

static const char *const palette[] = {"#bbbbbb", "#6baed6", "#3182bd", "#31a354", "#e6550d", "#756bb1", "#d62728"};
static const char *rung_colour(int k) { return k < 0 ? "#eeeeee" : palette[k % 7]; }

// The metric a trial is judged by: at its highest completed rung.
static double final_metric(const dc_tune *tu, const dc_tune_trial *t) {
    int k = dc_tune_rung_of(tu, t);
    return k < 0 ? NAN : dc_tune_metric_at(t, tu->rung_epochs[k]);
}

static void yrange(const dc_tune *tu, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < tu->s.n_trials; i++)
        for (int e = 0; e < tu->trials[i].epochs; e++) {
            double v = tu->trials[i].curve[e];
            if (isfinite(v)) *lo = fmin(*lo, v), *hi = fmax(*hi, v);
        }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-6) *lo -= 0.005, *hi += 0.005;
    double pad = 0.04 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

enum { PW = 520, PH = 300, ML = 56, MR = 40, MT = 14, MB = 40 };

static double ymap(double v, double lo, double hi) { return MT + (PH - MT - MB) * (1 - (v - lo) / (hi - lo)); }

static void yaxis(sb *b, double lo, double hi) {
    for (int i = 0; i <= 4; i++) {
        double v = lo + (hi - lo) * i / 4, y = ymap(v, lo, hi);
        put(b, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' class='grid'/>", ML, y, PW - MR, y);
        put(b, "<text x='%d' y='%.1f' text-anchor='end' class='tick'>%.2f%%</text>", ML - 4, y + 4, 100 * v);
    }
}

static void curves_svg(sb *b, const dc_tune *tu, int best) {
    double lo, hi;
    yrange(tu, &lo, &hi);
    const int R = tu->s.budget;
#define XMAP(e) (ML + (double)(PW - ML - MR) * (R > 1 ? ((double)(e) - 1) / (R - 1) : 0.5))
    put(b, "<svg width='%d' height='%d' viewBox='0 0 %d %d' role='img'>", PW, PH, PW, PH);
    yaxis(b, lo, hi);
    for (int k = 0; k < tu->n_rungs; k++) {
        double x = XMAP(tu->rung_epochs[k]);
        put(b, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' class='rung'/>", x, MT, x, PH - MB);
        put(b, "<text x='%.1f' y='%d' text-anchor='middle' class='tick'>rung %d: %d</text>", x, PH - MB + 14, k,
            tu->rung_epochs[k]);
    }
    put(b, "<text x='%d' y='%d' text-anchor='middle' class='label'>epochs</text>", (ML + PW - MR) / 2, PH - 6);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < tu->s.n_trials; i++) {
            const dc_tune_trial *t = &tu->trials[i];
            if ((i == best) != (pass == 1)) continue; // the best on top
            int pts = 0;
            for (int e = 0; e < t->epochs; e++) pts += isfinite(t->curve[e]);
            if (!pts) continue;
            put(b, "<polyline fill='none' stroke='%s' stroke-width='%s' points='", i == best ? "#000" : rung_colour(dc_tune_rung_of(tu, t)),
                i == best ? "2.5" : "1");
            for (int e = 0; e < t->epochs; e++)
                if (isfinite(t->curve[e])) put(b, "%.1f,%.1f ", XMAP(e + 1), ymap(t->curve[e], lo, hi));
            put(b, "'><title>trial %d</title></polyline>", i);
            for (int e = 0; e < t->epochs; e++) // points too: a trial stopped at rung 0 has one
                if (isfinite(t->curve[e]))
                    put(b, "<circle cx='%.1f' cy='%.1f' r='2' fill='%s'/>", XMAP(e + 1), ymap(t->curve[e], lo, hi),
                        i == best ? "#000" : rung_colour(dc_tune_rung_of(tu, t)));
        }
    put(b, "</svg>\n");
#undef XMAP
}

static void scatter_svg(sb *b, const dc_tune *tu, int pi, int best) {
    const dc_tune_param *p = &tu->space.p[pi];
    double lo, hi;
    yrange(tu, &lo, &hi);
    double x0, x1;
    const bool logx = p->dist == DC_DIST_LOG_UNIFORM, cat = p->dist == DC_DIST_CHOICE;
    if (cat) x0 = -0.5, x1 = p->n_choices - 0.5;
    else if (logx) x0 = log10(p->lo), x1 = log10(p->hi);
    else x0 = p->lo, x1 = p->hi > p->lo ? p->hi : p->lo + 1;
    if (!cat && p->dist == DC_DIST_INT) x0 -= 0.5, x1 += 0.5;
#define SX(v) (ML + (double)(PW - ML - MR) * (((v) - x0) / (x1 - x0)))
    put(b, "<figure><figcaption>%s (%s)</figcaption><svg width='%d' height='%d' viewBox='0 0 %d %d' role='img'>",
        p->opt->name, dc_dist_name(p->dist), PW, PH, PW, PH);
    yaxis(b, lo, hi);
    char txt[64];
    if (cat) {
        for (int k = 0; k < p->n_choices; k++) {
            dc_tune_value_text(p, p->choices[k], txt, sizeof txt);
            put(b, "<text x='%.1f' y='%d' text-anchor='middle' class='tick'>", SX(k), PH - MB + 14);
            esc(b, txt);
            put(b, "</text>");
        }
    } else {
        for (int k = 0; k <= 4; k++) {
            double v = x0 + (x1 - x0) * k / 4;
            put(b, "<text x='%.1f' y='%d' text-anchor='middle' class='tick'>%.3g</text>", SX(v), PH - MB + 14,
                logx ? pow(10, v) : v);
        }
    }
    put(b, "<text x='%d' y='%d' text-anchor='middle' class='label'>%s%s</text>", (ML + PW - MR) / 2, PH - 6,
        p->opt->name, logx ? " (log scale)" : "");
    for (int i = 0; i < tu->s.n_trials; i++) {
        const dc_tune_trial *t = &tu->trials[i];
        double m = final_metric(tu, t);
        if (!isfinite(m)) continue;
        double xv = t->values[pi];
        if (cat) {
            int k = 0;
            while (k < p->n_choices - 1 && p->choices[k] != xv) k++;
            xv = k + 0.3 * ((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5); // fixed jitter by id
        } else if (logx) {
            xv = log10(xv);
        }
        put(b, "<circle cx='%.1f' cy='%.1f' r='%s' fill='%s' stroke='%s'><title>trial %d: %.2f%%</title></circle>",
            SX(xv), ymap(m, lo, hi), i == best ? "6" : "3.5", rung_colour(dc_tune_rung_of(tu, t)),
            i == best ? "#000" : "none", i, 100 * m);
    }
    put(b, "</svg></figure>\n");
#undef SX
}

dc_status dc_tune_html(char **html, size_t *len, const dc_tune *tu, const char *title, dc_error *err) {
    *html = NULL;
    sb b = {0};
    const int best = dc_tune_best(tu);
    put(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>");
    esc(&b, title ? title : "deepc tune");
    put(&b, "</title><style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "th{background:#f3f3f3}.grid{stroke:#eee}.rung{stroke:#999;stroke-dasharray:4 3}"
            ".tick{font-size:11px;fill:#555}.label{font-size:12px;fill:#333}figure{display:inline-block;margin:8px}"
            "figcaption{font-weight:bold}code{word-break:break-all}.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}"
            "</style></head><body>\n<h1>");
    esc(&b, title ? title : "deepc tune");
    put(&b, "</h1>\n<p>");
    if (tu->s.scheduler == DC_TUNE_ASHA)
        put(&b, "Successive halving (ASHA's rule, promotions at rung boundaries): reduction factor %d, grace period %d "
                "epoch%s, ", tu->s.eta, tu->s.grace, tu->s.grace == 1 ? "" : "s");
    else
        put(&b, "Random search: ");
    put(&b, "%d trials, at most %d epochs each, seed %llu. %ld epochs trained (every trial to the budget would be %ld). "
            "The metric is the validation accuracy (--val-split), never the test set.</p>\n",
        tu->s.n_trials, tu->s.budget, (unsigned long long)tu->s.seed, dc_tune_total_epochs(tu),
        (long)tu->s.n_trials * tu->s.budget);
    const bool tpe = tu->s.sampler == DC_SAMPLER_TPE;
    if (tpe) {
        put(&b, "<p>Sampler: <b>TPE</b> over %d brackets (BOHB-style): each bracket is a complete search of its own "
                "trials with the rungs below; bracket 0 is drawn at random, every later bracket by TPE fitted to the "
                "finished brackets before it.</p>\n<table><tr><th>bracket</th><th>trials</th><th>drawn by</th>"
                "<th>best (highest rung reached)</th></tr>", tu->s.brackets);
        for (int k = 0; k < tu->s.brackets; k++) {
            int first, end, bb = -1, bk = -1;
            double bm = -INFINITY;
            dc_tune_bracket_range(tu, k, &first, &end);
            for (int i = first; i < end; i++) {
                const int r = dc_tune_rung_of(tu, &tu->trials[i]);
                const double m = r < 0 ? NAN : dc_tune_metric_at(&tu->trials[i], tu->rung_epochs[r]);
                if (r >= 0 && isfinite(m) && (r > bk || (r == bk && m > bm))) bb = i, bk = r, bm = m;
            }
            put(&b, "<tr><td>%d</td><td>%d&ndash;%d</td><td>%s</td><td>", k, first, end - 1,
                !tu->trials[first].drawn ? "not drawn yet" : k == 0 ? "random" : "TPE");
            if (bb >= 0) put(&b, "trial %d: %.2f%% after %d epochs", bb, 100 * bm, tu->rung_epochs[bk]);
            put(&b, "</td></tr>");
        }
        put(&b, "</table>\n");
    }
    if (tu->meta) {
        put(&b, "<p><small>command: <code>");
        esc(&b, tu->meta);
        put(&b, "</code></small></p>\n");
    }
    char txt[64];
    if (best >= 0) {
        const dc_tune_trial *t = &tu->trials[best];
        int k = dc_tune_rung_of(tu, t);
        put(&b, "<h2>Best trial: %d</h2><p>validation accuracy <b>%.2f%%</b> after %d epochs (rung %d).</p><table><tr>",
            best, 100 * dc_tune_metric_at(t, tu->rung_epochs[k]), tu->rung_epochs[k], k);
        for (int i = 0; i < tu->space.n; i++) put(&b, "<th>%s</th>", tu->space.p[i].opt->name);
        put(&b, "</tr><tr>");
        for (int i = 0; i < tu->space.n; i++) {
            dc_tune_value_text(&tu->space.p[i], t->values[i], txt, sizeof txt);
            put(&b, "<td>");
            esc(&b, txt);
            put(&b, "</td>");
        }
        put(&b, "</tr></table>\n");
    }
    put(&b, "<h2>Rungs</h2><table><tr><th>rung</th><th>epochs</th><th>trials</th><th>reached</th><th>best</th></tr>");
    for (int k = 0; k < tu->n_rungs; k++) {
        int reached = 0;
        double bm = -INFINITY;
        for (int i = 0; i < tu->s.n_trials; i++)
            if (tu->trials[i].epochs >= tu->rung_epochs[k]) {
                reached++;
                double m = dc_tune_metric_at(&tu->trials[i], tu->rung_epochs[k]);
                if (isfinite(m)) bm = fmax(bm, m);
            }
        put(&b, "<tr><td><span class='swatch' style='background:%s'></span>%d</td><td>%d</td><td>%d</td><td>%d</td><td>",
            rung_colour(k), k, tu->rung_epochs[k], tu->rung_size[k], reached);
        if (isfinite(bm)) put(&b, "%.2f%%", 100 * bm);
        put(&b, "</td></tr>");
    }
    put(&b, "</table>\n<h2>Validation curves</h2><p>One line per trial, coloured by the highest rung it reached; "
            "the best in black; dashed lines mark the rungs.</p>\n");
    curves_svg(&b, tu, best);
    put(&b, "<h2>Validation accuracy against each hyperparameter</h2><p>Each trial at the highest rung it reached.</p>\n");
    for (int i = 0; i < tu->space.n; i++) scatter_svg(&b, tu, i, best);
    put(&b, "<h2>Trials</h2><table><tr><th>trial</th>");
    if (tpe) put(&b, "<th>bracket</th>");
    for (int i = 0; i < tu->space.n; i++) put(&b, "<th>%s</th>", tu->space.p[i].opt->name);
    put(&b, "<th>epochs</th><th>rung</th><th>validation</th><th>seconds</th><th>note</th></tr>\n");
    // best first: by rung reached, then metric, then id
    int *order = malloc(sizeof(int) * (size_t)tu->s.n_trials);
    if (!order) {
        free(b.p);
        return dc_fail(err, DC_ERR_NOMEM, "tune report: out of memory");
    }
    for (int i = 0; i < tu->s.n_trials; i++) order[i] = i;
    for (int a = 1; a < tu->s.n_trials; a++)
        for (int c = a; c > 0; c--) {
            const dc_tune_trial *x = &tu->trials[order[c - 1]], *y = &tu->trials[order[c]];
            int kx = dc_tune_rung_of(tu, x), ky = dc_tune_rung_of(tu, y);
            double mx = final_metric(tu, x), my = final_metric(tu, y);
            mx = isnan(mx) ? -INFINITY : mx;
            my = isnan(my) ? -INFINITY : my;
            bool swap = ky > kx || (ky == kx && my > mx);
            if (!swap) break;
            int tmp = order[c];
            order[c] = order[c - 1];
            order[c - 1] = tmp;
        }
    for (int r = 0; r < tu->s.n_trials; r++) {
        const dc_tune_trial *t = &tu->trials[order[r]];
        int k = dc_tune_rung_of(tu, t);
        put(&b, "<tr><td>%d</td>", t->id);
        if (tpe) put(&b, "<td>%d</td>", dc_tune_bracket_of(tu, t->id));
        for (int i = 0; i < tu->space.n; i++) {
            if (t->drawn) dc_tune_value_text(&tu->space.p[i], t->values[i], txt, sizeof txt);
            else snprintf(txt, sizeof txt, "-");
            put(&b, "<td>");
            esc(&b, txt);
            put(&b, "</td>");
        }
        double m = final_metric(tu, t);
        put(&b, "<td>%d</td><td>%d</td><td>", t->epochs, k);
        if (isfinite(m)) put(&b, "%.2f%%", 100 * m);
        put(&b, "</td><td>%.1f</td><td>", t->seconds);
        esc(&b, t->error);
        put(&b, "</td></tr>\n");
    }
    free(order);
    put(&b, "</table>\n</body></html>\n");
    if (b.oom) {
        free(b.p);
        return dc_fail(err, DC_ERR_NOMEM, "tune report: out of memory");
    }
    *html = b.p;
    *len = b.len;
    return DC_OK;
}

dc_status dc_tune_html_write(const char *path, const dc_tune *tu, const char *title, dc_error *err) {
    char *h;
    size_t n;
    dc_status st = dc_tune_html(&h, &n, tu, title, err);
    if (st) return st;
    dc_buf parts[1] = {{h, n}};
    st = dc_write_atomic(path, parts, 1, err);
    free(h);
    return st;
}
