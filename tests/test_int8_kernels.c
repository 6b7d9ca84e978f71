// test_int8_kernels.c — the int8 kernels against their definitions and
// their reference twins: the fixed-point helpers against gemmlowp's own
// formulas (in 64-bit and double), every quantised GEMM of the registry that
// this CPU can run against dc_qgemm_ref bit for bit on awkward shapes (1,
// primes, ragged channel counts, reduction tails, rows wider than K, int32
// outputs), and the NHWC layout and pooling kernels against NCHW twins.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/cpu.h"
#include "harness.h"
#include "kernels/int8_kernels.h"

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

// gemmlowp's SaturatingRoundingDoublingHighMul, written as gemmlowp does
static int32_t srdhm_gemmlowp(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}

static void test_fixed_point(void) {
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        int32_t a = (int32_t)(rnd() ^ (rnd() << 16)), b = (int32_t)((rnd() >> 1) | (1u << 30));
        if (i < 8) a = (int32_t[]){0, 1, -1, INT32_MAX, INT32_MIN + 1, 1 << 30, -(1 << 30), 3}[i];
        if (dc_srdhm(a, b) != srdhm_gemmlowp(a, b)) bad++;
    }
    CHECK(bad == 0, "%d of 200000 SRDHM values differ from gemmlowp's formula", bad);
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        int32_t x = (int32_t)(rnd() ^ (rnd() << 16)) >> (rnd() % 20);
        int e = 1 + (int)(rnd() % 30);
        // round half away from zero of x / 2^e, in double (exact for these sizes)
        double q = (double)x / (double)(1u << e);
        double want = q < 0 ? -floor(-q + 0.5) : floor(q + 0.5);
        if (dc_rdbpot(x, e) != (int32_t)want) bad++;
        if (dc_rdbpot(x, 0) != x) bad++;
    }
    CHECK(bad == 0, "%d RoundingDivideByPOT values differ from rounding half away from zero", bad);
    bad = 0;
    double worst = 0;
    for (int i = 0; i < 20000; i++) {
        double m = exp(((double)(rnd() % (1u << 21)) / (1u << 20) - 1.0) * 20.0); // e^-20 .. e^20
        int32_t M0, sh;
        dc_quantize_multiplier(m, &M0, &sh);
        if (M0 < (1 << 30)) bad++;
        double back = (double)M0 * ldexp(1.0, sh - 31);
        double rel = fabs(back - m) / m;
        if (rel > worst) worst = rel;
        // MBQM(x) against round(x * m) within one unit
        int32_t x = (int32_t)(rnd() % 200001) - 100000;
        double exact = x * back;
        if (fabs(exact) < 1e9 && fabs((double)dc_mbqm(x, M0, sh) - exact) > 1.0) bad++;
    }
    CHECK(bad == 0 && worst < ldexp(1.0, -30), "quantize_multiplier: %d bad, worst relative error %g", bad, worst);
    int32_t M0, sh;
    dc_quantize_multiplier(0.0, &M0, &sh);
    CHECK(M0 == 0 && dc_mbqm(12345, M0, sh) == 0, "a zero multiplier gives 0");
}

