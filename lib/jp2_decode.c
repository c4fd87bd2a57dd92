/* jp2_decode.c: JPEG 2000, as JP2 files and as bare codestreams, through OpenJPEG, as PIL 9.4
 * reads them. PIL takes the size and its mode from the file's header (a codestream's SIZ marker,
 * a JP2 file's ihdr box), then has OpenJPEG decode the tiles and unpacks each component's
 * samples by its own rules, which this file follows:
 *   - the mode: 1 component L, or I;16 when the header's depth byte says 10 bits or more; 2 LA;
 *     3 RGB; 4 RGBA. A JP2 file's ihdr decides, whatever its codestream holds;
 *   - each sample to 8 bits (16 for I;16) by a shift of its precision, adding 2^(prec-1) to a
 *     signed one and half the dropped range when bits are dropped, and the result truncated to
 *     the mode's width, not clipped (a 12-bit 4095 becomes 0);
 *   - grey takes component 0 (an LA's alpha, an RGBA's fourth component are dropped by
 *     convert("RGB")), RGB components 0 to 2; I;16 is clipped at 255 by convert("RGB");
 *   - the colour space: OpenJPEG 2.5 leaves a JP2 file's colour box unread until it decodes, so
 *     PIL goes by the component count (1-2 grey, 3-4 RGB) whatever the box says: an sYCC file's
 *     samples come out as they are, an ICC profile is not looked at;
 *   - a tile outside the header's size, and a mode PIL has no unpacker for with the codestream's
 *     component count (a header of 1 over 3), are errors; pixels no tile covers stay black.
 * Refused where PIL 9.4 reads them: subsampled components (PIL unpacks each plane as if it had
 * the tile's size, so planes after the first start inside the one before, and calls the result
 * YCbCr). OpenJPEG reads through the same callbacks PIL gives it, a skip answering with the
 * position reached, so it stops where PIL's does. */
#include "image_decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openjpeg.h>

#include "byteorder.h"
#include "error.h"
#include "image_limits.h"
#include "memory.h"

typedef enum { MODE_L, MODE_I16, MODE_LA, MODE_RGB, MODE_RGBA } pil_mode;

typedef struct {
    long long w, h;      /* PIL's size: the header's, any sign */
    unsigned components; /* the header's count: PIL has a mode for 1 to 4 */
    pil_mode mode;
} jp2_header;

static void mode_for(unsigned components, unsigned depth_byte, jp2_header *h)
{
    static const pil_mode by_count[] = {MODE_L, MODE_LA, MODE_RGB, MODE_RGBA};
    h->components = components;
    if (components >= 1 && components <= 4)
        h->mode = components == 1 && (depth_byte & 0x7f) > 8 ? MODE_I16 : by_count[components - 1];
}

/* A codestream's SIZ as PIL's plugin reads it: 38 bytes, the first component's depth byte being
 * the one after the component count. */
static int codestream_header(const uint8_t *p, size_t n, jp2_header *h)
{
    if (n < 6) return -1;
    size_t lsiz = be16(p + 4);
    if (lsiz < 39 || n < 4 + lsiz) return -1;
    const uint8_t *siz = p + 4;
    h->w = (long long)be32(siz + 4) - be32(siz + 12);
    h->h = (long long)be32(siz + 8) - be32(siz + 16);
    mode_for(be16(siz + 36), siz[38], h);
    return 0;
}

/* A box at p[*at..end): its type and contents. 0, or -1 when its length does not fit. */
static int next_box(const uint8_t *p, size_t end, size_t *at, uint32_t *type, size_t *body, size_t *len)
{
    if (end - *at < 8) return -1;
    uint64_t lbox = be32(p + *at), hlen = 8;
    *type = be32(p + *at + 4);
    if (lbox == 1) {
        if (end - *at < 16) return -1;
        lbox = (uint64_t)be32(p + *at + 8) << 32 | be32(p + *at + 12);
        hlen = 16;
    }
    if (lbox < hlen || lbox > end - *at) return -1;
    *body = *at + hlen;
    *len = lbox - hlen;
    *at += lbox;
    return 0;
}

#define BOX(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* A "res " box's boxes as PIL's plugin walks them for the resolution: each header must fit, and
 * the first resc must hold its ten bytes. */
