/* stb_checks.h: what stb_image 2.27 would get wrong in a file, found before it sees the file. A
 * truncated file that PIL refuses, stb_image completes with invented pixels; these say so. */
#ifndef ALIGN_STB_CHECKS_H
#define ALIGN_STB_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* For a PNG cut short where PIL still reads it: the bytes to keep, and in *crc_pad the CRC bytes to
 * add before an IEND; 0 to decode the file as it is. */
size_t png_cut_short(const uint8_t *p, size_t n, size_t *crc_pad);

#endif
