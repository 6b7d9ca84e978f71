// fuzz_serve_request.c — libFuzzer harness for deepc serve's request parsing
// (src/serve/request.c): query strings, OIP v2 JSON tensor bodies, image
// bodies dispatched by Content-Type and magic bytes, and the response
// writer on whatever rows parsed. Pure functions: no server, no socket.
//
// Input: byte 0 picks the Content-Type (one of the types below, or none),
// byte 1 the model shape (gray 28x28 or RGB 32x32) and the row limit; the
// rest up to the first 0x00 byte (if any) is the query string, and what
// follows the body. Nothing must crash, leak or read out of bounds; every
// failure must be a 4xx status with a message.
//
// Built like every harness by cmake/fuzz.cmake; run with
//   bash scripts/fuzz.sh 60 serve_request
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "serve/serve.h"

static const char *const types[] = {
    NULL, "application/json", "application/json; charset=utf-8", "image/png", "image/x-portable-graymap",
    "image/jpeg", "application/octet-stream", "text/plain", "IMAGE/PNG", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *ctype = types[data[0] % (sizeof types / sizeof types[0])];
    const bool rgb = data[1] & 1;
    serve_shape sh = {rgb ? 3 : 1, rgb ? 32 : 28, rgb ? 32 : 28, 10, 0.2860f, 0.3530f, 1 + (data[1] >> 1) % 8,
                      1L << 20};
    data += 2, size -= 2;
    const uint8_t *nul = memchr(data, 0, size);
    size_t qlen = nul ? (size_t)(nul - data) : 0;
    const uint8_t *body = nul ? nul + 1 : data;
    size_t blen = nul ? size - qlen - 1 : size;

    char msg[512];
    serve_query q;
    serve_query_init(&q);
    int st = serve_query_parse(&q, (const char *)data, qlen, msg, sizeof msg);
    if (st && st != 400) abort();
    serve_query_init(&q); // the body is parsed whatever the query gave
    serve_input in = {0};
    st = serve_parse_body(&in, &q, &sh, ctype, body, blen, msg, sizeof msg);
    if (st && st != 400 && st != 413 && st != 415) abort();
    if (!st) {
        if (in.rows < 1 || in.rows > sh.max_rows || !in.outputs) abort();
        // the response writer on the parsed rows, their values taken as logits
        const char *labels[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
        float *z = malloc(sizeof(float) * (size_t)in.rows * 10);
        for (int i = 0; z && i < in.rows * 10; i++) z[i] = in.x[i];
        char *json = z ? serve_infer_json("m", 1, in.id, z, in.rows, 10, labels, q.top_k > 0 ? q.top_k : 5, in.outputs)
                       : NULL;
        free(json);
        free(z);
    } else if (!msg[0]) {
        abort(); // every refusal says why
    }
    long w, h;
    (void)serve_image_dims(body, blen, &w, &h);
    serve_input_free(&in);
    return 0;
}
