// fuzz_model.c — dc_model_load (src/io/model_io.c over src/io/safetensors.c
// and the architecture parser): a whole model file, i.e. the safetensors
// header JSON, the tensors and every deepc.* entry of __metadata__.
//
// Input: the file itself. On success: at least 2 classes, an architecture
// text, finite parameters; the model is saved and loaded again and must come
// back with the same architecture, input shape and parameter bits.
#include "fuzz_util.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("model.safetensors", data, size);
    dc_model *m = NULL;
    dc_error err = {{0}};
    dc_status st = dc_model_load(&m, path, &err);
    fuzz_check_error(st, &err, "dc_model_load");
    if (st != DC_OK) {
        if (m) fuzz_fail("dc_model_load failed but returned a model");
        return 0;
    }
    int n_classes = dc_model_num_classes(m);
    const char *arch = dc_model_arch_text(m);
    size_t n = dc_model_num_params(m);
    const float *p = dc_model_params(m);
    if (n_classes < 2 || !arch || !arch[0]) fuzz_fail("dc_model_load: %d classes, arch %p", n_classes, (void *)arch);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) fuzz_fail("dc_model_load: parameter %zu is not finite", i);
    for (int k = 0; k < n_classes; k++) fuzz_touch(dc_model_class_name(m, k), 1);

    // save + load gives the same model back
    char again[4096 + 256];
    snprintf(again, sizeof again, "%s", fuzz_path("again.safetensors"));
    if ((st = dc_model_save(m, again, &err))) fuzz_fail("saving a loaded model failed: %s", err.msg);
    dc_model *m2 = NULL;
    if ((st = dc_model_load(&m2, again, &err))) fuzz_fail("reloading a saved model failed: %s", err.msg);
    int c, h, w, c2, h2, w2;
    dc_model_input_shape(m, &c, &h, &w);
    dc_model_input_shape(m2, &c2, &h2, &w2);
    if (strcmp(arch, dc_model_arch_text(m2)) || c != c2 || h != h2 || w != w2 ||
        dc_model_num_params(m2) != n || memcmp(p, dc_model_params(m2), n * sizeof *p))
        fuzz_fail("save + load changed the model");
    dc_model_free(m2);
    dc_model_free(m);
    return 0;
}
