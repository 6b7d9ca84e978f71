// report.c — `dc_report_render`: one self-contained HTML page about a model.
//
// Contract: the page is a pure function of (model, data set, config): it
// runs the model over every sample of ds once (dc_model_predict_dataset),
// computes the metrics (dc_metrics_compute) and, with groups, the fairness
// audit (dc_fairness_compute) from those probabilities, explains a few
// images (dc_explain), and draws everything as text: inline CSS, inline SVG
// charts with their own axes, PNGs as base64 data: URIs. Nothing on the page
// refers to another file or to the network, so it can be mailed, archived
// or attached to a CI run and still show the same thing. No scripts: the
// page must work where scripts are blocked (mail clients, CI artefact
// viewers). Strings from files (class names, paths, group labels, JSON
// records) always go through dc_sb_escape.
//
// Layout of this file: string buffer, base64 and ticks (the helpers of
// report.h); small HTML pieces; one function per section of the page; the
// example picker and the heatmap renderer; dc_report_render itself.
//
// Legend: N samples of ds, C classes, B reliability bins, G groups,
// H, W image height and width.
#define _POSIX_C_SOURCE 200809L // strtok_r
#include "report/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "io/png_write.h"
#include "privacy/membership.h"
#include "surrogate/surrogate.h"

// ---------------------------------------------------------------------------
// String buffer

static bool sb_reserve(dc_sb *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void dc_sb_free(dc_sb *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

void dc_sb_putn(dc_sb *b, const char *s, size_t n) {
    if (!sb_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void dc_sb_put(dc_sb *b, const char *s) { dc_sb_putn(b, s, strlen(s)); }

void dc_sb_printf(dc_sb *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        dc_sb_putn(b, small, (size_t)n);
        return;
    }
    if (!sb_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void dc_sb_escape(dc_sb *b, const char *s) {
    if (!s) return;
    const char *run = s; // unescaped characters are copied in runs
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) rep = "\xEF\xBF\xBD"; // U+FFFD
        }
        if (rep) {
            dc_sb_putn(b, run, (size_t)(s - run));
            dc_sb_put(b, rep);
            run = s + 1;
        }
    }
    dc_sb_putn(b, run, (size_t)(s - run));
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t dc_base64_encode(char *out, const uint8_t *in, size_t n) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        const uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < n) { // one or two bytes left: pad to four characters
        const uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

void dc_sb_base64(dc_sb *b, const uint8_t *p, size_t n) {
    const size_t need = 4 * ((n + 2) / 3);
    if (!sb_reserve(b, need)) return;
    b->len += dc_base64_encode(b->s + b->len, p, n);
}

int dc_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step) {
    if (max_ticks < 2) max_ticks = 2;
    if (!(hi > lo)) hi = lo + 1.0;
    // the smallest 1/2/5 x 10^k step that needs at most max_ticks ticks
    double raw = (hi - lo) / (max_ticks - 1);
    double mag = pow(10.0, floor(log10(raw)));
    static const double mult[] = {1, 2, 5, 10, 20};
    for (int i = 0; i < 5; i++) {
        const double s = mult[i] * mag;
        const double a = floor(lo / s + 1e-9) * s, z = ceil(hi / s - 1e-9) * s;
        const int n = (int)lround((z - a) / s) + 1;
        if (n <= max_ticks) {
            *first = a;
            *step = s;
            return n;
        }
    }
    *first = lo; // not reached for finite input; kept total
    *step = hi - lo;
    return 2;
}

// ---------------------------------------------------------------------------
// Small pieces

// Decimals that show ticks `step` apart without noise (0.2 -> 1, 5 -> 0).
static int tick_decimals(double step) {
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

// A JSON number as a person would write it: integers without a point,
// floats stored from fp32 (0.0010000000474974513) with 6 significant digits.
static void put_number(dc_sb *b, double v) {
    if (isnan(v)) dc_sb_put(b, "–");
    else if (v == floor(v) && fabs(v) < 1e15) dc_sb_printf(b, "%.0f", v);
    else dc_sb_printf(b, "%.6g", v);
}

static void put_pct(dc_sb *b, double v) {
    if (isnan(v)) dc_sb_put(b, "–");
    else dc_sb_printf(b, "%.2f%%", 100.0 * v);
}

static void put_fixed(dc_sb *b, double v, int decimals) {
    if (isnan(v)) dc_sb_put(b, "–");
    else dc_sb_printf(b, "%.*f", decimals, v);
}

static void put_class(dc_sb *b, const dc_model *m, int k) { dc_sb_escape(b, dc_model_class_name(m, k)); }

// One JSON value as text: strings escaped, numbers as put_number, nested
// values as compact JSON.
static void put_json_value(dc_sb *b, const cJSON *it) {
    if (cJSON_IsString(it)) {
        dc_sb_escape(b, it->valuestring);
    } else if (cJSON_IsNumber(it)) {
        put_number(b, it->valuedouble);
    } else if (cJSON_IsBool(it)) {
        dc_sb_put(b, cJSON_IsTrue(it) ? "true" : "false");
    } else if (cJSON_IsNull(it)) {
        dc_sb_put(b, "null");
    } else {
        char *s = cJSON_PrintUnformatted(it);
        if (s) {
            dc_sb_put(b, "<code>");
            dc_sb_escape(b, s);
            dc_sb_put(b, "</code>");
            free(s);
        }
    }
}

// A JSON object record (train_config, provenance, privacy): a two-column
// table, or with `grid` a flowing grid of "key value" cells (a training
// configuration has thirty keys; a table of them would be a long column).
// Anything that does not parse as an object is shown as escaped text.
static void put_json_record(dc_sb *b, const char *json, const char *empty, bool grid) {
    if (!json) {
        dc_sb_printf(b, "<p class=\"note\">%s</p>\n", empty);
        return;
    }
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        dc_sb_put(b, "<pre>");
        dc_sb_escape(b, json);
        dc_sb_put(b, "</pre>\n");
        cJSON_Delete(j);
        return;
    }
    dc_sb_put(b, grid ? "<div class=\"kvgrid\">\n" : "<table class=\"kv\">\n");
    for (const cJSON *it = j->child; it; it = it->next) {
        dc_sb_put(b, grid ? "<div><b>" : "<tr><th>");
        dc_sb_escape(b, it->string ? it->string : "");
        dc_sb_put(b, grid ? "</b>" : "</th><td>");
        put_json_value(b, it);
        dc_sb_put(b, grid ? "</div>\n" : "</td></tr>\n");
    }
    dc_sb_put(b, grid ? "</div>\n" : "</table>\n");
    cJSON_Delete(j);
}

// A PNG of (h, w, channels) bytes as an <img> with a data: URI. Images are
// embedded at their own size and enlarged by CSS (image-rendering:
// pixelated), which keeps the page small and the pixels sharp.
static dc_status put_png(dc_sb *b, const uint8_t *px, int h, int w, int channels, const char *alt,
                         const char *cls, dc_error *err) {
    uint8_t *png;
    size_t len;
    dc_status st = dc_png_encode(&png, &len, px, h, w, channels, err);
    if (st) return st;
    dc_sb_printf(b, "<img class=\"%s\" width=\"%d\" height=\"%d\" alt=\"", cls, w * 4, h * 4);
    dc_sb_escape(b, alt);
    dc_sb_put(b, "\" src=\"data:image/png;base64,");
    dc_sb_base64(b, png, len);
    dc_sb_put(b, "\">");
    free(png);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// SVG line chart (training curves)

typedef struct chart_series {
    const char *name;  // legend text (a literal, not escaped)
    const char *color; // CSS colour
    const double *x, *y; // (n) points; non-finite y values are skipped
    int n;
    bool dashed;
} chart_series;

static void svg_line_chart(dc_sb *b, const char *title, const char *xlabel, const char *ylabel,
                           const chart_series *s, int ns, bool pct) {
    const double W = 350, H = 262, L = 66, R = 14, T = 46, B = 46;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            if (!isfinite(s[i].x[k]) || !isfinite(s[i].y[k])) continue;
            x0 = fmin(x0, s[i].x[k]);
            x1 = fmax(x1, s[i].x[k]);
            y0 = fmin(y0, s[i].y[k]);
            y1 = fmax(y1, s[i].y[k]);
        }
    if (!(x1 >= x0)) return; // no point at all: the caller says so
    if (x1 == x0) {          // one epoch: centre its point
        x0 -= 1;
        x1 += 1;
    }
    if (y1 == y0) {
        const double d = fabs(y0) > 0 ? 0.1 * fabs(y0) : 0.5;
        y0 -= d;
        y1 += d;
    }
    double yt0, ys, xt0, xs;
    const int nyt = dc_nice_ticks(y0, y1, 6, &yt0, &ys);
    int nxt = dc_nice_ticks(x0, x1, 8, &xt0, &xs);
    if (xs < 1) { // epochs are whole numbers
        xs = 1;
        xt0 = floor(x0);
        nxt = (int)(ceil(x1) - xt0) + 1;
    }
    const double ya = yt0, yb = yt0 + (nyt - 1) * ys;
    const double xa = xt0, xb = xt0 + (nxt - 1) * xs;
#define PX(v) (L + ((v) - xa) / (xb - xa) * (W - L - R))
#define PY(v) (H - B - ((v) - ya) / (yb - ya) * (H - T - B))
    dc_sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"%s\">\n", W, H, W, H, title);
    dc_sb_printf(b, "<text x=\"%.0f\" y=\"18\" class=\"ct\">%s</text>\n", L, title);
    const int yd = tick_decimals(pct ? 100 * ys : ys);
    for (int i = 0; i < nyt; i++) {
        const double v = yt0 + i * ys, y = PY(v);
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", L, W - R, y, y);
        if (pct) dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"yt\">%.*f%%</text>\n", L - 6, y + 4, yd, 100 * v);
        else dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"yt\">%.*f</text>\n", L - 6, y + 4, yd, v);
    }
    for (int i = 0; i < nxt; i++) {
        const double v = xt0 + i * xs, x = PX(v);
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"tick\"/>", x, x, H - B, H - B + 5);
        dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xt\">%.*f</text>\n", x, H - B + 18, tick_decimals(xs), v);
    }
    dc_sb_printf(b, "<path d=\"M%.1f %.1fV%.1fH%.1f\" class=\"axis\"/>\n", L, T - 4, H - B, W - R);
    dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%s</text>\n", (L + W - R) / 2, H - 8, xlabel);
    dc_sb_printf(b, "<text transform=\"translate(14 %.1f) rotate(-90)\" class=\"xl\">%s</text>\n",
                 (T + H - B) / 2, ylabel);
    double lx = L;
    for (int i = 0; i < ns; i++) {
        dc_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s[i].color,
                     s[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
        for (int k = 0; k < s[i].n; k++)
            if (isfinite(s[i].x[k]) && isfinite(s[i].y[k]))
                dc_sb_printf(b, "%.1f,%.1f ", PX(s[i].x[k]), PY(s[i].y[k]));
        dc_sb_put(b, "\"/>\n");
        for (int k = 0; k < s[i].n; k++)
            if (isfinite(s[i].x[k]) && isfinite(s[i].y[k]))
                dc_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, epoch %.0f: %.4g</title></circle>",
                             PX(s[i].x[k]), PY(s[i].y[k]), s[i].color, s[i].name, s[i].x[k], s[i].y[k]);
        // legend: one row under the title, above the plot, so no line can
        // run through it
        dc_sb_printf(b, "\n<line x1=\"%.1f\" x2=\"%.1f\" y1=\"34\" y2=\"34\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                        "<text x=\"%.1f\" y=\"38\" class=\"lg\">%s</text>\n",
                     lx, lx + 18, s[i].color, s[i].dashed ? " stroke-dasharray=\"5 3\"" : "", lx + 23, s[i].name);
        lx += 23 + 6.5 * (double)strlen(s[i].name) + 16;
    }
