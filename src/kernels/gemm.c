// gemm.c — single-precision GEMM: C (M,N) = beta*C + op(A) (M,K) * op(B) (K,N).
//
// Contract (see kernels.h): row-major, beta is exactly 0 or 1, beta == 0 never
// reads C (NaNs in C are ignored). Results are deterministic: every element of
// C is computed by one fixed sequence of float operations that depends only on
// (trans_a, trans_b, M, N, K) and the CPU's instruction set, never on which
// tile, thread or edge case computed it. That is what lets dc_gemm_mt return
// the same bits as dc_gemm for any thread count.
//
// Legend: M rows of C, N columns of C, K the summed dimension. A tile of C is
// MR x NR; KC is the k-block length.
//
// Kernels, one chosen per call by gemm_plan() from the whole problem:
//  - TILE: a 6x16 register-blocked microkernel (12 ymm accumulators, 2 B
//    vectors, 1 broadcast of A per row and k). A is never packed: it is read
//    by broadcasts straight from memory through a (row stride, k stride) pair,
//    which handles op(A) = A and A^T alike. Rows of 16 floats of op(B) are
//    read in place when trans_b is false (rows of B are contiguous: no
//    packing, which for our small shapes costs more than it saves), or from a
//    KC x 16 panel packed (transposed) on the stack when trans_b is true.
//    Used for NN and TN (in place; packed when ldb is a multiple of 4 KiB)
//    and TT (packed).
//  - TILE on C^T: for NT with M > 8 (FC forward, conv2 weight
//    gradients) C^T = B A^T is computed with the same microkernel reading B in
//    place and A^T packed, and the tile is stored transposed. Packing A^T
//    (M x K) instead of B^T (N x K) is cheaper for our shapes and M = 16 fills
//    exactly one 16-wide panel.
//  - DOT: for NT with M <= 8 (conv1 weight gradient, 6 x 25 x 784) a 16-wide
//    panel would be mostly empty; instead a 3x4 tile of C is computed as 12
//    dot products vectorised along k (both operands are contiguous along k),
//    with no packing at all.
//  - TILE with AVX-512 (where the CPU has it, chosen by the plan): the same
//    drivers, panels and packing, a 12x16 tile of one zmm accumulator per
//    row. It gives the AVX2 tile's bits (below), so which ISA ran never
//    shows in a result.
//  - PORTABLE: a blocked plain-C 4x8 kernel with packed panels, written so
//    -O3 auto-vectorises it with SSE2; used when the CPU lacks AVX2 or FMA.
// The AVX2/FMA kernels are compiled with __attribute__((target("avx2,fma")))
// and selected at run time, so the library builds with plain -O3. Measured
// speeds of each kernel on our shapes: bench/bench_gemm.c.
//
// Sum order per element of C (what the bit-identity rests on):
//  - TILE (both forms, either ISA): acc = 0; for k in a KC block, acc = fma(a_ik, b_kj,
//    acc); then C = acc (first block and beta 0) or C = C + acc. fma is
//    symmetric in its two factors, so C^T tiles give the same bits.
//  - DOT: 8 lane sums over k = l (mod 8) with fma (a ragged end adds 0*0),
//    reduced by the fixed tree ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then
//    C = s or C + s.
//  - PORTABLE: as TILE with separate multiply and add.
//
// No heap allocation: the packed panels (at most 68 KiB) live on the stack.
#include <stdint.h>
#include <string.h>
#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/cpu.h"
#include "kernels/kernels.h"

#define MR 6    // rows of the AVX tile
#define NR 16   // columns of the AVX tile (two ymm vectors)
#define KC 256  // k block: a 256 x 16 B panel is 16 KiB, half of L1d
#define MC 240  // rows of A per pass over a B panel: 240 x 256 floats = 240 KiB in L2
#define PR 4    // rows of the portable tile
#define PNR 8   // columns of the portable tile
#define DM 3    // DOT tile rows
#define DN 4    // DOT tile columns (one 128-bit store per row)

