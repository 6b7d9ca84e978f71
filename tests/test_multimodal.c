// test_multimodal.c — models with an image and a tabular input.
//
// A synthetic task where each modality carries half of the label: 4
// classes, label = 2*a + b; the image shows a (a bright square at one of two
// places, tests/harness.c's generator), the tabular row shows b (one noisy
// column) among two noise columns. Either modality alone can reach 50%; the
// fused model must learn both. Also: the text format's tabular inputs, the
// tabular standardisation saved in the model, sessions and IG over both
// inputs (completeness over image and tabular attributions together), and
// the CSV reader's refusals.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "model/model.h"

static const char *fusion =
    "input name=image\n"
    "conv2d out=4 k=5 stride=2 name=c1\nrelu\nmaxpool k=2\nflatten name=img\n"
    "input kind=tabular name=tab\n"
    "linear out=8 from=tab name=t1\nrelu name=tr\n"
    "concat from=img,tr name=fuse\n"
    "linear out=16 name=f1\nrelu\nlinear out=4 name=head\n";

// Makes n samples: images of a in {0,1}, rows (3 columns) whose first column is b + noise.
static void make_task(dc_dataset *ds, dc_tabular *t, int n, uint64_t seed) {
    dc_test_make_data(ds, n, 2, seed);
    memset(t, 0, sizeof *t);
    t->n = n;
    t->f = 3;
    t->x = malloc(sizeof(float) * (size_t)n * 3);
    t->columns = malloc(sizeof(char *) * 3);
    const char *names[3] = {"b_noisy", "noise1", "noise2"};
    for (int k = 0; k < 3; k++) t->columns[k] = strdup(names[k]);
    snprintf(t->source, sizeof t->source, "synthetic rows");
    dc_rng r = dc_rng_stream(seed, 77, 0);
    for (int i = 0; i < n; i++) {
        int b = (int)dc_rng_below(&r, 2);
        ds->labels[i] = 2 * ds->labels[i] + b;
        t->x[i * 3 + 0] = 10.0f + 5.0f * (float)b + 0.8f * dc_rng_normal(&r); // offset and scale: standardised away
        t->x[i * 3 + 1] = 3.0f * dc_rng_normal(&r);
        t->x[i * 3 + 2] = -2.0f + dc_rng_normal(&r);
    }
    ds->n_classes = 4;
}

