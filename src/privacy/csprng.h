// csprng.h — a cryptographically secure generator for DP noise and Poisson
// sampling: ChaCha20 (libsodium) keyed from the OS (randombytes) by default,
// or from a seed for reproducible tests (and then the model says so).
#ifndef DC_CSPRNG_H
#define DC_CSPRNG_H

#include <stdbool.h>
#include <stdint.h>
#include "deepc.h"

typedef struct dc_csprng {
    uint8_t key[32];     // ChaCha20 key
    uint64_t block;      // nonce: one per refill
    uint8_t buf[4096];   // keystream not yet used
    size_t pos;          // next unused byte of buf
    bool seeded;         // key derived from a seed (reproducible, not secret)
    bool has_spare;      // Box-Muller makes two normals; the second waits here
    double spare;
} dc_csprng;

// seeded == false: key from randombytes_buf (the OS); true: key = BLAKE2b(seed).
dc_status dc_csprng_init(dc_csprng *r, bool seeded, uint64_t seed, dc_error *err);
uint64_t dc_csprng_u64(dc_csprng *r);
double dc_csprng_uniform(dc_csprng *r);   // (0, 1), 53 bits
double dc_csprng_normal(dc_csprng *r);    // N(0,1), Box-Muller
void dc_csprng_wipe(dc_csprng *r);        // erase the key

#endif