// Kernel choice. Exposed (not in kernels.h) through dc_gemm_path so tests can
// run every kernel on every shape and benches can compare them.
enum {
    GEMM_AUTO = 0,
    GEMM_PORTABLE = 1,
    GEMM_TILE_DIRECT = 2, // TILE reading rows of B in place (trans_b false only)
    GEMM_TILE_PACKED = 3, // TILE with B packed into KC x 16 panels
    GEMM_DOT = 4,         // DOT (trans_a false, trans_b true only)
    GEMM_TILE_T = 5,      // TILE on C^T = B A^T, A^T packed (trans_a false, trans_b true only)
    GEMM_TILE_DIRECT_Z = 6, // 2, 3 and 5 with the AVX-512 tile (the same bits; AVX2 where AVX-512 is missing)
    GEMM_TILE_PACKED_Z = 7,
    GEMM_TILE_T_Z = 8,
};

typedef struct gemm_args {
    bool ta, tb;
    int M, N, K;
    const float *A;
    ptrdiff_t lda;
    const float *B;
    ptrdiff_t ldb;
    bool beta1; // beta == 1: add to C; otherwise overwrite C without reading it
    float *C;
    ptrdiff_t ldc;
} gemm_args;

static int imin(int a, int b) { return a < b ? a : b; }

// ----------------------------------------------------------------------------
// Reference

void dc_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    // op(A) is (M,K), op(B) is (K,N), C is (M,N). Accumulates in double so
    // the judge is more accurate than the judged.
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta != 0.0f ? (float)((double)*c + s) : (float)s;
        }
    }
}

// ----------------------------------------------------------------------------
// Portable kernel (no intrinsics): a 4x8 tile over packed A (kc x 4) and
// packed B (kc x 8) panels, so every stride is a constant and GCC keeps the
// 32 sums in 8 SSE registers and vectorises the j loops. B is packed 64
// columns (8 panels) at a time so each packed A tile serves 8 panels. The k
// order per element is fixed as in TILE.

#define PNB 64 // columns of B packed per pass

// buf = op(B)[pc:pc+kc, jc:jc+nc] as ceil(nc/PNR) panels of (kc,PNR), zero padded.
static void pack_b_portable(float *buf, const gemm_args *g, int pc, int jc, int kc, int nc) {
    for (int jp = 0; jp < nc; jp += PNR) {
        float *panel = buf + (size_t)jp * kc;
        for (int k = 0; k < kc; k++) {
            for (int j = 0; j < PNR; j++) {
                const int col = jc + jp + j;
                panel[(size_t)k * PNR + j] =
                    jp + j >= nc ? 0.0f
                    : g->tb      ? g->B[(size_t)col * g->ldb + pc + k]
                                 : g->B[(size_t)(pc + k) * g->ldb + col];
            }
        }
    }
}

// buf (kc,PR) = op(A)[ir:ir+mr, pc:pc+kc] transposed, rows past mr zero.
static void pack_a_portable(float *buf, const gemm_args *g, int ir, int pc, int mr, int kc) {
    for (int k = 0; k < kc; k++)
        for (int i = 0; i < PR; i++)
            buf[(size_t)k * PR + i] = i >= mr  ? 0.0f
                                      : g->ta ? g->A[(size_t)(pc + k) * g->lda + ir + i]
                                              : g->A[(size_t)(ir + i) * g->lda + pc + k];
}

// acc (PR,PNR) = sum over kc of the packed A tile times the packed B panel.
// One named array per row: GCC keeps each in two SSE registers.
static void portable_tile(int kc, const float *a, const float *b, float acc[PR][PNR]) {
    float s0[PNR] = {0}, s1[PNR] = {0}, s2[PNR] = {0}, s3[PNR] = {0};
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * PNR, *ak = a + (size_t)k * PR;
        for (int j = 0; j < PNR; j++) {
            s0[j] += ak[0] * bk[j];
            s1[j] += ak[1] * bk[j];
            s2[j] += ak[2] * bk[j];
            s3[j] += ak[3] * bk[j];
        }
    }
    memcpy(acc[0], s0, sizeof s0);
    memcpy(acc[1], s1, sizeof s1);
    memcpy(acc[2], s2, sizeof s2);
    memcpy(acc[3], s3, sizeof s3);
}

