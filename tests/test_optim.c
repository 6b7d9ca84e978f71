// test_optim.c — optimizers, gradient clipping and learning-rate schedules
// against torch 1.13 (tests/gen_fixtures.py: torch.optim.SGD/Adam/AdamW with
// foreach=False, clip_grad_norm_, StepLR/CosineAnnealingLR/LambdaLR), plus
// the argument checks of dc_optim_init and the fixture reader's own checks
// (tests/fixture.h must reject damaged files).
//
// Tolerance: optimizer parameters after each of 5 steps within
// 1e-6 relative + 1e-7 absolute (the parameters are O(1); 1e-7 is about one
// ulp there, for values that land near zero). The update follows torch's
// operations one by one but torch may fuse a multiply-add or compute a
// scalar in double, so a last-ulp difference per step is possible, no more.
// Clipped gradients and norms: 1e-6 relative. Learning rates: our double
// versus torch's double stored as float32, 1e-6 relative.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "optim/optim.h"

static int load(dcfx *fx, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s.dcfx", name);
    int bad = dcfx_load(fx, dc_src_path(rel));
    CHECK(!bad, "%s", fx->err);
    if (!bad) printf("%s\n", name);
    return !bad;
}

static const float *need(const dcfx *fx, const char *case_name, const char *name,
                         size_t n) {
    const float *p = dcfx_data(fx, name, n);
    CHECK(p != NULL, "%s: tensor %s (%zu values) missing or wrong size", case_name,
          name, n);
    return p;
}

// ---------------------------------------------------------------------------
// optimizers

static void test_optim_case(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 8);
    const dcfx_tensor *tg = dcfx_get(&fx, "grads");
    CHECK(cfg && tg && tg->rank == 2, "%s: cfg or grads (steps, n) missing", name);
    if (!cfg || !tg || tg->rank != 2) goto out;
    const int steps = (int)tg->dims[0];
    const size_t n = tg->dims[1];
    const float *p0 = need(&fx, name, "p0", n), *want = need(&fx, name, "params", steps * n);
    if (!p0 || !want) goto out;
    dc_optim_kind kind = (dc_optim_kind)(int)cfg[0];
    float lr = cfg[1];
    dc_optim o;
    dc_error err;
    dc_status st = dc_optim_init(&o, kind, cfg[2], cfg[3] != 0.0f, cfg[4], cfg[5], cfg[6],
                                 cfg[7], n, &err);
    CHECK(st == DC_OK, "%s: dc_optim_init failed: %s", name, err.msg);
    if (st != DC_OK) goto out;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    if (!p || !g) exit(2);
    memcpy(p, p0, n * sizeof(float));
    for (int s = 0; s < steps; s++) {
        memcpy(g, tg->data + (size_t)s * n, n * sizeof(float));
        dc_optim_step(&o, p, g, lr);
        CHECK(memcmp(g, tg->data + (size_t)s * n, n * sizeof(float)) == 0,
              "%s: step %d modified the gradients", name, s + 1);
        char what[128];
        snprintf(what, sizeof what, "%s params after step %d", name, s + 1);
        dc_check_close(what, p, want + (size_t)s * n, n, 1e-6, 1e-7);
    }
    CHECK(o.step == steps, "%s: step counter %lld after %d steps", name, (long long)o.step,
          steps);
    dc_optim_free(&o);
    free(p);
    free(g);
out:
    dcfx_free(&fx);
}

