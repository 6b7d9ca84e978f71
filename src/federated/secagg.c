// secagg.c — secure aggregation (Bonawitz et al. 2017); see secagg.h for the
// protocol, the fixed-point overflow bound and who sees what.
//
// Layout: little-endian helpers and the randomness source; GF(2^61-1) and
// Shamir sharing (hand-written: libsodium has no secret sharing); mask
// expansion (XChaCha20) and pairwise seeds (X25519 + BLAKE2b); the client;
// the server; the one-process simulation. Every cryptographic primitive is
// libsodium's; nothing here is a cipher, a hash or a curve.
//
// Client code never touches a dc_secagg_server and server code never touches
// a dc_secagg_client or a float update: the two halves share only the
// message structs of secagg.h and the static helpers below.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/core.h"
#include "federated/secagg.h"

_Static_assert(DC_SECAGG_KEYBYTES == crypto_box_PUBLICKEYBYTES, "box public key size");
_Static_assert(DC_SECAGG_KEYBYTES == crypto_box_SECRETKEYBYTES, "box secret key size");
_Static_assert(DC_SECAGG_KEYBYTES == crypto_box_SEEDBYTES, "box seed size");
_Static_assert(DC_SECAGG_KEYBYTES == crypto_scalarmult_BYTES, "X25519 point size");
_Static_assert(DC_SECAGG_KEYBYTES == crypto_scalarmult_SCALARBYTES, "X25519 scalar size");
_Static_assert(DC_SECAGG_KEYBYTES == crypto_stream_xchacha20_KEYBYTES, "XChaCha20 key size");
_Static_assert(DC_SECAGG_NONCEBYTES == crypto_box_NONCEBYTES, "box nonce size");
_Static_assert(DC_SECAGG_NONCEBYTES == crypto_stream_xchacha20_NONCEBYTES, "XChaCha20 nonce size");
_Static_assert(DC_SECAGG_BOXBYTES == DC_SECAGG_PTBYTES + crypto_box_MACBYTES, "box size");

enum { KB = DC_SECAGG_KEYBYTES, NL = DC_SECAGG_LIMBS };

// ---------------------------------------------------------------------------
// Little-endian helpers (the wire format and the keystream words do not
// depend on the host's byte order).

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_le32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

// The hot path (keystream words): one load on little-endian hosts, where
// the compiler does not see through the byte loop above.
static inline uint64_t load_le64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return get_le64(p);
#endif
}

// ---------------------------------------------------------------------------
// Randomness: randombytes_buf (the OS CSPRNG), or in test mode an XChaCha20
// stream whose key is BLAKE2b(seed, round, who). Test mode exists so tests
// are reproducible; its "secrets" are computable by anyone who knows the seed.

typedef struct rand_src {
    bool insecure_test;   // key below is derived from a public seed
    uint8_t key[KB];
    uint64_t ctr;         // one nonce per draw
} rand_src;

static void rand_init(rand_src *r, bool insecure_test, uint64_t seed, uint64_t round, uint32_t who) {
    memset(r, 0, sizeof *r);
    r->insecure_test = insecure_test;
    if (!insecure_test) return;
    static const char tag[] = "deepc-secagg-INSECURE-TEST-SEED";
    uint8_t msg[20];
    put_le64(msg, seed);
    put_le64(msg + 8, round);
    put_le32(msg + 16, who);
    crypto_generichash(r->key, KB, msg, sizeof msg, (const uint8_t *)tag, sizeof tag - 1);
}

static void rand_bytes(rand_src *r, void *buf, size_t len) {
    if (!r->insecure_test) {
        randombytes_buf(buf, len);
        return;
    }
    uint8_t nonce[DC_SECAGG_NONCEBYTES] = {0};
    put_le64(nonce, r->ctr++);
    crypto_stream_xchacha20(buf, len, nonce, r->key);
}

// ---------------------------------------------------------------------------
// GF(p), p = 2^61 - 1 (a Mersenne prime: reduction is shifts and adds, and
// 61-bit products fit unsigned __int128). Branch-free on secret values.

#define P61 ((uint64_t)0x1FFFFFFFFFFFFFFFULL)
__extension__ typedef unsigned __int128 u128;

static uint64_t f_reduce(uint64_t r) { // r < 2^63 -> r mod p
    r = (r & P61) + (r >> 61);
    r -= P61 & (0 - (uint64_t)(r >= P61));
    return r;
}
static uint64_t f_add(uint64_t a, uint64_t b) { return f_reduce(a + b); }
static uint64_t f_sub(uint64_t a, uint64_t b) { return f_reduce(a + P61 - b); }
static uint64_t f_mul(uint64_t a, uint64_t b) {
    u128 m = (u128)a * b; // < 2^122
    return f_reduce(((uint64_t)m & P61) + (uint64_t)(m >> 61));
}
static uint64_t f_inv(uint64_t a) { // a^(p-2), a != 0
    uint64_t r = 1, e = P61 - 2;
    while (e) {
        if (e & 1) r = f_mul(r, a);
        a = f_mul(a, a);
        e >>= 1;
    }
    return r;
}
static uint64_t f_rand(rand_src *r) { // uniform in [0, p)
    for (;;) {
        uint8_t b[8];
        rand_bytes(r, b, sizeof b);
        uint64_t v = get_le64(b) & P61; // uniform in [0, p]
        sodium_memzero(b, sizeof b);
        if (v != P61) return v;
    }
}

// A 32-byte secret as 5 limbs of 7 bytes (the last of 4): each < 2^56 < p.
static void pack_limbs(const uint8_t s[KB], uint64_t l[NL]) {
    for (int j = 0; j < NL; j++) {
        l[j] = 0;
        for (int b = 0; b < 7 && 7 * j + b < KB; b++) l[j] |= (uint64_t)s[7 * j + b] << (8 * b);
    }
}
// Returns 0 when a limb has bits beyond its width: a sign of too few or
// inconsistent shares (the interpolated value is then uniform in [0, p)).
static int unpack_limbs(const uint64_t l[NL], uint8_t s[KB]) {
    int ok = 1;
    for (int j = 0; j < NL; j++) {
        int nb = KB - 7 * j < 7 ? KB - 7 * j : 7;
        if (l[j] >> (8 * nb)) ok = 0;
        for (int b = 0; b < nb; b++) s[7 * j + b] = (uint8_t)(l[j] >> (8 * b));
    }
    return ok;
}

