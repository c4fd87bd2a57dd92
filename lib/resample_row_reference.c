/* resample_row_reference.c: the horizontal pass written as Pillow writes it, one output pixel and
 * one tap at a time, and a tap over a whole column: the references the tuned kernels
 * (resample_row.c) are tested against. */
#include "resample_row.h"

#include <stddef.h>

void resample_row_reference(const uint8_t *src, int in_w, uint8_t *dst, int out_w, const resample_weights *a)
{
    (void)in_w;
    for (int x = 0; x < out_w; x++) {
        const int32_t *k = a->k + (size_t)x * a->kstride;
        const uint8_t *s = src + (size_t)a->first[x] * 3;
        int32_t r = 1 << (RESAMPLE_PRECISION_BITS - 1), g = r, b = r;
        for (int i = 0; i < a->count[x]; i++, s += 3) {
            r += s[0] * k[i];
            g += s[1] * k[i];
            b += s[2] * k[i];
        }
        dst[3 * x] = resample_clip8(r);
        dst[3 * x + 1] = resample_clip8(g);
        dst[3 * x + 2] = resample_clip8(b);
    }
}

void resample_taps_reference(int32_t *sum, const uint8_t *src, size_t n, int32_t k)
{
    for (size_t i = 0; i < n; i++) sum[i] += src[i] * k;
}
