/* im2col.h: the stem convolution's input windows laid out as rows of a matrix, so that the stem is
 * one matrix product. */
#ifndef ALIGN_IM2COL_H
#define ALIGN_IM2COL_H

#include "parallel.h"

/* Output size along one axis of a 3x3, stride 2 convolution whose input is padded with one zero
 * after (right, bottom) and nothing before, as Hugging Face's stem is. */
int im2col_3x3s2_size(int in);

/* n maps [h][w][c] -> patches [n][oh][ow][3][3][c]: each output pixel's window, zero past the
 * right and bottom edges. */
void im2col_3x3s2(thread_pool *pool, const float *in, int n, int h, int w, int c, float *patches);

#endif