static int resolution_boxes(const uint8_t *p, size_t at, size_t end)
{
    while (at < end) {
        size_t body, len;
        uint32_t type;
        if (next_box(p, end, &at, &type, &body, &len)) return -1;
        if (type == BOX('r', 'e', 's', 'c')) return len < 10 ? -1 : 0;
    }
    return 0;
}

/* A JP2 file's size and mode from the first jp2h box's ihdr boxes (the last one wins), as PIL's
 * plugin walks the file: an ftyp box before it must hold its brand, and its "res " boxes must
 * parse. */
static int jp2_file_header(const uint8_t *p, size_t n, jp2_header *h)
{
    size_t at = 12, body, len;
    uint32_t type;
    do {
        if (next_box(p, n, &at, &type, &body, &len)) return -1;
        if (type == BOX('f', 't', 'y', 'p') && len < 4) return -1;
    } while (type != BOX('j', 'p', '2', 'h'));
    int found = 0;
    for (size_t in = body, end = body + len; in < end;) {
        size_t ibody, ilen;
        if (next_box(p, end, &in, &type, &ibody, &ilen)) return -1;
        if (type == BOX('r', 'e', 's', ' ') && resolution_boxes(p, ibody, ibody + ilen)) return -1;
        if (type != BOX('i', 'h', 'd', 'r')) continue;
        if (ilen < 11) return -1;
        h->h = be32(p + ibody);
        h->w = be32(p + ibody + 4);
        mode_for(be16(p + ibody + 8), p[ibody + 10], h);
        found = 1;
    }
    return found ? 0 : -1;
}

/* ---- OpenJPEG's reads, as PIL's callbacks answer them ---------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, at; /* at may pass n: a skip beyond the end, as a file's seek */
} source;

static OPJ_SIZE_T source_read(void *buffer, OPJ_SIZE_T bytes, void *user)
{
    source *s = user;
    size_t left = s->at < s->n ? s->n - s->at : 0, take = bytes < left ? bytes : left;
    if (!take) return (OPJ_SIZE_T)-1;
    memcpy(buffer, s->p + s->at, take);
    s->at += take;
    return take;
}

/* PIL's skip returns the position it reached, not the bytes skipped; OpenJPEG counts it as the
 * latter, and what it reads next follows from that. */
static OPJ_OFF_T source_skip(OPJ_OFF_T bytes, void *user)
{
    source *s = user;
    long long to = (long long)s->at + bytes;
    s->at = to < 0 ? 0 : (size_t)to;
    return s->at ? (OPJ_OFF_T)s->at : (OPJ_OFF_T)-1;
}

static void keep_message(const char *msg, void *user)
{
    char *into = user;
    if (!*into) snprintf(into, 200, "%s", msg);
}

/* ---- unpacking ------------------------------------------------------------------------------- */

typedef struct {
    int bytes;       /* of a sample in OpenJPEG's tile data: 1, 2 or 4 */
    int shift;       /* to the mode's width: left when positive */
    unsigned offset; /* added before the shift */
} unpack_rule;

static unpack_rule rule_for(const opj_image_comp_t *c, int width)
{
    unpack_rule r = {(int)(c->prec + 7) >> 3, width - (int)c->prec, c->sgnd ? 1u << (c->prec - 1) : 0};
    if (r.bytes == 3) r.bytes = 4;
    if (r.shift < 0) r.offset += 1u << (-r.shift - 1);
    return r;
}

static unsigned sample(const uint8_t *data, int bytes, size_t i, const unpack_rule *r)
{
    uint32_t word;
    if (bytes == 1) {
        word = data[i];
    } else if (bytes == 2) {
        uint16_t v;
        memcpy(&v, data + 2 * i, 2);
        word = v;
    } else {
        memcpy(&word, data + 4 * i, 4);
    }
    unsigned x = r->offset + word;
    return r->shift < 0 ? x >> -r->shift : x << r->shift;
}

/* One tile's samples (each component w x h, one after another) into rgb at (x0, y0): component 0
 * as grey, or components 0 to 2. */
