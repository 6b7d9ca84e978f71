// predict.c — `deepc predict MODEL INPUT...`: the top-k classes of every
// input, where an input is an image file (PNG, JPEG, PGM/PPM; converted to
// the model's channels and resized to its size), a folder (every image under
// it, in ImageFolder order), a CSV file (one sample per row, Kaggle's
// layout, with or without a label column) or a .npy array of images. Text
// (one block per input), --json (one object per input: index, path, row,
// top_k, probabilities, logits) and --submission FILE (Kaggle's
// "ImageId,Label" CSV, ImageId counting the inputs from 1).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "core/core.h"

#define VERB "predict"

// One input sample: where it came from and its (c,h,w) bytes.
typedef struct item {
    const char *path; // the file (owned by a source)
    int row;          // row of a CSV or NPY file, -1 for an image file
    int label;        // from a labelled CSV/NPY, else -1
    const uint8_t *px;
} item;

// Everything loaded, so that the items can point into it.
typedef struct sources {
    dc_dataset *sets;   // CSV and NPY files
    int n_sets;
    uint8_t **images;   // decoded image files
    char **paths;       // image paths found in folders (owned)
    int n_images, n_paths;
} sources;

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    if (n < k) return false;
    for (size_t i = 0; i < k; i++)
        if ((s[n - k + i] | 0x20) != suf[i]) return false;
    return true;
}

static bool push_item(item **v, int *n, int *cap, item it) {
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        item *q = realloc(*v, sizeof(item) * (size_t)nc);
        if (!q) return false;
        *v = q;
        *cap = nc;
    }
    (*v)[(*n)++] = it;
    return true;
}

static int add_image(sources *s, item **v, int *n, int *cap, const char *path, int c, int h, int w) {
    dc_error err;
    uint8_t *px;
    if (dc_image_load(&px, path, c, h, w, &err)) return cli_fail(VERB, &err);
    uint8_t **q = realloc(s->images, sizeof(uint8_t *) * (size_t)(s->n_images + 1));
    if (!q || !push_item(v, n, cap, (item){path, -1, -1, px})) {
        free(px);
        if (q) s->images = q;
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        return 1;
    }
    s->images = q;
    s->images[s->n_images++] = px;
    return 0;
}

// Every input named on the command line into items, in order.
static int load_inputs(const char *const *in, int n_in, const dc_model *m, const char *layout, sources *s,
                       item **items, int *n_items) {
    int c, h, w, cap = 0;
    dc_model_input_shape(m, &c, &h, &w);
    const size_t plane = (size_t)c * h * w;
    dc_error err;
    for (int i = 0; i < n_in; i++) {
        const char *p = in[i];
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            char **paths;
            int np;
            if (dc_image_list(&paths, &np, p, &err)) return cli_fail(VERB, &err);
            if (np == 0) {
                dc_image_list_free(paths, np);
                fprintf(stderr, "deepc %s: %s: no image files (.png, .jpg, .jpeg, .pgm, .ppm) in this folder\n", VERB, p);
                return 1;
            }
            char **q = realloc(s->paths, sizeof(char *) * (size_t)(s->n_paths + np));
            if (!q) {
                dc_image_list_free(paths, np);
                fprintf(stderr, "deepc %s: out of memory\n", VERB);
                return 1;
            }
            s->paths = q;
            for (int k = 0; k < np; k++) s->paths[s->n_paths++] = paths[k];
            free(paths);
            for (int k = s->n_paths - np; k < s->n_paths; k++) {
                int rc = add_image(s, items, n_items, &cap, s->paths[k], c, h, w);
                if (rc) return rc;
            }
        } else if (ends_with(p, ".csv") || ends_with(p, ".npy")) {
            dc_dataset *q = realloc(s->sets, sizeof(dc_dataset) * (size_t)(s->n_sets + 1));
            if (!q) {
                fprintf(stderr, "deepc %s: out of memory\n", VERB);
                return 1;
            }
            s->sets = q;
            dc_dataset *ds = &s->sets[s->n_sets];
            dc_data_options o = dc_data_options_default();
            o.shape_c = c, o.shape_h = h, o.shape_w = w; // the pixel columns are the model's input
            if (layout && !strcmp(layout, "nhwc")) o.layout = DC_LAYOUT_NHWC;
            if (layout && !strcmp(layout, "nchw")) o.layout = DC_LAYOUT_NCHW;
            dc_status st = ends_with(p, ".csv") ? dc_csv_load(ds, p, &o, &err) : dc_npy_load_pair(ds, p, NULL, &o, &err);
            if (st) return cli_fail(VERB, &err);
            s->n_sets++;
            if (ds->c != c || ds->h != h || ds->w != w) {
                fprintf(stderr, "deepc %s: %s holds %dx%dx%d samples but the model takes %dx%dx%d (CxHxW)\n", VERB, p,
                        ds->c, ds->h, ds->w, c, h, w);
                return 1;
            }
            for (int r = 0; r < ds->n; r++)
                if (!push_item(items, n_items, &cap,
                               (item){p, r, ds->unlabelled ? -1 : ds->labels[r], ds->pixels + (size_t)r * plane})) {
                    fprintf(stderr, "deepc %s: out of memory\n", VERB);
                    return 1;
                }
        } else {
            int rc = add_image(s, items, n_items, &cap, p, c, h, w);
            if (rc) return rc;
        }
    }
    return 0;
}

