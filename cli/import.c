// import.c — `deepc import STATE.safetensors --arch NAME|FILE --out M`:
// a complete deepc model from a plain PyTorch state_dict saved with
// safetensors (safetensors.torch.save_file(model.state_dict(), path)). The
// architecture says which tensors to expect (deepc's built-ins use
// PyTorch's names: torchvision's for the ResNets); the input shape, class
// count and normalisation are what the state_dict cannot tell: normalisation
// must be given (--mean/--std: one value, or one per input channel) or
// explicitly declined (--no-norm), since a model evaluated with the wrong
// one silently loses accuracy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "data/loaders.h"
#include "export/onnx.h"

#define VERB "import"

// `deepc import MODEL.onnx --out M`: the graph read from the ONNX file
// (src/export/onnx_import.c); normalisation and class names from deepc's
// metadata when the file has them, else --mean/--std (or --no-norm) and
// --classes as for a state_dict.
static int import_onnx(const char *path, const char *out, const char *classes, bool classes_given, bool have_norm,
                       bool no_norm, const float *mean, const float *std, int nm, bool json) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_import_onnx(&m, path, &err)) return cli_fail(VERB, &err);
    int rc = 0;
    if (!dc_model_has_normalisation(m) && !have_norm && !no_norm) {
        fprintf(stderr, "deepc %s: %s has no deepc normalisation metadata: give the normalisation the model was trained "
                "with (--mean M --std S), or --no-norm if it takes [0,1] pixels as they are\n", VERB, path);
        rc = 2;
    }
    if (!rc && have_norm && dc_model_set_normalisation_channels(m, mean, std, nm, &err)) rc = cli_fail(VERB, &err);
    if (!rc && no_norm && !dc_model_has_normalisation(m)) dc_model_set_normalisation_values(m, 0.0f, 1.0f);
    if (!rc && classes_given) {
        int k = 0;
        char **names = NULL;
        if (dc_classes_read(classes, &k, &names, &err)) rc = cli_fail(VERB, &err);
        else if (k != dc_model_num_classes(m)) {
            fprintf(stderr, "deepc %s: --classes gives %d classes but %s outputs %d\n", VERB, k, path, dc_model_num_classes(m));
            rc = 2;
        } else if (names && dc_model_set_class_names(m, (const char *const *)names, k, &err)) {
            rc = cli_fail(VERB, &err);
        }
        dc_names_free(names, k);
    }
    if (!rc) {
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "tool", "deepc");
        cJSON_AddStringToObject(pj, "version", dc_version());
        cJSON_AddStringToObject(pj, "imported_from", path);
        cJSON_AddStringToObject(pj, "format", "onnx");
        char *prov = cJSON_PrintUnformatted(pj);
        cJSON_Delete(pj);
        if (prov) dc_model_set_info(m, "provenance", prov, &err);
        free(prov);
        if (dc_model_save(m, out, &err)) rc = cli_fail(VERB, &err);
    }
    if (!rc && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", path);
        cJSON_AddStringToObject(j, "format", "onnx");
        cJSON_AddNumberToObject(j, "params", (double)dc_model_num_params(m));
        cJSON_AddNumberToObject(j, "nodes", m->n_nodes);
        cJSON_AddNumberToObject(j, "classes", dc_model_num_classes(m));
        cJSON_AddStringToObject(j, "dtype", m->quant ? "int8" : "fp32");
        cJSON_AddStringToObject(j, "out", out);
        if (!cli_json_print(j)) rc = 1;
    } else if (!rc) {
        printf("imported %s (ONNX, %s, %d nodes, %zu parameters, input %dx%dx%d, %d classes) into %s\n", path,
               m->quant ? "int8" : "fp32", m->n_nodes, dc_model_num_params(m), m->in_c, m->in_h, m->in_w,
               dc_model_num_classes(m), out);
    }
    dc_model_free(m);
    return rc;
}

