/* depthwise_reference.c: the depthwise convolution written for clarity, one output pixel at a time.
 * The reference the tuned tiles are tested against, and the fallback for the windows, strides,
 * activations and channel counts the tiles do not take. */
#include "depthwise.h"

#include "ops.h"

/* acc[0, c) = b + the window's sum of in * w for output pixel (y, x). Taps that fall off the map
 * are the zero padding, so they are skipped. */
static void window_sum(const depthwise_job *j, const float *in, int y, int x, float *acc)
{
    int c = j->c, k = j->k;
    for (int ch = 0; ch < c; ch++) acc[ch] = j->b[ch];
    for (int ky = 0; ky < k; ky++) {
        int iy = y * j->stride - j->pad_y + ky;
        if (iy < 0 || iy >= j->h) continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = x * j->stride - j->pad_x + kx;
            if (ix < 0 || ix >= j->w_) continue;
            const float *src = in + ((size_t)iy * j->w_ + ix) * c, *wt = j->w + ((size_t)ky * k + kx) * c;
            for (int ch = 0; ch < c; ch++) acc[ch] += src[ch] * wt[ch];
        }
    }
}

void depthwise_row_reference(const depthwise_job *j, const float *in, float *out, int y, float *rowsum)
{
    int c = j->c;
    for (int x = 0; x < j->ow; x++) {
        float *o = out + ((size_t)y * j->ow + x) * c;
        window_sum(j, in, y, x, o);
        act_apply(j->act, o, (size_t)c);
        for (int ch = 0; ch < c; ch++) rowsum[ch] += o[ch];
    }
}