static void test_optim_args(void) {
    printf("optimizer arguments\n");
    dc_optim o;
    dc_error err;
    err.msg[0] = 0;
    CHECK(dc_optim_init(&o, DC_OPTIM_SGD, 0.0f, true, 0, 0.9f, 0.999f, 1e-8f, 4, &err) ==
              DC_ERR_ARG && err.msg[0],
          "Nesterov without momentum must be DC_ERR_ARG with a message");
    err.msg[0] = 0;
    CHECK(dc_optim_init(&o, DC_OPTIM_ADAM, 0, false, 0, 1.0f, 0.999f, 1e-8f, 4, &err) ==
              DC_ERR_ARG && err.msg[0],
          "beta1 = 1 must be DC_ERR_ARG with a message");
    err.msg[0] = 0;
    CHECK(dc_optim_init(&o, DC_OPTIM_SGD, -0.5f, false, 0, 0.9f, 0.999f, 1e-8f, 4, &err) ==
              DC_ERR_ARG && err.msg[0],
          "negative momentum must be DC_ERR_ARG with a message");
    // a failed init leaves nothing to free, and free is safe to repeat
    CHECK(o.buf1 == NULL && o.buf2 == NULL, "failed init left buffers allocated");
    CHECK(dc_optim_init(&o, DC_OPTIM_ADAMW, 0, false, 0.01f, 0.9f, 0.999f, 1e-8f, 4, &err) ==
              DC_OK, "AdamW init: %s", err.msg);
    dc_optim_free(&o);
    dc_optim_free(&o);
}

// ---------------------------------------------------------------------------
// clipping

