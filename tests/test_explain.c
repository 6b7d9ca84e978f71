// test_explain.c — attribution methods, faithfulness scores, feature maps and
// the .npy/.png writers.
//
// 1. LeNet-5 against PyTorch (tests/fixtures/explain_lenet5.dcfx from
//    tests/gen_explain_fixtures.py): input gradient, saliency, gradient x
//    input, Grad-CAM on conv2, integrated gradients (64 midpoints from
//    black) and occlusion (4x4, stride 2, fill 0), with 1 and 2 threads.
//    Tolerance 1e-5 relative plus 1e-5 of the map's largest value absolute
//    (gradients are sums of hundreds of products; PyTorch's summation order
//    differs from ours; near-zero entries need the absolute part).
// 2. Axioms and exact cases: IG completeness within 1% at 64 steps on LeNet
//    (black and blur baselines); on a linear model IG and Kernel SHAP equal
//    w * (x - b) (per pixel / summed per superpixel) and Kernel SHAP sums to
//    f(x) - f(b) on LeNet too (probability output, grid and SLIC).
// 3. A model that looks only at one 4x4 patch: occlusion, LIME and Kernel
//    SHAP put their largest attribution there; deletion/insertion rank a
//    good map above a reversed one.
// 4. Bad inputs, determinism (seeded), dropout models, npy/png round trips,
//    the solvers against each other, feature maps written.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include "fixture.h"
#include "harness.h"
#include "explain/explain.h"
#include "io/npy.h"
#include "io/png_write.h"

static const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                              "fc1.bias",     "fc2.weight", "fc2.bias",     "fc3.weight", "fc3.bias"};

static float *param_view(dc_model *m, const char *name, size_t *n) {
    const dc_tensor_ref *t = dc_model_find_tensor(m, name);
    if (!t || t->buf != DC_BUF_PARAM) return NULL;
    *n = t->n;
    return m->params + t->off;
}

static double max_abs(const float *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static int argmax_f(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

// ---------------------------------------------------------------------------
// 1. LeNet-5 against PyTorch

static dc_model *lenet_from_fixture(const dcfx *fx) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    for (int k = 0; k < 10; k++) {
        size_t n = 0;
        float *p = param_view(m, names[k], &n);
        const float *t = dcfx_data(fx, names[k], n);
        CHECK(p && t, "%s", names[k]);
        if (p && t) memcpy(p, t, sizeof(float) * n);
    }
    const float *norm = dcfx_data(fx, "norm", 2);
    m->norm_mean[0] = norm[0];
    m->norm_std[0] = norm[1];
    return m;
}

static void lenet_vs_torch(int nthreads) {
    printf("LeNet-5 attributions vs PyTorch, %d thread(s)\n", nthreads);
    dcfx fx;
    if (dcfx_load(&fx, dc_src_path("tests/fixtures/explain_lenet5.dcfx"))) {
        CHECK(0, "%s", fx.err);
        return;
    }
    dc_model *m = lenet_from_fixture(&fx);
    const dcfx_tensor *xt = dcfx_get(&fx, "x");
    const int N = (int)xt->dims[0];
    const size_t D = 784;
    const float *tg = dcfx_data(&fx, "targets", N), *pred = dcfx_data(&fx, "predicted", N);
    const float *grad = dcfx_data(&fx, "grad", N * D), *sal = dcfx_data(&fx, "saliency", N * D);
    const float *cam = dcfx_data(&fx, "gradcam", N * D), *ig = dcfx_data(&fx, "ig", N * D);
    const float *occ = dcfx_data(&fx, "occlusion", N * D);
    const float steps = dcfx_data(&fx, "ig_steps", 1)[0];
    dc_error err;
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 64, nthreads, &err) == DC_OK, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        const float *x = xt->data + i * D;
        dc_explain_config cfg = dc_explain_config_default();
        cfg.target = (int)tg[i];
        char what[128];
        dc_explanation e;
        float gx[784];
        for (size_t j = 0; j < D; j++) gx[j] = grad[i * D + j] * x[j];

        cfg.method = DC_EXPLAIN_SALIENCY;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        CHECK(e.predicted == (int)pred[i], "predicted %d, torch %d", e.predicted, (int)pred[i]);
        CHECK(e.c == 1 && e.h == 28 && e.w == 28, "saliency shape");
        snprintf(what, sizeof what, "saliency[%d] target %d", i, e.target);
        dc_check_close(what, e.attr, sal + i * D, D, 1e-5, 1e-5 * max_abs(sal + i * D, D));
        dc_explanation_free(&e);

        cfg.method = DC_EXPLAIN_GRADXINPUT;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        snprintf(what, sizeof what, "gradxinput[%d]", i);
        dc_check_close(what, e.attr, gx, D, 1e-5, 1e-5 * max_abs(gx, D));
        dc_explanation_free(&e);

        cfg.method = DC_EXPLAIN_GRADCAM;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        CHECK(!strcmp(e.layer, "conv2"), "gradcam picks the last conv (%s)", e.layer);
        snprintf(what, sizeof what, "gradcam[%d] on %s", i, e.layer);
        dc_check_close(what, e.attr, cam + i * D, D, 1e-5, 1e-5 * max_abs(cam + i * D, D) + 1e-7);
        dc_explanation_free(&e);

        cfg.method = DC_EXPLAIN_IG;
        cfg.steps = (int)steps;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        snprintf(what, sizeof what, "ig[%d] (%d steps, batch 64)", i, cfg.steps);
        dc_check_close(what, e.attr, ig + i * D, D, 1e-5, 1e-5 * max_abs(ig + i * D, D));
        dc_explanation_free(&e);

        cfg.method = DC_EXPLAIN_OCCLUSION;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        snprintf(what, sizeof what, "occlusion[%d] (%d copies)", i, e.evaluations);
        dc_check_close(what, e.attr, occ + i * D, D, 1e-4, 1e-5 * max_abs(occ + i * D, D) + 1e-7);
        dc_explanation_free(&e);
    }
    dc_explainer_free(ex);
    dc_model_free(m);
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// 2. Completeness and exact cases

