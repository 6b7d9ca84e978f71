// gradient.c — gradient attributions: saliency, gradient x input, integrated
// gradients and Grad-CAM. All differentiate the target LOGIT (not the
// probability): the logit is what torch.autograd.grad is usually applied to
// for these maps (Captum's default), it does not saturate as the softmax
// does, and IG's completeness then reads f(x) - f(baseline) in logits.
//
// Integrated gradients (Sundararajan et al. 2017):
//   attr_i = (x_i - b_i) * mean_k dF/dx_i (b + a_k (x - b)),  a_k = (k + 0.5)/steps
// i.e. the midpoint Riemann sum, whose error falls as 1/steps^2 (the left or
// right sums fall as 1/steps). The path points, and x and b themselves (for
// f(x) and f(b)), go through the model in batches of the explainer's size.
//
// Grad-CAM (Selvaraju et al. 2017) on layer L with output A (K, h, w):
//   w_k = mean_ij dF/dA_kij,  cam = ReLU(sum_k w_k A_k),
// upsampled to the input with bilinear interpolation, align_corners=False
// (F.interpolate's convention), so it compares with PyTorch bit for bit up to
// float rounding.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"

dc_status dc_ex_saliency(dc_explainer *ex, const float *x, dc_explanation *e, bool times_input,
                         dc_error *err) {
    (void)err;
    // x (C,H,W); attr (H,W) for saliency, (C,H,W) for gradient x input
    const size_t P = (size_t)ex->H * ex->W;
    memcpy(dc_ex_input(ex), x, sizeof(float) * ex->in_size);
    dc_ex_forward(ex, 1);
    dc_ex_backward_logit(ex, 1, e->target, ex->dinput, -1, NULL);
    const float *g = ex->dinput;
    for (int k = 0; k < e->tab_f; k++) // the tabular row: |d/dt| or t * d/dt
        e->tab_attr[k] = times_input ? ex->dtab[k] * ex->tab_row[k] : fabsf(ex->dtab[k]);
    if (times_input) {
        for (size_t i = 0; i < ex->in_size; i++) e->attr[i] = g[i] * x[i];
    } else {
        for (size_t p = 0; p < P; p++) {
            float mx = fabsf(g[p]);
            for (int c = 1; c < ex->C; c++) mx = fmaxf(mx, fabsf(g[(size_t)c * P + p]));
            e->attr[p] = mx;
        }
    }
    e->evaluations += 1;
    return DC_OK;
}

dc_status dc_ex_ig(dc_explainer *ex, const float *x, const float *base, int steps, dc_explanation *e,
                   dc_error *err) {
    // rows 0..steps-1: path midpoints; row steps: x; row steps+1: baseline
    const size_t D = ex->in_size;
    const int total = steps + 2, K = ex->n_classes;
    double *gsum = calloc(D, sizeof(double)), *tsum = calloc((size_t)ex->tab_f + 1, sizeof(double));
    if (!gsum || !tsum) {
        free(gsum);
        free(tsum);
        return dc_fail(err, DC_ERR_NOMEM, "integrated gradients: out of memory");
    }
    const int F = e->tab_f; // the tabular row walks its own path, from 0 (the column means)
    for (int lo = 0; lo < total; lo += ex->batch) {
        int nb = total - lo < ex->batch ? total - lo : ex->batch;
        for (int r = 0; r < nb; r++) {
            int k = lo + r;
            float *row = dc_ex_input(ex) + (size_t)r * D;
            if (k < steps) {
                float a = (float)((k + 0.5) / steps);
                for (size_t i = 0; i < D; i++) row[i] = base[i] + a * (x[i] - base[i]);
            } else {
                memcpy(row, k == steps ? x : base, sizeof(float) * D);
            }
        }
        if (F) {
            float *trow = dc_ex_tabular(ex);
            for (int r = 0; r < nb; r++) {
                int k = lo + r;
                float a = k < steps ? (float)((k + 0.5) / steps) : k == steps ? 1.0f : 0.0f;
                for (int j = 0; j < F; j++) trow[(size_t)r * F + j] = a * ex->tab_row[j];
            }
        }
        const float *logits = dc_ex_forward(ex, nb);
        for (int r = 0; r < nb; r++) {
            if (lo + r == steps) e->f_input = logits[(size_t)r * K + e->target];
            if (lo + r == steps + 1) e->f_baseline = logits[(size_t)r * K + e->target];
        }
        // the gradient rows of x and b are not needed: backward the path only
        int ng = steps - lo < nb ? steps - lo : nb;
        if (ng > 0) {
            dc_ex_backward_logit(ex, ng, e->target, ex->dinput, -1, NULL);
            for (int r = 0; r < ng; r++) {
                const float *g = ex->dinput + (size_t)r * D;
                for (size_t i = 0; i < D; i++) gsum[i] += g[i];
                for (int j = 0; j < F; j++) tsum[j] += ex->dtab[(size_t)r * F + j];
            }
        }
    }
    double s = 0.0;
    for (size_t i = 0; i < D; i++) {
        e->attr[i] = (float)((x[i] - base[i]) * gsum[i] / steps);
        s += e->attr[i];
    }
    for (int j = 0; j < F; j++) {
        e->tab_attr[j] = (float)(ex->tab_row[j] * tsum[j] / steps);
        s += e->tab_attr[j];
    }
    e->attr_sum = s;
    e->evaluations += total;
    free(gsum);
    free(tsum);
    return DC_OK;
}

