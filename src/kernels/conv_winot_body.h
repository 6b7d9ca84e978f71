// conv_winot_body.h — Winograd convolution forwards with the tiles of one
// image in the lanes, for batches under 4: F(2x2, 3x3) ("winot", the bits of
// the sample-lanes kernel of conv_wino_body.h) and F(4x4, 3x3) ("wino4t").
// Written once for both vector widths and included after conv_wino_body.h
// (whose products and weight transform they use) by conv_wino.c (VW = 8)
// and conv_wino_avx512.c (VW = 16).

// ----------------------------------------------------------------------------
// One image at a time, tiles in the lanes ("winot": batches under 4)
//
// With one image there are no samples to fill the lanes, so a vector holds
// VW consecutive tiles of one image instead (tile t = th TW + tw, row-major
// over the image's tiles, whatever tile rows they fall in) and the products
// are the same register blocks, over tiles. For the transforms the input is
// laid out once per call in tile-row planes (tile_planes below), from which
// a vector of tiles is a few loads and an even/odd split; the output
// transform's rows go out through a small buffer a tile row at a time.
// (The version before went a tile row at a time: resnet20's 7x7 stage has 4
// tiles a row, and 12 of a zmm's 16 lanes idled in both transforms.)
//
// Each tile goes through exactly the operations of wino_in_tile,
// wino_mmf_block and wino_out_tile, in the same order, with the same U: the
// outputs are the sample-lanes kernel's bits (tests/test_conv_small.c holds
// them to it), so a sample's y does not depend on the batch it came in.
// wino4t (F(4,3), below) uses the same planes with 4x4 output tiles.

#if DC_VW == 8
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_LOADU_W(p) _mm256_loadu_ps(p)
#else
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_LOADU_W(p) _mm512_loadu_ps(p)
#endif

// Tile-row planes for output tiles of m x m (m = 2, 4; input tiles of m + 2
// rows and columns): for each channel c and row i < m + 2 of a tile, plane
// A_i[m t + q] = the padded input (m th + i, m tw + q) for q < m, t = th TW
// + tw: a vector of VW tiles' columns q < m is m loads and a split. Columns
// m and m + 1 are the next tile's 0 and 1 (a lane shift), except at a tile
// row's last tile, whose two are kept apart in E_i[th] and E_i[es + th] and
// blended in (row_end_blend).
typedef struct {
    int m, rows;   // output tile side, input tile side (m + 2)
    int TH, TW;    // tiles
    ptrdiff_t ps;  // floats per plane: m T in whole vectors, then the last reads' room
    ptrdiff_t es;  // floats per row-end column: TH + VW
} VN(planes);

static VN(planes) VN(planes_geo)(int m, int TH, int TW) {
    VN(planes) p = {.m = m, .rows = m + 2, .TH = TH, .TW = TW};
    p.ps = (ptrdiff_t)m * ((TH * TW + VW - 1) / VW * VW) + 2 * VW;
    p.es = TH + VW;
    return p;
}

// A (Ci, rows, ps), then E (Ci, rows, 2, es).
static size_t VN(planes_floats)(const VN(planes) *p, int Ci) {
    return VN(pad16)((size_t)Ci * p->rows * (size_t)(p->ps + 2 * p->es));
}

// The planes of tile rows th_lo .. th_hi - 1 from the image x (Ci, H, W)
// with `pad` zero rows and columns before it (and zeros after it). A plane
// row is m TW floats written as whole vectors of masked loads: a library
// memset and memcpy per row of 7 to 28 floats cost 7% of resnet20's
// batch-1 time in calls. Its overrun into the next row is overwritten by it
// (rows in order); the last one's falls in the plane's room.
static void VN(tile_planes)(float *xp, const VN(planes) *p, int Ci, int H, int W, int pad,
                            const float *x, int th_lo, int th_hi) {
    const int m = p->m, row = m * p->TW;
    float *E0 = xp + (size_t)Ci * p->rows * p->ps;
    for (int c = 0; c < Ci; c++)
        for (int i = 0; i < p->rows; i++) {
            float *A = xp + ((size_t)c * p->rows + i) * p->ps;
            float *E = E0 + ((size_t)c * p->rows + i) * 2 * p->es;
            for (int th = th_lo; th < th_hi; th++) {
                const int h = m * th + i - pad;
                float *dst = A + (size_t)th * row;
                if (h < 0 || h >= H) {
                    for (int j = 0; j < row; j += VW) V_STOREU(dst + j, V_ZERO());
                    E[th] = E[p->es + th] = 0.0f;
                    continue;
                }
                const float *src = x + ((size_t)c * H + h) * W;
                for (int j = 0; j < row; j += VW) {
                    // lanes [s, e) of this vector hold columns j + s - pad .. of the image
                    const int s = pad > j ? pad - j : 0;
                    const int e = pad + W - j < VW ? pad + W - j : VW;
                    V_STOREU(dst + j, e > s ? VN(load_at)(src + (j + s - pad), s, e - s) : V_ZERO());
                }
                const int w0 = row - pad; // the image column of padded column m TW
                E[th] = w0 >= 0 && w0 < W ? src[w0] : 0.0f;
                E[p->es + th] = w0 + 1 >= 0 && w0 + 1 < W ? src[w0 + 1] : 0.0f;
            }
        }
}

