// perturb.c — perturbation attributions: occlusion, LIME and Kernel SHAP.
// They only run the model forward, on batches of perturbed copies of the
// input, and explain the target probability (or logit, cfg->output).
//
// Occlusion (Zeiler & Fergus 2014): a window x window patch slides with
// `stride` (plus one last position flush with the right/bottom edge, so
// every pixel is covered); each copy has the patch set to `fill` in every
// channel. A pixel's attribution is the mean, over the windows covering it,
// of f(x) - f(occluded copy): positive where hiding it lowers the output.
//
// LIME (Ribeiro et al. 2016, as lime_image does it): S binary vectors z over
// F superpixels, the first all ones, the rest uniform random bits; a copy of
// the input keeps superpixel j where z_j = 1 and takes the baseline where
// z_j = 0. Sample weights pi = sqrt(exp(-d^2 / width^2)) with d the cosine
// distance between z and the all-ones vector (1 - sqrt(|z|/F); 1 for z = 0).
// Fit: ridge regression with an unpenalised intercept (sklearn's Ridge with
// sample_weight): beta = (Zc' Pi Zc + alpha I)^-1 Zc' Pi yc with Zc, yc
// centred by their weighted means. The score is the weighted R^2.
//
// Kernel SHAP (Lundberg & Lee 2017; coalition sampling as shap's
// KernelExplainer): coalition sizes whose every subset fits in the budget
// are enumerated completely (with their complements, paired sizes s and
// F-s), with the Shapley kernel weight of that size split evenly; the rest
// of the budget draws sizes from the remaining kernel weight and random
// subsets of that size (each with its complement), repeats adding weight to
// the first copy, and the drawn samples share the remaining weight in
// proportion to their counts. Then weighted least squares with the two
// constraints phi_0 = f(baseline) and sum_j phi_j = f(x) - f(baseline)
// enforced exactly by eliminating the last feature:
//   y - f(b) - z_F (f(x) - f(b)) = sum_{j<F} phi_j (z_j - z_F).
// For a model that is additive over the superpixels (a linear model) the
// system is exactly solvable, so the result is exact.
//
// Why a hand-written solver (solve.c): the systems are F or F-1 unknowns,
// 16 to a few hundred, symmetric positive definite; Cholesky is 30 lines,
// while LAPACK would be a new dependency for one call.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"

// ---------------------------------------------------------------------------
// Occlusion

typedef struct occ_ctx {
    const float *x;
    const int *ys, *xs; // window origins: (ny), (nx)
    int nx, win_h, win_w, C, H, W;
    const float *fill; // (C) the patch value of each channel
} occ_ctx;

static void occ_make(float *img, int i, void *user) {
    const occ_ctx *o = user;
    const size_t P = (size_t)o->H * o->W;
    memcpy(img, o->x, sizeof(float) * o->C * P);
    if (i == 0) return; // row 0: the unoccluded input
    int y0 = o->ys[(i - 1) / o->nx], x0 = o->xs[(i - 1) % o->nx];
    for (int c = 0; c < o->C; c++)
        for (int y = y0; y < y0 + o->win_h; y++)
            for (int x = x0; x < x0 + o->win_w; x++) img[c * P + (size_t)y * o->W + x] = o->fill[c];
}

// Window origins along one axis of length n: 0, s, 2s, ... and n - w last.
static int positions(int *pos, int n, int w, int s) {
    int k = 0;
    for (int p = 0; p + w <= n; p += s) pos[k++] = p;
    if (pos[k - 1] != n - w) pos[k++] = n - w;
    return k;
}

