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
// Version: CMake reads these lines (one place to change it); the shared
// library's SONAME is libdeepc.so.MAJOR.MINOR while the major version is 0.

#define DC_VERSION_MAJOR 0
#define DC_VERSION_MINOR 8
#define DC_VERSION_PATCH 0
#define DC_VERSION "0.8.0"

// The version of the library linked at run time, e.g. "0.8.0" (a program
// compares it with the DC_VERSION it was compiled against).
const char *dc_version(void);

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
// whole of Fashion-MNIST costs 55 MB, not 220 MB. Every format below loads
// into this one structure.

typedef struct dc_dataset {
    int n;             // number of samples
    int c, h, w;       // per-sample shape
    int n_classes;     // 1 + max label (at least 2), or the class list's length
    uint8_t *pixels;   // (n, c, h, w) raw bytes 0..255, owned
    int32_t *labels;   // (n), owned
    char source[512];  // where it came from (for messages and provenance)
    char **class_names; // (n_classes) names the data carries (CIFAR-10's
                        // batches.meta.txt, image-folder names, a --classes
                        // file), owned; NULL when it has none
    bool unlabelled;   // the source has no labels (a CSV without a label
                       // column): labels are all 0, for prediction only
    int skipped;       // image folders with skip_bad: files left out as unreadable
} dc_dataset;

// Reads one IDX image file and one IDX label file (raw or gzip). Validates
// magic, type byte, rank, dimensions against the file size, counts against
// each other. n_classes is set from the labels (max + 1, at least 2); a caller
// that knows the class count checks labels against it with
// dc_dataset_check_labels.
dc_status dc_idx_load(dc_dataset *ds, const char *images_path,
                      const char *labels_path, dc_error *err);

// How rank-4 NumPy image arrays are laid out.
typedef enum dc_layout {
    DC_LAYOUT_AUTO = 0, // from the shape: (N,H,W,C) when the last axis is
                        // 1, 3 or 4 and the second is not, (N,C,H,W) in the
                        // opposite case; anything else is refused as ambiguous
    DC_LAYOUT_NHWC,     // channels last (Keras, PIL, np.asarray of images)
    DC_LAYOUT_NCHW,     // channels first (PyTorch)
} dc_layout;

// Options of the loaders; dc_data_options_default() gives the defaults in [].
typedef struct dc_data_options {
    int channels;       // image folders: convert every image to 1 (gray) or
                        // 3 (RGB) channels [0: 1 when every image is gray, else 3]
    int height, width;  // image folders: resize every image to this, bilinear
                        // as torchvision's Resize((h, w)) on PIL images
                        // [0: every image must have the first one's size]
    int shape_c, shape_h, shape_w; // CSV: the per-sample shape of the pixel
                        // columns, in C,H,W order [0: one square gray channel]
    dc_layout layout;   // NumPy rank-4 image arrays [DC_LAYOUT_AUTO]
    bool skip_bad;      // image folders: leave out files that cannot be
                        // decoded (counted in skipped) instead of failing [false]
    int nthreads;       // image decoding threads, <= 0: all cores [0]
    const char *classes; // the classes: a count "K" (labels must be below it)
                        // or a file with one class name per line [NULL: from
                        // the data]
} dc_data_options;
dc_data_options dc_data_options_default(void);

// Opens a data set by name, file or folder, train and test halves:
//   "fashion-mnist"  Debian's dataset-fashion-mnist; "mnist": its folder
//   FOLDER           the four MNIST-format IDX files (each may be .gz);
//                    CIFAR-10 binary batches (data_batch_1..5.bin,
//                    test_batch.bin, batches.meta.txt); NumPy pairs
//                    x_train.npy, y_train.npy[, x_test.npy, y_test.npy]; or
//                    images in torchvision's ImageFolder layout: train/ and
//                    test/ (or val/), one folder per class (PNG, JPEG, PGM/PPM)
//   FILE.csv         Kaggle digit-recognizer layout (header "label,pixel0,..")
//   FILE.npz         NumPy archive with x_train, y_train[, x_test, y_test]
//                    (Keras's mnist.npz)
// A source with one split (a CSV file, an image folder of class folders
// only, a NumPy file without x_test) fills `train` and leaves `test` empty
// (n == 0). Class names from the data, or opt->classes, land in class_names.
dc_status dc_data_open(dc_dataset *train, dc_dataset *test, const char *spec,
                       dc_error *err);
dc_status dc_data_open_opts(dc_dataset *train, dc_dataset *test,
                            const char *spec, const dc_data_options *opt,
                            dc_error *err);
// "fashion-mnist, mnist" as far as they are installed on this machine (for
// help texts); "" when neither is.
const char *dc_data_named_available(void);

// The loaders behind dc_data_open_opts, each also over bytes in memory
// (origin names them in messages). Each checks everything it reads and names
// the file with the line, entry or record at fault; on failure the outputs
// are zeroed.
//
// CSV: a header row naming a "label" column (anywhere; optional: without it
// the set is unlabelled) and pixel columns pixel0..pixelN-1 (or pixel1..
// pixelN) in order; one row per sample of integers 0..255. N must be a square
// (one gray channel) unless opt->shape_* says otherwise. Parsed by libcsv.
dc_status dc_csv_load(dc_dataset *ds, const char *path,
                      const dc_data_options *opt, dc_error *err);
dc_status dc_csv_parse(dc_dataset *ds, const uint8_t *buf, size_t len,
                       const char *origin, const dc_data_options *opt,
                       dc_error *err);
// NumPy: images uint8 (0..255) or float32/float64 in [0,1] (scaled by 255
// and rounded), shaped (N,H,W), (N,H,W,C) or (N,C,H,W) (opt->layout);
// labels (N) or (N,1) of any integer type. labels_path NULL: unlabelled.
dc_status dc_npy_load_pair(dc_dataset *ds, const char *images_path,
                           const char *labels_path,
                           const dc_data_options *opt, dc_error *err);
// .npz (a zip archive, read with libzip): x_train and y_train, optionally
// x_test and y_test; (images/labels arrays may also be called x/y).
dc_status dc_npz_load(dc_dataset *train, dc_dataset *test, const char *path,
                      const dc_data_options *opt, dc_error *err);
dc_status dc_npz_parse(dc_dataset *train, dc_dataset *test,
                       const uint8_t *buf, size_t len, const char *origin,
                       const dc_data_options *opt, dc_error *err);
// CIFAR-10 binary batches: records of 1 label byte and 3072 image bytes
// (3x32x32, planar RGB). n_names is the class list's length (10).
dc_status dc_cifar_load(dc_dataset *train, dc_dataset *test, const char *dir,
                        const dc_data_options *opt, dc_error *err);
dc_status dc_cifar_parse(dc_dataset *ds, const uint8_t *buf, size_t len,
                         const char *origin, int n_names, dc_error *err);
// ImageFolder: class folders (sorted by name; files found recursively and
// taken in sorted order, as torchvision's ImageFolder does), either at the
// top of dir (one split) or under dir/train and dir/test (or dir/val), the
// test classes a subset of the training ones. Decoded in parallel.
dc_status dc_image_folder_load(dc_dataset *train, dc_dataset *test,
                               const char *dir, const dc_data_options *opt,
                               dc_error *err);
