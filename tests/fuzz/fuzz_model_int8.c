// fuzz_model_int8.c — dc_model_load of an int8 model file (src/io/model_io.c
// with src/compress/compress_io.c): the safetensors header, the deepc.quant
// metadata, and every I8 weight / I32 bias / scale / zero point checked on
// load (zero points in [0, qmax], weights in [-127, 127], scales positive
// and finite, shapes as the architecture says).
//
// Input: the file's bytes (written to a scratch file: the loader takes a
// path). On success with quantisation: every scale positive and finite,
// every zero point in range, and the int8 session runs one zero image to
// logits that are read back. Seeds: a small int8 model written by deepc
// quantize (tests/fuzz/gen_onnx_corpus.sh writes one too).
#include "fuzz_util.h"
#include <math.h>
#include "compress/quant.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("m.safetensors", data, size);
    dc_model *m = NULL;
    dc_error err = {{0}};
    dc_status st = dc_model_load(&m, path, &err);
    fuzz_check_error(st, &err, "dc_model_load");
    if (st != DC_OK) return 0;
    const dc_qmodel *q = m->quant;
    if (q) {
        if (q->qmax != 255 && q->qmax != 127) fuzz_fail("qmax %d", q->qmax);
        for (int i = 0; i < m->n_nodes; i++) {
            if (!(q->act_scale[i] > 0) || !isfinite(q->act_scale[i])) fuzz_fail("node %d scale %g", i, q->act_scale[i]);
            if (q->act_zp[i] < 0 || q->act_zp[i] > q->qmax) fuzz_fail("node %d zero point %d", i, q->act_zp[i]);
            if (!q->w[i]) continue;
            for (size_t k = 0; k < m->nodes[i].t[0].n; k++)
                if (q->w[i][k] == -128) fuzz_fail("node %d weight -128", i);
            for (int o = 0; o < m->nodes[i].c; o++)
                if (!(q->w_scale[i][o] > 0) || !isfinite(q->w_scale[i][o])) fuzz_fail("node %d weight scale", i);
        }
        if (dc_model_macs(m) < 20000000) {
            dc_session *s = NULL;
            dc_error e2 = {{0}};
            st = dc_session_new(&s, m, 1, 1, &e2);
            fuzz_check_error(st, &e2, "dc_session_new (int8)");
            if (st == DC_OK) {
                memset(dc_session_input(s), 0, sizeof(float) * (size_t)m->in_c * m->in_h * m->in_w);
                fuzz_touch(dc_session_run(s, 1), sizeof(float) * (size_t)m->n_classes);
                dc_session_free(s);
            }
        }
    }
    dc_model_free(m);
    return 0;
}
