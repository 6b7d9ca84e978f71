// fuzz_onnx.c — dc_import_onnx_bytes (src/export/onnx_import.c): an ONNX
// file in memory, unpacked by protobuf-c's generated reader, then its graph
// checked and turned into a deepc model.
//
// Input: the file's bytes. On success: a model with at least one layer
// node, an input shape and class count within the importer's limits, every
// parameter finite (the importer refuses NaN and infinity), and a session
// that runs one zero image to finite logits. Seeds: tests/fuzz/gen_onnx_corpus.sh
// (deepc export of small fp32 models).
#include "fuzz_util.h"
#include <math.h>
#include "export/onnx.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_model *m = NULL;
    dc_error err = {{0}};
    dc_status st = dc_import_onnx_bytes(&m, data, size, "fuzz.onnx", &err);
    fuzz_check_error(st, &err, "dc_import_onnx_bytes");
    if (st != DC_OK) {
        if (m) fuzz_fail("dc_import_onnx_bytes failed but returned a model");
        return 0;
    }
    if (m->n_nodes < 2 || m->in_c < 1 || m->in_h < 1 || m->in_w < 1 || m->n_classes < 1)
        fuzz_fail("model of %d nodes, input %dx%dx%d, %d classes", m->n_nodes, m->in_c, m->in_h, m->in_w, m->n_classes);
    for (size_t j = 0; j < m->n_params; j++)
        if (!isfinite(m->params[j])) fuzz_fail("parameter %zu is not finite", j);
    // run it once, unless it is too big for a fuzzing iteration
    if (dc_model_macs(m) < 20000000) {
        dc_session *s = NULL;
        dc_error e2 = {{0}};
        st = dc_session_new(&s, m, 1, 1, &e2);
        fuzz_check_error(st, &e2, "dc_session_new");
        if (st == DC_OK) {
            memset(dc_session_input(s), 0, sizeof(float) * (size_t)m->in_c * m->in_h * m->in_w);
            const float *z = dc_session_run(s, 1);
            fuzz_touch(z, sizeof(float) * (size_t)m->n_classes);
            dc_session_free(s);
        }
    }
    dc_model_free(m);
    return 0;
}