// Every image file under dir (by extension: .png .jpg .jpeg .pgm .ppm .pnm,
// any case; hidden files skipped), sorted as ImageFolder walks them.
// *paths is a malloc'd array of malloc'd strings: dc_image_list_free it.
dc_status dc_image_list(char ***paths, int *n, const char *dir, dc_error *err);
void dc_image_list_free(char **paths, int n);

dc_status dc_dataset_check_labels(const dc_dataset *ds, int n_classes,
                                  dc_error *err);
// Moves a seeded random fraction of `train` into `val` (train shrinks).
dc_status dc_dataset_split(dc_dataset *train, dc_dataset *val, double fraction,
                           uint64_t seed, dc_error *err);
// Keeps only the first n samples (for quick runs and tests).
void dc_dataset_truncate(dc_dataset *ds, int n);
// Sets the class names (n of them, copied): n_classes becomes n, and every
// label must be below it.
dc_status dc_dataset_set_class_names(dc_dataset *ds, const char *const *names,
                                     int n, dc_error *err);
void dc_dataset_free(dc_dataset *ds);

// Tabular side data for multimodal models: one row of numbers per sample.
typedef struct dc_tabular {
    int n;             // rows: one per sample of the data set it goes with
    int f;             // columns (features)
    float *x;          // (n, f) values as read, owned
    char **columns;    // (f) column names, owned
    char source[512];  // where it came from
} dc_tabular;

// Reads a CSV with a header row of column names and one row of finite
// numbers per sample (libcsv). Rows are samples 0..n-1 in order, or, when
// id_column is not NULL, that column gives each row's sample index (every
// index in [0, n) exactly once; the id is not a feature). Errors name the
// file, line and column.
dc_status dc_tabular_read_csv(dc_tabular *t, const char *path,
                              const char *id_column, int n, dc_error *err);
dc_status dc_tabular_parse_csv(dc_tabular *t, const char *text, size_t len,
                               const char *origin, const char *id_column,
                               int n, dc_error *err);
// Keeps the first n rows (with dc_dataset_truncate).
void dc_tabular_truncate(dc_tabular *t, int n);
// Splits off the validation rows exactly as dc_dataset_split(train images,
// val images, fraction, seed) splits the samples they go with: train keeps
// the rest, both in their original order.
dc_status dc_tabular_split(dc_tabular *train, dc_tabular *val, double fraction,
                           uint64_t seed, dc_error *err);
void dc_tabular_free(dc_tabular *t);