// For each vector v < nvec of the tiles t0 + v VW ..: the lanes whose tile
// ends its tile row (ends, -1 / 0) and each lane's tile row less the
// vector's first's (rel), 2 VW ints a vector.
static void VN(lane_tables)(int *tab, int nvec, int t0, int TW) {
    for (int v = 0; v < nvec; v++) {
        int *ends = tab + 2 * v * VW, *rel = ends + VW;
        int tw = (t0 + v * VW) % TW, r = 0;
        for (int l = 0; l < VW; l++) {
            ends[l] = tw == TW - 1 ? -1 : 0;
            rel[l] = r;
            if (++tw == TW) tw = 0, r++;
        }
    }
}

// Lane l of the result is lane l + 1 of v; the last lane is *p.
VEC_INLINE vf VN(next_lane)(vf v, const float *p) {
#if DC_VW == 8
    const __m256 up = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
    return _mm256_blend_ps(up, _mm256_broadcast_ss(p), 0x80);
#else
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(*p)), _mm512_castps_si512(v), 1));
#endif
}

// Columns m and m + 1 of a vector of tiles: the next lane's column 0 or 1
// (shifted), but e[rel[l]] where lane l's tile ends its row.
VEC_INLINE vf VN(row_end_blend)(vf shifted, const float *e, const int *tab) {
#if DC_VW == 8
    const __m256 ev = _mm256_permutevar8x32_ps(_mm256_loadu_ps(e), _mm256_loadu_si256((const __m256i *)(tab + VW)));
    return _mm256_blendv_ps(shifted, ev, _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)tab)));
#else
    const __m512 ev = _mm512_permutexvar_ps(_mm512_loadu_si512(tab + VW), _mm512_loadu_ps(e));
    const __m512i ends = _mm512_loadu_si512(tab);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(ends, ends), shifted, ev);
#endif
}

// Where a vector of tiles' outputs go: per tile row it covers, a run of
// the buffer the output transform fills (m floats per tile, tile-major) to
// copy into a row of y. Made once per band (run_tables), so the copy below
// divides nothing (the division by TW for each run of each output row and
// channel cost as much as the copies on resnet20's 28x28 layers).
enum { RUN_INTS = 4 };                                  // src, col, n, m th
#define VN_RUNS_PER_VEC (1 + RUN_INTS * (VW + 1))       // a count, then at most VW + 1 runs

// The runs of vectors v < nvec of the band's tiles tb0 .. tb0 + nt - 1:
// the tiles t0 .. t1 - 1 of a vector, a tile row at a time, clipped to OW.
static void VN(run_tables)(int *runs, int nvec, int tb0, int nt, int TW, int m, int OW) {
    for (int v = 0; v < nvec; v++) {
        int *rv = runs + (size_t)v * VN_RUNS_PER_VEC, cnt = 0;
        const int t0 = tb0 + v * VW, t1 = tb0 + (v * VW + VW < nt ? v * VW + VW : nt);
        for (int ta = t0; ta < t1; cnt++) {
            const int th = ta / TW, tw = ta - th * TW;
            const int tb = (th + 1) * TW < t1 ? (th + 1) * TW : t1;
            const int col = m * tw;
            int *r = rv + 1 + RUN_INTS * cnt;
            r[0] = m * (ta - t0);
            r[1] = col;
            r[2] = m * (tb - ta) < OW - col ? m * (tb - ta) : OW - col;
            r[3] = m * th;
            ta = tb;
        }
        rv[0] = cnt;
    }
}