dc_status dc_ex_occlusion(dc_explainer *ex, const float *x, const dc_explain_config *cfg,
                          dc_explanation *e, dc_error *err) {
    const int H = ex->H, W = ex->W;
    occ_ctx o = {.x = x, .C = ex->C, .H = H, .W = W};
    o.win_h = cfg->window < H ? cfg->window : H;
    o.win_w = cfg->window < W ? cfg->window : W;
    // the patch: --fill in every channel, or black (each channel's own
    // normalised 0: colour models normalise per channel)
    float *fill = malloc(sizeof(float) * (size_t)o.C);
    for (int c = 0; fill && c < o.C; c++)
        fill[c] = cfg->fill_black ? -ex->m->norm_mean[c] / ex->m->norm_std[c] : cfg->fill;
    o.fill = fill;
    int *ys = malloc(sizeof(int) * (size_t)(H + 1)), *xs = malloc(sizeof(int) * (size_t)(W + 1));
    double *cnt = calloc((size_t)H * W, sizeof(double)), *sum = calloc((size_t)H * W, sizeof(double));
    double *y = NULL;
    dc_status st = DC_OK;
    if (!fill || !ys || !xs || !cnt || !sum) goto nomem;
    int ny = positions(ys, H, o.win_h, cfg->stride), nx = positions(xs, W, o.win_w, cfg->stride);
    o.ys = ys;
    o.xs = xs;
    o.nx = nx;
    const int n = 1 + ny * nx;
    if (!(y = malloc(sizeof(double) * (size_t)n))) goto nomem;
    dc_ex_eval(ex, n, occ_make, &o, e->target, cfg->output, y);
    for (int i = 1; i < n; i++) {
        int y0 = ys[(i - 1) / nx], x0 = xs[(i - 1) % nx];
        double drop = y[0] - y[i];
        for (int r = y0; r < y0 + o.win_h; r++)
            for (int c = x0; c < x0 + o.win_w; c++) {
                sum[(size_t)r * W + c] += drop;
                cnt[(size_t)r * W + c] += 1.0;
            }
    }
    for (size_t p = 0; p < (size_t)H * W; p++) e->attr[p] = cnt[p] > 0 ? (float)(sum[p] / cnt[p]) : 0.0f;
    e->f_input = y[0];
    e->evaluations += n;
    goto done;
nomem:
    st = dc_fail(err, DC_ERR_NOMEM, "occlusion: out of memory");
done:
    free(fill);
    free(ys);
    free(xs);
    free(cnt);
    free(sum);
    free(y);
    return st;
}

// ---------------------------------------------------------------------------
// Superpixel masking shared by LIME and SHAP

typedef struct mask_ctx {
    const float *x, *base;
    const int32_t *seg;  // (P) superpixel per pixel
    const uint8_t *z;    // (S, F) on/off per feature
    int F, C;
    size_t P;
} mask_ctx;

static void mask_make(float *img, int i, void *user) {
    const mask_ctx *m = user;
    const uint8_t *z = m->z + (size_t)i * m->F;
    for (int c = 0; c < m->C; c++) {
        const float *xc = m->x + c * m->P, *bc = m->base + c * m->P;
        float *ic = img + c * m->P;
        for (size_t p = 0; p < m->P; p++) ic[p] = z[m->seg[p]] ? xc[p] : bc[p];
    }
}

// Segments x into e->segments and allocates e->feature_attr.
static dc_status features(dc_explainer *ex, const float *x, const dc_explain_config *cfg,
                          dc_explanation *e, dc_error *err) {
    const size_t P = (size_t)ex->H * ex->W;
    e->segments = malloc(sizeof(int32_t) * P);
    if (!e->segments) return dc_fail(err, DC_ERR_NOMEM, "superpixels: out of memory");
    dc_status st = dc_ex_segment(e->segments, &e->n_features, cfg->segments ? cfg->segments : "grid:4", x, ex->C,
                                 ex->H, ex->W, ex->m->norm_mean, ex->m->norm_std, err);
    if (st) return st;
    e->feature_attr = calloc((size_t)e->n_features, sizeof(float));
    if (!e->feature_attr) return dc_fail(err, DC_ERR_NOMEM, "superpixels: out of memory");
    return DC_OK;
}