int cmd_import(int argc, char **argv) {
    const char *arch = NULL, *input = "1,28,28", *out = NULL, *classes = "10", *mean_s = NULL, *std_s = NULL;
    bool no_norm = false, help = false, json = false;
    dc_opt opts[] = {
        {"arch", OPT_STR, &arch, "built-in name or architecture file the tensors belong to (required for a state_dict; an .onnx file carries its graph)"},
        {"input-shape", OPT_STR, &input, "C,H,W input shape [1,28,28]"},
        {"classes", OPT_STR, &classes, "the classes: a count K, or a file with one class name per line [10]"},
        {"mean", OPT_STR, &mean_s, "input normalisation: mean of the [0,1] pixels the model was trained with, one, or one per channel (0.49,0.48,0.45)"},
        {"std", OPT_STR, &std_s, "input normalisation: their standard deviation, one, or one per channel"},
        {"no-norm", OPT_FLAG, &no_norm, "the model takes [0,1] pixels as they are (mean 0, std 1)"},
        {"out", OPT_STR, &out, "the deepc model file to write (required)"},
        {"json", OPT_FLAG, &json, "print one JSON object about the model written"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[2];
    int n_pos = 0;
    const char *syn = "STATE.safetensors --arch NAME|FILE (--mean M --std S | --no-norm) [--input-shape C,H,W] [--classes K|FILE] --out M.safetensors\n"
                      "       deepc import MODEL.onnx [--mean M --std S | --no-norm] [--classes K|FILE] --out M.safetensors";
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, VERB) || help) {
        if (help) cli_usage(VERB, syn, opts);
        return help ? 0 : 2;
    }
    const size_t pl = n_pos == 1 ? strlen(pos[0]) : 0;
    const bool onnx = pl > 5 && !strcmp(pos[0] + pl - 5, ".onnx");
    if (n_pos == 1 && onnx && out && !arch) {
        const bool have = mean_s || std_s;
        float mean[64], std[64];
        int nm = 0;
        if (have) {
            char both[1200];
            snprintf(both, sizeof both, "%s,%s", mean_s ? mean_s : "", std_s ? std_s : "");
            if (!mean_s || !std_s || !(nm = cli_parse_norm(VERB, "mean/--std", both, mean, std))) {
                if (!mean_s || !std_s) fprintf(stderr, "deepc %s: give both --mean and --std\n", VERB);
                return 2;
            }
        }
        return import_onnx(pos[0], out, classes, cli_find(opts, "classes")->seen, have, no_norm, mean, std, nm, json);
    }
    if (n_pos != 1 || !arch || !out) {
        fprintf(stderr, "deepc %s: needs one state_dict file, --arch and --out (deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    const bool have_norm = mean_s || std_s;
    if (have_norm == no_norm || (have_norm && !(mean_s && std_s))) {
        fprintf(stderr, "deepc %s: give the normalisation the model was trained with (--mean M --std S), or --no-norm "
                        "if it takes [0,1] pixels as they are\n", VERB);
        return 2;
    }
    int c, h, w;
    if (!cli_parse_shape(VERB, "input-shape", input, &c, &h, &w)) return 2;
    float mean[64], std[64];
    int nm = 0;
    if (have_norm) {
        int cm = 1, cs = 1;
        for (const char *p = mean_s; *p; p++) cm += *p == ',';
        for (const char *p = std_s; *p; p++) cs += *p == ',';
        if (cm != cs || (cm != 1 && cm != c) || cm > 64) {
            fprintf(stderr, "deepc %s: --mean has %d value%s and --std %d: give one of each, or one per input channel "
                    "(%d)\n", VERB, cm, cm == 1 ? "" : "s", cs, c);
            return 2;
        }
        // "--mean a,b,c --std d,e,f" is read as one list: the means, then the stds
        char both[1200];
        snprintf(both, sizeof both, "%s,%s", mean_s, std_s);
        if (!(nm = cli_parse_norm(VERB, "mean/--std", both, mean, std))) return 2;
    }
    dc_error err;
    int k = 0;
    char **names = NULL;
    if (dc_classes_read(classes, &k, &names, &err)) return cli_fail(VERB, &err);
    dc_model *m = NULL;
    if (dc_model_create(&m, arch, c, h, w, k, &err)) {
        dc_names_free(names, k);
        return cli_fail(VERB, &err);
    }
    int rc = 0;
    if (dc_model_load_state_dict(m, pos[0], &err)) rc = cli_fail(VERB, &err);
    if (!rc && names && dc_model_set_class_names(m, (const char *const *)names, k, &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        if (have_norm) rc = dc_model_set_normalisation_channels(m, mean, std, nm, &err) ? cli_fail(VERB, &err) : 0;
        else dc_model_set_normalisation_values(m, 0.0f, 1.0f);
    }
    if (!rc) {
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "tool", "deepc");
        cJSON_AddStringToObject(pj, "version", dc_version());
        cJSON_AddStringToObject(pj, "imported_from", pos[0]);
        cJSON_AddStringToObject(pj, "arch", arch);
        char *prov = cJSON_PrintUnformatted(pj);
        cJSON_Delete(pj);
        if (prov) dc_model_set_info(m, "provenance", prov, &err);
        free(prov);
        if (dc_model_save(m, out, &err)) rc = cli_fail(VERB, &err);
    }
    if (!rc && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", pos[0]);
        cJSON_AddStringToObject(j, "arch", arch);
        cJSON_AddNumberToObject(j, "params", (double)dc_model_num_params(m));
        cJSON *in = cJSON_AddArrayToObject(j, "input");
        cJSON_AddItemToArray(in, cJSON_CreateNumber(c));
        cJSON_AddItemToArray(in, cJSON_CreateNumber(h));
        cJSON_AddItemToArray(in, cJSON_CreateNumber(w));
        cJSON_AddNumberToObject(j, "classes", k);
        float mm[4096], ss[4096];
        int nc = dc_model_get_normalisation_channels(m, mm, ss);
        cJSON *no = cJSON_AddObjectToObject(j, "norm");
        cJSON_AddItemToObject(no, "mean", cJSON_CreateFloatArray(mm, nc));
        cJSON_AddItemToObject(no, "std", cJSON_CreateFloatArray(ss, nc));
        cJSON_AddStringToObject(j, "out", out);
        if (!cli_json_print(j)) rc = 1;
    } else if (!rc) {
        printf("imported %zu parameters into %s (%s, input %dx%dx%d, %d classes)\n", dc_model_num_params(m), out, arch,
               c, h, w, k);
    }
    dc_names_free(names, k);
    dc_model_free(m);
    return rc;
}
