// ssl.h — self-supervised pretraining: two augmented views of every
// unlabelled image, an encoder (any model's graph minus its head) with a
// projection head, and one of three objectives:
//   SimCLR  (Chen et al. 2020): NT-Xent over the 2N projections, temperature T;
//   BYOL    (Grill et al. 2020): an online predictor regresses a target
//           network's projection of the other view (2 - 2 cos); the target
//           is an exponential moving average of the online encoder+projector
//           and gets no gradient; works at small batches (no negatives);
//   SimSiam (Chen & He 2021): BYOL without the moving average: the target is
//           the online projection itself behind a stop-gradient.
// A kNN monitor (weighted kNN on cosine similarity, as InstDisc and
// solo-learn) scores the representation on a held-out split each epoch, and
// the per-dimension standard deviation of the normalised embeddings flags a
// collapse (it falls to 0; 1/sqrt(D) when the embeddings spread evenly).
//
// The augmentations are pipeline stages on the raw pixels, each drawn from
// an explicit RNG in sample order (so a seed gives the same views whatever
// the thread count): random resized crop, horizontal flip, brightness and
// contrast jitter, grayscale (3 channels), Gaussian blur.
//
// Legend: N samples of a step (2N views: rows 0..N-1 are the first views,
// N..2N-1 the second; row i's partner is (i + N) mod 2N), D projection
// width, C,H,W image shape.
#ifndef DC_SSL_H
#define DC_SSL_H

#include <stdbool.h>
#include <stddef.h>
#include "deepc.h"

// ---------------------------------------------------------------------------
// Views

typedef struct dc_view_aug {
    float crop_min, crop_max;   // random resized crop: area fraction range [0.2, 1] (crop_min 1: off)
    float ratio_min, ratio_max; // its aspect-ratio range, log-uniform [3/4, 4/3]
    bool hflip;                 // mirror with p = 0.5 [on]
    float jitter_p;             // probability of the colour jitter [0.8]
    float brightness;           // factor in [max(0,1-b), 1+b] [0.4]
    float contrast;             // factor in [max(0,1-c), 1+c], blended with the image mean [0.4]
    float gray_p;               // 3 channels: probability of grayscale [0.2]
    float blur_p;               // probability of a Gaussian blur [0; SimCLR uses 0.5 on ImageNet]
    float blur_sigma_min, blur_sigma_max; // [0.1, 2]
} dc_view_aug;

dc_view_aug dc_view_aug_default(void);
dc_view_aug dc_view_aug_none(void); // every stage off: views are the images

// One view's random parameters.
typedef struct dc_view_params {
    int x0, y0, cw, ch;      // crop box (pixels) inside the image
    bool flip;
    float brightness, contrast; // factors; 1 = unchanged
    bool gray;
    float blur_sigma;        // 0: no blur
} dc_view_params;

// Draws one view's parameters for an h x w image (torchvision's
// RandomResizedCrop.get_params rule: up to 10 tries, then a centre crop).
void dc_view_draw(dc_view_params *p, const dc_view_aug *a, int h, int w, dc_rng *rng);
// Applies them: px (c,h,w) bytes -> out (c,h,w) floats in [0,1] (crop
// resized back to h x w bilinearly, half-pixel centres; then flip,
// brightness, contrast, grayscale, blur with reflected borders). scratch
// holds 2*c*h*w + 3*w floats.
void dc_view_apply(float *out, const uint8_t *px, int c, int h, int w, const dc_view_params *p, float *scratch);
// The Gaussian blur's kernel radius for an h x w image: 10% of the shorter
// side as the kernel size (SimCLR), at least 3 taps.
int dc_view_blur_radius(int h, int w);
// x (n, c, h, w) receives normalised views ((v - mean_c) / std_c; mean and
// std are (c), a model's norm_mean/norm_std) of samples
// idx (n) of ds; parameters drawn in sample order from rng, the pixel work
// spread over nthreads.
void dc_views_batch(float *x, const dc_dataset *ds, const int32_t *idx, int n, const dc_view_aug *a, const float *mean,
                    const float *std, dc_rng *rng, int nthreads);