#undef PX
#undef PY
    dc_sb_put(b, "</svg>\n");
}

// ---------------------------------------------------------------------------
// Sections

static const char *const page_css =
    "*{box-sizing:border-box}"
    "body{margin:0;background:#f3f5f8;color:#1f2430;font:14px/1.45 system-ui,-apple-system,'Segoe UI',"
    "Roboto,Helvetica,Arial,sans-serif}"
    "header{background:#1f2a44;color:#fff;padding:18px 28px}"
    "header h1{margin:0 0 4px;font-size:22px;font-weight:600}"
    "header p{margin:0;color:#c7d0e0;font-size:13px}"
    "nav{padding:8px 28px;background:#fff;border-bottom:1px solid #dde2ea;font-size:13px}"
    "nav a{color:#2456b3;margin-right:14px;text-decoration:none}"
    "main{max-width:1180px;margin:0 auto;padding:8px 20px 40px}"
    "section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:14px 20px 18px;margin:16px 0}"
    "h2{font-size:17px;margin:0 0 10px;padding-bottom:6px;border-bottom:1px solid #eef0f4}"
    "h3{font-size:14px;margin:14px 0 6px;color:#3b4457}"
    "table{border-collapse:collapse;font-size:13px;margin:4px 0}"
    "th,td{padding:3px 10px;border-bottom:1px solid #eef0f4;text-align:right;white-space:nowrap}"
    "th{background:#f6f8fb;font-weight:600}"
    "th:first-child,td:first-child{text-align:left}"
    "table.layers td:nth-child(-n+4),table.layers th:nth-child(-n+4){text-align:left}"
    ".kvgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:0 18px;font-size:13px}"
    ".kvgrid div{border-bottom:1px solid #eef0f4;padding:3px 0;overflow-wrap:anywhere}"
    ".kvgrid b{color:#4a5366;font-weight:500;margin-right:8px}"
    "table.kv th{text-align:left;background:none;color:#4a5366;font-weight:500}"
    "table.kv td{text-align:left;white-space:normal;word-break:break-word}"
    "tr.avg td{font-weight:600;background:#fafbfd}"
    "td.flag,tr.flag td,span.flag{background:#fde8e8;color:#b42318;font-weight:600}"
    "td.ok{color:#1a7f37}"
    "td.worst{background:#fff4dc}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:4px 0 8px}"
    ".card{flex:1 1 auto;min-width:110px;border:1px solid #dde2ea;border-radius:8px;padding:8px 12px;background:#fafbfd}"
    ".card b{display:block;font-size:20px;color:#1f2a44}"
    ".card span{font-size:12px;color:#5b6478}"
    ".row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}"
    ".note{color:#5b6478;font-size:13px}"
    "code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    "pre{background:#f6f8fb;border:1px solid #eef0f4;padding:8px;overflow:auto}"
    "svg text{font-family:inherit;fill:#2b3242}"
    "svg .ct{font-size:13px;font-weight:600}"
    "svg .yt{font-size:11px;text-anchor:end}"
    "svg .xt{font-size:11px;text-anchor:middle}"
    "svg .xl{font-size:12px;text-anchor:middle;fill:#4a5366}"
    "svg .lg{font-size:11px}"
    "svg .grid{stroke:#e6e9ef;stroke-width:1}"
    "svg .tick{stroke:#8a93a6}"
    "svg .axis{stroke:#6b7486;fill:none;stroke-width:1}"
    "svg .cl{font-size:11px}"
    ".examples{display:grid;grid-template-columns:repeat(auto-fill,minmax(262px,1fr));gap:12px}"
    ".ex{border:1px solid #dde2ea;border-radius:8px;padding:8px;background:#fafbfd}"
    ".ex.wrong{border-color:#e5484d;background:#fff7f7}"
    ".ex .imgs{display:flex;gap:6px}"
    ".ex img{width:120px;height:120px;image-rendering:pixelated;border:1px solid #ccd2dc;background:#000}"
    ".ex p{margin:6px 0 0;font-size:12px}"
    ".ex .verdict{font-weight:600}"
    ".ex.wrong .verdict{color:#b42318}"
    ".ex.right .verdict{color:#1a7f37}"
    ".legend{display:inline-block;width:60px;height:10px;vertical-align:middle;"
    "background:linear-gradient(90deg,#2b50ff,#888,#ff3b30);border-radius:2px;margin:0 4px}"
    ".treebox{overflow-x:auto}svg.tree .edge{stroke:#8a93a6}svg.tree .el{font-size:11px;text-anchor:middle;fill:#5b6478}"
    "svg.tree .tn rect,svg.tree .tl rect,svg.tree .tc rect{fill:#fafbfd;stroke:#ccd2dc}svg.tree .tl rect{fill:#eef6ee}"
    "svg.tree .tc rect{fill:#f6f8fb;stroke-dasharray:4 2}svg.tree .nt{font-size:11px;text-anchor:middle;font-weight:600}"
    "svg.tree .nn{font-size:10px;text-anchor:middle;fill:#5b6478}svg.tree .tn .rg{fill:#ff2a2a;fill-opacity:.85;stroke:none}"
    "figure.lw{margin:0;text-align:center;font-size:11px}figure.lw svg{border:1px solid #ccd2dc;image-rendering:pixelated}"
    "footer{color:#7a8396;font-size:12px;text-align:center;padding:10px}";

static void section_model(dc_sb *b, const dc_model *m, const dc_report_config *cfg) {
    dc_sb_put(b, "<section id=\"model\">\n<h2>Model</h2>\n");
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    float mean, std;
    dc_model_get_normalisation(m, &mean, &std);
    dc_sb_put(b, "<table class=\"kv\">\n");
    if (cfg->model_path) {
        dc_sb_put(b, "<tr><th>file</th><td><code>");
        dc_sb_escape(b, cfg->model_path);
        dc_sb_put(b, "</code></td></tr>\n");
    }
    float nm[3], ns[3];
    if (c == 3) { // RGB: one mean and std per channel
        dc_model_get_normalisation_channels(m, nm, ns);
        dc_sb_printf(b, "<tr><th>input</th><td>%d×%d×%d (C×H×W), normalised as (x/255 − mean) / std with mean "
                        "(%.4f, %.4f, %.4f), std (%.4f, %.4f, %.4f)</td></tr>\n", c, h, w, nm[0], nm[1], nm[2], ns[0],
                     ns[1], ns[2]);
    } else {
        dc_sb_printf(b, "<tr><th>input</th><td>%d×%d×%d (C×H×W), normalised as (x/255 − %.4f) / %.4f</td></tr>\n", c,
                     h, w, mean, std);
    }
    dc_sb_printf(b, "<tr><th>parameters</th><td>%zu (%.1f KiB as fp32)</td></tr>\n", dc_model_num_params(m),
                 dc_model_num_params(m) * 4.0 / 1024.0);
    dc_sb_printf(b, "<tr><th>epochs trained</th><td>%d</td></tr>\n", dc_model_epochs_done(m));
    dc_sb_printf(b, "<tr><th>classes</th><td>%d: ", dc_model_num_classes(m));
    for (int k = 0; k < dc_model_num_classes(m); k++) {
        dc_sb_printf(b, "%s%d&nbsp;", k ? ", " : "", k);
        put_class(b, m, k);
    }
    dc_sb_put(b, "</td></tr>\n</table>\n<h3>Layers</h3>\n");
    // the node table, from the model's structured view of each node
    dc_sb_put(b, "<table class=\"layers\">\n<tr><th>#</th><th>name</th><th>kind</th><th>config</th><th>inputs</th>"
                 "<th>output</th><th>params</th><th>MACs</th></tr>\n");
    for (int i = 0; i < dc_model_num_nodes(m); i++) {
        dc_node_info ni;
        dc_model_node_info(m, i, &ni);
        if (i == 0) dc_sb_put(b, "<tr><td></td><td>");
        else dc_sb_printf(b, "<tr><td>%d</td><td>", i - 1);
        dc_sb_escape(b, ni.name);
        dc_sb_put(b, "</td><td>");
        if (i) dc_sb_escape(b, ni.kind);
        dc_sb_put(b, "</td><td><code>");
        dc_sb_escape(b, ni.config);
        dc_sb_put(b, "</code></td><td>");
        for (int k = 0; k < ni.n_in && !(ni.n_in == 1 && ni.in[0] == i - 1); k++) {
            dc_node_info src;
            dc_model_node_info(m, ni.in[k], &src);
            if (k) dc_sb_put(b, ", ");
            dc_sb_escape(b, src.name);
        }
        dc_sb_printf(b, "</td><td>%dx%dx%d</td>", ni.c, ni.h, ni.w);
        if (i) dc_sb_printf(b, "<td>%zu</td><td>%lld</td></tr>\n", ni.params, (long long)ni.macs);
        else dc_sb_put(b, "<td></td><td></td></tr>\n");
    }
    dc_sb_printf(b, "<tr class=\"avg\"><td colspan=\"8\">total parameters: %zu (%.1f KiB as fp32), %lld multiply-adds per sample</td></tr>\n",
                 dc_model_num_params(m), dc_model_num_params(m) * 4.0 / 1024.0, (long long)dc_model_macs(m));
    dc_sb_put(b, "</table>\n");
    const char *arch = dc_model_arch_text(m);
    if (arch) {
        dc_sb_put(b, "<details><summary>architecture text</summary><pre>");
        dc_sb_escape(b, arch);
        dc_sb_put(b, "</pre></details>\n");
    }
    dc_sb_put(b, "</section>\n");
}

static void section_data(dc_sb *b, const dc_model *m, const dc_dataset *ds, const dc_metrics *mt,
                         const dc_report_config *cfg) {
    dc_sb_put(b, "<section id=\"data\">\n<h2>Data set</h2>\n<table class=\"kv\">\n");
    if (cfg->data_name) {
        dc_sb_put(b, "<tr><th>data</th><td><code>");
        dc_sb_escape(b, cfg->data_name);
        dc_sb_put(b, "</code></td></tr>\n");
    }
    dc_sb_put(b, "<tr><th>evaluated on</th><td>");
    dc_sb_escape(b, ds->source);
    dc_sb_printf(b, "</td></tr>\n<tr><th>samples</th><td>%d images of %d×%d×%d</td></tr>\n", ds->n, ds->c, ds->h,
                 ds->w);
    dc_sb_put(b, "<tr><th>per class</th><td>");
    for (int k = 0; k < mt->n_classes; k++) {
        dc_sb_put(b, k ? ", " : "");
        put_class(b, m, k);
        dc_sb_printf(b, "&nbsp;%lld", (long long)mt->support[k]);
    }
    dc_sb_put(b, "</td></tr>\n</table>\n</section>\n");
}

static void section_training(dc_sb *b, const dc_model *m) {
    dc_sb_put(b, "<section id=\"training\">\n<h2>Training</h2>\n");
    const char *hist = dc_model_info(m, "history");
    cJSON *j = hist ? cJSON_Parse(hist) : NULL;
    const int n = j && cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;
    if (n > 0) {
        double *v = malloc(sizeof(double) * 6 * (size_t)n);
        if (!v) {
            b->oom = true;
            cJSON_Delete(j);
            return;
        }
        // columns: epoch, train_loss, train accuracy, held-out accuracy,
        // seconds, lr; the held-out set is named by its key (val_accuracy,
        // test_accuracy; files before 0.8 say train_acc and test_acc)
        static const char *const keys[6] = {"epoch", "train_loss", "train_accuracy", "test_accuracy", "seconds", "lr"};
        const char *heldout = "test";
        for (const cJSON *e = j->child; e; e = e->next)
            if (cJSON_GetObjectItemCaseSensitive(e, "val_accuracy")) heldout = "val";
        int i = 0;
        for (const cJSON *e = j->child; e; e = e->next, i++)
            for (int k = 0; k < 6; k++) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, keys[k]);
                if (k == 3 && !strcmp(heldout, "val")) x = cJSON_GetObjectItemCaseSensitive(e, "val_accuracy");
                if (!x && k == 2) x = cJSON_GetObjectItemCaseSensitive(e, "train_acc");
                if (!x && k == 3) x = cJSON_GetObjectItemCaseSensitive(e, "test_acc");
                v[k * n + i] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
                if (k == 0 && isnan(v[i])) v[i] = i + 1; // an epoch without its number: count
                if (k == 3 && v[k * n + i] < 0) v[k * n + i] = NAN; // -1: no held-out set
            }
        const double *ep = v;
        dc_sb_put(b, "<div class=\"row\">\n");
        chart_series loss[1] = {{"train loss", "#d9480f", ep, v + n, n, false}};
        svg_line_chart(b, "Loss", "epoch", "cross-entropy", loss, 1, false);
        chart_series acc[2] = {{"train", "#2456b3", ep, v + 2 * n, n, false},
                               {heldout, "#2f9e44", ep, v + 3 * n, n, true}};
        svg_line_chart(b, "Accuracy", "epoch", "accuracy", acc, 2, true);
        chart_series lr[1] = {{"learning rate", "#7048e8", ep, v + 5 * n, n, false}};
        svg_line_chart(b, "Learning rate", "epoch", "lr", lr, 1, false);
        dc_sb_printf(b, "</div>\n<details><summary>per-epoch records</summary>\n<table>\n<tr><th>epoch</th>"
                        "<th>train loss</th><th>train acc</th><th>%s acc</th><th>seconds</th><th>lr</th></tr>\n", heldout);
        for (int e = 0; e < n; e++) {
            dc_sb_put(b, "<tr><td>");
            put_number(b, v[e]);
            dc_sb_put(b, "</td><td>");
            put_fixed(b, v[n + e], 4);
            dc_sb_put(b, "</td><td>");
            put_pct(b, v[2 * n + e]);
            dc_sb_put(b, "</td><td>");
            put_pct(b, v[3 * n + e]);
            dc_sb_put(b, "</td><td>");
            put_fixed(b, v[4 * n + e], 2);
            dc_sb_put(b, "</td><td>");
            put_number(b, v[5 * n + e]);
            dc_sb_put(b, "</td></tr>\n");
        }
        dc_sb_put(b, "</table>\n</details>\n");
        free(v);
    } else {
        dc_sb_put(b, "<p class=\"note\">The model holds no training history (it was not trained by deepc, or "
                     "the record is empty).</p>\n");
    }
    cJSON_Delete(j);
    dc_sb_put(b, "<h3>Configuration</h3>\n");
    put_json_record(b, dc_model_info(m, "train_config"), "No training configuration recorded.", true);
    dc_sb_put(b, "<div class=\"row\"><div>\n<h3>Provenance</h3>\n");
    put_json_record(b, dc_model_info(m, "provenance"), "No provenance recorded.", false);
    dc_sb_put(b, "</div><div>\n<h3>Privacy</h3>\n");
    put_json_record(b, dc_model_info(m, "privacy"), "Not trained with differential privacy (no DP-SGD record).",
                    false);
    dc_sb_put(b, "</div></div>\n</section>\n");
}