static dc_model *lenet_random(uint64_t seed) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    dc_rng r;
    dc_rng_seed(&r, seed);
    dc_model_init_params(m, &r);
    m->norm_mean[0] = 0.286f;
    m->norm_std[0] = 0.353f;
    return m;
}

// A blob image in normalised units.
static void make_input(float *x, uint64_t seed, float mean, float std) {
    dc_rng r;
    dc_rng_seed(&r, seed);
    float cy = 8 + 12 * dc_rng_uniform(&r), cx = 8 + 12 * dc_rng_uniform(&r);
    for (int y = 0; y < 28; y++)
        for (int c = 0; c < 28; c++) {
            float d2 = (y - cy) * (y - cy) + (c - cx) * (c - cx);
            float v = expf(-d2 / 40.0f) + 0.1f * dc_rng_uniform(&r);
            x[y * 28 + c] = (fminf(v, 1.0f) - mean) / std;
        }
}

// A LeNet-5 trained briefly on Fashion-MNIST (3000 images, one epoch, about
// a second): completeness is a statement about realistic logits; at random
// initialisation f(x) - f(b) is ~1e-3 and a relative gap is meaningless.
static dc_model *lenet_trained(dc_dataset *test) {
    dc_error err;
    dc_dataset train;
    if (dc_data_open(&train, test, "fashion-mnist", &err)) {
        CHECK(0, "%s (the IG completeness test needs Fashion-MNIST: scripts/setup.sh)", err.msg);
        return NULL;
    }
    dc_dataset_truncate(&train, 3000);
    dc_model *m = NULL;
    CHECK(dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    dc_model_set_normalisation(m, &train);
    dc_rng r;
    dc_rng_seed(&r, 1);
    dc_model_init_params(m, &r);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 1;
    cfg.lr = 0.01f;
    cfg.momentum = 0.9f;
    cfg.nthreads = 2;
    CHECK(dc_train(m, &train, NULL, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_dataset_free(&train);
    return m;
}

static void ig_completeness(void) {
    printf("IG completeness on a trained LeNet-5 (64 steps, logit)\n");
    dc_dataset test;
    dc_model *m = lenet_trained(&test);
    if (!m) return;
    dc_error err;
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 256, 0, &err) == DC_OK, "%s", err.msg);
    float x[784];
    double worst = 0;
    for (int k = 0; k < 16; k++) {
        dc_model_normalise(m, x, test.pixels + (size_t)k * 784, 784);
        dc_explain_config cfg = dc_explain_config_default();
        cfg.method = DC_EXPLAIN_IG;
        cfg.baseline = k % 2 ? DC_EXPLAIN_BASE_BLUR : DC_EXPLAIN_BASE_BLACK;
        dc_explanation e;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        double d = e.f_input - e.f_baseline, gap = fabs(e.attr_sum - d);
        worst = fmax(worst, gap / fabs(d));
        if (k < 4)
            printf("  image %d, %s baseline, target %d: sum %.5f, f(x)-f(b) %.5f, gap %.2e (%.3f%%)\n", k,
                   k % 2 ? "blur" : "black", e.target, e.attr_sum, d, gap, 100 * gap / fabs(d));
        CHECK(gap <= 0.01 * fabs(d), "image %d: completeness gap %g of %g", k, gap, d);
        CHECK(e.evaluations == 1 + 64 + 2, "IG evaluations %d", e.evaluations);
        dc_explanation_free(&e);
    }
    printf("  worst relative gap over 16 test images: %.3f%%\n", 100 * worst);
    dc_explainer_free(ex);
    dc_model_free(m);
    dc_dataset_free(&test);
}

// flatten + linear 784 -> 2 with seeded weights
static dc_model *linear_model(uint64_t seed) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_parse(&m, "flatten\nlinear out=2\n", "linear", 1, 28, 28, 2, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    dc_rng r;
    dc_rng_seed(&r, seed);
    dc_model_init_params(m, &r);
    m->norm_mean[0] = 0.286f;
    m->norm_std[0] = 0.353f;
    return m;
}

static void linear_exact(void) {
    printf("linear model: IG and Kernel SHAP equal w * (x - b)\n");
    dc_model *m = linear_model(5);
    dc_error err;
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 128, 0, &err) == DC_OK, "%s", err.msg);
    float x[784], b[784], want[784];
    make_input(x, 7, m->norm_mean[0], m->norm_std[0]);
    const int target = 1;
    const float *w = m->params + m->nodes[2].t[0].off + 784 * target;
    for (int i = 0; i < 784; i++) b[i] = -m->norm_mean[0] / m->norm_std[0];
    for (int i = 0; i < 784; i++) want[i] = w[i] * (x[i] - b[i]);
    dc_explain_config cfg = dc_explain_config_default();
    cfg.target = target;
    cfg.method = DC_EXPLAIN_IG;
    cfg.steps = 3; // a linear model: any number of steps is exact
    dc_explanation e;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
    dc_check_close("ig on a linear model", e.attr, want, 784, 1e-5, 1e-6);
    dc_explanation_free(&e);
    // Kernel SHAP on the logit with 4x4 grid superpixels: phi_j = sum over j's pixels
    const char *segs[2] = {"grid:4", "slic:20"};
    for (int s = 0; s < 2; s++) {
        cfg.method = DC_EXPLAIN_KERNELSHAP;
        cfg.output = DC_EXPLAIN_OUT_LOGIT;
        cfg.segments = segs[s];
        cfg.samples = 1000;
        cfg.seed = 3;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        if (!e.attr) continue;
        float *phi = calloc((size_t)e.n_features, sizeof(float));
        for (int i = 0; i < 784; i++) phi[e.segments[i]] += want[i];
        char what[64];
        snprintf(what, sizeof what, "kernelshap %s (%d features, logit)", segs[s], e.n_features);
        dc_check_close(what, e.feature_attr, phi, (size_t)e.n_features, 1e-4, 1e-5 * max_abs(phi, e.n_features));
        double d = e.f_input - e.f_baseline;
        CHECK(fabs(e.attr_sum - d) <= 1e-5 * (1 + fabs(d)), "shap sum %g vs %g", e.attr_sum, d);
        // the painted map sums like the features
        double ps = 0;
        for (int i = 0; i < 784; i++) ps += e.attr[i];
        CHECK(fabs(ps - e.attr_sum) <= 1e-4 * (1 + fabs(d)), "painted map sums to %g, features %g", ps, e.attr_sum);
        free(phi);
        dc_explanation_free(&e);
    }
    dc_explainer_free(ex);
    dc_model_free(m);
}

