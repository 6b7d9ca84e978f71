// secagg.h — secure aggregation for federated learning: the server learns the
// SUM of the clients' update vectors and nothing about any one of them, even
// when some clients drop out mid-round. This is the practical core of
// Bonawitz et al. 2017, "Practical Secure Aggregation for Privacy-Preserving
// Machine Learning" (CCS'17), in its honest-but-curious form.
//
// Legend: K clients (ids 0..K-1), t threshold, n vector length, F fixed-point
// fractional bits, R clip bound, U1 the clients that shared keys (here: all
// K), U2 the survivors (delivered a masked vector), U3 the survivors that
// answered the unmasking request (|U3| >= t).
//
// ---- Fixed point. Updates are floats; each client clips every coordinate to
// [-R, R] and quantises q = round_half_up(v * 2^F) as a two's-complement
// integer in Z/2^64. All masking and summing is uint64_t arithmetic modulo
// 2^64 (wrap-around is defined for unsigned types in C), so masks cancel bit
// for bit and the recovered sum equals the plain fixed-point sum exactly.
// Overflow bound: |sum| <= K * Q with Q = ceil(R * 2^F); we require
// K * Q <= 2^62 (< 2^63 with a factor-2 margin), so the sum, read back as an
// int64_t, is never ambiguous. frac_bits = 0 picks the largest F <= 48 that
// satisfies the bound (e.g. R = 2^16, K = 10: F = 42, a quantisation step of
// 2^-42, far below float resolution). Coordinates beyond R are clipped and
// counted (dc_secagg_client_clipped), never silently wrapped. NaN/Inf in an
// update is an error.
//
// ---- One round (fresh keys every round: reusing keys after a dropped
// client's secret key was reconstructed would expose its next update).
//  0 AdvertiseKeys: client u makes two X25519 key pairs: (c_pk, c_sk) to
//    encrypt shares to peers (crypto_box), (s_pk, s_sk) for mask agreement;
//    it sends both public keys; the server broadcasts the list.
//  1 ShareKeys: u draws a self-mask seed b_u (32 random bytes), Shamir-splits
//    s_sk and b_u into K shares with threshold t, and sends share v to client
//    v inside crypto_box(c_sk_u, c_pk_v) (the server only relays ciphertexts).
//    Each client decrypts its inbox and keeps the shares it holds.
//  2 MaskedInput: u computes s_uv = BLAKE2b(X25519(s_sk_u, s_pk_v), ids,
//    pks, round) for every v != u and sends
//      y_u = q_u + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv)
//    where PRG is XChaCha20 keystream read as little-endian uint64s. The
//    server adds the y_u of the survivors U2 (mod 2^64).
//  3 (ConsistencyCheck: only needed against an active server; omitted.)
//  4 Unmasking: the server announces U2. Every answering survivor reveals,
//    for each u, its share of b_u if u is in U2, or its share of s_sk_u if u
//    dropped — NEVER both for the same u (both would let the server unmask
//    u). Clients refuse requests that would break this or that name fewer
//    than t survivors; the server asserts it. With t answers the server
//    rebuilds the seeds, subtracts PRG(b_u) of each survivor, removes the
//    pairwise masks each survivor shared with each dropped client, and reads
//    the sum. Fewer than t survivors: an error, never a wrong sum.
//
// ---- Who sees what. Client state (dc_secagg_client) and server state
// (dc_secagg_server) are separate opaque structs; every server function takes
// only the server and protocol messages (public keys, ciphertexts it relays,
// masked uint64 vectors, revealed shares), never a client or a float update,
// so the server code path has no access to unmasked individual updates. The
// simulation helper dc_secagg_simulate is the only place holding both; it
// moves data between them only through those message types.
//
// ---- Cost. Each client expands K keystreams of 8n bytes, the server one
// per survivor plus one per (dropped, survivor) pair: O(K^2 n) keystream in
// all (about 1.8 GB/s per core here; K = 10, n = 61706: ~0.05 s CPU a round,
// K = 30: ~0.4 s). Masked vectors are 8 bytes a value, twice a float.
//
// ---- Threat model and limits. Honest-but-curious server and up to t-1
// colluding clients (choose t > K/2; fed.c defaults to ceil(2K/3)). No
// signatures/PKI, so an ACTIVE server could substitute keys: out of scope,
// as in the paper's semi-honest variant. Drop-outs are modelled after key
// sharing (between rounds 1 and 2, and in round 4): the case that costs
// work. All cryptography is libsodium (X25519, BLAKE2b, XChaCha20,
// crypto_box); only Shamir sharing over GF(2^61-1) is written here because
// libsodium has none. Randomness comes from randombytes_buf, or — TESTS
// ONLY — from a seed (insecure_test_seed), which makes every key and mask
// reproducible and therefore worthless as a secret.
#ifndef DC_SECAGG_H
#define DC_SECAGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "deepc.h"