// Output row k of a vector of tiles: buf holds m floats per tile (its row
// k, tile-major, as the output transform merged them); copied into y (OH,
// OW) along the vector's runs, clipped to the image, + res (then the relu:
// an add node's bits).
static void VN(tile_rows_out)(float *y, const float *res, bool relu, const float *buf, const int *rv,
                              int k, int OH, int OW) {
    for (int i = 0; i < rv[0]; i++) {
        const int *r = rv + 1 + RUN_INTS * i;
        const int oh = r[3] + k, n = r[2];
        if (oh >= OH) continue;
        const float *src = buf + r[0];
        float *dst = y + (size_t)oh * OW + r[1];
        const float *rs = res ? res + (size_t)oh * OW + r[1] : NULL;
        for (int j = 0; j < n; j += VW) {
            const int nn = n - j < VW ? n - j : VW;
            vf o = VN(load_at)(src + j, 0, nn);
            if (rs) {
                o = V_ADD(o, VN(load_at)(rs + j, 0, nn));
                if (relu) o = V_RELU(o);
            }
            VN(store_lanes)(dst + j, o, nn);
        }
    }
}

typedef struct {
    int Ci, Co, H, W, pad, OH, OW, TH, TW;
    VN(planes) pl;      // the input's tile-row planes
    int TBR;            // tile rows per band
    int Tbp;            // floats per channel in V and M: a band's tiles in whole vectors
    int RF, TF;         // register block: RF output channels x TF vectors of tiles
    ptrdiff_t vxs, mxs; // floats from one tile element to the next in V (Ci Tbp), M (RF Tbp)
} VN(tgeo);

// n floats rounded up to an odd number of 64-byte lines: the transforms
// touch all 16 tile elements at once, and 16 streams an even number of lines
// apart share L1 sets (measured: M 512 floats apart made the 16-channel
// 28x28 forward 2x slower).
static ptrdiff_t VN(odd_lines)(size_t n) {
    const size_t lines = (n + 15) / 16;
    return (ptrdiff_t)(16 * (lines | 1));
}

// The geometry of winot (m = 2, 16 tile elements) and wino4t (m = 4, 36).
static VN(tgeo) VN(tiles_geo)(int m, int Ci, int Co, int H, int W, int pad) {
    VN(tgeo) g = {.Ci = Ci, .Co = Co, .H = H, .W = W, .pad = pad};
    const int nxi = (m + 2) * (m + 2);
    g.OH = H + 2 * pad - 2;
    g.OW = W + 2 * pad - 2;
    g.TH = (g.OH + m - 1) / m;
    g.TW = (g.OW + m - 1) / m;
    g.pl = VN(planes_geo)(m, g.TH, g.TW);
    // a band's V and M, nxi (Ci + RF) Tbp floats, in about 192 KiB (L2)
    const size_t per_tile = (size_t)nxi * (Ci + LMAX_R) * sizeof(float);
    int tbr = (int)((size_t)192 * 1024 / per_tile / (size_t)g.TW);
    g.TBR = tbr < 1 ? 1 : tbr > g.TH ? g.TH : tbr;
    g.Tbp = (g.TBR * g.TW + VW - 1) / VW * VW;
    // register block: as many output channels as fit, because each loaded V
    // vector (a band's V is in L2) is used by RF FMAs, while U (nxi Ci Co
    // floats, broadcast) stays in L1; pick_rs, which counts every load the
    // same, chose 2 x 6 for 16 channels and the products ran at the L2's pace
    const int nv = g.Tbp / VW;
    g.RF = Co < LMAX_R ? Co : LMAX_R;
    g.TF = LMAX_RS / g.RF < nv ? LMAX_RS / g.RF : nv;
    if (g.TF > VN(max_s)(g.RF)) g.TF = VN(max_s)(g.RF);
    g.vxs = VN(odd_lines)((size_t)Ci * g.Tbp);
    g.mxs = VN(odd_lines)((size_t)g.RF * g.Tbp);
    return g;
}

// Scratch of wint_conv / wint4_conv: the planes, V, M (nxi tile elements
// each), a band's lane tables (2 Tbp ints) and run tables.
static size_t VN(tiles_conv_floats)(const VN(tgeo) *g, int nxi) {
    return VN(planes_floats)(&g->pl, g->Ci) + (size_t)nxi * (size_t)(g->vxs + g->mxs) + 2 * (size_t)g->Tbp +
           (size_t)(g->Tbp / VW) * VN_RUNS_PER_VEC;
}

// e[k] = p[2k], o[k] = p[2k + 1], k < VW.
VEC_INLINE void VN(split2)(const float *p, vf *e, vf *o) {
    VN(split2r)(V_LOADU_W(p), V_LOADU_W(p + VW), e, o);
}

// The inverse: lo, hi = e[0] o[0] e[1] o[1] ... (2 VW floats).
VEC_INLINE void VN(merge2)(vf e, vf o, vf *lo, vf *hi) {
#if DC_VW == 8
    const __m256 u = _mm256_unpacklo_ps(e, o), v = _mm256_unpackhi_ps(e, o);
    *lo = _mm256_permute2f128_ps(u, v, 0x20);
    *hi = _mm256_permute2f128_ps(u, v, 0x31);
#else
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(e, il, o);
    *hi = _mm512_permutex2var_ps(e, ih, o);
#endif
}

