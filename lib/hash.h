/* hash.h: a small 64-bit hash that is the same on every run and build (model identities, label
 * cache checksums). Not cryptographic: it tells honest inputs apart.
 *
 * FNV-1a takes a multiply per byte, under 1 GB/s; a model identity hashes some 6 MB on every load
 * (8 ms of a 20 ms load that way), so this takes 8 bytes a step: xor a word in, multiply (which
 * carries every bit upward), and xor-shift (which brings the high bits back down for the next
 * word). Words are read in the machine's byte order, as the float32 data it hashes is stored. */
#ifndef ALIGN_HASH_H
#define ALIGN_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_INIT 0xcbf29ce484222325ull

static inline uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    for (; n; p++, n--) h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

#endif