// Shares of one secret: for every limb a polynomial of degree t-1 with the
// limb as constant term and uniform other coefficients, evaluated at 1..n.
static dc_status shamir_split(const uint8_t secret[KB], int n_shares, int t, rand_src *r,
                              dc_secagg_share *out, dc_error *err) {
    uint64_t *coef = malloc(sizeof(uint64_t) * (size_t)t);
    if (!coef) return dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory for %d Shamir coefficients", t);
    uint64_t limbs[NL];
    pack_limbs(secret, limbs);
    for (int i = 0; i < n_shares; i++) out[i].x = (uint32_t)i + 1;
    for (int j = 0; j < NL; j++) {
        coef[0] = limbs[j];
        for (int k = 1; k < t; k++) coef[k] = f_rand(r);
        for (int i = 0; i < n_shares; i++) { // Horner
            uint64_t x = (uint64_t)i + 1, y = coef[t - 1];
            for (int k = t - 2; k >= 0; k--) y = f_add(f_mul(y, x), coef[k]);
            out[i].y[j] = y;
        }
    }
    sodium_memzero(coef, sizeof(uint64_t) * (size_t)t);
    sodium_memzero(limbs, sizeof limbs);
    free(coef);
    return DC_OK;
}

// Lagrange basis at 0 for the points x[0..k): lam[i] = prod_{j!=i} x_j/(x_j - x_i).
static dc_status lagrange_at_zero(const uint32_t *x, int k, uint64_t *lam, dc_error *err) {
    for (int i = 0; i < k; i++) {
        if (x[i] == 0) return dc_fail(err, DC_ERR_ARG, "secagg: share %d has x = 0 (x = holder id + 1 is never 0)", i);
        for (int j = 0; j < i; j++)
            if (x[i] == x[j])
                return dc_fail(err, DC_ERR_ARG, "secagg: shares %d and %d have the same x = %u", j, i, x[i]);
    }
    for (int i = 0; i < k; i++) {
        uint64_t num = 1, den = 1;
        for (int j = 0; j < k; j++) {
            if (j == i) continue;
            num = f_mul(num, x[j]);
            den = f_mul(den, f_sub(x[j], x[i]));
        }
        lam[i] = f_mul(num, f_inv(den));
    }
    return DC_OK;
}

// Secret from shares sh[0..k) (share a of the secret at sh + a*stride).
static int shamir_apply(const dc_secagg_share *sh, size_t stride, int k, const uint64_t *lam,
                        uint8_t out[KB]) {
    uint64_t limbs[NL];
    for (int j = 0; j < NL; j++) {
        uint64_t acc = 0;
        for (int a = 0; a < k; a++) acc = f_add(acc, f_mul(lam[a], sh[(size_t)a * stride].y[j]));
        limbs[j] = acc;
    }
    int ok = unpack_limbs(limbs, out);
    sodium_memzero(limbs, sizeof limbs);
    return ok;
}

dc_status dc_secagg_shamir_split(const uint8_t secret[DC_SECAGG_KEYBYTES], int n_shares, int t,
                                 const uint64_t *insecure_test_seed, dc_secagg_share *out,
                                 dc_error *err) {
    if (t < 2 || t > n_shares)
        return dc_fail(err, DC_ERR_ARG, "secagg: Shamir threshold t=%d must satisfy 2 <= t <= n_shares=%d", t,
                       n_shares);
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "secagg: libsodium failed to initialise");
    rand_src r;
    rand_init(&r, insecure_test_seed != NULL, insecure_test_seed ? *insecure_test_seed : 0, 0, 0xFFFFFFFFu);
    dc_status st = shamir_split(secret, n_shares, t, &r, out, err);
    sodium_memzero(&r, sizeof r);
    return st;
}

dc_status dc_secagg_shamir_combine(const dc_secagg_share *shares, int k, uint8_t out[DC_SECAGG_KEYBYTES],
                                   dc_error *err) {
    if (k < 1) return dc_fail(err, DC_ERR_ARG, "secagg: Shamir combine needs at least one share, got %d", k);
    uint32_t *x = malloc(sizeof(uint32_t) * (size_t)k);
    uint64_t *lam = malloc(sizeof(uint64_t) * (size_t)k);
    dc_status st = DC_OK;
    if (!x || !lam) st = dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory combining %d shares", k);
    for (int i = 0; !st && i < k; i++) {
        x[i] = shares[i].x;
        for (int j = 0; j < NL; j++)
            if (shares[i].y[j] >= P61)
                st = dc_fail(err, DC_ERR_FORMAT, "secagg: share %d limb %d is not a field element (>= 2^61-1)", i, j);
    }
    if (!st) st = lagrange_at_zero(x, k, lam, err);
    if (!st && !shamir_apply(shares, 1, k, lam, out))
        st = dc_fail(err, DC_ERR_FORMAT,
                     "secagg: the secret rebuilt from %d shares is out of range: too few or inconsistent shares", k);
    free(x);
    free(lam);
    return st;
}

// ---------------------------------------------------------------------------
// Masks. A mask term is a seed, a nonce and a sign; its value is the
// XChaCha20 keystream read as little-endian uint64 words. Terms are applied
// chunk by chunk (all terms on one 4 KiB chunk, then the next) so the
// accumulator stays in cache; chunks are independent, so the server can
// split them across threads and get the same bits (addition mod 2^64).

typedef struct mask_term {
    uint8_t key[KB];
    uint8_t nonce[DC_SECAGG_NONCEBYTES];
    int negate;          // 1: subtract the keystream, 0: add it
} mask_term;

enum { CHUNK = 512 }; // uint64 words per keystream call; a multiple of 8 (one block = 8 words)

static void mask_nonce(uint8_t nonce[DC_SECAGG_NONCEBYTES], const char tag[8], uint64_t round) {
    memset(nonce, 0, DC_SECAGG_NONCEBYTES);
    memcpy(nonce, tag, 8);
    put_le64(nonce + 8, round);
}