static void shap_efficiency(void) {
    printf("Kernel SHAP efficiency on LeNet-5 (probability)\n");
    dc_model *m = lenet_random(12);
    dc_error err;
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 256, 0, &err) == DC_OK, "%s", err.msg);
    float x[784];
    make_input(x, 21, m->norm_mean[0], m->norm_std[0]);
    const char *segs[3] = {"grid:4", "slic:30", "grid:2"};
    const int samples[3] = {1000, 200, 1000};
    for (int s = 0; s < 3; s++) {
        dc_explain_config cfg = dc_explain_config_default();
        cfg.method = DC_EXPLAIN_KERNELSHAP;
        cfg.segments = segs[s];
        cfg.samples = samples[s];
        dc_explanation e;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        double d = e.f_input - e.f_baseline;
        printf("  %s, %d samples: %d features, %d evaluations, sum %.7f, f(x)-f(b) %.7f\n", segs[s], samples[s],
               e.n_features, e.evaluations, e.attr_sum, d);
        CHECK(fabs(e.attr_sum - d) <= 1e-5, "shap sum %g vs %g", e.attr_sum, d);
        CHECK(fabs(e.f_input - e.prob) < 1e-6, "f(x) %g is the target probability %g", e.f_input, e.prob);
        if (s == 2) CHECK(e.evaluations == 1 + 14 + 2, "grid:2 enumerates all 14 coalitions (%d)", e.evaluations);
        dc_explanation_free(&e);
    }
    dc_explainer_free(ex);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// 3. The one informative patch

#define PY 7
#define PX 14 // rows 7..10, cols 14..17: inside grid:4 cell (1, 2) = feature 6

static dc_model *patch_model(void) {
    dc_model *m = linear_model(1);
    float *w = m->params + m->nodes[2].t[0].off, *b = m->params + m->nodes[2].t[1].off;
    memset(w, 0, sizeof(float) * 2 * 784);
    b[0] = b[1] = 0;
    for (int y = PY; y < PY + 4; y++)
        for (int c = PX; c < PX + 4; c++) w[y * 28 + c] = 0.5f; // class 0 looks at the patch only
    return m;
}

static bool in_patch(int p) {
    int y = p / 28, c = p % 28;
    return y >= PY && y < PY + 4 && c >= PX && c < PX + 4;
}

