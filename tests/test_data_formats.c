// test_data_formats.c — every loader of src/data against Python's own
// readers: tests/gen_data_formats.py writes small CSV (csv module), .npz and
// .npy (numpy), CIFAR-10 binary (NumPy records) and image-folder (PIL, and
// torchvision's ImageFolder + Resize when it is installed) data sets, and
// what those readers read back; each must load here to the same bytes,
// labels, shape, classes and names. Every defect the generator makes must be
// refused with the file named. Then the in-memory entry points (what the
// fuzzers call) on the same files, and per-channel normalisation.
//
// Needs /usr/bin/python3 with numpy and PIL (python3-numpy, python3-pil);
// without them the Python half is reported SKIPPED and the rest still runs.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "core/core.h"
#include "data/data.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static dc_data_options options_of(const cJSON *o) {
    dc_data_options opt = dc_data_options_default();
    const cJSON *v;
    if ((v = cJSON_GetObjectItem(o, "channels"))) opt.channels = v->valueint;
    if ((v = cJSON_GetObjectItem(o, "height"))) opt.height = v->valueint;
    if ((v = cJSON_GetObjectItem(o, "width"))) opt.width = v->valueint;
    if ((v = cJSON_GetObjectItem(o, "shape"))) {
        opt.shape_c = cJSON_GetArrayItem(v, 0)->valueint;
        opt.shape_h = cJSON_GetArrayItem(v, 1)->valueint;
        opt.shape_w = cJSON_GetArrayItem(v, 2)->valueint;
    }
    if ((v = cJSON_GetObjectItem(o, "layout")))
        opt.layout = !strcmp(v->valuestring, "nhwc") ? DC_LAYOUT_NHWC : DC_LAYOUT_NCHW;
    if ((v = cJSON_GetObjectItem(o, "skip_bad"))) opt.skip_bad = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItem(o, "classes"))) opt.classes = v->valuestring;
    opt.nthreads = 2;
    return opt;
}

static void compare_split(const char *name, const char *which, const dc_dataset *ds, const cJSON *want) {
    const int n = cJSON_GetObjectItem(want, "n")->valueint, c = cJSON_GetObjectItem(want, "c")->valueint,
              h = cJSON_GetObjectItem(want, "h")->valueint, w = cJSON_GetObjectItem(want, "w")->valueint;
    const int nc = cJSON_GetObjectItem(want, "n_classes")->valueint;
    const bool unl = cJSON_IsTrue(cJSON_GetObjectItem(want, "unlabelled"));
    const int skipped = cJSON_GetObjectItem(want, "skipped")->valueint;
    CHECK(ds->n == n && ds->c == c && ds->h == h && ds->w == w, "%s %s: shape %dx%dx%dx%d, Python %dx%dx%dx%d", name,
          which, ds->n, ds->c, ds->h, ds->w, n, c, h, w);
    CHECK(ds->n_classes == nc, "%s %s: %d classes, Python %d", name, which, ds->n_classes, nc);
    CHECK(ds->unlabelled == unl, "%s %s: unlabelled %d, Python %d", name, which, ds->unlabelled, unl);
    CHECK(ds->skipped == skipped, "%s %s: %d skipped, Python %d", name, which, ds->skipped, skipped);
    if (ds->n != n || ds->c != c || ds->h != h || ds->w != w) return;
    uint8_t *px, *lb;
    size_t lpx, llb;
    if (dc_read_file(cJSON_GetObjectItem(want, "pixels")->valuestring, &px, &lpx, (size_t)1 << 30, NULL) ||
        dc_read_file(cJSON_GetObjectItem(want, "labels")->valuestring, &lb, &llb, (size_t)1 << 30, NULL)) {
        CHECK(0, "%s: expected files unreadable", name);
        return;
    }
    const size_t total = (size_t)n * c * h * w;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < total && i < lpx; i++)
        if (ds->pixels[i] != px[i] && !bad++) first = i;
    CHECK(lpx == total && bad == 0, "%s %s: %zu of %zu pixel bytes differ from Python's, first at %zu (%d vs %d)", name,
          which, bad, total, first, bad ? ds->pixels[first] : 0, bad ? px[first] : 0);
    int lbad = 0;
    for (int i = 0; i < n && (size_t)(4 * i + 3) < llb; i++) {
        int32_t v = (int32_t)((uint32_t)lb[4 * i] | (uint32_t)lb[4 * i + 1] << 8 | (uint32_t)lb[4 * i + 2] << 16 |
                              (uint32_t)lb[4 * i + 3] << 24);
        lbad += ds->labels[i] != v;
    }
    CHECK(llb == 4 * (size_t)n && lbad == 0, "%s %s: %d labels differ", name, which, lbad);
    const cJSON *names = cJSON_GetObjectItem(want, "classes");
    if (cJSON_IsArray(names)) {
        int same = ds->class_names && cJSON_GetArraySize(names) == ds->n_classes;
        for (int k = 0; same && k < ds->n_classes; k++)
            same = !strcmp(ds->class_names[k], cJSON_GetArrayItem(names, k)->valuestring);
        CHECK(same, "%s %s: class names differ from Python's", name, which);
    } else {
        CHECK(ds->class_names == NULL, "%s %s: class names where the data has none", name, which);
    }
    printf("  %-52s %-5s %4d x %dx%dx%d  ok\n", name, which, n, c, h, w);
    free(px);
    free(lb);
}

