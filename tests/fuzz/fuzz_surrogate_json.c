// fuzz_surrogate_json.c — libFuzzer harness for the surrogate file parser
// (dc_surrogate_parse_json, src/surrogate/surrogate_json.c): any bytes parse
// or fail with a message naming a line; a surrogate that parses predicts a
// class in range for any features, and is written and parsed back.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "surrogate/surrogate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_surrogate s, back;
    dc_error err;
    if (dc_surrogate_parse_json(&s, (const char *)data, size, "fuzz.json", &err) != DC_OK) {
        if (strncmp(err.msg, "fuzz.json:", 10) && !strstr(err.msg, "out of memory")) abort();
        return 0;
    }
    float *x = calloc((size_t)s.feat.n_features, sizeof(float));
    if (x) {
        for (int v = 0; v < 3; v++) {
            for (int j = 0; j < s.feat.n_features; j++) x[j] = v * 0.5f;
            const int k = dc_surrogate_predict(&s, x);
            if (k < 0 || k >= s.n_classes) abort();
        }
        free(x);
    }
    char *json;
    if (dc_surrogate_to_json(&s, &json, &err) == DC_OK) {
        if (dc_surrogate_parse_json(&back, json, strlen(json), "back.json", &err) != DC_OK) abort();
        dc_surrogate_free(&back);
        free(json);
    }
    dc_surrogate_free(&s);
    return 0;
}