static void unpack_tile(const opj_image_t *im, pil_mode mode, int grey, const uint8_t *data, int x0, int y0, int w,
                        int h, uint8_t *rgb, int width)
{
    int colours = grey ? 1 : 3;
    unpack_rule rules[3];
    const uint8_t *planes[3];
    for (int c = 0; c < colours; c++) {
        rules[c] = rule_for(&im->comps[c], mode == MODE_I16 ? 16 : 8);
        planes[c] = c ? planes[c - 1] + (size_t)rules[c - 1].bytes * w * h : data;
    }
    for (int y = 0; y < h; y++) {
        uint8_t *out = rgb + ((size_t)(y0 + y) * width + x0) * 3;
        for (int x = 0; x < w; x++, out += 3) {
            size_t i = (size_t)y * w + x;
            for (int c = 0; c < colours; c++) {
                unsigned v = sample(planes[c], rules[c].bytes, i, &rules[c]);
                /* I;16 keeps 16 bits, which convert("RGB") clips; the other modes keep 8 */
                out[c] = mode == MODE_I16 ? ((v & 0xffff) > 255 ? 255 : (uint8_t)v) : (uint8_t)v;
            }
            if (grey) out[1] = out[2] = out[0];
        }
    }
}

/* The colour space PIL unpacks by: an unspecified one (what OpenJPEG 2.5 reports after the header,
 * for a JP2 file too) from the component count. */
static OPJ_COLOR_SPACE pil_space(const opj_image_t *im)
{
    if (im->color_space != OPJ_CLRSPC_UNSPECIFIED) return im->color_space;
    return im->numcomps <= 2 ? OPJ_CLRSPC_GRAY : OPJ_CLRSPC_SRGB;
}

/* Which of PIL's unpackers the mode, colour space and component count find: 0 none. */
static int has_unpacker(pil_mode mode, OPJ_COLOR_SPACE cs, unsigned comps)
{
    switch (mode) {
    case MODE_L:
    case MODE_I16: return cs == OPJ_CLRSPC_GRAY && comps == 1;
    case MODE_LA: return cs == OPJ_CLRSPC_GRAY && comps == 2;
    case MODE_RGB:
    case MODE_RGBA: return (cs == OPJ_CLRSPC_GRAY && comps <= 2) || (cs == OPJ_CLRSPC_SRGB && comps >= 3);
    }
    return 0;
}

typedef struct {
    opj_stream_t *stream;
    opj_codec_t *codec;
    opj_image_t *image;
    uint8_t *tile;
    char message[200];
} decoding;

static void decoding_end(decoding *d)
{
    free(d->tile);
    if (d->codec) opj_destroy_codec(d->codec);
    if (d->image) opj_image_destroy(d->image);
    if (d->stream) opj_stream_destroy(d->stream);
}

static align_status broken(const char *name, const decoding *d, const char *what, align_error *err)
{
    if (d->message[0]) {
        size_t len = strcspn(d->message, "\n");
        while (len && d->message[len - 1] == ' ') len--;
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt or truncated JPEG 2000 image (%s: %.*s)", name, what,
                          (int)len, d->message);
    }
    return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt or truncated JPEG 2000 image (%s)", name, what);
}

/* The header OpenJPEG read, checked as PIL checks it before the tiles. */
static align_status check_image(const char *name, const opj_image_t *im, const jp2_header *h, align_error *err)
{
    if (im->numcomps < 1 || im->numcomps > 4)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 image of %u components (PIL reads 1 to 4)", name,
                          im->numcomps);
    /* OpenJPEG 2.5 leaves a JP2 file's colour box to the decoding, so after the header the space
     * is unspecified and PIL goes by the count; a named one would be PIL's to convert */
    OPJ_COLOR_SPACE cs = pil_space(im);
    if (cs != OPJ_CLRSPC_GRAY && cs != OPJ_CLRSPC_SRGB)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 image in a colour space align does not unpack "
                          "(OpenJPEG's %d)", name, (int)cs);
    for (unsigned c = 0; c < im->numcomps; c++) {
        if (im->comps[c].dx != 1 || im->comps[c].dy != 1)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 image with subsampled components: align does not "
                              "read them (PIL 9.4 unpacks them as if they were not)", name);
        if (im->comps[c].prec < 1 || im->comps[c].prec > 31)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 component of %u bits", name, im->comps[c].prec);
    }
    if (!has_unpacker(h->mode, cs, im->numcomps))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 header saying %u component%s over an image of %u "
                          "(PIL has no unpacker for them)", name, h->components, h->components == 1 ? "" : "s",
                          im->numcomps);
    return ALIGN_OK;
}

