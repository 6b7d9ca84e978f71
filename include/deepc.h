// deepc.h — the public contract of libdeepc.
//
// Everything a C program needs to load data, build a model, train it, evaluate
// it, save and load it, and run inference. One prefix (dc_ / DC_), errors are
// values: every fallible call returns a dc_status and fills a dc_error with a
// one-line message that names the file/field and what was expected.
// The library never prints; progress goes through a callback.
//
// Worked example. The build cuts the lines between the markers out of this
// header and compiles and runs them as tests/test_header_example.c, so the
// example cannot drift from the API:
//
// BEGIN EXAMPLE
//   dc_error err;
//   dc_dataset train, test;
//   if (dc_data_open(&train, &test, "fashion-mnist", &err)) {
//       fprintf(stderr, "%s\n", err.msg);
//       return 1;
//   }
//   dc_dataset_truncate(&train, 6000); // a quick run; drop this for all 60k
//   dc_model *m = NULL;
//   if (dc_model_builtin(&m, "lenet5", train.c, train.h, train.w, train.n_classes, &err)) {
//       fprintf(stderr, "%s\n", err.msg);
//       return 1;
//   }
//   dc_model_set_normalisation(m, &train);
//   dc_rng rng;
//   dc_rng_seed(&rng, 1);
//   dc_model_init_params(m, &rng);
//   dc_train_config cfg = dc_train_config_default();
//   cfg.epochs = 1;
//   cfg.lr = 0.01f;
//   if (dc_train(m, &train, NULL, &cfg, NULL, NULL, &err)) {
//       fprintf(stderr, "%s\n", err.msg);
//       return 1;
//   }
//   dc_eval_result r;
//   if (dc_evaluate(m, &test, 1000, 0, &r, &err)) {
//       fprintf(stderr, "%s\n", err.msg);
//       return 1;
//   }
//   printf("accuracy %.4f on %d test images\n", r.accuracy, r.n);
//   dc_eval_result_free(&r);
//   dc_model_free(m);
//   dc_dataset_free(&train);
//   dc_dataset_free(&test);
// END EXAMPLE
//
// Shape legend used throughout: N batch, C channels, H height, W width,
// OC output channels, K kernel size, I input features, O output features.
#ifndef DEEPC_H
#define DEEPC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Status and errors

typedef enum dc_status {
    DC_OK = 0,
    DC_ERR_IO,      // a file could not be opened, read or written
    DC_ERR_FORMAT,  // a file's contents are malformed
    DC_ERR_SHAPE,   // shapes do not fit together
    DC_ERR_ARG,     // a bad argument or option value
    DC_ERR_NOMEM,   // an allocation failed
    DC_ERR_NUMERIC, // NaN/Inf appeared (e.g. diverging loss)
    DC_ERR_UNSUPPORTED, // a feature not built in (e.g. no MPI)
} dc_status;

typedef struct dc_error {
    char msg[1024]; // one line, no trailing newline
} dc_error;

const char *dc_status_name(dc_status st);

// ---------------------------------------------------------------------------
// Random numbers: explicit state, never global. xoshiro256** seeded through
// splitmix64; dc_rng_stream derives independent streams from (seed, stream id)
// so that per-epoch shuffles, dropout masks and augmentation draws are
// reproducible without saving generator state.

typedef struct dc_rng {
    uint64_t s[4];
} dc_rng;

void dc_rng_seed(dc_rng *r, uint64_t seed);
dc_rng dc_rng_stream(uint64_t seed, uint64_t stream_a, uint64_t stream_b);
uint64_t dc_rng_u64(dc_rng *r);
float dc_rng_uniform(dc_rng *r);             // [0, 1)
float dc_rng_normal(dc_rng *r);              // N(0, 1), Box-Muller
uint32_t dc_rng_below(dc_rng *r, uint32_t n); // [0, n), unbiased
void dc_rng_shuffle_i32(dc_rng *r, int32_t *v, size_t n); // Fisher-Yates

// ---------------------------------------------------------------------------
// Data sets: images kept as bytes (N,C,H,W) and normalised per batch, so the
// whole of Fashion-MNIST costs 55 MB, not 220 MB.

typedef struct dc_dataset {
    int n;             // number of samples
    int c, h, w;       // per-sample shape
    int n_classes;     // 1 + max label (at least 2)
    uint8_t *pixels;   // (n, c, h, w) raw bytes 0..255, owned
    int32_t *labels;   // (n), owned
    char source[512];  // where it came from (for messages and provenance)
} dc_dataset;

// Reads one IDX image file and one IDX label file (raw or gzip). Validates
// magic, type byte, rank, dimensions against the file size, counts against
// each other. n_classes is set from the labels (max + 1, at least 2); a caller
// that knows the class count checks labels against it with
// dc_dataset_check_labels.
dc_status dc_idx_load(dc_dataset *ds, const char *images_path,
                      const char *labels_path, dc_error *err);
