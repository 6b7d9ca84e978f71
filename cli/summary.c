// summary.c — `deepc summary MODEL`: the node table of a model file, a
// built-in architecture or an architecture file (name, kind, output shape,
// parameters, multiply-adds, inputs, configuration), or with --json one
// object with a record per node; --text prints the canonical architecture
// text instead (what a model file stores, every default spelled out).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "data/loaders.h"

#define VERB "summary"

static bool is_model_file(const char *s) {
    size_t n = strlen(s);
    return n > 12 && !strcmp(s + n - 12, ".safetensors");
}

static int print_json(const dc_model *m, const char *what) {
    cJSON *j = cJSON_CreateObject();
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    cJSON_AddStringToObject(j, "model", what);
    cJSON *in = cJSON_AddArrayToObject(j, "input");
    cJSON_AddItemToArray(in, cJSON_CreateNumber(c));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(h));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(w));
    cJSON_AddNumberToObject(j, "classes", dc_model_num_classes(m));
    cJSON_AddNumberToObject(j, "params", (double)dc_model_num_params(m));
    cJSON_AddNumberToObject(j, "macs", (double)dc_model_macs(m));
    cJSON *nodes = cJSON_AddArrayToObject(j, "nodes");
    for (int i = 0; i < dc_model_num_nodes(m); i++) {
        dc_node_info ni;
        dc_model_node_info(m, i, &ni);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", ni.name);
        cJSON_AddStringToObject(o, "kind", ni.kind);
        cJSON_AddStringToObject(o, "config", ni.config);
        cJSON *ins = cJSON_AddArrayToObject(o, "inputs");
        for (int k = 0; k < ni.n_in; k++) {
            dc_node_info src;
            dc_model_node_info(m, ni.in[k], &src);
            cJSON_AddItemToArray(ins, cJSON_CreateString(src.name));
        }
        cJSON *out = cJSON_AddArrayToObject(o, "output");
        cJSON_AddItemToArray(out, cJSON_CreateNumber(ni.c));
        cJSON_AddItemToArray(out, cJSON_CreateNumber(ni.h));
        cJSON_AddItemToArray(out, cJSON_CreateNumber(ni.w));
        cJSON_AddNumberToObject(o, "params", (double)ni.params);
        cJSON_AddNumberToObject(o, "macs", (double)ni.macs);
        cJSON_AddItemToArray(nodes, o);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

int cmd_summary(int argc, char **argv) {
    const char *input = "1,28,28", *classes = "10";
    bool json = false, arch = false, help = false, wide = false;
    dc_opt opts[] = {
        {"input-shape", OPT_STR, &input, "C,H,W input shape for a built-in or architecture file [1,28,28]"},
        {"classes", OPT_STR, &classes, "classes for a built-in or architecture file: a count K or a file of names [10]"},
        {"text", OPT_FLAG, &arch, "print the canonical architecture text instead of the table"},
        {"wide", OPT_FLAG, &wide, "every node's whole configuration (the table is otherwise cut to 80 columns)"},
        {"json", OPT_FLAG, &json, "one JSON object with a record per node"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[2];
    int n_pos = 0;
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, VERB) || help || n_pos != 1) {
        if (help || n_pos != 1)
            cli_usage(VERB, "MODEL.safetensors | BUILTIN | FILE.arch [--input-shape C,H,W] [--classes K] [--text] [--json]",
                      opts);
        if (!help && n_pos != 1) fprintf(stderr, "deepc %s: expected one model, built-in name or architecture file\n", VERB);
        return help ? 0 : 2;
    }
    dc_error err;
    dc_model *m = NULL;
    if (is_model_file(pos[0])) {
        if (dc_model_load(&m, pos[0], &err)) return cli_fail(VERB, &err);
    } else {
        int c, h, w, k;
        char **names = NULL;
        if (!cli_parse_shape(VERB, "input-shape", input, &c, &h, &w)) return 2;
        if (dc_classes_read(classes, &k, &names, &err)) return cli_fail(VERB, &err);
        dc_status st = dc_model_create(&m, pos[0], c, h, w, k, &err);
        if (!st && names) st = dc_model_set_class_names(m, (const char *const *)names, k, &err);
        dc_names_free(names, k);
        if (st) {
            dc_model_free(m);
            return cli_fail(VERB, &err);
        }
    }
    int rc = 0;
    if (arch) {
        fputs(dc_model_arch_text(m), stdout);
    } else if (json) {
        rc = print_json(m, pos[0]);
    } else if (!wide) {
        cli_print_layers(stdout, m, 80);
    } else {
        size_t cap = 1 << 20;
        char *table = malloc(cap);
        if (!table) {
            fprintf(stderr, "deepc %s: out of memory\n", VERB);
            rc = 1;
        } else {
            dc_model_summary(m, table, cap);
            fputs(table, stdout);
            free(table);
        }
    }
    dc_model_free(m);
    return rc;
}
