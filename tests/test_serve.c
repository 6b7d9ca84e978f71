// test_serve.c — deepc serve's pure parts and an in-process server.
//
// 1. Query strings: every key, %-decoding, each error.
// 2. Request bodies: OIP v2 JSON tensors (flat, nested, [C,H,W], FP32/FP64/
//    UINT8, several rows, outputs and parameters) equal to what the model
//    would be given directly; every malformed body gets its status (400,
//    413, 415) and a message naming the field; images (PNG, PGM) decode to
//    dc_model_normalise of their pixels; image headers (PNG, PGM, JPEG) give
//    their size before decoding, and a huge declared image is refused.
// 3. Responses: softmax equal to dc_session_predict bit for bit, top-k order.
// 4. Drift: PSI and KS against values worked by hand; a reference made with
//    dc_drift_reference and read back; a window of same-distribution images
//    raises no alarm, inverted and brightened images raise it within one
//    window; the metrics histogram buckets.
// 5. A server on 127.0.0.1 (port 0) over a real socket: every endpoint and
//    status code, a bearer token, the body limit, 8 concurrent keep-alive
//    clients whose answers equal dc_session_predict's (the same top class,
//    probabilities within 1e-6: see probs_equal), hot reload (a new file swaps in, a broken one is refused and
//    the old version keeps serving), and a clean drain.
#define _GNU_SOURCE // strcasestr
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "io/png_write.h"
#include "model/model.h"
#include "serve/serve.h"

static char msg[512];

// ---------------------------------------------------------------------------
// 1. Query strings

static void test_query(void) {
    serve_query q;
    serve_query_init(&q);
    const char *s = "top_k=3&logits=true&probabilities=0&method=ig&target=7&format=png&steps=16&scale=4";
    CHECK(serve_query_parse(&q, s, strlen(s), msg, sizeof msg) == 0, "%s", msg);
    CHECK(q.top_k == 3 && q.logits == 1 && q.probabilities == 0 && q.method == DC_EXPLAIN_IG && q.target == 7 &&
              q.format == 1 && q.steps == 16 && q.scale == 4,
          "parsed values");
    serve_query_init(&q);
    s = "method=%67radcam&&top%5Fk=2&";
    CHECK(serve_query_parse(&q, s, strlen(s), msg, sizeof msg) == 0 && q.method == DC_EXPLAIN_GRADCAM && q.top_k == 2,
          "%%-decoding and empty pairs: %s", msg);
    serve_query_init(&q);
    CHECK(serve_query_parse(&q, "", 0, msg, sizeof msg) == 0 && q.top_k == -1, "empty query");
    const char *bad[] = {"top_k=0", "top_k=abc", "top_k=3&top_k=4", "nope=1", "logits=yes", "top_k", "=3",
                         "method=lime", "format=gif", "top_k=%zz", "top_k=%4", "top_k=1%00", "steps=5000",
                         "target=-1", "top_k= 3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        serve_query_init(&q);
        msg[0] = 0;
        int st = serve_query_parse(&q, bad[i], strlen(bad[i]), msg, sizeof msg);
        CHECK(st == 400 && strstr(msg, "query"), "'%s' -> %d '%s'", bad[i], st, msg);
    }
    // the length bounds the parse: no NUL needed
    serve_query_init(&q);
    CHECK(serve_query_parse(&q, "top_k=2XYZ", 7, msg, sizeof msg) == 0 && q.top_k == 2, "length-bounded");
}

// ---------------------------------------------------------------------------
// 2. Bodies

static serve_shape lenet_shape(int max_rows) {
    serve_shape sh = {1, 28, 28, 10, 0.25f, 0.5f, max_rows, 1L << 22};
    return sh;
}

// A JSON tensor body of rows x 784 values v(r, i); nested = [[[[...]]]].
static char *json_body(int rows, const char *dtype, bool nested, bool chw, double (*v)(int, int)) {
    size_t cap = (size_t)rows * 784 * 24 + 512, len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b + len, cap - len, "{\"id\":\"r1\",\"inputs\":[{\"name\":\"input\",\"shape\":");
    if (chw) len += (size_t)snprintf(b + len, cap - len, "[1,28,28]");
    else len += (size_t)snprintf(b + len, cap - len, "[%d,1,28,28]", rows);
    len += (size_t)snprintf(b + len, cap - len, ",\"datatype\":\"%s\",\"data\":[", dtype);
    for (int r = 0; r < rows; r++) {
        if (nested) len += (size_t)snprintf(b + len, cap - len, "%s[[", r ? "," : "");
        for (int y = 0; y < 28; y++) {
            if (nested) len += (size_t)snprintf(b + len, cap - len, "%s[", y ? "," : "");
            for (int x = 0; x < 28; x++) {
                int i = y * 28 + x;
                bool first = nested ? x == 0 : (r == 0 && i == 0);
                len += (size_t)snprintf(b + len, cap - len, "%s%.9g", first ? "" : ",", v(r, i));
            }
            if (nested) len += (size_t)snprintf(b + len, cap - len, "]");
        }
        if (nested) len += (size_t)snprintf(b + len, cap - len, "]]");
    }
    snprintf(b + len, cap - len, "]}]}");
    return b;
}

static double v_float(int r, int i) { return (float)(0.001 * i - 0.3 + r); }
static double v_pixel(int r, int i) { return (i * 7 + r * 13) % 256; }

static int parse(serve_input *in, serve_query *q, const serve_shape *sh, const char *ct, const char *body) {
    serve_query_init(q);
    msg[0] = 0;
    return serve_parse_body(in, q, sh, ct, (const uint8_t *)body, strlen(body), msg, sizeof msg);
}