// White through blue as v goes 0 -> 1 (v is a row fraction).
static void heat_color(double v, int rgb[3]) {
    static const int stops[3][3] = {{247, 251, 255}, {107, 174, 214}, {8, 48, 107}};
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    const int s = v < 0.5 ? 0 : 1;
    const double t = v < 0.5 ? v / 0.5 : (v - 0.5) / 0.5;
    for (int i = 0; i < 3; i++) rgb[i] = (int)lround(stops[s][i] + t * (stops[s + 1][i] - stops[s][i]));
}

static void section_confusion(dc_sb *b, const dc_model *m, const dc_metrics *mt) {
    const int C = mt->n_classes;
    dc_sb_put(b, "<section id=\"confusion\">\n<h2>Confusion matrix</h2>\n<p class=\"note\">Rows are the true class, "
                 "columns the predicted class; each cell shows its count and is shaded by its share of the row "
                 "(the recall of the class on the diagonal).</p>\n");
    const double cell = C <= 10 ? 46 : C <= 20 ? 30 : fmax(8.0, 600.0 / C);
    size_t longest = 0;
    for (int k = 0; k < C; k++) {
        const size_t l = strlen(dc_model_class_name(m, k));
        longest = l > longest ? l : longest;
    }
    const double lab = fmin(180.0, 7.0 * (double)longest + 10);
    const double L = 26 + lab, T = 10, B = lab * 0.72 + 34;
    const double W = L + C * cell + 12, H = T + C * cell + B;
    dc_sb_printf(b, "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"confusion matrix\">\n", W, H, W, H);
    const double fs = fmin(12.0, cell * 0.32);
    for (int t = 0; t < C; t++) {
        const int64_t row = mt->support[t];
        for (int p = 0; p < C; p++) {
            const int64_t n = mt->confusion[(size_t)t * C + p];
            const double v = row ? (double)n / (double)row : 0.0;
            int rgb[3];
            heat_color(v, rgb);
            const double x = L + p * cell, y = T + t * cell;
            dc_sb_printf(b, "<rect class=\"cm\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                            "fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\"><title>true ", x, y, cell, cell, rgb[0], rgb[1], rgb[2]);
            put_class(b, m, t);
            dc_sb_put(b, ", predicted ");
            put_class(b, m, p);
            dc_sb_printf(b, ": %lld (%.1f%% of the row)</title></rect>", (long long)n, 100 * v);
            if (cell >= 20 && n)
                dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"%.1f\"%s>%lld</text>",
                             x + cell / 2, y + cell / 2 + fs * 0.35, fs,
                             v > 0.55 ? " style=\"fill:#fff\"" : "", (long long)n);
            dc_sb_put(b, "\n");
        }
    }
    for (int k = 0; k < C; k++) {
        dc_sb_printf(b, "<text class=\"cl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", L - 6,
                     T + k * cell + cell / 2 + 4);
        put_class(b, m, k);
        dc_sb_printf(b, "</text><text class=\"cl\" text-anchor=\"end\" transform=\"translate(%.1f %.1f) "
                        "rotate(-45)\">", L + k * cell + cell / 2 + 3, T + C * cell + 8);
        put_class(b, m, k);
        dc_sb_put(b, "</text>\n");
    }
    dc_sb_printf(b, "<text class=\"xl\" transform=\"translate(12 %.1f) rotate(-90)\">true class</text>\n",
                 T + C * cell / 2);
    dc_sb_printf(b, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">predicted class</text>\n", L + C * cell / 2, H - 6);
    dc_sb_put(b, "</svg>\n");
    dc_confusion_pair pairs[5];
    const int np = dc_metrics_most_confused(mt, pairs, 5);
    if (np > 0) {
        dc_sb_put(b, "<h3>Most confused pairs</h3>\n<table>\n<tr><th>true</th><th>predicted as</th><th>count</th>"
                     "<th>share of the true class</th></tr>\n");
        for (int i = 0; i < np; i++) {
            dc_sb_put(b, "<tr><td>");
            put_class(b, m, pairs[i].true_class);
            dc_sb_put(b, "</td><td>");
            put_class(b, m, pairs[i].pred_class);
            const int64_t row = mt->support[pairs[i].true_class];
            dc_sb_printf(b, "</td><td>%lld</td><td>", (long long)pairs[i].count);
            put_pct(b, row ? (double)pairs[i].count / (double)row : NAN);
            dc_sb_put(b, "</td></tr>\n");
        }
        dc_sb_put(b, "</table>\n");
    }
    dc_sb_put(b, "</section>\n");
}

static void section_metrics(dc_sb *b, const dc_model *m, const dc_metrics *mt) {
    const int C = mt->n_classes;
    dc_sb_put(b, "<section id=\"metrics\">\n<h2>Per-class metrics</h2>\n<table>\n<tr><th>class</th>"
                 "<th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th></tr>\n");
    int worst = -1; // lowest F1 among the classes that occur
    for (int k = 0; k < C; k++)
        if ((mt->support[k] || mt->predicted[k]) && (worst < 0 || mt->f1[k] < mt->f1[worst])) worst = k;
    for (int k = 0; k < C; k++) {
        dc_sb_printf(b, "<tr><td>%d ", k);
        put_class(b, m, k);
        dc_sb_printf(b, "</td><td>%.4f</td><td>%.4f</td><td%s>%.4f</td><td>%lld</td><td>%lld</td></tr>\n",
                     mt->precision[k], mt->recall[k], k == worst && C > 1 ? " class=\"worst\"" : "", mt->f1[k],
                     (long long)mt->support[k], (long long)mt->predicted[k]);
    }
    dc_sb_printf(b, "<tr class=\"avg\"><td>macro avg (%d classes)</td><td>%.4f</td><td>%.4f</td><td>%.4f</td>"
                    "<td>%d</td><td></td></tr>\n", mt->n_present, mt->macro_precision, mt->macro_recall,
                 mt->macro_f1, mt->n);
    dc_sb_printf(b, "<tr class=\"avg\"><td>weighted avg</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%d</td>"
                    "<td></td></tr>\n</table>\n", mt->weighted_precision, mt->weighted_recall, mt->weighted_f1,
                 mt->n);
    dc_sb_put(b, "<p class=\"note\">Averages as scikit-learn's classification_report (zero_division=0); the "
                 "class with the lowest F1 is shaded.</p>\n</section>\n");
}