static void test_clip(void) {
    dcfx fx;
    if (!load(&fx, "clip_grad_norm")) return;
    const char *tags[2] = {"above", "below"};
    for (int k = 0; k < 2; k++) {
        char nm[4][64];
        snprintf(nm[0], 64, "%s.max_norm", tags[k]);
        snprintf(nm[1], 64, "%s.grads", tags[k]);
        snprintf(nm[2], 64, "%s.norm", tags[k]);
        snprintf(nm[3], 64, "%s.clipped", tags[k]);
        const dcfx_tensor *tg = dcfx_get(&fx, nm[1]);
        CHECK(tg != NULL, "clip: no %s", nm[1]);
        if (!tg) continue;
        size_t n = tg->n;
        const float *mx = need(&fx, "clip", nm[0], 1), *norm = need(&fx, "clip", nm[2], 1),
                    *want = need(&fx, "clip", nm[3], n);
        if (!mx || !norm || !want) continue;
        float *g = malloc(n * sizeof(float));
        if (!g) exit(2);
        memcpy(g, tg->data, n * sizeof(float));
        double got = dc_clip_grad_norm(g, n, mx[0]);
        float gotf = (float)got;
        char what[128];
        snprintf(what, sizeof what, "clip %s: norm before clipping", tags[k]);
        dc_check_close(what, &gotf, norm, 1, 1e-6, 0);
        snprintf(what, sizeof what, "clip %s: gradients", tags[k]);
        dc_check_close(what, g, want, n, 1e-6, 0);
        if (k == 1)
            CHECK(memcmp(g, tg->data, n * sizeof(float)) == 0,
                  "clip below max_norm changed the gradients");
        else {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
            CHECK(sqrt(s) <= mx[0] * (1 + 1e-6), "clipped norm %.9g above max_norm %.9g",
                  sqrt(s), mx[0]);
        }
        free(g);
    }
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// schedules

static void test_schedule(void) {
    dcfx fx;
    if (!load(&fx, "schedule")) return;
    const char *tags[] = {"constant", "step", "cosine", "warm_constant", "warm_step",
                          "warm_cosine"};
    for (size_t k = 0; k < sizeof tags / sizeof *tags; k++) {
        char cn[64], ln[64];
        snprintf(cn, sizeof cn, "cfg.%s", tags[k]);
        snprintf(ln, sizeof ln, "lr.%s", tags[k]);
        const float *c = need(&fx, "schedule", cn, 8);
        if (!c) continue;
        int epochs = (int)c[6], spe = (int)c[7];
        const float *want = need(&fx, "schedule", ln, (size_t)epochs * spe);
        if (!want) continue;
        dc_train_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.sched = (dc_sched_kind)(int)c[0];
        cfg.lr = c[1];
        cfg.step_size = (int)c[2];
        cfg.gamma = c[3];
        cfg.min_lr = c[4];
        cfg.warmup_epochs = (int)c[5];
        cfg.epochs = epochs;
        float *got = malloc(sizeof(float) * (size_t)epochs * spe);
        if (!got) exit(2);
        for (int e = 0; e < epochs; e++)
            for (int s = 0; s < spe; s++)
                got[e * spe + s] = (float)dc_schedule_lr(&cfg, e, s, spe);
        char what[128];
        snprintf(what, sizeof what, "schedule %s (%d epochs x %d steps)", tags[k], epochs, spe);
        dc_check_close(what, got, want, (size_t)epochs * spe, 1e-6, 1e-9);
        // a fine-tune of a model trained for 15 epochs (prune, QAT): the
        // schedule starts at its first epoch and spans its own epochs, so it
        // gives the same rates as a fresh run, bit for bit, whether the
        // fine-tune runs in one call or round by round (epochs cut short,
        // the span given by sched_epochs)
        dc_train_config ft = cfg;
        ft.sched_start = 15;
        ft.epochs = 15 + epochs;
        int same = 1;
        for (int e = 0; e < epochs; e++)
            for (int s = 0; s < spe; s++) same &= (float)dc_schedule_lr(&ft, 15 + e, s, spe) == got[e * spe + s];
        ft.epochs = 16;
        ft.sched_epochs = epochs;
        for (int e = 0; e < epochs; e++)
            for (int s = 0; s < spe; s++) same &= (float)dc_schedule_lr(&ft, 15 + e, s, spe) == got[e * spe + s];
        CHECK(same, "schedule %s: a fine-tune from epoch 15 (sched_start) differs from a fresh run", tags[k]);
        free(got);
    }
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// the fixture reader rejects damaged files

static int write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(b, 1, n, f);
    return fclose(f) == 0 && w == n;
}

static void test_fixture_reader(void) {
    printf("fixture reader\n");
    const char *src = dc_src_path("tests/fixtures/clip_grad_norm.dcfx");
    FILE *f = fopen(src, "rb");
    CHECK(f != NULL, "cannot open %s", src);
    if (!f) return;
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n > 16 && n < sizeof buf, "unexpected size %zu of %s", n, src);
    if (!(n > 16 && n < sizeof buf)) return;
    unsigned char bad[4096 + 1];
    char path[512];
    snprintf(path, sizeof path, "%s/bad.dcfx", dc_test_tmpdir());
    dcfx fx;
    struct {
        const char *what;
        size_t len;
        size_t at;   // byte to change (or SIZE_MAX)
        unsigned char v;
        const char *expect; // a word the message must contain
    } cases[] = {
        {"bad magic", n, 0, 'X', "magic"},
        {"version 2", n, 4, 2, "version"},
        {"truncated by one byte", n - 1, SIZE_MAX, 0, "truncated"},
        {"a trailing byte", n + 1, SIZE_MAX, 0, "trailing"},
        {"huge count", n, 11, 0x7f, "count"},
        {"empty file", 0, SIZE_MAX, 0, "magic"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        memcpy(bad, buf, n);
        bad[n] = 0;
        if (cases[k].at != SIZE_MAX) bad[cases[k].at] = cases[k].v;
        if (!write_bytes(path, bad, cases[k].len)) {
            CHECK(0, "cannot write %s", path);
            continue;
        }
        int rc = dcfx_load(&fx, path);
        CHECK(rc != 0 && strstr(fx.err, cases[k].expect) != NULL,
              "fixture with %s: rc %d, message \"%s\" (expected one naming \"%s\")",
              cases[k].what, rc, fx.err, cases[k].expect);
        printf("  %-24s -> %s\n", cases[k].what, fx.err);
        dcfx_free(&fx);
    }
    // the intact copy loads and round-trips a value
    CHECK(write_bytes(path, buf, n) && dcfx_load(&fx, path) == 0, "intact copy: %s", fx.err);
    const dcfx_tensor *t = dcfx_get(&fx, "above.grads");
    CHECK(t && t->rank == 1 && t->dims[0] == 37 && t->n == 37, "above.grads shape");
    CHECK(dcfx_get(&fx, "no.such") == NULL, "lookup of a missing name must be NULL");
    dcfx_free(&fx);
    remove(path);
}

int main(void) {
    const char *cases[] = {"optim_sgd_momentum", "optim_sgd_nesterov_wd", "optim_sgd_wd",
                           "optim_adam", "optim_adam_wd", "optim_adamw"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_optim_case(cases[i]);
    test_optim_args();
    test_clip();
    test_schedule();
    test_fixture_reader();
    return dc_test_finish();
}