void dc_ex_resize_bilinear(float *dst, int oh, int ow, const float *src, int ih, int iw) {
    // src (ih, iw) -> dst (oh, ow); source coordinate (d + 0.5) * in/out - 0.5,
    // clamped at 0 below (as PyTorch's upsample_bilinear2d)
    const double sy = (double)ih / oh, sx = (double)iw / ow;
    for (int y = 0; y < oh; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy;
        if (y0 > ih - 1) y0 = ih - 1;
        int y1 = y0 + 1 < ih ? y0 + 1 : ih - 1;
        double ty = fy - y0;
        for (int x = 0; x < ow; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            int x0 = (int)fx;
            if (x0 > iw - 1) x0 = iw - 1;
            int x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
            double tx = fx - x0;
            double top = (1 - tx) * src[(size_t)y0 * iw + x0] + tx * src[(size_t)y0 * iw + x1];
            double bot = (1 - tx) * src[(size_t)y1 * iw + x0] + tx * src[(size_t)y1 * iw + x1];
            dst[(size_t)y * ow + x] = (float)((1 - ty) * top + ty * bot);
        }
    }
}

dc_status dc_ex_gradcam(dc_explainer *ex, const float *x, const char *layer, dc_explanation *e,
                        dc_error *err) {
    const dc_model *m = ex->m;
    int li = -1;
    if (layer) {
        li = dc_model_find_node(m, layer);
        if (li < 1) {
            char names[512] = "";
            size_t len = 0;
            for (int i = 1; i < m->n_nodes && len < sizeof names - 40; i++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i > 1 ? ", " : "", m->nodes[i].name);
            return dc_fail(err, DC_ERR_ARG, "gradcam: no layer named '%s' (layers: %s)", layer, names);
        }
    } else {
        // the last convolution: the last node with a 4-D (OC,C,K,K) weight
        for (int i = 1; i < m->n_nodes; i++)
            if (m->nodes[i].n_t && m->nodes[i].t[0].rank == 4 && m->nodes[i].t[0].buf == DC_BUF_PARAM) li = i;
        if (li < 0)
            return dc_fail(err, DC_ERR_ARG, "gradcam: the model has no conv2d layer (name a layer with --layer)");
    }
    const dc_node *l = &m->nodes[li];
    if (l->h * l->w < 2)
        return dc_fail(err, DC_ERR_ARG,
                       "gradcam: layer %s outputs %dx%dx%d, a vector; Grad-CAM needs a spatial map (a conv, activation or pool layer)",
                       l->name, l->c, l->h, l->w);
    snprintf(e->layer, sizeof e->layer, "%s", l->name);
    const int Kc = l->c, hw = l->h * l->w;
    memcpy(dc_ex_input(ex), x, sizeof(float) * ex->in_size);
    dc_ex_forward(ex, 1);
    dc_ex_backward_logit(ex, 1, e->target, NULL, li, ex->dlayer);
    const float *A = dc_runtime_node_output(ex->rt, li), *G = ex->dlayer; // both (Kc, h, w)
    float *cam = malloc(sizeof(float) * (size_t)hw);
    if (!cam) return dc_fail(err, DC_ERR_NOMEM, "gradcam: out of memory");
    for (int p = 0; p < hw; p++) cam[p] = 0.0f;
    for (int k = 0; k < Kc; k++) {
        double w = 0.0;
        for (int p = 0; p < hw; p++) w += G[(size_t)k * hw + p];
        w /= hw;
        for (int p = 0; p < hw; p++) cam[p] += (float)(w * A[(size_t)k * hw + p]);
    }
    for (int p = 0; p < hw; p++) cam[p] = cam[p] > 0.0f ? cam[p] : 0.0f;
    dc_ex_resize_bilinear(e->attr, ex->H, ex->W, cam, l->h, l->w);
    free(cam);
    e->evaluations += 1;
    return DC_OK;
}
