// main.c — the deepc program: one verb per stage of a model's life,
// dispatched through a {name, function, help} table.
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const dc_verb verbs[] = {
    {"train", cmd_train, "train a model (built-in name or architecture file) on a data set"},
    {"eval", cmd_eval, "accuracy, loss and confusion matrix of a model on a data set"},
    {"predict", cmd_predict, "top-k classes for images (PNG, JPEG, PGM/PPM), folders, CSV or NPY rows"},
    {"audit", cmd_audit, "fairness audit: per-group rates, demographic parity, equalized odds (CSV or built-in groups)"},
    {"federate", cmd_federate, "federated learning (FedAvg/FedProx/FedSGD, secure aggregation, client DP; MPI)"},
    {"explain", cmd_explain, "attribution heatmap (saliency, ig, gradcam, occlusion, lime, kernelshap) for one image"},
    {"visualize", cmd_visualize, "feature maps of every layer and first-layer filters as PNG grids"},
    {"privacy", cmd_privacy, "epsilon of DP-SGD (RDP accountant), or the noise a target epsilon needs"},
    {"report", cmd_report, "one self-contained HTML page: metrics, curves, confusion, calibration, explanations, fairness"},
    {"summary", cmd_summary, "the node table of a model: name, kind, inputs, output shape, parameters, MACs"},
    {"import", cmd_import, "a deepc model from a PyTorch state_dict saved with safetensors, or from an ONNX file"},
    {"serve", cmd_serve, "HTTP inference server (Open Inference Protocol v2): batching, metrics, drift, hot reload"},
    {"surrogate", cmd_surrogate, "an interpretable tree or sparse linear model that mimics the network (fidelity)"},
    {"anonymize", cmd_anonymize, "k-anonymous, l-diverse tables: identifiers dropped or pseudonymised (Mondrian)"},
    {"tune", cmd_tune, "hyperparameter search: random or successive halving (ASHA), parallel trials, resumable journal"},
    {"pretrain", cmd_pretrain, "self-supervised pretraining on unlabelled images: SimCLR, BYOL or SimSiam, kNN monitor"},
    {"finetune", cmd_finetune, "transfer learning: new head, frozen nodes, backbone learning rate, few labels per class"},
    {"quantize", cmd_quantize, "post-training static int8 quantisation (calibrated, BatchNorm folded, ReLU fused)"},
    {"export", cmd_export, "the model as ONNX (fp32, or int8 as QDQ) or as C source for microcontrollers"},
    {"prune", cmd_prune, "structured (channels removed) or unstructured (sparse file) magnitude pruning, with fine-tuning"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f, "usage: deepc VERB [options]   (deepc VERB --help for a verb's options; deepc --version)\n\nverbs:\n");
    for (const dc_verb *v = verbs; v->name; v++) fprintf(f, "  %-10s %s\n", v->name, v->help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        // the library actually linked, and the header this program was built with
        printf("deepc %s\n", dc_version());
        if (strcmp(dc_version(), DC_VERSION)) printf("(built against deepc.h %s)\n", DC_VERSION);
        return 0;
    }
    for (const dc_verb *v = verbs; v->name; v++)
        if (!strcmp(v->name, argv[1])) return v->fn(argc - 1, argv + 1);
    char known[256] = "";
    const char *names[32];
    int n = 0;
    for (const dc_verb *v = verbs; v->name && n < 32; v++) {
        strcat(known, v == verbs ? "" : ", ");
        strcat(known, v->name);
        names[n++] = v->name;
    }
    const char *near = cli_suggest(argv[1], names, n);
    if (near) fprintf(stderr, "deepc: unknown verb '%s': did you mean %s? (see deepc --help)\n", argv[1], near);
    else fprintf(stderr, "deepc: unknown verb '%s' (known: %s; see deepc --help)\n", argv[1], known);
    return 2;
}
