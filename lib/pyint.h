/* pyint.h: numbers as Python's int() and float() read text, and the whitespace that splits it, for
 * the decoders whose Pillow plugin parses its header in Python: PNM, FITS, IM, IM Tools, XBM, XV
 * thumbnails, XPM's colours in base 16, and EPS (IM and EPS read floats too). */
#ifndef ALIGN_PYINT_H
#define ALIGN_PYINT_H

#include <stddef.h>
#include <stdint.h>

/* The bytes Python's bytes.split() and bytes.strip() take for whitespace (ASCII's six) */
static inline int py_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Where *value stops growing: far beyond any size, count or sample a header may give (each caller
 * holds the numbers to its own limits after). */
#define PYINT_HUGE (1ll << 40)

/* Python's int(s, base) for base 10 or 16 of s[0..len), whatever whitespace around it already
 * taken off: an optional sign, in base 16 an optional 0x (one underscore may follow it), then digits
 * with single underscores between them. 1 with *value (saturated at +-PYINT_HUGE) and, when low is
 * not NULL, the number modulo 2^64 (a negative one's two's complement) in *low; 0 where int() raises
 * ValueError. */
int py_int(const uint8_t *s, size_t len, int base, long long *value, unsigned long long *low);

/* Python's float(s) of s[0..len), whatever whitespace around it already taken off: an optional
 * sign, then inf, infinity or nan in any case, or digits with single underscores between them,
 * an optional point and fraction (digits on at least one side) and an optional exponent. 1 with
 * *value; 0 where float() raises ValueError, and for len over PYFLOAT_MAX_LEN. */
#define PYFLOAT_MAX_LEN 511
int py_float(const uint8_t *s, size_t len, double *value);

#endif
