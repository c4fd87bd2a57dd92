/* vision_plan.c: how large each of the vision tower's buffers must be for a batch, and where each
 * starts in one workspace. */
#include "vision_plan.h"

#include "cpu.h"
#include "depthwise.h"
#include "im2col.h"
#include "squeeze_excite.h"

int vision_block_output(const vision_block *b, int in, int *pad_before)
{
    return depthwise_output_size(in, b->kernel, b->stride, b->adjust_padding, pad_before);
}

static void grow(size_t *have, size_t want)
{
    if (want > *have) *have = want;
}

long vision_padded_rows(int row_period, long rows)
{
    if (row_period <= 1 || rows < BLAS_INDEPENDENT_ROWS || rows % row_period == 0) return 0;
    return (rows + row_period - 1) / row_period * row_period;
}

/* A product's padded input and output, k images of rows, when it needs them. */
static void grow_padded(size_t *have, int row_period, int k, long rows, int in, int out)
{
    grow(have, (size_t)k * vision_padded_rows(row_period, rows) * (size_t)(in + out));
}

/* Blocks that run one image at a time in a batch of n. */
static int early_blocks(const vision_config *v, int batch_below, int n, int h, int w)
{
    int early = 0, pad;
    /* a batch of one has nothing to gain from the split */
    for (; n > 1 && early < v->n_blocks && h * w >= batch_below; early++) {
        h = vision_block_output(&v->blocks[early], h, &pad);
        w = vision_block_output(&v->blocks[early], w, &pad);
    }
    return early;
}

vision_plan vision_plan_make(const vision_config *v, int batch_below, int row_period, int n, int h, int w)
{
    vision_plan p = {0};
    int pad;
    h = im2col_3x3s2_size(h);
    w = im2col_3x3s2_size(w);
    p.early = early_blocks(v, batch_below, n, h, w);
    int k = p.early ? 1 : n; /* images a block runs at once */
    grow(&p.map, (size_t)k * h * w * v->stem_dim);
    p.expanded = (size_t)k * h * w * 9 * v->num_channels; /* the stem's patches */
    grow_padded(&p.padded, row_period, k, (long)h * w, 9 * v->num_channels, v->stem_dim);
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        if (i == p.early) k = n;
        size_t in = (size_t)k * h * w;
        grow(&p.map, in * b->in_dim);
        if (b->has_expand) {
            grow(&p.expanded, in * b->expand_dim);
            grow_padded(&p.padded, row_period, k, (long)h * w, b->in_dim, b->expand_dim);
        }
        h = vision_block_output(b, h, &pad);
        w = vision_block_output(b, w, &pad);
        size_t out = (size_t)k * h * w;
        grow_padded(&p.padded, row_period, k, (long)h * w, b->expand_dim, b->out_dim);
        grow(&p.dw, out * b->expand_dim);
        grow(&p.map, out * b->out_dim);
        /* the early blocks' outputs are gathered for the whole batch, even when every block is
         * early; after that, gather is one of the two maps the later blocks swap between */
        if (i == p.early - 1) grow(&p.gather, (size_t)n * h * w * b->out_dim);
        if (p.early && i >= p.early) grow(&p.gather, out * b->out_dim);
        size_t se = (size_t)k * SE_FLOATS(b->expand_dim, b->se_dim);
        if (se_scales_weights(b->out_dim, h * w)) se += (size_t)b->out_dim * b->expand_dim;
        grow(&p.se, se);
        grow(&p.sums, (size_t)k * DEPTHWISE_BANDS * b->expand_dim);
    }
    p.rowsums = p.sums;
    p.floats = 2 * p.sums + p.rowsums + 2 * p.map + p.gather + p.expanded + p.dw + p.se + p.padded;
    return p;
}

vision_buffers vision_plan_carve(const vision_plan *plan, float *workspace)
{
    vision_buffers b;
    b.sums = (double *)workspace; /* first, so that it is 8-byte aligned */
    b.rowsums = workspace + 2 * plan->sums;
    b.cur = b.rowsums + plan->rowsums;
    b.next = b.cur + plan->map;
    b.gather = b.next + plan->map;
    b.expanded = b.gather + plan->gather;
    b.dw = b.expanded + plan->expanded;
    b.se = b.dw + plan->dw;
    b.padded = b.se + plan->se;
    return b;
}