// Augmentation, applied on the fly to float images (after normalisation).
typedef struct dc_augment {
    float rotate_deg;   // max |rotation| in degrees (0 = off)
    float scale;        // max relative scale change, e.g. 0.1 (0 = off)
    float translate;    // max shift in pixels (0 = off)
    bool hflip;         // random horizontal flip with p = 0.5
    int crop;           // random crop with this much zero padding (0 = off):
                        // torchvision's RandomCrop(size, padding=crop)
    float erase;        // random erasing with this probability (0 = off):
                        // torchvision's RandomErasing(p, scale=(0.02, 0.33),
                        // ratio=(0.3, 3.3), value=0) after normalisation
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
// Built-in architectures: "lenet5", "mlp", "resnet8", "resnet20",
// "resnet32", "resnet18", "alexnet", "mcmahan_cnn" (the README describes
// each). They are written in the text format: dc_model_builtin_text gives
// that text (malloc'd; free() it).
dc_status dc_model_builtin(dc_model **m, const char *name, int in_c, int in_h,
                           int in_w, int n_classes, dc_error *err);
dc_status dc_model_builtin_text(char **text, const char *name, int n_classes,
                                dc_error *err);
// "lenet5, mlp, ..." for messages and help texts.
const char *dc_model_builtin_names(void);
// Either a built-in name or a path to a text architecture file.
dc_status dc_model_create(dc_model **m, const char *name_or_path, int in_c,
                          int in_h, int in_w, int n_classes, dc_error *err);
// The same for architectures with tabular inputs (`input kind=tabular`
// lines without features= take tab_features columns).
dc_status dc_model_create_tabular(dc_model **m, const char *name_or_path,
                                  int in_c, int in_h, int in_w, int n_classes,
                                  int tab_features, dc_error *err);
dc_status dc_model_parse_tabular(dc_model **m, const char *text,
                                 const char *origin, int in_c, int in_h,
                                 int in_w, int n_classes, int tab_features,
                                 dc_error *err);
// Multimodal models: the number of tabular input columns (0 for an image
// model; every tabular input takes the same row), and their per-column
// standardisation, computed from the training rows and stored in the model
// (deepc.tabular) with the column names.
int dc_model_tabular_features(const dc_model *m);
dc_status dc_model_set_tabular_normalisation(dc_model *m,
                                             const dc_tabular *train,
                                             dc_error *err);
void dc_model_free(dc_model *m);

// Each node kind's init rule: PyTorch's default for convolutions and linear
// layers (kaiming-uniform a=sqrt(5), its bias rule) unless the layer says
// init=kaiming_fan_out (torchvision's ResNet rule); BatchNorm/GroupNorm/
// LayerNorm scale 1, shift 0, running mean 0, running variance 1.
void dc_model_init_params(dc_model *m, dc_rng *rng);
// Writes the node table (#, name, kind, output shape, parameters,
// multiply-adds, inputs where not the previous row, configuration) into buf.
void dc_model_summary(const dc_model *m, char *buf, size_t cap);

// One node of the graph, for tables and tools. Node 0 is the input.
typedef struct dc_node_info {
    const char *name;        // valid while the model lives
    const char *kind;        // "conv2d", "batchnorm2d", ..., "input"
    char config[256];        // canonical "key=value ..." of its options
    int c, h, w;             // per-sample output shape
    size_t params;           // trainable parameters
    int64_t macs;            // forward multiply-adds per sample
    int n_in;                // inputs
    int in[8];               // their node indices
} dc_node_info;
int dc_model_num_nodes(const dc_model *m);
void dc_model_node_info(const dc_model *m, int i, dc_node_info *info);
// Total forward multiply-adds per sample.
int64_t dc_model_macs(const dc_model *m);

size_t dc_model_num_params(const dc_model *m);
float *dc_model_params(dc_model *m);       // flat, dc_model_num_params floats
float *dc_model_grads(dc_model *m);        // same layout
void dc_model_input_shape(const dc_model *m, int *c, int *h, int *w);
int dc_model_num_classes(const dc_model *m);
const char *dc_model_class_name(const dc_model *m, int k);
dc_status dc_model_set_class_names(dc_model *m, const char *const *names,
                                   int n, dc_error *err);
// Input normalisation, stored in the model: x = (pixel/255 - mean_c) / std_c
// for channel c. dc_model_set_normalisation measures the training pixels
// (scaled to [0,1]) per channel when train has the model's channels.
void dc_model_set_normalisation(dc_model *m, const dc_dataset *train);
// The first channel's mean and std (all of them for a gray model).
void dc_model_get_normalisation(const dc_model *m, float *mean, float *std);
// Every channel's: mean and std have room for the model's input channels;
// returns that count.
int dc_model_get_normalisation_channels(const dc_model *m, float *mean,
                                        float *std);
// Sets one mean and std for every channel (std > 0), e.g. for a model
// trained elsewhere.
void dc_model_set_normalisation_values(dc_model *m, float mean, float std);
// Sets n values (1: for every channel, or one per input channel); each mean
// finite, each std positive and finite.
dc_status dc_model_set_normalisation_channels(dc_model *m, const float *mean,
                                              const float *std, int n,
                                              dc_error *err);
// False for a model whose normalisation was never set: one loaded from a
// file without deepc.norm (a plain PyTorch state_dict) takes [0,1] pixels
// with mean 0 and std 1, which is rarely what it was trained on.
bool dc_model_has_normalisation(const dc_model *m);
const char *dc_model_arch_text(const dc_model *m);
// Free-form JSON records kept in the model file: "train_config" (the run's
// options, used as defaults by --resume), "provenance", "history" (per-epoch
// records, appended by dc_train), "privacy" (DP-SGD: epsilon, delta, sigma,
// clip, sample rate, steps, accountant, noise source), "reference" (the
// input, prediction and confidence statistics that deepc serve's drift
// monitor compares against; dc_drift_reference). NULL when absent.
const char *dc_model_info(const dc_model *m, const char *key);
dc_status dc_model_set_info(dc_model *m, const char *key, const char *json,
                            dc_error *err);

// Turns raw bytes into normalised floats as the model expects: x is
// (n, c, h, w) floats out, px the (n, c, h, w) bytes in.
void dc_model_normalise(const dc_model *m, float *x, const uint8_t *px,
                        size_t count);

// Inference only (no autograd state): probs is (n, n_classes) softmax output.
// nthreads <= 0 means all cores. Plans a session per call (see below):
// a loop over batches is faster with one dc_session of its own.
dc_status dc_model_predict(dc_model *m, const float *x, int n, float *probs,
                           int nthreads, dc_error *err);

// ---------------------------------------------------------------------------
// Inference sessions: re-entrant inference over a read-only model.
//
// A session is planned once for batches of up to max_batch samples
// (BatchNorm folded into the convolution before it, buffers shared by
// liveness) and owns every buffer it writes; the model is only read, so many
// sessions may run one model at once, one per thread:
//
//   dc_session *s;
//   dc_session_new(&s, m, 64, 1, &err);     // max batch, threads
//   dc_session_predict(s, x, n, probs, &err); // x (n,C,H,W) normalised
//   dc_session_free(s);
//
// The model must stay alive and unchanged while its sessions exist (a
// session planned before training keeps the weights it was planned with).
typedef struct dc_session dc_session;

dc_status dc_session_new(dc_session **s, const dc_model *m, int max_batch,
                         int nthreads, dc_error *err);
void dc_session_free(dc_session *s);
int dc_session_max_batch(const dc_session *s);
// BatchNorm layers folded into convolutions, and ReLUs fused into their
// kernels, when the session was planned.
int dc_session_folded(const dc_session *s);
int dc_session_fused(const dc_session *s);
// probs (n, n_classes) softmax probabilities of x (n, C, H, W), 1 <= n <= max_batch.
dc_status dc_session_predict(dc_session *s, const float *x, int n,
                             float *probs, dc_error *err);
// The same, raw logits (n, n_classes).
dc_status dc_session_logits(dc_session *s, const float *x, int n,
                            float *logits, dc_error *err);
// Zero-copy form: fill dc_session_input (max_batch, C, H, W), then
// dc_session_run returns the logits (n, n_classes), valid until the next run.
float *dc_session_input(dc_session *s);
const float *dc_session_run(dc_session *s, int n);
// Multimodal models: tab (n, tabular features) standardised rows (as
// dc_model_normalise_tabular gives them) beside x. dc_session_tabular is
// the zero-copy buffer (max_batch, features) of the rows, NULL without a
// tabular input.
int dc_session_tabular_features(const dc_session *s);
float *dc_session_tabular(dc_session *s);
dc_status dc_session_predict_tabular(dc_session *s, const float *x,
                                     const float *tab, int n, float *probs,
                                     dc_error *err);
// Standardises n rows of raw values (n, tabular features) in place.
void dc_model_normalise_tabular(const dc_model *m, float *tab, int n);

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
    // Point to point and broadcast (federated learning over ranks).
    dc_status (*send)(void *ctx, int dest, const float *v, size_t n, dc_error *err);
    dc_status (*recv)(void *ctx, int src, float *v, size_t n, dc_error *err);
    dc_status (*bcast)(void *ctx, float *v, size_t n, int root, dc_error *err);
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
    int sched_start;       // the epoch (0-based, of the model's count) the schedule
                           // and warmup start at [0]; a fine-tune of a trained model
                           // (prune, QAT) starts them at its first epoch
    int sched_epochs;      // the schedule's length in epochs; 0: epochs - sched_start [0]
    float clip_norm;       // > 0: clip the global gradient L2 norm
    uint64_t seed;
    int nthreads;          // <= 0: all cores
    dc_augment augment;
    const char *checkpoint; // if set, written atomically after every epoch
    int eval_batch;
    const float *sample_weights; // (train->n) per-sample loss weights, or NULL
                                 // (loss = sum(w_i l_i) / batch; e.g. reweighing)
    // Per-node learning-rate multipliers (fine-tuning), or NULL (all 1):
    // dc_model_num_nodes(m) values; node i's parameters step with lr *
    // node_lr[i], as torch's parameter groups. 0 freezes the node: its
    // parameters stay bit-identical, a BatchNorm among them runs in eval mode
    // (normalises by its running statistics and leaves them unchanged), and
    // backward stops where only frozen nodes lie behind.
    const float *node_lr;
    // > 0: stop once this many epochs are done, while the schedule still
    // spans `epochs` (staged training, e.g. a tuner's rungs); 0: to `epochs`.
    int stop_after;
    const char *heldout_name;    // what the held-out set is: "val" or "test"
                                 // (the history names its accuracy so) [NULL: "test"]
    // Synchronous data-parallel SGD when comm is set and comm->size > 1: each
    // rank computes the gradient of its contiguous share of every global batch
    // (`batch` is the global batch), the flat gradient is all-reduced, and
    // every rank applies the same update. Only rank 0 evaluates and saves.
    const dc_comm *comm;
    // Multimodal models (dc_model_tabular_features > 0): one row per
    // training sample, and per held-out sample when heldout is given.
    const dc_tabular *tabular;
    const dc_tabular *heldout_tabular;
    // DP-SGD (Abadi et al. 2016) when dp.enabled: each step's lot is a
    // Poisson sample (rate batch/n) of the training set, every per-sample
    // gradient is clipped to L2 norm dp.clip, Gaussian noise of standard
    // deviation dp.sigma*dp.clip is added to the sum, which is divided by the
    // expected lot size. Noise and sampling come from ChaCha20 keyed by the OS,
    // or by dp.seed when dp.seeded (reproducible; recorded in the model).
    // Knowledge distillation (Hinton et al. 2015) when teacher is set: every
    // batch, as augmented, also runs through the teacher (an inference
    // session, eval mode), and the loss is (1 - distill_alpha) CE(labels) +
    // distill_alpha T^2 KL(softmax(teacher / T) || softmax(student / T)),
    // T = distill_temp. The teacher needs the student's input shape and
    // class count (its own input normalisation is applied); not with DP-SGD
    // or tabular inputs. E.g. a pruned model's fine-tuning taught by the
    // dense model it came from (deepc prune --distill).
    const dc_model *teacher;
    float distill_alpha;   // weight of the soft term, [0, 1] [0.5]
    float distill_temp;    // temperature T > 0 [4]
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
    double test_acc;          // epoch events: held-out accuracy (-1 if none),
                              // of the set cfg->heldout_name names
    double seconds;           // epoch events: wall time of the epoch
    double lr;
    double epsilon;           // DP-SGD: epsilon spent so far at cfg.dp.delta (-1: not DP)
    double cpu_seconds;       // epoch events: CPU time of the process over the
                              // same span as seconds (all its threads)
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
// The same for a multimodal model: tab has one row per sample of ds.
dc_status dc_evaluate_tabular(dc_model *m, const dc_dataset *ds,
                              const dc_tabular *tab, int batch, int nthreads,
                              dc_eval_result *r, dc_error *err);
void dc_eval_result_free(dc_eval_result *r);

// ---------------------------------------------------------------------------
// Files: one safetensors file holds tensors, architecture, normalisation,
// class names, optimizer state and provenance. Written atomically.

dc_status dc_model_save(const dc_model *m, const char *path, dc_error *err);
dc_status dc_model_load(dc_model **m, const char *path, dc_error *err);
// Fills an existing model's parameters and state from a plain state_dict in
// a safetensors file (what safetensors.torch.save_file(model.state_dict())
// writes): every tensor the model has must be there under its PyTorch name,
// F32 (num_batches_tracked may be I64), with the model's shape; a tensor the
// model does not have is an error too (PyTorch's strict=True), except
// deepc's own optimizer state ("optim.*"), which is skipped. Nothing in the
// model changes unless every tensor checks out.
dc_status dc_model_load_state_dict(dc_model *m, const char *path,
                                   dc_error *err);

// Images: PNG (libpng), JPEG (libjpeg-turbo) or PGM/PPM, converted to c
// channels (1 gray, 3 RGB; alpha composited onto black; RGB to gray with
// PIL's convert("L") weights) and resized to h x w as torchvision's
// Resize((h, w)) does a PIL image (PIL's bilinear filter, antialiased when
// shrinking, fixed-point as PIL computes it). px is (c, h, w) bytes, owned
// by the caller (free()).
dc_status dc_image_load(uint8_t **px, const char *path, int c, int h, int w,
                        dc_error *err);
// The same over a file's bytes in memory; origin names it in messages.
dc_status dc_image_decode(uint8_t **px, const uint8_t *buf, size_t len,
                          const char *origin, int c, int h, int w,
                          dc_error *err);
// An image's size and whether it is gray, from its header (bytes in memory).
dc_status dc_image_probe(const uint8_t *buf, size_t len, const char *origin,
                         int *h, int *w, bool *gray, dc_error *err);

// ===========================================================================
// Explanations: attributions, faithfulness scores, feature maps (issue 3)
//
// Attribution methods for one input of a model, each batched through the
// model's own forward/backward (a LeNet-5 explanation takes milliseconds) and
// seeded where it draws random numbers. Gradient methods use the gradient of
// the target LOGIT (so they equal torch.autograd.grad of that logit);
// perturbation methods explain the target softmax PROBABILITY unless
// cfg.output says DC_EXPLAIN_OUT_LOGIT. Inputs are normalised model inputs
// (dc_model_normalise); attributions are in the same (C,H,W) grid.
//
//   dc_explainer *ex;
//   dc_explainer_new(&ex, m, 256, 0, &err);        // batch rows, threads
//   dc_explain_config cfg = dc_explain_config_default();
//   cfg.method = DC_EXPLAIN_IG;                    // cfg.target = -1: predicted class
//   dc_explanation e;
//   dc_explain(ex, x, &cfg, &e, &err);             // e.attr is (e.c, e.h, e.w)
//   dc_explanation_write_png(&e, m, x, 8, "ig.png", &err);
//   dc_explanation_write_npy(&e, "ig.npy", &err);
//   dc_explanation_free(&e);
//   dc_explainer_free(ex);

typedef enum dc_explain_method {
    DC_EXPLAIN_SALIENCY,   // |d logit/dx|, max over channels: (H,W)
    DC_EXPLAIN_GRADXINPUT, // x * d logit/dx: (C,H,W)
    DC_EXPLAIN_IG,         // integrated gradients from a baseline: (C,H,W)
    DC_EXPLAIN_GRADCAM,    // Grad-CAM on a conv layer, bilinear upsampled: (H,W)
    DC_EXPLAIN_OCCLUSION,  // drop of the target output under a sliding patch: (H,W)
    DC_EXPLAIN_LIME,       // weighted ridge regression over superpixels: (H,W)
    DC_EXPLAIN_KERNELSHAP, // Shapley values of superpixels (Kernel SHAP): (H,W)
} dc_explain_method;
#define DC_EXPLAIN_N_METHODS 7

// "saliency", "gradxinput", "ig", "gradcam", "occlusion", "lime", "kernelshap".
const char *dc_explain_method_name(dc_explain_method method);
dc_status dc_explain_method_parse(dc_explain_method *method, const char *name,
                                  dc_error *err);

typedef enum dc_explain_baseline_kind {
    DC_EXPLAIN_BASE_BLACK,  // pixel value 0 everywhere (normalised: -mean/std)
    DC_EXPLAIN_BASE_BLUR,   // the input under a Gaussian blur, sigma = max(H,W)/10 px
    DC_EXPLAIN_BASE_CUSTOM, // cfg.baseline_x
} dc_explain_baseline_kind;

typedef enum dc_explain_output {
    DC_EXPLAIN_OUT_PROB,  // softmax probability of the target class
    DC_EXPLAIN_OUT_LOGIT, // the target logit
} dc_explain_output;

typedef struct dc_explain_config {
    dc_explain_method method;
    int target;                 // class to explain; -1: the predicted class
    dc_explain_baseline_kind baseline; // IG path start; LIME/SHAP "off" value [black]
    const float *baseline_x;    // (C,H,W) normalised input, for BASE_CUSTOM
    int steps;                  // IG: points on the path (midpoint rule) [64]
    const char *layer;          // Grad-CAM: layer name; NULL: the last conv2d
    int window, stride;         // occlusion: square patch side, step [4, 2]
    float fill;                 // occlusion: occluded value, normalised units [0]
    bool fill_black;            // occlusion: fill with black instead of `fill`
    const char *segments;       // LIME/SHAP superpixels "grid:K" (KxK cells)
                                // or "slic:N" (about N, k-means) ["grid:4"]
    int samples;                // LIME samples / SHAP coalitions [1000]
    float kernel_width;         // LIME: kernel width on cosine distance [0.25]
    float ridge_alpha;          // LIME: ridge penalty [1]
    dc_explain_output output;   // occlusion/LIME/SHAP: what is explained [prob]
    uint64_t seed;              // LIME/SHAP draws [0]
    // Multimodal models: the sample's standardised tabular row (features
    // floats; required when the model has a tabular input). Saliency,
    // gradient x input and IG attribute over it too (IG's baseline for it is
    // 0, the training mean of each column); the other methods hold it fixed.
    const float *tabular;
} dc_explain_config;

dc_explain_config dc_explain_config_default(void);

typedef struct dc_explanation {
    dc_explain_method method;
    int target;           // the class explained
    int predicted;        // the model's top class for the input
    float prob;           // softmax probability of `target` at the input
    int c, h, w;          // attribution shape; c == 1 for (H,W) maps
    float *attr;          // (c, h, w), owned
    double f_input;       // IG/SHAP/LIME: explained output at the input
    double f_baseline;    // IG/SHAP: explained output at the baseline
    double attr_sum;      // IG: sum of attr; SHAP: sum of feature_attr
                          // (both ~ f_input - f_baseline: completeness)
    int n_features;       // LIME/SHAP: superpixels (0 otherwise)
    int32_t *segments;    // (h, w) superpixel of each pixel, owned, or NULL
    float *feature_attr;  // (n_features) LIME coefficient / Shapley value, owned
                          // (attr paints feature_attr[j] / pixels of j on
                          // superpixel j, so the map sums like the features)
    double intercept;     // LIME: intercept of the fit
    double score;         // LIME: weighted R^2 of the fit
    int evaluations;      // model inputs run (forward rows) for this result
    char layer[64];       // Grad-CAM: the layer used
    int tab_f;            // multimodal: tabular features attributed (0: none)
    float *tab_attr;      // (tab_f) their attributions, owned (IG: they count
                          // in attr_sum's completeness too)
} dc_explanation;

// An explainer owns the activation buffers for `batch` rows (at least 1;
// 256 suits LeNet-5) and runs with nthreads (<= 0: all cores). It uses the
// model's gradient buffer as scratch (left zeroed); the model must outlive it.
typedef struct dc_explainer dc_explainer;
dc_status dc_explainer_new(dc_explainer **ex, dc_model *m, int batch,
                           int nthreads, dc_error *err);
void dc_explainer_free(dc_explainer *ex);

// Explains x (C,H,W normalised). On failure *e is empty (safe to free).
dc_status dc_explain(dc_explainer *ex, const float *x,
                     const dc_explain_config *cfg, dc_explanation *e,
                     dc_error *err);
void dc_explanation_free(dc_explanation *e);

// The baseline cfg describes, for input x: b is (C,H,W) floats out.
dc_status dc_explain_baseline(dc_explainer *ex, const float *x,
                              const dc_explain_config *cfg, float *b,
                              dc_error *err);

// Deletion / insertion (Petsiuk et al. 2018, RISE): pixels are ranked by the
// attribution (summed over channels), then in `steps` equal steps set to the
// baseline in that order (deletion) or copied from x into the baseline
// (insertion), measuring the target probability. Areas are under the curve
// of probability against the fraction of pixels changed, trapezoid rule.
// baseline (C,H,W) or NULL for black. All 2*(steps+1) images are batched.
typedef struct dc_faithfulness {
    int steps;
    double deletion_auc;  // lower is better
    double insertion_auc; // higher is better
    float *deletion;      // (steps+1) probabilities, owned
    float *insertion;     // (steps+1), owned
} dc_faithfulness;
dc_status dc_explain_faithfulness(dc_explainer *ex, const float *x,
                                  const dc_explanation *e,
                                  const float *baseline, int steps,
                                  dc_faithfulness *f, dc_error *err);
void dc_faithfulness_free(dc_faithfulness *f);

// The heatmap over the input as an RGB PNG, both upscaled `scale` times
// (nearest): the input in gray, positive attributions in red and negative in
// blue, opacity |a| / (99.5th percentile of |a|). Written atomically.
dc_status dc_explanation_write_png(const dc_explanation *e, const dc_model *m,
                                   const float *x, int scale, const char *path,
                                   dc_error *err);
// The raw attributions as NumPy float32: (C,H,W) for gradxinput and ig
// (even when C is 1), (H,W) for the other methods.
dc_status dc_explanation_write_npy(const dc_explanation *e, const char *path,
                                   dc_error *err);

// Feature maps: runs x (C,H,W normalised) through m and writes into dir
// (created if missing): input.png, one grid per layer "NN_NAME.png" (every
// channel of that layer's output as a tile, one gray scale per layer; vector
// outputs as a grid of cells) and "filters_NAME.png" for the first layer with
// weights (conv: every filter as a KxK tile; linear: every unit's weights in
// the input's shape). *n_files (may be NULL) receives how many were written.
dc_status dc_visualize(dc_model *m, const float *x, const char *dir,
                       int *n_files, dc_error *err);

// NumPy .npy arrays: read float32/float64/uint8, C order, converted to float;
// write float32 little-endian (atomically).
#define DC_NPY_MAX_RANK 8
typedef struct dc_npy {
    int rank;
    int64_t shape[DC_NPY_MAX_RANK];
    char dtype[4];  // "f4", "f8" or "u1": the type in the file
    size_t n;       // product of shape
    float *data;    // (n) values, owned
} dc_npy;
dc_status dc_npy_read(dc_npy *a, const char *path, dc_error *err);
void dc_npy_free(dc_npy *a);
dc_status dc_npy_write_f32(const char *path, const float *data, int rank,
                           const int64_t *shape, dc_error *err);

// ===========================================================================
// Privacy accountant: Rényi DP of the sampled Gaussian mechanism (issue 4)
//
// The epsilon that DP-SGD spends: each step samples a lot with probability q
// per example (Poisson), and adds N(0, (sigma*C)^2) noise to the sum of
// gradients clipped to norm C. Its Rényi DP at order alpha (Mironov, Talwar &
// Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
// Mechanism") is computed per step and composes linearly over steps; the
// (epsilon, delta) guarantee is the minimum over a list of orders of a
// conversion of the total. The formulas, orders and rounding follow Opacus
// (opacus/accountants/analysis/rdp.py, RDPAccountant) and TF Privacy
// (rdp_accountant.py) in double precision; tests/test_rdp.c checks them
// against published values and a Python reference table.
//
// Two conversions RDP -> (epsilon, delta):
//   DC_RDP_IMPROVED (the default, what Opacus and dp_accounting report):
//     eps = rdp - (log(delta) + log(alpha))/(alpha-1) + log((alpha-1)/alpha)
//     (Balle et al. 2020, "Hypothesis testing interpretations and Rényi DP",
//     Theorem 21);
//   DC_RDP_CLASSIC (Mironov 2017, Prop. 3; TF Privacy before 2020, e.g. the
//     "epsilon = 2.92" of its MNIST tutorial):
//     eps = rdp + log(1/delta)/(alpha-1).
// Epsilon is never negative (clamped at 0, as dp_accounting does) and is 0
// when nothing was spent (q == 0 or steps == 0).

#define DC_RDP_MAX_ORDERS 256
#define DC_RDP_N_DEFAULT_ORDERS 151 // 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63
#define DC_RDP_SIGMA_MAX 1e4        // the solver gives up above this sigma

typedef enum dc_rdp_conversion {
    DC_RDP_IMPROVED = 0, // Balle et al. 2020 (Opacus, dp_accounting): default
    DC_RDP_CLASSIC,      // Mironov 2017 (TF Privacy before 2020)
} dc_rdp_conversion;

// The accountant of one (q, sigma) setting: the RDP of a single step at each
// order, computed once; epsilon after any number of steps is then a scaling
// and a minimum (O(n_orders)), e.g. once per epoch during training.
typedef struct dc_rdp {
    double q;                         // sample rate in [0, 1]
    double sigma;                     // noise multiplier (std / clip norm), >= 0
    int n_orders;                     // 1..DC_RDP_MAX_ORDERS
    double orders[DC_RDP_MAX_ORDERS]; // (n_orders) RDP orders, each > 1
    double step[DC_RDP_MAX_ORDERS];   // (n_orders) RDP of one step at each order;
                                      // +INFINITY: not computable, left out
} dc_rdp;

// Fills orders (room for DC_RDP_MAX_ORDERS) with Opacus's DEFAULT_ALPHAS,
// [1 + x/10 for x in 1..99] + [12..63]; returns their count (151).
int dc_rdp_default_orders(double *orders);

// orders == NULL (n_orders ignored) means the default orders. Fails with
// DC_ERR_ARG on q outside [0, 1], sigma < 0, NaN, or orders <= 1.
dc_status dc_rdp_init(dc_rdp *r, double q, double sigma, const double *orders,
                      int n_orders, dc_error *err);

// Epsilon at delta after `steps` (>= 0) steps of r's mechanism, minimised
// over r's orders; *best_order (may be NULL) receives the minimising order
// (0 when epsilon is 0 because nothing was spent, or infinite). Returns NaN
// for delta outside (0, 1) or steps < 0, +INFINITY when sigma == 0 < q.
double dc_rdp_epsilon_after(const dc_rdp *r, long steps, double delta,
                            dc_rdp_conversion conv, double *best_order);

// The conversion alone, for RDP vectors composed by the caller (e.g. the sum
// of several dc_rdp steps vectors scaled by their step counts): rdp and
// orders are (n) arrays. Same return convention as dc_rdp_epsilon_after.
double dc_rdp_to_epsilon(const double *orders, const double *rdp, int n,
                         double delta, dc_rdp_conversion conv,
                         double *best_order);

// One call: epsilon (improved conversion, default orders) of `steps` steps of
// DP-SGD with sample rate q and noise multiplier sigma, at delta. Returns NaN
// on bad arguments (q outside [0,1], sigma < 0, steps < 0, delta outside
// (0,1)). Opacus users: steps = int(epochs / q), q = batch / n.
double dc_rdp_epsilon(double q, double sigma, long steps, double delta,
                      double *best_order);

// The smallest noise multiplier whose epsilon after `steps` steps at delta
// is <= target_eps (improved conversion, default orders): bisection, since
// epsilon decreases in sigma, to 1e-6 relative; *sigma is the upper end, so
// dc_rdp_epsilon(q, *sigma, ...) <= target_eps always holds. Needs q in
// (0, 1], steps >= 1, delta in (0, 1), target_eps > 0. Fails (DC_ERR_ARG,
// the message says why) when the target cannot be met with sigma <=
// DC_RDP_SIGMA_MAX: the orders bound epsilon below (about 0.1 at delta 1e-5
// with the default orders, however large sigma is).
dc_status dc_rdp_solve_sigma(double q, long steps, double delta,
                             double target_eps, double *sigma, dc_error *err);

// ===========================================================================
// Evaluation metrics and fairness audit (issue 3)
//
// Metrics are computed from softmax probabilities and true labels, so they
// work for any model or even for predictions made elsewhere. The fairness
// audit compares one-vs-rest rates of the predictions across groups of
// samples named in a CSV file ("index,group" per line) or by a built-in rule,
// with the definitions of Fairlearn's demographic_parity_difference/_ratio and
// equalized_odds_difference applied per class and aggregated by the worst
// class. Reweighing (Kamiran & Calders 2012) turns the groups of the training
// set into per-sample loss weights for dc_train_config.sample_weights.
//
//   float *probs = malloc(sizeof(float) * test.n * C);
//   double loss;
//   dc_model_predict_dataset(m, &test, 1000, 0, probs, &loss, &err);
//   dc_metrics mt;
//   dc_metrics_compute(&mt, probs, test.labels, test.n, C, 5, 15, &err);
//   dc_groups g;
//   dc_groups_open(&g, "groups.csv", &test, &err); // or "builtin:brightness"
//   int32_t *pred = ...argmax of probs...;
//   dc_fairness f;
//   dc_fairness_thresholds thr = dc_fairness_thresholds_default();
//   dc_fairness_compute(&f, pred, test.labels, &g, C, &thr, &err);
//   ... dc_fairness_free(&f); dc_groups_free(&g); dc_metrics_free(&mt);

// Runs m over every sample of ds in batches of `batch` (nthreads <= 0: all
// cores). probs is (ds->n, n_classes) softmax outputs, caller-allocated;
// *loss (may be NULL) receives the mean cross-entropy computed from the
// logits, exactly as dc_evaluate computes it.
dc_status dc_model_predict_dataset(dc_model *m, const dc_dataset *ds, int batch,
                                   int nthreads, float *probs, double *loss,
                                   dc_error *err);
// The same for multimodal models: tab holds one raw row per sample of ds
// (standardised here with the model's statistics). A model with a tabular
// input refuses tab == NULL, and an image model refuses rows.
dc_status dc_model_predict_dataset_tabular(dc_model *m, const dc_dataset *ds,
                                           const dc_tabular *tab, int batch,
                                           int nthreads, float *probs,
                                           double *loss, dc_error *err);

// Classification metrics of n predictions over C classes. The predicted class
// is the most probable one, the lowest index on ties (as dc_evaluate).
typedef struct dc_metrics {
    int n, n_classes;
    double accuracy;          // top-1, 0..1
    int top_k;                // the k of top_k_accuracy (clamped to C)
    double top_k_accuracy;    // true class among the k most probable (ties:
                              // lower index ranks first, so k=1 == accuracy)
    double loss;              // mean -ln p(true class), p floored at FLT_MIN
    int64_t *confusion;       // (C, C) counts [true][predicted], owned
    int64_t *support;         // (C) samples of each true class, owned
    int64_t *predicted;       // (C) predictions of each class, owned
    double *precision;        // (C), owned; 0 when the class is never predicted
    double *recall;           // (C), owned; 0 when the class has no samples
    double *f1;               // (C), owned; 0 when precision + recall == 0
    // Averages as scikit-learn's classification_report (zero_division=0):
    // macro over the classes that occur in the labels or the predictions,
    // weighted by support.
    int n_present;            // classes in the macro average
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    // Calibration: confidence = max probability, n_bins equal-width bins,
    // bin b holds (b/B, (b+1)/B] (bin 0 also 0). ECE = sum_b |B_b|/n
    // |acc(B_b) - conf(B_b)| (Guo et al. 2017); MCE the largest bin gap.
    int n_bins;
    double ece, mce;
    int64_t *bin_count;       // (n_bins), owned
    double *bin_confidence;   // (n_bins) mean confidence, 0 for an empty bin
    double *bin_accuracy;     // (n_bins) accuracy, 0 for an empty bin
} dc_metrics;

// probs (n, C) rows of probabilities, labels (n) in [0, C). top_k >= 1,
// n_bins >= 1 (15 is the usual choice). On failure *mt is empty.
dc_status dc_metrics_compute(dc_metrics *mt, const float *probs,
                             const int32_t *labels, int n, int C, int top_k,
                             int n_bins, dc_error *err);
void dc_metrics_free(dc_metrics *mt);

typedef struct dc_confusion_pair {
    int true_class, pred_class;
    int64_t count;
} dc_confusion_pair;
// The (at most k) largest off-diagonal cells of the confusion matrix, largest
// first (ties: smaller true class, then smaller predicted class), skipping
// empty cells. Returns how many were written into out (k entries).
int dc_metrics_most_confused(const dc_metrics *mt, dc_confusion_pair *out,
                             int k);

// Groups of samples. Group labels are strings; groups are numbered in
// strcmp order of their labels.
typedef struct dc_groups {
    int n;                 // samples: group[i] is sample i's group
    int n_groups;
    char **names;          // (n_groups) labels, owned
    int32_t *group;        // (n) group index of each sample, owned
    char origin[512];      // the file or built-in rule (for messages)
} dc_groups;

// Reads a groups CSV for a set of n samples: one line "index,group" per
// sample (an optional first line "index,group" is a header; \r\n and a last
// line without a newline are fine). The group is the rest of the line after
// the first comma, trimmed of spaces; it must not be empty. Every index in
// [0, n) must appear exactly once. Errors name "path:line".
dc_status dc_groups_read_csv(dc_groups *g, const char *path, int n,
                             dc_error *err);
// The same over text in memory; origin names it in messages.
dc_status dc_groups_parse_csv(dc_groups *g, const char *text, size_t len,
                              const char *origin, int n, dc_error *err);
// Built-in groupings for data sets without group labels:
//   "brightness": "bright" when the image's mean pixel value is above the
//                 median of the data set's image means, else "dark";
//   "parity":     "even" / "odd" sample index (a control: no real
//                 difference between the groups is expected).
dc_status dc_groups_builtin(dc_groups *g, const char *name,
                            const dc_dataset *ds, dc_error *err);
// "builtin:NAME" or a CSV path, for the samples of ds.
dc_status dc_groups_open(dc_groups *g, const char *spec, const dc_dataset *ds,
                         dc_error *err);
void dc_groups_free(dc_groups *g);

// Reweighing (Kamiran & Calders 2012): w (g->n) receives
// w_i = P(g_i) P(y_i) / P(g_i, y_i) = n_g n_y / (n n_gy), estimated on these
// samples; labels (g->n) in [0, n_classes). Group-label combinations that are
// rarer than independence predicts are weighted up. The mean weight is 1.
dc_status dc_reweigh_weights(float *w, const dc_groups *g,
                             const int32_t *labels, int n_classes,
                             dc_error *err);

// Flag limits: a class (and the overall figure) is flagged when its
// demographic-parity difference > dp_difference, its equalized-odds
// difference > eo_difference, or its demographic-parity ratio < dp_ratio.
typedef struct dc_fairness_thresholds {
    double dp_difference;  // [0.1]
    double eo_difference;  // [0.1]
    double dp_ratio;       // [0.8] (the "four-fifths rule")
} dc_fairness_thresholds;
dc_fairness_thresholds dc_fairness_thresholds_default(void);

#define DC_FAIR_FLAG_DP_DIFF 1u  // demographic-parity difference too large
#define DC_FAIR_FLAG_DP_RATIO 2u // demographic-parity ratio too small
#define DC_FAIR_FLAG_EO_DIFF 4u  // equalized-odds difference too large

#define DC_FAIR_EO_TPR 1u // the equalized-odds difference includes the TPR difference
#define DC_FAIR_EO_FPR 2u // ... and/or the FPR difference

// One-vs-rest fairness figures. For class c and group g: selection rate
// P(pred=c | g), TPR P(pred=c | y=c, g), FPR P(pred=c | y!=c, g). A rate
// with an empty denominator (no sample of class c in g for TPR, no sample of
// another class for FPR) is undefined: NaN here, null in JSON, "-" in text,
// and skipped when differences are taken (Fairlearn would count it as 0
// instead). Per class: dp difference = max - min selection rate over groups,
// dp ratio = min / max (1 when no group selects c), tpr/fpr difference =
// max - min over the groups where defined (NaN, not measured, with fewer
// than two such groups), eo difference = max(tpr difference, fpr
// difference) of those measured (eo_basis_c says which: DC_FAIR_EO_FPR
// alone when no TPR difference could be measured). Overall figures are the
// worst class: max differences, min ratio.
typedef struct dc_fairness {
    int n, n_classes, n_groups;
    dc_fairness_thresholds thr;
    double accuracy;           // over all n samples
    int64_t *group_n;          // (G) samples per group, owned
    double *group_accuracy;    // (G), owned
    int64_t *positives;        // (G, C) samples of class c in group g, owned
    double *selection_rate;    // (G, C), owned
    double *tpr;               // (G, C), owned, NaN where undefined
    double *fpr;               // (G, C), owned, NaN where undefined
    double *dp_difference_c;   // (C), owned
    double *dp_ratio_c;        // (C), owned
    double *tpr_difference_c;  // (C), owned, NaN where undefined
    double *fpr_difference_c;  // (C), owned, NaN where undefined
    double *eo_difference_c;   // (C), owned, NaN where undefined
    unsigned char *eo_basis_c; // (C), owned: DC_FAIR_EO_* bits of the rates it rests on
    unsigned *flags_c;         // (C) DC_FAIR_FLAG_* bits, owned
    double dp_difference;      // max over classes
    int dp_difference_class;   // the class attaining it
    double dp_ratio;           // min over classes
    int dp_ratio_class;
    double eo_difference;      // max over classes with a defined value (NaN: none)
    int eo_difference_class;   // -1 when none
    unsigned char eo_basis;    // DC_FAIR_EO_* bits of that class's figure (0: none)
    double worst_group_accuracy;
    int worst_group;           // lowest accuracy (first in group order on ties)
    double accuracy_difference; // best - worst group accuracy
    unsigned flags;            // DC_FAIR_FLAG_* of the overall figures
} dc_fairness;

// pred and labels are (g->n) classes in [0, n_classes); thr NULL: defaults.
// On failure *f is empty.
dc_status dc_fairness_compute(dc_fairness *f, const int32_t *pred,
                              const int32_t *labels, const dc_groups *g,
                              int n_classes,
                              const dc_fairness_thresholds *thr,
                              dc_error *err);
void dc_fairness_free(dc_fairness *f);

// ===========================================================================
// Model report: one self-contained HTML page (issue 3)
//
// dc_report_render evaluates a model on a data set (normally the test split)
// and writes a single HTML page that needs nothing else to display: inline
// CSS, SVG charts drawn here, images as PNG data: URIs, no scripts, fonts,
// stylesheets or links to anything outside the file. The page holds the
// model (layer table, parameters, normalisation, classes), the data set, the
// training configuration and the provenance and privacy records stored in
// the model, training curves (loss, accuracy, learning rate per epoch), the
// confusion matrix as a heatmap, per-class precision/recall/F1 with macro and
// weighted averages, top-k accuracy, loss, ECE/MCE with a reliability
// diagram, the most confused class pairs, a grid of explained images (the
// most confident mistakes and correct images of each class in turn, with an
// attribution heatmap of the predicted class), and the fairness audit when
// groups are given, flagged figures highlighted. Every string that comes
// from a file (class names, paths, group labels, JSON records) is escaped.
// The same inputs give the same bytes.
//
//   dc_report_config rc = dc_report_config_default();
//   rc.model_path = "m.safetensors";
//   rc.groups = &g;                    // from dc_groups_open(&g, spec, &test, ...), or NULL
//   dc_report_write("report.html", m, &test, &rc, &err);

typedef struct dc_report_config {
    const char *title;          // page heading; NULL: "deepc model report"
    const char *model_path;     // where the model came from, shown (may be NULL)
    const char *data_name;      // the data set as the user named it, shown
                                // beside ds->source (may be NULL)
    const char *generated;      // free text such as a UTC time, shown; NULL:
                                // none (the page is then a function of its inputs)
    int examples;               // explained images in the grid [8]; 0: no grid
    dc_explain_method method;   // their attribution method [DC_EXPLAIN_IG]
    int top_k;                  // the k of top-k accuracy [5]
    int n_bins;                 // reliability-diagram bins [15]
    int batch;                  // inference batch [1000]
    int nthreads;               // <= 0: all cores [0]
    const dc_groups *groups;    // groups of ds's samples for the fairness
                                // audit, or NULL for none
    dc_fairness_thresholds thr; // audit flag limits [dc_fairness_thresholds_default]
    // Issue 12 (internal types, src/surrogate/surrogate.h and
    // src/privacy/membership.h): a surrogate to draw (its fidelity is
    // measured again on ds) and a membership audit to show, or NULL.
    const struct dc_surrogate *surrogate;
    const struct dc_membership_result *membership;
} dc_report_config;

dc_report_config dc_report_config_default(void);

// The page into *html (malloc'd, NUL-terminated, *len bytes without the
// NUL; free() it). ds must match the model's input shape and classes, and
// cfg->groups (if set) must cover exactly ds->n samples. On failure *html
// is NULL.
dc_status dc_report_render(char **html, size_t *len, dc_model *m,
                           const dc_dataset *ds, const dc_report_config *cfg,
                           dc_error *err);
// The same, written to path atomically (dc_write_atomic). *bytes (may be
// NULL) receives the size of the page.
dc_status dc_report_write(const char *path, dc_model *m, const dc_dataset *ds,
                          const dc_report_config *cfg, size_t *bytes,
                          dc_error *err);


// ===========================================================================
// Serving: an HTTP inference server (issue 10)
//
// dc_server speaks the KServe / Triton Open Inference Protocol v2 over HTTP
// (libmicrohttpd, epoll), for one model file or a folder of them (the model
// name is the file stem). Requests for a model are queued and run together
// by its workers (dynamic batching) on sessions planned at start-up; the
// server keeps Prometheus metrics and a sliding window of input, prediction
// and confidence statistics that it compares with the "reference" record
// stored in the model at training time (dc_drift_reference). The README's
// "Serving" section documents the endpoints, the request and response
// bodies, every limit and what each drift statistic means.
//
//   dc_serve_config cfg = dc_serve_config_default();
//   cfg.model_path = "m.safetensors";
//   cfg.port = 8080;
//   dc_server *srv;
//   if (dc_server_start(&srv, &cfg, &err)) { ...err.msg... }
//   ... wait for SIGTERM ...
//   dc_server_stop(srv, 10.0);   // drains in-flight requests, then frees
//
// The library never prints: log lines (start-up, reloads, drift alarms,
// warnings) go to cfg.log, one JSON access-log line per request to
// cfg.access_log; both may be NULL and may be called from any thread.

typedef enum dc_log_level { DC_LOG_INFO = 0, DC_LOG_WARN = 1, DC_LOG_ERROR = 2 } dc_log_level;
typedef void (*dc_log_fn)(void *user, dc_log_level level, const char *line);

typedef struct dc_serve_config {
    const char *model_path;   // a .safetensors file, or a folder of them
    const char *host;         // IPv4 address to bind ["127.0.0.1"]
    int port;                 // 0: any free port (dc_server_port tells) [8080]
    int workers;              // inference workers per model, each with its own
                              // session; <= 0: the number of cores [0]
    int threads;              // threads of each worker's session [1]
    int http_threads;         // libmicrohttpd's thread pool [1]
    int max_batch;            // samples run together [32]
    int max_delay_us;         // longest a queued request waits for a batch to
                              // fill while more requests are arriving [500]
    bool inline_run;          // a one-row request that finds its model's queue
                              // empty and no worker running is run on the HTTP
                              // thread that read it (no hand-off) [false]
    int queue_size;           // requests waiting per model; beyond: 503 [1024]
    size_t max_body;          // request body limit in bytes [4 MiB]
    size_t max_header;        // header memory per connection in bytes [16 KiB]
    int max_connections;      // concurrent connections [1024]
    int max_connections_per_ip; // 0: no per-address limit [0]
    int idle_timeout_s;       // a connection idle this long is closed [10]
    int request_timeout_ms;   // a request still queued after this gets 503 [10000]
    long max_image_pixels;    // image bodies larger than this are refused [2048*2048]
    int top_k;                // default k of the top-k outputs [5]
    const char *token;        // bearer token; NULL: no authentication
    bool allow_no_token;      // permit a non-loopback host without a token (warns)
    bool watch;               // reload a model whose file changed
    int watch_interval_ms;    // how often files are checked [500]
    int drift_window;         // samples in the drift window [1000]
    double drift_psi;         // population stability index alarm threshold [0.2]
    double drift_ks;          // Kolmogorov-Smirnov distance alarm threshold [0.1]
    int explain_batch;        // rows of each worker's explainer; 0: no
                              // /explain endpoint [16]
    dc_log_fn log;            // log lines, or NULL
    void *log_user;
    dc_log_fn access_log;     // one JSON line per request (level INFO), or NULL
    void *access_log_user;
} dc_serve_config;

dc_serve_config dc_serve_config_default(void);

typedef struct dc_server dc_server;

// Loads every model, plans and warms the sessions, binds host:port and
// starts serving. Fails (nothing left running) on a bad configuration, a
// model that does not load, or a port that cannot be bound.
dc_status dc_server_start(dc_server **srv, const dc_serve_config *cfg,
                          dc_error *err);
// The port bound (useful with cfg.port == 0).
int dc_server_port(const dc_server *srv);
// Stops accepting connections, answers new requests on open connections with
// 503, waits up to drain_seconds for the requests in flight to be answered,
// then stops every thread and frees the server. Returns how many requests
// were still unanswered when the wait ended (0 after a clean drain).
int dc_server_stop(dc_server *srv, double drain_seconds);

// Drift reference statistics for deepc serve, stored in m's "reference"
// record (replacing any): per-channel mean and std of the pixels (in [0,1])
// and 16-bin histograms of pixel intensity and 20-bin histograms of the
// per-image mean intensity over `inputs`; the class-prediction distribution
// and a 20-bin histogram of the top-class probability (confidence) of m
// over the first 5000 samples of `eval`. Either data set may be NULL (that part is left out); both
// must match m's input shape. dc_train calls this at the end of its last
// epoch (inputs: the training set, or the held-out set under DP-SGD so the
// record adds nothing about the private data; eval: the held-out set).
dc_status dc_drift_reference(dc_model *m, const dc_dataset *inputs,
                             const dc_dataset *eval, int nthreads,
                             dc_error *err);

#ifdef __cplusplus
}
#endif
#endif
