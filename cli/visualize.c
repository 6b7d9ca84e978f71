// visualize.c — `deepc visualize MODEL (IMAGE | --index N) --out DIR`: the
// feature maps of every layer for one input and the first layer's filters,
// as PNG grids in DIR (see dc_visualize in include/deepc.h for the layout).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define VERB "visualize"

int cmd_visualize(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test", *out = "maps";
    int index = -1;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"out", OPT_STR, &out, "folder to write the PNG grids into (created if missing) [maps]"},
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        CLI_NORM_OPTIONS(&nrm),
        {"split", OPT_STR, &split, "test or train, for --index [test]"},
        {"index", OPT_INT, &index, "use this image of the data set instead of an image file"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[2];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, VERB)) {
        if (help) {
            cli_usage(VERB, "MODEL.safetensors (IMAGE | --index N [--data SPEC]) [options]", opts);
            return 0;
        }
        return 2;
    }
    const bool by_index = cli_find(opts, "index")->seen;
    if (n_pos < 1 || (n_pos == 2) == by_index) {
        fprintf(stderr, "deepc %s: expected a model file and either an image file or --index N (see deepc %s --help)\n",
                VERB, VERB);
        return 2;
    }
    if (!cli_split_ok(VERB, split)) return 2;
    dc_error err;
    dc_model *m;
    int lrc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (lrc) return lrc;
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    const size_t D = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * D);
    int rc = 0;
    if (!x) {
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        dc_model_free(m);
        return 1;
    }
    if (!by_index) {
        uint8_t *px;
        if (dc_image_load(&px, pos[1], c, h, w, &err)) {
            rc = cli_fail(VERB, &err);
        } else {
            dc_model_normalise(m, x, px, D);
            free(px);
        }
    } else {
        dc_dataset train, test;
        if ((rc = cli_data_open(VERB, data, &dopt, 0, false, &train, &test))) {
            // the message is printed
        } else {
            dc_dataset *ds = cli_pick_split(VERB, &train, &test, split, false);
            if (index < 0 || index >= ds->n) {
                fprintf(stderr, "deepc %s: --index %d is out of range: the %s split of %s has %d images (0..%d)\n", VERB,
                        index, split, data, ds->n, ds->n - 1);
                rc = 1;
            } else if (ds->c != c || ds->h != h || ds->w != w) {
                fprintf(stderr, "deepc %s: %s images are %dx%dx%d but the model expects %dx%dx%d\n", VERB, ds->source,
                        ds->c, ds->h, ds->w, c, h, w);
                rc = 1;
            } else {
                dc_model_normalise(m, x, ds->pixels + (size_t)index * D, D);
            }
            dc_dataset_free(&train);
            dc_dataset_free(&test);
        }
    }
    int n = 0;
    if (!rc && dc_visualize(m, x, out, &n, &err)) rc = cli_fail(VERB, &err);
    if (!rc) printf("wrote %d PNG files to %s (input, one feature-map grid per layer, first-layer filters)\n", n, out);
    free(x);
    dc_model_free(m);
    return rc;
}