static void apply_terms(uint64_t *acc, size_t n, const mask_term *terms, size_t n_terms, int nthreads) {
    (void)nthreads; // used by the OpenMP pragma only
    const long n_chunks = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1 && n_chunks > 1)
    for (long ci = 0; ci < n_chunks; ci++) {
        uint8_t buf[CHUNK * 8];
        const size_t off = (size_t)ci * CHUNK, m = n - off < CHUNK ? n - off : CHUNK;
        uint64_t *a = acc + off;
        for (size_t t = 0; t < n_terms; t++) {
            memset(buf, 0, m * 8);
            // block counter off/8: word off starts block off/8 (64-byte blocks)
            crypto_stream_xchacha20_xor_ic(buf, buf, m * 8, terms[t].nonce, off / 8, terms[t].key);
            if (terms[t].negate)
                for (size_t i = 0; i < m; i++) a[i] -= load_le64(buf + 8 * i);
            else
                for (size_t i = 0; i < m; i++) a[i] += load_le64(buf + 8 * i);
        }
        sodium_memzero(buf, sizeof buf);
    }
}

// s_uv: BLAKE2b over the X25519 point, both ids and public keys (in id order,
// so both ends hash the same bytes) and the round. -1: degenerate key.
static int pair_seed(uint8_t seed[KB], const uint8_t my_sk[KB], int me, const uint8_t my_pk[KB], int other,
                     const uint8_t other_pk[KB], uint64_t round) {
    static const char tag[] = "deepc-secagg-pair-v1";
    uint8_t shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, my_sk, other_pk) != 0) return -1;
    uint8_t hdr[16];
    const int lo = me < other ? me : other, hi = me < other ? other : me;
    put_le64(hdr, round);
    put_le32(hdr + 8, (uint32_t)lo);
    put_le32(hdr + 12, (uint32_t)hi);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, KB);
    crypto_generichash_update(&h, (const uint8_t *)tag, sizeof tag - 1);
    crypto_generichash_update(&h, hdr, sizeof hdr);
    crypto_generichash_update(&h, me < other ? my_pk : other_pk, KB);
    crypto_generichash_update(&h, me < other ? other_pk : my_pk, KB);
    crypto_generichash_update(&h, shared, sizeof shared);
    crypto_generichash_final(&h, seed, KB);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(&h, sizeof h);
    return 0;
}

// ---------------------------------------------------------------------------
// Parameters and fixed point

dc_secagg_params dc_secagg_params_default(int n_clients, int threshold, size_t n) {
    dc_secagg_params p;
    memset(&p, 0, sizeof p);
    p.n_clients = n_clients;
    p.threshold = threshold;
    p.n = n;
    p.clip = 65536.0;
    return p;
}

// K * ceil(R * 2^F) <= 2^62 (see secagg.h)
static int fits(int K, double clip, int F) {
    double q = ceil(ldexp(clip, F));
    if (!(q <= ldexp(1.0, 62))) return 0;
    return (uint64_t)q <= ((uint64_t)1 << 62) / (uint64_t)K;
}

enum { MAX_CLIENTS = 1 << 16, AUTO_MAX_F = 48 };

dc_status dc_secagg_params_check(const dc_secagg_params *p, int *frac_bits, dc_error *err) {
    if (!p) return dc_fail(err, DC_ERR_ARG, "secagg: no parameters given");
    if (p->n_clients < 2 || p->n_clients > MAX_CLIENTS)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg: n_clients is %d, expected 2..%d (a sum over one client is that client's update)",
                       p->n_clients, MAX_CLIENTS);
    if (p->threshold < 2 || p->threshold > p->n_clients)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg: threshold t=%d must satisfy 2 <= t <= n_clients=%d (t survivors unmask the sum; "
                       "t > n_clients/2 is recommended)",
                       p->threshold, p->n_clients);
    if (p->n == 0 || p->n > ((size_t)1 << 40))
        return dc_fail(err, DC_ERR_ARG, "secagg: vector length n is %zu, expected 1..2^40", p->n);
    if (!(p->clip > 0) || !isfinite(p->clip))
        return dc_fail(err, DC_ERR_ARG, "secagg: clip bound R is %g, expected a finite value > 0", p->clip);
    if (p->frac_bits < 0 || p->frac_bits > 61)
        return dc_fail(err, DC_ERR_ARG, "secagg: frac_bits F is %d, expected 1..61 (or 0 for automatic)",
                       p->frac_bits);
    if (p->nthreads < 0) return dc_fail(err, DC_ERR_ARG, "secagg: nthreads is %d, expected >= 0", p->nthreads);
    int F = p->frac_bits;
    if (F == 0) {
        for (F = AUTO_MAX_F; F >= 1 && !fits(p->n_clients, p->clip, F); F--) {}
        if (F < 1)
            return dc_fail(err, DC_ERR_ARG,
                           "secagg: clip bound R=%g is too large for %d clients: K * R * 2^F must be <= 2^62 "
                           "even for F = 1 (lower R)",
                           p->clip, p->n_clients);
    } else if (!fits(p->n_clients, p->clip, F)) {
        return dc_fail(err, DC_ERR_ARG,
                       "secagg: %d clients * ceil(R * 2^F) with R=%g, F=%d exceeds 2^62: the sum could overflow "
                       "(lower R or F, or set F = 0 to choose it)",
                       p->n_clients, p->clip, F);
    }
    if (frac_bits) *frac_bits = F;
    return DC_OK;
}

int dc_secagg_quantise(float v, double clip, int frac_bits, int64_t *q) {
    double x = v;
    int clipped = 0;
    if (x > clip) x = clip, clipped = 1;
    else if (x < -clip) x = -clip, clipped = 1;
    const double s = ldexp(x, frac_bits); // exact: scaling by a power of two
    const double f = floor(s);
    *q = (int64_t)f + (s - f >= 0.5); // round half up; s - f is exact
    return clipped;
}

// ---------------------------------------------------------------------------
// Client

enum client_stage { C_NEW, C_SHARED, C_MASKED };