// "fashion-mnist" (Debian's dataset-fashion-mnist) or a folder with the four
// standard MNIST-format files (train-images-idx3-ubyte[.gz], ...).
dc_status dc_data_open(dc_dataset *train, dc_dataset *test, const char *spec,
                       dc_error *err);
dc_status dc_dataset_check_labels(const dc_dataset *ds, int n_classes,
                                  dc_error *err);
// Moves a seeded random fraction of `train` into `val` (train shrinks).
dc_status dc_dataset_split(dc_dataset *train, dc_dataset *val, double fraction,
                           uint64_t seed, dc_error *err);
// Keeps only the first n samples (for quick runs and tests).
void dc_dataset_truncate(dc_dataset *ds, int n);
void dc_dataset_free(dc_dataset *ds);

// Augmentation, applied on the fly to float images (after normalisation).
typedef struct dc_augment {
    float rotate_deg;   // max |rotation| in degrees (0 = off)
    float scale;        // max relative scale change, e.g. 0.1 (0 = off)
    float translate;    // max shift in pixels (0 = off)
    bool hflip;         // random horizontal flip with p = 0.5
} dc_augment;

// ---------------------------------------------------------------------------
// Models: a sequential stack of layers with all parameters in one flat
// buffer and all gradients in another of the same layout.

typedef struct dc_model dc_model;

// Parses the text architecture format (see README). in_c/in_h/in_w is the
// input shape, n_classes the expected output width (0: do not check).
// Shapes are inferred and checked here, before any training.
dc_status dc_model_parse(dc_model **m, const char *text, const char *origin,
                         int in_c, int in_h, int in_w, int n_classes,
                         dc_error *err);
// Built-in architectures: "lenet5", "mlp".
dc_status dc_model_builtin(dc_model **m, const char *name, int in_c, int in_h,
                           int in_w, int n_classes, dc_error *err);
// Either a built-in name or a path to a text architecture file.
dc_status dc_model_create(dc_model **m, const char *name_or_path, int in_c,
                          int in_h, int in_w, int n_classes, dc_error *err);
void dc_model_free(dc_model *m);

// PyTorch's default initialisation (kaiming-uniform a=sqrt(5), its bias rule).
void dc_model_init_params(dc_model *m, dc_rng *rng);
// Writes the layer table (name, output shape, parameters) into buf.
void dc_model_summary(const dc_model *m, char *buf, size_t cap);

size_t dc_model_num_params(const dc_model *m);
float *dc_model_params(dc_model *m);       // flat, dc_model_num_params floats
float *dc_model_grads(dc_model *m);        // same layout
void dc_model_input_shape(const dc_model *m, int *c, int *h, int *w);
int dc_model_num_classes(const dc_model *m);
const char *dc_model_class_name(const dc_model *m, int k);
dc_status dc_model_set_class_names(dc_model *m, const char *const *names,
                                   int n, dc_error *err);
// Mean and std of the training pixels (scaled to [0,1]), stored in the model.
void dc_model_set_normalisation(dc_model *m, const dc_dataset *train);
void dc_model_get_normalisation(const dc_model *m, float *mean, float *std);
const char *dc_model_arch_text(const dc_model *m);
// Free-form JSON records kept in the model file: "train_config" (the run's
// options, used as defaults by --resume), "provenance", "history" (per-epoch
// records, appended by dc_train), "privacy" (DP-SGD: epsilon, delta, sigma,
// clip, sample rate, steps, accountant, noise source). NULL when absent.
const char *dc_model_info(const dc_model *m, const char *key);
dc_status dc_model_set_info(dc_model *m, const char *key, const char *json,
                            dc_error *err);

// Turns raw bytes into normalised floats as the model expects: x is
// (n, c, h, w) floats out, px the (n, c, h, w) bytes in.
void dc_model_normalise(const dc_model *m, float *x, const uint8_t *px,
                        size_t count);

// Inference only (no autograd state): probs is (n, n_classes) softmax output.
// nthreads <= 0 means all cores.
dc_status dc_model_predict(dc_model *m, const float *x, int n, float *probs,
                           int nthreads, dc_error *err);

// ---------------------------------------------------------------------------
// Training

// A communicator for data-parallel training across processes: the library
// stays free of any transport; src/dist/mpi.c provides one over MPI.
typedef struct dc_comm {
    int rank, size;  // this process and how many take part
    void *ctx;       // the transport's state
    // Sums v (n values) over all ranks in place; every rank gets the same bits.
    dc_status (*allreduce_sum)(void *ctx, float *v, size_t n, dc_error *err);
    dc_status (*allreduce_sum_f64)(void *ctx, double *v, size_t n, dc_error *err);
} dc_comm;