static void informative_patch(void) {
    printf("one informative patch: occlusion, LIME, Kernel SHAP find it\n");
    dc_model *m = patch_model();
    dc_error err;
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 256, 0, &err) == DC_OK, "%s", err.msg);
    float x[784];
    make_input(x, 3, m->norm_mean[0], m->norm_std[0]);
    for (int y = PY; y < PY + 4; y++)
        for (int c = PX; c < PX + 4; c++) x[y * 28 + c] = (0.9f - m->norm_mean[0]) / m->norm_std[0]; // a bright patch
    dc_explain_config cfg = dc_explain_config_default();
    cfg.target = 0;
    dc_explanation e, good;
    cfg.method = DC_EXPLAIN_OCCLUSION;
    CHECK(dc_explain(ex, x, &cfg, &good, &err) == DC_OK, "%s", err.msg);
    int p = argmax_f(good.attr, 784);
    CHECK(in_patch(p), "occlusion peak at (%d,%d)", p / 28, p % 28);
    int outside = 0;
    for (int i = 0; i < 784; i++) {
        int y = i / 28, c = i % 28;
        // pixels no 4x4 window can share with the patch have zero attribution
        if ((y < PY - 3 || y > PY + 6 || c < PX - 3 || c > PX + 6) && good.attr[i] != 0.0f) outside++;
    }
    CHECK(outside == 0, "%d pixels far from the patch have non-zero occlusion", outside);
    printf("  occlusion: peak (%d,%d) = %.4f\n", p / 28, p % 28, good.attr[p]);
    const dc_explain_method methods[2] = {DC_EXPLAIN_LIME, DC_EXPLAIN_KERNELSHAP};
    for (int k = 0; k < 2; k++) {
        cfg.method = methods[k];
        cfg.segments = "grid:4";
        cfg.samples = 500;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
        int top = 0;
        for (int j = 1; j < e.n_features; j++)
            if (fabsf(e.feature_attr[j]) > fabsf(e.feature_attr[top])) top = j;
        int second = top == 0 ? 1 : 0;
        for (int j = 0; j < e.n_features; j++)
            if (j != top && fabsf(e.feature_attr[j]) > fabsf(e.feature_attr[second])) second = j;
        printf("  %s: top feature %d (%.4f), next %d (%.4f)%s\n", dc_explain_method_name(cfg.method), top,
               e.feature_attr[top], second, e.feature_attr[second],
               k == 0 ? "" : "");
        CHECK(top == e.segments[PY * 28 + PX] && e.feature_attr[top] > 0, "%s picks feature %d",
              dc_explain_method_name(cfg.method), top);
        CHECK(fabsf(e.feature_attr[second]) < 0.05f * fabsf(e.feature_attr[top]), "others are small");
        if (k == 0) CHECK(e.score > 0.5, "LIME fit R^2 %g", e.score);
        dc_explanation_free(&e);
    }
    // slic superpixels also isolate the bright patch
    cfg.method = DC_EXPLAIN_LIME;
    cfg.segments = "slic:40";
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
    p = argmax_f(e.attr, 784);
    CHECK(in_patch(p), "LIME slic peak at (%d,%d)", p / 28, p % 28);
    printf("  lime slic:40: %d features, peak (%d,%d)\n", e.n_features, p / 28, p % 28);
    dc_explanation_free(&e);

    // faithfulness: the occlusion map against its reverse
    dc_faithfulness f1, f2;
    CHECK(dc_explain_faithfulness(ex, x, &good, NULL, 28, &f1, &err) == DC_OK, "%s", err.msg);
    dc_explanation rev = good;
    float *ra = malloc(sizeof(float) * 784);
    for (int i = 0; i < 784; i++) ra[i] = -good.attr[i];
    rev.attr = ra;
    CHECK(dc_explain_faithfulness(ex, x, &rev, NULL, 28, &f2, &err) == DC_OK, "%s", err.msg);
    printf("  deletion %.4f (reversed %.4f), insertion %.4f (reversed %.4f)\n", f1.deletion_auc, f2.deletion_auc,
           f1.insertion_auc, f2.insertion_auc);
    CHECK(f1.deletion_auc < f2.deletion_auc, "deletion: good map is lower");
    CHECK(f1.insertion_auc > f2.insertion_auc, "insertion: good map is higher");
    CHECK(fabsf(f1.deletion[0] - good.prob) < 1e-6 && fabsf(f1.insertion[28] - good.prob) < 1e-6,
          "curves end at p(x)");
    CHECK(fabsf(f1.deletion[28] - f1.insertion[0]) < 1e-6, "curves end at p(baseline)");
    free(ra);
    dc_faithfulness_free(&f1);
    dc_faithfulness_free(&f2);
    dc_explanation_free(&good);
    dc_explainer_free(ex);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// 4. Bad inputs, determinism, dropout, files