struct dc_secagg_client {
    int id, K, t, F;
    size_t n;
    double clip;
    uint64_t round;
    enum client_stage stage;
    rand_src rnd;
    uint8_t c_pk[KB], c_sk[KB];  // crypto_box key pair (shares to peers)
    uint8_t s_pk[KB], s_sk[KB];  // mask agreement key pair
    uint8_t b[KB];               // self-mask seed b_u
    dc_secagg_pubkeys *peer;     // (K) keys broadcast in round 0
    dc_secagg_share *held_sk;    // (K) my share of each client's s_sk
    dc_secagg_share *held_b;     // (K) my share of each client's b
    bool *got;                   // (K) share ciphertext from client u received
    int n_got;
    uint8_t *revealed;           // (K) 0, or the dc_secagg_reveal_kind revealed for u
    size_t clipped;
};

void dc_secagg_client_free(dc_secagg_client *c) {
    if (!c) return;
    const size_t K = (size_t)c->K;
    if (c->held_sk) sodium_memzero(c->held_sk, K * sizeof *c->held_sk);
    if (c->held_b) sodium_memzero(c->held_b, K * sizeof *c->held_b);
    free(c->peer);
    free(c->held_sk);
    free(c->held_b);
    free(c->got);
    free(c->revealed);
    sodium_memzero(c, sizeof *c);
    free(c);
}

dc_status dc_secagg_client_new(dc_secagg_client **out, const dc_secagg_params *p, int id, dc_error *err) {
    *out = NULL;
    int F;
    dc_status st = dc_secagg_params_check(p, &F, err);
    if (st) return st;
    if (id < 0 || id >= p->n_clients)
        return dc_fail(err, DC_ERR_ARG, "secagg: client id %d out of range 0..%d", id, p->n_clients - 1);
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "secagg: libsodium failed to initialise");
    dc_secagg_client *c = calloc(1, sizeof *c);
    if (!c) return dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory for client %d", id);
    const size_t K = (size_t)p->n_clients;
    c->id = id;
    c->K = p->n_clients;
    c->t = p->threshold;
    c->F = F;
    c->n = p->n;
    c->clip = p->clip;
    c->round = p->round;
    c->peer = calloc(K, sizeof *c->peer);
    c->held_sk = calloc(K, sizeof *c->held_sk);
    c->held_b = calloc(K, sizeof *c->held_b);
    c->got = calloc(K, sizeof *c->got);
    c->revealed = calloc(K, 1);
    if (!c->peer || !c->held_sk || !c->held_b || !c->got || !c->revealed) {
        dc_secagg_client_free(c);
        return dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory for client %d (%zu peers)", id, K);
    }
    rand_init(&c->rnd, p->insecure_test_seed, p->test_seed, p->round, (uint32_t)id);
    uint8_t seed[crypto_box_SEEDBYTES];
    rand_bytes(&c->rnd, seed, sizeof seed);
    crypto_box_seed_keypair(c->c_pk, c->c_sk, seed);
    sodium_memzero(seed, sizeof seed);
    rand_bytes(&c->rnd, c->s_sk, KB);
    rand_bytes(&c->rnd, c->b, KB);
    if (crypto_scalarmult_base(c->s_pk, c->s_sk) != 0) {
        dc_secagg_client_free(c);
        return dc_fail(err, DC_ERR_NUMERIC, "secagg: client %d drew a degenerate X25519 key", id);
    }
    c->stage = C_NEW;
    *out = c;
    return DC_OK;
}

void dc_secagg_client_advertise(const dc_secagg_client *c, dc_secagg_pubkeys *out) {
    memcpy(out->c_pk, c->c_pk, KB);
    memcpy(out->s_pk, c->s_pk, KB);
}

size_t dc_secagg_client_clipped(const dc_secagg_client *c) { return c->clipped; }

static int cmp_key(const void *a, const void *b) { return memcmp(a, b, KB); }

// The paper's clients abort unless all advertised keys are distinct (a
// repeated key would make two clients' masks, or two inboxes, coincide).
// Sorting keeps this O(K log K).
static dc_status distinct_keys(const dc_secagg_pubkeys *keys, int K, int me, dc_error *err) {
    uint8_t *all = malloc((size_t)KB * 2 * (size_t)K);
    if (!all) return dc_fail(err, DC_ERR_NOMEM, "secagg client %d: out of memory checking %d keys", me, K);
    for (int u = 0; u < K; u++) {
        memcpy(all + (size_t)KB * (2 * (size_t)u), keys[u].c_pk, KB);
        memcpy(all + (size_t)KB * (2 * (size_t)u + 1), keys[u].s_pk, KB);
    }
    qsort(all, 2 * (size_t)K, KB, cmp_key);
    int dup = 0;
    for (size_t i = 1; i < 2 * (size_t)K && !dup; i++) dup = !memcmp(all + KB * (i - 1), all + KB * i, KB);
    free(all);
    if (dup) return dc_fail(err, DC_ERR_ARG, "secagg client %d: two advertised public keys are equal: refusing", me);
    return DC_OK;
}

