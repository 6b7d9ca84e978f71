// metrics.h — internal helpers of the evaluation metrics, shared with the
// fairness audit so that "the predicted class" means the same everywhere.
//
// Legend: N samples, C classes.
#ifndef DC_EVAL_METRICS_H
#define DC_EVAL_METRICS_H

#include "deepc.h"

// Index of the largest of p[0..C): the lowest index on ties (as dc_evaluate,
// so the metrics agree with the model-level evaluation to the sample).
int dc_argmax_f32(const float *p, int C);

// Rank of class y in the row p (0 = most probable): the number of classes
// more probable than y, plus the lower-indexed ones exactly as probable.
// rank < k is "y is in the top k"; rank 0 is argmax == y.
int dc_class_rank(const float *p, int C, int y);

// pred (N) = argmax of each row of probs (N, C).
void dc_argmax_rows(int32_t *pred, const float *probs, int N, int C);

#endif
