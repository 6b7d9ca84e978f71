// audit.h — internal pieces of the fairness audit: building a dc_groups from
// per-sample provisional group ids (shared by the CSV reader and the built-in
// groupings, so both number groups the same way).
//
// Legend: N samples, G groups.
#ifndef DC_AUDIT_H
#define DC_AUDIT_H

#include "deepc.h"

// Fills g from provisional ids: ids (N) in [0, n_names), names (n_names)
// the label of each provisional id. Groups are renumbered in strcmp order of
// their labels; labels no sample uses are dropped. Copies everything (the
// caller keeps ownership of ids and names). origin names the source.
dc_status dc_groups_from_ids(dc_groups *g, const int32_t *ids, int N,
                             const char *const *names, int n_names,
                             const char *origin, dc_error *err);

#endif
