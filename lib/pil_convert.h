/* pil_convert.h: PIL's convert("RGB") of the modes more than one format decodes to: CMYK, LAB
 * (through LittleCMS, as PIL's own conversion goes), YCbCr, and the 32-bit modes I and F. */
#ifndef ALIGN_PIL_CONVERT_H
#define ALIGN_PIL_CONVERT_H

#include <stddef.h>
#include <stdint.h>

/* One RGB channel of a CMYK pixel, from its colour's ink c and black ink k (0 = none, 255 = full):
 * (255 - k) - c * (255 - k) / 255, rounded as PIL's MULDIV255 rounds. */
uint8_t pil_cmyk_channel(unsigned c, unsigned k);

/* h rows (row_bytes apart) of w PIL LAB pixels, 4 bytes each (L, then a and b with 128 for 0, then
 * a pad byte), to RGBA in place. 1, or -1 when out of memory. */
int pil_lab_to_rgba(uint8_t *rows, size_t row_bytes, int w, int h);

/* A YCbCr pixel (JPEG's full-range coefficients) to RGB, as PIL's convert("RGB") rounds it. */
void pil_ycbcr_to_rgb(const uint8_t ycc[3], uint8_t rgb[3]);

/* The grey level of a mode I sample: clipped to 0..255. */
static inline uint8_t pil_int_level(int32_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* The grey level of a mode F sample (PIL goes through mode L): clipped to 0..255 and truncated,
 * NaN 0. */
static inline uint8_t pil_float_level(float f) { return !(f > 0) ? 0 : f >= 255 ? 255 : (uint8_t)f; }

#endif
