/* byteorder.h: little- and big-endian integers read from bytes of any alignment, in a buffer whose
 * length the caller has already checked. */
#ifndef ALIGN_BYTEORDER_H
#define ALIGN_BYTEORDER_H

#include <stdint.h>

static inline uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static inline uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static inline uint32_t le32(const uint8_t *p) { return le16(p + 2) << 16 | le16(p); }
static inline uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
/* in the byte order a TIFF header names */
static inline uint32_t rd16(const uint8_t *p, int little) { return little ? le16(p) : be16(p); }
static inline uint32_t rd32(const uint8_t *p, int little) { return little ? le32(p) : be32(p); }

#endif