static void test_json_bodies(void) {
    serve_input in = {0};
    serve_query q;
    serve_shape sh = lenet_shape(4);
    char *b = json_body(1, "FP32", false, false, v_float);
    CHECK(parse(&in, &q, &sh, "application/json", b) == 0, "%s", msg);
    bool same = in.rows == 1;
    for (int i = 0; same && i < 784; i++) same = in.x[i] == (float)v_float(0, i);
    CHECK(same, "FP32 values are the model input as given");
    CHECK(!strcmp(in.id, "r1") && in.outputs == SERVE_OUT_DEFAULT, "id echoed, default outputs");
    free(b);
    b = json_body(3, "FP32", true, false, v_float);
    CHECK(parse(&in, &q, &sh, "application/json; charset=utf-8", b) == 0 && in.rows == 3, "nested, 3 rows: %s", msg);
    same = true;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 784; i++) same = same && in.x[r * 784 + i] == (float)v_float(r, i);
    CHECK(same, "nested rows flattened row-major");
    free(b);
    b = json_body(1, "FP64", false, true, v_float);
    CHECK(parse(&in, &q, &sh, NULL, b) == 0 && in.rows == 1, "[C,H,W], FP64, no Content-Type: %s", msg);
    free(b);
    b = json_body(2, "UINT8", false, false, v_pixel);
    CHECK(parse(&in, &q, &sh, "application/json", b) == 0, "%s", msg);
    same = true;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 784; i++) {
            float want = (float)v_pixel(r, i) * (1.0f / (255.0f * 0.5f)) - 0.25f / 0.5f;
            same = same && in.x[r * 784 + i] == want;
        }
    CHECK(same, "UINT8 pixels normalised as dc_model_normalise does");
    free(b);
    // outputs and parameters
    const char *sel = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,28,28],\"datatype\":\"UINT8\",\"data\":[%s]}],"
                      "\"outputs\":[{\"name\":\"logits\"},{\"name\":\"top_k_index\"}],\"parameters\":{\"top_k\":2,\"x\":1}}";
    char data[784 * 2 + 8], full[4096];
    for (int i = 0; i < 784; i++) data[2 * i] = '0', data[2 * i + 1] = ',';
    data[2 * 784 - 1] = 0;
    snprintf(full, sizeof full, sel, data);
    CHECK(parse(&in, &q, &sh, "application/json", full) == 0, "%s", msg);
    CHECK(in.outputs == (SERVE_OUT_LOGITS | SERVE_OUT_TOPK_INDEX) && q.top_k == 2, "outputs %u top_k %d", in.outputs,
          q.top_k);
    // errors: (body, status, needle)
    struct { const char *body; int status; const char *needle; } bad[] = {
        {"{\"inputs\":[", 400, "invalid JSON"},
        {"[1,2]", 400, "expected a JSON object"},
        {"{}", 400, "inputs"},
        {"{\"inputs\":[]}", 400, "inputs"},
        {"{\"inputs\":[1]}", 400, "inputs[0]"},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,28,28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "name"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,28,28],\"datatype\":\"INT64\",\"data\":[]}]}", 400, "datatype"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,28,28],\"data\":[]}]}", 400, "datatype"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[3,28,28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "shape"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "shape"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,-28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "shape[3]"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1.5,1,28,28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "shape[0]"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[0,1,28,28],\"datatype\":\"FP32\",\"data\":[]}]}", 400, "rows"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[5,1,28,28],\"datatype\":\"FP32\",\"data\":[]}]}", 413, "rows"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", 400, "3 values"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[\"a\"]}]}", 400, "expected a number"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[1e400]}]}", 400, "finite"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"UINT8\",\"data\":[256]}]}", 400, "UINT8"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"UINT8\",\"data\":[1.5]}]}", 400, "UINT8"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":{}}]}", 400, "data"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[[[[[[1]]]]]]}]}", 400, "nested"},
        {"{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[],\"bogus\":1}]}", 400, "bogus"},
        {"{\"inputs\":[],\"extra\":1}", 400, "extra"},
        {"{\"id\":5,\"inputs\":[]}", 400, "id"},
        {"{\"parameters\":{\"top_k\":0},\"inputs\":[]}", 400, "top_k"},
        {"{\"parameters\":{\"logits\":1},\"inputs\":[]}", 400, "logits"},
        {"{\"inputs\":[]} x", 400, "after the JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = parse(&in, &q, &sh, "application/json", bad[i].body);
        CHECK(st == bad[i].status && strstr(msg, bad[i].needle), "%s -> %d '%s' (want %d '%s')", bad[i].body, st, msg,
              bad[i].status, bad[i].needle);
    }
    // outputs naming nothing known
    snprintf(full, sizeof full,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,28,28],\"datatype\":\"UINT8\",\"data\":[%s]}],"
             "\"outputs\":[{\"name\":\"softmax\"}]}",
             data);
    CHECK(parse(&in, &q, &sh, "application/json", full) == 400 && strstr(msg, "outputs"), "unknown output: %s", msg);
    // a body of many values is refused before cJSON builds a node for each
    size_t n = 200000;
    char *bomb = malloc(2 * n + 64);
    strcpy(bomb, "{\"inputs\":[{\"data\":[");
    size_t l = strlen(bomb);
    for (size_t i = 0; i < n; i++) bomb[l++] = '0', bomb[l++] = ',';
    strcpy(bomb + l - 1, "]}]}");
    CHECK(parse(&in, &q, &sh, "application/json", bomb) == 413 && strstr(msg, "at most"), "value bomb: %s", msg);
    free(bomb);
    CHECK(parse(&in, &q, &sh, "text/plain", "hello") == 415 && strstr(msg, "Content-Type"), "text/plain: %s", msg);
    CHECK(parse(&in, &q, &sh, "application/json", "") == 400, "empty body");
    // query wishes on top of the defaults
    b = json_body(1, "FP32", false, false, v_float);
    serve_query_init(&q);
    q.logits = 1;
    q.probabilities = 0;
    CHECK(serve_parse_body(&in, &q, &sh, "application/json", (const uint8_t *)b, strlen(b), msg, sizeof msg) == 0 &&
              in.outputs == (SERVE_OUT_TOPK | SERVE_OUT_LOGITS),
          "logits=1&probabilities=0 -> %u", in.outputs);
    free(b);
    serve_input_free(&in);
}