// V[xi][c][t - tb0] for the band's tiles tb0 .. tb0 + nt - 1, a vector of
// VW tiles at a time: the 4 x 4 input values of its tiles from the planes,
// then wino_in_tile's operations (B^T d, then (B^T d) B).
static void VN(wint_in_band)(float *V, const VN(tgeo) *g, const float *xp, int tb0, int nt,
                             int *tab) {
    const ptrdiff_t vxs = g->vxs, ps = g->pl.ps, es = g->pl.es;
    const int nvec = (nt + VW - 1) / VW;
    VN(lane_tables)(tab, nvec, tb0, g->TW);
    const float *E0 = xp + (size_t)g->Ci * 4 * ps;
    for (int c = 0; c < g->Ci; c++)
        for (int v = 0; v < nvec; v++) {
            const int t0 = tb0 + v * VW;
            const int *tv = tab + 2 * v * VW;
            vf d[4][4]; // d[i][q]: input row 2 th + i, column 2 tw + q of each lane's tile
            UNROLL for (int i = 0; i < 4; i++) {
                const float *a = xp + ((size_t)c * 4 + i) * ps + 2 * (size_t)t0;
                const float *e = E0 + ((size_t)c * 4 + i) * 2 * es + t0 / g->TW;
                VN(split2)(a, &d[i][0], &d[i][1]);
                d[i][2] = VN(row_end_blend)(VN(next_lane)(d[i][0], a + 2 * VW), e, tv);
                d[i][3] = VN(row_end_blend)(VN(next_lane)(d[i][1], a + 2 * VW + 1), e + es, tv);
            }
            vf t[4][4]; // B^T d, then (B^T d) B: wino_in_tile's operations
            UNROLL for (int q = 0; q < 4; q++) {
                t[0][q] = V_SUB(d[0][q], d[2][q]);
                t[1][q] = V_ADD(d[1][q], d[2][q]);
                t[2][q] = V_SUB(d[2][q], d[1][q]);
                t[3][q] = V_SUB(d[1][q], d[3][q]);
            }
            float *vo = V + (size_t)c * g->Tbp + (size_t)v * VW;
            UNROLL for (int i = 0; i < 4; i++) {
                V_STORE(vo + (i * 4 + 0) * vxs, V_SUB(t[i][0], t[i][2]));
                V_STORE(vo + (i * 4 + 1) * vxs, V_ADD(t[i][1], t[i][2]));
                V_STORE(vo + (i * 4 + 2) * vxs, V_SUB(t[i][2], t[i][1]));
                V_STORE(vo + (i * 4 + 3) * vxs, V_SUB(t[i][1], t[i][3]));
            }
        }
}

// The output transform of a vector of tiles t0 .. t1 - 1 of one output
// channel from m (M[xi] mxs floats apart; wino_out_tile's operations) into
// its plane yc (OH, OW), + bias, + its residual rc (then the relu: an add
// node's bits), relu.
static void VN(wint_out_vec)(float *yc, const float *rc, const float *m, ptrdiff_t mxs, vf bias,
                             bool relu, const int *rv, const VN(tgeo) *g) {
    _Alignas(64) float buf[2 * VW];
    vf s2[2][4]; // A^T m
    UNROLL for (int q = 0; q < 4; q++) {
        const vf m0 = V_LOAD(m + (0 * 4 + q) * mxs), m1 = V_LOAD(m + (1 * 4 + q) * mxs);
        const vf m2 = V_LOAD(m + (2 * 4 + q) * mxs), m3 = V_LOAD(m + (3 * 4 + q) * mxs);
        s2[0][q] = V_ADD(V_ADD(m0, m1), m2);
        s2[1][q] = V_SUB(V_SUB(m1, m2), m3);
    }
    UNROLL for (int i = 0; i < 2; i++) { // (A^T m) A, output row i of each tile
        vf o0 = V_ADD(V_ADD(V_ADD(s2[i][0], s2[i][1]), s2[i][2]), bias);
        vf o1 = V_ADD(V_SUB(V_SUB(s2[i][1], s2[i][2]), s2[i][3]), bias);
        if (relu && !rc) {
            o0 = V_RELU(o0);
            o1 = V_RELU(o1);
        }
        vf lo, hi;
        VN(merge2)(o0, o1, &lo, &hi);
        V_STORE(buf, lo);
        V_STORE(buf + VW, hi);
        VN(tile_rows_out)(yc, rc, relu, buf, rv, i, g->OH, g->OW);
    }
}

