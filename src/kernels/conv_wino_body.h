// conv_wino_body.h — Winograd F(2x2, 3x3) convolution in sample lanes (VW
// samples per vector, as conv_lanes_body.h), for 3x3 kernels at stride 1:
// forward, backward-data and backward-weights. Written once for both vector
// widths: conv_wino.c compiles it for AVX2+FMA (VW = 8), conv_wino_avx512.c
// for AVX-512F (VW = 16).
//
// Why: a 3x3 convolution costs 9 multiply-adds per output per input channel;
// F(2,3) computes a 2x2 output tile from a 4x4 input tile with 16 products
// per channel pair instead of 36 (2.25x fewer), paying for it with additions
// in the input and output transforms, which are linear in the channel count
// while the products are quadratic. With samples in lanes every transform is
// plain vector adds (no shuffles) and the 16 products become 16 small
// matrix products (one per tile element xi) with the same broadcast-and-FMA
// register blocks as the lanes kernel.
//
// Lavin & Gray 2016, with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input  d -> B^T d B)
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (weight g -> G g G^T)
//   A^T = [1 1 1 0; 0 1 -1 -1]                      (output m -> A^T m A)
//   y = A^T [ (G g G^T) . (B^T d B) ] A  for each tile (. elementwise).
// Backward-data is the same forward on dy with the weights flipped and
// transposed (dx = dy * rot180(w)^T, padding 2 - pad). Backward-weights uses
// the transpose of the same identity: y is bilinear in (g, d), so
//   dL/dg = G^T [ sum over tiles (A dy_t A^T) . (B^T d_t B) ] G,
// exact in real arithmetic like the forward: the products are summed over
// every tile of every sample in the 16 tile elements, and G^T . G is applied
// once at the end.
//
// Layouts inside a group of VW samples (lane n = sample n0 + n):
//   xt  (Ci, Hq, Wq, VW)        input, zero padded to whole tiles
//   yt  (Co, OH, OW, VW)        output, before it is transposed out
//   dyt (Co, 2 TH, 2 TW, VW)    output gradient, zero padded (weights pass)
//   U   (16, Ci, Co)            transformed weights (scalars, broadcast)
//   V   (16, Ci, TB, VW)        transformed input of a block of TB tiles
//   M   (16, Co, TB, VW)        products of a block (forward)
//   Y   (16, Co, TB, VW)        transformed dy of a block (weights pass)
//   Sa  (16, Co, Ci, VW)        weights pass: lane sums of the products
//
// Accuracy (tests/test_conv_registry.c): F(2,3) stays within a few times
// the rounding of the direct sum: the transforms are additions of +-1
// multiples, and the weight transform (with its halves) is done in double.
// Determinism: every value is a fixed sequence of operations that depends
// on the shape (and, for dw, on N), never on the lane, so a sample's y and dx
// do not depend on the other samples of the batch.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/conv_registry.h"
#include "kernels/conv_vec.h"

// Geometry of one Winograd convolution: the forward, or the transposed one
// backward-data runs. The image is processed in bands of TBR tile rows (2
// TBR output rows, 2 TBR + 2 padded input rows), a band's tiles in blocks of
// up to TB, so the lane-major buffers are a band, not an image: whole-image
// buffers (about 1.7 MB for 16 channels at 28x28 and 16 lanes) spilled out
// of L2 and the transforms then took twice the time of the products.
typedef struct {
    int Ci, Co;    // input, output channels
    int H, W, pad; // input plane, zero padding on every side
    int OH, OW;    // output plane: H + 2 pad - 2, W + 2 pad - 2
    int TH, TW, T; // tiles: ceil(OH / 2), ceil(OW / 2), TH * TW
    int Wq;        // a lane-major padded input row: 2 TW + 2 positions
    int TBR, RB;   // tile rows per band; input rows per band, 2 TBR + 2
    int TB;        // weights pass: tiles per block (of a band)
    int RF, TF;    // forward: register block of RF output channels x TF tiles,
                   // TF tiles per block
    // floats from one tile element xi to the next in V (Ci TB VW) and M or Y
    // (Co TB VW), rounded to whole 4 KiB pages plus 64 bytes: the transforms
    // touch all 16 xi at once, and 16 streams a multiple of 4 KiB apart fall
    // in one L1 set (measured: the transforms took 60% of the time, not 25%)
    ptrdiff_t vxs, mxs;
    ptrdiff_t fxs; // the same for the forward's V (Ci TF VW)
} VN(wgeo);

static ptrdiff_t VN(xi_stride)(size_t n) { return (ptrdiff_t)(n % 1024 ? n : n + 16); }