typedef enum dc_optim_kind { DC_OPTIM_SGD, DC_OPTIM_ADAM, DC_OPTIM_ADAMW } dc_optim_kind;
typedef enum dc_sched_kind { DC_SCHED_CONSTANT, DC_SCHED_STEP, DC_SCHED_COSINE } dc_sched_kind;

typedef struct dc_train_config {
    int epochs;            // total epochs (a resumed run continues up to this)
    int batch;             // mini-batch size
    dc_optim_kind optim;
    float lr;
    float momentum;        // SGD
    bool nesterov;         // SGD
    float weight_decay;    // SGD/Adam: L2 added to the gradient; AdamW: decoupled
    float beta1, beta2, eps; // Adam/AdamW
    dc_sched_kind sched;
    int step_size;         // StepLR: epochs between decays
    float gamma;           // StepLR: decay factor
    float min_lr;          // cosine floor
    int warmup_epochs;     // linear warmup from 0 over this many epochs (per step)
    float clip_norm;       // > 0: clip the global gradient L2 norm
    uint64_t seed;
    int nthreads;          // <= 0: all cores
    dc_augment augment;
    const char *checkpoint; // if set, written atomically after every epoch
    int eval_batch;
    const float *sample_weights; // (train->n) per-sample loss weights, or NULL
                                 // (loss = sum(w_i l_i) / batch; e.g. reweighing)
    // Synchronous data-parallel SGD when comm is set and comm->size > 1: each
    // rank computes the gradient of its contiguous share of every global batch
    // (`batch` is the global batch), the flat gradient is all-reduced, and
    // every rank applies the same update. Only rank 0 evaluates and saves.
    const dc_comm *comm;
    // DP-SGD (Abadi et al. 2016) when dp.enabled: each step's lot is a
    // Poisson sample (rate batch/n) of the training set, every per-sample
    // gradient is clipped to L2 norm dp.clip, Gaussian noise of standard
    // deviation dp.sigma*dp.clip is added to the sum, which is divided by the
    // expected lot size. Noise and sampling come from ChaCha20 keyed by the OS,
    // or by dp.seed when dp.seeded (reproducible; recorded in the model).
    struct {
        bool enabled;
        float clip;      // per-sample clipping norm C
        double sigma;    // noise multiplier
        double delta;    // the delta that epsilon is reported for
        bool seeded;
        uint64_t seed;
    } dp;
} dc_train_config;

dc_train_config dc_train_config_default(void);

// What the progress callback receives.
typedef struct dc_train_event {
    enum { DC_EVENT_STEP, DC_EVENT_EPOCH } kind;
    int epoch, epochs;        // 1-based epoch
    int step, steps;          // step within the epoch
    double train_loss;        // running mean over the epoch so far
    double train_acc;
    double test_acc;          // epoch events: held-out accuracy (-1 if none)
    double seconds;           // epoch events: wall time of the epoch
    double lr;
    double epsilon;           // DP-SGD: epsilon spent so far at cfg.dp.delta (-1: not DP)
} dc_train_event;
typedef void (*dc_train_callback)(const dc_train_event *ev, void *user);

// Trains m in place. `heldout` may be NULL. The optimizer state, epoch count
// and configuration live in the model so that dc_model_save + load + dc_train
// continues bit-identically.
dc_status dc_train(dc_model *m, const dc_dataset *train,
                   const dc_dataset *heldout, const dc_train_config *cfg,
                   dc_train_callback cb, void *user, dc_error *err);
int dc_model_epochs_done(const dc_model *m);

// ---------------------------------------------------------------------------
// Evaluation

typedef struct dc_eval_result {
    int n, n_classes;
    double accuracy;
    double loss;          // mean cross-entropy
    int64_t *confusion;   // (n_classes, n_classes): [true][pred], owned
} dc_eval_result;

dc_status dc_evaluate(dc_model *m, const dc_dataset *ds, int batch,
                      int nthreads, dc_eval_result *r, dc_error *err);
void dc_eval_result_free(dc_eval_result *r);

// ---------------------------------------------------------------------------
// Files: one safetensors file holds tensors, architecture, normalisation,
// class names, optimizer state and provenance. Written atomically.

dc_status dc_model_save(const dc_model *m, const char *path, dc_error *err);
dc_status dc_model_load(dc_model **m, const char *path, dc_error *err);

// Images for predict: PNG (libpng) or PGM/PPM, converted to c channels and
// resized (bilinear) to h x w. px is (c, h, w) bytes, owned by the caller.
dc_status dc_image_load(uint8_t **px, const char *path, int c, int h, int w,
                        dc_error *err);

#ifdef __cplusplus
}
#endif
#endif
