/* im2col.c: the stem's windows as matrix rows, bands of output rows spread over the pool. */
#include "im2col.h"

#include <string.h>

int im2col_3x3s2_size(int in)
{
    return (in + 1 - 3) / 2 + 1;
}

#define BANDS 8

typedef struct {
    const float *in;
    float *patches;
    int h, w, oh, ow, c, rows_per_task, tasks_per_image;
} im2col_job;

static void gather(void *arg, int task)
{
    const im2col_job *j = arg;
    int image = task / j->tasks_per_image, y0 = task % j->tasks_per_image * j->rows_per_task;
    int y1 = y0 + j->rows_per_task < j->oh ? y0 + j->rows_per_task : j->oh;
    const float *in = j->in + (size_t)image * j->h * j->w * j->c;
    float *p = j->patches + ((size_t)image * j->oh + y0) * j->ow * 9 * j->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->ow; x++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++, p += j->c) {
                    int iy = 2 * y + ky, ix = 2 * x + kx;
                    if (iy < j->h && ix < j->w)
                        memcpy(p, in + ((size_t)iy * j->w + ix) * j->c, sizeof(float) * (size_t)j->c);
                    else
                        memset(p, 0, sizeof(float) * (size_t)j->c);
                }
}

void im2col_3x3s2(thread_pool *pool, const float *in, int n, int h, int w, int c, float *patches)
{
    int oh = im2col_3x3s2_size(h), ow = im2col_3x3s2_size(w), rows = (oh + BANDS - 1) / BANDS;
    im2col_job j = {in, patches, h, w, oh, ow, c, rows, (oh + rows - 1) / rows};
    pool_run(pool, n * j.tasks_per_image, gather, &j);
}