static void test_image_bodies(void) {
    serve_input in = {0};
    serve_query q;
    serve_shape sh = lenet_shape(1);
    uint8_t px[784];
    for (int i = 0; i < 784; i++) px[i] = (uint8_t)(i * 5 % 256);
    uint8_t *png;
    size_t len;
    dc_error err;
    CHECK(dc_png_encode(&png, &len, px, 28, 28, 1, &err) == 0, "%s", err.msg);
    serve_query_init(&q);
    CHECK(serve_parse_body(&in, &q, &sh, "image/png", png, len, msg, sizeof msg) == 0 && in.rows == 1 && in.is_image,
          "png: %s", msg);
    bool same = true;
    for (int i = 0; i < 784; i++) same = same && in.x[i] == (float)px[i] * (1.0f / (255.0f * 0.5f)) - 0.5f;
    CHECK(same, "png pixels normalised");
    long w = 0, h = 0;
    CHECK(serve_image_dims(png, len, &w, &h) && w == 28 && h == 28, "png dims %ldx%ld", w, h);
    // the type is decided by the magic bytes: a PNG sent as octet-stream or with no type
    CHECK(serve_parse_body(&in, &q, &sh, "application/octet-stream", png, len, msg, sizeof msg) == 0, "%s", msg);
    CHECK(serve_parse_body(&in, &q, &sh, NULL, png, len, msg, sizeof msg) == 0, "%s", msg);
    // truncated: the decoder's message, 400
    CHECK(serve_parse_body(&in, &q, &sh, "image/png", png, len / 2, msg, sizeof msg) == 400 && strstr(msg, "PNG"),
          "truncated png: %s", msg);
    // a header that declares a huge image is refused before decoding
    uint8_t big[64];
    memcpy(big, png, 33);
    big[16] = 0, big[17] = 1, big[18] = 0, big[19] = 0; // width 65536
    CHECK(serve_parse_body(&in, &q, &sh, "image/png", big, 33, msg, sizeof msg) == 413, "huge png: %s", msg);
    big[17] = 0, big[18] = 0x10; // 4096 x 28 > 1<<22? no: 114688 px, allowed by dims, then decoding fails (truncated)
    CHECK(serve_parse_body(&in, &q, &sh, "image/png", big, 33, msg, sizeof msg) == 400, "truncated big: %s", msg);
    free(png);
    // PGM, with a comment and a 56x56 size (resized)
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "P5\n# c\n56 56\n255\n");
    uint8_t *pgm = malloc((size_t)hl + 56 * 56);
    memcpy(pgm, hdr, (size_t)hl);
    memset(pgm + hl, 200, 56 * 56);
    CHECK(serve_image_dims(pgm, (size_t)hl + 56 * 56, &w, &h) && w == 56 && h == 56, "pgm dims");
    CHECK(serve_parse_body(&in, &q, &sh, "image/x-portable-graymap", pgm, (size_t)hl + 56 * 56, msg, sizeof msg) == 0,
          "pgm: %s", msg);
    CHECK(fabsf(in.x[100] - (200.0f / 127.5f - 0.5f)) < 1e-6f, "pgm resized value %g", in.x[100]);
    free(pgm);
    // JPEG: the size comes from the SOF0 segment (decoding it is another matter)
    const uint8_t jpg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xc0, 0x00, 0x0b,
                           0x08, 0x00, 0x20, 0x00, 0x30, 0x01, 0x01, 0x11, 0x00};
    CHECK(serve_image_dims(jpg, sizeof jpg, &w, &h) && w == 48 && h == 32, "jpeg dims %ldx%ld", w, h);
    const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(serve_parse_body(&in, &q, &sh, "image/png", junk, sizeof junk, msg, sizeof msg) == 415 && strstr(msg, "01 02"),
          "junk: %s", msg);
    CHECK(!serve_image_dims((const uint8_t *)"P5\n", 3, &w, &h), "short pgm header");
    serve_input_free(&in);
}

// ---------------------------------------------------------------------------
// 3. Responses

static dc_model *make_model(uint64_t seed, const dc_dataset *ref) {
    dc_model *m;
    dc_error err;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) {
        printf("%s\n", err.msg);
        exit(2);
    }
    dc_rng r;
    dc_rng_seed(&r, seed);
    dc_model_init_params(m, &r);
    if (ref) {
        dc_model_set_normalisation(m, ref);
        if (dc_drift_reference(m, ref, ref, 1, &err)) {
            printf("%s\n", err.msg);
            exit(2);
        }
    }
    return m;
}