static double train_eval(const char *arch, const dc_dataset *tr, const dc_tabular *ttr, const dc_dataset *te,
                         const dc_tabular *tte, dc_model **out) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_parse_tabular(&m, arch, "fusion.arch", 1, 28, 28, 4, ttr ? ttr->f : 0, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    dc_model_set_normalisation(m, tr);
    if (ttr) CHECK(dc_model_set_tabular_normalisation(m, ttr, &err) == DC_OK, "%s", err.msg);
    dc_rng r = dc_rng_stream(3, 0, 0);
    dc_model_init_params(m, &r);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 6;
    cfg.batch = 32;
    cfg.lr = 0.05f;
    cfg.nthreads = 2;
    cfg.tabular = ttr;
    cfg.heldout_tabular = tte;
    CHECK(dc_train(m, tr, te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_eval_result res;
    CHECK(dc_evaluate_tabular(m, te, tte, 100, 2, &res, &err) == DC_OK, "%s", err.msg);
    double acc = res.accuracy;
    dc_eval_result_free(&res);
    if (out) *out = m;
    else dc_model_free(m);
    return acc;
}

static void csv_refusals(void) {
    printf("tabular CSV: every defect refused with file and line\n");
    struct {
        const char *text, *id, *needle;
        int n;
    } cases[] = {
        {"a,b\n1,2\n3\n", NULL, ":3: 1 columns", 2},
        {"a,b\n1,x\n3,4\n", NULL, "column 2 (b): 'x'", 2},
        {"a,b\n1,\n3,4\n", NULL, "empty cell", 2},
        {"a,b\n1,2\n", NULL, "1 rows for 2 samples", 2},
        {"a,b\n1,2\n3,4\n5,6\n", NULL, "more rows", 2},
        {"a,b\n", NULL, "no rows", 2},
        {"", NULL, "empty file", 2},
        {"id,a\n0,1\n0,2\n", "id", "sample 0 has a row", 2},
        {"id,a\n0,1\n5,2\n", "id", "id 5", 2},
        {"id,a\n0,1\n1,2\n", "key", "no id column 'key'", 2},
        {"a,a\n1,2\n3,4\n", NULL, "appears twice", 2},
        {"a,b\n1,nan\n3,4\n", NULL, "not a finite number", 2},
        {"a,b\n1,1e39\n3,4\n", NULL, "not a finite number", 2},
        {"a,\"b\n1,2\n", NULL, "malformed CSV", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dc_tabular t;
        dc_error err = {{0}};
        dc_status st = dc_tabular_parse_csv(&t, cases[i].text, strlen(cases[i].text), "rows.csv", cases[i].id, cases[i].n,
                                            &err);
        CHECK(st != DC_OK && strstr(err.msg, cases[i].needle) && strstr(err.msg, "rows.csv"), "case %zu: '%s' lacks '%s'", i,
              err.msg, cases[i].needle);
        if (st) printf("  ok: %s\n", err.msg);
        dc_tabular_free(&t);
    }
    // ids in any order; quoted fields and CRLF
    dc_tabular t;
    dc_error err;
    const char *ok = "\"id\",x,\"y, z\"\r\n2,1.5,-3\r\n0,2,4\r\n1,0.25,1e-3\r\n";
    CHECK(dc_tabular_parse_csv(&t, ok, strlen(ok), "ok.csv", "id", 3, &err) == DC_OK, "%s", err.msg);
    CHECK(t.f == 2 && !strcmp(t.columns[1], "y, z") && t.x[0] == 2 && t.x[4] == 1.5f && t.x[2] == 0.25f,
          "rows placed by id, id column dropped");
    dc_tabular_free(&t);
}

int main(void) {
    csv_refusals();

    printf("fusion model: image + tabular, each carrying half of the label\n");
    dc_dataset tr, te;
    dc_tabular ttr, tte;
    make_task(&tr, &ttr, 800, 1);
    make_task(&te, &tte, 400, 2);
    dc_model *m = NULL;
    double fused = train_eval(fusion, &tr, &ttr, &te, &tte, &m);
    const char *image_only = "conv2d out=4 k=5 stride=2\nrelu\nmaxpool k=2\nflatten\nlinear out=16\nrelu\nlinear out=4\n";
    const char *tab_only = "input kind=tabular name=tab\nlinear out=8 from=tab\nrelu\nlinear out=16\nrelu\nlinear out=4\n";
    double img = train_eval(image_only, &tr, NULL, &te, NULL, NULL);
    // a model whose only learned input is tabular still takes (and ignores) the image
    double tab = train_eval(tab_only, &tr, &ttr, &te, &tte, NULL);
    printf("  test accuracy: fused %.3f, image alone %.3f, tabular alone %.3f\n", fused, img, tab);
    CHECK(fused > 0.95, "the fused model learns both halves (%.3f)", fused);
    CHECK(img < 0.6 && tab < 0.6, "each modality alone stays near 50%% (%.3f, %.3f)", img, tab);

    if (m) {
        printf("save/load: the tabular standardisation travels with the model; sessions; IG over both inputs\n");
        dc_error err;
        CHECK(strstr(m->arch_text, "input kind=tabular features=3 name=tab") && strstr(m->arch_text, "input name=image"),
              "canonical text keeps the inputs:\n%s", m->arch_text);
        char path[512];
        snprintf(path, sizeof path, "%s/mm.safetensors", dc_test_tmpdir());
        CHECK(dc_model_save(m, path, &err) == DC_OK, "%s", err.msg);
        dc_model *l = NULL;
        CHECK(dc_model_load(&l, path, &err) == DC_OK, "%s", err.msg);
        if (l) {
            CHECK(l->tab_f == 3 && l->tab_mean[0] == m->tab_mean[0] && l->tab_std[2] == m->tab_std[2] &&
                      !strcmp(l->tab_columns[0], "b_noisy"),
                  "standardisation and column names round-trip");
            CHECK(l->tab_mean[0] > 11 && l->tab_mean[0] < 14, "mean of column 0 is about 12.5 (%g)", l->tab_mean[0]);
            dc_session *s;
            CHECK(dc_session_new(&s, l, 4, 1, &err) == DC_OK, "%s", err.msg);
            float x[4 * 784], row[4 * 3], p1[16], p2[16];
            dc_model_normalise(l, x, te.pixels, 4 * 784);
            memcpy(row, tte.x, sizeof row);
            dc_model_normalise_tabular(l, row, 4);
            CHECK(dc_session_predict_tabular(s, x, row, 4, p1, &err) == DC_OK, "%s", err.msg);
            CHECK(dc_session_predict(s, x, 4, p2, &err) != DC_OK && strstr(err.msg, "tabular"),
                  "an image-only call is refused: %s", err.msg);
            int right = 0;
            for (int i = 0; i < 4; i++) {
                int best = 0;
                for (int k = 1; k < 4; k++)
                    if (p1[i * 4 + k] > p1[i * 4 + best]) best = k;
                right += best == te.labels[i];
            }
            CHECK(right >= 3, "the loaded model predicts (%d of 4)", right);
            dc_session_free(s);
            // IG: completeness over the image and the tabular row together
            dc_explainer *ex;
            CHECK(dc_explainer_new(&ex, l, 64, 2, &err) == DC_OK, "%s", err.msg);
            dc_explain_config cfg = dc_explain_config_default();
            cfg.method = DC_EXPLAIN_IG;
            cfg.steps = 128;
            dc_explanation e;
            CHECK(dc_explain(ex, x, &cfg, &e, &err) != DC_OK, "IG without the row is refused");
            cfg.tabular = row;
            CHECK(dc_explain(ex, x, &cfg, &e, &err) == DC_OK, "%s", err.msg);
            double gap = e.f_input - e.f_baseline;
            printf("  IG: f(x) - f(b) = %.4f, sum of attributions %.4f (tabular %.4f %.4f %.4f)\n", gap, e.attr_sum,
                   e.tab_attr[0], e.tab_attr[1], e.tab_attr[2]);
            CHECK(e.tab_f == 3 && fabs(e.attr_sum - gap) < 0.02 * fabs(gap) + 1e-3, "completeness over both inputs");
            CHECK(fabs(e.tab_attr[0]) > fabs(e.tab_attr[1]) && fabs(e.tab_attr[0]) > fabs(e.tab_attr[2]),
                  "the informative column gets the largest tabular attribution");
            dc_explanation_free(&e);
            dc_explainer_free(ex);
            dc_model_free(l);
        }
        printf("refusals: a multimodal model without its rows, rows for another width\n");
        dc_eval_result r;
        CHECK(dc_evaluate(m, &te, 100, 1, &r, &err) != DC_OK && strstr(err.msg, "tabular"), "eval without rows: %s",
              err.msg);
        dc_tabular bad = tte;
        bad.f = 2;
        CHECK(dc_evaluate_tabular(m, &te, &bad, 100, 1, &r, &err) != DC_OK && strstr(err.msg, "columns"), "%s", err.msg);
        dc_model_free(m);
    }
    dc_model *x = NULL;
    dc_error err;
    CHECK(dc_model_parse(&x, fusion, "fusion.arch", 1, 28, 28, 4, &err) != DC_OK && strstr(err.msg, "features"),
          "a tabular input needs a width: %s", err.msg);
    CHECK(dc_model_parse(&x, "conv2d out=2 k=3\ninput name=late\nflatten\nlinear out=2\n", "a", 1, 8, 8, 2, &err) !=
              DC_OK && strstr(err.msg, "first line"), "%s", err.msg);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    dc_tabular_free(&ttr);
    dc_tabular_free(&tte);
    return dc_test_finish();
}
