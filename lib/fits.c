/* fits.c: FITS images as Pillow 9.4's FitsImagePlugin reads them, then convert("RGB").
 *
 * The header is 80-byte cards up to one whose keyword (its first 8 bytes, whitespace stripped) is
 * END; a card's value is the rest, stripped, less a leading "=" (a comment after the value is part
 * of it). The first card must be SIMPLE with the value T; later cards of a keyword replace earlier
 * ones. NAXIS, NAXIS1, NAXIS2 and BITPIX are read as Python's int() reads text; one axis makes an
 * image 1 pixel wide. The data starts at the first multiple of 2880 bytes from the end of the END
 * card, bottom row first. Pillow 9.4 reads the samples in its modes' own raw layout, not FITS's:
 * BITPIX 8 bytes (mode L); 16 and 32 four-byte little-endian integers (mode I); -32 and -64
 * four-byte little-endian floats (mode F). convert("RGB") clips I and F (pil_convert.h).
 *
 * Where Pillow's plugin gives up with an exception Image.open takes as "not this format" (a first
 * card other than SIMPLE = T, a keyword missing, another BITPIX, a side below 1), it tries the
 * next plugins: so does align (tga_or_refuse). A value that is no integer, NAXIS 0, a header
 * without END and data cut short are refused. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"
#include "pyint.h"

#define FITS_CARD 80
#define FITS_BLOCK 2880

typedef struct {
    const uint8_t *p;
    size_t len;
} fits_text;

/* The keywords the plugin reads, in the order it reads them. */
enum { NAXIS, NAXIS1, NAXIS2, BITPIX, FITS_KEYS };
static const char *const fits_keys[FITS_KEYS] = {"NAXIS", "NAXIS1", "NAXIS2", "BITPIX"};

typedef struct {
    fits_text value[FITS_KEYS]; /* p NULL: the keyword is missing */
    size_t data_at;
} fits_header;

/* Python's bytes.strip(): ASCII whitespace off both ends. */
static fits_text fits_strip(const uint8_t *p, size_t len)
{
    while (len && (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))) p++, len--;
    while (len && (p[len - 1] == ' ' || (p[len - 1] >= '\t' && p[len - 1] <= '\r'))) len--;
    return (fits_text){p, len};
}

static int fits_is(fits_text t, const char *s) { return t.len == strlen(s) && memcmp(t.p, s, t.len) == 0; }

/* The header's cards. 1; 0 when Pillow's plugin gives up on the first card (why says so); -1 when
 * the file ends before END. */
static int fits_cards(const uint8_t *p, size_t n, fits_header *h)
{
    memset(h, 0, sizeof *h);
    for (size_t at = 0;; at += FITS_CARD) {
        if (at >= n) return -1;
        size_t len = n - at < FITS_CARD ? n - at : FITS_CARD;
        fits_text key = fits_strip(p + at, len < 8 ? len : 8);
        if (fits_is(key, "END")) {
            h->data_at = (at + len + FITS_BLOCK - 1) / FITS_BLOCK * FITS_BLOCK;
            return 1;
        }
        fits_text value = len > 8 ? fits_strip(p + at + 8, len - 8) : (fits_text){p, 0};
        if (value.len && value.p[0] == '=') value = fits_strip(value.p + 1, value.len - 1);
        if (at == 0 && !fits_is(value, "T")) return 0;
        for (int k = 0; k < FITS_KEYS; k++)
            if (fits_is(key, fits_keys[k])) h->value[k] = value;
    }
}

/* What the plugin makes of the header: the size and BITPIX, or why it gives up (*next: Image.open
 * goes on to the next plugins) or refuses. */
typedef struct {
    long long w, h, bitpix;
    const char *why;
    int next;
} fits_image;

/* A keyword's integer, in the plugin's order: 1, or 0 with why set. */
static int fits_read(const fits_header *hd, int key, long long *v, fits_image *im)
{
    if (!hd->value[key].p) {
        im->why = key == NAXIS ? "FITS header without NAXIS" : key == BITPIX ? "FITS header without BITPIX"
                                                                             : "FITS header without NAXIS1 or NAXIS2";
        im->next = 1;
        return 0;
    }
    if (py_int(hd->value[key].p, hd->value[key].len, 10, v, NULL)) return 1;
    im->why = key == BITPIX ? "FITS BITPIX is not an integer" : "FITS NAXIS value is not an integer";
    return 0;
}

static fits_image fits_parse(const fits_header *hd)
{
    fits_image im = {0, 0, 0, NULL, 0};
    long long naxis;
    if (!fits_read(hd, NAXIS, &naxis, &im)) return im;
    if (naxis == 0) {
        im.why = "FITS file without image data (NAXIS 0)";
        return im;
    }
    im.w = 1;
    if (naxis == 1 ? !fits_read(hd, NAXIS1, &im.h, &im) : !fits_read(hd, NAXIS1, &im.w, &im) ||
                                                              !fits_read(hd, NAXIS2, &im.h, &im))
        return im;
    if (!fits_read(hd, BITPIX, &im.bitpix, &im)) return im;
    long long b = im.bitpix;
    if (b != 8 && b != 16 && b != 32 && b != -32 && b != -64) {
        im.why = "FITS BITPIX Pillow has no mode for";
        im.next = 1;
    } else if (im.w <= 0 || im.h <= 0) {
        im.why = "FITS image of no pixels";
        im.next = 1;
    }
    return im;
}

static void fits_to_rgb(const uint8_t *data, long long bitpix, size_t w, size_t h, uint8_t *rgb)
{
    size_t bytes = bitpix == 8 ? 1 : 4;
    for (size_t y = 0; y < h; y++) {
        const uint8_t *row = data + (h - 1 - y) * w * bytes;
        for (size_t x = 0; x < w; x++, rgb += 3) {
            uint8_t v;
            if (bytes == 1) {
                v = row[x];
            } else if (bitpix > 0) {
                v = pil_int_level((int32_t)le32(row + 4 * x));
            } else {
                uint32_t bits = le32(row + 4 * x);
                float f;
                memcpy(&f, &bits, 4);
                v = pil_float_level(f);
            }
            rgb[0] = rgb[1] = rgb[2] = v;
        }
    }
}

align_status fits_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    fits_header hd;
    int cards = fits_cards(p, n, &hd);
    if (cards < 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: FITS header without END", name);
    if (cards == 0)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "FITS header whose first card is not SIMPLE = T");
    fits_image im = fits_parse(&hd);
    if (im.why && im.next) return tga_or_refuse(p, n, name, max_pixels, out, err, im.why);
    if (im.why) return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, im.why);
    uint64_t w = (uint64_t)im.w, h = (uint64_t)im.h;
    if (w > max_pixels || h > max_pixels || w > INT_MAX || h > INT_MAX) return image_over_limit(name, w, h, max_pixels, err);
    align_status s = image_check_size(name, "FITS", (int)w, (int)h, max_pixels, err);
    if (s) return s;
    uint64_t size = w * h * (im.bitpix == 8 ? 1 : 4);
    if (hd.data_at > n || n - hd.data_at < size)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: FITS data cut short", name);
    uint8_t *rgb = big_malloc(w * h * 3);
    if (!rgb) return image_out_of_memory(name, (int)w, (int)h, err);
    fits_to_rgb(p + hd.data_at, im.bitpix, w, h, rgb);
    out->rgb = rgb, out->width = (int)w, out->height = (int)h;
    return ALIGN_OK;
}