static void test_responses(void) {
    dc_model *m = make_model(5, NULL);
    dc_session *s;
    dc_error err;
    CHECK(dc_session_new(&s, m, 3, 1, &err) == 0, "%s", err.msg);
    float x[3 * 784], probs[30], logits[30], p[10];
    for (int i = 0; i < 3 * 784; i++) x[i] = (float)sin(i * 0.37);
    dc_session_predict(s, x, 3, probs, &err);
    dc_session_logits(s, x, 3, logits, &err);
    bool same = true;
    for (int r = 0; r < 3; r++) {
        serve_softmax(p, logits + r * 10, 10);
        same = same && !memcmp(p, probs + r * 10, sizeof p);
    }
    CHECK(same, "serve_softmax == dc_session_predict bit for bit");
    const char *labels[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    float z[10] = {0, 3, 1, 3, -1, 2, 0, 0, 0, 5};
    char *j = serve_infer_json("m", 2, "x", z, 1, 10, labels, 3, SERVE_OUT_DEFAULT | SERVE_OUT_LOGITS);
    cJSON *o = cJSON_Parse(j);
    CHECK(o != NULL, "valid JSON: %s", j);
    const cJSON *outs = cJSON_GetObjectItem(o, "outputs");
    CHECK(cJSON_GetArraySize(outs) == 5, "5 outputs");
    const cJSON *idx = NULL, *lab = NULL, *pr = NULL;
    for (const cJSON *t = outs ? outs->child : NULL; t; t = t->next) {
        const char *n = cJSON_GetObjectItem(t, "name")->valuestring;
        if (!strcmp(n, "top_k_index")) idx = cJSON_GetObjectItem(t, "data");
        if (!strcmp(n, "top_k_label")) lab = cJSON_GetObjectItem(t, "data");
        if (!strcmp(n, "probabilities")) pr = cJSON_GetObjectItem(t, "data");
    }
    // ties (logits 3 at classes 1 and 3) keep the lower index first
    CHECK(idx && cJSON_GetArrayItem(idx, 0)->valueint == 9 && cJSON_GetArrayItem(idx, 1)->valueint == 1 &&
              cJSON_GetArrayItem(idx, 2)->valueint == 3,
          "top-3 order 9,1,3");
    CHECK(lab && !strcmp(cJSON_GetArrayItem(lab, 0)->valuestring, "j"), "labels");
    serve_softmax(p, z, 10);
    CHECK(pr && (float)cJSON_GetArrayItem(pr, 9)->valuedouble == p[9], "%%.9g reads back to the same float");
    CHECK(!strcmp(cJSON_GetObjectItem(o, "model_version")->valuestring, "2") &&
              !strcmp(cJSON_GetObjectItem(o, "id")->valuestring, "x"),
          "version and id");
    cJSON_Delete(o);
    free(j);
    char *e = serve_error_json("bad \"thing\"\n");
    CHECK(e && !strcmp(e, "{\"error\":\"bad \\\"thing\\\"\\n\"}"), "error JSON escaped: %s", e);
    free(e);
    dc_session_free(s);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// 4. Drift

static void test_distances(void) {
    // PSI by hand: a = (30, 70) of 100, b = (50, 50) of 100, half-count smoothing:
    // p = (30.5/101, 70.5/101), q = (50.5/101, 50.5/101)
    double a[2] = {30, 70}, b[2] = {50, 50};
    double p0 = 30.5 / 101, p1 = 70.5 / 101, q0 = 50.5 / 101, q1 = 50.5 / 101;
    double want = (p0 - q0) * log(p0 / q0) + (p1 - q1) * log(p1 / q1);
    CHECK(fabs(serve_psi(a, 100, b, 100, 2) - want) < 1e-12, "psi %g want %g", serve_psi(a, 100, b, 100, 2), want);
    CHECK(serve_psi(b, 100, b, 100, 2) == 0.0, "psi of equal histograms is 0");
    double c[3] = {0, 0, 10}, d[3] = {10, 0, 0};
    CHECK(fabs(serve_ks(c, 10, d, 10, 3) - 1.0) < 1e-12, "ks of disjoint = 1");
    double e1[4] = {1, 2, 3, 4}, e2[4] = {2, 2, 2, 4};
    // cdfs: .1 .3 .6 1 vs .2 .4 .6 1 -> 0.1
    CHECK(fabs(serve_ks(e1, 10, e2, 10, 4) - 0.1) < 1e-12, "ks by hand %g", serve_ks(e1, 10, e2, 10, 4));
    CHECK(serve_psi(c, 10, d, 10, 3) > 1.0, "psi of disjoint is large");
    // metrics buckets: le is inclusive
    serve_hist h;
    memset(&h, 0, sizeof h);
    serve_hist_observe_seconds(&h, 50e-6);
    serve_hist_observe_seconds(&h, 51e-6);
    serve_hist_observe_seconds(&h, 5.0);
    serve_hist_observe_count(&h, 32, serve_batch_bounds, SERVE_BATCH_BUCKETS);
    CHECK(h.bucket[0] == 1 && h.bucket[1] == 1 && h.bucket[SERVE_LAT_BUCKETS] == 1 && h.count == 4, "buckets");
    serve_text t = {0};
    serve_hist h2;
    memset(&h2, 0, sizeof h2);
    serve_hist_observe_count(&h2, 3, serve_batch_bounds, SERVE_BATCH_BUCKETS);
    serve_hist_observe_count(&h2, 32, serve_batch_bounds, SERVE_BATCH_BUCKETS);
    serve_hist_write(&t, "x", "model=\"m\"", &h2, serve_batch_bounds, SERVE_BATCH_BUCKETS, false);
    CHECK(t.s && strstr(t.s, "x_bucket{model=\"m\",le=\"4\"} 1\n") && strstr(t.s, "x_bucket{model=\"m\",le=\"32\"} 2\n") &&
              strstr(t.s, "x_bucket{model=\"m\",le=\"+Inf\"} 2\n") && strstr(t.s, "x_sum{model=\"m\"} 35\n") &&
              strstr(t.s, "x_count{model=\"m\"} 2\n"),
          "cumulative exposition: %s", t.s);
    serve_text_free(&t);
    serve_text_label(&t, "a\"b\\c\nd");
    CHECK(t.s && !strcmp(t.s, "a\\\"b\\\\c\\nd"), "label escaping: %s", t.s);
    serve_text_free(&t);
}

static void feed(serve_drift *d, dc_model *m, dc_session *s, const dc_dataset *ds, int from, int n, int mode,
                 int *flips) {
    float x[784], p[10];
    serve_sample_stats st;
    serve_drift_report rep;
    for (int i = 0; i < n; i++) {
        uint8_t px[784];
        const uint8_t *src = ds->pixels + (size_t)((from + i) % ds->n) * 784;
        for (int j = 0; j < 784; j++) {
            int v = src[j];
            if (mode == 1) v = 255 - v;                      // inverted
            if (mode == 2) v = v + 60 > 255 ? 255 : v + 60; // brighter
            px[j] = (uint8_t)v;
        }
        dc_model_normalise(m, x, px, 784);
        dc_error err;
        dc_session_predict(s, x, 1, p, &err);
        serve_sample_stats_compute(&st, x, 1, 28, 28, m->norm_mean[0], m->norm_std[0], p, 10);
        int f = serve_drift_add(d, &st, 1, &rep);
        if (f) flips[f > 0]++;
    }
}

static void test_drift(void) {
    dc_dataset train, test;
    dc_test_make_data(&train, 3000, 10, 11);
    dc_test_make_data(&test, 3000, 10, 12);
    dc_model *m = make_model(3, &train);
    const char *ref = dc_model_info(m, "reference");
    CHECK(ref != NULL, "dc_drift_reference stored a record");
    serve_reference r;
    dc_error err;
    CHECK(serve_reference_parse(&r, ref, 1, 10, &err) == 0, "%s", err.msg);
    double s = 0;
    for (int i = 0; i < SERVE_PIX_BINS; i++) s += r.pix[i];
    CHECK(fabs(s - 1) < 1e-9 && r.has_input && r.has_eval && r.n_input == 3000, "fractions sum to 1");
    // the pixel mean equals the normalisation mean computed by the model
    CHECK(fabs(r.ch_mean[0] - m->norm_mean[0]) < 1e-6 && fabs(r.ch_std[0] - m->norm_std[0]) < 1e-5, "mean %g/%g std %g/%g",
          r.ch_mean[0], m->norm_mean[0], r.ch_std[0], m->norm_std[0]);
    serve_reference_free(&r);
    CHECK(serve_reference_parse(&r, "{\"input\":{\"n\":1}}", 1, 10, &err) == DC_ERR_FORMAT, "malformed record refused");
    CHECK(serve_reference_parse(&r, "[]", 1, 10, &err) == DC_ERR_FORMAT, "not an object");
    // the window
    dc_session *ses;
    dc_session_new(&ses, m, 1, 1, &err);
    serve_drift d;
    CHECK(serve_drift_init(&d, ref, 500, 0.2, 0.1, 1, 784, 10, &err) == 0 && d.available, "init");
    int flips[2] = {0, 0};
    feed(&d, m, ses, &test, 0, 1500, 0, flips);
    serve_drift_report rep;
    serve_drift_report_get(&d, &rep);
    CHECK(rep.full && !rep.alarm && flips[1] == 0, "same distribution: no alarm (psi %g %g %g %g, ks %g %g)",
          rep.psi_pixel, rep.psi_image_mean, rep.psi_prediction, rep.psi_confidence, rep.ks_image_mean,
          rep.ks_confidence);
    CHECK(rep.psi_image_mean < 5 * rep.psi_noise + 0.02, "psi near its noise floor: %g vs %g", rep.psi_image_mean,
          rep.psi_noise);
    feed(&d, m, ses, &test, 0, 500, 1, flips);
    serve_drift_report_get(&d, &rep);
    CHECK(rep.alarm && flips[1] == 1 && rep.alarms == 1, "inverted images: alarm within one window (psi pixel %g)",
          rep.psi_pixel);
    char *j = serve_drift_json(&d, "m", 1);
    cJSON *o = cJSON_Parse(j);
    CHECK(o && cJSON_IsTrue(cJSON_GetObjectItem(o, "alarm")) &&
              cJSON_GetObjectItem(cJSON_GetObjectItem(o, "input"), "psi_pixel_intensity")->valuedouble > 0.2,
          "drift JSON: %s", j);
    cJSON_Delete(o);
    free(j);
    feed(&d, m, ses, &test, 0, 500, 0, flips);
    serve_drift_report_get(&d, &rep);
    CHECK(!rep.alarm && flips[0] == 1, "back to normal: the alarm clears");
    feed(&d, m, ses, &test, 500, 500, 2, flips);
    serve_drift_report_get(&d, &rep);
    CHECK(rep.alarm && rep.ch_shift[0] > 0.5, "brighter images: alarm, mean shift %g std", rep.ch_shift[0]);
    serve_drift_free(&d);
    // a model without a reference: unavailable, with the reason
    CHECK(serve_drift_init(&d, NULL, 100, 0.2, 0.1, 1, 784, 10, &err) == 0 && !d.available && strstr(d.why, "reference"),
          "no reference");
    j = serve_drift_json(&d, "m", 1);
    CHECK(j && strstr(j, "\"available\":false") && strstr(j, "reason"), "%s", j);
    free(j);
    serve_drift_free(&d);
    // the record survives a save and load
    char path[512];
    snprintf(path, sizeof path, "%s/ref.safetensors", dc_test_tmpdir());
    CHECK(dc_model_save(m, path, &err) == 0, "%s", err.msg);
    dc_model *m2;
    CHECK(dc_model_load(&m2, path, &err) == 0 && dc_model_info(m2, "reference") &&
              !strcmp(dc_model_info(m2, "reference"), ref),
          "reference saved and loaded");
    dc_model_free(m2);
    dc_session_free(ses);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
}

// dc_train stores the reference at the end of its last epoch
static void test_train_reference(void) {
    dc_dataset tr, te;
    dc_test_make_data(&tr, 256, 4, 1);
    dc_test_make_data(&te, 128, 4, 2);
    dc_model *m;
    dc_error err;
    dc_model_builtin(&m, "mlp", 1, 28, 28, 4, &err);
    dc_rng r;
    dc_rng_seed(&r, 1);
    dc_model_init_params(m, &r);
    dc_model_set_normalisation(m, &tr);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 1;
    cfg.lr = 0.01f;
    cfg.nthreads = 1;
    CHECK(dc_train(m, &tr, &te, &cfg, NULL, NULL, &err) == 0, "%s", err.msg);
    const char *ref = dc_model_info(m, "reference");
    CHECK(ref && strstr(ref, "\"n\":256") && strstr(ref, "\"n\":128"), "train: inputs from the training set, eval from held-out: %.200s", ref ? ref : "(none)");
    dc_model_free(m);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
}

// ---------------------------------------------------------------------------
// 5. A server over a real socket

typedef struct http_resp {
    int status;
    char headers[2048];
    char *body;
    size_t len;
} http_resp;

// DEEPC_TEST_SLOW=K (scripts/sanitize.sh: 5) stretches the client's waits
static int slow_factor(void) {
    const char *v = getenv("DEEPC_TEST_SLOW");
    int k = v ? atoi(v) : 1;
    return k >= 1 && k <= 100 ? k : 1;
}

static int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10 * slow_factor(), 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

// Sends one request on fd and reads one response (Content-Length framed).
static int http_rt(int fd, const char *method, const char *path, const char *extra, const void *body, size_t blen,
                   http_resp *r) {
    char head[1024];
    int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n", method, path,
                      extra ? extra : "", blen);
    if (write(fd, head, (size_t)hl) != hl) return -1;
    if (blen && write(fd, body, blen) != (ssize_t)blen) return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    long want = -1;
    size_t hend = 0;
    for (;;) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
        if (!hend) {
            char *e = strstr(buf, "\r\n\r\n");
            if (!e) continue;
            hend = (size_t)(e - buf) + 4;
            char *cl = strcasestr(buf, "Content-Length:");
            want = cl && cl < e ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (hend && len >= hend + (size_t)want) break;
    }
    memset(r, 0, sizeof *r);
    if (!hend) {
        free(buf);
        return -1;
    }
    r->status = (int)strtol(buf + 9, NULL, 10);
    snprintf(r->headers, sizeof r->headers, "%.*s", (int)hend, buf);
    r->len = len - hend;
    r->body = malloc(r->len + 1);
    memcpy(r->body, buf + hend, r->len);
    r->body[r->len] = 0;
    free(buf);
    return 0;
}

static int http1(int port, const char *method, const char *path, const char *extra, const void *body, size_t blen,
                 http_resp *r) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    int st = http_rt(fd, method, path, extra, body, blen, r);
    close(fd);
    return st;
}

