/* stb_decode.c: PNG, the one format stb_image still decodes, made to agree with PIL where the
 * two differ: stb_image is given the PNG as Pillow reads it (png_chunks.h), and 16-bit grey comes
 * out as PIL's convert("RGB") gives it. stb_image allocates with the C
 * library's malloc, so its buffers are freed with free(). */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "png_chunks.h"

/* stb_image's reason. The only message of its own that quoted the file's bytes, a critical chunk
 * it does not know, cannot come: it is given no chunk but IHDR, PLTE, IDAT and IEND. */
static const char *stb_reason(void)
{
    const char *r = stbi_failure_reason();
    return r && *r ? r : "unreadable data";
}

/* stb_image says "outofmem" when an allocation fails: that is not a corrupt file. */
static align_status stb_failed(const char *name, int w, int h, align_error *err)
{
    if (strcmp(stb_reason(), "outofmem") == 0) return image_out_of_memory(name, w, h, err);
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (%s)", name, stb_reason());
}

/* The image's width and height from its header alone: nothing is allocated for a size over the
 * limit. */
static align_status stb_header(const uint8_t *p, size_t n, const char *name,
                               uint64_t max_pixels, int *w, int *h, align_error *err)
{
    int comp;
    if (!stbi_info_from_memory(p, (int)n, w, h, &comp))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (%s)", name, stb_reason());
    return image_check_size(name, "PNG", *w, *h, max_pixels, err);
}

/* Hands rgb (got_w x got_h) to out when it has the size the header gave (w x h), else frees it. */
static align_status stb_keep(uint8_t *rgb, int got_w, int got_h, int w, int h,
                             const char *name, align_image *out, align_error *err)
{
    if (got_w != w || got_h != h) {
        free(rgb);
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (size changed while decoding)", name);
    }
    out->rgb = rgb;
    out->width = w;
    out->height = h;
    return ALIGN_OK;
}

/* stb_image's RGB pixels of a file whose header said w x h. */
static align_status stb_rgb(const uint8_t *p, size_t n, const char *name, int w, int h,
                            align_image *out, align_error *err)
{
    int got_w = 0, got_h = 0, comp;
    uint8_t *rgb = stbi_load_from_memory(p, (int)n, &got_w, &got_h, &comp, 3);
    if (!rgb) return stb_failed(name, w, h, err);
    return stb_keep(rgb, got_w, got_h, w, h, name, out, err);
}

/* 16-bit grey: PIL makes it mode "I" and convert("RGB") clips the values at 255 (every other
 * 16-bit PNG keeps the high byte, as stb_image does). */
static align_status png_pixels(const uint8_t *p, size_t n, const char *name, int w, int h, align_image *out,
                               align_error *err)
{
    if (!(n >= 26 && p[24] == 16 && p[25] == 0)) return stb_rgb(p, n, name, w, h, out, err);
    int got_w = 0, got_h = 0, comp;
    uint16_t *grey = stbi_load_16_from_memory(p, (int)n, &got_w, &got_h, &comp, 1);
    if (!grey) return stb_failed(name, w, h, err);
    size_t count = (size_t)got_w * got_h;
    uint8_t *rgb = big_malloc(count * 3);
    for (size_t i = 0; rgb && i < count; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i] > 255 ? 255 : (uint8_t)grey[i];
    stbi_image_free(grey);
    if (!rgb) return image_out_of_memory(name, w, h, err);
    return stb_keep(rgb, got_w, got_h, w, h, name, out, err);
}

/* Why Pillow refuses the file, from the walk of its chunks. */
static align_status png_refused(png_walk w, const png_view *v, const char *name, align_error *err)
{
    switch (w) {
    case PNG_ENDS_BEFORE_DATA:
        if (strcmp(v->chunk, "IEND") == 0)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (its IEND comes before any image data)",
                              name);
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (it ends before its image data)", name);
    case PNG_CHUNK_PAST_END:
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (a chunk runs past the end of the file)", name);
    case PNG_BAD_CHUNK_TYPE:
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (a chunk type that is not four letters)", name);
    case PNG_BAD_CRC:
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (the %s chunk fails its CRC check)", name,
                          v->chunk);
    case PNG_CHUNK_TOO_SHORT:
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNG image (a %s chunk too short for its content)", name,
                          v->chunk);
    default:
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory for the PNG", name);
    }
}

/* The image in a view, its size from its IHDR checked first. */
static align_status png_view_pixels(const png_view *v, const char *name, uint64_t max_pixels, align_image *out,
                                    align_error *err)
{
    if (v->size > INT_MAX) return align_fail(err, ALIGN_ERR_FORMAT, "%s: PNG too large for stb_image", name);
    int w, h;
    align_status s = stb_header(v->data, v->size, name, max_pixels, &w, &h, err);
    return s ? s : png_pixels(v->data, v->size, name, w, h, out, err);
}

/* A chunk of image data after the first one is cut by the end of the file: Pillow reads it only if
 * the image is not complete before it, and otherwise refuses the cut chunk as it reads the file's
 * last chunks. */
static int complete_before_cut(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels)
{
    png_view v;
    align_image img;
    align_error ignored;
    int complete = png_view_make(p, n, 0, &v) == PNG_READ &&
                   png_view_pixels(&v, name, max_pixels, &img, &ignored) == ALIGN_OK;
    if (complete) free(img.rgb);
    free(v.data);
    return complete;
}

align_status stb_decode_png(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                            align_image *out, align_error *err)
{
    /* stb_image refuses a PNG of over 2^30 bytes of pixels without saying why: IHDR tells */
    if (n >= 24 && !memcmp(p + 12, "IHDR", 4) && (uint64_t)be32(p + 16) * be32(p + 20) > max_pixels)
        return image_over_limit(name, be32(p + 16), be32(p + 20), max_pixels, err);
    png_view v;
    png_walk w = png_view_make(p, n, 1, &v);
    if (!w && v.later_cut && complete_before_cut(p, n, name, max_pixels)) w = PNG_CHUNK_PAST_END;
    align_status s = w ? png_refused(w, &v, name, err) : png_view_pixels(&v, name, max_pixels, out, err);
    /* stb_image names the symptom (a bad Huffman code where the data stops), not the cause */
    if (s == ALIGN_ERR_FORMAT && !w && v.data_cut)
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (image data cut short)", name);
    free(v.data);
    return s;
}
