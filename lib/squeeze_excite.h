/* squeeze_excite.h: squeeze-excitation. The squeeze turns each image's depthwise output into one
 * gate per channel, sigmoid(expand(act(reduce(mean over the map)))); the excitation multiplies the
 * map's channels by it, or, when that is cheaper, the next product's weights. */
#ifndef ALIGN_SQUEEZE_EXCITE_H
#define ALIGN_SQUEEZE_EXCITE_H

#include "config.h"
#include "kernels.h"
#include "parallel.h"

typedef struct {
    const float *reduce_w, *reduce_b; /* [d, c], [d] */
    const float *expand_w, *expand_b; /* [c, d], [c] */
    int c, d;                         /* channels, squeezed channels */
} se_weights;

/* Floats of se_gates' output per image: mean[c], gate[c], mid[d]. */
#define SE_FLOATS(c, d) (2 * (size_t)(c) + (size_t)(d))

/* The gates of n images (se: [n][SE_FLOATS]) from the depthwise bands' channel sums
 * ([n][bands][c]) over maps of hw pixels. */
void se_gates(thread_pool *pool, const se_weights *w, const double *sums, int bands, int hw, act_kind act, int n,
              float *se);
/* Image i's gate, c floats. */
const float *se_gate(const se_weights *w, const float *se, int i);

/* Whether the excitation should scale the next product's weights (out x c per image) rather than
 * the map (hw x c): true when that is fewer multiplications. */
int se_scales_weights(int out_dim, int hw);
/* x[i] (n maps of hw pixels, c channels) *= image i's gate, over the pool. */
void se_scale_maps(thread_pool *pool, const kernel_table *kt, const se_weights *w, const float *se, int n, long hw,
                   float *x);

#endif
