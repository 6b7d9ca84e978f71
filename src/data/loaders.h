// loaders.h — what the format loaders of src/data share: growing the
// sample buffers of a dataset while a file is read, and the class list.
//
// Legend: N samples, C channels, H height, W width; pixels are (N,C,H,W).
#ifndef DC_DATA_LOADERS_H
#define DC_DATA_LOADERS_H

#include "core/core.h"

// Labels above this are refused as implausible when no class list bounds them.
#define DC_MAX_LABEL 65535
// No loader takes more samples than an int counts, nor more pixel bytes than this.
#define DC_DATA_MAX_BYTES ((uint64_t)1 << 36)

// A dataset under construction: samples are appended one at a time
// (dc_grow_reserve before writing sample ds->n at dc_grow_pixels).
typedef struct dc_grow {
    dc_dataset *ds;
    size_t cap;   // samples the buffers hold
    size_t plane; // bytes per sample, c*h*w
} dc_grow;

// Starts ds (zeroed first) with the per-sample shape c,h,w and room for
// `hint` samples (grows by doubling as samples arrive).
dc_status dc_grow_init(dc_grow *g, dc_dataset *ds, int c, int h, int w, size_t hint, const char *origin,
                       dc_error *err);
// Room for one more sample; returns its pixel slot, or NULL (err filled).
uint8_t *dc_grow_next(dc_grow *g, const char *origin, dc_error *err);

// The class list of opt->classes: "K" (a count) or a file with one name per
// line. *names is NULL for a count; free with dc_names_free.
dc_status dc_classes_read(const char *spec, int *k, char ***names, dc_error *err);
void dc_names_free(char **names, int n);
// Sets ds's classes to k (names may be NULL: none), checking every label.
dc_status dc_dataset_apply_classes(dc_dataset *ds, int k, char *const *names, const char *what, dc_error *err);

// Sets ds->n_classes from the labels (max + 1, at least 2).
void dc_dataset_count_classes(dc_dataset *ds);

// The image-folder loader's thread count: opt->nthreads or all cores.
int dc_data_threads(const dc_data_options *opt);

#endif