static void section_calibration(dc_sb *b, const dc_metrics *mt) {
    const int B = mt->n_bins;
    dc_sb_put(b, "<section id=\"calibration\">\n<h2>Calibration</h2>\n<div class=\"row\">\n");
    // reliability diagram: accuracy of each confidence bin against the diagonal
    const double S = 300, L = 52, T = 30, W = L + S + 16, H = T + S + 46;
#define RX(v) (L + (v) * S)
#define RY(v) (T + S - (v) * S)
    dc_sb_printf(b, "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"reliability diagram\">\n<text x=\"%.0f\" y=\"18\" class=\"ct\">Reliability "
                    "diagram (%d bins)</text>\n", W, H, W, H, L, B);
    for (int i = 0; i <= 5; i++) {
        const double v = i / 5.0;
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"yt\">%.1f</text>"
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"xt\">%.1f</text>\n",
                     L, L + S, RY(v), RY(v), L - 6, RY(v) + 4, v, RX(v), T + S + 16, v);
    }
    for (int k = 0; k < B; k++) {
        if (!mt->bin_count[k]) continue;
        const double x0 = RX((double)k / B), w = S / B, acc = mt->bin_accuracy[k], conf = mt->bin_confidence[k];
        dc_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4c6ef5\" "
                        "stroke=\"#fff\"><title>confidence %.2f–%.2f: %lld samples, accuracy %.3f, mean "
                        "confidence %.3f</title></rect>",
                     x0, RY(acc), w, acc * S, (double)k / B, (double)(k + 1) / B, (long long)mt->bin_count[k], acc,
                     conf);
        const double lo = fmin(acc, conf), hi = fmax(acc, conf);
        if (hi - lo > 1e-9)
            dc_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ff6b6b\" "
                            "fill-opacity=\"0.35\" stroke=\"#e03131\" stroke-width=\"0.8\"/>",
                         x0, RY(hi), w, (hi - lo) * S);
        dc_sb_put(b, "\n");
    }
    dc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2b3242\" "
                    "stroke-dasharray=\"5 4\"/>\n", RX(0), RY(0), RX(1), RY(1));
    dc_sb_printf(b, "<path d=\"M%.1f %.1fV%.1fH%.1f\" class=\"axis\"/>\n", L, T, T + S, L + S);
    dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">confidence (top-class probability)</text>\n",
                 L + S / 2, H - 8);
    dc_sb_printf(b, "<text transform=\"translate(14 %.1f) rotate(-90)\" class=\"xl\">accuracy</text>\n", T + S / 2);
    // legend, upper left (the bars of a good model stay near the diagonal)
    dc_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"#4c6ef5\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">accuracy</text>"
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"#ff6b6b\" fill-opacity=\"0.35\" "
                    "stroke=\"#e03131\"/><text x=\"%.1f\" y=\"%.1f\" class=\"lg\">gap to confidence</text>"
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#2b3242\" "
                    "stroke-dasharray=\"5 4\"/><text x=\"%.1f\" y=\"%.1f\" class=\"lg\">perfect calibration</text>\n",
                 L + 8, T + 8, L + 24, T + 17, L + 8, T + 24, L + 24, T + 33, L + 8, L + 20, T + 45, T + 45, L + 24,
                 T + 49);
    dc_sb_put(b, "</svg>\n");
    // where the confidences fall: the share of samples in each bin
    const double HW = 360, HH = 200, HL = 52, HT = 30, HS = 120;
    int64_t most = 1;
    for (int k = 0; k < B; k++) most = mt->bin_count[k] > most ? mt->bin_count[k] : most;
    const double top = (double)most / (mt->n ? mt->n : 1);
    double t0, ts;
    const int nt = dc_nice_ticks(0, top > 0 ? top : 1, 5, &t0, &ts);
    const double ymax = t0 + (nt - 1) * ts;
    dc_sb_printf(b, "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"confidence histogram\">\n<text x=\"%.0f\" y=\"18\" class=\"ct\">Confidence "
                    "histogram</text>\n", HW, HH, HW, HH, HL);
    const double PW = HW - HL - 16;
    for (int i = 0; i < nt; i++) {
        const double v = t0 + i * ts, y = HT + HS - v / ymax * HS;
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"yt\">%.*f%%</text>\n",
                     HL, HL + PW, y, y, HL - 6, y + 4, tick_decimals(100 * ts), 100 * v);
    }
    for (int k = 0; k < B; k++) {
        const double share = (double)mt->bin_count[k] / (mt->n ? mt->n : 1), h = share / ymax * HS;
        dc_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#868e96\" "
                        "stroke=\"#fff\"><title>%lld samples</title></rect>\n",
                     HL + PW * k / B, HT + HS - h, PW / B, h, (long long)mt->bin_count[k]);
    }
    for (int i = 0; i <= 5; i++)
        dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xt\">%.1f</text>", HL + PW * i / 5.0, HT + HS + 16,
                     i / 5.0);
    dc_sb_printf(b, "\n<path d=\"M%.1f %.1fV%.1fH%.1f\" class=\"axis\"/>\n", HL, HT, HT + HS, HL + PW);
    dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">confidence</text>\n", HL + PW / 2, HH - 14);
    dc_sb_put(b, "</svg>\n");
#undef RX
#undef RY
    dc_sb_printf(b, "</div>\n<p class=\"note\">Expected calibration error (ECE) %.4f, maximum calibration error "
                    "(MCE) %.4f over %d equal-width confidence bins (Guo et al. 2017): bars below the diagonal "
                    "are over-confident.</p>\n</section>\n", mt->ece, mt->mce, B);
}

// ---------------------------------------------------------------------------
// Explained examples