static void gemm_portable(const gemm_args *g) {
    float bbuf[KC * PNB], abuf[KC * PR];
    for (int pc = 0; pc < g->K; pc += KC) {
        const int kc = imin(KC, g->K - pc);
        const bool add = g->beta1 || pc > 0;
        for (int jc = 0; jc < g->N; jc += PNB) {
            const int nc = imin(PNB, g->N - jc);
            pack_b_portable(bbuf, g, pc, jc, kc, nc);
            for (int ir = 0; ir < g->M; ir += PR) {
                const int mr = imin(PR, g->M - ir);
                pack_a_portable(abuf, g, ir, pc, mr, kc);
                for (int jp = 0; jp < nc; jp += PNR) {
                    const int nr = imin(PNR, nc - jp);
                    float acc[PR][PNR];
                    portable_tile(kc, abuf, bbuf + (size_t)jp * kc, acc);
                    for (int i = 0; i < mr; i++) {
                        float *c = g->C + (size_t)(ir + i) * g->ldc + jc + jp;
                        for (int j = 0; j < nr; j++) c[j] = add ? c[j] + acc[i][j] : acc[i][j];
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// AVX2 + FMA kernels

#define AVX __attribute__((target("avx2,fma")))
#define AVX_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

// Lane mask with the first n (1..8) lanes on.
AVX_INLINE __m256i mask8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// A tile t (mr rows of NR floats) stored transposed: t[i][j] to c[j*ldc + i],
// added to C or not. Scalar adds are the same IEEE operation as a vector add.
static inline __attribute__((always_inline)) void store_tile_t(const float (*t)[NR], int mr, int nr, float *c,
                                                                ptrdiff_t ldc, bool add) {
    for (int j = 0; j < nr; j++) {
        float *cp = c + j * ldc;
        if (add)
            for (int i = 0; i < mr; i++) cp[i] += t[i][j];
        else
            for (int i = 0; i < mr; i++) cp[i] = t[i][j];
    }
}

// TILE microkernel, specialised at each call site on constant mr (1..6), nv
// (1 or 2 vectors of 8 columns), masked (the last vector is partial), ta and
// ts. a points at op(A)[0][0] of the tile, b at row 0 of a k x 16 block of
// op(B) with row stride ldb, c at the tile of C. With ts (transposed store)
// the tile is of C^T: tile element (i,j) goes to c[j*ldc + i].
AVX_INLINE void tile_kernel(const int mr, const int nv, const bool masked, const bool ta,
                            const bool ts, int kc, const float *a, ptrdiff_t lda,
                            const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                            bool add, int nr) {
    const ptrdiff_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    const __m256i mask = mask8(nr - 8 * (nv - 1));
    __m256 acc[MR][2];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++) acc[i][v] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        // Direct B: the next tile's line of this row (B is L2-resident; the
        // hardware prefetcher does not follow kc interleaved streams).
        // Packed B: a later row of the L1-resident panel, harmless.
        _mm_prefetch((const char *)(b + NR), _MM_HINT_T0);
        __m256 b0, b1 = _mm256_setzero_ps();
        if (nv == 1) {
            b0 = masked ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
        } else {
            b0 = _mm256_loadu_ps(b);
            b1 = masked ? _mm256_maskload_ps(b + 8, mask) : _mm256_loadu_ps(b + 8);
        }
        for (int i = 0; i < mr; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            if (nv == 2) acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += csa;
        b += ldb;
    }
    if (ts) {
        // Through a small buffer: C^T columns are strided. The scalar add is
        // the same IEEE operation as the vector add of the normal store.
        __attribute__((aligned(32))) float t[MR][NR];
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < nv; v++) _mm256_store_ps(&t[i][8 * v], acc[i][v]);
        store_tile_t(t, mr, nr, c, ldc, add);
        return;
    }
    for (int i = 0; i < mr; i++) {
        for (int v = 0; v < nv; v++) {
            float *cp = c + i * ldc + 8 * v;
            const bool mv = masked && v == nv - 1;
            __m256 r = acc[i][v];
            if (add) r = _mm256_add_ps(mv ? _mm256_maskload_ps(cp, mask) : _mm256_loadu_ps(cp), r);
            if (mv)
                _mm256_maskstore_ps(cp, mask, r);
            else
                _mm256_storeu_ps(cp, r);
        }
    }
}

// All mc rows of one column panel (nr columns) in tiles of MR rows, the
// ragged last tile through a switch. Specialised on nv, masked, ta, ts.
AVX_INLINE void panel_rows(const int nv, const bool masked, const bool ta, const bool ts,
                           int mc, int nr, int kc, const float *a, ptrdiff_t lda,
                           const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool add) {
    const ptrdiff_t rsa = ta ? 1 : lda;
    const ptrdiff_t rsc = ts ? 1 : ldc; // step in C between tile rows
    int ir = 0;
    for (; ir + MR <= mc; ir += MR)
        tile_kernel(MR, nv, masked, ta, ts, kc, a + ir * rsa, lda, b, ldb, c + ir * rsc, ldc,
                    add, nr);
    a += ir * rsa;
    c += ir * rsc;
    switch (mc - ir) {
    case 1: tile_kernel(1, nv, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr); break;
    case 2: tile_kernel(2, nv, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr); break;
    case 3: tile_kernel(3, nv, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr); break;
    case 4: tile_kernel(4, nv, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr); break;
    case 5: tile_kernel(5, nv, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr); break;
    default: break;
    }
}

#define PANEL_TA_TS(NV, MASKED)                                                           \
    do {                                                                                  \
        if (ts)                                                                           \
            panel_rows(NV, MASKED, false, true, mc, nr, kc, a, lda, b, ldb, c, ldc, add); \
        else if (ta)                                                                      \
            panel_rows(NV, MASKED, true, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add); \
        else                                                                              \
            panel_rows(NV, MASKED, false, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add); \
    } while (0)

// One column panel: mc rows, nr (1..16) columns. ts implies !ta (the only
// transposed-store use is trans_a false, trans_b true, see gemm_plan).
AVX static void panel_dispatch(int mc, int nr, bool ta, bool ts, int kc, const float *a,
                               ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                               ptrdiff_t ldc, bool add) {
    if (nr == 16)
        PANEL_TA_TS(2, false);
    else if (nr > 8)
        PANEL_TA_TS(2, true);
    else if (nr == 8)
        PANEL_TA_TS(1, false);
    else
        PANEL_TA_TS(1, true);
}

// 8x8 transpose of r[0..7] in place.
AVX_INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// buf (kc,NR) = op(B)[pc:pc+kc, jc:jc+nr]. Columns nr..15 are left as they
// are: the kernel masks them out. Pure copies, so no rounding is involved.
AVX static void pack_b_avx(float *buf, const gemm_args *g, int pc, int jc, int kc, int nr) {
    if (!g->tb) {
        const float *src = g->B + (size_t)pc * g->ldb + jc;
        for (int k = 0; k < kc; k++, src += g->ldb) {
            if (nr == NR) {
                _mm256_storeu_ps(buf + (size_t)k * NR, _mm256_loadu_ps(src));
                _mm256_storeu_ps(buf + (size_t)k * NR + 8, _mm256_loadu_ps(src + 8));
            } else {
                memcpy(buf + (size_t)k * NR, src, sizeof(float) * (size_t)nr);
            }
        }
        return;
    }
    // op(B)[k][j] = B[j][k]: transpose 8x8 blocks, scalar for the ragged rest.
    for (int jb = 0; jb < nr; jb += 8) {
        const float *src = g->B + (size_t)(jc + jb) * g->ldb + pc;
        if (jb + 8 <= nr) {
            int k = 0;
            for (; k + 8 <= kc; k += 8) {
                __m256 r[8];
                for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (size_t)j * g->ldb + k);
                transpose8(r);
                for (int kk = 0; kk < 8; kk++) _mm256_storeu_ps(buf + (size_t)(k + kk) * NR + jb, r[kk]);
            }
            for (; k < kc; k++)
                for (int j = 0; j < 8; j++) buf[(size_t)k * NR + jb + j] = src[(size_t)j * g->ldb + k];
        } else {
            for (int k = 0; k < kc; k++)
                for (int j = 0; j < nr - jb; j++) buf[(size_t)k * NR + jb + j] = src[(size_t)j * g->ldb + k];
        }
    }
}

// ----------------------------------------------------------------------------
// AVX-512 TILE: the same 16-column panels (in place or packed, as above), a
// tile of up to 12 rows x 16 columns in 12 zmm accumulators, one B vector and
// 12 broadcasts of A per k. Each element of C gets the AVX2 tile's sequence
// of operations (acc = fma(a_ik, b_kj, acc) over the k block, then C = acc or
// C + acc), so the two kernels give the same bits and the AVX-512 one is
// chosen by the CPU alone. A ragged column panel is a lane mask.

#define MRZ 12 // rows of the AVX-512 tile
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

AVX512_INLINE void tile_kernel_z(const int mr, const bool masked, const bool ta, const bool ts, int kc,
                                 const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                                 ptrdiff_t ldc, bool add, int nr) {
    const ptrdiff_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    const __mmask16 mask = (__mmask16)((1u << nr) - 1u);
    __m512 acc[MRZ];
    for (int i = 0; i < mr; i++) acc[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(b + NR), _MM_HINT_T0); // as in the AVX2 tile
        const __m512 b0 = masked ? _mm512_maskz_loadu_ps(mask, b) : _mm512_loadu_ps(b);
        for (int i = 0; i < mr; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * rsa]), b0, acc[i]);
        a += csa;
        b += ldb;
    }
    if (ts) { // C^T columns are strided: through a buffer, scalar adds (the same IEEE operation)
        __attribute__((aligned(64))) float t[MRZ][NR];
        for (int i = 0; i < mr; i++) _mm512_store_ps(t[i], acc[i]);
        store_tile_t(t, mr, nr, c, ldc, add);
        return;
    }
    for (int i = 0; i < mr; i++) {
        float *cp = c + i * ldc;
        __m512 r = acc[i];
        if (masked) {
            if (add) r = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, cp), r);
            _mm512_mask_storeu_ps(cp, mask, r);
        } else {
            if (add) r = _mm512_add_ps(_mm512_loadu_ps(cp), r);
            _mm512_storeu_ps(cp, r);
        }
    }
}

