// data.h — internal interface of the data module: turning stored bytes into
// normalised float batches, and on-the-fly augmentation of those batches.
//
// Legend: N batch, C channels, H height, W width. Images are (N,C,H,W),
// row-major, one float per pixel after gathering.
#ifndef DC_DATA_H
#define DC_DATA_H

#include "deepc.h"

// Fills x (n,c,h,w) floats with ((px/255) - mean[k])/std[k] for channel k
// of the given sample indices, and y (n) with their labels (y may be NULL).
// x is (n, ds->c, ds->h, ds->w); idx is (n), each in [0, ds->n); mean and
// std are (ds->c), one per channel (a model's norm_mean/norm_std).
void dc_batch_gather(float *x, int32_t *y, const dc_dataset *ds,
                     const int32_t *idx, int n, const float *mean,
                     const float *std);

// Augments a normalised batch in place: per sample a random rotation in
// [-rotate_deg, rotate_deg], scale in [1-scale,1+scale], translation in
// [-translate,translate] px (one combined affine, bilinear sampling, outside
// pixels take the value that a 0 pixel normalises to: fill[k] =
// (0-mean[k])/std[k] for channel k),
// horizontal flip with p=0.5 if hflip; then a random crop of the image
// padded by `crop` pixels of fill (an integer shift in [-crop, crop] on each
// axis), then with probability `erase` one random rectangle set to 0
// (torchvision's RandomErasing: area 2-33% of the image, aspect ratio
// 0.3-3.3 log-uniform, up to 10 tries to fit). Draws the random numbers from rng in
// sample order so it is deterministic (and independent of the thread count).
// Skips all work (and draws nothing) when every option is off.
// x is (n,c,h,w), fill is (c).
void dc_augment_batch(float *x, int n, int c, int h, int w,
                      const dc_augment *a, const float *fill, dc_rng *rng);

// The transform dc_augment_batch applies to one sample, with the parameters
// given explicitly (exposed for tests and for tools that want a fixed
// transform). x is (c,h,w), changed in place. Rotation is about the image
// centre by angle_deg (counter-clockwise as displayed, y down), then scaling
// by `scale` (> 0) about the centre, then a shift by (tx, ty) pixels; `flip`
// mirrors the result left-right. Identity parameters (0, 1, 0, 0, false)
// leave x bit-for-bit unchanged. fill is (c), one value per channel.
void dc_augment_sample(float *x, int c, int h, int w, float angle_deg,
                       float scale, float tx, float ty, bool flip,
                       const float *fill);

// The validation members of dc_dataset_split's split of n samples, n_val of
// them: is_val (n) is 1 for each, 0 otherwise; perm (n) is scratch. A pure
// function of (n, n_val, seed), so side tables (dc_tabular_split) follow the
// images' split exactly.
void dc_split_mask(uint8_t *is_val, int32_t *perm, int n, int n_val, uint64_t seed);

#endif