// Indices of up to want samples: at most half of them mistakes, the most
// confident first (ties: lower index), then correct samples taking each
// true class in turn (lowest index first), then more mistakes if correct
// ones run out. Returns how many were chosen into idx; *n_right of them
// (the first ones) are correct predictions.
static int pick_examples(int *idx, int want, const float *probs, const int32_t *pred, const int32_t *labels,
                         int N, int C, int *n_right) {
    int *wrong = malloc(sizeof(int) * (size_t)(N ? N : 1));
    int *cursor = calloc((size_t)C, sizeof(int));
    if (!wrong || !cursor) {
        free(wrong);
        free(cursor);
        return -1;
    }
    int nw = 0;
    for (int i = 0; i < N; i++)
        if (pred[i] != labels[i]) wrong[nw++] = i;
    // selection of the most confident mistakes (want is small: a partial
    // selection sort instead of sorting all of them)
    int take_w = want / 2 < nw ? want / 2 : nw;
    int got = 0;
    // correct ones: class by class in turn
    for (bool any = true; got < want - take_w && any;) {
        any = false;
        for (int k = 0; k < C && got < want - take_w; k++) {
            int i = cursor[k];
            while (i < N && !(labels[i] == k && pred[i] == k)) i++;
            cursor[k] = i + 1;
            if (i < N) {
                idx[got++] = i;
                any = true;
            }
        }
    }
    *n_right = got;
    if (got + take_w < want) take_w = want - got < nw ? want - got : nw;
    for (int s = 0; s < take_w; s++) {
        int best = s;
        for (int j = s + 1; j < nw; j++) {
            const float cj = probs[(size_t)wrong[j] * C + pred[wrong[j]]];
            const float cb = probs[(size_t)wrong[best] * C + pred[wrong[best]]];
            if (cj > cb || (cj == cb && wrong[j] < wrong[best])) best = j;
        }
        const int t = wrong[s];
        wrong[s] = wrong[best];
        wrong[best] = t;
        idx[got++] = wrong[s];
    }
    free(wrong);
    free(cursor);
    return got;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The heatmap over the input, as src/explain/render.c draws it for
// dc_explanation_write_png (which writes a file only): the input in gray,
// attributions summed over channels, scaled by the 99.5th percentile of |a|
// and clipped to [-1, 1], positive towards red, negative towards blue with
// opacity 0.85|a|. rgb is (H, W, 3) out; x (C,H,W) normalised input.
static dc_status render_overlay(uint8_t *rgb, const dc_explanation *e, const float *x, int C, int H, int W,
                                const float *mean, const float *std, dc_error *err) {
    const size_t P = (size_t)H * W;
    if (!e->attr || e->h != H || e->w != W || (e->c != 1 && e->c != C))
        return dc_fail(err, DC_ERR_SHAPE, "report: the explanation (%dx%dx%d) does not fit the model input %dx%dx%d",
                       e->c, e->h, e->w, C, H, W);
    float *a = malloc(sizeof(float) * P), *mag = malloc(sizeof(float) * P);
    if (!a || !mag) {
        free(a);
        free(mag);
        return dc_fail(err, DC_ERR_NOMEM, "report: out of memory for a heatmap");
    }
    for (size_t p = 0; p < P; p++) {
        double s = 0.0;
        for (int c = 0; c < e->c; c++) s += e->attr[(size_t)c * P + p];
        a[p] = (float)s;
        mag[p] = fabsf(a[p]);
    }
    qsort(mag, P, sizeof(float), cmp_float);
    float top = mag[(size_t)floor(0.995 * (double)(P - 1))];
    if (!(top > 0.0f)) top = mag[P - 1];
    if (!(top > 0.0f)) top = 1.0f;
    for (size_t p = 0; p < P; p++) {
        double g = 0.0;
        for (int c = 0; c < C; c++) g += x[(size_t)c * P + p] * std[c] + mean[c];
        g /= C;
        g = g < 0 ? 0 : g > 1 ? 1 : g;
        double v = a[p] / top;
        v = v > 1 ? 1 : v < -1 ? -1 : v;
        const double al = 0.85 * fabs(v);
        rgb[3 * p + 0] = (uint8_t)lround(255 * ((1 - al) * g + al * (v > 0 ? 1.0 : 0.0)));
        rgb[3 * p + 1] = (uint8_t)lround(255 * ((1 - al) * g));
        rgb[3 * p + 2] = (uint8_t)lround(255 * ((1 - al) * g + al * (v < 0 ? 1.0 : 0.0)));
    }
    free(a);
    free(mag);
    return DC_OK;
}

static dc_status section_examples(dc_sb *b, dc_model *m, const dc_dataset *ds, const float *probs,
                                  const int32_t *pred, const dc_report_config *cfg, int *n_shown, dc_error *err) {
    const int C = dc_model_num_classes(m), H = ds->h, W = ds->w, CH = ds->c;
    const size_t in_size = (size_t)CH * H * W;
    *n_shown = 0;
    dc_sb_put(b, "<section id=\"examples\">\n<h2>Explained examples</h2>\n");
    if (cfg->examples <= 0 || ds->n == 0) {
        dc_sb_put(b, "<p class=\"note\">No examples requested.</p>\n</section>\n");
        return DC_OK;
    }
    dc_sb_printf(b, "<p class=\"note\">Each image beside its %s attribution for the predicted class: "
                    "<span class=\"legend\"></span> blue lowers the class score, red raises it. Correct "
                    "predictions (one class after another) first, then the most confident mistakes.</p>\n",
                 dc_explain_method_name(cfg->method));
    int *idx = malloc(sizeof(int) * (size_t)cfg->examples);
    float *x = malloc(sizeof(float) * in_size);
    uint8_t *img = malloc(in_size > (size_t)H * W * 3 ? in_size : (size_t)H * W * 3);
    float *nmean = malloc(sizeof(float) * (size_t)CH), *nstd = malloc(sizeof(float) * (size_t)CH);
    dc_explainer *ex = NULL;
    dc_status st = DC_OK;
    if (!idx || !x || !img || !nmean || !nstd) {
        st = dc_fail(err, DC_ERR_NOMEM, "report: out of memory for the examples");
        goto out;
    }
    int n_right = 0;
    const int n = pick_examples(idx, cfg->examples, probs, pred, ds->labels, ds->n, C, &n_right);
    if (n < 0) {
        st = dc_fail(err, DC_ERR_NOMEM, "report: out of memory choosing the examples");
        goto out;
    }
    if ((st = dc_explainer_new(&ex, m, 256, cfg->nthreads, err))) goto out;
    dc_explain_config ecfg = dc_explain_config_default();
    ecfg.method = cfg->method;
    ecfg.target = -1;
    dc_model_get_normalisation_channels(m, nmean, nstd);
    dc_sb_put(b, "<div class=\"examples\">\n");
    for (int j = 0; j < n; j++) {
        const int i = idx[j], y = ds->labels[i], p = pred[i];
        const uint8_t *px = ds->pixels + (size_t)i * in_size;
        dc_model_normalise(m, x, px, in_size);
        dc_explanation e;
        if ((st = dc_explain(ex, x, &ecfg, &e, err))) goto out;
        const bool right = y == p;
        dc_sb_printf(b, "<div class=\"ex %s\">\n<div class=\"imgs\">", right ? "right" : "wrong");
        // the input as stored: gray, RGB, or the channel mean otherwise
        int chans = CH == 3 ? 3 : 1;
        for (int q = 0; q < H * W; q++) {
            if (CH == 3) {
                for (int c = 0; c < 3; c++) img[3 * q + c] = px[(size_t)c * H * W + q];
            } else {
                unsigned s = 0;
                for (int c = 0; c < CH; c++) s += px[(size_t)c * H * W + q];
                img[q] = (uint8_t)((s + CH / 2) / CH);
            }
        }
        char alt[64];
        snprintf(alt, sizeof alt, "sample %d", i);
        st = put_png(b, img, H, W, chans, alt, "in", err);
        if (!st) st = render_overlay(img, &e, x, CH, H, W, nmean, nstd, err);
        snprintf(alt, sizeof alt, "attribution of sample %d", i);
        if (!st) st = put_png(b, img, H, W, 3, alt, "heat", err);
        dc_explanation_free(&e);
        if (st) goto out;
        dc_sb_printf(b, "</div>\n<p><span class=\"verdict\">%s</span> sample %d</p>\n<p>true: ",
                     right ? "✓ correct" : "✗ mistake", i);
        put_class(b, m, y);
        dc_sb_printf(b, " (p=%.3f)</p>\n<p>predicted: ", probs[(size_t)i * C + y]);
        put_class(b, m, p);
        dc_sb_printf(b, " (p=%.3f)</p>\n</div>\n", probs[(size_t)i * C + p]);
    }
    dc_sb_put(b, "</div>\n");
    if (n < cfg->examples)
        dc_sb_printf(b, "<p class=\"note\">%d of the %d requested examples: the data set has no more.</p>\n", n,
                     cfg->examples);
    *n_shown = n;
    dc_sb_put(b, "</section>\n");
out:
    dc_explainer_free(ex);
    free(idx);
    free(x);
    free(img);
    free(nmean);
    free(nstd);
    return st;
}

// ---------------------------------------------------------------------------
// Fairness

static void put_rate_cell(dc_sb *b, double v, bool flag) {
    dc_sb_put(b, flag ? "<td class=\"flag\">" : "<td>");
    put_fixed(b, v, 3);
    dc_sb_put(b, "</td>");
}

static void section_fairness(dc_sb *b, const dc_model *m, const dc_groups *g, const dc_fairness *f) {
    dc_sb_put(b, "<section id=\"fairness\">\n<h2>Fairness audit</h2>\n");
    if (!g) {
        dc_sb_put(b, "<p class=\"note\">No groups given: run <code>deepc report MODEL --groups FILE.csv</code> (or "
                     "<code>--groups builtin:brightness</code>) for an audit of the predictions across groups "
                     "of samples.</p>\n</section>\n");
        return;
    }
    const int C = f->n_classes, G = f->n_groups;
    dc_sb_printf(b, "<p class=\"note\">%d groups from <code>", G);
    dc_sb_escape(b, g->origin);
    dc_sb_put(b, "</code>. Rates are one-vs-rest per class; differences are max − min over groups and the "
                 "ratio is min / max (Fairlearn's demographic parity and equalized odds); overall figures are "
                 "the worst class. Flagged figures are red.</p>\n");
    struct {
        const char *what, *rule;
        double v, limit;
        int cls;
        unsigned flag;
    } rows[3] = {
        {"demographic parity difference", "≤", f->dp_difference, f->thr.dp_difference, f->dp_difference_class,
         DC_FAIR_FLAG_DP_DIFF},
        {"demographic parity ratio", "≥", f->dp_ratio, f->thr.dp_ratio, f->dp_ratio_class, DC_FAIR_FLAG_DP_RATIO},
        {"equalized odds difference", "≤", f->eo_difference, f->thr.eo_difference, f->eo_difference_class,
         DC_FAIR_FLAG_EO_DIFF},
    };
    int n_flags = 0;
    dc_sb_put(b, "<div class=\"row\"><div>\n<h3>Summary</h3>\n<table>\n<tr><th>figure</th><th>value</th>"
                 "<th>worst class</th><th>limit</th><th>verdict</th></tr>\n");
    for (int r = 0; r < 3; r++) {
        const bool fl = (f->flags & rows[r].flag) != 0;
        n_flags += fl;
        dc_sb_printf(b, "<tr%s><td>%s</td><td>", fl ? " class=\"flag\"" : "", rows[r].what);
        put_fixed(b, rows[r].v, 3);
        dc_sb_put(b, "</td><td>");
        if (rows[r].cls >= 0) put_class(b, m, rows[r].cls);
        dc_sb_printf(b, "</td><td>%s %.2f</td><td class=\"%s\">%s</td></tr>\n", rows[r].rule, rows[r].limit,
                     fl ? "flag" : "ok", fl ? "FLAG" : "ok");
    }
    dc_sb_put(b, "<tr><td>worst-group accuracy</td><td>");
    put_pct(b, f->worst_group_accuracy);
    dc_sb_put(b, "</td><td>");
    dc_sb_escape(b, g->names[f->worst_group]);
    dc_sb_put(b, " (group)</td><td></td><td></td></tr>\n<tr><td>accuracy gap (best − worst group)</td><td>");
    put_fixed(b, 100 * f->accuracy_difference, 2);
    dc_sb_printf(b, " points</td><td></td><td></td><td></td></tr>\n</table>\n<p>%s%d of 3 checks flagged%s</p>\n",
                 n_flags ? "<span class=\"flag\">" : "", n_flags, n_flags ? "</span>" : "");
    dc_sb_put(b, "</div><div>\n<h3>Groups</h3>\n<table>\n<tr><th>group</th><th>samples</th><th>accuracy</th></tr>\n");
    for (int gi = 0; gi < G; gi++) {
        const bool worst = gi == f->worst_group && G > 1;
        dc_sb_printf(b, "<tr><td>");
        dc_sb_escape(b, g->names[gi]);
        dc_sb_printf(b, "</td><td>%lld</td><td%s>", (long long)f->group_n[gi], worst ? " class=\"worst\"" : "");
        put_pct(b, f->group_accuracy[gi]);
        dc_sb_put(b, worst ? " (worst)</td></tr>\n" : "</td></tr>\n");
    }
    dc_sb_put(b, "</table>\n</div></div>\n<h3>Per class</h3>\n<table>\n<tr><th>class</th><th>DP difference</th>"
                 "<th>DP ratio</th><th>TPR difference</th><th>FPR difference</th><th>EO difference</th>"
                 "<th>flags</th></tr>\n");
    for (int k = 0; k < C; k++) {
        const unsigned fl = f->flags_c[k];
        dc_sb_printf(b, "<tr><td>%d ", k);
        put_class(b, m, k);
        dc_sb_put(b, "</td>");
        put_rate_cell(b, f->dp_difference_c[k], fl & DC_FAIR_FLAG_DP_DIFF);
        put_rate_cell(b, f->dp_ratio_c[k], fl & DC_FAIR_FLAG_DP_RATIO);
        put_rate_cell(b, f->tpr_difference_c[k], false);
        put_rate_cell(b, f->fpr_difference_c[k], false);
        put_rate_cell(b, f->eo_difference_c[k], fl & DC_FAIR_FLAG_EO_DIFF);
        dc_sb_printf(b, "<td%s>%s%s%s%s</td></tr>\n", fl ? " class=\"flag\"" : "", fl ? "" : "ok",
                     fl & DC_FAIR_FLAG_DP_DIFF ? "dp-diff " : "", fl & DC_FAIR_FLAG_DP_RATIO ? "dp-ratio " : "",
                     fl & DC_FAIR_FLAG_EO_DIFF ? "eo-diff" : "");
    }
    dc_sb_put(b, "</table>\n");
    // the rates themselves, one table per kind, groups as rows
    struct {
        const char *title;
        const double *v;
    } tabs[3] = {{"Selection rate P(pred = class | group)", f->selection_rate},
                 {"True positive rate P(pred = class | class, group)", f->tpr},
                 {"False positive rate P(pred = class | other class, group)", f->fpr}};
    dc_sb_put(b, "<details><summary>per-group rates</summary>\n");
    for (int t = 0; t < 3; t++) {
        dc_sb_printf(b, "<h3>%s</h3>\n<table>\n<tr><th>group</th>", tabs[t].title);
        for (int k = 0; k < C; k++) {
            dc_sb_put(b, "<th>");
            put_class(b, m, k);
            dc_sb_put(b, "</th>");
        }
        dc_sb_put(b, "</tr>\n");
        for (int gi = 0; gi < G; gi++) {
            dc_sb_put(b, "<tr><td>");
            dc_sb_escape(b, g->names[gi]);
            dc_sb_put(b, "</td>");
            for (int k = 0; k < C; k++) put_rate_cell(b, tabs[t].v[(size_t)gi * C + k], false);
            dc_sb_put(b, "</tr>\n");
        }
        dc_sb_put(b, "</table>\n");
    }
    dc_sb_put(b, "</details>\n</section>\n");
}

// ---------------------------------------------------------------------------
// Surrogate and membership audit (issue 12)

// A chart over fixed axes [x0, x1] x [y0, y1] (ROC curves, the
// fidelity/depth curve): polylines with a legend; no per-point markers.
static void svg_xy_chart(dc_sb *b, const char *title, const char *xlabel, const char *ylabel,
                         const chart_series *s, int ns, double x0, double x1, double y0, double y1) {
    const double W = 380, H = 300, L = 60, R = 14, T = 46, B = 46;
    double yt0, ys, xt0, xs;
    const int nyt = dc_nice_ticks(y0, y1, 6, &yt0, &ys), nxt = dc_nice_ticks(x0, x1, 8, &xt0, &xs);
    const double ya = fmin(y0, yt0), yb = fmax(y1, yt0 + (nyt - 1) * ys);
    const double xa = fmin(x0, xt0), xb = fmax(x1, xt0 + (nxt - 1) * xs);
#define PX(v) (L + ((v) - xa) / (xb - xa) * (W - L - R))
#define PY(v) (H - B - ((v) - ya) / (yb - ya) * (H - T - B))
    dc_sb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"%s\">\n<text x=\"%.0f\" y=\"18\" class=\"ct\">%s</text>\n",
                 W, H, W, H, title, L, title);
    for (int i = 0; i < nyt; i++) {
        const double v = yt0 + i * ys, y = PY(v);
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"yt\">%.*f</text>\n",
                     L, W - R, y, y, L - 6, y + 4, tick_decimals(ys), v);
    }
    for (int i = 0; i < nxt; i++) {
        const double v = xt0 + i * xs, x = PX(v);
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"tick\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"xt\">%.*f</text>\n",
                     x, x, H - B, H - B + 5, x, H - B + 18, tick_decimals(xs), v);
    }
    dc_sb_printf(b, "<path d=\"M%.1f %.1fV%.1fH%.1f\" class=\"axis\"/>\n", L, T - 4, H - B, W - R);
    dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%s</text>\n", (L + W - R) / 2, H - 8, xlabel);
    dc_sb_printf(b, "<text transform=\"translate(14 %.1f) rotate(-90)\" class=\"xl\">%s</text>\n", (T + H - B) / 2,
                 ylabel);
    double lx = L;
    for (int i = 0; i < ns; i++) {
        dc_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s[i].color,
                     s[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
        for (int k = 0; k < s[i].n; k++)
            if (isfinite(s[i].x[k]) && isfinite(s[i].y[k])) dc_sb_printf(b, "%.1f,%.1f ", PX(s[i].x[k]), PY(s[i].y[k]));
        dc_sb_printf(b, "\"><title>%s</title></polyline>\n", s[i].name);
        dc_sb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"34\" y2=\"34\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                        "<text x=\"%.1f\" y=\"38\" class=\"lg\">%s</text>\n",
                     lx, lx + 18, s[i].color, s[i].dashed ? " stroke-dasharray=\"5 3\"" : "", lx + 23, s[i].name);
        lx += 23 + 6.0 * (double)strlen(s[i].name) + 12;
    }
