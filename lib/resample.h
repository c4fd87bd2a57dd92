/* resample.h: PIL's Image.resize reproduced bit for bit on 8-bit RGB. */
#ifndef ALIGN_RESAMPLE_H
#define ALIGN_RESAMPLE_H

#include "align.h"
#include "resample_row.h"

/* PIL resample filter numbers, as preprocessor_config.json writes them. */
enum { RESAMPLE_NEAREST = 0, RESAMPLE_LANCZOS = 1, RESAMPLE_BILINEAR = 2, RESAMPLE_BICUBIC = 3,
       RESAMPLE_BOX = 4, RESAMPLE_HAMMING = 5 };

/* PIL's Image.resize on 8-bit RGB with the given filter, its horizontal pass by row (a kernel
 * table's, or resample_row_reference); out->rgb is malloc'ed. */
align_status image_resize(const align_image *in, int out_w, int out_h, int filter, resample_row_fn row,
                          align_image *out, align_error *err);

/* PIL's resize of an image whose rows arrive one at a time, as a decoder gives them, with the
 * file's EXIF orientation applied on the way: the bytes orientation_apply and then image_resize
 * give, without the full-size image ever being held. A 12-megapixel photo's 36 MB become the
 * horizontal pass's rows: 3 MB at the model's 346 pixels wide.
 *
 * A decoded row is a row of the oriented image for orientations 1-4 (mirrored, or in reverse
 * order), and goes through the horizontal pass as it comes. For 5-8 it is a column: its pixels are
 * added into the horizontal pass's sums of the output columns whose taps it is, each column
 * finished when its last tap has come; unless those sums would take more than the rows they come
 * from (an image a few pixels wide, turned and enlarged), which are then held, turned, and go
 * through the horizontal pass at the end. Both are sums of the same integer products as Pillow's,
 * so the order cannot change a result (resample_row.h). */
typedef struct {
    int in_w, in_h, orientation; /* the decoded image, and the transpose it gets (1..8) */
    int out_w, out_h;
    int need_h, need_v;  /* the passes Pillow makes: a side that keeps its size is not resampled */
    int y0, y1;          /* oriented rows [y0, y1) are the ones the vertical pass reads */
    resample_row_fn row;
    resample_taps_fn taps;
    resample_weights ah, av;
    uint8_t *pass;       /* [y1 - y0][out_w][3]: the horizontal pass */
    uint8_t *mirrored;   /* [in_w][3]: a decoded row reversed, for the orientations that reverse it */
    /* orientations 5-8 with a horizontal pass: the sums of the output columns in progress */
    int32_t *sums;       /* [ring][y1 - y0][3], output column x in slot x % ring */
    int ring;            /* the most output columns one input column is a tap of */
    int *taps_left;      /* [out_w] */
    int *columns;        /* [2][oriented width]: the first and last output column an input column is a tap of */
    uint8_t *held;       /* or [y1 - y0][oriented width][3]: the rows the vertical pass reads, turned */
} resize_feed;

/* Ready for the in_w x in_h rows of an image to be turned by orientation and resized to out_w x
 * out_h with filter (not RESAMPLE_NEAREST), the horizontal pass by row or, for orientations 5-8,
 * by taps, and the vertical pass by taps. On failure f holds nothing to free. */
align_status resize_feed_begin(resize_feed *f, int in_w, int in_h, int orientation, int out_w, int out_h, int filter,
                               resample_row_fn row, resample_taps_fn taps, align_error *err);
/* Decoded row y, in_w RGB pixels; each row once, in any order. */
void resize_feed_row(resize_feed *f, int y, const uint8_t *rgb);
/* After every row: the resized image (out->rgb malloc'ed). */
align_status resize_feed_finish(resize_feed *f, align_image *out, align_error *err);
void resize_feed_free(resize_feed *f);

#endif
