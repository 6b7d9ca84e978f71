// import.c — `deepc import STATE.safetensors --arch NAME|FILE --out M`:
// a complete deepc model from a plain PyTorch state_dict saved with
// safetensors (safetensors.torch.save_file(model.state_dict(), path)). The
// architecture says which tensors to expect (deepc's built-ins use
// PyTorch's names: torchvision's for the ResNets); the input shape, class
// count and normalisation are what the state_dict cannot tell: normalisation
// must be given (--mean/--std) or explicitly declined (--no-norm), since a
// model evaluated with the wrong one silently loses accuracy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define VERB "import"

int cmd_import(int argc, char **argv) {
    const char *arch = NULL, *input = "1,28,28", *out = NULL;
    int classes = 10;
    float mean = 0, std = 1;
    bool no_norm = false, help = false;
    dc_opt opts[] = {
        {"arch", OPT_STR, &arch, "built-in name or architecture file the tensors belong to (required)"},
        {"input", OPT_STR, &input, "C,H,W input shape [1,28,28]"},
        {"classes", OPT_INT, &classes, "number of classes [10]"},
        {"mean", OPT_FLOAT, &mean, "input normalisation: mean of the [0,1] pixels the model was trained with"},
        {"std", OPT_FLOAT, &std, "input normalisation: their standard deviation"},
        {"no-norm", OPT_FLAG, &no_norm, "the model takes [0,1] pixels as they are (mean 0, std 1)"},
        {"out", OPT_STR, &out, "the deepc model file to write (required)"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[2];
    int n_pos = 0;
    const char *syn = "STATE.safetensors --arch NAME|FILE (--mean M --std S | --no-norm) [--input C,H,W] [--classes K] --out M.safetensors";
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, VERB) || help) {
        if (help) cli_usage(VERB, syn, opts);
        return help ? 0 : 2;
    }
    if (n_pos != 1 || !arch || !out) {
        fprintf(stderr, "deepc %s: needs one state_dict file, --arch and --out (deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    bool have_norm = cli_find(opts, "mean")->seen || cli_find(opts, "std")->seen;
    if (have_norm == no_norm || (have_norm && !(cli_find(opts, "mean")->seen && cli_find(opts, "std")->seen))) {
        fprintf(stderr, "deepc %s: give the normalisation the model was trained with (--mean M --std S), or --no-norm "
                        "if it takes [0,1] pixels as they are\n", VERB);
        return 2;
    }
    if (have_norm && !(std > 0)) {
        fprintf(stderr, "deepc %s: --std %g: must be > 0\n", VERB, std);
        return 2;
    }
    int c, h, w;
    char tail;
    if (sscanf(input, "%d,%d,%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1) {
        fprintf(stderr, "deepc %s: --input '%s': expected C,H,W such as 1,28,28\n", VERB, input);
        return 2;
    }
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_create(&m, arch, c, h, w, classes, &err)) return cli_fail(VERB, &err);
    int rc = 0;
    if (dc_model_load_state_dict(m, pos[0], &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        dc_model_set_normalisation_values(m, have_norm ? mean : 0.0f, have_norm ? std : 1.0f);
        if (dc_model_save(m, out, &err)) rc = cli_fail(VERB, &err);
        else printf("imported %zu parameters into %s (%s, input %dx%dx%d, %d classes)\n", dc_model_num_params(m), out,
                    arch, c, h, w, classes);
    }
    dc_model_free(m);
    return rc;
}