#undef PX
#undef PY
    dc_sb_put(b, "</svg>\n");
}

// The pixels of region r as rectangles (one per run of a row), in image
// pixel units: the caller places them in a nested <svg> with the image's viewBox.
static void svg_region(dc_sb *b, const dc_surr_features *f, int r, const char *style) {
    for (int y = 0; y < f->h; y++)
        for (int x = 0; x < f->w;) {
            if (f->region[(size_t)y * f->w + x] != r) {
                x++;
                continue;
            }
            int e = x;
            while (e < f->w && f->region[(size_t)y * f->w + e] == r) e++;
            dc_sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\" %s/>", x, y, e - x, style);
            x = e;
        }
}

// The mean image of ds as a PNG in <defs>, id "dcmean", for the thumbnails.
static dc_status svg_mean_defs(dc_sb *b, const dc_dataset *ds, dc_error *err) {
    const int C = ds->c, H = ds->h, W = ds->w;
    float *mean = malloc(sizeof(float) * (size_t)C * H * W);
    uint8_t *px = malloc((size_t)H * W * (C == 3 ? 3 : 1));
    if (!mean || !px) {
        free(mean), free(px);
        return dc_fail(err, DC_ERR_NOMEM, "report: out of memory");
    }
    dc_surr_mean_image(mean, ds);
    for (int p = 0; p < H * W; p++) {
        if (C == 3)
            for (int ch = 0; ch < 3; ch++) px[p * 3 + ch] = (uint8_t)lround(255 * mean[(size_t)ch * H * W + p]);
        else {
            double s = 0;
            for (int ch = 0; ch < C; ch++) s += mean[(size_t)ch * H * W + p];
            px[p] = (uint8_t)lround(255 * s / C);
        }
    }
    uint8_t *png;
    size_t len;
    dc_status st = dc_png_encode(&png, &len, px, H, W, C == 3 ? 3 : 1, err);
    free(mean);
    free(px);
    if (st) return st;
    dc_sb_printf(b, "<defs><image id=\"dcmean\" width=\"%d\" height=\"%d\" style=\"image-rendering:pixelated\" "
                    "preserveAspectRatio=\"none\" href=\"data:image/png;base64,", W, H);
    dc_sb_base64(b, png, len);
    dc_sb_put(b, "\"/></defs>\n");
    free(png);
    return DC_OK;
}

#define TREE_SHOW_DEPTH 4

typedef struct tree_layout {
    double *x;  // (n_nodes) centre of each drawn node
    int next;   // next free leaf slot
} tree_layout;

static void layout_node(const dc_tree *t, int i, tree_layout *L) {
    const dc_tree_node *d = &t->nodes[i];
    if (d->feature == DC_TREE_LEAF || d->depth >= TREE_SHOW_DEPTH) {
        L->x[i] = L->next++;
        return;
    }
    layout_node(t, d->left, L);
    layout_node(t, d->right, L);
    L->x[i] = (L->x[d->left] + L->x[d->right]) / 2;
}

static int subtree_leaves(const dc_tree *t, int i) {
    const dc_tree_node *d = &t->nodes[i];
    return d->feature == DC_TREE_LEAF ? 1 : subtree_leaves(t, d->left) + subtree_leaves(t, d->right);
}

// An oblique split as the weight map it tests: each region coloured by the
// sign of its weight (summed over channels), red positive (more intensity
// there sends an input right), blue negative, blank where the split has no
// weight; the opacity grows with |weight| relative to the node's largest.
// In image pixel units, like svg_region.
static void svg_weight_map(dc_sb *b, const dc_surr_features *f, const dc_tree *t, const dc_tree_node *d) {
    const int R = f->n_regions;
    const int32_t *fe = t->w_feature + d->w_off;
    const double *w = t->w_value + d->w_off;
    // inline styles: the node's own `.tn rect` rule would override fill attributes
    dc_sb_printf(b, "<rect width=\"%d\" height=\"%d\" style=\"fill:#ffffff;stroke:none\"/>", f->w, f->h);
    double mx = 0;
    for (int k = 0; k < d->w_n; k++) {
        double v = 0; // the region's weight summed over channels
        for (int q = 0; q < d->w_n; q++) v += fe[q] % R == fe[k] % R ? w[q] : 0;
        mx = fmax(mx, fabs(v));
    }
    for (int k = 0; k < d->w_n; k++) {
        bool first = true; // draw each region once, at its first term
        for (int q = 0; q < k; q++) first = first && fe[q] % R != fe[k] % R;
        if (!first) continue;
        double v = 0;
        for (int q = k; q < d->w_n; q++) v += fe[q] % R == fe[k] % R ? w[q] : 0;
        if (v == 0) continue;
        char style[96];
        snprintf(style, sizeof style, "style=\"fill:%s;fill-opacity:%.3f;stroke:none\"", v > 0 ? "#e5484d" : "#2b50ff",
                 mx > 0 ? 0.25 + 0.75 * fabs(v) / mx : 1.0);
        svg_region(b, f, fe[k] % R, style);
    }
    dc_sb_printf(b, "<rect width=\"%d\" height=\"%d\" style=\"fill:none;stroke:#ccd2dc;stroke-width:%.2f\"/>", f->w,
                 f->h, f->w / 60.0);
}