// The forward's register block: TF tiles (WINO_TF at most) x RF channels.
#if DC_VW == 8
#define WINO_TF 3
#else
#define WINO_TF 2
#endif

static VN(wgeo) VN(wino_geo)(int Ci, int Co, int H, int W, int pad) {
    VN(wgeo) g = {.Ci = Ci, .Co = Co, .H = H, .W = W, .pad = pad};
    g.OH = H + 2 * pad - 2;
    g.OW = W + 2 * pad - 2;
    g.TH = (g.OH + 1) / 2;
    g.TW = (g.OW + 1) / 2;
    g.T = g.TH * g.TW;
    g.Wq = 2 * g.TW + 2;
    // at least 8 tiles a band (so the register blocks fill), whole rows
    g.TBR = (8 + g.TW - 1) / g.TW;
    if (g.TBR > g.TH) g.TBR = g.TH;
    g.RB = 2 * g.TBR + 2;
    // V and M (or V and Y) blocks of 16 (Ci + Co) TB VW floats: about 256
    // KiB, L2-resident on every target, and at least 8 tiles
    const size_t per_tile = (size_t)16 * (Ci + Co) * VW * sizeof(float);
    int tb = (int)((size_t)256 * 1024 / per_tile);
    if (tb < 8) tb = 8;
    const int band = g.TBR * g.TW;
    if (tb > 64) tb = 64; // the per-block offset tables
    g.TB = tb < band ? tb : band;
    g.vxs = VN(xi_stride)((size_t)Ci * g.TB * VW);
    g.mxs = VN(xi_stride)((size_t)Co * g.TB * VW);
    VN(pick_rs)(Co, band < WINO_TF ? band : WINO_TF, Ci, &g.RF, &g.TF);
    g.fxs = VN(xi_stride)((size_t)Ci * g.TF * VW);
    return g;
}

// tmp of plane_to_lanes / lanes_to_plane: a band of rows of either plane
static size_t VN(wino_tmp_floats)(const VN(wgeo) *g) {
    const size_t a = (size_t)g->RB * g->W, b = (size_t)2 * g->TBR * g->OW;
    return (a > b ? a : b) * VW;
}

static size_t VN(wino_xb_floats)(const VN(wgeo) *g) {
    return (size_t)g->Ci * g->RB * g->Wq * VW;
}

// Scratch of wino_conv after U: xb, yb, V (16 xi of Ci TF VW), the block's
// products (16, RF, TF, VW), tmp.
static size_t VN(wino_conv_floats)(const VN(wgeo) *g) {
    return VN(wino_xb_floats)(g) + (size_t)g->Co * 2 * g->TBR * g->OW * VW + 16 * g->fxs +
           (size_t)16 * g->RF * g->TF * VW + VN(wino_tmp_floats)(g);
}

static size_t VN(wino_u_floats)(int Ci, int Co) { return VN(pad16)((size_t)16 * Ci * Co); }

// The input band starting at padded row pr0 (even): xb (Ci, RB, Wq, VW) is
// a ring of RB rows per channel, padded row pr in slot pr % RB, filled from
// samples n0 .. n0 + nv - 1 (x at sample n0, xs floats per sample). The
// first band of a group zeroes xb (the padding columns are never written
// after that); a later band shares its first two rows with the band before,
// so only its 2 TBR new rows are transposed in (no copy). Rows outside the
// image are zero.
static void VN(wino_load_band)(float *xb, const VN(wgeo) *g, int pr0, bool first,
                               const float *x, size_t xs, int nv, float *tmp) {
    const int RB = g->RB, H = g->H, W = g->W;
    const ptrdiff_t row = (ptrdiff_t)g->Wq * VW;
    if (first) memset(xb, 0, sizeof(float) * VN(wino_xb_floats)(g));
    for (int c = 0; c < g->Ci; c++) {
        float *xc = xb + (size_t)c * RB * row;
        // rows pr0 + k, k in [k0, RB), in runs that do not wrap around the ring
        for (int k = first ? 0 : 2; k < RB;) {
            const int pr = pr0 + k, slot = pr % RB;
            int n = RB - k < RB - slot ? RB - k : RB - slot; // rows up to the ring's end
            const int ih = pr - g->pad;
            if (ih < 0 || ih >= H) { // one row of padding
                memset(xc + slot * row, 0, sizeof(float) * row);
                k++;
                continue;
            }
            if (n > H - ih) n = H - ih; // stop at the image's last row
            VN(plane_to_lanes)(xc + slot * row + g->pad * VW, row,
                               x + ((size_t)c * H + ih) * W, xs, nv, n, W, tmp);
            k += n;
        }
    }
}

