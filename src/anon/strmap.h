// strmap.h — a string -> int map (open addressing, FNV-1a), internal to the
// anonymiser. Keys are copied into the map's own arena, so callers may pass
// temporaries. Deterministic: no random seeding (the inputs are not
// adversarial keys to a server; a pathological table is slow, not wrong).
#ifndef DC_ANON_STRMAP_H
#define DC_ANON_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dc_strmap {
    size_t cap, count;   // slots (a power of two) and keys in use
    uint64_t *hash;      // (cap) 0: empty slot
    size_t *key;         // (cap) offsets of keys in arena
    size_t *klen;        // (cap)
    int *val;            // (cap)
    char *arena;
    size_t alen, acap;
} dc_strmap;

void dc_strmap_init(dc_strmap *m);
void dc_strmap_free(dc_strmap *m);
// The value of key (len bytes), or -1.
int dc_strmap_get(const dc_strmap *m, const char *key, size_t len);
// Inserts key -> val unless present; *found receives whether it was, *out
// the value now stored. Returns false when out of memory.
bool dc_strmap_put(dc_strmap *m, const char *key, size_t len, int val, int *out, bool *found);

#endif