static void draw_node(dc_sb *b, const dc_surrogate *s, const dc_tree *t, int i, const tree_layout *L) {
    const dc_tree_node *d = &t->nodes[i];
    const dc_surr_features *f = &s->feat;
    const double SX = 100, SY = 150, BW = 92, TH = 60;
    const double cx = 10 + SX * L->x[i] + BW / 2, top = 10 + SY * d->depth;
    const bool cut = d->feature != DC_TREE_LEAF && d->depth >= TREE_SHOW_DEPTH;
    if (d->feature != DC_TREE_LEAF && !cut) {
        const double y1 = top + TH + 44;
        const int kids[2] = {d->left, d->right};
        for (int q = 0; q < 2; q++) {
            const double kx = 10 + SX * L->x[kids[q]] + BW / 2, ky = 10 + SY * t->nodes[kids[q]].depth;
            dc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"edge\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" class=\"el\">%s</text>\n",
                         cx, y1, kx, ky, (cx + kx) / 2 + (q ? 4 : -4), (y1 + ky) / 2, q ? "&gt;" : "&#8804;");
        }
        if (d->feature == DC_TREE_OBLIQUE) {
            const int R = f->n_regions;
            dc_sb_printf(b, "<g class=\"tn\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" rx=\"5\"/>"
                            "<svg x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %d %d\">",
                         cx - BW / 2, top, BW, TH + 44, cx - TH / 2, top + 3, TH, TH, f->w, f->h);
            svg_weight_map(b, f, t, d);
            dc_sb_printf(b, "</svg><text x=\"%.1f\" y=\"%.1f\" class=\"nt\">w&#183;x + b &#8804; 0</text>"
                            "<text x=\"%.1f\" y=\"%.1f\" class=\"nn\">%d terms, n=%d</text><title>oblique split: ",
                         cx, top + TH + 17, cx, top + TH + 33, d->w_n, d->n);
            for (int k = 0; k < d->w_n; k++) {
                const int j = t->w_feature[d->w_off + k];
                const double v = t->w_value[d->w_off + k];
                dc_sb_printf(b, "%s%.4g&#183;x%d", k == 0 ? (v < 0 ? "&#8722;" : "") : (v < 0 ? " &#8722; " : " + "),
                             fabs(v), j);
                if (f->c > 1) dc_sb_printf(b, "(region %d, channel %d)", j % R, j / R);
            }
            dc_sb_printf(b, " %s %.4g &#8804; 0 goes left (x: mean intensities of the regions; red weights push "
                            "right, blue left); %d training samples, majority ",
                         d->bias < 0 ? "&#8722;" : "+", fabs(d->bias), d->n);
            dc_sb_escape(b, s->class_names[d->klass]);
            dc_sb_put(b, "</title></g>\n");
            draw_node(b, s, t, d->left, L);
            draw_node(b, s, t, d->right, L);
            return;
        }
        const int R = f->n_regions, ch = d->feature / R, r = d->feature % R;
        dc_sb_printf(b, "<g class=\"tn\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" rx=\"5\"/>"
                        "<svg x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %d %d\">"
                        "<use href=\"#dcmean\"/>",
                     cx - BW / 2, top, BW, TH + 44, cx - TH / 2, top + 3, TH, TH, f->w, f->h);
        svg_region(b, f, r, "class=\"rg\"");
        dc_sb_printf(b, "</svg><text x=\"%.1f\" y=\"%.1f\" class=\"nt\">", cx, top + TH + 17);
        if (f->c > 1) dc_sb_printf(b, "ch %d ", ch);
        dc_sb_printf(b, "mean &#8804; %.3f</text><text x=\"%.1f\" y=\"%.1f\" class=\"nn\">n=%d</text>"
                        "<title>feature %d (region %d", d->threshold, cx, top + TH + 33, d->n, d->feature, r);
        if (f->c > 1) dc_sb_printf(b, ", channel %d", ch);
        dc_sb_printf(b, "): mean intensity &#8804; %.4f goes left; %d training samples, majority ", d->threshold, d->n);
        dc_sb_escape(b, s->class_names[d->klass]);
        dc_sb_put(b, "</title></g>\n");
        draw_node(b, s, t, d->left, L);
        draw_node(b, s, t, d->right, L);
        return;
    }
    const int32_t *cnt = t->counts + (size_t)i * t->n_classes;
    const double purity = d->n ? (double)cnt[d->klass] / d->n : 0;
    dc_sb_printf(b, "<g class=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"52\" rx=\"5\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"nt\">", cut ? "tc" : "tl", cx - BW / 2, top, BW, cx, top + 18);
    char name[16]; // at most 13 bytes of the name, cut at a UTF-8 character boundary
    size_t nl = strlen(s->class_names[d->klass]);
    if (nl > 13) {
        nl = 13;
        while (nl > 0 && ((unsigned char)s->class_names[d->klass][nl] & 0xC0) == 0x80) nl--;
    }
    snprintf(name, sizeof name, "%.*s", (int)nl, s->class_names[d->klass]);
    dc_sb_escape(b, name);
    dc_sb_printf(b, "</text><text x=\"%.1f\" y=\"%.1f\" class=\"nn\">n=%d, %.0f%%</text>", cx, top + 32, d->n,
                 100 * purity);
    if (cut) dc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"nn\">subtree of %d leaves</text>", cx, top + 45,
                          subtree_leaves(t, i));
    dc_sb_put(b, "<title>");
    dc_sb_escape(b, s->class_names[d->klass]);
    dc_sb_printf(b, ": %d training samples, %.1f%% of them this class%s</title></g>\n", d->n, 100 * purity,
                 cut ? " (a subtree cut here for the drawing)" : "");
}

static dc_status svg_tree(dc_sb *b, const dc_surrogate *s, const dc_dataset *ds, dc_error *err) {
    const dc_tree *t = &s->tree;
    tree_layout L = {malloc(sizeof(double) * (size_t)t->n_nodes), 0};
    if (!L.x) return dc_fail(err, DC_ERR_NOMEM, "report: out of memory drawing the tree");
    layout_node(t, 0, &L);
    int shown_depth = 0;
    for (int i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].depth <= TREE_SHOW_DEPTH && t->nodes[i].depth > shown_depth) shown_depth = t->nodes[i].depth;
    const double W = 20 + 100 * L.next, H = 20 + 150 * shown_depth + 110;
    dc_sb_printf(b, "<div class=\"treebox\"><svg class=\"tree\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                    "role=\"img\" aria-label=\"surrogate decision tree\">\n", W, H, W, H);
    dc_status st = svg_mean_defs(b, ds, err);
    if (!st) draw_node(b, s, t, 0, &L);
    dc_sb_put(b, "</svg></div>\n");
    free(L.x);
    return st;
}

// Linear surrogate: one map per class of its coefficients on each region
// (summed over channels), red positive, blue negative.
static void svg_linear(dc_sb *b, const dc_surrogate *s) {
    const dc_linear *lm = &s->lin;
    const dc_surr_features *f = &s->feat;
    const int R = f->n_regions, C = lm->n_classes;
    double mx = 0;
    for (size_t q = 0; q < (size_t)C * lm->n_features; q++) mx = fmax(mx, fabs(lm->W[q]));
    dc_sb_put(b, "<div class=\"row\">\n");
    for (int k = 0; k < C; k++) {
        int nz = 0;
        for (int j = 0; j < lm->n_features; j++) nz += lm->W[(size_t)k * lm->n_features + j] != 0;
        dc_sb_printf(b, "<figure class=\"lw\"><svg viewBox=\"0 0 %d %d\" width=\"96\" height=\"96\">", f->w, f->h);
        for (int r = 0; r < R; r++) {
            double v = 0;
            for (int ch = 0; ch < f->c; ch++) v += lm->W[(size_t)k * lm->n_features + (size_t)ch * R + r];
            const double a = mx > 0 ? fmin(1.0, fabs(v) / mx) : 0;
            char style[96];
            snprintf(style, sizeof style, "fill=\"%s\" fill-opacity=\"%.3f\"", v >= 0 ? "#e5484d" : "#2b50ff", a);
            svg_region(b, f, r, "fill=\"#f3f5f8\"");
            svg_region(b, f, r, style);
        }
        dc_sb_put(b, "</svg><figcaption>");
        dc_sb_escape(b, s->class_names[k]);
        dc_sb_printf(b, "<br>%d nonzero</figcaption></figure>\n", nz);
    }
    dc_sb_put(b, "</div>\n");
}

static dc_status section_surrogate(dc_sb *b, const dc_surrogate *s, const dc_dataset *ds, const int32_t *pred,
                                   int n_classes, dc_error *err) {
    if (s->n_classes != n_classes)
        return dc_fail(err, DC_ERR_SHAPE, "report: the surrogate has %d classes but the model %d", s->n_classes,
                       n_classes);
    double fid, acc;
    dc_status st = dc_surrogate_score(s, ds, pred, &fid, &acc, err);
    if (st) return st;
    const bool tree = s->kind == DC_SURR_TREE;
    dc_sb_put(b, "<section id=\"surrogate\">\n<h2>Interpretable surrogate</h2>\n<div class=\"cards\">\n");
    dc_sb_printf(b, "<div class=\"card\"><b>%.2f%%</b><span>fidelity here (agreement with the model), n=%d</span></div>\n",
                 100 * fid, ds->n);
    dc_sb_printf(b, "<div class=\"card\"><b>%.2f%%</b><span>surrogate accuracy here</span></div>\n", 100 * acc);
    dc_sb_printf(b, "<div class=\"card\"><b>%.2f%%</b><span>fidelity when fitted (test, n=%d)</span></div>\n",
                 100 * s->fidelity, s->n_test);
    if (tree)
        dc_sb_printf(b, "<div class=\"card\"><b>%d / %d</b><span>depth / leaves</span></div>\n", s->tree.depth,
                     s->tree.n_leaves);
    else
        dc_sb_printf(b, "<div class=\"card\"><b>%d / %d</b><span>nonzero coefficients</span></div>\n", s->lin.nonzero,
                     s->lin.n_classes * s->lin.n_features);
    dc_sb_put(b, "</div>\n<p class=\"note\">");
    const bool oblique = tree && s->tree_cfg.split == DC_SPLIT_OBLIQUE;
    if (oblique)
        dc_sb_printf(b, "A sparse oblique decision tree (grown by %s CART, then tree alternating optimisation with "
                        "L1-penalised hyperplane splits, &#955; = %g)",
                     s->tree_cfg.criterion == DC_TREE_ENTROPY ? "entropy" : "Gini", s->tree_cfg.lambda);
    else if (tree)
        dc_sb_printf(b, "A %s decision tree", s->tree_cfg.criterion == DC_TREE_ENTROPY ? "entropy" : "CART (Gini)");
    else
        dc_sb_printf(b, "A sparse multinomial logistic model (L1, &#955; = %g)", s->lin.lambda);
    dc_sb_put(b, " fitted to the model's <em>predictions</em> on ");
    dc_sb_printf(b, "%d training images, over the mean intensity of image regions (<code>", s->n_train);
    dc_sb_escape(b, s->feat.spec);
    dc_sb_printf(b, "</code>, %d features). Fidelity is how often it predicts what the model predicts.", s->feat.n_features);
    if (tree)
        dc_sb_printf(b, " Each split shows the region it tests (red) over the mean image; left is &#8804;. The "
                        "first %d levels are drawn; the JSON file holds the whole tree.", TREE_SHOW_DEPTH);
    if (oblique)
        dc_sb_put(b, " An oblique split w&#183;x + b &#8804; 0 is drawn as its weight map over the regions: red where "
                     "more intensity sends an input right, blue where it sends it left, blank where the split does "
                     "not look; hover for its terms.");
    dc_sb_put(b, "</p>\n");
    if (tree) {
        if ((st = svg_tree(b, s, ds, err))) return st;
        if (s->curve_n > 0) {
            double x[DC_SURR_MAX_CURVE];
            for (int d = 0; d < s->curve_n; d++) x[d] = d + 1;
            const chart_series cs[3] = {
                {"test fidelity", "#2456b3", x, s->curve_fidelity, s->curve_n, false},
                {"train fidelity", "#8a93a6", x, s->curve_train_fidelity, s->curve_n, true},
                {"accuracy", "#1a7f37", x, s->curve_accuracy, s->curve_n, false},
            };
            double lo = 1;
            for (int d = 0; d < s->curve_n; d++) lo = fmin(lo, fmin(s->curve_fidelity[d], s->curve_accuracy[d]));
            svg_xy_chart(b, "Fidelity by depth", "depth", "fraction", cs, 3, 1,
                         s->curve_n > 1 ? s->curve_n : 2, floor(lo * 10) / 10, 1.0);
        }
    } else {
        svg_linear(b, s);
    }
    dc_sb_put(b, "</section>\n");
    return DC_OK;
}

static void attack_row(dc_sb *b, const char *name, const dc_mia_attack *a) {
    dc_sb_printf(b, "<tr><td>%s</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr>\n", name, a->auc,
                 a->tpr_at_01, a->tpr_at_1, a->advantage);
}