static void bad_inputs(void) {
    printf("bad inputs\n");
    dc_error err;
    dc_explain_method meth;
    CHECK(dc_explain_method_parse(&meth, "shapley", &err) == DC_ERR_ARG && strstr(err.msg, "kernelshap"),
          "unknown method: %s", err.msg);
    CHECK(dc_explain_method_parse(&meth, "ig", &err) == DC_OK && meth == DC_EXPLAIN_IG, "ig parses");
    dc_model *m = lenet_random(3);
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 16, 1, &err) == DC_OK, "%s", err.msg);
    float x[784];
    make_input(x, 1, m->norm_mean[0], m->norm_std[0]);
    dc_explanation e;
    dc_explain_config cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_IG;
    cfg.steps = 0;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "steps"), "steps 0: %s", err.msg);
    CHECK(e.attr == NULL, "empty on failure");
    cfg = dc_explain_config_default();
    cfg.target = 10;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "target"), "target 10: %s", err.msg);
    cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_GRADCAM;
    cfg.layer = "conv9";
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "conv9") && strstr(err.msg, "conv2"),
          "unknown layer: %s", err.msg);
    cfg.layer = "fc1";
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "vector"), "vector layer: %s", err.msg);
    cfg.layer = "relu2"; // any spatial layer works
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
    dc_explanation_free(&e);
    cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_LIME;
    const char *bad_segs[] = {"grid:0", "grid:29", "slic:", "slic:785", "grid", "voronoi:4", "grid:4x"};
    for (size_t i = 0; i < sizeof bad_segs / sizeof *bad_segs; i++) {
        cfg.segments = bad_segs[i];
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "--segments"), "%s: %s",
              bad_segs[i], err.msg);
    }
    cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_KERNELSHAP;
    cfg.samples = 0;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG, "samples 0");
    cfg.samples = 5; // too few coalitions for 16 unknowns: an error, not garbage
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_NUMERIC && strstr(err.msg, "--samples"), "%s", err.msg);
    cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_OCCLUSION;
    cfg.window = 0;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG, "window 0");
    cfg.window = 40; // larger than the image: one window, the whole image
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK && e.evaluations == 1 + 2, "window 40: %s", err.msg);
    dc_explanation_free(&e);
    x[5] = NAN;
    cfg = dc_explain_config_default();
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_ERR_ARG, "NaN input");
    dc_faithfulness f;
    dc_explanation bogus = {0};
    bogus.c = 1, bogus.h = 5, bogus.w = 5;
    float a[25] = {0};
    bogus.attr = a;
    CHECK(dc_explain_faithfulness(ex, x, &bogus, NULL, 28, &f, &err) == DC_ERR_SHAPE, "faithfulness shape");
    dc_explainer_free(ex);
    dc_model_free(m);

    // images: a corrupt PNG errors, a wrong-sized one is resized
    const char *dir = dc_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/big.png", dir);
    uint8_t img[40 * 50];
    for (int i = 0; i < 40 * 50; i++) img[i] = (uint8_t)(i * 7);
    CHECK(dc_png_write(path, img, 40, 50, 1, &err) == DC_OK, "%s", err.msg);
    uint8_t *px = NULL;
    CHECK(dc_image_load(&px, path, 1, 28, 28, &err) == DC_OK, "wrong size is resized: %s", err.msg);
    free(px);
    uint8_t *buf;
    size_t len;
    CHECK(dc_png_encode(&buf, &len, img, 40, 50, 1, &err) == DC_OK, "%s", err.msg);
    buf[len / 2] ^= 0x55; // corrupt the compressed data
    snprintf(path, sizeof path, "%s/corrupt.png", dir);
    dc_buf part = {buf, len};
    CHECK(dc_write_atomic(path, &part, 1, &err) == DC_OK, "%s", err.msg);
    px = NULL;
    CHECK(dc_image_load(&px, path, 1, 28, 28, &err) == DC_ERR_FORMAT && strstr(err.msg, "corrupt.png"),
          "corrupt PNG: %s", err.msg);
    free(px);
    free(buf);
}