// ----------------------------------------------------------------------------
// F(4x4, 3x3) with tiles in the lanes ("wino4t": weights prepared once)
//
// Why: F(2,3) (winot) spends 16 products on a 2x2 output tile, 4 per output
// and input channel; F(4,3) spends 36 on a 4x4 tile, 2.25 per output. At
// batch 1 the products were half of resnet20's time, so this is the kernel
// for the layers where the 4x4 tiles still fill the vectors (the registry's
// wino4_pays: resnet20's 28x28 and 14x14 stages, not the 7x7 one, whose 4
// tiles would leave 12 of 16 lanes empty). The transforms cost more per
// tile (6x6 instead of 4x4) but less per output, and so do the stores of V
// and the loads of M (2.25 floats an output instead of 4).
//
// Lavin & Gray 2016, with
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
//          0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]     (input d -> B^T d B)
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
//          1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]           (weight g -> G g G^T)
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//   y = A^T [ (G g G^T) . (B^T d B) ] A  for each 6x6 input tile.
// The order of work is winot's (conv_wino_body.h): per band of tile rows
// the input transform (V), the products with the prepared U per register
// block of output channels (M), and the output transform into the output
// rows, with the bias, a residual and the relu on the way; the input comes
// from winot's tile-row planes (tile_planes above), so a
// vector's tiles may span tile rows and no lane idles in the transforms
// where a row has fewer tiles than a vector has lanes.
//
// Accuracy: the transforms multiply by up to 8 (A) and 5 (B): F(4,3)'s
// error is about 25 times F(2,3)'s, about 2.6e-5 of the output's rms
// (tests/test_conv_registry.c measures and bounds it), which is why it is
// only the batch-1 inference kernel and never a training one. The weight
// transform is done in double and rounded once.
// Determinism: a tile's arithmetic does not depend on its band, its share or
// the other images of the batch.

// The inverse for four output columns: out[0 .. 4) hold o[0][t] o[1][t]
// o[2][t] o[3][t] for t = 0 .. VW - 1 (4 VW floats).
VEC_INLINE void VN(merge4)(const vf o[4], vf out[4]) {
    vf a, b, c, d;
    VN(merge2)(o[0], o[2], &a, &b);
    VN(merge2)(o[1], o[3], &c, &d);
    VN(merge2)(a, c, &out[0], &out[1]);
    VN(merge2)(b, d, &out[2], &out[3]);
}

// y = B^T x for one column (or row) of 6.
VEC_INLINE void VN(bt6)(vf y[6], const vf x[6]) {
    const vf four = V_SET1(4.0f), five = V_SET1(5.0f);
    y[0] = V_FMA(four, x[0], V_FNMA(five, x[2], x[4]));
    const vf a = V_FNMA(four, x[2], x[4]), b = V_FNMA(four, x[1], x[3]); // x4 - 4 x2, x3 - 4 x1
    y[1] = V_ADD(a, b);
    y[2] = V_SUB(a, b);
    const vf c = V_SUB(x[4], x[2]), e = V_SUB(x[3], x[1]), d = V_ADD(e, e);
    y[3] = V_ADD(c, d);
    y[4] = V_SUB(c, d);
    y[5] = V_FMA(four, x[1], V_FNMA(five, x[3], x[5]));
}

// o = A^T m for one column (or row) of 6.
VEC_INLINE void VN(at6)(vf o[4], const vf m[6]) {
    const vf a = V_ADD(m[1], m[2]), b = V_SUB(m[1], m[2]);
    const vf c = V_ADD(m[3], m[4]), d = V_SUB(m[3], m[4]);
    o[0] = V_ADD(V_ADD(m[0], a), c);
    o[1] = V_FMA(V_SET1(2.0f), d, b);
    o[2] = V_FMA(V_SET1(4.0f), c, a);
    o[3] = V_ADD(V_FMA(V_SET1(8.0f), d, b), m[5]);
}

// The geometry, the input's tile-row planes and the lane tables are
// winot's (tiles_geo with m = 4, tile_planes, lane_tables: a vector's tiles
// may span tile rows).
static size_t VN(wint4_u_floats)(int Ci, int Co) { return VN(pad16)((size_t)36 * Ci * Co); }