dc_status dc_secagg_client_share_keys(dc_secagg_client *c, const dc_secagg_pubkeys *keys,
                                      dc_secagg_ciphertext *out, dc_error *err) {
    const int K = c->K, me = c->id;
    if (c->stage != C_NEW)
        return dc_fail(err, DC_ERR_ARG, "secagg client %d: keys already shared this round", me);
    if (memcmp(keys[me].c_pk, c->c_pk, KB) || memcmp(keys[me].s_pk, c->s_pk, KB))
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: the broadcast key list does not hold this client's own keys at index %d",
                       me, me);
    dc_status st = distinct_keys(keys, K, me, err);
    if (st) return st;
    dc_secagg_share *sh = malloc(2 * sizeof *sh * (size_t)K);
    if (!sh) return dc_fail(err, DC_ERR_NOMEM, "secagg client %d: out of memory for %d shares", me, 2 * K);
    dc_secagg_share *sh_sk = sh, *sh_b = sh + K;
    st = shamir_split(c->s_sk, K, c->t, &c->rnd, sh_sk, err);
    if (!st) st = shamir_split(c->b, K, c->t, &c->rnd, sh_b, err);
    uint8_t pt[DC_SECAGG_PTBYTES];
    for (int v = 0; !st && v < K; v++) {
        if (v == me) { // a client keeps its own share
            memset(&out[v], 0, sizeof out[v]);
            continue;
        }
        put_le32(pt, (uint32_t)me);
        put_le32(pt + 4, (uint32_t)v);
        put_le64(pt + 8, c->round);
        for (int j = 0; j < NL; j++) {
            put_le64(pt + 16 + 8 * j, sh_sk[v].y[j]);
            put_le64(pt + 16 + 8 * (NL + j), sh_b[v].y[j]);
        }
        rand_bytes(&c->rnd, out[v].nonce, DC_SECAGG_NONCEBYTES);
        if (crypto_box_easy(out[v].box, pt, sizeof pt, out[v].nonce, keys[v].c_pk, c->c_sk) != 0)
            st = dc_fail(err, DC_ERR_ARG, "secagg client %d: cannot encrypt to client %d: degenerate public key", me,
                         v);
    }
    if (!st) {
        memcpy(c->peer, keys, sizeof *keys * (size_t)K);
        c->held_sk[me] = sh_sk[me];
        c->held_b[me] = sh_b[me];
        c->got[me] = true;
        c->stage = C_SHARED;
    }
    sodium_memzero(pt, sizeof pt);
    sodium_memzero(sh, 2 * sizeof *sh * (size_t)K);
    free(sh);
    return st;
}

dc_status dc_secagg_client_receive(dc_secagg_client *c, int from, const dc_secagg_ciphertext *ct, dc_error *err) {
    const int me = c->id;
    if (c->stage != C_SHARED)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: share ciphertexts are received after sharing its own keys and before masking",
                       me);
    if (from < 0 || from >= c->K || from == me || c->got[from])
        return dc_fail(err, DC_ERR_ARG, "secagg client %d: unexpected share ciphertext from client %d%s", me, from,
                       from >= 0 && from < c->K && from != me ? " (duplicate)" : "");
    uint8_t pt[DC_SECAGG_PTBYTES];
    dc_status st = DC_OK;
    if (crypto_box_open_easy(pt, ct->box, sizeof ct->box, ct->nonce, c->peer[from].c_pk, c->c_sk) != 0) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "secagg client %d: the share ciphertext from client %d fails authentication (tampered or "
                     "misrouted)",
                     me, from);
    } else if (get_le32(pt) != (uint32_t)from || get_le32(pt + 4) != (uint32_t)me || get_le64(pt + 8) != c->round) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "secagg client %d: share ciphertext from client %d is labelled %u -> %u, round %llu (replayed?)",
                     me, from, get_le32(pt), get_le32(pt + 4), (unsigned long long)get_le64(pt + 8));
    } else {
        dc_secagg_share a = {.x = (uint32_t)me + 1}, b = {.x = (uint32_t)me + 1};
        for (int j = 0; j < NL; j++) {
            a.y[j] = get_le64(pt + 16 + 8 * j);
            b.y[j] = get_le64(pt + 16 + 8 * (NL + j));
            if (a.y[j] >= P61 || b.y[j] >= P61) st = DC_ERR_FORMAT;
        }
        if (st)
            st = dc_fail(err, DC_ERR_FORMAT, "secagg client %d: share from client %d is not in GF(2^61-1)", me, from);
        else {
            c->held_sk[from] = a;
            c->held_b[from] = b;
            c->got[from] = true;
            c->n_got++;
        }
        sodium_memzero(&a, sizeof a);
        sodium_memzero(&b, sizeof b);
    }
    sodium_memzero(pt, sizeof pt);
    return st;
}

dc_status dc_secagg_client_mask(dc_secagg_client *c, const float *update, uint64_t *masked_out, dc_error *err) {
    // update is (n) floats; masked_out (n) = q + PRG(b) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv)
    const int me = c->id, K = c->K;
    if (c->stage == C_MASKED)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: already sent a masked update this round; masks must never be reused "
                       "(make a new client for the next round)",
                       me);
    if (c->stage != C_SHARED || c->n_got != K - 1)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: masking needs all %d peers' share ciphertexts first, has %d (round 1 "
                       "incomplete)",
                       me, K - 1, c->stage == C_SHARED ? c->n_got : 0);
    size_t clipped = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!isfinite(update[i]))
            return dc_fail(err, DC_ERR_NUMERIC, "secagg client %d: update[%zu] is %g, expected a finite value", me, i,
                           (double)update[i]);
        int64_t q;
        clipped += (size_t)dc_secagg_quantise(update[i], c->clip, c->F, &q);
        masked_out[i] = (uint64_t)q; // two's complement: conversion to unsigned is modulo 2^64
    }
    mask_term *terms = malloc(sizeof *terms * (size_t)K);
    if (!terms) return dc_fail(err, DC_ERR_NOMEM, "secagg client %d: out of memory for %d mask terms", me, K);
    memcpy(terms[0].key, c->b, KB);
    mask_nonce(terms[0].nonce, "selfmask", c->round);
    terms[0].negate = 0;
    size_t nt = 1;
    dc_status st = DC_OK;
    for (int v = 0; v < K && !st; v++) {
        if (v == me) continue;
        if (pair_seed(terms[nt].key, c->s_sk, me, c->s_pk, v, c->peer[v].s_pk, c->round) != 0) {
            st = dc_fail(err, DC_ERR_FORMAT, "secagg client %d: key agreement with client %d failed (degenerate key)",
                         me, v);
            break;
        }
        mask_nonce(terms[nt].nonce, "pairmask", c->round);
        terms[nt].negate = v < me;
        nt++;
    }
    if (!st) {
        apply_terms(masked_out, c->n, terms, nt, 1);
        c->clipped = clipped;
        c->stage = C_MASKED;
    }
    sodium_memzero(terms, sizeof *terms * (size_t)K);
    free(terms);
    return st;
}