// ---------------------------------------------------------------------------
// Losses (z, p, t are (2N, D) rows)

// Floats of workspace dc_ntxent needs.
size_t dc_ntxent_work_floats(int n2, int d);
// NT-Xent: u_i = z_i / max(|z_i|, 1e-12), s_ij = u_i.u_j / T, loss = mean
// over the 2N rows of -log(exp(s_i,pair) / sum_{k != i} exp(s_ik)) (the
// cross-entropy form of SimCLR's loss). dz (may be NULL) receives the
// gradient. work: dc_ntxent_work_floats floats.
double dc_ntxent(float *dz, const float *z, int n2, int d, float temperature, float *work, int nthreads);
// Cosine regression with a stop-gradient on t: loss = mean over the rows
// of (a - b cos(p_i, t_pair(i))), cosine of the F.normalize'd rows
// (eps 1e-12). dp (may be NULL) receives d loss / dp; t gets nothing.
// BYOL: a = b = 2 (the mean of its two symmetric terms); SimSiam: a = 0, b = 1.
double dc_cosine_loss(float *dp, const float *p, const float *t, int n2, int d, float a, float b);
// target (n) = tau * target + (1 - tau) * online, element by element in float.
void dc_ema_update(float *target, const float *online, size_t n, float tau);
// BYOL's schedule of tau over training: 1 - (1 - base) (cos(pi k / K) + 1) / 2.
double dc_byol_tau(double base, long step, long total);

// ---------------------------------------------------------------------------
// Monitor

// Weighted kNN (InstDisc; solo-learn's WeightedKNNClassifier): rows of bank
// (nb, d) and query (nq, d) L2-normalised, each query's k most similar bank
// rows vote for their label with weight exp(sim / t). Returns the accuracy
// in *accuracy. nb >= 1, k >= 1 (clamped to nb).
dc_status dc_knn_accuracy(double *accuracy, const float *bank, const int32_t *bank_y, int nb, const float *query,
                          const int32_t *query_y, int nq, int d, int n_classes, int k, float t, int nthreads,
                          dc_error *err);
// Mean over the d dimensions of the standard deviation (over n rows) of the
// L2-normalised rows f (n, d): 0 for a collapsed representation.
double dc_embedding_std(const float *f, int n, int d);
// Node `node`'s output (eval mode) for every sample of ds: out (ds->n, size).
dc_status dc_model_node_features(float *out, dc_model *m, int node, const dc_dataset *ds, int batch, int nthreads,
                                 dc_error *err);

// ---------------------------------------------------------------------------
// Pretraining

typedef enum { DC_SSL_SIMCLR, DC_SSL_BYOL, DC_SSL_SIMSIAM } dc_ssl_method;
// "simclr", "byol", "simsiam"
const char *dc_ssl_method_name(dc_ssl_method m);
dc_status dc_ssl_method_parse(dc_ssl_method *m, const char *name, dc_error *err);

typedef struct dc_ssl_config {
    dc_ssl_method method;
    dc_train_config train;  // epochs, batch (images per step: 2 views each), optimizer,
                            // lr, schedule, warmup, clip_norm, seed, nthreads
    float temperature;      // SimCLR [0.5]
    float tau;              // BYOL's base EMA rate [0.99]
    int proj_hidden;        // projector: linear -> batchnorm -> relu -> linear [512]
    int proj_dim;           // its output width D [128]
    int pred_hidden;        // BYOL/SimSiam predictor's hidden width [512]
    dc_view_aug aug;
    const char *features;   // the representation: a node of the base model, or NULL
                            // for the input of its head [NULL]; nodes after it are
                            // left out of pretraining (and keep their values)
    int knn_k;              // monitor neighbours [20]
    float knn_t;            // monitor temperature [0.1]
} dc_ssl_config;