static void section_membership(dc_sb *b, const dc_membership_result *r) {
    dc_sb_put(b, "<section id=\"membership\">\n<h2>Membership inference</h2>\n<div class=\"cards\">\n");
    const double best = r->has_calibrated ? fmax(r->loss.advantage, r->calibrated.advantage) : r->loss.advantage;
    dc_sb_printf(b, "<div class=\"card\"><b>%.3f</b><span>loss attack AUC</span></div>\n", r->loss.auc);
    if (r->has_calibrated)
        dc_sb_printf(b, "<div class=\"card\"><b>%.3f</b><span>calibrated attack AUC</span></div>\n", r->calibrated.auc);
    dc_sb_printf(b, "<div class=\"card\"><b>%.3f</b><span>membership advantage</span></div>\n", best);
    if (r->dp)
        dc_sb_printf(b, "<div class=\"card\"><b%s>%.3f</b><span>most (&#949; = %.2f, &#948; = %g) permits</span></div>\n",
                     best > r->bound_advantage ? " style=\"color:#b42318\"" : "", r->bound_advantage, r->epsilon,
                     r->delta);
    else
        dc_sb_put(b, "<div class=\"card\"><b>none</b><span>DP bound (not trained with DP)</span></div>\n");
    dc_sb_printf(b, "</div>\n<p class=\"note\">%d members drawn from the model's training set and %d non-members from "
                    "the test split (seed %llu). The loss attack (Yeom et al. 2018) says \"member\" when the loss is "
                    "low; the calibrated attack subtracts how hard each example is for reference models trained "
                    "without it (LiRA's offline test, Carlini et al. 2022). Advantage is max TPR &#8722; FPR over "
                    "thresholds chosen on this audit set. The model: loss %.4f on members, %.4f on non-members.",
                 r->n, r->n, (unsigned long long)r->seed, r->member_loss, r->nonmember_loss);
    if (r->dp)
        dc_sb_put(b, " For (&#949;, &#948;)-DP every test has TPR &#8804; e<sup>&#949;</sup>FPR + &#948; and "
                     "1 &#8722; FPR &#8804; e<sup>&#949;</sup>(1 &#8722; TPR) + &#948;, so the advantage is at most "
                     "(e<sup>&#949;</sup> &#8722; 1 + 2&#948;)/(e<sup>&#949;</sup> + 1).");
    dc_sb_put(b, "</p>\n<div class=\"row\">\n<table>\n<tr><th>attack</th><th>AUC</th><th>TPR at 0.1% FPR</th>"
                 "<th>TPR at 1% FPR</th><th>advantage</th></tr>\n");
    attack_row(b, "loss threshold", &r->loss);
    if (r->has_calibrated) {
        char name[64];
        snprintf(name, sizeof name, "calibrated (%d reference models)", r->n_ref);
        attack_row(b, name, &r->calibrated);
    }
    if (r->dp)
        dc_sb_printf(b, "<tr class=\"avg\"><td>DP bound</td><td>–</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr>\n",
                     r->bound_tpr_at_01, r->bound_tpr_at_1, r->bound_advantage);
    dc_sb_put(b, "</table>\n");
    double diag[2] = {0, 1}, bx[101], by[101];
    for (int i = 0; i <= 100; i++) {
        bx[i] = i / 100.0;
        by[i] = r->dp ? dc_mia_dp_max_tpr(r->epsilon, r->delta, bx[i]) : NAN;
    }
    chart_series cs[4];
    int ns = 0;
    cs[ns++] = (chart_series){"loss", "#2456b3", r->loss.roc_fpr, r->loss.roc_tpr, r->loss.n_roc, false};
    if (r->has_calibrated)
        cs[ns++] = (chart_series){"calibrated", "#d9730d", r->calibrated.roc_fpr, r->calibrated.roc_tpr,
                                  r->calibrated.n_roc, false};
    cs[ns++] = (chart_series){"chance", "#8a93a6", diag, diag, 2, true};
    if (r->dp) cs[ns++] = (chart_series){"DP bound", "#b42318", bx, by, 101, true};
    svg_xy_chart(b, "ROC of the attacks", "false positive rate", "true positive rate", cs, ns, 0, 1, 0, 1);
    dc_sb_put(b, "</div>\n</section>\n");
}

// ---------------------------------------------------------------------------
// The page

dc_report_config dc_report_config_default(void) {
    dc_report_config c;
    memset(&c, 0, sizeof c);
    c.examples = 8;
    c.method = DC_EXPLAIN_IG;
    c.top_k = 5;
    c.n_bins = 15;
    c.batch = 1000;
    c.thr = dc_fairness_thresholds_default();
    return c;
}

dc_status dc_report_render(char **html, size_t *len, dc_model *m, const dc_dataset *ds,
                           const dc_report_config *cfg, dc_error *err) {
    *html = NULL;
    *len = 0;
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    const int C = dc_model_num_classes(m);
    if (ds->c != c || ds->h != h || ds->w != w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d", ds->source,
                       ds->c, ds->h, ds->w, c, h, w);
    if (ds->n < 1) return dc_fail(err, DC_ERR_ARG, "%s: no samples to evaluate", ds->source);
    dc_status st = dc_dataset_check_labels(ds, C, err);
    if (st) return st;
    if (cfg->examples < 0 || cfg->examples > 1000)
        return dc_fail(err, DC_ERR_ARG, "report: examples %d must be in [0, 1000]", cfg->examples);
    if (cfg->top_k < 1 || cfg->n_bins < 1 || cfg->n_bins > 1000 || cfg->batch < 1)
        return dc_fail(err, DC_ERR_ARG, "report: top_k %d and batch %d must be >= 1, bins %d in [1, 1000]",
                       cfg->top_k, cfg->batch, cfg->n_bins);
    if (cfg->groups && cfg->groups->n != ds->n)
        return dc_fail(err, DC_ERR_ARG, "%s: the groups cover %d samples but %s has %d", cfg->groups->origin,
                       cfg->groups->n, ds->source, ds->n);

    float *probs = malloc(sizeof(float) * (size_t)ds->n * C);
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)ds->n);
    dc_metrics mt;
    dc_fairness f;
    memset(&mt, 0, sizeof mt);
    memset(&f, 0, sizeof f);
    dc_sb b = {0};
    if (!probs || !pred) {
        st = dc_fail(err, DC_ERR_NOMEM, "report: out of memory for %d samples", ds->n);
        goto out;
    }
    double loss;
    if ((st = dc_model_predict_dataset(m, ds, cfg->batch, cfg->nthreads, probs, &loss, err))) goto out;
    dc_argmax_rows(pred, probs, ds->n, C);
    if ((st = dc_metrics_compute(&mt, probs, ds->labels, ds->n, C, cfg->top_k, cfg->n_bins, err))) goto out;
    if (cfg->groups && (st = dc_fairness_compute(&f, pred, ds->labels, cfg->groups, C, &cfg->thr, err))) goto out;

    const char *title = cfg->title ? cfg->title : "deepc model report";
    dc_sb_put(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<meta name=\"generator\" content=\"deepc report\">\n<title>");
    dc_sb_escape(&b, title);
    if (cfg->model_path) {
        dc_sb_put(&b, " — ");
        dc_sb_escape(&b, cfg->model_path);
    }
    dc_sb_printf(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n<h1>", page_css);
    dc_sb_escape(&b, title);
    dc_sb_put(&b, "</h1>\n<p>");
    if (cfg->model_path) {
        dc_sb_escape(&b, cfg->model_path);
        dc_sb_put(&b, " · ");
    }
    dc_sb_escape(&b, ds->source);
    if (cfg->generated) {
        dc_sb_put(&b, " · generated ");
        dc_sb_escape(&b, cfg->generated);
    }
    dc_sb_put(&b, "</p>\n</header>\n<nav><a href=\"#summary\">Summary</a><a href=\"#model\">Model</a>"
                  "<a href=\"#data\">Data</a><a href=\"#training\">Training</a><a href=\"#confusion\">Confusion "
                  "matrix</a><a href=\"#metrics\">Per-class metrics</a><a href=\"#calibration\">Calibration</a>"
                  "<a href=\"#examples\">Examples</a><a href=\"#fairness\">Fairness</a>");
    if (cfg->surrogate) dc_sb_put(&b, "<a href=\"#surrogate\">Surrogate</a>");
    if (cfg->membership) dc_sb_put(&b, "<a href=\"#membership\">Membership</a>");
    dc_sb_put(&b, "</nav>\n<main>\n");

    // summary cards
    dc_sb_put(&b, "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"cards\">\n");
    dc_sb_printf(&b, "<div class=\"card\"><b>%.2f%%</b><span>accuracy, n=%d</span></div>\n",
                 100 * mt.accuracy, mt.n);
    dc_sb_printf(&b, "<div class=\"card\"><b>%.2f%%</b><span>top-%d accuracy</span></div>\n", 100 * mt.top_k_accuracy,
                 mt.top_k);
    dc_sb_printf(&b, "<div class=\"card\"><b>%.4f</b><span>cross-entropy loss</span></div>\n", loss);
    dc_sb_printf(&b, "<div class=\"card\"><b>%.4f</b><span>macro F1</span></div>\n", mt.macro_f1);
    dc_sb_printf(&b, "<div class=\"card\"><b>%.4f</b><span>ECE (%d bins)</span></div>\n", mt.ece, mt.n_bins);
    dc_sb_printf(&b, "<div class=\"card\"><b>%zu</b><span>parameters</span></div>\n", dc_model_num_params(m));
    dc_sb_printf(&b, "<div class=\"card\"><b>%d</b><span>epochs trained</span></div>\n", dc_model_epochs_done(m));
    if (cfg->groups) {
        int nf = 0;
        for (unsigned fl = f.flags; fl; fl >>= 1) nf += fl & 1u;
        dc_sb_printf(&b, "<div class=\"card\"><b%s>%d of 3</b><span>fairness flags</span></div>\n",
                     nf ? " style=\"color:#b42318\"" : "", nf);
    }
    dc_sb_put(&b, "</div>\n</section>\n");

    section_model(&b, m, cfg);
    section_data(&b, m, ds, &mt, cfg);
    section_training(&b, m);
    section_confusion(&b, m, &mt);
    section_metrics(&b, m, &mt);
    section_calibration(&b, &mt);
    int shown;
    if ((st = section_examples(&b, m, ds, probs, pred, cfg, &shown, err))) goto out;
    section_fairness(&b, m, cfg->groups, &f);
    if (cfg->surrogate && (st = section_surrogate(&b, cfg->surrogate, ds, pred, C, err))) goto out;
    if (cfg->membership) section_membership(&b, cfg->membership);
    dc_sb_put(&b, "</main>\n<footer>Made by <code>deepc report</code>: one file, no scripts, nothing loaded from "
                  "elsewhere.</footer>\n</body>\n</html>\n");
    if (b.oom) {
        st = dc_fail(err, DC_ERR_NOMEM, "report: out of memory building the page");
        goto out;
    }
    *html = b.s;
    *len = b.len;
    b.s = NULL;
out:
    dc_sb_free(&b);
    dc_fairness_free(&f);
    dc_metrics_free(&mt);
    free(probs);
    free(pred);
    return st;
}

dc_status dc_report_write(const char *path, dc_model *m, const dc_dataset *ds, const dc_report_config *cfg,
                          size_t *bytes, dc_error *err) {
    char *html;
    size_t len;
    dc_status st = dc_report_render(&html, &len, m, ds, cfg, err);
    if (st) return st;
    dc_buf part = {html, len};
    st = dc_write_atomic(path, &part, 1, err);
    free(html);
    if (!st && bytes) *bytes = len;
    return st;
}
