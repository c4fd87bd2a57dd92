/* stb_decode.c: PNG, the one format stb_image still decodes, made to agree with PIL where the
 * two differ: a PNG cut short where PIL still reads it is completed (stb_checks.h), and 16-bit
 * grey comes out as PIL's convert("RGB") gives it. stb_image allocates with the C
 * library's malloc, so its buffers are freed with free(). */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "stb_checks.h"

/* stb_image's reason; for a critical chunk it does not know, its message starts with the chunk's
 * type, whose bytes may be anything (a NUL cuts it, a byte past ASCII is not UTF-8): named
 * instead. */
static const char *stb_reason(void)
{
    static const char unknown_chunk[] = "a critical chunk stb_image does not know";
    const char *r = stbi_failure_reason();
    if (!r || !*r) return "unreadable data";
    for (const char *c = r; *c; c++)
        if (*c < 0x20 || *c > 0x7e) return unknown_chunk;
    return strlen(r) < 4 || strstr(r, "PNG chunk not known") ? unknown_chunk : r;
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

/* A palette PNG whose PLTE has fewer than 256 entries, copied with the grey ramp after them (entry
 * i is i, i, i), as Pillow's palette has it: stb_image would read an index past the file's
 * entries from memory the file never set. NULL when the file needs no copy or there is no memory
 * for one (stb_image then reads the file as it is). */
static uint8_t *png_full_palette(const uint8_t *p, size_t n, size_t *copy_n)
{
    size_t at = png_short_palette(p, n);
    if (!at) return NULL;
    size_t len = be32(p + at);
    uint8_t *c = malloc(n + 768 - len);
    if (!c) return NULL;
    memcpy(c, p, at);
    c[at] = 0, c[at + 1] = 0, c[at + 2] = 768 >> 8, c[at + 3] = 768 & 0xff;
    memcpy(c + at + 4, p + at + 4, 4 + len);
    for (size_t i = len / 3; i < 256; i++) memset(c + at + 8 + 3 * i, (int)i, 3);
    memcpy(c + at + 8 + 768, p + at + 8 + len, n - at - 8 - len); /* its CRC (unchecked) and the rest */
    *copy_n = n + 768 - len;
    return c;
}

/* stb_image's RGB pixels of a file whose header said w x h. */
static align_status stb_rgb(const uint8_t *p, size_t n, const char *name, int w, int h,
                            align_image *out, align_error *err)
{
    int got_w = 0, got_h = 0, comp;
    size_t full_n = 0;
    uint8_t *full = png_full_palette(p, n, &full_n);
    uint8_t *rgb = full ? stbi_load_from_memory(full, (int)full_n, &got_w, &got_h, &comp, 3)
                        : stbi_load_from_memory(p, (int)n, &got_w, &got_h, &comp, 3);
    free(full);
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

/* A chunk claims more than the file holds. PIL inflates the image data it finds and reads the
 * image when the stream ends in it; it refuses any other chunk cut short, and more data after the
 * stream has ended. So stb_image is given the first image data chunk with the length it has, its
 * CRC and an IEND; anything else is refused as truncated. */
static align_status png_overrun(const uint8_t *p, size_t n, size_t pos, int first_idat, const char *name,
                                int w, int h, align_image *out, align_error *err)
{
    if (!first_idat)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (a chunk runs past the end of the file)", name);
    size_t total = n + 4 + 12;
    uint8_t *clipped = malloc(total);
    if (!clipped) return image_out_of_memory(name, w, h, err);
    memcpy(clipped, p, n);
    size_t len = n - pos - 8;
    for (int i = 0; i < 4; i++) clipped[pos + i] = (uint8_t)(len >> (24 - 8 * i));
    memset(clipped + n, 0, 4); /* stb_image does not check CRCs */
    memcpy(clipped + n + 4, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    align_status s = png_pixels(clipped, total, name, w, h, out, err);
    free(clipped);
    /* stb_image names the symptom (a bad Huffman code where the data stops), not the cause */
    if (s == ALIGN_ERR_FORMAT)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (image data cut short)", name);
    return s;
}

align_status stb_decode_png(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                            align_image *out, align_error *err)
{
    /* stb_image refuses a PNG of over 2^30 bytes of pixels without saying why: IHDR tells */
    if (n >= 24 && !memcmp(p + 12, "IHDR", 4) && (uint64_t)be32(p + 16) * be32(p + 20) > max_pixels)
        return image_over_limit(name, be32(p + 16), be32(p + 20), max_pixels, err);
    int w, h;
    align_status s = stb_header(p, n, name, max_pixels, &w, &h, err);
    if (s) return s;
    int first_idat;
    size_t overrun = n >= 8 ? png_chunk_overruns(p, n, &first_idat) : 0;
    if (overrun) return png_overrun(p, n, overrun, first_idat, name, w, h, out, err);
    int refused;
    size_t crc_pad, keep = png_cut_short(p, n, &crc_pad, &refused);
    if (refused) return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNG (it ends before its image data)", name);
    if (!keep) return png_pixels(p, n, name, w, h, out, err);
    size_t total = keep + crc_pad + 12;
    uint8_t *completed = malloc(total);
    if (!completed) return image_out_of_memory(name, w, h, err);
    memcpy(completed, p, keep);
    memset(completed + keep, 0, crc_pad); /* stb_image does not check CRCs */
    memcpy(completed + keep + crc_pad, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    s = png_pixels(completed, total, name, w, h, out, err);
    free(completed);
    return s;
}