// One GEMM case for every usable implementation against the reference.
// nseg > 1: each row is nseg segments of K / nseg taps, segstride bytes
// apart (a convolution read in place); lda may then be below K.
static int gemm_case(int M, int N, int K, int lda, int nseg, int segstride, bool out32, int a_max, unsigned cpu,
                     int *ran) {
    const int L = K / nseg;
    const size_t abytes = (size_t)(M - 1) * lda + (size_t)(nseg - 1) * segstride + L;
    uint8_t *a = malloc(abytes), *dense = malloc((size_t)M * K);
    int8_t *w = malloc((size_t)N * K);
    int32_t *bias = malloc(sizeof(int32_t) * N), *mult = malloc(sizeof(int32_t) * N), *shift = malloc(sizeof(int32_t) * N);
    const size_t esz = out32 ? 4 : 1;
    const int ldo = N + (int)(rnd() % 3);
    void *want = calloc((size_t)M * ldo, esz), *got = malloc((size_t)M * ldo * esz);
    for (size_t i = 0; i < abytes; i++) a[i] = (uint8_t)(rnd() % (a_max + 1));
    for (int m = 0; m < M; m++) // the same matrix, gathered by the definition
        for (int k = 0; k < K; k++) dense[(size_t)m * K + k] = a[(size_t)m * lda + (size_t)(k / L) * segstride + k % L];
    for (int i = 0; i < N * K; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (int n = 0; n < N; n++) {
        bias[n] = (int32_t)(rnd() % 200001) - 100000;
        double m = exp(-(double)(rnd() % 1400) / 100.0) * (out32 ? 4.0 : 0.5); // some multipliers > 1
        dc_quantize_multiplier(m, &mult[n], &shift[n]);
    }
    dc_qgemm_params p = {.N = N, .K = K, .bias = bias, .mult = mult, .shift = shift, .zo = (int32_t)(rnd() % 256),
                         .lo = 0, .hi = 255, .out32 = out32, .a_max = a_max, .lda = lda};
    if (out32) p.zo = 0, p.lo = INT32_MIN, p.hi = INT32_MAX;
    else if (rnd() % 2) p.lo = p.zo; // a fused ReLU
    dc_qgemm_ref(want, ldo, dense, K, 1, 0, M, w, &p);
    int fails = 0;
    if (nseg > 1) { // the reference's own segmented reading against the gathered matrix
        memcpy(got, want, (size_t)M * ldo * esz);
        dc_qgemm_ref(got, ldo, a, lda, nseg, segstride, M, w, &p);
        if (memcmp(got, want, (size_t)M * ldo * esz)) {
            fails++;
            printf("  ref: segmented reading differs at M=%d N=%d K=%d nseg=%d\n", M, N, K, nseg);
        }
    }
    for (int i = 0; i < dc_qgemm_impl_count(); i++) {
        const dc_qgemm_impl *im = dc_qgemm_impl_at(i);
        if (!dc_cpu_has(cpu, im->cpu) || (im->supports && !im->supports(&p))) continue;
        void *packed = dc_alloc(im->packed_bytes(N, K) + 1);
        im->pack(packed, w, N, K);
        memcpy(got, want, (size_t)M * ldo * esz); // the columns past N must stay as they are
        for (int m = 0; m < M; m++) memset((char *)got + ((size_t)m * ldo) * esz, 0xA5, (size_t)N * esz);
        im->run(got, ldo, a, lda, nseg, segstride, M, packed, &p);
        if (memcmp(got, want, (size_t)M * ldo * esz)) {
            fails++;
            printf("  %s differs from ref at M=%d N=%d K=%d lda=%d nseg=%d out32=%d\n", im->name, M, N, K, lda, nseg,
                   out32);
        }
        ran[i]++;
        dc_free(packed);
    }
    free(a), free(dense), free(w), free(bias), free(mult), free(shift), free(want), free(got);
    return fails;
}

static void test_gemm(void) {
    const unsigned cpu = dc_cpu_detected();
    const int Ms[] = {1, 2, 5, 7, 13, 37}, Ns[] = {1, 6, 10, 16, 17, 33, 64}, Ks[] = {1, 3, 4, 5, 25, 150, 577};
    int ran[16] = {0}, fails = 0, cases = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++) {
                const int lda = Ks[k] + (int)(rnd() % 2 ? 0 : rnd() % 5);
                fails += gemm_case(Ms[i], Ns[j], Ks[k], lda, 1, 0, (i + j + k) % 3 == 0, (i + k) % 2 ? 255 : 127, cpu,
                                   ran);
                cases++;
            }
    // segmented rows (convolutions read in place): kernel rows of KW*C taps,
    // rows stride*C apart (overlapping), segments one padded image row apart
    // (the first five of lda <= 4 also run vnni512_pixels: 1-4 channel images, widened rows)
    const int segs[][4] = {{5, 8, 1, 1}, {3, 4, 1, 2}, {3, 4, 3, 1}, {3, 2, 2, 2}, {3, 3, 4, 1}, {3, 3, 16, 1},
                           {3, 3, 16, 2}, {2, 2, 2, 1}, {5, 5, 4, 2}, {3, 3, 64, 1}};
    for (size_t c = 0; c < sizeof segs / sizeof *segs; c++)
        for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
            for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++) {
                const int KH = segs[c][0], KW = segs[c][1], C = segs[c][2], st = segs[c][3];
                const int L = KW * C, lda = st * C, segstride = (Ms[i] * st + KW + (int)(rnd() % 3)) * C;
                fails += gemm_case(Ms[i], Ns[j], KH * L, lda, KH, segstride, (i + j + c) % 3 == 0,
                                   (i + c) % 2 ? 255 : 127, cpu, ran);
                cases++;
            }
    CHECK(fails == 0, "%d of %d GEMM cases differ from the reference", fails, cases);
    for (int i = 0; i < dc_qgemm_impl_count(); i++) {
        const dc_qgemm_impl *im = dc_qgemm_impl_at(i);
        printf("  %-10s %s: %d cases\n", im->name, dc_cpu_has(cpu, im->cpu) ? "ran" : "not on this CPU", ran[i]);
        if (dc_cpu_has(cpu, im->cpu)) CHECK(ran[i] > 0, "%s never ran", im->name);
    }
    // the reference against int64 sums and a double requantisation (within 1)
    uint8_t a[3 * 7];
    int8_t w[2 * 7];
    int32_t bias[2] = {1000, -77}, mult[2], shift[2];
    for (int i = 0; i < 21; i++) a[i] = (uint8_t)(rnd() % 256);
    for (int i = 0; i < 14; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
    const double m[2] = {0.0123, 0.000987};
    for (int n = 0; n < 2; n++) dc_quantize_multiplier(m[n], &mult[n], &shift[n]);
    dc_qgemm_params p = {.N = 2, .K = 7, .bias = bias, .mult = mult, .shift = shift, .zo = 100, .lo = 0, .hi = 255, .a_max = 255};
    uint8_t out[6];
    dc_qgemm_ref(out, 2, a, 7, 1, 0, 3, w, &p);
    int off = 0;
    for (int r = 0; r < 3; r++)
        for (int n = 0; n < 2; n++) {
            int64_t acc = bias[n];
            for (int k = 0; k < 7; k++) acc += a[r * 7 + k] * w[n * 7 + k];
            double v = 100 + acc * m[n];
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            if (fabs(out[r * 2 + n] - v) > 1.0) off++;
        }
    CHECK(off == 0, "%d reference outputs are more than 1 away from the real-valued product", off);
    // the choice
    CHECK(!strcmp(dc_qgemm_choose(&p, 0, NULL)->name, "ref"), "generic CPU: ref");
    CHECK(!strcmp(dc_qgemm_choose(&p, DC_CPU_LEVEL_AVX2, NULL)->name, "avx2"), "AVX2, 8-bit activations: avx2");
    p.a_max = 127;
    CHECK(!strcmp(dc_qgemm_choose(&p, DC_CPU_LEVEL_AVX2, NULL)->name, "avx2_7bit"), "AVX2, 7-bit: avx2_7bit");
    CHECK(!strcmp(dc_qgemm_choose(&p, ~0u, NULL)->name, "vnni512"), "VNNI: vnni512");
    p.lda = 1; // a grayscale image's first convolution: pixels in lanes where VBMI is there too
    CHECK(!strcmp(dc_qgemm_choose(&p, ~0u, NULL)->name, "vnni512_pixels"), "VNNI + VBMI, 2 channels, lda 1: vnni512_pixels");
    CHECK(!strcmp(dc_qgemm_choose(&p, ~0u & ~(unsigned)DC_CPU_AVX512VBMI, NULL)->name, "vnni512"), "no VBMI: vnni512");
    p.lda = 5;
    CHECK(!strcmp(dc_qgemm_choose(&p, ~0u, NULL)->name, "vnni512"), "lda 5: vnni512");
    p.lda = 0;
    p.a_max = 255;
    CHECK(dc_qgemm_choose(&p, ~0u, "avx2_7bit") == NULL, "avx2_7bit refuses 8-bit activations");
    CHECK(dc_qgemm_choose(&p, DC_CPU_LEVEL_AVX2, "vnni512") == NULL, "vnni512 needs VNNI");
}

