// predict.c — `deepc predict MODEL IMAGE...`: loads each image (PNG, PGM/PPM),
// converts it to the model's channels and size, and prints the top-k classes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cmd_predict(int argc, char **argv) {
    int top = 3, threads = 1;
    bool json = false;
    dc_opt opts[] = {
        {"top", OPT_INT, &top, "how many classes to show [3]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [1]"},
        {"json", OPT_FLAG, &json, "print one JSON object per image"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[4097];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 4097, &n_pos, &help, "predict")) {
        if (help) {
            cli_usage("predict", "MODEL.safetensors IMAGE... [options]", opts);
            return 0;
        }
        return 2;
    }
    if (n_pos < 2) {
        fprintf(stderr, "deepc predict: expected a model file and at least one image (see deepc predict --help)\n");
        return 2;
    }
    if (top < 1 || threads < 0) {
        fprintf(stderr, "deepc predict: --top must be >= 1 and --threads >= 0\n");
        return 2;
    }
    dc_error err;
    dc_model *m;
    if (dc_model_load(&m, pos[0], &err)) return cli_fail("predict", &err);
    int c, h, w, C = dc_model_num_classes(m);
    dc_model_input_shape(m, &c, &h, &w);
    if (top > C) top = C;
    float *x = malloc(sizeof(float) * (size_t)c * h * w);
    float *probs = malloc(sizeof(float) * (size_t)C);
    int *order = malloc(sizeof(int) * (size_t)C);
    int rc = 0;
    dc_session *ses = NULL;
    if (!x || !probs || !order) {
        fprintf(stderr, "deepc predict: out of memory\n");
        rc = 1;
    } else if (dc_session_new(&ses, m, 1, threads, &err)) {
        rc = cli_fail("predict", &err);
    }
    for (int i = 1; i < n_pos && !rc; i++) {
        uint8_t *px;
        if (dc_image_load(&px, pos[i], c, h, w, &err)) {
            rc = cli_fail("predict", &err);
            break;
        }
        dc_model_normalise(m, x, px, (size_t)c * h * w);
        free(px);
        if (dc_session_predict(ses, x, 1, probs, &err)) {
            rc = cli_fail("predict", &err);
            break;
        }
        for (int k = 0; k < C; k++) order[k] = k;
        for (int a = 0; a < top; a++) // partial selection sort: top is small
            for (int b = a + 1; b < C; b++)
                if (probs[order[b]] > probs[order[a]]) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
        if (json) {
            printf("{\"image\":");
            cli_json_str(pos[i]);
            printf(",\"top\":[");
            for (int a = 0; a < top; a++) {
                printf("%s{\"class\":%d,\"name\":", a ? "," : "", order[a]);
                cli_json_str(dc_model_class_name(m, order[a])); // from the model file: anything
                printf(",\"prob\":%.6f}", probs[order[a]]);
            }
            printf("]}\n");
        } else {
            printf("%s\n", pos[i]);
            for (int a = 0; a < top; a++)
                printf("  %d. %-14s %6.2f%%  (class %d)\n", a + 1, dc_model_class_name(m, order[a]),
                       100 * probs[order[a]], order[a]);
        }
    }
    dc_session_free(ses);
    free(x);
    free(probs);
    free(order);
    dc_model_free(m);
    return rc;
}
