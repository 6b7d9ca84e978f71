// csprng.c — see csprng.h. The keystream is ChaCha20 from libsodium, never a
// statistical generator: DP's guarantee assumes the noise is unpredictable.
#include <math.h>
#include <sodium.h>
#include <string.h>
#include "core/core.h"
#include "privacy/csprng.h"

static void refill(dc_csprng *r) {
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint64_t b = r->block++;
    for (int i = 0; i < 8 && i < (int)sizeof nonce; i++) nonce[i] = (uint8_t)(b >> (8 * i));
    crypto_stream_chacha20(r->buf, sizeof r->buf, nonce, r->key);
    r->pos = 0;
}

dc_status dc_csprng_init(dc_csprng *r, bool seeded, uint64_t seed, dc_error *err) {
    memset(r, 0, sizeof *r);
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "libsodium failed to initialise");
    r->seeded = seeded;
    if (seeded) {
        uint8_t s[8];
        for (int i = 0; i < 8; i++) s[i] = (uint8_t)(seed >> (8 * i));
        crypto_generichash(r->key, sizeof r->key, s, sizeof s, (const uint8_t *)"deepc-dp-noise", 14);
    } else {
        randombytes_buf(r->key, sizeof r->key);
    }
    refill(r);
    return DC_OK;
}

uint64_t dc_csprng_u64(dc_csprng *r) {
    if (r->pos + 8 > sizeof r->buf) refill(r);
    uint64_t v;
    memcpy(&v, r->buf + r->pos, 8);
    r->pos += 8;
    return v;
}

double dc_csprng_uniform(dc_csprng *r) {
    return ((double)(dc_csprng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double dc_csprng_normal(dc_csprng *r) {
    // Box-Muller gives two independent normals per pair of uniforms; keeping
    // the second halves the log/sqrt/trig work (DP noise draws one per parameter)
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = dc_csprng_uniform(r), u2 = dc_csprng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->has_spare = true;
    return rad * cos(th);
}

void dc_csprng_wipe(dc_csprng *r) { sodium_memzero(r, sizeof *r); }