dc_status dc_secagg_client_unmask(dc_secagg_client *c, const bool *survived, dc_secagg_reveal *out, dc_error *err) {
    const int me = c->id, K = c->K;
    if (c->stage != C_MASKED)
        return dc_fail(err, DC_ERR_ARG, "secagg client %d: unmasking requested before this client sent its masked "
                                        "update: refusing", me);
    if (!survived[me])
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: the request lists this client as dropped yet asks it to answer: refusing "
                       "(it would expose its own secret key)",
                       me);
    int n_surv = 0;
    for (int u = 0; u < K; u++) n_surv += survived[u] ? 1 : 0;
    if (n_surv < c->t)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg client %d: the request names %d survivors, fewer than the threshold %d: refusing",
                       me, n_surv, c->t);
    // check everything before revealing anything
    for (int u = 0; u < K; u++) {
        const int kind = survived[u] ? DC_SECAGG_REVEAL_SELF_MASK : DC_SECAGG_REVEAL_SECRET_KEY;
        if (c->revealed[u] && c->revealed[u] != kind)
            return dc_fail(err, DC_ERR_ARG,
                           "secagg client %d: asked for the %s share of client %d after revealing its %s share: "
                           "refusing (both would unmask client %d)",
                           me, kind == DC_SECAGG_REVEAL_SELF_MASK ? "self-mask" : "secret-key", u,
                           kind == DC_SECAGG_REVEAL_SELF_MASK ? "secret-key" : "self-mask", u);
    }
    for (int u = 0; u < K; u++) {
        const int kind = survived[u] ? DC_SECAGG_REVEAL_SELF_MASK : DC_SECAGG_REVEAL_SECRET_KEY;
        out[u].about = u;
        out[u].kind = kind;
        out[u].share = kind == DC_SECAGG_REVEAL_SELF_MASK ? c->held_b[u] : c->held_sk[u];
        c->revealed[u] = (uint8_t)kind;
    }
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Server: sees public keys, relays ciphertexts it cannot open, sums masked
// vectors, and rebuilds seeds from revealed shares. Nothing else.

enum server_stage { S_NEW, S_KEYS, S_UNMASK, S_DONE };

struct dc_secagg_server {
    int K, t, F, nthreads;
    size_t n;
    uint64_t round;
    enum server_stage stage;
    dc_secagg_pubkeys *keys;  // (K) round-0 broadcast
    uint64_t *acc;            // (n) sum of masked vectors mod 2^64
    bool *survived;           // (K) U2: delivered a masked vector
    int n_survived;
    bool *answered;           // (K) survivor answered the unmasking request
    int n_answered;
    uint8_t *kind;            // (K) kind of share taken about each client (safety rule)
    dc_secagg_share *ans;     // (t, K) ans[a*K + u]: share about u from the a-th answer
};

void dc_secagg_server_free(dc_secagg_server *s) {
    if (!s) return;
    if (s->ans) sodium_memzero(s->ans, sizeof *s->ans * (size_t)s->t * (size_t)s->K);
    free(s->keys);
    dc_free(s->acc);
    free(s->survived);
    free(s->answered);
    free(s->kind);
    free(s->ans);
    sodium_memzero(s, sizeof *s);
    free(s);
}

dc_status dc_secagg_server_new(dc_secagg_server **out, const dc_secagg_params *p, dc_error *err) {
    *out = NULL;
    int F;
    dc_status st = dc_secagg_params_check(p, &F, err);
    if (st) return st;
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "secagg: libsodium failed to initialise");
    dc_secagg_server *s = calloc(1, sizeof *s);
    if (!s) return dc_fail(err, DC_ERR_NOMEM, "secagg server: out of memory");
    const size_t K = (size_t)p->n_clients;
    s->K = p->n_clients;
    s->t = p->threshold;
    s->F = F;
    s->n = p->n;
    s->round = p->round;
    s->nthreads = p->nthreads > 0 ? p->nthreads : dc_default_threads();
    s->keys = calloc(K, sizeof *s->keys);
    s->acc = dc_alloc(sizeof(uint64_t) * p->n);
    s->survived = calloc(K, sizeof *s->survived);
    s->answered = calloc(K, sizeof *s->answered);
    s->kind = calloc(K, 1);
    s->ans = calloc(K * (size_t)p->threshold, sizeof *s->ans);
    if (!s->keys || !s->acc || !s->survived || !s->answered || !s->kind || !s->ans) {
        dc_secagg_server_free(s);
        return dc_fail(err, DC_ERR_NOMEM, "secagg server: out of memory for %zu clients, n = %zu", K, p->n);
    }
    *out = s;
    return DC_OK;
}

dc_status dc_secagg_server_set_keys(dc_secagg_server *s, const dc_secagg_pubkeys *keys, dc_error *err) {
    if (s->stage != S_NEW) return dc_fail(err, DC_ERR_ARG, "secagg server: keys already set this round");
    memcpy(s->keys, keys, sizeof *keys * (size_t)s->K);
    s->stage = S_KEYS;
    return DC_OK;
}

dc_status dc_secagg_server_add_masked(dc_secagg_server *s, int from, const uint64_t *masked, dc_error *err) {
    if (s->stage != S_KEYS)
        return dc_fail(err, DC_ERR_ARG, "secagg server: masked update from client %d %s", from,
                       s->stage == S_NEW ? "before the keys were set" : "after the unmasking request: too late");
    if (from < 0 || from >= s->K)
        return dc_fail(err, DC_ERR_ARG, "secagg server: masked update from unknown client %d (0..%d)", from, s->K - 1);
    if (s->survived[from])
        return dc_fail(err, DC_ERR_ARG, "secagg server: client %d sent a second masked update", from);
    for (size_t i = 0; i < s->n; i++) s->acc[i] += masked[i]; // mod 2^64
    s->survived[from] = true;
    s->n_survived++;
    return DC_OK;
}

dc_status dc_secagg_server_unmask_request(dc_secagg_server *s, bool *survived_out, dc_error *err) {
    if (s->stage != S_KEYS)
        return dc_fail(err, DC_ERR_ARG, "secagg server: unmasking requested %s",
                       s->stage == S_NEW ? "before the keys were set" : "twice");
    if (s->n_survived < s->t) {
        s->stage = S_DONE; // the round is over: no sum
        return dc_fail(err, DC_ERR_ARG,
                       "secagg server: only %d of %d clients delivered masked updates, fewer than the threshold t=%d: "
                       "the masks cannot be removed, no sum this round",
                       s->n_survived, s->K, s->t);
    }
    memcpy(survived_out, s->survived, sizeof *survived_out * (size_t)s->K);
    s->stage = S_UNMASK;
    return DC_OK;
}