static void determinism_and_dropout(void) {
    printf("seeded determinism, thread count, dropout\n");
    dc_model *m = lenet_random(4);
    dc_error err;
    dc_explainer *ex1, *ex2;
    CHECK(dc_explainer_new(&ex1, m, 100, 1, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_explainer_new(&ex2, m, 256, 2, &err) == DC_OK, "%s", err.msg);
    float x[784];
    make_input(x, 9, m->norm_mean[0], m->norm_std[0]);
    const dc_explain_method ms[3] = {DC_EXPLAIN_LIME, DC_EXPLAIN_KERNELSHAP, DC_EXPLAIN_IG};
    for (int k = 0; k < 3; k++) {
        dc_explain_config cfg = dc_explain_config_default();
        cfg.method = ms[k];
        cfg.samples = 300;
        cfg.seed = 42;
        dc_explanation a, a2, b, c;
        CHECK(dc_explain(ex1, x, &cfg, &a, &err) == DC_OK, "%s", err.msg);
        CHECK(dc_explain(ex1, x, &cfg, &a2, &err) == DC_OK, "%s", err.msg);
        CHECK(dc_explain(ex2, x, &cfg, &b, &err) == DC_OK, "%s", err.msg);
        cfg.seed = 43;
        CHECK(dc_explain(ex1, x, &cfg, &c, &err) == DC_OK, "%s", err.msg);
        size_t n = (size_t)a.c * a.h * a.w;
        CHECK(!memcmp(a.attr, a2.attr, n * sizeof(float)), "%s: same seed, same bits", dc_explain_method_name(ms[k]));
        // another batch size and thread count: the same draws; the model's
        // kernels may round a row differently at another position in a batch
        char what[64];
        snprintf(what, sizeof what, "%s: batch 100/1 thread vs 256/2", dc_explain_method_name(ms[k]));
        dc_check_close(what, b.attr, a.attr, n, 1e-4, 1e-4 * max_abs(a.attr, n));
        if (ms[k] != DC_EXPLAIN_IG)
            CHECK(memcmp(a.attr, c.attr, n * sizeof(float)) != 0, "%s: another seed differs",
                  dc_explain_method_name(ms[k]));
        dc_explanation_free(&a2);
        dc_explanation_free(&a);
        dc_explanation_free(&b);
        dc_explanation_free(&c);
    }
    dc_explainer_free(ex1);
    dc_explainer_free(ex2);
    // a dropout layer: explanations run it as the identity, forward and backward
    dc_model *d = NULL;
    CHECK(dc_model_parse(&d,
                         "conv2d out=6 k=5 pad=2\nrelu\nmaxpool k=2\nconv2d out=16 k=5\nrelu\nmaxpool k=2\n"
                         "flatten\nlinear out=120\nrelu\ndropout p=0.5\nlinear out=84\nrelu\nlinear out=10\n",
                         "drop", 1, 28, 28, 10, &err) == DC_OK,
          "%s", err.msg);
    // same parameter layout as lenet5 (dropout has none)
    CHECK(d->n_params == m->n_params, "layouts match");
    memcpy(d->params, m->params, sizeof(float) * m->n_params);
    d->norm_mean[0] = m->norm_mean[0];
    d->norm_std[0] = m->norm_std[0];
    dc_explainer *exm, *exd;
    CHECK(dc_explainer_new(&exm, m, 80, 2, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_explainer_new(&exd, d, 80, 2, &err) == DC_OK, "%s", err.msg);
    dc_explain_config cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_IG;
    dc_explanation a, b;
    CHECK(dc_explain(exm, x, &cfg, &a, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_explain(exd, x, &cfg, &b, &err) == DC_OK, "%s", err.msg);
    dc_check_close("ig with dropout == without", b.attr, a.attr, 784, 1e-6, 1e-9);
    dc_explanation_free(&a);
    dc_explanation_free(&b);
    dc_explainer_free(exm);
    dc_explainer_free(exd);
    dc_model_free(d);
    // grads are left zeroed
    double gs = 0;
    for (size_t i = 0; i < m->n_params; i++) gs += fabs(m->grads[i]);
    CHECK(gs == 0.0, "model gradients left zeroed (%g)", gs);
    dc_model_free(m);
}

static void npy_files(void) {
    printf("npy write/read\n");
    const char *dir = dc_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    float v[2 * 3 * 5];
    for (int i = 0; i < 30; i++) v[i] = (float)i * 0.25f - 3.0f;
    int64_t shape[3] = {2, 3, 5};
    dc_error err;
    CHECK(dc_npy_write_f32(path, v, 3, shape, &err) == DC_OK, "%s", err.msg);
    uint8_t *raw;
    size_t len;
    CHECK(dc_read_file(path, &raw, &len, 1 << 20, &err) == DC_OK, "%s", err.msg);
    CHECK(len == 128 + 120 && raw[8] + 256 * raw[9] == 118, "header padded to 64 bytes (%zu)", len);
    CHECK(!memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", 61), "header text");
    free(raw);
    dc_npy a;
    CHECK(dc_npy_read(&a, path, &err) == DC_OK, "%s", err.msg);
    CHECK(a.rank == 3 && a.shape[0] == 2 && a.shape[2] == 5 && a.n == 30 && !strcmp(a.dtype, "f4"), "shape back");
    CHECK(a.data && !memcmp(a.data, v, sizeof v), "values back");
    dc_npy_free(&a);
    int64_t s1 = 7;
    CHECK(dc_npy_write_f32(path, v, 1, &s1, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_npy_read(&a, path, &err) == DC_OK && a.rank == 1 && a.shape[0] == 7, "rank 1 (7,)");
    dc_npy_free(&a);
    // hand-made files in other dtypes and header styles (as numpy writes them)
    struct {
        const char *hdr;
        const uint8_t *data;
        size_t n;
        int ok;
        const char *needle;
    } cases[] = {
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", (const uint8_t *)"\x00\x10\x80\xff", 4, 1, ""},
        {"{\"shape\": (1,), \"fortran_order\": False, \"descr\": \">f4\"}", (const uint8_t *)"\x3f\x80\x00\x00", 4, 1, ""},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (), }", (const uint8_t *)"\x00\x00\x00\x00\x00\x00\xf0\x3f", 8, 1, ""},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", (const uint8_t *)"\1\0\0\0\0\0\0\0", 8, 0, "dtype"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", (const uint8_t *)"\0\0\0\0", 4, 0, "Fortran"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", (const uint8_t *)"\0\0\0\0", 4, 0, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", (const uint8_t *)"\0\0\0\0\0", 5, 0, "trailing"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", (const uint8_t *)"\0\0\0\0", 4, 0, "unknown key"},
        {"{'descr': '<f4', 'shape': (1,), }", (const uint8_t *)"\0\0\0\0", 4, 0, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,-2), }", (const uint8_t *)"\0\0\0\0", 4, 0, "shape"},
    };
    const float want0[4] = {0, 16, 128, 255};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        uint8_t buf[256];
        size_t hl = strlen(cases[k].hdr);
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (uint8_t)(hl + 1);
        buf[9] = 0;
        memcpy(buf + 10, cases[k].hdr, hl);
        buf[10 + hl] = '\n';
        memcpy(buf + 11 + hl, cases[k].data, cases[k].n);
        dc_status st = dc_npy_parse(&a, buf, 11 + hl + cases[k].n, "case.npy", &err);
        if (cases[k].ok) {
            CHECK(st == DC_OK, "case %zu: %s", k, err.msg);
            if (k == 0) CHECK(a.n == 4 && !memcmp(a.data, want0, sizeof want0), "u1 values");
            if (k == 1) CHECK(a.n == 1 && a.data[0] == 1.0f && a.rank == 1, "big-endian f4");
            if (k == 2) CHECK(a.n == 1 && a.data[0] == 1.0f && a.rank == 0, "f8 scalar");
        } else {
            CHECK(st == DC_ERR_FORMAT && strstr(err.msg, cases[k].needle) && strstr(err.msg, "case.npy"),
                  "case %zu: %s", k, err.msg);
        }
        dc_npy_free(&a);
    }
    CHECK(dc_npy_parse(&a, (const uint8_t *)"\x89PNG\r\n\x1a\n\0\0\0\0", 12, "x.npy", &err) == DC_ERR_FORMAT &&
              strstr(err.msg, "magic"),
          "not npy: %s", err.msg);
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    CHECK(dc_npy_read(&a, path, &err) == DC_ERR_IO, "missing file");
}

static void png_files(void) {
    printf("png write -> read round trip\n");
    const char *dir = dc_test_tmpdir();
    char path[512];
    dc_error err;
    uint8_t g[13 * 17], rgb[13 * 17 * 3];
    for (int i = 0; i < 13 * 17; i++) g[i] = (uint8_t)(i * 31 + 5);
    for (int i = 0; i < 13 * 17 * 3; i++) rgb[i] = (uint8_t)(i * 13 + 1);
    snprintf(path, sizeof path, "%s/g.png", dir);
    CHECK(dc_png_write(path, g, 13, 17, 1, &err) == DC_OK, "%s", err.msg);
    uint8_t *px = NULL;
    CHECK(dc_image_load(&px, path, 1, 13, 17, &err) == DC_OK && px && !memcmp(px, g, sizeof g), "gray back");
    free(px);
    snprintf(path, sizeof path, "%s/c.png", dir);
    CHECK(dc_png_write(path, rgb, 13, 17, 3, &err) == DC_OK, "%s", err.msg);
    px = NULL;
    CHECK(dc_image_load(&px, path, 3, 13, 17, &err) == DC_OK, "%s", err.msg);
    int same = 1; // dc_image_load returns planar (c,h,w)
    for (int c = 0; c < 3 && px; c++)
        for (int i = 0; i < 13 * 17; i++) same &= px[c * 13 * 17 + i] == rgb[i * 3 + c];
    CHECK(px && same, "rgb back");
    free(px);
    CHECK(dc_png_write(path, rgb, 0, 17, 3, &err) == DC_ERR_ARG, "0 rows");
    CHECK(dc_png_write("/nonexistent-dir/x.png", g, 13, 17, 1, &err) == DC_ERR_IO && strstr(err.msg, "/nonexistent-dir"),
          "unwritable: %s", err.msg);
}

static void solvers(void) {
    printf("Cholesky vs Gaussian elimination\n");
    const int ns[4] = {1, 3, 16, 61};
    dc_rng r;
    dc_rng_seed(&r, 8);
    for (int t = 0; t < 4; t++) {
        int n = ns[t];
        double *M = malloc(sizeof(double) * n * n), *A = calloc((size_t)n * n, sizeof(double));
        double *A2 = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n), *b2 = malloc(sizeof(double) * n);
        for (int i = 0; i < n * n; i++) M[i] = dc_rng_normal(&r);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++)
                for (int k = 0; k < n; k++) A[i * n + j] += M[i * n + k] * M[j * n + k];
            A[i * n + i] += 0.1;
            b[i] = b2[i] = dc_rng_normal(&r);
        }
        memcpy(A2, A, sizeof(double) * n * n);
        bool ok1 = dc_ex_cholesky_solve(A, b, n), ok2 = dc_ex_gauss_solve(A2, b2, n);
        double md = 0, mx = 0;
        for (int i = 0; i < n; i++) md = fmax(md, fabs(b[i] - b2[i])), mx = fmax(mx, fabs(b2[i]));
        printf("  n=%-3d max |chol - gauss| = %.2e (max |z| %.2e)\n", n, md, mx);
        CHECK(ok1 && ok2 && md <= 1e-9 * (1 + mx), "n=%d", n);
        free(M), free(A), free(A2), free(b), free(b2);
    }
    double S[4] = {1, 2, 2, 4}, z[2] = {1, 1}; // singular
    CHECK(!dc_ex_cholesky_solve(S, z, 2), "singular detected");
}

