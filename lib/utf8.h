/* utf8.h: where a byte string stops being UTF-8, as Python's strict decoder (and so Hugging Face's
 * tokenizer and Pillow's iTXt reader) sees it: utf8proc refuses what it refuses (overlong forms,
 * surrogates, code points above U+10FFFF). */
#ifndef ALIGN_UTF8_H
#define ALIGN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The offset of the first invalid sequence in s[0..n), or n when there is none. */
size_t utf8_valid_prefix(const uint8_t *s, size_t n);

#endif
