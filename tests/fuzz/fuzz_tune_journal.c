// fuzz_tune_journal.c — libFuzzer harness for the tuner's journal reader
// (dc_tune_parse_journal in src/tune/tune.c, which `deepc tune --resume`
// trusts): any bytes must be read or refused with a message, never crash,
// leak or read out of bounds. A journal that reads must hold trials inside
// its space and its budget, rank and report (best, finished, the HTML page)
// without failing, and write itself back to a journal that reads again to
// the same text (so --resume of a resumed search changes nothing). TPE
// journals run the bracket re-draw check on every read.
//
// Built and run like every harness: bash scripts/fuzz.sh 60 tune_journal
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tune/tune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dc_tune tu;
    dc_error err;
    if (dc_tune_parse_journal(&tu, (const char *)data, size, "fuzz", &err) != DC_OK) {
        if (!err.msg[0] || !memchr(err.msg, 0, sizeof err.msg)) __builtin_trap(); // a message, terminated
        return 0;
    }
    if (tu.s.n_trials < 1 || tu.space.n < 1) __builtin_trap();
    for (int i = 0; i < tu.s.n_trials; i++) {
        const dc_tune_trial *t = &tu.trials[i];
        if (t->epochs < 0 || t->epochs > tu.s.budget) __builtin_trap();
        if (t->drawn && !dc_tune_space_contains(&tu.space, t->values)) __builtin_trap();
        if (!t->drawn && (t->epochs || dc_tune_bracket_of(&tu, i) == 0)) __builtin_trap();
    }
    const int best = dc_tune_best(&tu);
    if (best >= tu.s.n_trials || (best >= 0 && !tu.trials[best].drawn)) __builtin_trap();
    (void)dc_tune_finished(&tu);
    (void)dc_tune_total_epochs(&tu);
    char *html = NULL;
    size_t len = 0;
    if (dc_tune_html(&html, &len, &tu, "fuzz", &err) != DC_OK || !html || len != strlen(html)) __builtin_trap();
    free(html);
    // written back, it reads again to the same journal
    char *a = dc_tune_journal_json(&tu);
    if (!a) __builtin_trap();
    dc_tune again;
    if (dc_tune_parse_journal(&again, a, strlen(a), "fuzz (written back)", &err) != DC_OK) __builtin_trap();
    char *b = dc_tune_journal_json(&again);
    if (!b || strcmp(a, b)) __builtin_trap();
    free(a);
    free(b);
    dc_tune_free(&again);
    dc_tune_free(&tu);
    return 0;
}