static void sources_free(sources *s) {
    for (int i = 0; i < s->n_sets; i++) dc_dataset_free(&s->sets[i]);
    free(s->sets);
    for (int i = 0; i < s->n_images; i++) free(s->images[i]);
    free(s->images);
    for (int i = 0; i < s->n_paths; i++) free(s->paths[i]);
    free(s->paths);
}

int cmd_predict(int argc, char **argv) {
    int top_k = 3, threads = 1, batch = 64;
    bool json = false;
    const char *submission = NULL, *layout = NULL, *tab_path = NULL, *tab_id = NULL;
    cli_norm nrm = {0};
    dc_opt opts[] = {
        {"top-k", OPT_INT, &top_k, "how many classes to show per input [3]"},
        {"json", OPT_FLAG, &json, "one JSON object per input: index, path, row, top_k, probabilities, logits"},
        {"submission", OPT_STR, &submission, "also write Kaggle's submission CSV (ImageId,Label; ImageId from 1) here"},
        {"layout", OPT_STR, &layout, "NumPy rank-4 inputs: nhwc or nchw [from the shape]"},
        {"tabular", OPT_STR, &tab_path, "multimodal models: CSV of the inputs' rows, one per input in order (header of column names)"},
        {"tabular-id", OPT_STR, &tab_id, "the --tabular column that numbers each row's input from 0 (else rows are in input order)"},
        {"batch", OPT_INT, &batch, "inputs per inference batch [64]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [1]"},
        CLI_NORM_OPTIONS(&nrm),
        {NULL, 0, NULL, NULL, false},
    };
    enum { MAX_IN = 4097 };
    const char **pos = malloc(sizeof(char *) * MAX_IN);
    int n_pos;
    bool help;
    if (!pos) {
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        return 1;
    }
    if (!cli_parse(argc, argv, opts, pos, MAX_IN, &n_pos, &help, VERB)) {
        free(pos);
        if (help) {
            cli_usage(VERB, "MODEL.safetensors INPUT... [options]   (INPUT: an image, a folder, a .csv or a .npy)", opts);
            return 0;
        }
        return 2;
    }
    int rc = 0;
#define BAD(...) do { fprintf(stderr, "deepc " VERB ": " __VA_ARGS__); fputc('\n', stderr); free(pos); return 2; } while (0)
    if (n_pos < 2) BAD("expected a model file and at least one input: an image, a folder, a .csv or a .npy (see deepc "
                       VERB " --help)");
    if (top_k < 1) BAD("--top-k %d: must be >= 1", top_k);
    if (threads < 0 || threads > 1024) BAD("--threads %d: expected 0..1024", threads);
    if (batch < 1 || batch > 65536) BAD("--batch %d: expected 1..65536", batch);
    if (layout && strcmp(layout, "nhwc") && strcmp(layout, "nchw")) BAD("--layout '%s': expected nhwc or nchw", layout);
#undef BAD
    dc_error err;
    if (submission && dc_check_output(submission, &err)) { // before the work, not after
        fprintf(stderr, "deepc %s: --submission %s\n", VERB, err.msg);
        free(pos);
        return 1;
    }
    dc_model *m;
    if ((rc = cli_model_load(VERB, pos[0], &nrm, &m))) {
        free(pos);
        return rc;
    }
    int c, h, w;
    const int C = dc_model_num_classes(m);
    dc_model_input_shape(m, &c, &h, &w);
    const size_t plane = (size_t)c * h * w;
    if (top_k > C) top_k = C;
    sources src = {0};
    item *items = NULL;
    int n_items = 0;
    rc = load_inputs(pos + 1, n_pos - 1, m, layout, &src, &items, &n_items);
    dc_tabular tab = {0};
    const int F = dc_model_tabular_features(m);
    if (!rc && F && !tab_path) {
        fprintf(stderr, "deepc %s: %s has a tabular input of %d columns: give the inputs' rows (--tabular FILE)\n", VERB,
                pos[0], F);
        rc = 2;
    } else if (!rc && !F && tab_path) {
        fprintf(stderr, "deepc %s: --tabular %s: %s has no tabular input\n", VERB, tab_path, pos[0]);
        rc = 2;
    } else if (!rc && tab_path && n_items > 0 && dc_tabular_read_csv(&tab, tab_path, tab_id, n_items, &err)) {
        rc = cli_fail(VERB, &err);
    } else if (!rc && tab_path && n_items > 0 && tab.f != F) {
        fprintf(stderr, "deepc %s: --tabular %s: %d columns, the model's tabular input takes %d\n", VERB, tab_path,
                tab.f, F);
        rc = 2;
    }
    const int B = batch < n_items ? batch : (n_items > 0 ? n_items : 1);
    float *logits = malloc(sizeof(float) * (size_t)C * B), *prob = malloc(sizeof(float) * (size_t)C);
    int *order = malloc(sizeof(int) * (size_t)C);
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)(n_items > 0 ? n_items : 1));
    dc_session *ses = NULL;
    if (!rc && (!logits || !prob || !order || !pred)) {
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        rc = 1;
    }
    if (!rc && dc_session_new(&ses, m, B, threads, &err)) rc = cli_fail(VERB, &err);
    for (int b0 = 0; !rc && b0 < n_items; b0 += B) {
        const int nb = n_items - b0 < B ? n_items - b0 : B;
        float *in = dc_session_input(ses);
        for (int k = 0; k < nb; k++) dc_model_normalise(m, in + plane * (size_t)k, items[b0 + k].px, plane);
        if (F) { // the inputs' rows, standardised as in training
            float *tb = dc_session_tabular(ses);
            memcpy(tb, tab.x + (size_t)b0 * F, sizeof(float) * (size_t)nb * F);
            dc_model_normalise_tabular(m, tb, nb);
        }
        memcpy(logits, dc_session_run(ses, nb), sizeof(float) * (size_t)nb * C);
        for (int k = 0; k < nb && !rc; k++) {
            const item *it = &items[b0 + k];
            const float *z = logits + (size_t)C * k;
            // softmax in double, from the largest logit (stable)
            double mx = z[0], sum = 0;
            for (int j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
            for (int j = 0; j < C; j++) sum += exp((double)z[j] - mx);
            for (int j = 0; j < C; j++) prob[j] = (float)(exp((double)z[j] - mx) / sum);
            for (int j = 0; j < C; j++) order[j] = j;
            for (int a = 0; a < top_k; a++) // partial selection sort: top_k is small; lower index first on ties
                for (int q = a + 1; q < C; q++)
                    if (prob[order[q]] > prob[order[a]]) {
                        int t = order[a];
                        order[a] = order[q];
                        order[q] = t;
                    }
            pred[b0 + k] = order[0];
            if (json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "index", b0 + k);
                cJSON_AddStringToObject(j, "path", it->path);
                if (it->row >= 0) cJSON_AddNumberToObject(j, "row", it->row);
                else cJSON_AddNullToObject(j, "row");
                if (it->label >= 0) cJSON_AddNumberToObject(j, "label", it->label);
                else cJSON_AddNullToObject(j, "label");
                cJSON_AddNumberToObject(j, "class", order[0]);
                cJSON_AddStringToObject(j, "name", dc_model_class_name(m, order[0])); // from the model file: anything
                cJSON *tk = cJSON_AddArrayToObject(j, "top_k");
                for (int a = 0; a < top_k; a++) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddNumberToObject(o, "class", order[a]);
                    cJSON_AddStringToObject(o, "name", dc_model_class_name(m, order[a]));
                    cJSON_AddNumberToObject(o, "probability", prob[order[a]]);
                    cJSON_AddItemToArray(tk, o);
                }
                cJSON_AddItemToObject(j, "probabilities", cJSON_CreateFloatArray(prob, C));
                cJSON_AddItemToObject(j, "logits", cJSON_CreateFloatArray(z, C));
                if (!cli_json_print(j)) rc = 1;
            } else {
                if (it->row >= 0) printf("%s row %d\n", it->path, it->row);
                else printf("%s\n", it->path);
                for (int a = 0; a < top_k; a++)
                    printf("  %d. %-14s %6.2f%%  (class %d)\n", a + 1, dc_model_class_name(m, order[a]),
                           100 * prob[order[a]], order[a]);
            }
        }
    }
    if (!rc && submission) {
        // Kaggle's format: a header, then ImageId (1-based) and the class index
        size_t cap = 16 + (size_t)n_items * 24, len = 0;
        char *csv = malloc(cap);
        if (!csv) {
            fprintf(stderr, "deepc %s: out of memory\n", VERB);
            rc = 1;
        } else {
            len += (size_t)snprintf(csv, cap, "ImageId,Label\n");
            for (int i = 0; i < n_items; i++) len += (size_t)snprintf(csv + len, cap - len, "%d,%d\n", i + 1, pred[i]);
            dc_buf part = {csv, len};
            if (dc_write_atomic(submission, &part, 1, &err)) rc = cli_fail(VERB, &err);
            else if (!json) fprintf(stderr, "deepc %s: wrote %s (%d predictions)\n", VERB, submission, n_items);
            free(csv);
        }
    }
    dc_session_free(ses);
    dc_tabular_free(&tab);
    free(logits);
    free(prob);
    free(order);
    free(pred);
    free(items);
    sources_free(&src);
    dc_model_free(m);
    free(pos);
    return rc;
}