static void feature_maps(void) {
    printf("visualize: feature maps and filters\n");
    dc_model *m = lenet_random(6);
    float x[784];
    make_input(x, 2, m->norm_mean[0], m->norm_std[0]);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/maps/", dc_test_tmpdir());
    dc_error err;
    int n = 0;
    CHECK(dc_visualize(m, x, dir, &n, &err) == DC_OK, "%s", err.msg);
    CHECK(n == m->n_nodes + 1, "%d files (input, %d layers, filters)", n, m->n_nodes - 1);
    char path[700];
    const char *expect[3] = {"input.png", "00_conv1.png", "filters_conv1.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dir, expect[i]);
        uint8_t *px = NULL;
        CHECK(dc_image_load(&px, path, 1, 8, 8, &err) == DC_OK, "%s: %s", expect[i], err.msg);
        free(px);
    }
    // a file where the folder should be
    snprintf(path, sizeof path, "%s/input.png", dir);
    CHECK(dc_visualize(m, x, path, &n, &err) == DC_ERR_IO && strstr(err.msg, "not a folder"), "%s", err.msg);
    dc_model_free(m);

    // the heatmap PNG and npy of an explanation
    m = lenet_random(6);
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 70, 0, &err) == DC_OK, "%s", err.msg);
    dc_explain_config cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_IG;
    dc_explanation e;
    CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/ig.png", dc_test_tmpdir());
    CHECK(dc_explanation_write_png(&e, m, x, 8, path, &err) == DC_OK, "%s", err.msg);
    uint8_t *px = NULL;
    CHECK(dc_image_load(&px, path, 3, 224, 224, &err) == DC_OK, "%s", err.msg);
    free(px);
    snprintf(path, sizeof path, "%s/ig.npy", dc_test_tmpdir());
    CHECK(dc_explanation_write_npy(&e, path, &err) == DC_OK, "%s", err.msg);
    dc_npy a;
    CHECK(dc_npy_read(&a, path, &err) == DC_OK && a.rank == 3 && a.shape[0] == 1 && a.n == 784 &&
              !memcmp(a.data, e.attr, 784 * sizeof(float)),
          "ig npy is (1,28,28) and equal");
    dc_npy_free(&a);
    dc_explanation_free(&e);
    dc_explainer_free(ex);
    dc_model_free(m);
}