// u (6x6) = G g G^T, in double, rounded once by the caller.
static void VN(wino4_g)(double u[36], const double g[9]) {
    double t[6][3]; // G g
    for (int j = 0; j < 3; j++) {
        const double a = g[j], b = g[3 + j], c = g[6 + j];
        t[0][j] = a / 4;
        t[1][j] = -(a + b + c) / 6;
        t[2][j] = -(a - b + c) / 6;
        t[3][j] = a / 24 + b / 12 + c / 6;
        t[4][j] = a / 24 - b / 12 + c / 6;
        t[5][j] = c;
    }
    for (int i = 0; i < 6; i++) { // (G g) G^T
        const double a = t[i][0], b = t[i][1], c = t[i][2];
        u[i * 6 + 0] = a / 4;
        u[i * 6 + 1] = -(a + b + c) / 6;
        u[i * 6 + 2] = -(a - b + c) / 6;
        u[i * 6 + 3] = a / 24 + b / 12 + c / 6;
        u[i * 6 + 4] = a / 24 - b / 12 + c / 6;
        u[i * 6 + 5] = c;
    }
}

// U[xi][c][oc] (36, C, OC) from w[oc][c] (3x3).
static void VN(wino4_weights)(float *U, const float *w, int C, int OC) {
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            double g[9], u[36];
            for (int k = 0; k < 9; k++) g[k] = w[((size_t)oc * C + c) * 9 + k];
            VN(wino4_g)(u, g);
            for (int xi = 0; xi < 36; xi++) U[((size_t)xi * C + c) * OC + oc] = (float)u[xi];
        }
}

// V[xi][c][tile - band's first] for the band's tiles tb0 .. tb0 + nt - 1, a
// whole vector of VW consecutive tiles at a time: per row i of the tiles,
// the 6 columns split out of A_i and through B^T, then down the 6 rows.
static void VN(wint4_in_band)(float *V, const VN(tgeo) *g, const float *xp, int tb0, int nt,
                              int *tab) {
    const ptrdiff_t vxs = g->vxs, ps = g->pl.ps, es = g->pl.es;
    const int nvec = (nt + VW - 1) / VW;
    VN(lane_tables)(tab, nvec, tb0, g->TW);
    const float *E0 = xp + (size_t)g->Ci * 6 * ps;
    for (int c = 0; c < g->Ci; c++)
        for (int v = 0; v < nvec; v++) {
            const int t0 = tb0 + v * VW, r0 = t0 / g->TW;
            const int *tv = tab + 2 * v * VW;
            vf r[6][6]; // r[i][j]: (d B)[i][j]
            UNROLL for (int i = 0; i < 6; i++) {
                const float *a = xp + ((size_t)c * 6 + i) * ps + 4 * (size_t)t0;
                const float *e = E0 + ((size_t)c * 6 + i) * 2 * es + r0;
                vf d[6], e0, o0, e1, o1;
                VN(split2r)(V_LOADU_W(a), V_LOADU_W(a + VW), &e0, &o0);
                VN(split2r)(V_LOADU_W(a + 2 * VW), V_LOADU_W(a + 3 * VW), &e1, &o1);
                VN(split2r)(e0, e1, &d[0], &d[2]);
                VN(split2r)(o0, o1, &d[1], &d[3]);
                d[4] = VN(row_end_blend)(VN(next_lane)(d[0], a + 4 * VW), e, tv);
                d[5] = VN(row_end_blend)(VN(next_lane)(d[1], a + 4 * VW + 1), e + es, tv);
                VN(bt6)(r[i], d);
            }
            float *vo = V + (size_t)c * g->Tbp + (size_t)v * VW;
            UNROLL for (int j = 0; j < 6; j++) {
                vf col[6], out[6];
                UNROLL for (int i = 0; i < 6; i++) col[i] = r[i][j];
                VN(bt6)(out, col);
                UNROLL for (int i = 0; i < 6; i++) V_STORE(vo + (i * 6 + j) * vxs, out[i]);
            }
        }
}

// The same for F(4,3): after the 4-way merge a vector's output row k is 4
// VW floats, 4 TW columns of each tile row it covers.
static void VN(wint4_out_vec)(float *yc, const float *rc, const float *m, ptrdiff_t mxs, vf bias,
                              bool relu, const int *rv, const VN(tgeo) *g) {
    _Alignas(64) float buf[4 * VW];
    vf s[4][6]; // A^T m
    UNROLL for (int q = 0; q < 6; q++) {
        vf col[6], o[4];
        UNROLL for (int i = 0; i < 6; i++) col[i] = V_LOAD(m + (i * 6 + q) * mxs);
        VN(at6)(o, col);
        UNROLL for (int k = 0; k < 4; k++) s[k][q] = o[k];
    }
    UNROLL for (int k = 0; k < 4; k++) { // (A^T m) A, output row k of each tile
        vf o[4], out[4];
        VN(at6)(o, s[k]);
        UNROLL for (int q = 0; q < 4; q++) {
            o[q] = V_ADD(o[q], bias);
            if (relu && !rc) o[q] = V_RELU(o[q]);
        }
        VN(merge4)(o, out);
        UNROLL for (int q = 0; q < 4; q++) V_STORE(buf + q * VW, out[q]);
        VN(tile_rows_out)(yc, rc, relu, buf, rv, k, g->OH, g->OW);
    }
}