dc_status dc_secagg_server_add_reveals(dc_secagg_server *s, int from, const dc_secagg_reveal *r, dc_error *err) {
    if (s->stage != S_UNMASK)
        return dc_fail(err, DC_ERR_ARG, "secagg server: reveals from client %d outside the unmasking step", from);
    if (from < 0 || from >= s->K || !s->survived[from])
        return dc_fail(err, DC_ERR_ARG, "secagg server: reveals from client %d, which is not a survivor", from);
    if (s->answered[from])
        return dc_fail(err, DC_ERR_ARG, "secagg server: client %d answered twice", from);
    for (int u = 0; u < s->K; u++) {
        const int want = s->survived[u] ? DC_SECAGG_REVEAL_SELF_MASK : DC_SECAGG_REVEAL_SECRET_KEY;
        if (r[u].about != u || r[u].kind != want || r[u].share.x != (uint32_t)from + 1)
            return dc_fail(err, DC_ERR_FORMAT,
                           "secagg server: client %d's reveal %d is about client %d, kind %d, x %u; expected client "
                           "%d, kind %d (%s), x %d",
                           from, u, r[u].about, r[u].kind, r[u].share.x, u, want,
                           want == DC_SECAGG_REVEAL_SELF_MASK ? "self-mask share: survived" : "key share: dropped",
                           from + 1);
        for (int j = 0; j < NL; j++)
            if (r[u].share.y[j] >= P61)
                return dc_fail(err, DC_ERR_FORMAT, "secagg server: client %d's share about %d is not in GF(2^61-1)",
                               from, u);
    }
    s->answered[from] = true;
    if (s->n_answered < s->t) { // t answers suffice; later ones are checked, not kept
        for (int u = 0; u < s->K; u++) {
            // the safety rule: never both kinds of share about one client
            DC_ASSERT(s->kind[u] == 0 || s->kind[u] == (uint8_t)r[u].kind);
            s->kind[u] = (uint8_t)r[u].kind;
            s->ans[(size_t)s->n_answered * (size_t)s->K + (size_t)u] = r[u].share;
        }
        s->n_answered++;
    }
    return DC_OK;
}

static int64_t as_signed(uint64_t v) { // two's complement without implementation-defined casts
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

dc_status dc_secagg_server_finish(dc_secagg_server *s, float *sum_out, int64_t *fixed_out, dc_error *err) {
    if (s->stage != S_UNMASK)
        return dc_fail(err, DC_ERR_ARG, "secagg server: finish called %s",
                       s->stage == S_DONE ? "after the round ended" : "before the unmasking request");
    if (s->n_answered < s->t)
        return dc_fail(err, DC_ERR_ARG,
                       "secagg server: only %d survivors answered the unmasking request, fewer than the threshold "
                       "t=%d: the masks cannot be removed, no sum this round",
                       s->n_answered, s->t);
    const int K = s->K, t = s->t, n_drop = K - s->n_survived;
    const size_t n_terms = (size_t)s->n_survived * (size_t)(1 + n_drop);
    mask_term *terms = malloc(sizeof *terms * n_terms);
    uint64_t *lam = malloc(sizeof(uint64_t) * (size_t)t);
    uint32_t *x = malloc(sizeof(uint32_t) * (size_t)t);
    dc_status st = DC_OK;
    if (!terms || !lam || !x) st = dc_fail(err, DC_ERR_NOMEM, "secagg server: out of memory for %zu mask terms", n_terms);
    for (int a = 0; !st && a < t; a++) x[a] = s->ans[(size_t)a * (size_t)K].x;
    if (!st) st = lagrange_at_zero(x, t, lam, err);
    size_t nt = 0;
    uint8_t secret[KB], pk[KB];
    for (int u = 0; !st && u < K; u++) {
        // the safety rule, once more, on what was actually collected
        DC_ASSERT(s->kind[u] == (s->survived[u] ? DC_SECAGG_REVEAL_SELF_MASK : DC_SECAGG_REVEAL_SECRET_KEY));
        if (!shamir_apply(s->ans + u, (size_t)K, t, lam, secret)) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "secagg server: the %s of client %d rebuilt from %d shares is out of range (inconsistent "
                         "shares)",
                         s->survived[u] ? "self-mask seed" : "secret key", u, t);
            break;
        }
        if (s->survived[u]) { // remove PRG(b_u)
            memcpy(terms[nt].key, secret, KB);
            mask_nonce(terms[nt].nonce, "selfmask", s->round);
            terms[nt++].negate = 1;
            continue;
        }
        // u dropped: its key must match what it advertised; then remove the
        // mask each survivor v shared with u (v added +PRG if v < u, -PRG if v > u)
        if (crypto_scalarmult_base(pk, secret) != 0 || sodium_memcmp(pk, s->keys[u].s_pk, KB) != 0) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "secagg server: the secret key rebuilt for dropped client %d does not match its advertised "
                         "public key (inconsistent shares)",
                         u);
            break;
        }
        for (int v = 0; v < K && !st; v++) {
            if (!s->survived[v]) continue;
            if (pair_seed(terms[nt].key, secret, u, s->keys[u].s_pk, v, s->keys[v].s_pk, s->round) != 0) {
                st = dc_fail(err, DC_ERR_FORMAT,
                             "secagg server: key agreement between dropped client %d and client %d failed", u, v);
                break;
            }
            mask_nonce(terms[nt].nonce, "pairmask", s->round);
            terms[nt++].negate = v < u;
        }
    }
    sodium_memzero(secret, sizeof secret);
    if (!st) {
        DC_ASSERT(nt == n_terms);
        apply_terms(s->acc, s->n, terms, nt, s->nthreads);
        const double scale = ldexp(1.0, -s->F);
        for (size_t i = 0; i < s->n; i++) {
            const int64_t v = as_signed(s->acc[i]);
            if (fixed_out) fixed_out[i] = v;
            sum_out[i] = (float)((double)v * scale);
        }
    }
    s->stage = S_DONE;
    if (terms) sodium_memzero(terms, sizeof *terms * n_terms);
    free(terms);
    free(lam);
    free(x);
    return st;
}