static void run_manifest(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    uint8_t *buf;
    size_t len;
    if (dc_read_file(p, &buf, &len, (size_t)1 << 24, NULL)) {
        CHECK(0, "no manifest");
        return;
    }
    cJSON *m = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    CHECK(cJSON_IsArray(m) && cJSON_GetArraySize(m) > 40, "manifest lists the cases");
    int n_ok = 0, n_err = 0;
    for (const cJSON *cs = m ? m->child : NULL; cs; cs = cs->next) {
        const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
        const char *spec = cJSON_GetObjectItem(cs, "spec")->valuestring;
        const bool want_ok = !strcmp(cJSON_GetObjectItem(cs, "kind")->valuestring, "ok");
        dc_data_options opt = options_of(cJSON_GetObjectItem(cs, "options"));
        dc_dataset tr, te;
        dc_error err = {{0}};
        dc_status st = dc_data_open_opts(&tr, &te, spec, &opt, &err);
        if (want_ok) {
            n_ok++;
            CHECK(st == DC_OK, "%s: %s", name, err.msg);
            if (!st) {
                const cJSON *splits = cJSON_GetObjectItem(cs, "splits");
                compare_split(name, "train", &tr, cJSON_GetArrayItem(splits, 0));
                if (cJSON_GetArraySize(splits) > 1) compare_split(name, "test", &te, cJSON_GetArrayItem(splits, 1));
                else CHECK(te.n == 0, "%s: a test split where there is none", name);
            }
        } else {
            n_err++;
            const char *needle = cJSON_GetObjectItem(cs, "needle")->valuestring;
            const cJSON *n2 = cJSON_GetObjectItem(cs, "needle2");
            // the message names the file (or folder) at fault and what is wrong
            CHECK(st != DC_OK && strstr(err.msg, needle) && (!n2 || strstr(err.msg, n2->valuestring)) &&
                      !strchr(err.msg, '\n') && tr.n == 0 && tr.pixels == NULL && te.pixels == NULL,
                  "%s: status %d, message lacks '%s'%s%s: %s", name, st, needle, n2 ? " or " : "",
                  n2 ? n2->valuestring : "", err.msg);
            printf("  %-44s -> %s\n", name, err.msg);
        }
        dc_dataset_free(&tr);
        dc_dataset_free(&te);
    }
    printf("  %d loads compared with Python, %d defects refused\n", n_ok, n_err);
    cJSON_Delete(m);
}