// Output channels co0 .. co0 + R - 1 of the band's tiles tb0 .. tb0 + nt -
// 1 from M[xi][r][t - tb0], into y (Co, OH, OW), + b, + res, relu: m x m
// output tiles.
static void VN(tiles_out_band)(int m, float *y, const VN(tgeo) *g, const float *M, int co0, int R,
                               const float *b, bool relu, const float *res, const int *runs, int nt) {
    const size_t P = (size_t)g->OH * g->OW;
    const int nvec = (nt + VW - 1) / VW;
    for (int r = 0; r < R; r++) {
        const vf bias = b ? V_SET1(b[co0 + r]) : V_ZERO();
        float *yc = y + (size_t)(co0 + r) * P;
        const float *rc = res ? res + (size_t)(co0 + r) * P : NULL;
        for (int v = 0; v < nvec; v++) {
            const float *mv = M + (size_t)r * g->Tbp + (size_t)v * VW;
            const int *rv = runs + (size_t)v * VN_RUNS_PER_VEC;
            if (m == 2) VN(wint_out_vec)(yc, rc, mv, g->mxs, bias, relu, rv, g);
            else VN(wint4_out_vec)(yc, rc, mv, g->mxs, bias, relu, rv, g);
        }
    }
}

// ----------------------------------------------------------------------------
// The convolution of one image, either tile size

// One image, tile rows th_lo .. th_hi - 1 (output rows m th_lo .. m th_hi -
// 1), m = 2 (winot, 16 tile elements) or 4 (wino4t, 36): y (Co, OH, OW) = x
// (Ci, H, W) (*) the weights whose transform U holds, + b, + res, ReLU'd
// when relu. U is at U[0][0][co_first]: Ci uco floats per tile element, uco
// per input channel (uco >= Co: the output channels may be a share of a
// wider convolution's). scratch: tiles_conv_floats(g, nxi). Per band of
// tile rows: the input transform (V), then per register block of output
// channels the products (M) and the output transform. A tile's arithmetic
// does not depend on the band it falls in, so any split of the tile rows
// gives the whole image's bits.
static void VN(tiles_conv)(int m, float *y, const float *x, const float *U, int uco,
                           const float *b, bool relu, const float *res, const VN(tgeo) *g,
                           float *scratch, int th_lo, int th_hi) {
    const int Ci = g->Ci, Co = g->Co, RF = g->RF, TF = g->TF, nxi = (m + 2) * (m + 2);
    float *xp = scratch, *V = xp + VN(planes_floats)(&g->pl, Ci), *M = V + nxi * g->vxs;
    int *tab = (int *)(M + nxi * g->mxs), *runs = tab + 2 * (size_t)g->Tbp;
    VN(tile_planes)(xp, &g->pl, Ci, g->H, g->W, g->pad, x, th_lo, th_hi);
    for (int th0 = th_lo; th0 < th_hi; th0 += g->TBR) {
        const int rows = th_hi - th0 < g->TBR ? th_hi - th0 : g->TBR;
        const int tb0 = th0 * g->TW, nt = rows * g->TW, nvec = (nt + VW - 1) / VW;
        if (m == 2) VN(wint_in_band)(V, g, xp, tb0, nt, tab);
        else VN(wint4_in_band)(V, g, xp, tb0, nt, tab);
        VN(run_tables)(runs, nvec, tb0, nt, g->TW, m, g->OW);
        for (int co0 = 0; co0 < Co; co0 += RF) {
            const int R = Co - co0 < RF ? Co - co0 : RF;
            for (int v0 = 0; v0 < nvec; v0 += TF) {
                const int S = nvec - v0 < TF ? nvec - v0 : TF;
                VN(wino_mmf_dispatch)(nxi, R, S, U + co0, Ci, uco, V + (size_t)v0 * VW, g->vxs,
                                      g->Tbp, M + (size_t)v0 * VW, g->mxs, g->Tbp);
            }
            VN(tiles_out_band)(m, y, g, M, co0, R, b, relu, res, runs, nt);
        }
    }
}

#undef V_STOREU
#undef V_LOADU_W

// ----------------------------------------------------------------------------
// Entry points (3x3, stride 1, pad <= 2, forward only; see conv_wino.c)

