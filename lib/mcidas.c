/* mcidas.c: McIdas area files (satellite images) as Pillow 9.4's McIdasImagePlugin reads them, then
 * convert("RGB").
 *
 * The file starts with its directory: 64 big-endian 32-bit signed words, numbered from 1, the first
 * two 0 and 4 (the signature). Word 11 is the bytes a sample (1: mode L; 2 and 4: mode I, unsigned
 * 16-bit and signed 32-bit big-endian samples, clipped by convert: pil_convert.h), 10 the width,
 * 9 the height, 14 the bands. The first row starts at word 34 + word 15 (a row's prefix), and
 * each next one word 15 + width x word 11 x word 14 bytes on (the stride), top row first.
 *
 * Pillow reads the rows two ways. A mode L file opened by name (as load_image opens it) is mapped
 * when word 34 + height x stride is within the file: a stride of 0 or below then means the
 * width, the whole span must be in the file, and rows may overlap (the mapping's last page reads
 * 0 past the file's end; past that page, or before the file, Pillow reads other memory: refused). Otherwise its raw decoder reads them: a stride below a row's bytes is
 * refused (0 means none), the last row's padding need not be there. Either way the stride is a C
 * int. A directory under 256 bytes, another word 11 or a side below 1 is not a McIdas file to
 * Pillow, which tries its next plugins: so does align (tga_or_refuse). */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"

#define MCIDAS_DIRECTORY 256
#define MAPPED_PAGE 4096 /* the page a mapping of the file ends on, read as 0 past the file's end */

/* Where the rows are: row y at start + y x pitch, each of w x bytes bytes (past the file's end: 0). */
typedef struct {
    int64_t start, pitch;
    int64_t w, h, bytes;
} mcidas_rows;

static int32_t word(const uint8_t *p, int i) { return (int32_t)be32(p + 4 * (i - 1)); }

/* Where Pillow finds the rows; NULL, or why it refuses the file. */
static const char *mcidas_layout(const uint8_t *p, size_t n, mcidas_rows *r)
{
    int64_t prefix = word(p, 15), start = (int64_t)word(p, 34) + prefix, row = r->w * r->bytes;
    int64_t bands = word(p, 14);
    if (llabs(bands) > (INT64_MAX / 2) / row) return "McIdas stride out of a C int's range";
    int64_t stride = prefix + row * bands;
    if (stride < INT_MIN || stride > INT_MAX) return "McIdas stride out of a C int's range";
    if (r->bytes == 1 && start + r->h * stride <= (int64_t)n) { /* mapped */
        int64_t pitch = stride > 0 ? stride : r->w;
        if (start + r->h * pitch > (int64_t)n) return "McIdas data cut short";
        if (start < 0) return "McIdas data starting before the file";
        if (start + (r->h - 1) * pitch + r->w > ((int64_t)n + MAPPED_PAGE - 1) / MAPPED_PAGE * MAPPED_PAGE)
            return "McIdas rows overlapping past the file's last page (Pillow reads memory beyond its mapping)";
        *r = (mcidas_rows){start, pitch, r->w, r->h, 1};
        return NULL;
    }
    if (start < 0) return "McIdas data starting before the file";
    if (stride && stride < row) return "McIdas stride shorter than a row";
    int64_t pitch = stride ? stride : row;
    if (start + (r->h - 1) * pitch + row > (int64_t)n) return "McIdas data cut short";
    r->start = start, r->pitch = pitch;
    return NULL;
}

static uint8_t mcidas_level(const uint8_t *s, int64_t bytes)
{
    if (bytes == 1) return s[0];
    if (bytes == 2) return pil_int_level((int32_t)be16(s));
    return pil_int_level((int32_t)be32(s));
}

static void mcidas_to_rgb(const uint8_t *p, size_t n, const mcidas_rows *r, uint8_t *rgb)
{
    for (int64_t y = 0; y < r->h; y++) {
        int64_t at = r->start + y * r->pitch;
        for (int64_t x = 0; x < r->w; x++, at += r->bytes, rgb += 3)
            rgb[0] = rgb[1] = rgb[2] = at + r->bytes <= (int64_t)n ? mcidas_level(p + at, r->bytes) : 0;
    }
}

align_status mcidas_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                           align_error *err)
{
    if (n < MCIDAS_DIRECTORY) return tga_or_refuse(p, n, name, max_pixels, out, err, "McIdas directory cut short");
    int32_t bytes = word(p, 11), w = word(p, 10), h = word(p, 9);
    if (bytes != 1 && bytes != 2 && bytes != 4)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "McIdas sample size Pillow has no mode for");
    if (w <= 0 || h <= 0) return tga_or_refuse(p, n, name, max_pixels, out, err, "McIdas image of no pixels");
    align_status s = image_check_size(name, "McIdas", w, h, max_pixels, err);
    if (s) return s;
    mcidas_rows r = {0, 0, w, h, bytes};
    const char *why = mcidas_layout(p, n, &r);
    if (why) return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
    uint8_t *rgb = big_malloc((size_t)w * (size_t)h * 3);
    if (!rgb) return image_out_of_memory(name, w, h, err);
    mcidas_to_rgb(p, n, &r, rgb);
    out->rgb = rgb, out->width = w, out->height = h;
    return ALIGN_OK;
}
