/* byteorder.h: little-endian integers read from bytes of any alignment (zip records, pickles). */
#ifndef ALIGN_BYTEORDER_H
#define ALIGN_BYTEORDER_H

#include <stdint.h>

static inline uint32_t rd16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t rd32le(const uint8_t *p) { return rd16le(p) | rd16le(p + 2) << 16; }
static inline uint64_t rd64le(const uint8_t *p) { return rd32le(p) | (uint64_t)rd32le(p + 4) << 32; }

#endif