// U (16 or 36 C OC, rounded to 16 floats), then tiles_conv's scratch.
static size_t VN(tiles_floats)(int m, const dc_conv_shape *s) {
    const VN(tgeo) g = VN(tiles_geo)(m, s->C, s->OC, s->H, s->W, s->pad);
    const size_t u = m == 2 ? VN(wino_u_floats)(s->C, s->OC) : VN(wint4_u_floats)(s->C, s->OC);
    return u + VN(tiles_conv_floats)(&g, (m + 2) * (m + 2));
}

static void VN(tiles_forward_packed)(int m, float *y, const float *x, const float *U, int uco,
                                     const float *b, bool relu, const float *res, int N,
                                     const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), U is (nxi,C,uco) at output channel 0, y and res are (N,OC,OH,OW)
    const VN(tgeo) g = VN(tiles_geo)(m, s->C, s->OC, s->H, s->W, s->pad);
    const size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    for (int n = 0; n < N; n++)
        VN(tiles_conv)(m, y + n * ys, x + n * xs, U, uco, b, relu, res ? res + n * ys : NULL, &g,
                       scratch, 0, g.TH);
}

// Share `part` of `parts`: the tile rows of every image divided evenly (the
// input transform is then done once over the shares, not once per share as
// an output-channel split would). false where there are fewer tile rows
// than shares.
static bool VN(tiles_forward_rows)(int m, float *y, const float *x, const float *U, int part,
                                   int parts, const float *b, bool relu, const float *res, int N,
                                   const dc_conv_shape *s, float *scratch) {
    const VN(tgeo) g = VN(tiles_geo)(m, s->C, s->OC, s->H, s->W, s->pad);
    if (g.TH < parts) return false;
    const int lo = (int)((long)g.TH * part / parts), hi = (int)((long)g.TH * (part + 1) / parts);
    const size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    for (int n = 0; n < N; n++)
        VN(tiles_conv)(m, y + n * ys, x + n * xs, U, s->OC, b, relu, res ? res + n * ys : NULL, &g,
                       scratch, lo, hi);
    return true;
}

// The same with the weights transformed on each call, into the scratch.
static void VN(tiles_forward)(int m, float *y, const float *x, const float *w, const float *b,
                              bool relu, int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,3,3), b is (OC) or NULL, y is (N,OC,OH,OW)
    size_t u;
    if (m == 2) {
        VN(wino_weights_fwd)(scratch, w, s->C, s->OC);
        u = VN(wino_u_floats)(s->C, s->OC);
    } else {
        VN(wino4_weights)(scratch, w, s->C, s->OC);
        u = VN(wint4_u_floats)(s->C, s->OC);
    }
    VN(tiles_forward_packed)(m, y, x, scratch, s->OC, b, relu, NULL, N, s, scratch + u);
}

// The public entry points of one tiles-in-lanes kernel (conv_kernels.h):
// DC_TILES_ENTRIES(winot8, 2) in conv_wino.c defines dc_conv_winot8_supports,
// _floats, _forward, _forward_packed and _forward_rows over tiles_* with m = 2.
#define DC_TILES_ENTRIES(NAME, M)                                                                 \
    bool dc_conv_##NAME##_supports(const dc_conv_shape *s, unsigned pass) {                      \
        return pass == DC_CONV_FWD && s->K == 3 && s->stride == 1 && s->pad <= 2;                \
    }                                                                                             \
    size_t dc_conv_##NAME##_floats(const dc_conv_shape *s, unsigned passes) {                    \
        (void)passes;                                                                             \
        return VN(tiles_floats)(M, s);                                                            \
    }                                                                                             \
    void dc_conv_##NAME##_forward(float *y, const float *x, const float *w, const float *b,      \
                                  bool relu, int N, const dc_conv_shape *s, float *scratch) {    \
        VN(tiles_forward)(M, y, x, w, b, relu, N, s, scratch);                                    \
    }                                                                                             \
    void dc_conv_##NAME##_forward_packed(float *y, const float *x, const float *U, int pack_oc,  \
                                         const float *b, bool relu, const float *res, int N,     \
                                         const dc_conv_shape *s, float *scratch) {               \
        VN(tiles_forward_packed)(M, y, x, U, pack_oc, b, relu, res, N, s, scratch);               \
    }                                                                                             \
    bool dc_conv_##NAME##_forward_rows(float *y, const float *x, const float *U, int part,       \
                                       int parts, const float *b, bool relu, const float *res,   \
                                       int N, const dc_conv_shape *s, float *scratch) {          \
        return VN(tiles_forward_rows)(M, y, x, U, part, parts, b, relu, res, N, s, scratch);      \
    }