// ---------------------------------------------------------------------------
// One-process simulation: the clients and the server exchange only the
// message structs. Client phases run in parallel over clients; each phase
// collects per-client statuses and reports the first failure in id order.

static dc_status first_failure(const dc_status *sts, const dc_error *errs, int K, dc_error *err) {
    for (int k = 0; k < K; k++)
        if (sts[k]) {
            if (err) *err = errs[k];
            return sts[k];
        }
    return DC_OK;
}

dc_status dc_secagg_simulate(const dc_secagg_params *p, const float *const *updates, const bool *dropped,
                             float *sum_out, int64_t *fixed_out, dc_secagg_stats *stats, dc_error *err) {
    int F;
    dc_status st = dc_secagg_params_check(p, &F, err);
    if (st) return st;
    const int K = p->n_clients;
    const size_t n = p->n;
    if (!updates || !sum_out) return dc_fail(err, DC_ERR_ARG, "secagg: no update vectors or no output vector");
    for (int k = 0; k < K; k++)
        if (!updates[k] && !(dropped && dropped[k]))
            return dc_fail(err, DC_ERR_ARG, "secagg: client %d has no update vector", k);
    const int nth = p->nthreads > 0 ? p->nthreads : dc_default_threads();
    dc_secagg_client **cl = calloc((size_t)K, sizeof *cl);
    dc_secagg_server *srv = NULL;
    dc_secagg_pubkeys *keys = malloc(sizeof *keys * (size_t)K);
    dc_secagg_ciphertext *mat = malloc(sizeof *mat * (size_t)K * (size_t)K); // mat[u*K+v]: u -> v
    bool *surv = malloc(sizeof *surv * (size_t)K);
    dc_secagg_reveal *rev = malloc(sizeof *rev * (size_t)K);
    dc_status *sts = calloc((size_t)K, sizeof *sts);
    dc_error *errs = calloc((size_t)K, sizeof *errs);
    uint64_t **buf = calloc((size_t)nth, sizeof *buf);
    if (!cl || !keys || !mat || !surv || !rev || !sts || !errs || !buf)
        st = dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory simulating %d clients", K);
    for (int i = 0; !st && i < nth; i++)
        if (!(buf[i] = dc_alloc(sizeof(uint64_t) * n)))
            st = dc_fail(err, DC_ERR_NOMEM, "secagg: out of memory for masked vectors (n = %zu)", n);
    if (!st) st = dc_secagg_server_new(&srv, p, err);
    // round 0: keys
    for (int k = 0; !st && k < K; k++) {
        st = dc_secagg_client_new(&cl[k], p, k, err);
        if (!st) dc_secagg_client_advertise(cl[k], &keys[k]);
    }
    if (!st) st = dc_secagg_server_set_keys(srv, keys, err);
    // round 1: every client encrypts its shares; the server relays mat[u*K+v] to v
    if (!st) {
#pragma omp parallel for schedule(dynamic) num_threads(nth)
        for (int u = 0; u < K; u++)
            sts[u] = dc_secagg_client_share_keys(cl[u], keys, mat + (size_t)u * (size_t)K, &errs[u]);
        st = first_failure(sts, errs, K, err);
    }
    if (!st) {
#pragma omp parallel for schedule(dynamic) num_threads(nth)
        for (int v = 0; v < K; v++) {
            sts[v] = DC_OK;
            for (int u = 0; u < K && !sts[v]; u++)
                if (u != v) sts[v] = dc_secagg_client_receive(cl[v], u, mat + (size_t)u * (size_t)K + v, &errs[v]);
        }
        st = first_failure(sts, errs, K, err);
    }
    // round 2: survivors mask and send (the server adds in any order: exact mod 2^64)
    if (!st) {
#pragma omp parallel num_threads(nth)
        {
#ifdef _OPENMP
            uint64_t *mine = buf[omp_get_thread_num()];
#else
            uint64_t *mine = buf[0];
#endif
#pragma omp for schedule(dynamic)
            for (int u = 0; u < K; u++) {
                sts[u] = DC_OK;
                if (dropped && dropped[u]) continue;
                sts[u] = dc_secagg_client_mask(cl[u], updates[u], mine, &errs[u]);
                if (!sts[u]) {
#pragma omp critical(dc_secagg_server_add)
                    sts[u] = dc_secagg_server_add_masked(srv, u, mine, &errs[u]);
                }
            }
        }
        st = first_failure(sts, errs, K, err);
    }
    // round 4: unmasking
    if (!st) st = dc_secagg_server_unmask_request(srv, surv, err);
    for (int v = 0; !st && v < K; v++) {
        if (!surv[v]) continue;
        st = dc_secagg_client_unmask(cl[v], surv, rev, err);
        if (!st) st = dc_secagg_server_add_reveals(srv, v, rev, err);
    }
    if (!st) st = dc_secagg_server_finish(srv, sum_out, fixed_out, err);
    if (!st && stats) {
        memset(stats, 0, sizeof *stats);
        stats->frac_bits = F;
        const double ctb = (double)sizeof(dc_secagg_ciphertext), kb = (double)sizeof(dc_secagg_pubkeys);
        for (int k = 0; k < K; k++) {
            stats->bytes_up += kb + (K - 1) * ctb;
            stats->bytes_down += K * kb + (K - 1) * ctb;
            if (!surv[k]) continue;
            stats->survivors++;
            stats->clipped += dc_secagg_client_clipped(cl[k]);
            stats->bytes_up += 8.0 * (double)n + (double)K * (1 + 8 * NL); // masked vector, reveals
            stats->bytes_down += (K + 7) / 8;                              // the survivor list
        }
    }
    if (cl)
        for (int k = 0; k < K; k++) dc_secagg_client_free(cl[k]);
    dc_secagg_server_free(srv);
    if (rev) sodium_memzero(rev, sizeof *rev * (size_t)K);
    if (buf)
        for (int i = 0; i < nth; i++) dc_free(buf[i]);
    free(cl);
    free(keys);
    free(mat);
    free(surv);
    free(rev);
    free(sts);
    free(errs);
    free(buf);
    return st;
}