// The in-memory entry points the fuzzers use give what the file loaders give.
static void in_memory(const char *dir) {
    char p[4200];
    uint8_t *buf;
    size_t len;
    dc_error err;
    dc_dataset a, b, c, d;
    snprintf(p, sizeof p, "%s/csv/mid.csv", dir);
    if (!dc_read_file(p, &buf, &len, 1 << 20, NULL)) {
        CHECK(dc_csv_parse(&a, buf, len, "mem", NULL, &err) == DC_OK && dc_csv_load(&b, p, NULL, &err) == DC_OK &&
                  a.n == b.n && !memcmp(a.pixels, b.pixels, (size_t)a.n * 16) &&
                  !memcmp(a.labels, b.labels, sizeof(int32_t) * (size_t)a.n),
              "dc_csv_parse == dc_csv_load");
        // every prefix of the file either loads or fails cleanly (a cut row is ragged)
        int clean = 1;
        for (size_t k = 0; k < len; k += 7) {
            dc_dataset t;
            dc_status st = dc_csv_parse(&t, buf, k, "cut", NULL, &err);
            clean &= st == DC_OK ? t.n >= 0 : (t.pixels == NULL && strstr(err.msg, "cut") == err.msg);
            dc_dataset_free(&t);
        }
        CHECK(clean, "CSV prefixes load or fail naming their origin");
        free(buf);
        dc_dataset_free(&a);
        dc_dataset_free(&b);
    }
    snprintf(p, sizeof p, "%s/npz/keras.npz", dir);
    if (!dc_read_file(p, &buf, &len, 1 << 24, NULL)) {
        CHECK(dc_npz_parse(&a, &b, buf, len, "mem", NULL, &err) == DC_OK &&
                  dc_npz_load(&c, &d, p, NULL, &err) == DC_OK && a.n == c.n && b.n == d.n &&
                  !memcmp(a.pixels, c.pixels, (size_t)a.n * a.c * a.h * a.w),
              "dc_npz_parse == dc_npz_load");
        int clean = 1;
        for (size_t k = 0; k < len; k += 13) {
            dc_dataset t, u;
            dc_status st = dc_npz_parse(&t, &u, buf, k, "cut", NULL, &err);
            clean &= st != DC_OK && t.pixels == NULL && u.pixels == NULL;
        }
        CHECK(clean, "every proper prefix of an .npz is refused");
        free(buf);
        dc_dataset_free(&a), dc_dataset_free(&b), dc_dataset_free(&c), dc_dataset_free(&d);
    }
    snprintf(p, sizeof p, "%s/cifar/test_batch.bin", dir);
    if (!dc_read_file(p, &buf, &len, 1 << 24, NULL)) {
        CHECK(dc_cifar_parse(&a, buf, len, "mem", 10, &err) == DC_OK && a.n == 4 && a.c == 3 && a.h == 32 &&
                  a.labels[0] == buf[0] && a.pixels[0] == buf[1] && a.pixels[3071] == buf[3072],
              "dc_cifar_parse: %s", err.msg);
        CHECK(dc_cifar_parse(&b, buf, len - 1, "mem", 10, &err) == DC_ERR_FORMAT && strstr(err.msg, "truncated"),
              "cut CIFAR record: %s", err.msg);
        free(buf);
        dc_dataset_free(&a);
    }
    // an image: dc_image_probe sees its size; dc_image_decode on a cut file fails
    snprintf(p, sizeof p, "%s/images/train/cat/b.jpg", dir);
    if (!dc_read_file(p, &buf, &len, 1 << 24, NULL)) {
        int h, w;
        bool gray;
        uint8_t *px;
        CHECK(dc_image_probe(buf, len, "b.jpg", &h, &w, &gray, &err) == DC_OK && h == 15 && w == 20 && !gray,
              "JPEG probe %dx%d gray %d", h, w, gray);
        CHECK(dc_image_decode(&px, buf, len / 2, "cut.jpg", 3, 15, 20, &err) == DC_ERR_FORMAT && !px &&
                  strstr(err.msg, "cut.jpg") && strstr(err.msg, "JPEG"),
              "a half JPEG is refused: %s", err.msg);
        free(buf);
    }
}

