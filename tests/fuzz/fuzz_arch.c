// fuzz_arch.c — dc_model_parse (src/model/model.c), the text architecture
// format, as dc_model_create hands it a file's contents (text with a NUL byte
// is refused before parsing there, so it is skipped here).
//
// Input: one flag byte, then the text. Bits 0-1 pick the input shape
// (1x28x28, 3x32x32, 1x1x1, 2x5x7), bit 2 whether 10 classes are expected
// (else 0: not checked). On success: at least 2 classes (10 when asked),
// a canonical text, and that text parses again to the same canonical text
// and parameter count.
#include "fuzz_util.h"

static const int k_shapes[4][3] = {{1, 28, 28}, {3, 32, 32}, {1, 1, 1}, {2, 5, 7}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int *s = k_shapes[data[0] & 3];
    int want_classes = data[0] & 4 ? 10 : 0;
    char *text = fuzz_text(data + 1, size - 1);
    if (!text) return 0;
    dc_model *m = NULL;
    dc_error err = {{0}};
    dc_status st = dc_model_parse(&m, text, "fuzz.arch", s[0], s[1], s[2], want_classes, &err);
    fuzz_check_error(st, &err, "dc_model_parse");
    free(text);
    if (st != DC_OK) {
        if (m) fuzz_fail("dc_model_parse failed but returned a model");
        return 0;
    }
    int k = dc_model_num_classes(m);
    if (k < 2 || (want_classes && k != want_classes)) fuzz_fail("dc_model_parse: %d classes", k);
    const char *canon = dc_model_arch_text(m);
    if (!canon || !canon[0]) fuzz_fail("dc_model_parse: no canonical text");
    char summary[8192];
    dc_model_summary(m, summary, sizeof summary);

    dc_model *m2 = NULL;
    if ((st = dc_model_parse(&m2, canon, "canonical", s[0], s[1], s[2], want_classes, &err)))
        fuzz_fail("the canonical text does not parse: %s\n%s", err.msg, canon);
    if (strcmp(canon, dc_model_arch_text(m2)) || dc_model_num_params(m) != dc_model_num_params(m2))
        fuzz_fail("the canonical text parses to another model:\n%s---\n%s", canon, dc_model_arch_text(m2));
    dc_model_free(m2);
    dc_model_free(m);
    return 0;
}
