// fuzz_tune_space.c — libFuzzer harness for the tuner's search-space parser
// (src/tune/space.c): any bytes must be parsed or refused with a message,
// never crash, leak or read out of bounds; a space that parses must sample
// values that lie inside it, and must parse again from its own bytes.
//
// Built and run like every harness: bash scripts/fuzz.sh 60 tune_space
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tune/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_tune_space sp;
    dc_error err;
    if (dc_tune_space_parse(&sp, (const char *)data, size, "fuzz", &err) != DC_OK) {
        if (!err.msg[0] || !memchr(err.msg, 0, sizeof err.msg)) __builtin_trap(); // a message, terminated
        return 0;
    }
    if (sp.n < 1 || sp.n > DC_TUNE_MAX_PARAMS) __builtin_trap();
    dc_rng r;
    dc_rng_seed(&r, (uint64_t)size);
    for (int k = 0; k < 4; k++) {
        double v[DC_TUNE_MAX_PARAMS];
        dc_tune_space_sample(&sp, v, &r);
        if (!dc_tune_space_contains(&sp, v)) __builtin_trap();
        dc_trainopts o = dc_trainopts_default();
        dc_tune_space_apply(&sp, v, &o);
    }
    dc_tune_space again;
    if (dc_tune_space_parse(&again, (const char *)data, size, "fuzz", &err) != DC_OK || again.n != sp.n)
        __builtin_trap(); // parsing is a function of the bytes
    return 0;
}