// Colour data: the model's normalisation is per channel, batches use it,
// and it survives a save and a load (deepc.norm with arrays).
static void per_channel(void) {
    printf("per-channel normalisation\n");
    dc_dataset ds = {0};
    ds.n = 50, ds.c = 3, ds.h = 4, ds.w = 4, ds.n_classes = 2;
    ds.pixels = malloc(50 * 48);
    ds.labels = calloc(50, sizeof(int32_t));
    dc_rng r;
    dc_rng_seed(&r, 3);
    for (int i = 0; i < 50 * 48; i++) {
        int ch = (i / 16) % 3; // channel k has values around 60 k + 20
        ds.pixels[i] = (uint8_t)(20 + 60 * ch + dc_rng_below(&r, 40));
    }
    dc_model *m = NULL;
    dc_error err;
    CHECK(dc_model_parse(&m, "conv2d out=2 k=3 pad=1\nflatten\nlinear out=2\n", "t", 3, 4, 4, 2, &err) == DC_OK, "%s",
          err.msg);
    if (!m) return;
    CHECK(!dc_model_has_normalisation(m), "a new model has no normalisation yet");
    dc_model_set_normalisation(m, &ds);
    float mean[3], sd[3];
    CHECK(dc_model_get_normalisation_channels(m, mean, sd) == 3, "three channels");
    for (int k = 0; k < 3; k++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < 50; i++)
            for (int j = 0; j < 16; j++) {
                double v = ds.pixels[i * 48 + k * 16 + j] / 255.0;
                s += v, s2 += v * v;
            }
        double mu = s / 800, var = s2 / 800 - mu * mu;
        CHECK(fabs(mean[k] - mu) < 1e-6 && fabs(sd[k] - sqrt(var)) < 1e-6, "channel %d: mean %g (want %g), std %g (want %g)",
              k, mean[k], mu, sd[k], sqrt(var));
    }
    CHECK(mean[2] > mean[1] && mean[1] > mean[0], "the channels differ");
    float x[48], y[48];
    int32_t idx = 7;
    dc_batch_gather(x, NULL, &ds, &idx, 1, m->norm_mean, m->norm_std);
    dc_model_normalise(m, y, ds.pixels + 7 * 48, 48);
    int close = 1;
    for (int i = 0; i < 48; i++) {
        int k = i / 16;
        float want = ((float)ds.pixels[7 * 48 + i] / 255.0f - mean[k]) / sd[k];
        close &= fabsf(x[i] - want) < 1e-6f && fabsf(y[i] - want) < 1e-5f;
    }
    CHECK(close, "gather and normalise use each channel's mean and std");
    // augmentation pads each channel with its own normalised 0
    float fill[3], z[48];
    for (int k = 0; k < 3; k++) fill[k] = -mean[k] / sd[k];
    memcpy(z, x, sizeof z);
    dc_augment_sample(z, 3, 4, 4, 0.0f, 1.0f, 100.0f, 0.0f, false, fill);
    CHECK(z[0] == fill[0] && z[16] == fill[1] && z[47] == fill[2], "shifted out of view: each channel's fill");
    char path[512];
    snprintf(path, sizeof path, "%s/pc.safetensors", dc_test_tmpdir());
    dc_rng_seed(&r, 1);
    dc_model_init_params(m, &r);
    dc_model *l = NULL;
    CHECK(dc_model_save(m, path, &err) == DC_OK && dc_model_load(&l, path, &err) == DC_OK, "%s", err.msg);
    if (l) {
        float lm[3], ls[3];
        dc_model_get_normalisation_channels(l, lm, ls);
        CHECK(!memcmp(lm, mean, sizeof lm) && !memcmp(ls, sd, sizeof ls) && dc_model_has_normalisation(l),
              "per-channel normalisation round-trips bit for bit");
        const char *prov = dc_model_info(l, "provenance");
        CHECK(prov && strstr(prov, "\"version\":\"" DC_VERSION "\""), "the provenance names the version: %s",
              prov ? prov : "(none)");
        dc_model_free(l);
    }
    // the explainers' black baseline is each channel's normalised 0
    dc_explainer *ex = NULL;
    if (dc_explainer_new(&ex, m, 8, 1, &err) == DC_OK) {
        dc_explain_config ec = dc_explain_config_default();
        float b[48];
        CHECK(dc_explain_baseline(ex, x, &ec, b, &err) == DC_OK && b[0] == fill[0] && b[20] == fill[1] &&
                  b[40] == fill[2] && fill[0] != fill[2],
              "black baseline per channel: %g %g %g", b[0], b[20], b[40]);
        dc_explainer_free(ex);
    } else {
        CHECK(0, "explainer: %s", err.msg);
    }
    // the wrong number of values is refused; one value is for every channel
    const float two[2] = {0.5f, 0.5f}, bad_sd[1] = {0.0f}, one[1] = {0.25f}, s1[1] = {2.0f};
    CHECK(dc_model_set_normalisation_channels(m, two, two, 2, &err) == DC_ERR_ARG && strstr(err.msg, "give 1 or 3"),
          "2 values for 3 channels: %s", err.msg);
    CHECK(dc_model_set_normalisation_channels(m, one, bad_sd, 1, &err) == DC_ERR_ARG, "std 0 refused");
    CHECK(dc_model_set_normalisation_channels(m, one, s1, 1, &err) == DC_OK, "one value");
    dc_model_get_normalisation_channels(m, mean, sd);
    CHECK(mean[2] == 0.25f && sd[1] == 2.0f, "one value for every channel");
    dc_model_free(m);
    dc_dataset_free(&ds);
}

