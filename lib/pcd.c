/* pcd.c: Kodak PhotoCD images (.pcd) as Pillow 9.4's PcdImagePlugin and its pcd decoder read them,
 * then convert("RGB"): only the 768 x 512 base image, uncompressed PhotoYCC at sector 96 (byte
 * 96 * 2048). Its rows come in pairs: two rows of luma, then a row of each chroma channel at half
 * the width, shared by both rows. Pillow turns each pixel to RGB by the tables of the "Colour Space
 * Conversions FAQ" (Roberts and Ford), which are computed here the way Pillow's were generated.
 *
 * Pillow's plugin has no signature test: it takes any file with "PCD_" at byte 2048 and long
 * enough to hold the orientation byte 1538 bytes after it (pcd_opens). An orientation of 1 or 3
 * asks for a rotation Pillow 9.4 attempts on its core image object, which has no such method, so
 * it refuses those files once their pixels are decoded. A PhotoCD keeps no EXIF orientation. */
#include "image_decode.h"

#include <string.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"

#define PCD_SIGNATURE_AT 2048
#define PCD_ORIENTATION_AT (PCD_SIGNATURE_AT + 1538)
#define PCD_BASE_AT (96 * 2048)
#define PCD_WIDTH 768
#define PCD_HEIGHT 512
#define PCD_PAIR_BYTES (3 * PCD_WIDTH) /* two luma rows and two half-width chroma rows */

int pcd_opens(const uint8_t *p, size_t n)
{
    return n > PCD_ORIENTATION_AT && memcmp(p + PCD_SIGNATURE_AT, "PCD_", 4) == 0;
}

/* Pillow's tables hold Python's int(v + 0.5) of the FAQ's products (truncated towards zero); the
 * same integers come from fixed-point sums and C's division, with no floating point to round
 * otherwise. s is the scale in units of 1 / unit. */
static int pcd_term(long s, long unit, int v)
{
    return (int)((s * v + unit / 2) / unit);
}

typedef struct {
    int luma[256], red[256], green_c1[256], green_c2[256], blue[256];
} pcd_tables;

static void pcd_make_tables(pcd_tables *t)
{
    for (int v = 0; v < 256; v++) {
        t->luma[v] = pcd_term(13584, 10000, v);               /* 1.3584 Y */
        t->blue[v] = pcd_term(22179, 10000, v - 156);         /* 2.2179 (C1 - 156) */
        t->red[v] = pcd_term(18215, 10000, v - 137);          /* 1.8215 (C2 - 137) */
        t->green_c1[v] = pcd_term(-4302726, 10000000, v - 156); /* -0.194 of the blue term */
        t->green_c2[v] = pcd_term(-9271435, 10000000, v - 137); /* -0.509 of the red term */
    }
}

static uint8_t pcd_clip(int v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

/* One row from its luma and its pair's chroma. */
static void pcd_row(const pcd_tables *t, const uint8_t *luma, const uint8_t *c1, const uint8_t *c2, uint8_t *rgb)
{
    for (int x = 0; x < PCD_WIDTH; x++, rgb += 3) {
        int l = t->luma[luma[x]], b = c1[x / 2], r = c2[x / 2];
        rgb[0] = pcd_clip(l + t->red[r]);
        rgb[1] = pcd_clip(l + t->green_c2[r] + t->green_c1[b]);
        rgb[2] = pcd_clip(l + t->blue[b]);
    }
}

align_status pcd_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    align_status s = image_check_size(name, "PhotoCD", PCD_WIDTH, PCD_HEIGHT, max_pixels, err);
    if (s) return s;
    if (n < PCD_BASE_AT || (n - PCD_BASE_AT) / PCD_PAIR_BYTES < PCD_HEIGHT / 2)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PhotoCD (its base image cut short)", name);
    unsigned orientation = p[PCD_ORIENTATION_AT] & 3;
    if (orientation == 1 || orientation == 3)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: PhotoCD image to be rotated, which Pillow 9.4 fails to do "
                          "(it refuses the image too)", name);
    uint8_t *rgb = big_malloc((size_t)PCD_WIDTH * PCD_HEIGHT * 3);
    if (!rgb) return image_out_of_memory(name, PCD_WIDTH, PCD_HEIGHT, err);
    pcd_tables t;
    pcd_make_tables(&t);
    for (int y = 0; y < PCD_HEIGHT; y += 2) {
        const uint8_t *pair = p + PCD_BASE_AT + (size_t)(y / 2) * PCD_PAIR_BYTES;
        const uint8_t *c1 = pair + 2 * PCD_WIDTH, *c2 = c1 + PCD_WIDTH / 2;
        pcd_row(&t, pair, c1, c2, rgb + (size_t)y * PCD_WIDTH * 3);
        pcd_row(&t, pair + PCD_WIDTH, c1, c2, rgb + (size_t)(y + 1) * PCD_WIDTH * 3);
    }
    out->rgb = rgb;
    out->width = PCD_WIDTH;
    out->height = PCD_HEIGHT;
    return ALIGN_OK;
}