// ----------------------------------------------------------------------------
// Weight transform: u (4x4) = G g G^T, in double, rounded once.

static void VN(wino_g)(double u[16], const double g[9]) {
    double t[4][3]; // G g
    for (int j = 0; j < 3; j++) {
        const double a = g[j], b = g[3 + j], c = g[6 + j];
        t[0][j] = a;
        t[1][j] = 0.5 * (a + b + c);
        t[2][j] = 0.5 * (a - b + c);
        t[3][j] = c;
    }
    for (int i = 0; i < 4; i++) { // (G g) G^T
        const double a = t[i][0], b = t[i][1], c = t[i][2];
        u[i * 4 + 0] = a;
        u[i * 4 + 1] = 0.5 * (a + b + c);
        u[i * 4 + 2] = 0.5 * (a - b + c);
        u[i * 4 + 3] = c;
    }
}

// Forward: U[xi][c][oc] from w[oc][c] (3x3).
static void VN(wino_weights_fwd)(float *U, const float *w, int C, int OC) {
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            double g[9], u[16];
            for (int k = 0; k < 9; k++) g[k] = w[((size_t)oc * C + c) * 9 + k];
            VN(wino_g)(u, g);
            for (int xi = 0; xi < 16; xi++) U[((size_t)xi * C + c) * OC + oc] = (float)u[xi];
        }
}

// Backward-data: the transposed problem has OC inputs and C outputs and the
// kernel turned by 180 degrees: U[xi][oc][c] from w[oc][c][2-i][2-j].
static void VN(wino_weights_data)(float *U, const float *w, int C, int OC) {
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            double g[9], u[16];
            for (int k = 0; k < 9; k++) g[k] = w[((size_t)oc * C + c) * 9 + (8 - k)];
            VN(wino_g)(u, g);
            for (int xi = 0; xi < 16; xi++) U[((size_t)xi * OC + oc) * C + c] = (float)u[xi];
        }
}

// ----------------------------------------------------------------------------
// Tile transforms (vectors of VW samples)

// v[xi * vxs] = (B^T d B)[xi] for the 4x4 tile whose rows are at d[0..3].
VEC_INLINE void VN(wino_in_tile)(float *v, ptrdiff_t vxs, const float *const d[4]) {
    vf t[4][4]; // B^T d
    UNROLL for (int q = 0; q < 4; q++) {
        const vf d0 = V_LOAD(d[0] + q * VW), d1 = V_LOAD(d[1] + q * VW);
        const vf d2 = V_LOAD(d[2] + q * VW), d3 = V_LOAD(d[3] + q * VW);
        t[0][q] = V_SUB(d0, d2);
        t[1][q] = V_ADD(d1, d2);
        t[2][q] = V_SUB(d2, d1);
        t[3][q] = V_SUB(d1, d3);
    }
    UNROLL for (int r = 0; r < 4; r++) { // (B^T d) B
        V_STORE(v + (r * 4 + 0) * vxs, V_SUB(t[r][0], t[r][2]));
        V_STORE(v + (r * 4 + 1) * vxs, V_ADD(t[r][1], t[r][2]));
        V_STORE(v + (r * 4 + 2) * vxs, V_SUB(t[r][2], t[r][1]));
        V_STORE(v + (r * 4 + 3) * vxs, V_SUB(t[r][1], t[r][3]));
    }
}

// The 2x2 output tile A^T m A (+ bias, ReLU) from m[xi * mxs], stored at out
// (rows orow floats apart); rows/cols (1 or 2) of it inside the output.
VEC_INLINE void VN(wino_out_tile)(float *out, ptrdiff_t orow, const float *m, ptrdiff_t mxs,
                                  vf bias, bool relu, int rows, int cols) {
    vf s[2][4]; // A^T m
    UNROLL for (int q = 0; q < 4; q++) {
        const vf m0 = V_LOAD(m + (0 * 4 + q) * mxs), m1 = V_LOAD(m + (1 * 4 + q) * mxs);
        const vf m2 = V_LOAD(m + (2 * 4 + q) * mxs), m3 = V_LOAD(m + (3 * 4 + q) * mxs);
        s[0][q] = V_ADD(V_ADD(m0, m1), m2);
        s[1][q] = V_SUB(V_SUB(m1, m2), m3);
    }
    vf o[2][2]; // (A^T m) A
    UNROLL for (int r = 0; r < 2; r++) {
        o[r][0] = V_ADD(V_ADD(V_ADD(s[r][0], s[r][1]), s[r][2]), bias);
        o[r][1] = V_ADD(V_SUB(V_SUB(s[r][1], s[r][2]), s[r][3]), bias);
        if (relu) {
            o[r][0] = V_RELU(o[r][0]);
            o[r][1] = V_RELU(o[r][1]);
        }
    }
    if (rows == 2 && cols == 2) {
        V_STORE(out, o[0][0]);
        V_STORE(out + VW, o[0][1]);
        V_STORE(out + orow, o[1][0]);
        V_STORE(out + orow + VW, o[1][1]);
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) V_STORE(out + r * orow + q * VW, o[r][q]);
}