#define DC_SECAGG_KEYBYTES 32  // X25519 keys, seeds
#define DC_SECAGG_LIMBS 5      // a 32-byte secret as 5 field elements of 56 bits
#define DC_SECAGG_NONCEBYTES 24 // crypto_box nonce
#define DC_SECAGG_PTBYTES (16 + 2 * 8 * DC_SECAGG_LIMBS) // ids, round, 2 shares
#define DC_SECAGG_BOXBYTES (DC_SECAGG_PTBYTES + 16)      // + Poly1305 tag

typedef struct dc_secagg_params {
    int n_clients;       // K >= 2, client ids 0..K-1
    int threshold;       // t, 2 <= t <= K: answering survivors needed
    size_t n;            // vector length, >= 1
    double clip;         // R > 0: coordinates clipped to [-R, R]
    int frac_bits;       // F in [1, 61]; 0 = largest safe F <= 48 (see above)
    uint64_t round;      // round number: enters every derivation and nonce
    int nthreads;        // dc_secagg_simulate: OpenMP threads, 0 = default
    bool insecure_test_seed; // TESTS ONLY: keys, seeds, nonces from test_seed
    uint64_t test_seed;
} dc_secagg_params;

// K, t, n as given; R = 65536, F = 0 (auto), round 0, OS randomness.
dc_secagg_params dc_secagg_params_default(int n_clients, int threshold, size_t n);

// Validates p and returns in *frac_bits the F that will be used.
dc_status dc_secagg_params_check(const dc_secagg_params *p, int *frac_bits, dc_error *err);

// Messages (all plain data that would cross the network).
typedef struct dc_secagg_pubkeys {       // round 0, client -> server -> all
    uint8_t c_pk[DC_SECAGG_KEYBYTES];    // X25519 key for crypto_box
    uint8_t s_pk[DC_SECAGG_KEYBYTES];    // X25519 key for mask agreement
} dc_secagg_pubkeys;

typedef struct dc_secagg_ciphertext {    // round 1, client u -> server -> v
    uint8_t nonce[DC_SECAGG_NONCEBYTES];
    uint8_t box[DC_SECAGG_BOXBYTES];     // crypto_box(u, v, round, shares)
} dc_secagg_ciphertext;

typedef struct dc_secagg_share {         // a Shamir share of a 32-byte secret
    uint32_t x;                          // evaluation point = holder id + 1
    uint64_t y[DC_SECAGG_LIMBS];         // one value in GF(2^61-1) per limb
} dc_secagg_share;

typedef enum dc_secagg_reveal_kind {
    DC_SECAGG_REVEAL_SELF_MASK = 1,      // share of b_u: u survived
    DC_SECAGG_REVEAL_SECRET_KEY = 2,     // share of s_sk_u: u dropped
} dc_secagg_reveal_kind;

typedef struct dc_secagg_reveal {        // round 4, survivor -> server
    int32_t about;                       // u
    int32_t kind;                        // dc_secagg_reveal_kind
    dc_secagg_share share;
} dc_secagg_reveal;

// ---------------------------------------------------------------------------
// Client side. One dc_secagg_client per client per round. Call in order:
// new, advertise, share_keys, receive, mask, unmask, free.
typedef struct dc_secagg_client dc_secagg_client;

// Creates client `id` (0 <= id < K) for this round and draws its keys.
dc_status dc_secagg_client_new(dc_secagg_client **c, const dc_secagg_params *p, int id,
                               dc_error *err);
// Securely erases secrets, frees; NULL is fine.
void dc_secagg_client_free(dc_secagg_client *c);
// Round 0: the public keys to send.
void dc_secagg_client_advertise(const dc_secagg_client *c, dc_secagg_pubkeys *out);
// Round 1: all (K) advertised keys in id order; writes out[v], the
// ciphertext for client v, for every v != id (out[id] is zeroed: a client
// keeps its own share). keys[id] must be the client's own keys.
dc_status dc_secagg_client_share_keys(dc_secagg_client *c, const dc_secagg_pubkeys *keys,
                                      dc_secagg_ciphertext *out, dc_error *err);
// Round 1 (delivery): ct is what client `from` sent to this client.
// Authenticated, decrypted and checked (sender, receiver, round); one per
// peer, in any order; masking needs all K-1.
dc_status dc_secagg_client_receive(dc_secagg_client *c, int from, const dc_secagg_ciphertext *ct,
                                   dc_error *err);
// Round 2: update is (n) floats; masked_out (n) gets y_u.
dc_status dc_secagg_client_mask(dc_secagg_client *c, const float *update, uint64_t *masked_out,
                                dc_error *err);