#define TILE_Z(MRV) tile_kernel_z(MRV, masked, ta, ts, kc, a, lda, b, ldb, c, ldc, add, nr)

AVX512_INLINE void panel_rows_z(const bool masked, const bool ta, const bool ts, int mc, int nr, int kc,
                                const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                                ptrdiff_t ldc, bool add) {
    const ptrdiff_t rsa = ta ? 1 : lda;
    const ptrdiff_t rsc = ts ? 1 : ldc;
    int ir = 0;
    for (; ir + MRZ <= mc; ir += MRZ, a += MRZ * rsa, c += MRZ * rsc) TILE_Z(MRZ);
    switch (mc - ir) {
    case 1: TILE_Z(1); break;
    case 2: TILE_Z(2); break;
    case 3: TILE_Z(3); break;
    case 4: TILE_Z(4); break;
    case 5: TILE_Z(5); break;
    case 6: TILE_Z(6); break;
    case 7: TILE_Z(7); break;
    case 8: TILE_Z(8); break;
    case 9: TILE_Z(9); break;
    case 10: TILE_Z(10); break;
    case 11: TILE_Z(11); break;
    default: break;
    }
}

AVX512 static void panel_dispatch_z(int mc, int nr, bool ta, bool ts, int kc, const float *a, ptrdiff_t lda,
                                    const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool add) {
    const bool masked = nr < NR;
    if (ts) {
        if (masked) panel_rows_z(true, false, true, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
        else panel_rows_z(false, false, true, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
    } else if (ta) {
        if (masked) panel_rows_z(true, true, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
        else panel_rows_z(false, true, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
    } else {
        if (masked) panel_rows_z(true, false, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
        else panel_rows_z(false, false, false, mc, nr, kc, a, lda, b, ldb, c, ldc, add);
    }
}

// TILE driver. g is the problem as the kernel sees it; with ts it is the
// transposed problem C^T = op(B)^T op(A)^T and C is written transposed.
AVX static void gemm_tile(const gemm_args *g, bool pack, bool ts, bool zmm) {
    __attribute__((aligned(64))) float buf[KC * NR];
    const ptrdiff_t rsa = g->ta ? 1 : g->lda, csa = g->ta ? g->lda : 1;
    const ptrdiff_t rsc = ts ? 1 : g->ldc, csc = ts ? g->ldc : 1; // C strides as seen
    for (int pc = 0; pc < g->K; pc += KC) {
        const int kc = imin(KC, g->K - pc);
        const bool add = g->beta1 || pc > 0;
        for (int ic = 0; ic < g->M; ic += MC) {
            const int mc = imin(MC, g->M - ic);
            for (int jc = 0; jc < g->N; jc += NR) {
                const int nr = imin(NR, g->N - jc);
                const float *b;
                ptrdiff_t ldb;
                if (pack) {
                    pack_b_avx(buf, g, pc, jc, kc, nr);
                    b = buf;
                    ldb = NR;
                } else {
                    b = g->B + (size_t)pc * g->ldb + jc;
                    ldb = g->ldb;
                }
                if (zmm)
                    panel_dispatch_z(mc, nr, g->ta, ts, kc, g->A + ic * rsa + pc * csa, g->lda, b, ldb,
                                     g->C + ic * rsc + jc * csc, g->ldc, add);
                else
                    panel_dispatch(mc, nr, g->ta, ts, kc, g->A + ic * rsa + pc * csa, g->lda, b, ldb,
                                   g->C + ic * rsc + jc * csc, g->ldc, add);
            }
        }
    }
}

// Sums of four 8-lane vectors, each by the tree ((0+1)+(2+3))+((4+5)+(6+7)).
AVX_INLINE __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// DOT microkernel: tile of mr (1..3) x nr (1..4) with a pointing at row 0 of
// A (k contiguous), b at row 0 of B (op(B) column j is row j of B).
AVX_INLINE void dot_kernel(const int mr, const int nr, int K, const float *a, ptrdiff_t lda,
                           const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool add,
                           __m256i kmask, __m128i cmask) {
    __m256 acc[DM][DN];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < DN; j++) acc[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 av[DM];
        for (int i = 0; i < mr; i++) av[i] = _mm256_loadu_ps(a + i * lda + k);
        for (int j = 0; j < nr; j++) {
            const __m256 bv = _mm256_loadu_ps(b + j * ldb + k);
            for (int i = 0; i < mr; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    if (k < K) { // ragged end: masked-out lanes load 0 and add 0*0
        __m256 av[DM];
        for (int i = 0; i < mr; i++) av[i] = _mm256_maskload_ps(a + i * lda + k, kmask);
        for (int j = 0; j < nr; j++) {
            const __m256 bv = _mm256_maskload_ps(b + j * ldb + k, kmask);
            for (int i = 0; i < mr; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++) {
        __m128 s = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        float *cp = c + i * ldc;
        if (nr == DN) {
            if (add) s = _mm_add_ps(_mm_loadu_ps(cp), s);
            _mm_storeu_ps(cp, s);
        } else {
            if (add) s = _mm_add_ps(_mm_maskload_ps(cp, cmask), s);
            _mm_maskstore_ps(cp, cmask, s);
        }
    }
}

#define DOT_CASE(MRV, NRV)                                                          \
    case (MRV) * 8 + (NRV):                                                         \
        dot_kernel(MRV, NRV, K, a, lda, b, ldb, c, ldc, add, kmask, cmask);         \
        break;

AVX static void dot_dispatch(int mr, int nr, int K, const float *a, ptrdiff_t lda,
                             const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                             bool add, __m256i kmask) {
    const __m128i cmask = _mm256_castsi256_si128(mask8(nr));
    switch (mr * 8 + nr) {
        DOT_CASE(1, 1) DOT_CASE(1, 2) DOT_CASE(1, 3) DOT_CASE(1, 4)
        DOT_CASE(2, 1) DOT_CASE(2, 2) DOT_CASE(2, 3) DOT_CASE(2, 4)
        DOT_CASE(3, 1) DOT_CASE(3, 2) DOT_CASE(3, 3)
        default: DOT_CASE(3, 4)
    }
}

AVX static void gemm_dot(const gemm_args *g) {
    // A is (M,K) and B is (N,K), both contiguous along k.
    const __m256i kmask = mask8(g->K % 8 ? g->K % 8 : 8);
    for (int jc = 0; jc < g->N; jc += DN) {
        const int nr = imin(DN, g->N - jc);
        for (int ic = 0; ic < g->M; ic += DM) {
            const int mr = imin(DM, g->M - ic);
            dot_dispatch(mr, nr, g->K, g->A + (size_t)ic * g->lda, g->lda,
                         g->B + (size_t)jc * g->ldb, g->ldb,
                         g->C + (size_t)ic * g->ldc + jc, g->ldc, g->beta1, kmask);
        }
    }
}

// ----------------------------------------------------------------------------
// Planning and dispatch

// core/cpu.h: honours DEEPC_CPU, so DEEPC_CPU=generic reaches the portable
// kernel on any machine.
static bool have_avx2_fma(void) { return dc_cpu_has(dc_cpu_features(), DC_CPU_LEVEL_AVX2); }
static bool have_avx512(void) { return dc_cpu_has(dc_cpu_features(), DC_CPU_LEVEL_AVX512); }

// The AVX-512 form of a TILE path where the CPU has it, and back.
static int tile_isa(int path, bool zmm) {
    static const int to_z[] = {[GEMM_TILE_DIRECT] = GEMM_TILE_DIRECT_Z, [GEMM_TILE_PACKED] = GEMM_TILE_PACKED_Z,
                               [GEMM_TILE_T] = GEMM_TILE_T_Z};
    static const int to_y[] = {[GEMM_TILE_DIRECT_Z] = GEMM_TILE_DIRECT, [GEMM_TILE_PACKED_Z] = GEMM_TILE_PACKED,
                               [GEMM_TILE_T_Z] = GEMM_TILE_T};
    if (zmm && path >= GEMM_TILE_DIRECT && path <= GEMM_TILE_T && to_z[path]) return to_z[path];
    if (!zmm && path >= GEMM_TILE_DIRECT_Z && path <= GEMM_TILE_T_Z) return to_y[path];
    return path;
}

// The automatic choice among the AVX2 kernels (gemm_plan adds the ISA).
static int gemm_plan_auto(const gemm_args *g) {
    // Rows of B 4 KiB apart all fall in one L1 set: read in place, a KC x 16
    // panel would thrash, so pack it (measured: 50 -> 80 GFLOP/s at
    // 240x1024x512 with ldb 1024). Otherwise in place: it wins clearly for
    // small M (conv1 forward 77 vs 55) and ties within noise for M >= 64.
    if (!g->tb) return g->ldb % 1024 == 0 && g->K > 64 ? GEMM_TILE_PACKED : GEMM_TILE_DIRECT;
    if (!g->ta) return g->M <= 8 ? GEMM_DOT : GEMM_TILE_T;
    return GEMM_TILE_PACKED;
}

// The kernel for the whole problem. It must depend only on the whole problem
// (never on a thread's share of it) so every thread count gives the same bits.
static int gemm_plan(int path, const gemm_args *g) {
    if (!have_avx2_fma()) return GEMM_PORTABLE;
    if (path < GEMM_AUTO || path > GEMM_TILE_T_Z) path = GEMM_AUTO;
    const bool forced_z = path >= GEMM_TILE_DIRECT_Z;
    path = tile_isa(path, false);
    if (path == GEMM_TILE_DIRECT && g->tb) path = GEMM_AUTO;
    if ((path == GEMM_DOT || path == GEMM_TILE_T) && (g->ta || !g->tb)) path = GEMM_AUTO;
    if (path != GEMM_AUTO) return tile_isa(path, forced_z && have_avx512());
    return tile_isa(gemm_plan_auto(g), have_avx512());
}

// Runs kernel `path` on g (which may be a block of a larger problem).
static void gemm_run(int path, const gemm_args *g) {
    if (g->M <= 0 || g->N <= 0) return;
    if (g->K <= 0) { // C = beta*C + (empty sum)
        if (!g->beta1)
            for (int i = 0; i < g->M; i++)
                memset(g->C + (size_t)i * g->ldc, 0, sizeof(float) * (size_t)g->N);
        return;
    }
    const bool z = path >= GEMM_TILE_DIRECT_Z;
    switch (tile_isa(path, false)) {
    case GEMM_TILE_DIRECT: gemm_tile(g, false, false, z); break;
    case GEMM_TILE_PACKED: gemm_tile(g, true, false, z); break;
    case GEMM_TILE_T: { // op(A) = A, op(B) = B^T: C^T (N,M) = B (N,K) * A^T (K,M)
        const gemm_args t = {false, true, g->N, g->M, g->K, g->B, g->ldb, g->A, g->lda,
                             g->beta1, g->C, g->ldc};
        gemm_tile(&t, true, true, z);
        break;
    }
    case GEMM_DOT: gemm_dot(g); break;
    default: gemm_portable(g); break;
    }
}

static gemm_args make_args(bool trans_a, bool trans_b, int M, int N, int K, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_args g = {trans_a, trans_b, M, N, K, A, lda, B, ldb, beta != 0.0f, C, ldc};
    return g;
}

// Like dc_gemm with the kernel forced (0 auto, 1 portable, 2 tile with B in
// place, 3 tile with B packed, 4 dot, 5 tile on C^T; 6, 7, 8: 2, 3, 5 with the
// AVX-512 tile); a kernel that does not apply to the trans flags, an unknown
// number, or an AVX2 kernel on a CPU without AVX2+FMA falls back to auto, an
// AVX-512 tile on a CPU without AVX-512 to its AVX2 form. For tests and benches; not declared in
// kernels.h (tests/test_gemm.c and bench/bench_gemm.c declare it).
void dc_gemm_path(int path, bool trans_a, bool trans_b, int M, int N, int K,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);
void dc_gemm_path(int path, bool trans_a, bool trans_b, int M, int N, int K,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    const gemm_args g = make_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    gemm_run(path == GEMM_PORTABLE ? GEMM_PORTABLE : gemm_plan(path, &g), &g);
}

void dc_gemm(bool trans_a, bool trans_b, int M, int N, int K,
             const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc) {
    // op(A) is (M,K), op(B) is (K,N), C is (M,N)
    const gemm_args g = make_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    gemm_run(gemm_plan(GEMM_AUTO, &g), &g);
}

void dc_gemm_mt(int nthreads, bool trans_a, bool trans_b, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc) {
    // op(A) is (M,K), op(B) is (K,N), C is (M,N)
    const gemm_args g = make_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    const int path = gemm_plan(GEMM_AUTO, &g);
    // Columns in blocks of whole 16-wide tiles when there are enough of them,
    // else rows in blocks of 12 (a multiple of every kernel's tile height).
    // Block edges only affect speed: no kernel's result depends on them.
    const bool by_cols = (N + NR - 1) / NR >= nthreads;
    const int unit = by_cols ? NR : 12;
    const int units = ((by_cols ? N : M) + unit - 1) / unit;
    if (nthreads <= 1 || units < 2) {
        gemm_run(path, &g);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    for (int t = 0, nt = nthreads; t < nt; t++) {
#endif
        const int lo = imin(by_cols ? N : M, (int)((long)units * t / nt) * unit);
        const int hi = imin(by_cols ? N : M, (int)((long)units * (t + 1) / nt) * unit);
        gemm_args s = g;
        if (by_cols) { // op(B) columns [lo,hi) and the same columns of C
            s.N = hi - lo;
            s.B = g.tb ? g.B + (size_t)lo * g.ldb : g.B + lo;
            s.C = g.C + lo;
        } else { // op(A) rows [lo,hi) and the same rows of C
            s.M = hi - lo;
            s.A = g.ta ? g.A + lo : g.A + (size_t)lo * g.lda;
            s.C = g.C + (size_t)lo * g.ldc;
        }
        gemm_run(path, &s);
    }
}