// attr[p] = feature_attr[seg[p]] / (pixels in that superpixel)
static dc_status paint(dc_explanation *e, dc_error *err) {
    const size_t P = (size_t)e->h * e->w;
    int *count = calloc((size_t)e->n_features, sizeof(int));
    if (!count) return dc_fail(err, DC_ERR_NOMEM, "superpixels: out of memory");
    for (size_t p = 0; p < P; p++) count[e->segments[p]]++;
    for (size_t p = 0; p < P; p++) e->attr[p] = e->feature_attr[e->segments[p]] / (float)count[e->segments[p]];
    free(count);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// LIME

dc_status dc_ex_lime(dc_explainer *ex, const float *x, const float *base, const dc_explain_config *cfg,
                     dc_explanation *e, dc_error *err) {
    dc_status st = features(ex, x, cfg, e, err);
    if (st) return st;
    const int F = e->n_features, S = cfg->samples;
    uint8_t *z = malloc((size_t)S * F);
    double *y = malloc(sizeof(double) * S), *pi = malloc(sizeof(double) * S);
    double *A = calloc((size_t)F * F, sizeof(double)), *b = calloc((size_t)F, sizeof(double));
    double *zm = calloc((size_t)F, sizeof(double));
    if (!z || !y || !pi || !A || !b || !zm) {
        st = dc_fail(err, DC_ERR_NOMEM, "lime: out of memory for %d samples of %d features", S, F);
        goto done;
    }
    dc_rng rng = dc_rng_stream(cfg->seed, 0x6c696d65 /* "lime" */, 0);
    memset(z, 1, (size_t)F); // the first sample is the input itself
    for (int s = 1; s < S; s++) {
        uint64_t bits = 0;
        for (int j = 0; j < F; j++) {
            if (j % 64 == 0) bits = dc_rng_u64(&rng);
            z[(size_t)s * F + j] = (uint8_t)(bits & 1);
            bits >>= 1;
        }
    }
    mask_ctx mc = {x, base, e->segments, z, F, ex->C, (size_t)ex->H * ex->W};
    dc_ex_eval(ex, S, mask_make, &mc, e->target, cfg->output, y);
    // kernel weights and weighted means
    double wsum = 0.0, ym = 0.0;
    const double kw2 = (double)cfg->kernel_width * cfg->kernel_width;
    for (int s = 0; s < S; s++) {
        int on = 0;
        for (int j = 0; j < F; j++) on += z[(size_t)s * F + j];
        double d = on ? 1.0 - sqrt((double)on / F) : 1.0;
        pi[s] = sqrt(exp(-d * d / kw2));
        wsum += pi[s];
        ym += pi[s] * y[s];
        for (int j = 0; j < F; j++) zm[j] += pi[s] * z[(size_t)s * F + j];
    }
    ym /= wsum;
    for (int j = 0; j < F; j++) zm[j] /= wsum;
    // normal equations of the centred weighted problem (lower triangle)
    double *zc = malloc(sizeof(double) * F);
    if (!zc) {
        st = dc_fail(err, DC_ERR_NOMEM, "lime: out of memory");
        goto done;
    }
    for (int s = 0; s < S; s++) {
        for (int j = 0; j < F; j++) zc[j] = z[(size_t)s * F + j] - zm[j];
        double yc = y[s] - ym;
        for (int i = 0; i < F; i++) {
            double wi = pi[s] * zc[i];
            b[i] += wi * yc;
            for (int j = 0; j <= i; j++) A[(size_t)i * F + j] += wi * zc[j];
        }
    }
    free(zc);
    for (int i = 0; i < F; i++) A[(size_t)i * F + i] += cfg->ridge_alpha;
    if (!dc_ex_cholesky_solve(A, b, F)) {
        st = dc_fail(err, DC_ERR_NUMERIC, "lime: the ridge system is not positive definite (non-finite outputs?)");
        goto done;
    }
    double icpt = ym;
    for (int j = 0; j < F; j++) {
        e->feature_attr[j] = (float)b[j];
        icpt -= zm[j] * b[j];
    }
    // weighted R^2 of the fit
    double ss_res = 0.0, ss_tot = 0.0;
    for (int s = 0; s < S; s++) {
        double pred = icpt;
        for (int j = 0; j < F; j++) pred += b[j] * z[(size_t)s * F + j];
        ss_res += pi[s] * (y[s] - pred) * (y[s] - pred);
        ss_tot += pi[s] * (y[s] - ym) * (y[s] - ym);
    }
    e->intercept = icpt;
    e->score = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 1.0;
    e->f_input = y[0];
    e->evaluations += S;
    st = paint(e, err);
done:
    free(z);
    free(y);
    free(pi);
    free(A);
    free(b);
    free(zm);
    return st;
}

// ---------------------------------------------------------------------------
// Kernel SHAP

typedef struct shap_set {
    int F, n, cap;      // features, samples added, capacity (rows)
    uint8_t *z;         // (cap, F) coalitions; rows 0, 1 are "none" and "all"
    double *w;          // (cap) kernel weights
    int32_t *table;     // open-addressing hash of drawn masks -> row, -1 empty
    uint64_t tmask;     // table size - 1
} shap_set;

static uint64_t hash_mask(const uint8_t *z, int F) {
    uint64_t h = 1469598103934665603ULL; // FNV-1a
    for (int j = 0; j < F; j++) {
        h ^= z[j];
        h *= 1099511628211ULL;
    }
    return h;
}

static int add_row(shap_set *s, const uint8_t *z, double w) {
    memcpy(s->z + (size_t)s->n * s->F, z, (size_t)s->F);
    s->w[s->n] = w;
    return s->n++;
}

// Row of z if drawn before (and registered), else -1 after registering row `row`.
static int lookup_or_insert(shap_set *s, const uint8_t *z, int row) {
    uint64_t h = hash_mask(z, s->F) & s->tmask;
    for (;;) {
        int32_t r = s->table[h];
        if (r < 0) {
            s->table[h] = row;
            return -1;
        }
        if (!memcmp(s->z + (size_t)r * s->F, z, (size_t)s->F)) return r;
        h = (h + 1) & s->tmask;
    }
}

static double binom(int n, int k) {
    double r = 1.0;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

// Coalitions as shap's KernelExplainer samples them (see the top).
static dc_status shap_sample(shap_set *s, int F, int nsamples, dc_rng *rng, dc_error *err) {
    const int n_sizes = F / 2;            // ceil((F-1)/2)
    const int n_paired = (F - 1) / 2;     // floor((F-1)/2)
    double *wv = malloc(sizeof(double) * (n_sizes + 1)), *rem = malloc(sizeof(double) * (n_sizes + 1));
    int *idx = malloc(sizeof(int) * F);
    uint8_t *z = malloc((size_t)F);
    s->F = F;
    s->cap = nsamples + 2;
    s->z = malloc((size_t)s->cap * F);
    s->w = calloc((size_t)s->cap, sizeof(double));
    uint64_t tsize = 16;
    while (tsize < 2 * (uint64_t)s->cap) tsize *= 2;
    s->table = malloc(sizeof(int32_t) * tsize);
    s->tmask = tsize - 1;
    if (!wv || !rem || !idx || !z || !s->z || !s->w || !s->table) {
        free(wv);
        free(rem);
        free(idx);
        free(z);
        return dc_fail(err, DC_ERR_NOMEM, "kernelshap: out of memory for %d coalitions of %d features", nsamples, F);
    }
    for (uint64_t i = 0; i < tsize; i++) s->table[i] = -1;
    memset(z, 0, (size_t)F);
    add_row(s, z, 0.0); // row 0: no feature (f(baseline))
    memset(z, 1, (size_t)F);
    add_row(s, z, 0.0); // row 1: every feature (f(x))
    double tot = 0.0;
    for (int k = 1; k <= n_sizes; k++) {
        wv[k - 1] = (F - 1.0) / ((double)k * (F - k));
        if (k <= n_paired) wv[k - 1] *= 2;
        tot += wv[k - 1];
    }
    for (int k = 0; k < n_sizes; k++) rem[k] = wv[k] /= tot;
    double left = nsamples;
    int n_full = 0;
    for (int k = 1; k <= n_sizes; k++) {
        double nsub = binom(F, k) * (k <= n_paired ? 2 : 1);
        if (left * rem[k - 1] / nsub < 1.0 - 1e-8) break;
        n_full++;
        left -= nsub;
        if (rem[k - 1] < 1.0) {
            double d = 1.0 - rem[k - 1];
            for (int q = 0; q < n_sizes; q++) rem[q] /= d;
        }
        double w = wv[k - 1] / binom(F, k);
        if (k <= n_paired) w /= 2.0;
        // every subset of size k in lexicographic order of its index set
        for (int i = 0; i < k; i++) idx[i] = i;
        for (;;) {
            memset(z, 0, (size_t)F);
            for (int i = 0; i < k; i++) z[idx[i]] = 1;
            add_row(s, z, w);
            if (k <= n_paired) {
                for (int j = 0; j < F; j++) z[j] ^= 1;
                add_row(s, z, w);
            }
            int i = k - 1;
            while (i >= 0 && idx[i] == F - k + i) i--;
            if (i < 0) break;
            idx[i]++;
            for (int j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
        }
    }
    const int n_fixed = s->n;
    int samples_left = nsamples - (n_fixed - 2);
    if (n_full != n_sizes && samples_left > 0) {
        // remaining kernel weight over the sizes not enumerated; paired sizes
        // are halved because each draw adds the complement too
        double rt = 0.0;
        for (int k = n_full; k < n_sizes; k++) {
            rem[k] = wv[k] / (k + 1 <= n_paired ? 2.0 : 1.0);
            rt += rem[k];
        }
        long draws = 0, max_draws = 4L * samples_left;
        while (samples_left > 0 && draws < max_draws) {
            draws++;
            double u = dc_rng_uniform(rng) * rt, acc = 0.0;
            int k = n_full;
            for (; k < n_sizes - 1; k++) {
                acc += rem[k];
                if (u < acc) break;
            }
            int size = k + 1;
            // a uniform random subset of `size` features: partial Fisher-Yates
            for (int j = 0; j < F; j++) idx[j] = j;
            memset(z, 0, (size_t)F);
            for (int j = 0; j < size; j++) {
                int r = j + (int)dc_rng_below(rng, (uint32_t)(F - j));
                int t = idx[j];
                idx[j] = idx[r];
                idx[r] = t;
                z[idx[j]] = 1;
            }
            int row = lookup_or_insert(s, z, s->n);
            bool fresh = row < 0;
            if (fresh) {
                row = add_row(s, z, 1.0);
                samples_left--;
            } else {
                s->w[row] += 1.0;
            }
            if (samples_left > 0 && size <= n_paired) {
                for (int j = 0; j < F; j++) z[j] ^= 1;
                if (fresh) {
                    add_row(s, z, 1.0);
                    samples_left--;
                } else if (row + 1 < s->n && !memcmp(s->z + (size_t)(row + 1) * F, z, (size_t)F)) {
                    s->w[row + 1] += 1.0;
                }
            }
        }
        double wleft = 0.0, wdrawn = 0.0;
        for (int k = n_full; k < n_sizes; k++) wleft += wv[k];
        for (int r = n_fixed; r < s->n; r++) wdrawn += s->w[r];
        if (wdrawn > 0)
            for (int r = n_fixed; r < s->n; r++) s->w[r] *= wleft / wdrawn;
    }
    free(wv);
    free(rem);
    free(idx);
    free(z);
    return DC_OK;
}

dc_status dc_ex_kernelshap(dc_explainer *ex, const float *x, const float *base, const dc_explain_config *cfg,
                           dc_explanation *e, dc_error *err) {
    dc_status st = features(ex, x, cfg, e, err);
    if (st) return st;
    const int F = e->n_features;
    int nsamples = cfg->samples;
    if (F < 31 && nsamples > (1 << F) - 2) nsamples = (1 << F) - 2; // every coalition
    shap_set s = {0};
    double *y = NULL, *A = NULL, *b = NULL;
    dc_rng rng = dc_rng_stream(cfg->seed, 0x73686170 /* "shap" */, 0);
    if (F >= 2 && (st = shap_sample(&s, F, nsamples, &rng, err))) goto done;
    if (F < 2) { // one superpixel: phi = f(x) - f(b), from the two end points
        s.F = F;
        s.cap = 2;
        s.z = malloc(2);
        s.w = calloc(2, sizeof(double));
        if (!s.z || !s.w) goto nomem;
        s.z[0] = 0;
        s.z[1] = 1;
        s.n = 2;
    }
    y = malloc(sizeof(double) * s.n);
    if (!y) goto nomem;
    mask_ctx mc = {x, base, e->segments, s.z, F, ex->C, (size_t)ex->H * ex->W};
    dc_ex_eval(ex, s.n, mask_make, &mc, e->target, cfg->output, y);
    const double fnull = y[0], fx = y[1], delta = fx - fnull;
    e->f_input = fx;
    e->f_baseline = fnull;
    e->evaluations += s.n;
    if (F < 2) {
        e->feature_attr[0] = (float)delta;
    } else {
        const int U = F - 1; // unknowns after eliminating the last feature
        A = calloc((size_t)U * U, sizeof(double));
        b = calloc((size_t)U, sizeof(double));
        double *d = malloc(sizeof(double) * U);
        if (!A || !b || !d) {
            free(d);
            goto nomem;
        }
        for (int r = 2; r < s.n; r++) {
            const uint8_t *z = s.z + (size_t)r * F;
            const double zl = z[F - 1], t = y[r] - fnull - zl * delta, w = s.w[r];
            for (int j = 0; j < U; j++) d[j] = z[j] - zl;
            for (int i = 0; i < U; i++) {
                if (d[i] == 0.0) continue;
                double wi = w * d[i];
                b[i] += wi * t;
                for (int j = 0; j <= i; j++) A[(size_t)i * U + j] += wi * d[j];
            }
        }
        free(d);
        if (!dc_ex_cholesky_solve(A, b, U)) {
            st = dc_fail(err, DC_ERR_NUMERIC,
                         "kernelshap: %d coalitions do not determine %d superpixel values (raise --samples or use fewer segments)",
                         s.n - 2, F);
            goto done;
        }
        double sum = 0.0;
        for (int j = 0; j < U; j++) {
            e->feature_attr[j] = (float)b[j];
            sum += b[j];
        }
        e->feature_attr[U] = (float)(delta - sum);
    }
    double tot = 0.0;
    for (int j = 0; j < F; j++) tot += e->feature_attr[j];
    e->attr_sum = tot;
    st = paint(e, err);
    goto done;
nomem:
    st = dc_fail(err, DC_ERR_NOMEM, "kernelshap: out of memory");
done:
    free(s.z);
    free(s.w);
    free(s.table);
    free(y);
    free(A);
    free(b);
    return st;
}
