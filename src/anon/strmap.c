// strmap.c — string -> int map for the anonymiser (contract in strmap.h).
#include "anon/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ? h : 1; // 0 marks an empty slot
}

void dc_strmap_init(dc_strmap *m) { memset(m, 0, sizeof *m); }

void dc_strmap_free(dc_strmap *m) {
    free(m->hash);
    free(m->key);
    free(m->klen);
    free(m->val);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static size_t find(const dc_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t i = h & (m->cap - 1);
    while (m->hash[i] && !(m->hash[i] == h && m->klen[i] == len && !memcmp(m->arena + m->key[i], key, len)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int dc_strmap_get(const dc_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    size_t i = find(m, key, len, fnv1a(key, len));
    return m->hash[i] ? m->val[i] : -1;
}

static bool grow(dc_strmap *m) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    uint64_t *h = calloc(nc, sizeof *h);
    size_t *k = malloc(nc * sizeof *k), *kl = malloc(nc * sizeof *kl);
    int *v = malloc(nc * sizeof *v);
    if (!h || !k || !kl || !v) {
        free(h), free(k), free(kl), free(v);
        return false;
    }
    dc_strmap n = *m;
    n.cap = nc;
    n.hash = h;
    n.key = k;
    n.klen = kl;
    n.val = v;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->hash[i]) continue;
        size_t j = m->hash[i] & (nc - 1);
        while (h[j]) j = (j + 1) & (nc - 1);
        h[j] = m->hash[i];
        k[j] = m->key[i];
        kl[j] = m->klen[i];
        v[j] = m->val[i];
    }
    free(m->hash), free(m->key), free(m->klen), free(m->val);
    *m = n;
    return true;
}

bool dc_strmap_put(dc_strmap *m, const char *key, size_t len, int val, int *out, bool *found) {
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return false;
    const uint64_t h = fnv1a(key, len);
    size_t i = find(m, key, len, h);
    if (m->hash[i]) {
        if (found) *found = true;
        if (out) *out = m->val[i];
        return true;
    }
    if (m->alen + len + 1 > m->acap) {
        size_t nc = (m->acap + len + 1) * 2;
        char *na = realloc(m->arena, nc);
        if (!na) return false;
        m->arena = na;
        m->acap = nc;
    }
    memcpy(m->arena + m->alen, key, len);
    m->arena[m->alen + len] = 0;
    m->hash[i] = h;
    m->key[i] = m->alen;
    m->klen[i] = len;
    m->val[i] = val;
    m->alen += len + 1;
    m->count++;
    if (found) *found = false;
    if (out) *out = val;
    return true;
}