static align_status decode_tiles(const char *name, decoding *d, const jp2_header *h, uint8_t *rgb, align_error *err)
{
    size_t room = 0;
    for (;;) {
        OPJ_UINT32 index, size, comps;
        OPJ_INT32 x0, y0, x1, y1;
        OPJ_BOOL more;
        if (!opj_read_tile_header(d->codec, d->stream, &index, &size, &x0, &y0, &x1, &y1, &comps, &more))
            return broken(name, d, "tile header", err);
        if (!more) return ALIGN_OK;
        const opj_image_t *im = d->image;
        if (x0 >= x1 || y0 >= y1 || x0 < 0 || y0 < 0 || (OPJ_UINT32)x0 < im->x0 || (OPJ_UINT32)y0 < im->y0 ||
            (long long)x1 - im->x0 > h->w || (long long)y1 - im->y0 > h->h)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 tile %u outside the image", name, index);
        size_t w = (size_t)(x1 - x0), hh = (size_t)(y1 - y0), need = w * hh * (comps == 3 ? 4 : comps);
        if (need < size) need = size;
        if (need > room) {
            free(d->tile);
            if (!(d->tile = calloc(need, 1))) return image_out_of_memory(name, (int)w, (int)hh, err);
            room = need;
        }
        if (!opj_decode_tile_data(d->codec, index, d->tile, size, d->stream)) return broken(name, d, "tile data", err);
        unpack_tile(im, h->mode, pil_space(im) == OPJ_CLRSPC_GRAY, d->tile, (int)(x0 - im->x0), (int)(y0 - im->y0),
                    (int)w, (int)hh, rgb, (int)h->w);
    }
}

/* OpenJPEG's header, checked, then its tiles into out->rgb (black where none falls). */
static align_status decode_image(const char *name, decoding *d, const jp2_header *h, align_image *out,
                                 align_error *err)
{
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(d->codec, &params) || !opj_read_header(d->stream, d->codec, &d->image))
        return broken(name, d, "header", err);
    align_status s = check_image(name, d->image, h, err);
    if (s) return s;
    size_t bytes = (size_t)h->w * (size_t)h->h * 3;
    if (!(out->rgb = big_malloc(bytes))) return image_out_of_memory(name, (int)h->w, (int)h->h, err);
    memset(out->rgb, 0, bytes);
    if (!(s = decode_tiles(name, d, h, out->rgb, err)) && !opj_end_decompress(d->codec, d->stream))
        s = broken(name, d, "end of codestream", err);
    if (s) {
        free(out->rgb);
        out->rgb = NULL;
    }
    return s;
}

align_status jp2_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    int codestream = p[0] == 0xff;
    jp2_header h = {0};
    if ((codestream ? codestream_header(p, n, &h) : jp2_file_header(p, n, &h)) != 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt JPEG 2000 image (unreadable %s)", name,
                          codestream ? "SIZ marker" : "JP2 header");
    if (h.components < 1 || h.components > 4)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: JPEG 2000 image of %u components (PIL reads 1 to 4)", name,
                          h.components);
    if (h.w < 1 || h.h < 1 || h.w > INT_MAX || h.h > INT_MAX)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt JPEG 2000 image (a size of %lld x %lld pixels)", name,
                          h.w, h.h);
    align_status s = image_check_size(name, "JPEG 2000", (int)h.w, (int)h.h, max_pixels, err);
    if (s) return s;
    source src = {p, n, 0};
    decoding d = {0};
    if (!(d.stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE)) ||
        !(d.codec = opj_create_decompress(codestream ? OPJ_CODEC_J2K : OPJ_CODEC_JP2))) {
        decoding_end(&d);
        return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory for the JPEG 2000 decoder", name);
    }
    opj_stream_set_read_function(d.stream, source_read);
    opj_stream_set_skip_function(d.stream, source_skip);
    opj_stream_set_user_data(d.stream, &src, NULL);
    opj_stream_set_user_data_length(d.stream, n);
    opj_set_error_handler(d.codec, keep_message, d.message);
    s = decode_image(name, &d, &h, out, err);
    decoding_end(&d);
    if (s) return s;
    out->width = (int)h.w;
    out->height = (int)h.h;
    return ALIGN_OK;
}