// y[xi * yxs] = (A g A^T)[xi] for the 2x2 dy tile at g (rows grow floats
// apart): the weights pass's transform of the output gradient.
VEC_INLINE void VN(wino_dy_tile)(float *y, ptrdiff_t yxs, const float *g, ptrdiff_t grow) {
    const vf z = V_ZERO();
    vf a[4][2]; // A g
    UNROLL for (int q = 0; q < 2; q++) {
        const vf g0 = V_LOAD(g + q * VW), g1 = V_LOAD(g + grow + q * VW);
        a[0][q] = g0;
        a[1][q] = V_ADD(g0, g1);
        a[2][q] = V_SUB(g0, g1);
        a[3][q] = V_SUB(z, g1);
    }
    UNROLL for (int r = 0; r < 4; r++) { // (A g) A^T
        V_STORE(y + (r * 4 + 0) * yxs, a[r][0]);
        V_STORE(y + (r * 4 + 1) * yxs, V_ADD(a[r][0], a[r][1]));
        V_STORE(y + (r * 4 + 2) * yxs, V_SUB(a[r][0], a[r][1]));
        V_STORE(y + (r * 4 + 3) * yxs, V_SUB(z, a[r][1]));
    }
}

// ----------------------------------------------------------------------------
// Products, one tile element xi at a time

// The forward's products for one register block, all nxi tile elements:
// mb[xi][r][s] = sum over c of U[xi][c][co0 + r] * V[xi][c][s] (u at
// U[0][0][co0], Ci*Co floats per xi, Co per c; v at V[0][0][0], vxs floats
// per xi, vcs per c; vector s of row r of element xi stored at mb + xi mxi +
// r mr + s VW). wino_conv's mb is (16, R, S, VW), in L1: the block's tiles are
// transformed, multiplied and transformed back before the next block, so
// no transformed value goes through L2 (at 16 channels every transformed
// input takes part in only 16 FMAs, and the round trip through L2 made the
// earlier unfused version bandwidth-bound).
VEC_INLINE void VN(wino_mmf_block)(const int nxi, const int R, const int S, const float *u, int Ci, int Co,
                                   const float *v, ptrdiff_t vxs, ptrdiff_t vcs, float *mb,
                                   ptrdiff_t mxi, ptrdiff_t mr) {
    for (int xi = 0; xi < nxi; xi++, u += (size_t)Ci * Co, v += vxs, mb += mxi) {
        vf acc[LMAX_RS];
        UNROLL for (int i = 0; i < R * S; i++) acc[i] = V_ZERO();
        const float *uc = u, *vc = v;
        for (int c = 0; c < Ci; c++, uc += Co, vc += vcs) {
            if (R >= S) {
                vf xv[LMAX_RS];
                UNROLL for (int s = 0; s < S; s++) {
                    xv[s] = V_LOAD(vc + s * VW);
                    V_KEEP(xv[s]);
                }
                UNROLL for (int r = 0; r < R; r++) {
                    const vf uv = V_BCAST(uc + r);
                    UNROLL for (int s = 0; s < S; s++)
                        acc[r * S + s] = V_FMA(uv, xv[s], acc[r * S + s]);
                }
            } else {
                vf uv[LMAX_RS];
                UNROLL for (int r = 0; r < R; r++) uv[r] = V_BCAST(uc + r);
                UNROLL for (int s = 0; s < S; s++) {
                    vf xv = V_LOAD(vc + s * VW);
                    V_KEEP(xv);
                    UNROLL for (int r = 0; r < R; r++)
                        acc[r * S + s] = V_FMA(uv[r], xv, acc[r * S + s]);
                }
            }
        }
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int s = 0; s < S; s++) V_STORE(mb + r * mr + s * VW, acc[r * S + s]);
    }
}

#define MMF_CALL(RV, SV) VN(wino_mmf_block)(nxi, RV, SV, u, Ci, Co, v, vxs, vcs, mb, mxi, mr);

