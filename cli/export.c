// export.c — `deepc export MODEL --onnx OUT.onnx` (src/export/onnx.h): the
// model as ONNX, fp32 or (an int8 model) QDQ; `--c DIR` (src/export/c_export.h):
// one .c and one .h for microcontrollers.
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "export/c_export.h"
#include "export/onnx.h"
#include "model/model.h"

#define VERB "export"

int cmd_export(int argc, char **argv) {
    const char *onnx = NULL, *cdir = NULL, *cname = "model";
    int opset = 13;
    bool json = false;
    cli_norm nrm = {0};
    dc_opt opts[] = {
        {"onnx", OPT_STR, &onnx, "write the model as ONNX to this file (an int8 model as QuantizeLinear/DequantizeLinear)"},
        {"opset", OPT_INT, &opset, "ONNX opset, 13 to 17 [13]"},
        {"c", OPT_STR, &cdir, "write C99 source (NAME.c, NAME.h: const weights, a static arena sized by liveness) into this folder"},
        {"name", OPT_STR, &cname, "--c: the files' name and the C prefix of their functions [model]"},
        CLI_NORM_OPTIONS(&nrm),
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos = 0;
    bool help = false;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) cli_usage(VERB, "MODEL.safetensors (--onnx OUT.onnx | --c DIR [--name NAME])", opts);
        return help ? 0 : 2;
    }
    if (n_pos != 1 || (!onnx && !cdir)) {
        fprintf(stderr, "deepc %s: needs one model file and --onnx OUT.onnx or --c DIR (deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    dc_model *m = NULL;
    int rc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (rc) return rc;
    dc_error err;
    if (cdir) {
        dc_c_export_info info;
        if (dc_export_c(m, cdir, cname, &info, &err)) rc = cli_fail(VERB, &err);
        else if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", pos[0]);
            cJSON_AddStringToObject(j, "format", "c");
            cJSON_AddStringToObject(j, "precision", m->quant ? "int8" : "fp32");
            cJSON_AddNumberToObject(j, "arena_bytes", (double)info.arena_bytes);
            cJSON_AddNumberToObject(j, "unplanned_bytes", (double)info.sum_bytes);
            cJSON_AddNumberToObject(j, "const_bytes", (double)info.weight_bytes);
            cJSON_AddNumberToObject(j, "buffers", info.buffers);
            cJSON_AddStringToObject(j, "out", cdir);
            if (!cli_json_print(j)) rc = 1;
        } else {
            printf("exported %s -> %s/%s.c, %s/%s.h (%s; arena %zu bytes by liveness over %d buffers, %zu without; %zu "
                   "bytes of constants)\n", pos[0], cdir, cname, cdir, cname, m->quant ? "int8" : "fp32", info.arena_bytes,
                   info.buffers, info.sum_bytes, info.weight_bytes);
        }
        if (rc || !onnx) {
            dc_model_free(m);
            return rc;
        }
    }
    dc_onnx_options o = dc_onnx_options_default();
    o.opset = opset;
    if (dc_export_onnx(m, onnx, &o, &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        FILE *f = fopen(onnx, "rb");
        long size = -1;
        if (f && !fseek(f, 0, SEEK_END)) size = ftell(f);
        if (f) fclose(f);
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", pos[0]);
            cJSON_AddStringToObject(j, "format", "onnx");
            cJSON_AddStringToObject(j, "precision", m->quant ? "int8" : "fp32");
            cJSON_AddNumberToObject(j, "opset", opset);
            cJSON_AddNumberToObject(j, "bytes", (double)size);
            cJSON_AddStringToObject(j, "out", onnx);
            if (!cli_json_print(j)) rc = 1;
        } else {
            printf("exported %s -> %s (ONNX opset %d, %s%s, %ld bytes; input: normalised images (N,%d,%d,%d))\n", pos[0],
                   onnx, opset, m->quant ? "int8 QDQ" : "fp32", "", size, m->in_c, m->in_h, m->in_w);
        }
    }
    dc_model_free(m);
    return rc;
}
