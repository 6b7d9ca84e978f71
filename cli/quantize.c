// quantize.c — `deepc quantize MODEL --data SPEC --calibrate N --out M`:
// post-training static int8 quantisation (src/compress/quant.h). BatchNorm
// is folded into the convolutions, the folded model runs over N seeded
// training samples to calibrate every node output's range (min/max,
// percentile or KL entropy), weights become symmetric per-output-channel
// int8, activations asymmetric per-tensor uint8, biases int32. The written
// file is an int8 model: deepc eval / predict / serve run it with the int8
// kernels, and deepc export writes it as ONNX QDQ or int8 C. --qat N first
// fine-tunes the folded model for N epochs with fake int8 activations and
// weights (quantisation-aware training, straight-through gradients).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "compress/quant.h"
#include "model/model.h"

#define VERB "quantize"

static void qat_event(const dc_train_event *ev, void *user) {
    if (ev->kind != DC_EVENT_EPOCH) return;
    if (*(const bool *)user) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "epoch");
        cJSON_AddNumberToObject(j, "epoch", ev->epoch);
        cJSON_AddNumberToObject(j, "train_loss", ev->train_loss);
        cJSON_AddNumberToObject(j, "train_accuracy", ev->train_acc);
        cli_json_add(j, "test_accuracy", ev->test_acc, 0);
        cli_json_print(j);
        return;
    }
    printf("qat epoch %d  loss %.4f  train acc %6.2f%%", ev->epoch, ev->train_loss, 100 * ev->train_acc);
    if (ev->test_acc >= 0) printf("  test acc (fake int8) %6.2f%%", 100 * ev->test_acc);
    printf("  %.2f s\n", ev->seconds);
    fflush(stdout);
}

int cmd_quantize(int argc, char **argv) {
    const char *data = "fashion-mnist", *out = NULL, *method_s = "minmax";
    int calibrate = 512, threads = 0, batch = 64, qat = 0, limit = 0, test_limit = 0;
    float percentile = 99.99f, lr = 0.001f, momentum = 0.9f;
    uint64_t seed = 1;
    bool json = false, reduce = false;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        CLI_NORM_OPTIONS(&nrm),
        {"calibrate", OPT_INT, &calibrate, "calibration samples, a seeded draw from the training split [512]"},
        {"method", OPT_STR, &method_s, "activation ranges: minmax, percentile or kl (entropy) [minmax]"},
        {"percentile", OPT_FLOAT, &percentile, "--method percentile: share of each tensor's values kept, in % [99.99]"},
        {"reduce-range", OPT_FLAG, &reduce, "7-bit activations (0..127), exact with AVX2's vpmaddubsw"},
        {"seed", OPT_U64, &seed, "seed of the calibration draw [1]"},
        {"batch", OPT_INT, &batch, "calibration batch [64]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"qat", OPT_INT, &qat, "quantisation-aware training: this many epochs of fine-tuning with fake int8 (0: post-training only) [0]"},
        {"lr", OPT_FLOAT, &lr, "--qat: SGD learning rate [0.001]"},
        {"momentum", OPT_FLOAT, &momentum, "--qat: SGD momentum [0.9]"},
        {"limit", OPT_INT, &limit, "--qat: train on the first N training samples only (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "--qat: report accuracy on the first N test samples (0: all)"},
        {"out", OPT_STR, &out, "the int8 model file to write (required)"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos = 0;
    bool help = false;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) cli_usage(VERB, "MODEL.safetensors --out M-int8.safetensors [--calibrate N] [--method minmax|percentile|kl]", opts);
        return help ? 0 : 2;
    }
    if (n_pos != 1 || !out) {
        fprintf(stderr, "deepc %s: needs one model file and --out (deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    if (qat < 0 || limit < 0 || test_limit < 0 || !(lr > 0)) {
        fprintf(stderr, "deepc %s: --qat, --limit and --test-limit must be >= 0, --lr > 0\n", VERB);
        return 2;
    }
    if (calibrate < 1 || batch < 1 || threads < 0) {
        fprintf(stderr, "deepc %s: --calibrate and --batch must be >= 1, --threads >= 0\n", VERB);
        return 2;
    }
    dc_error err;
    dc_quant_config qc = dc_quant_config_default();
    if (dc_calib_method_parse(&qc.method, method_s, &err)) return cli_fail(VERB, &err);
    if (cli_find(opts, "percentile")->seen && qc.method != DC_CALIB_PERCENTILE) {
        fprintf(stderr, "deepc %s: --percentile needs --method percentile\n", VERB);
        return 2;
    }
    qc.samples = calibrate;
    qc.percentile = percentile;
    qc.reduce_range = reduce;
    qc.seed = seed;
    qc.batch = batch;
    qc.nthreads = threads;
    dc_model *m = NULL;
    int rc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (rc) return rc;
    dc_dataset train, test;
    if ((rc = cli_data_open(VERB, data, &dopt, threads, json, &train, &test))) {
        dc_model_free(m);
        return rc;
    }
    dc_dataset *ds = cli_pick_split(VERB, &train, &test, "train", json);
    dc_model *qm = NULL;
    int folded = 0;
    {
        // how many BatchNorms fold (reported), then the quantisation proper
        dc_model *fm = NULL;
        if (!dc_fold_batchnorm(&fm, m, &folded, &err)) dc_model_free(fm);
    }
    if (qat > 0) {
        if (limit > 0) dc_dataset_truncate(&train, limit);
        if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
        dc_train_config tc = dc_train_config_default();
        tc.epochs = qat;
        tc.lr = lr;
        tc.momentum = momentum;
        tc.seed = seed;
        tc.nthreads = threads;
        tc.heldout_name = "test";
        if (dc_quantize_qat(&qm, m, &train, test.n ? &test : NULL, &qc, &tc, qat_event, &json, &err))
            rc = cli_fail(VERB, &err);
    } else if (dc_quantize(&qm, m, ds, &qc, &err)) {
        rc = cli_fail(VERB, &err);
    }
    if (!rc && dc_model_save(qm, out, &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        size_t w8 = 0;
        for (int i = 0; i < qm->n_nodes; i++)
            if (qm->quant->w[i]) w8 += qm->nodes[i].t[0].n;
        int fused = 0;
        for (int i = 0; i < qm->n_nodes; i++) fused += dc_q_fused_relu(qm, i) >= 0;
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", pos[0]);
            cJSON_AddStringToObject(j, "data", ds->source);
            cJSON_AddStringToObject(j, "method", qm->quant->method);
            cJSON_AddNumberToObject(j, "qat_epochs", qat);
            cJSON_AddNumberToObject(j, "samples", qm->quant->samples);
            cJSON_AddNumberToObject(j, "qmax", qm->quant->qmax);
            cJSON_AddNumberToObject(j, "batchnorm_folded", folded);
            cJSON_AddNumberToObject(j, "relu_fused", fused);
            cJSON_AddNumberToObject(j, "int8_weights", (double)w8);
            cJSON_AddStringToObject(j, "out", out);
            if (!cli_json_print(j)) rc = 1;
        } else {
            printf("quantised %s -> %s: %zu int8 weights, per-channel symmetric; activations uint8 0..%d, %s "
                   "calibration over %d samples of %s; %d BatchNorm folded, %d ReLU fused\n",
                   pos[0], out, w8, qm->quant->qmax, qm->quant->method, qm->quant->samples, ds->source,
                   folded, fused);
        }
    }
    dc_model_free(qm);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}