// Coordinates clipped to [-R, R] by dc_secagg_client_mask.
size_t dc_secagg_client_clipped(const dc_secagg_client *c);
// Round 4: survived (K) is the server's U2; out (K) gets one reveal per
// client. Refuses (DC_ERR_ARG) when fewer than t survived, when this client is
// not listed as a survivor or never masked, or when a repeated request would
// reveal the other kind of share for some client.
dc_status dc_secagg_client_unmask(dc_secagg_client *c, const bool *survived,
                                  dc_secagg_reveal *out, dc_error *err);

// ---------------------------------------------------------------------------
// Server side. Call in order: new, set_keys, add_masked (each survivor),
// unmask_request, add_reveals (each answering survivor), finish, free.
typedef struct dc_secagg_server dc_secagg_server;

dc_status dc_secagg_server_new(dc_secagg_server **s, const dc_secagg_params *p, dc_error *err);
void dc_secagg_server_free(dc_secagg_server *s);
// Round 0: the K advertised key pairs (the server broadcasts the same array).
dc_status dc_secagg_server_set_keys(dc_secagg_server *s, const dc_secagg_pubkeys *keys,
                                    dc_error *err);
// Round 2: client `from` delivered masked (n). Each client at most once.
dc_status dc_secagg_server_add_masked(dc_secagg_server *s, int from, const uint64_t *masked,
                                      dc_error *err);
// Closes round 2 and writes U2 into survived_out (K). Fails when fewer than t
// clients delivered: the sum cannot be recovered.
dc_status dc_secagg_server_unmask_request(dc_secagg_server *s, bool *survived_out, dc_error *err);
// Round 4: survivor `from` answered with reveals (K). Checked against U2.
dc_status dc_secagg_server_add_reveals(dc_secagg_server *s, int from, const dc_secagg_reveal *r,
                                       dc_error *err);
// Unmasks. sum_out (n) gets the dequantised sum of the survivors' updates;
// fixed_out (n, may be NULL) the exact fixed-point sum (value * 2^F). Fails
// with fewer than t answers; outputs are written only on success.
dc_status dc_secagg_server_finish(dc_secagg_server *s, float *sum_out, int64_t *fixed_out,
                                  dc_error *err);

// ---------------------------------------------------------------------------
// The whole protocol in one process (what `deepc federate --secure-agg`
// calls). updates[k] is client k's (n) floats; dropped (K, NULL = none) marks
// clients that vanish after key sharing (they never send a masked vector nor
// answer). sum_out (n) gets the sum over the survivors; fixed_out (n, may be
// NULL) the exact fixed-point sum; stats (may be NULL) what a real run would
// send. Clients run in parallel (OpenMP); the result does not depend on the
// thread count or on the randomness (the sum is exact).
typedef struct dc_secagg_stats {
    int frac_bits;       // F used
    int survivors;       // |U2|
    size_t clipped;      // coordinates clipped to [-R, R], all clients
    double bytes_up;     // client -> server, all clients, all rounds
    double bytes_down;   // server -> client
} dc_secagg_stats;

dc_status dc_secagg_simulate(const dc_secagg_params *p, const float *const *updates,
                             const bool *dropped, float *sum_out, int64_t *fixed_out,
                             dc_secagg_stats *stats, dc_error *err);

// The fixed-point value a client sends before masking (exposed for tests
// that compare with the plain fixed-point sum): clip to [-R, R], times 2^F,
// round half up. Returns 1 when v was clipped.
int dc_secagg_quantise(float v, double clip, int frac_bits, int64_t *q);

// ---------------------------------------------------------------------------
// Shamir secret sharing over GF(2^61-1) (written here: libsodium has none).
// A 32-byte secret is 5 limbs of 56 bits (the last 32); each limb is the
// constant term of its own random polynomial of degree t-1, evaluated at
// x = 1..n_shares.

// Splits secret into n_shares shares (out[i].x = i+1), any t of which
// recover it; 2 <= t <= n_shares. Coefficients come from randombytes_buf, or
// — TESTS ONLY — from *insecure_test_seed when it is not NULL.
dc_status dc_secagg_shamir_split(const uint8_t secret[DC_SECAGG_KEYBYTES], int n_shares, int t,
                                 const uint64_t *insecure_test_seed, dc_secagg_share *out,
                                 dc_error *err);
// Interpolates the k shares at 0 and writes the secret. With fewer than t
// shares the result is (with overwhelming probability) a different value and
// usually out of range: then DC_ERR_FORMAT is returned, out still filled.
// Duplicate or zero x: DC_ERR_ARG.
dc_status dc_secagg_shamir_combine(const dc_secagg_share *shares, int k,
                                   uint8_t out[DC_SECAGG_KEYBYTES], dc_error *err);

#endif