// nxi: 16 tile elements (F(2,3)) or 36 (F(4,3), conv_wino4_body.h)
static void VN(wino_mmf_dispatch)(int nxi, int R, int S, const float *u, int Ci, int Co, const float *v,
                                  ptrdiff_t vxs, ptrdiff_t vcs, float *mb, ptrdiff_t mxi,
                                  ptrdiff_t mr) {
    RS_SWITCH(MMF_CALL)
}

// Sa (R x S block of Sa[xi], lanes kept) += sum over the nb tiles of
// Y[xi][co0 + r][i] * V[xi][c0 + s][i]: y at Y[xi][co0][0] (ycs floats per
// co), v at V[xi][c0][0] (vcs per c), acc_mem at Sa[xi][co0][c0] (accr per co).
VEC_INLINE void VN(wino_dw_block)(const int R, const int S, const float *y, ptrdiff_t ycs,
                                  const float *v, ptrdiff_t vcs, int nb, float *acc_mem,
                                  ptrdiff_t accr) {
    vf acc[LMAX_RS];
    UNROLL for (int i = 0; i < R * S; i++) acc[i] = V_ZERO();
    for (int i = 0; i < nb; i++, y += VW, v += VW) {
        if (R >= S) {
            vf xv[LMAX_RS];
            UNROLL for (int s = 0; s < S; s++) {
                xv[s] = V_LOAD(v + s * vcs);
                V_KEEP(xv[s]);
            }
            UNROLL for (int r = 0; r < R; r++) {
                vf g = V_LOAD(y + r * ycs);
                V_KEEP(g);
                UNROLL for (int s = 0; s < S; s++) acc[r * S + s] = V_FMA(g, xv[s], acc[r * S + s]);
            }
        } else {
            vf g[LMAX_RS];
            UNROLL for (int r = 0; r < R; r++) {
                g[r] = V_LOAD(y + r * ycs);
                V_KEEP(g[r]);
            }
            UNROLL for (int s = 0; s < S; s++) {
                vf xv = V_LOAD(v + s * vcs);
                V_KEEP(xv);
                UNROLL for (int r = 0; r < R; r++) acc[r * S + s] = V_FMA(g[r], xv, acc[r * S + s]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int s = 0; s < S; s++) {
            float *p = acc_mem + r * accr + s * VW;
            V_STORE(p, V_ADD(V_LOAD(p), acc[r * S + s]));
        }
}

#define DWB_CALL(RV, SV) VN(wino_dw_block)(RV, SV, y, ycs, v, vcs, nb, acc_mem, accr);

static void VN(wino_dw_dispatch)(int R, int S, const float *y, ptrdiff_t ycs, const float *v,
                                 ptrdiff_t vcs, int nb, float *acc_mem, ptrdiff_t accr) {
    RS_SWITCH(DWB_CALL)
}

// ----------------------------------------------------------------------------
// Input transform of a block: V[xi][c][i] (vxs floats per xi, tb tiles per
// c) for the tiles t0 + i, i < nb, of the band starting at padded row pr0
// (numbered from the band's first tile; xb as wino_load_band left it).
static void VN(wino_in_block)(float *V, ptrdiff_t vxs, int tb, const float *xb,
                              const VN(wgeo) *g, int pr0, int t0, int nb) {
    const ptrdiff_t row = (ptrdiff_t)g->Wq * VW;
    const ptrdiff_t xcs = (ptrdiff_t)g->RB * row, vcs = (ptrdiff_t)tb * VW;
    ptrdiff_t off[64][4]; // the four rows of each tile in the ring (nb <= 64, see wino_geo)
    for (int i = 0; i < nb; i++) {
        const int t = t0 + i, r = t / g->TW, tw = t % g->TW; // r: tile row in the band
        for (int j = 0; j < 4; j++) off[i][j] = (pr0 + 2 * r + j) % g->RB * row + 2 * tw * VW;
    }
    for (int c = 0; c < g->Ci; c++, xb += xcs, V += vcs)
        for (int i = 0; i < nb; i++) {
            const float *const d[4] = {xb + off[i][0], xb + off[i][1], xb + off[i][2],
                                       xb + off[i][3]};
            VN(wino_in_tile)(V + i * VW, vxs, d);
        }
}

// One Winograd convolution of N samples: y (N, Co, OH, OW) = x (N, Ci, H, W)
// (*) the weights whose transform is U, + b (Co or NULL), ReLU'd when relu.
// scratch: wino_conv_floats(g). Per band of tile rows, per block of TF
// tiles: input transform (all Ci), then per block of RF output channels the
// 16 products and the output transform, straight into the band's output.
static void VN(wino_conv)(float *y, const float *x, const float *U, const float *b, bool relu,
                          int N, const VN(wgeo) *g, float *scratch) {
    const int Ci = g->Ci, Co = g->Co, TF = g->TF, RF = g->RF, OH = g->OH, OW = g->OW;
    const int TW = g->TW, YR = 2 * g->TBR; // output rows of a band
    float *xb = scratch, *yb = xb + VN(wino_xb_floats)(g);
    float *V = yb + (size_t)Co * YR * OW * VW, *mb = V + 16 * g->fxs;
    float *tmp = mb + (size_t)16 * RF * TF * VW;
    const size_t xs = (size_t)Ci * g->H * g->W, ys = (size_t)Co * OH * OW;
    const ptrdiff_t vcs = (ptrdiff_t)TF * VW, orow = (ptrdiff_t)OW * VW;
    for (int n0 = 0; n0 < N; n0 += VW) {
        const int nv = N - n0 < VW ? N - n0 : VW;
        for (int th0 = 0; th0 < g->TH; th0 += g->TBR) {
            const int nbt = (g->TH - th0 < g->TBR ? g->TH - th0 : g->TBR) * TW; // band tiles
            VN(wino_load_band)(xb, g, 2 * th0, th0 == 0, x + (size_t)n0 * xs, xs, nv, tmp);
            for (int t0 = 0; t0 < nbt; t0 += TF) {
                const int nb = nbt - t0 < TF ? nbt - t0 : TF;
                VN(wino_in_block)(V, g->fxs, TF, xb, g, 2 * th0, t0, nb);
                ptrdiff_t off[WINO_TF]; // tile origins in yb, the tile's rows, cols inside
                int rows[WINO_TF], cols[WINO_TF];
                for (int i = 0; i < nb; i++) {
                    const int t = t0 + i, r = t / TW, tw = t % TW, oh = 2 * (th0 + r);
                    off[i] = (2 * r * OW + 2 * tw) * VW;
                    rows[i] = OH - oh < 2 ? 1 : 2;
                    cols[i] = OW - 2 * tw < 2 ? 1 : 2;
                }
                for (int co0 = 0; co0 < Co; co0 += RF) {
                    const int R = Co - co0 < RF ? Co - co0 : RF;
                    VN(wino_mmf_dispatch)(16, R, nb, U + co0, Ci, Co, V, g->fxs, vcs, mb,
                                          (ptrdiff_t)R * nb * VW, (ptrdiff_t)nb * VW);
                    for (int r = 0; r < R; r++) {
                        const vf bias = b ? V_SET1(b[co0 + r]) : V_ZERO();
                        float *yc = yb + (size_t)(co0 + r) * YR * OW * VW;
                        for (int i = 0; i < nb; i++)
                            VN(wino_out_tile)(yc + off[i], orow, mb + (r * nb + i) * VW,
                                              (ptrdiff_t)R * nb * VW, bias, relu, rows[i],
                                              cols[i]);
                    }
                }
            }
            // the band's output rows are contiguous in y: one long row per channel
            const int oh0 = 2 * th0, nr = OH - oh0 < YR ? OH - oh0 : YR;
            for (int co = 0; co < Co; co++)
                VN(lanes_to_rows)(y + (size_t)n0 * ys + ((size_t)co * OH + oh0) * OW, ys,
                                  yb + (size_t)co * YR * OW * VW, nv, nr * OW);
        }
    }
}


// ----------------------------------------------------------------------------
// Entry points (3x3, stride 1, see conv_wino.c for what is supported)

static VN(wgeo) VN(geo_fwd)(const dc_conv_shape *s) {
    return VN(wino_geo)(s->C, s->OC, s->H, s->W, s->pad);
}

static VN(wgeo) VN(geo_data)(const dc_conv_shape *s) {
    return VN(wino_geo)(s->OC, s->C, s->OH, s->OW, 2 - s->pad);
}

// Weights pass: Sa, dba, xb, dyb (Co, 2 TBR, 2 TW, VW), V, Y, tmp.
static size_t VN(wino_dw_floats)(const dc_conv_shape *s) {
    const VN(wgeo) g = VN(geo_fwd)(s);
    return (size_t)16 * g.Co * g.Ci * VW + (size_t)g.Co * VW + VN(wino_xb_floats)(&g) +
           (size_t)g.Co * 2 * g.TBR * 2 * g.TW * VW + (size_t)16 * (g.vxs + g.mxs) +
           VN(wino_tmp_floats)(&g);
}

static size_t VN(wino_floats)(const dc_conv_shape *s, unsigned passes) {
    size_t n = 0;
    if (passes & DC_CONV_FWD) {
        const VN(wgeo) g = VN(geo_fwd)(s);
        n = VN(wino_u_floats)(g.Ci, g.Co) + VN(wino_conv_floats)(&g);
    }
    if (passes & DC_CONV_BWD_DATA) {
        const VN(wgeo) g = VN(geo_data)(s);
        const size_t d = VN(wino_u_floats)(g.Ci, g.Co) + VN(wino_conv_floats)(&g);
        if (d > n) n = d;
    }
    if (passes & DC_CONV_BWD_WEIGHTS) {
        const size_t d = VN(wino_dw_floats)(s);
        if (d > n) n = d;
    }
    return n;
}

static void VN(wino_forward)(float *y, const float *x, const float *w, const float *b, bool relu,
                             int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,3,3), b is (OC) or NULL, y is (N,OC,OH,OW)
    const VN(wgeo) g = VN(geo_fwd)(s);
    VN(wino_weights_fwd)(scratch, w, s->C, s->OC);
    VN(wino_conv)(y, x, scratch, b, relu, N, &g, scratch + VN(wino_u_floats)(g.Ci, g.Co));
}

// The same on U made once (the scratch's room for U stays unused).
static void VN(wino_forward_packed)(float *y, const float *x, const float *U, int uco,
                                    const float *b, bool relu, const float *res, int N,
                                    const dc_conv_shape *s, float *scratch) {
    const VN(wgeo) g = VN(geo_fwd)(s);
    DC_ASSERT(uco == s->OC); // no shares of the sample-lanes kernel
    // no residual: added in the transpose out of the sample lanes, its reads
    // strided over 16 samples, it cost more than the add's own pass (resnet20
    // at batch 256, Zen 4: wino_conv 11.6 -> 18.0% of the time, add 5.3 -> 0)
    DC_ASSERT(!res);
    VN(wino_conv)(y, x, U, b, relu, N, &g, scratch + VN(wino_u_floats)(g.Ci, g.Co));
}

// dw (OC, C, 3, 3) += G^T [sum over tiles and samples of Y . V] G, db += sum dy.
static void VN(wino_weights_grad)(float *dw, float *db, const float *dy, const float *x, int N,
                                  const dc_conv_shape *s, float *scratch) {
    const VN(wgeo) g = VN(geo_fwd)(s);
    const int Ci = g.Ci, Co = g.Co, TB = g.TB, OH = g.OH, OW = g.OW, TW = g.TW;
    const int YR = 2 * g.TBR, Wy = 2 * TW; // dyb band: whole tiles
    float *Sa = scratch, *dba = Sa + (size_t)16 * Co * Ci * VW;
    float *xb = dba + (size_t)Co * VW, *dyb = xb + VN(wino_xb_floats)(&g);
    float *V = dyb + (size_t)Co * YR * Wy * VW, *Y = V + 16 * g.vxs;
    float *tmp = Y + 16 * g.mxs;
    memset(Sa, 0, sizeof(float) * ((size_t)16 * Co * Ci * VW + (size_t)Co * VW));
    memset(dyb, 0, sizeof(float) * (size_t)Co * YR * Wy * VW); // columns >= OW stay 0
    int R0 = 1, S0 = 1;
    VN(pick_rs)(Co, Ci, TB, &R0, &S0);
    const size_t xs = (size_t)Ci * g.H * g.W, ys = (size_t)Co * OH * OW;
    const ptrdiff_t tbs = (ptrdiff_t)TB * VW; // one channel of a V or Y block
    const ptrdiff_t yrow = (ptrdiff_t)Wy * VW;
    for (int n0 = 0; n0 < N; n0 += VW) {
        const int nv = N - n0 < VW ? N - n0 : VW;
        for (int th0 = 0; th0 < g.TH; th0 += g.TBR) {
            const int nbt = (g.TH - th0 < g.TBR ? g.TH - th0 : g.TBR) * TW; // band tiles
            const int oh0 = 2 * th0, nr = OH - oh0 < YR ? OH - oh0 : YR;
            for (int co = 0; co < Co; co++) { // dy rows oh0 .. oh0 + nr - 1, zero below
                float *dc = dyb + (size_t)co * YR * yrow;
                VN(plane_to_lanes)(dc, yrow, dy + (size_t)n0 * ys + ((size_t)co * OH + oh0) * OW,
                                   ys, nv, nr, OW, tmp);
                if (nr < YR) memset(dc + nr * yrow, 0, sizeof(float) * (YR - nr) * yrow);
            }
            if (db)
                for (int co = 0; co < Co; co++) { // four running sums (p mod 4), as lanes
                    const float *gp = dyb + (size_t)co * YR * yrow;
                    const int P = nr * Wy;
                    vf a0 = V_ZERO(), a1 = a0, a2 = a0, a3 = a0;
                    int p = 0;
                    for (; p + 4 <= P; p += 4) {
                        a0 = V_ADD(a0, V_LOAD(gp + (size_t)p * VW));
                        a1 = V_ADD(a1, V_LOAD(gp + (size_t)(p + 1) * VW));
                        a2 = V_ADD(a2, V_LOAD(gp + (size_t)(p + 2) * VW));
                        a3 = V_ADD(a3, V_LOAD(gp + (size_t)(p + 3) * VW));
                    }
                    for (; p < P; p++) a0 = V_ADD(a0, V_LOAD(gp + (size_t)p * VW));
                    const vf sum = V_ADD(V_ADD(a0, a1), V_ADD(a2, a3));
                    V_STORE(dba + co * VW, V_ADD(V_LOAD(dba + co * VW), sum));
                }
            if (!dw) continue;
            VN(wino_load_band)(xb, &g, 2 * th0, th0 == 0, x + (size_t)n0 * xs, xs, nv, tmp);
            for (int t0 = 0; t0 < nbt; t0 += TB) {
                const int nb = nbt - t0 < TB ? nbt - t0 : TB;
                VN(wino_in_block)(V, g.vxs, TB, xb, &g, 2 * th0, t0, nb);
                const ptrdiff_t yxs = g.mxs;
                ptrdiff_t off[64]; // tile origins in dyb
                for (int i = 0; i < nb; i++) {
                    const int t = t0 + i, r = t / TW, tw = t % TW;
                    off[i] = 2 * r * yrow + 2 * tw * VW;
                }
                for (int co = 0; co < Co; co++) {
                    const float *gc = dyb + (size_t)co * YR * yrow;
                    float *yc = Y + (size_t)co * TB * VW;
                    for (int i = 0; i < nb; i++)
                        VN(wino_dy_tile)(yc + i * VW, yxs, gc + off[i], yrow);
                }
                for (int xi = 0; xi < 16; xi++) {
                    const float *Yx = Y + xi * g.mxs;
                    const float *Vx = V + xi * g.vxs;
                    float *Sx = Sa + (size_t)xi * Co * Ci * VW;
                    for (int co0 = 0; co0 < Co; co0 += R0) {
                        const int R = Co - co0 < R0 ? Co - co0 : R0;
                        for (int c0 = 0; c0 < Ci; c0 += S0) {
                            const int S = Ci - c0 < S0 ? Ci - c0 : S0;
                            VN(wino_dw_dispatch)(R, S, Yx + (size_t)co0 * tbs, tbs,
                                                 Vx + (size_t)c0 * tbs, tbs, nb,
                                                 Sx + ((size_t)co0 * Ci + c0) * VW,
                                                 (ptrdiff_t)Ci * VW);
                        }
                    }
                }
            }
        }
    }
    if (dw)
        for (int co = 0; co < Co; co++)
            for (int c = 0; c < Ci; c++) {
                double m[16], t[3][4]; // lane sums, then G^T m G
                for (int xi = 0; xi < 16; xi++)
                    m[xi] = VN(hsum)(Sa + (((size_t)xi * Co + co) * Ci + c) * VW);
                for (int q = 0; q < 4; q++) { // G^T m
                    const double a = m[q], b1 = m[4 + q], c1 = m[8 + q], d = m[12 + q];
                    t[0][q] = a + 0.5 * (b1 + c1);
                    t[1][q] = 0.5 * (b1 - c1);
                    t[2][q] = 0.5 * (b1 + c1) + d;
                }
                float *o = dw + ((size_t)co * Ci + c) * 9;
                for (int r = 0; r < 3; r++) { // (G^T m) G
                    const double a = t[r][0], b1 = t[r][1], c1 = t[r][2], d = t[r][3];
                    o[r * 3 + 0] += (float)(a + 0.5 * (b1 + c1));
                    o[r * 3 + 1] += (float)(0.5 * (b1 - c1));
                    o[r * 3 + 2] += (float)(0.5 * (b1 + c1) + d);
                }
            }
    if (db)
        for (int co = 0; co < Co; co++) db[co] += VN(hsum)(dba + (size_t)co * VW);
}

static void VN(wino_backward)(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int N, const dc_conv_shape *s, float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,3,3)
    if (dx) {
        const VN(wgeo) g = VN(geo_data)(s);
        VN(wino_weights_data)(scratch, w, s->C, s->OC);
        VN(wino_conv)(dx, dy, scratch, NULL, false, N, &g,
                      scratch + VN(wino_u_floats)(g.Ci, g.Co));
    }
    if (dw || db) VN(wino_weights_grad)(dw, db, dy, x, N, s, scratch);
}