dc_ssl_config dc_ssl_config_default(void);

typedef struct dc_ssl_event {
    bool epoch_end;         // false: a progress step
    int epoch, epochs, step, steps;
    double loss;            // running mean over the epoch so far
    double knn_acc;         // epoch end: monitor accuracy, -1 without a monitor
    double emb_std;         // epoch end: per-dimension std of normalised features (-1: none)
    double emb_std_ref;     // 1/sqrt(feature width), what an even spread gives
    double seconds;         // epoch end: the epoch's wall time (training only)
    double lr, tau;
} dc_ssl_event;
typedef void (*dc_ssl_callback)(const dc_ssl_event *ev, void *user);

typedef struct dc_ssl_model {
    dc_model *online;       // encoder + projector (+ predictor for BYOL/SimSiam)
    dc_model *target;       // BYOL's moving-average encoder + projector; NULL otherwise
    int feat_node;          // online: the representation (what the head of the base read)
    int proj_node;          // online: the projector's output
    int n_ema;              // BYOL: tensor pairs (target, online) moved by the EMA
    size_t *ema;            // (n_ema, 3): target offset, online offset, count
    int feat_dim;           // width of the representation
} dc_ssl_model;

// The pretraining graph of base: base's nodes up to cfg->features (default:
// the input of its head, a linear layer, dc_model_head) with base's tensors, then the projector
// (proj.fc1, proj.bn1, proj.relu1, proj.fc2 [, proj.bn2 for SimSiam]) and,
// for BYOL/SimSiam, the predictor (pred.fc1, pred.bn1, pred.relu1,
// pred.fc2), initialised from rng; BYOL's target starts as a copy.
dc_status dc_ssl_model_new(dc_ssl_model *s, const dc_model *base, const dc_ssl_config *cfg, dc_rng *rng,
                           dc_error *err);
void dc_ssl_model_free(dc_ssl_model *s);
// Pretrains s on the images of train (labels unused). The monitor (when
// bank and query are non-NULL and non-empty) fits the kNN on bank's labels
// and scores query each epoch; with unlabelled data (either set's
// `unlabelled`) it reports the features' spread only (knn_acc -1). Normalisation: s->online's (set it first).
dc_status dc_ssl_pretrain(dc_ssl_model *s, const dc_dataset *train, const dc_dataset *bank,
                          const dc_dataset *query, const dc_ssl_config *cfg, dc_ssl_callback cb, void *user,
                          dc_error *err);
// One step, the piece the loop repeats (exposed for tests): fill rows
// 0..n-1 of dc_ssl_runner_input with the first views of n images and rows
// n..2n-1 with their second views; dc_ssl_runner_step runs the online graph
// in training mode, the loss and its gradient w.r.t. the output (NT-Xent;
// or the cosine regression onto constant targets: SimSiam's own projection,
// BYOL's target network run forward only), one backward pass, gradient
// clipping, the optimizer step at lr (the online model's optimizer,
// created from cfg->train if it has none), then BYOL's target += (1 - tau)
// (online - target) over the parameters. The online gradients stay in
// s->online's gradient buffer until the next step.
typedef struct dc_ssl_runner dc_ssl_runner;
dc_status dc_ssl_runner_new(dc_ssl_runner **r, dc_ssl_model *s, const dc_ssl_config *cfg, int max_n, int nthreads,
                            dc_error *err);
float *dc_ssl_runner_input(dc_ssl_runner *r); // (2 max_n, C, H, W)
dc_status dc_ssl_runner_step(dc_ssl_runner *r, int n, float lr, float tau, dc_rng *drop, double *loss,
                             dc_error *err);
void dc_ssl_runner_free(dc_ssl_runner *r);

// Copies the online encoder's tensors back into base (all but its head),
// so base becomes the pretrained model that finetune, eval and explain take.
void dc_ssl_export(dc_model *base, const dc_ssl_model *s);

#endif
