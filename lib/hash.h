/* hash.h: 64-bit FNV-1a, a small hash that is the same on every machine, build and run (model
 * identities, label cache entries). Not cryptographic: it tells honest inputs apart. */
#ifndef ALIGN_HASH_H
#define ALIGN_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 0xcbf29ce484222325ull

static inline uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#endif