// The fused convolution + 2x2/2 max pooling (dc_qgemm_pixels_pool2,
// dc_qgemm_vnni_pool2) against the reference product of both conv rows,
// then the pooling by its definition: first convolutions of 1-4 channel
// images (both kernels) and wider ones (LeNet-5's second, 3x3 over 16
// channels: vnni only), awkward widths and channel counts.
typedef void (*pool2_fn)(uint8_t *, const uint8_t *, int, int, ptrdiff_t, ptrdiff_t, int, const void *,
                         const dc_qgemm_params *);

static int pool_case(const char *name, pool2_fn run, size_t (*bytes)(int, int), void (*pack)(void *, const int8_t *, int, int),
                     int KH, int KW, int C, int st, int N, int PW) {
    const int L = KW * C, K = KH * L, lda = st * C, M = 2 * PW;
    const int segstride = (M * st + KW + (int)(rnd() % 3)) * C, rowstep = st * segstride;
    const size_t abytes = (size_t)rowstep + (size_t)(M - 1) * lda + (size_t)(KH - 1) * segstride + L;
    uint8_t *a = malloc(abytes), *rowA = malloc((size_t)M * N), *rowB = malloc((size_t)M * N);
    uint8_t *want = malloc((size_t)PW * N), *got = malloc((size_t)PW * N + 1);
    int8_t *w = malloc((size_t)N * K);
    int32_t *bias = malloc(sizeof(int32_t) * N), *mult = malloc(sizeof(int32_t) * N), *shift = malloc(sizeof(int32_t) * N);
    for (size_t i = 0; i < abytes; i++) a[i] = (uint8_t)(rnd() % 256);
    for (int i = 0; i < N * K; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (int n = 0; n < N; n++) {
        bias[n] = (int32_t)(rnd() % 200001) - 100000;
        dc_quantize_multiplier(exp(-(double)(rnd() % 1400) / 100.0) * 0.5, &mult[n], &shift[n]);
    }
    dc_qgemm_params p = {.N = N, .K = K, .bias = bias, .mult = mult, .shift = shift, .zo = (int32_t)(rnd() % 256),
                         .lo = 0, .hi = 255, .a_max = 255, .lda = lda};
    if (rnd() % 2) p.lo = p.zo; // a fused ReLU
    CHECK(dc_qgemm_pool_ok(&p), "pool_ok for multipliers below 1");
    dc_qgemm_ref(rowA, N, a, lda, KH, segstride, M, w, &p);
    dc_qgemm_ref(rowB, N, a + rowstep, lda, KH, segstride, M, w, &p);
    for (int q = 0; q < PW; q++)
        for (int n = 0; n < N; n++) {
            uint8_t mx = 0;
            for (int j = 0; j < 2; j++) {
                const uint8_t u = rowA[(2 * q + j) * N + n], v = rowB[(2 * q + j) * N + n];
                mx = u > mx ? u : mx;
                mx = v > mx ? v : mx;
            }
            want[q * N + n] = mx;
        }
    void *packed = dc_alloc(bytes(N, K));
    pack(packed, w, N, K);
    memset(got, 0xA5, (size_t)PW * N + 1);
    run(got, a, lda, KH, segstride, rowstep, PW, packed, &p);
    const int bad = memcmp(got, want, (size_t)PW * N) || got[PW * N] != 0xA5;
    if (bad) printf("  %s fused pool differs: KH=%d KW=%d C=%d st=%d N=%d PW=%d\n", name, KH, KW, C, st, N, PW);
    dc_free(packed);
    free(a), free(rowA), free(rowB), free(want), free(got), free(w), free(bias), free(mult), free(shift);
    return bad;
}

static void test_pool_fused(void) {
    const unsigned cpu = dc_cpu_detected();
    const int geo[][4] = {{5, 8, 1, 1}, {3, 4, 1, 2}, {3, 4, 3, 1}, {3, 2, 2, 2}, {3, 3, 4, 1}, {1, 5, 1, 1}, // KH, KW, C, stride
                          {5, 6, 6, 1}, {3, 3, 16, 1}, {3, 3, 8, 2}, {1, 1, 16, 1}, {1, 3, 5, 1},
                          {1, 275, 4, 1}}; // the last: 275 groups of taps (the pixels kernel's long path)
    const int Ns[] = {1, 3, 6, 8, 16, 17, 40}, PWs[] = {1, 2, 3, 5, 7, 8, 9, 14, 16, 23};
    int fails = 0, cases[2] = {0, 0};
    const bool vnni = dc_cpu_has(cpu, DC_CPU_LEVEL_AVX512 | DC_CPU_AVX512VNNI);
    const bool vbmi = vnni && dc_cpu_has(cpu, DC_CPU_AVX512VBMI);
    for (size_t gi = 0; gi < sizeof geo / sizeof *geo; gi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t pi = 0; pi < sizeof PWs / sizeof *PWs; pi++) {
                const int KH = geo[gi][0], KW = geo[gi][1], C = geo[gi][2], st = geo[gi][3], N = Ns[ni], PW = PWs[pi];
                if (KH > 1 && (KW * C) % 4) continue; // the segments' contract (the plan widens such rows)
                if (vbmi && N <= 8 && st * C <= 4) {
                    fails += pool_case("pixels", dc_qgemm_pixels_pool2, dc_qgemm_pixels_packed_bytes,
                                       dc_qgemm_pixels_pack, KH, KW, C, st, N, PW);
                    cases[0]++;
                }
                if (vnni) {
                    fails += pool_case("vnni", dc_qgemm_vnni_pool2, dc_qgemm_vnni_packed_bytes, dc_qgemm_vnni_pack, KH,
                                       KW, C, st, N, PW);
                    cases[1]++;
                }
            }
    CHECK(fails == 0, "%d of %d fused conv + max pool cases differ", fails, cases[0] + cases[1]);
    // a left shift, a sum that could wrap or int32 outputs are not fused
    int32_t bias[1] = {0}, mult[1] = {1 << 30}, shift[1] = {2};
    dc_qgemm_params p = {.N = 1, .K = 9, .bias = bias, .mult = mult, .shift = shift, .hi = 255, .a_max = 255, .lda = 1};
    CHECK(!dc_qgemm_pool_ok(&p), "a left shift is not fused");
    shift[0] = -3, bias[0] = INT32_MAX - 100;
    CHECK(!dc_qgemm_pool_ok(&p), "a bias that could wrap is not fused");
    bias[0] = 0, p.out32 = true;
    CHECK(!dc_qgemm_pool_ok(&p), "int32 outputs are not fused");
    printf("  fused conv + max pool: pixels %d cases, vnni %d cases%s\n", cases[0], cases[1],
           vnni ? "" : " (no VNNI on this CPU)");
}

static void test_layout(void) {
    // quantize / dequantize: NCHW <-> NHWC, rounding half away from zero
    float xf[2 * 3 * 2 * 2], back[24];
    uint8_t q[24];
    for (int i = 0; i < 24; i++) xf[i] = ((float)(rnd() % 2000) - 1000) / 97.0f;
    xf[0] = 2.5f * 0.25f; // exactly half a step above 2 steps
    xf[1] = -2.5f * 0.25f;
    dc_q_quantize(q, xf, 2, 3, 2, 2, 4.0f, 128, 255);
    int bad = 0;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 4; p++) {
                double v = xf[(n * 3 + c) * 4 + p] * 4.0;
                long r = (long)(v < 0 ? -floor(-v + 0.5) : floor(v + 0.5)) + 128;
                r = r < 0 ? 0 : r > 255 ? 255 : r;
                if (q[(n * 4 + p) * 3 + c] != r) bad++;
            }
    CHECK(bad == 0 && q[0] == 131 && q[3 * 1] == 125, "quantize: %d values wrong (q0=%d q1=%d)", bad, q[0], q[3]);
    { // one channel (the contiguous path): halves, huge values, NaN
        float x1[37];
        uint8_t q1[37];
        for (int i = 0; i < 37; i++) x1[i] = ((float)(rnd() % 4000) - 2000) / 64.0f;
        x1[0] = 0.625f, x1[1] = -0.625f, x1[2] = 3e9f, x1[3] = -3e9f, x1[4] = NAN;
        dc_q_quantize(q1, x1, 1, 1, 1, 37, 4.0f, 100, 255);
        bad = 0;
        for (int i = 0; i < 37; i++) {
            double v = x1[i] * 4.0;
            long r = isnan(v) ? 0 : (long)(v < 0 ? -floor(-v + 0.5) : floor(v + 0.5)) + 100;
            if (fabs(v) > 1e9) r = v > 0 ? 255 : 0; // saturated; NaN: 0 (as the fake-quant op)
            r = r < 0 ? 0 : r > 255 ? 255 : r;
            if (q1[i] != r) bad++;
        }
        CHECK(bad == 0 && q1[0] == 103 && q1[1] == 97, "quantize, one channel: %d values wrong", bad);
        if (dc_cpu_has(dc_cpu_detected(), DC_CPU_LEVEL_AVX512 | DC_CPU_AVX512VBMI)) {
            uint8_t q2[37];
            for (int n = 1; n <= 37; n += 12) { // whole vectors and tails
                memset(q2, 0xA5, sizeof q2);
                dc_q_quantize_avx512(q2, x1, 1, 1, 1, n, 4.0f, 100, 255);
                CHECK(!memcmp(q1, q2, (size_t)n) && (n == 37 || q2[n] == 0xA5), "quantize_avx512 of %d values", n);
            }
        }
    }
    dc_q_dequantize(back, q, 2, 3, 2, 2, 0.25f, 128);
    bad = 0;
    for (int i = 0; i < 24; i++)
        if (fabsf(back[i] - xf[i]) > 0.125f + 1e-6f && fabsf(xf[i]) < 31.0f) bad++;
    CHECK(bad == 0, "dequantize: %d values more than half a step away", bad);
    // pools against the NCHW twins
    const bool vbmi = dc_cpu_has(dc_cpu_detected(), DC_CPU_LEVEL_AVX512 | DC_CPU_AVX512VBMI);
    const int shapes[][5] = {{1, 1, 4, 4, 2},     {2, 3, 7, 5, 2},   {3, 17, 6, 9, 3}, {1, 300, 5, 5, 2},
                             {1, 300, 5, 40, 2},  {2, 6, 28, 28, 2}, {1, 2100, 3, 3, 2}, // chunked rows; wider than the row
                             {2, 16, 11, 13, 2},  {1, 6, 9, 70, 3},  {1, 40, 6, 6, 3},  {1, 64, 4, 6, 2}}; // vbmi: P = 4, 21, 1 (C*k > 128: fallback)
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int N = shapes[s][0], Cc = shapes[s][1], Hh = shapes[s][2], Ww = shapes[s][3], k = shapes[s][4];
        for (int stv = 1; stv <= k; stv++) {
            const int OHh = (Hh - k) / stv + 1, OWw = (Ww - k) / stv + 1;
            const size_t in = (size_t)N * Cc * Hh * Ww, out = (size_t)N * Cc * OHh * OWw;
            uint8_t *xi = malloc(in), *y1 = malloc(out), *y2 = malloc(out);
            for (size_t i = 0; i < in; i++) xi[i] = (uint8_t)(rnd() % 256);
            dc_q_maxpool(y1, xi, N, Cc, Hh, Ww, k, stv);
            dc_q_maxpool_ref(y2, xi, N, Cc, Hh, Ww, k, stv);
            CHECK(!memcmp(y1, y2, out), "maxpool N=%d C=%d %dx%d k=%d s=%d", N, Cc, Hh, Ww, k, stv);
            if (vbmi) {
                memset(y1, 0xA5, out);
                dc_q_maxpool_vbmi(y1, xi, N, Cc, Hh, Ww, k, stv);
                CHECK(!memcmp(y1, y2, out), "maxpool_vbmi N=%d C=%d %dx%d k=%d s=%d", N, Cc, Hh, Ww, k, stv);
            }
            dc_q_avgpool(y1, xi, N, Cc, Hh, Ww, k, stv);
            dc_q_avgpool_ref(y2, xi, N, Cc, Hh, Ww, k, stv);
            CHECK(!memcmp(y1, y2, out), "avgpool N=%d C=%d %dx%d k=%d s=%d", N, Cc, Hh, Ww, k, stv);
            free(xi), free(y1), free(y2);
        }
        const size_t in = (size_t)N * Cc * Hh * Ww;
        uint8_t *xi = malloc(in), *y1 = malloc((size_t)N * Cc), *y2 = malloc((size_t)N * Cc);
        for (size_t i = 0; i < in; i++) xi[i] = (uint8_t)(rnd() % 256);
        dc_q_gap(y1, xi, N, Cc, Hh * Ww);
        dc_q_gap_ref(y2, xi, N, Cc, Hh * Ww);
        CHECK(!memcmp(y1, y2, (size_t)N * Cc), "gap N=%d C=%d HW=%d", N, Cc, Hh * Ww);
        free(xi), free(y1), free(y2);
    }
    // add: two inputs on different scales against the real sum (within 1)
    const float sa = 0.05f, sb = 0.013f, so = 0.07f;
    dc_qadd_params ap = {.n_in = 2, .z_in = {10, 200}, .zo = 30, .lo = 0, .hi = 255};
    const double twice = 2.0 * (sa > sb ? sa : sb);
    dc_quantize_multiplier(sa / twice, &ap.mult_in[0], &ap.shift_in[0]);
    dc_quantize_multiplier(sb / twice, &ap.mult_in[1], &ap.shift_in[1]);
    dc_quantize_multiplier(twice / ((1 << 20) * (double)so), &ap.mult_out, &ap.shift_out);
    uint8_t xa[256], xb[256], ya[256];
    for (int i = 0; i < 256; i++) xa[i] = (uint8_t)i, xb[i] = (uint8_t)(rnd() % 256);
    const uint8_t *xs[2] = {xa, xb};
    dc_q_add(ya, xs, 256, &ap);
    bad = 0;
    for (int i = 0; i < 256; i++) {
        double real = sa * (xa[i] - 10) + sb * (xb[i] - 200), want = 30 + real / so;
        want = want < 0 ? 0 : want > 255 ? 255 : want;
        if (fabs(ya[i] - want) > 1.0) bad++;
    }
    CHECK(bad == 0, "add: %d outputs more than 1 away from the real sum", bad);
    // the two-input table: its lookups (scalar and AVX2 gathers) against dc_q_add
    uint8_t *table = malloc(DC_Q_ADD2_TABLE_BYTES);
    dc_q_add2_table(table, &ap);
    memset(table + 65536, 0xEE, DC_Q_ADD2_TABLE_BYTES - 65536); // the gathers' slack must not leak
    const bool avx2 = dc_cpu_has(dc_cpu_detected(), DC_CPU_LEVEL_AVX2);
    const size_t lens[] = {1, 7, 8, 9, 31, 1000, 12544};
    for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
        const size_t n = lens[c];
        uint8_t *x0 = malloc(n), *x1 = malloc(n), *want = malloc(n + 1), *got = malloc(n + 1);
        for (size_t i = 0; i < n; i++) x0[i] = (uint8_t)(rnd() % 256), x1[i] = (uint8_t)(rnd() % 256);
        if (n >= 8) x0[7] = 255, x1[7] = 255; // the last entry: the gather reads the slack
        const uint8_t *xx[2] = {x0, x1};
        dc_q_add(want, xx, n, &ap);
        want[n] = got[n] = 0x5A;
        dc_q_add2_lut(got, x0, x1, n, table);
        CHECK(!memcmp(got, want, n + 1), "add2 table lookup, n=%zu", n);
        if (avx2) {
            memset(got, 0, n);
            dc_q_add2_lut_avx2(got, x0, x1, n, table);
            CHECK(!memcmp(got, want, n + 1), "add2 AVX2 lookup, n=%zu: the same bytes, none written past n", n);
        }
        free(x0), free(x1), free(want), free(got);
    }
    free(table);
    // concat: each input rescaled into its columns
    int cs[2] = {1, 2};
    uint8_t yc[3 * 4];
    const uint8_t c0[4] = {0, 50, 100, 255}, c1[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t *cx[2] = {c0, c1};
    dc_q_concat(yc, cx, cs, 2, 4, &ap);
    bad = 0;
    for (int p = 0; p < 4; p++) {
        uint8_t one[1];
        const uint8_t *o0[2] = {c0 + p, c0 + p};
        dc_qadd_params single = ap;
        single.n_in = 1;
        dc_q_add(one, o0, 1, &single);
        if (yc[p * 3] != one[0]) bad++;
    }
    CHECK(bad == 0, "concat: the first input's column is its rescaled value");
}

int main(void) {
    test_fixed_point();
    test_gemm();
    test_pool_fused();
    test_layout();
    return dc_test_finish();
}