static void expect(int port, const char *method, const char *path, const char *extra, const char *body, int status,
                   const char *needle) {
    http_resp r;
    int st = http1(port, method, path, extra, body, body ? strlen(body) : 0, &r);
    CHECK(st == 0 && r.status == status && (!needle || strstr(r.body, needle) || strstr(r.headers, needle)),
          "%s %s -> %d (want %d, '%s'): %.300s", method, path, st ? -1 : r.status, status, needle ? needle : "",
          st ? "" : r.body);
    if (!st) free(r.body);
}

typedef struct client_arg {
    int port, id, n, bad;
    const float *x;     // (pool, 784)
    const float *want;  // (pool, 10) probabilities from dc_session_predict
    int pool;
} client_arg;

// Reads "probabilities" of a response and compares them with want: the same
// top class, each probability within 1e-6. (Not bit for bit: LeNet-5's
// convolution kernels give logits that differ in the last bit between batch
// sizes, about 3e-8, so a request batched with others can differ from the
// same request alone by that much.)
static bool probs_equal(const char *body, const float *want, int rows) {
    cJSON *o = cJSON_Parse(body);
    bool ok = false;
    const cJSON *outs = o ? cJSON_GetObjectItem(o, "outputs") : NULL;
    for (const cJSON *t = outs ? outs->child : NULL; t; t = t->next)
        if (!strcmp(cJSON_GetObjectItem(t, "name")->valuestring, "probabilities")) {
            const cJSON *d = cJSON_GetObjectItem(t, "data");
            ok = cJSON_GetArraySize(d) == rows * 10;
            int i = 0, best = 0, wbest = 0;
            for (const cJSON *e = d->child; ok && e; e = e->next, i++) {
                ok = fabs(e->valuedouble - want[i]) <= 1e-6;
                if (i % 10 == 0) best = wbest = i;
                if (e->valuedouble > cJSON_GetArrayItem(d, best)->valuedouble) best = i;
                if (want[i] > want[wbest]) wbest = i;
                if (i % 10 == 9) ok = ok && best == wbest;
            }
        }
    cJSON_Delete(o);
    return ok;
}