// The text format of a file in the old scalar form still loads (and a gray
// model keeps writing it).
static void scalar_norm_compat(void) {
    dc_model *m = NULL, *l = NULL;
    dc_error err;
    CHECK(dc_model_builtin(&m, "mlp", 1, 8, 8, 3, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    dc_model_set_normalisation_values(m, 0.125f, 0.5f);
    char path[512];
    snprintf(path, sizeof path, "%s/gray.safetensors", dc_test_tmpdir());
    CHECK(dc_model_save(m, path, &err) == DC_OK, "%s", err.msg);
    uint8_t *buf;
    size_t len;
    if (!dc_read_file(path, &buf, &len, 1 << 26, NULL)) {
        const char *want = "{\\\"mean\\\":0.125,\\\"std\\\":0.5}"; // as escaped in the JSON header
        bool found = false;
        for (size_t i = 0; i + strlen(want) <= len && !found; i++) found = !memcmp(buf + i, want, strlen(want));
        CHECK(found, "a gray model writes the scalar form");
        free(buf);
    }
    CHECK(dc_model_load(&l, path, &err) == DC_OK, "%s", err.msg);
    if (l) {
        float a, b;
        dc_model_get_normalisation(l, &a, &b);
        CHECK(a == 0.125f && b == 0.5f, "scalar form loads: %g %g", a, b);
        dc_model_free(l);
    }
    dc_model_free(m);
}

int main(void) {
    printf("loaders against Python's readers\n");
    const char *py = getenv("DEEPC_PYTHON") ? getenv("DEEPC_PYTHON") : "/usr/bin/python3";
    char dir[512], cmd[2048];
    snprintf(dir, sizeof dir, "%s/gen", dc_test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s %s %s", py, dc_src_path("tests/gen_data_formats.py"), dir);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) {
        printf("SKIPPED the Python comparison: %s lacks numpy or PIL (apt-get install python3-numpy python3-pil)\n", py);
    } else {
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "generator failed: %s (exit %d)", cmd, rc);
        run_manifest(dir);
        in_memory(dir);
    }
    per_channel();
    scalar_norm_compat();
    return dc_test_finish();
}
