/* stb_checks.h: what stb_image 2.27 would get wrong in a file, found before it sees the file. A
 * truncated file that PIL refuses, stb_image completes with invented pixels; these say so. */
#ifndef ALIGN_STB_CHECKS_H
#define ALIGN_STB_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* For a PNG cut short where PIL still reads it: the bytes to keep, and in *crc_pad the CRC bytes to
 * add before an IEND; 0 to decode the file as it is, or with *refused set, for a file cut where
 * PIL refuses it. */
size_t png_cut_short(const uint8_t *p, size_t n, size_t *crc_pad, int *refused);

/* Where the first chunk that claims more data than the file has left starts, 0 if none does. In
 * *first_idat whether it is the image data's first chunk. */
size_t png_chunk_overruns(const uint8_t *p, size_t n, int *first_idat);

/* Where a palette PNG's PLTE chunk starts when it has fewer than 256 entries, 0 otherwise:
 * stb_image reads an index past them from memory the file never set, where PIL has the grey ramp. */
size_t png_short_palette(const uint8_t *p, size_t n);

#endif