static char *fp32_body(const float *x, int rows) {
    size_t cap = (size_t)rows * 784 * 18 + 256, l = 0;
    char *b = malloc(cap);
    l += (size_t)snprintf(b, cap, "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,1,28,28],\"datatype\":\"FP32\",\"data\":[", rows);
    for (int i = 0; i < rows * 784; i++) l += (size_t)snprintf(b + l, cap - l, "%s%.9g", i ? "," : "", (double)x[i]);
    snprintf(b + l, cap - l, "]}]}");
    return b;
}

static void *client_main(void *p) {
    client_arg *a = p;
    int fd = http_connect(a->port);
    for (int i = 0; i < a->n; i++) {
        int k = (a->id * 7 + i * 3) % a->pool, rows = 1 + (i % 3 == 2);
        if (k + rows > a->pool) k = 0;
        char *b = fp32_body(a->x + (size_t)k * 784, rows);
        http_resp r;
        if (fd < 0 || http_rt(fd, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", b, strlen(b), &r)) {
            a->bad++;
            free(b);
            if (fd >= 0) close(fd);
            fd = http_connect(a->port);
            continue;
        }
        if (r.status != 200 || !probs_equal(r.body, a->want + (size_t)k * 10, rows)) a->bad++;
        free(r.body);
        free(b);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

typedef struct drain_arg {
    int port;
    const uint8_t *png;
    size_t len;
    int status;
} drain_arg;

static void *drain_client(void *p) {
    drain_arg *a = p;
    http_resp r;
    // integrated gradients with 1024 steps: long enough to be in flight when the stop begins
    if (!http1(a->port, "POST", "/v2/models/m/explain?method=ig&steps=1024", "Content-Type: image/png\r\n", a->png,
               a->len, &r)) {
        a->status = r.status;
        free(r.body);
    }
    return NULL;
}

static void on_log(void *user, dc_log_level level, const char *line) {
    (void)user;
    if (getenv("SERVE_TEST_VERBOSE")) printf("  [log %d] %s\n", level, line);
}

static bool wait_for(int port, const char *path, const char *needle, double seconds) {
    double end = dc_now_seconds() + seconds;
    while (dc_now_seconds() < end) {
        http_resp r;
        if (!http1(port, "GET", path, NULL, NULL, 0, &r)) {
            bool hit = strstr(r.body, needle) != NULL;
            free(r.body);
            if (hit) return true;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_server(void) {
    dc_dataset ds;
    dc_test_make_data(&ds, 600, 10, 21);
    dc_model *ma = make_model(1, &ds), *mb = make_model(2, &ds);
    char dir[512], path[600], tmp[700];
    snprintf(dir, sizeof dir, "%s/models", dc_test_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    dc_error err;
    CHECK(dc_model_save(ma, path, &err) == 0, "%s", err.msg);
    dc_serve_config cfg = dc_serve_config_default();
    cfg.model_path = dir;
    cfg.port = 0;
    cfg.workers = 2;
    cfg.max_batch = 8;
    cfg.max_body = 64 << 10;
    cfg.watch = true;
    cfg.watch_interval_ms = 50;
    cfg.drift_window = 50;
    cfg.log = on_log;
    dc_server *srv;
    dc_status st = dc_server_start(&srv, &cfg, &err);
    CHECK(st == 0, "start: %s", err.msg);
    if (st) return;
    const int port = dc_server_port(srv);
    CHECK(port > 0, "port %d", port);
    // every endpoint
    expect(port, "GET", "/v2/health/live", NULL, NULL, 200, "\"live\":true");
    expect(port, "GET", "/v2/health/ready", NULL, NULL, 200, "\"ready\":true");
    expect(port, "GET", "/v2", NULL, NULL, 200, "\"models\":[\"m\"]");
    expect(port, "GET", "/v2/models/m", NULL, NULL, 200, "\"shape\":[-1,1,28,28]");
    expect(port, "GET", "/v2/models/m/versions/1", NULL, NULL, 200, "\"versions\":[\"1\"]");
    expect(port, "GET", "/v2/models/m/versions/7", NULL, NULL, 404, "version 7");
    expect(port, "GET", "/v2/models/m/ready", NULL, NULL, 200, "\"ready\":true");
    expect(port, "GET", "/v2/models/m/drift", NULL, NULL, 200, "\"available\":true");
    expect(port, "GET", "/v2/models/nope", NULL, NULL, 404, "unknown model");
    expect(port, "GET", "/v2/models/m/nope", NULL, NULL, 404, "no such endpoint");
    expect(port, "GET", "/elsewhere", NULL, NULL, 404, "\"error\"");
    expect(port, "GET", "/v2/models/m/infer", NULL, NULL, 405, "Allow: POST");
    expect(port, "POST", "/metrics", NULL, "x", 405, "GET");
    expect(port, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", "{bad", 400, "invalid JSON");
    expect(port, "POST", "/v2/models/m/infer", "Content-Type: text/plain\r\n", "hi", 415, "Content-Type");
    expect(port, "POST", "/v2/models/m/infer?top_k=0", "Content-Type: application/json\r\n", "{}", 400, "top_k");
    // infer: JSON and image bodies, equal to the session's answer
    dc_session *ses;
    dc_session_new(&ses, ma, 4, 1, &err);
    const int pool = 16;
    float *x = malloc(sizeof(float) * pool * 784), *want = malloc(sizeof(float) * pool * 10);
    for (int i = 0; i < pool; i++) dc_model_normalise(ma, x + i * 784, ds.pixels + (size_t)i * 784, 784);
    for (int i = 0; i < pool; i += 4) dc_session_predict(ses, x + i * 784, 4, want + i * 10, &err);
    char *b = fp32_body(x, 2);
    http_resp r;
    CHECK(http1(port, "POST", "/v2/models/m/infer?logits=true", "Content-Type: application/json\r\n", b, strlen(b), &r) == 0 &&
              r.status == 200 && probs_equal(r.body, want, 2) && strstr(r.body, "\"logits\""),
          "2-row infer equals dc_session_predict: %.200s", r.body);
    free(r.body);
    free(b);
    uint8_t *png;
    size_t plen;
    dc_png_encode(&png, &plen, ds.pixels, 28, 28, 1, &err);
    CHECK(http1(port, "POST", "/v2/models/m/infer", "Content-Type: image/png\r\n", png, plen, &r) == 0 && r.status == 200 &&
              probs_equal(r.body, want, 1),
          "PNG infer: %.200s", r.body);
    free(r.body);
    // explain: JSON and PNG
    CHECK(http1(port, "POST", "/v2/models/m/explain?method=ig&steps=8", "Content-Type: image/png\r\n", png, plen, &r) == 0 &&
              r.status == 200 && strstr(r.body, "\"attribution\"") && strstr(r.body, "\"shape\":[1,28,28]"),
          "explain ig: %.200s", r.body);
    free(r.body);
    CHECK(http1(port, "POST", "/v2/models/m/explain?method=gradcam&format=png", "Content-Type: image/png\r\n", png, plen,
                &r) == 0 &&
              r.status == 200 && strstr(r.headers, "image/png") && r.len > 8 && !memcmp(r.body, "\x89PNG", 4),
          "explain gradcam png: %d %.100s", r.status, r.headers);
    free(r.body);
    CHECK(http1(port, "POST", "/v2/models/m/explain?target=10", "Content-Type: image/png\r\n", png, plen, &r) == 0 &&
              r.status == 400 && strstr(r.body, "target"),
          "explain bad target: %.200s", r.body);
    free(r.body);
    // over the body limit: by Content-Length, before the body is read
    char *big = calloc(1, 70 << 10);
    memset(big, ' ', 70 << 10);
    CHECK(http1(port, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", big, 70 << 10, &r) == 0 &&
              r.status == 413 && strstr(r.body, "limit"),
          "413: %d %.200s", r.status, r.body);
    free(r.body);
    free(big);
    // 8 concurrent keep-alive clients, 1- and 2-row requests mixed
    pthread_t th[8];
    client_arg ca[8];
    for (int i = 0; i < 8; i++) {
        ca[i] = (client_arg){port, i, 60, 0, x, want, pool};
        pthread_create(&th[i], NULL, client_main, &ca[i]);
    }
    int badn = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        badn += ca[i].bad;
    }
    CHECK(badn == 0, "concurrent clients: %d of 480 answers wrong or failed", badn);
    CHECK(http1(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && r.status == 200, "metrics");
    CHECK(strstr(r.body, "deepc_requests_total{model=\"m\",endpoint=\"infer\",code=\"200\"}") &&
              strstr(r.body, "deepc_batch_size_bucket{model=\"m\",le=\"8\"}") &&
              strstr(r.body, "deepc_drift_psi{model=\"m\",statistic=\"pixel_intensity\"}") &&
              strstr(r.body, "deepc_workers 2") && strstr(r.body, "deepc_max_batch 8") && strstr(r.body, "deepc_inline 0\n") &&
              strstr(r.body, "deepc_requests_total{model=\"m\",endpoint=\"infer\",code=\"413\"} 1") &&
              strstr(r.body, "deepc_model_version{model=\"m\"} 1"),
          "metrics content");
    free(r.body);
    // --inline: the same answers from a server that runs lone one-row
    // requests on its HTTP thread (a sequential client always finds the
    // queue empty: every one of its requests runs inline), under the same
    // 8 concurrent clients too
    {
        dc_serve_config ic = cfg;
        ic.inline_run = true;
        ic.watch = false;
        dc_server *isrv;
        CHECK(dc_server_start(&isrv, &ic, &err) == 0, "start --inline: %s", err.msg);
        const int iport = dc_server_port(isrv);
        int ok = 1;
        for (int i = 0; i < 20; i++) {
            char *bi = fp32_body(x + (i % pool) * 784, 1);
            ok &= http1(iport, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", bi, strlen(bi), &r) == 0 &&
                  r.status == 200 && probs_equal(r.body, want + (i % pool) * 10, 1);
            free(r.body);
            free(bi);
        }
        CHECK(ok, "--inline: sequential one-row answers equal dc_session_predict");
        CHECK(http1(iport, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && strstr(r.body, "deepc_inline_runs_total{model=\"m\"} 20") &&
                  strstr(r.body, "deepc_inline 1\n"),
              "--inline: the 20 sequential requests ran inline: %.100s", strstr(r.body ? r.body : "", "deepc_inline"));
        free(r.body);
        for (int i = 0; i < 8; i++) {
            ca[i] = (client_arg){iport, i, 60, 0, x, want, pool};
            pthread_create(&th[i], NULL, client_main, &ca[i]);
        }
        badn = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(th[i], NULL);
            badn += ca[i].bad;
        }
        CHECK(badn == 0, "--inline, concurrent clients: %d of 480 answers wrong or failed", badn);
        CHECK(dc_server_stop(isrv, 10.0) == 0, "--inline: clean stop");
    }
    // hot reload: model b replaces a (atomic rename), answers change to b's
    CHECK(dc_model_save(mb, path, &err) == 0, "%s", err.msg);
    CHECK(wait_for(port, "/metrics", "deepc_model_version{model=\"m\"} 2", 30.0), "reloaded as version 2");
    dc_session *sb;
    dc_session_new(&sb, mb, 4, 1, &err);
    float wb[40];
    dc_session_predict(sb, x, 4, wb, &err);
    b = fp32_body(x, 4);
    CHECK(http1(port, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", b, strlen(b), &r) == 0 &&
              r.status == 200 && probs_equal(r.body, wb, 4) && strstr(r.body, "\"model_version\":\"2\""),
          "answers from model b: %.200s", r.body);
    free(r.body);
    // a broken file is refused; version 2 keeps serving
    snprintf(tmp, sizeof tmp, "%s/broken.tmp", dc_test_tmpdir());
    FILE *f = fopen(tmp, "wb");
    fputs("not a model", f);
    fclose(f);
    rename(tmp, path);
    CHECK(wait_for(port, "/metrics", "deepc_model_reloads_total{model=\"m\",result=\"error\"} 1", 30.0),
          "broken file counted as a failed reload");
    CHECK(http1(port, "POST", "/v2/models/m/infer", "Content-Type: application/json\r\n", b, strlen(b), &r) == 0 &&
              r.status == 200 && probs_equal(r.body, wb, 4) && strstr(r.body, "\"model_version\":\"2\""),
          "still version 2 after the broken file");
    free(r.body);
    CHECK(http1(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && strstr(r.body, "deepc_model_reload_error{model=\"m\",message=\"") &&
              strstr(r.body, "\"} 1\n"),
          "the reload error is in /metrics");
    free(r.body);
    free(b);
    // SIGTERM's path: a slow request in flight when the stop begins is still answered.
    // A worker decrements the suspended count just after it resumes a connection, so the
    // previous request's count can still be there when its client already has the answer:
    // wait for it to settle, or the drain below could start before this request is sent.
    for (int i = 0; i < 30000 * slow_factor() && atomic_load(&((serve_server *)srv)->suspended) != 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&((serve_server *)srv)->suspended) == 0, "no request suspended before the slow one");
    drain_arg da = {port, png, plen, 0};
    pthread_t dt;
    pthread_create(&dt, NULL, drain_client, &da);
    for (int i = 0; i < 30000 * slow_factor() && atomic_load(&((serve_server *)srv)->suspended) == 0; i++) { // up to 30 s under load
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&((serve_server *)srv)->suspended) == 1, "the slow request is in flight");
    // (a generous drain: 1024 IG steps take seconds under ASan on a loaded machine)
    CHECK(dc_server_stop(srv, 120.0) == 0, "clean drain");
    pthread_join(dt, NULL);
    CHECK(da.status == 200, "the request in flight during the stop was answered: %d", da.status);
    // a token: required everywhere but health
    char tokpath[600];
    snprintf(tokpath, sizeof tokpath, "%s/m.safetensors", dir);
    dc_model_save(ma, tokpath, &err);
    cfg.model_path = tokpath;
    cfg.watch = false;
    cfg.token = "s3cret-token-123";
    st = dc_server_start(&srv, &cfg, &err);
    CHECK(st == 0, "%s", err.msg);
    if (!st) {
        int p2 = dc_server_port(srv);
        expect(p2, "GET", "/v2/health/ready", NULL, NULL, 200, "ready");
        expect(p2, "GET", "/v2/models/m", NULL, NULL, 401, "WWW-Authenticate: Bearer");
        expect(p2, "GET", "/v2/models/m", "Authorization: Bearer wrong\r\n", NULL, 401, "token");
        expect(p2, "GET", "/v2/models/m", "Authorization: Bearer s3cret-token-1234\r\n", NULL, 401, "token");
        expect(p2, "GET", "/v2/models/m", "Authorization: Bearer s3cret-token-123\r\n", NULL, 200, "\"name\":\"m\"");
        expect(p2, "GET", "/metrics", "Authorization: bearer s3cret-token-123\r\n", NULL, 200, "deepc_requests_total");
        CHECK(dc_server_stop(srv, 5.0) == 0, "clean drain");
    }
    // configuration errors
    cfg.token = NULL;
    cfg.host = "0.0.0.0";
    CHECK(dc_server_start(&srv, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "token"), "non-loopback without a token: %s",
          err.msg);
    cfg.host = "127.0.0.1";
    cfg.max_batch = 0;
    CHECK(dc_server_start(&srv, &cfg, &err) == DC_ERR_ARG && strstr(err.msg, "--max-batch"), "%s", err.msg);
    cfg.max_batch = 8;
    cfg.model_path = "/nonexistent/model.safetensors";
    CHECK(dc_server_start(&srv, &cfg, &err) == DC_ERR_IO, "missing model: %s", err.msg);
    free(png);
    free(x);
    free(want);
    dc_session_free(ses);
    dc_session_free(sb);
    dc_model_free(ma);
    dc_model_free(mb);
    dc_dataset_free(&ds);
}

int main(void) {
    test_query();
    test_json_bodies();
    test_image_bodies();
    test_responses();
    test_distances();
    test_drift();
    test_train_reference();
    test_server();
    return dc_test_finish();
}