static void rgb_and_mlp(void) {
    printf("RGB input (3x9x11 conv net) and an MLP: every method, shapes and sums\n");
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_parse(&m, "conv2d out=4 k=3 pad=1\nrelu\nmaxpool k=2\nflatten\nlinear out=3\n", "rgb", 3, 9, 11, 3,
                         &err) == DC_OK,
          "%s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 31);
    dc_model_init_params(m, &r);
    float x[3 * 9 * 11];
    for (int i = 0; i < 3 * 9 * 11; i++) x[i] = dc_rng_normal(&r);
    dc_explainer *ex;
    CHECK(dc_explainer_new(&ex, m, 50, 2, &err) == DC_OK, "%s", err.msg);
    for (int k = 0; k < DC_EXPLAIN_N_METHODS; k++) {
        dc_explain_config cfg = dc_explain_config_default();
        cfg.method = (dc_explain_method)k;
        cfg.segments = k == DC_EXPLAIN_LIME ? "slic:12" : "grid:3";
        cfg.samples = 400;
        cfg.target = 2;
        dc_explanation e;
        CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s: %s", dc_explain_method_name(cfg.method), err.msg);
        if (!e.attr) continue;
        int want_c = k == DC_EXPLAIN_GRADXINPUT || k == DC_EXPLAIN_IG ? 3 : 1;
        CHECK(e.c == want_c && e.h == 9 && e.w == 11, "%s shape %dx%dx%d", dc_explain_method_name(cfg.method), e.c, e.h,
              e.w);
        if (k == DC_EXPLAIN_KERNELSHAP)
            CHECK(fabs(e.attr_sum - (e.f_input - e.f_baseline)) < 1e-6, "rgb shap efficiency");
        dc_faithfulness f;
        CHECK(dc_explain_faithfulness(ex, x, &e, NULL, 10, &f, &err) == DC_OK, "%s", err.msg);
        dc_faithfulness_free(&f);
        char path[600];
        snprintf(path, sizeof path, "%s/rgb_%d.png", dc_test_tmpdir(), k);
        CHECK(dc_explanation_write_png(&e, m, x, 4, path, &err) == DC_OK, "%s", err.msg);
        dc_explanation_free(&e);
    }
    dc_explainer_free(ex);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/rgbmaps", dc_test_tmpdir());
    int n = 0;
    CHECK(dc_visualize(m, x, dir, &n, &err) == DC_OK && n == 1 + 5 + 1, "rgb visualize: %d files %s", n, err.msg);
    dc_model_free(m);
    CHECK(dc_model_builtin(&m, "mlp", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    dc_model_init_params(m, &r);
    float g[784];
    make_input(g, 4, m->norm_mean[0], m->norm_std[0]);
    snprintf(dir, sizeof dir, "%s/mlpmaps", dc_test_tmpdir());
    CHECK(dc_visualize(m, g, dir, &n, &err) == DC_OK && n == m->n_nodes + 1, "mlp visualize: %d files %s", n,
          err.msg);
    CHECK(dc_explainer_new(&ex, m, 70, 1, &err) == DC_OK, "%s", err.msg);
    dc_explain_config cfg = dc_explain_config_default();
    cfg.method = DC_EXPLAIN_GRADCAM; // no conv layer
    dc_explanation e;
    CHECK(dc_explain(ex, g, &cfg, &e, &err) == DC_ERR_ARG && strstr(err.msg, "no conv2d"), "mlp gradcam: %s", err.msg);
    dc_explainer_free(ex);
    dc_model_free(m);
}

int main(void) {
    lenet_vs_torch(1);
    lenet_vs_torch(2);
    ig_completeness();
    linear_exact();
    shap_efficiency();
    informative_patch();
    bad_inputs();
    determinism_and_dropout();
    npy_files();
    png_files();
    solvers();
    feature_maps();
    rgb_and_mlp();
    return dc_test_finish();
}
