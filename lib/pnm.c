/* pnm.c: binary PNM (P5 grey, P6 RGB) as PIL decodes it. The raster is read here rather than by
 * stb_image, which (2.27) takes 16-bit samples in the wrong byte order, converts their channels
 * with its 8-bit routine and reads past a short file without noticing. */
#include "image_decode.h"

#include <math.h>
#include <stdlib.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"

/* The header is tokens separated by whitespace and #-comments, then one whitespace byte before the
 * raster. */
typedef struct {
    int width, height, channels, maxval;
    size_t data, size; /* raster offset and byte count */
} pnm_header;

static int pnm_parse(const uint8_t *p, size_t n, pnm_header *h)
{
    size_t pos = 2;
    int c = pos < n ? p[pos++] : -1;
    long v[3];
    for (int t = 0; t < 3; t++) {
        for (;;) {
            while (c == ' ' || (c >= '\t' && c <= '\r')) c = pos < n ? p[pos++] : -1;
            if (c != '#') break;
            while (c != -1 && c != '\n' && c != '\r') c = pos < n ? p[pos++] : -1;
        }
        if (c < '0' || c > '9') return 0;
        v[t] = 0;
        while (c >= '0' && c <= '9') {
            if (v[t] > 100000000) return 0;
            v[t] = v[t] * 10 + (c - '0');
            c = pos < n ? p[pos++] : -1;
        }
    }
    if (v[2] < 1 || v[2] > 65535 || !(c == ' ' || (c >= '\t' && c <= '\r'))) return 0;
    h->width = (int)v[0];
    h->height = (int)v[1];
    h->channels = p[1] == '6' ? 3 : 1;
    h->maxval = (int)v[2];
    h->data = pos;
    h->size = (size_t)v[0] * (size_t)v[1] * (size_t)h->channels * (h->maxval > 255 ? 2 : 1);
    return 1;
}

/* Pillow scales PNM samples to 0..255 with Python's round (half to even): v / maxval * 255, except
 * that 16-bit grey becomes mode "I" scaled to 0..65535, which convert("RGB") then clips at 255.
 * With maxval 255 the bytes are taken as they are. */
static uint8_t pnm_sample(unsigned v, const pnm_header *h)
{
    if (h->maxval == 255) return (uint8_t)v;
    double top = h->maxval > 255 && h->channels == 1 ? 65535.0 : 255.0;
    double s = nearbyint((double)v / h->maxval * top);
    return s > 255.0 ? 255 : (uint8_t)s;
}

/* The raster of a PNM whose header pnm_parse accepted and whose data is all there. */
static uint8_t *pnm_pixels(const uint8_t *p, const pnm_header *h)
{
    size_t count = (size_t)h->width * h->height, samples = count * h->channels;
    uint8_t *rgb = malloc(count * 3);
    if (!rgb) return NULL;
    const uint8_t *d = p + h->data;
    for (size_t i = 0; i < samples; i++) {
        uint8_t v = pnm_sample(h->maxval > 255 ? be16(d + 2 * i) : d[i], h);
        if (h->channels == 3) rgb[i] = v;
        else rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
    }
    return rgb;
}

align_status pnm_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                        align_image *out, align_error *err)
{
    pnm_header h;
    if (!pnm_parse(p, n, &h)) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt PNM header", name);
    align_status s = image_check_size(name, "PNM", h.width, h.height, max_pixels, err);
    if (s) return s;
    if (h.size > n - h.data)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated PNM (%zu of %zu pixel bytes)", name, n - h.data,
                          h.size);
    if (!(out->rgb = pnm_pixels(p, &h))) return image_out_of_memory(name, h.width, h.height, err);
    out->width = h.width;
    out->height = h.height;
    return ALIGN_OK;
}
