/* image_decode.c: images to RGB as Hugging Face's load_image gives them (PIL 9.4, the version
 * Debian ships and the fixtures agree with: EXIF transpose, then convert("RGB")). The format is
 * recognised here by its signature and decoded by its decoder (image_decode.h); the orientation
 * is applied after. Every decoded format's pixels come out identical to PIL's. */
#include "image_decode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"
#include "fileio.h"
#include "image_limits.h"
#include "orientation.h"
#include "pyint.h"

/* stb_image takes the length as an int; 16 bytes are kept for completing a PNG (stb_decode.c). */
#define MAX_IMAGE_BYTES ((size_t)INT_MAX - 16)

typedef struct {
    const char *magic;
    size_t len;
    unsigned any; /* bit i set: byte i of magic stands for any byte */
    const char *name;
    image_decoder *decode; /* NULL: PIL opens it or stb_image would, align does not (named) */
    image_row_decoder *rows; /* NULL: decoded whole only */
    int (*orientation)(const uint8_t *p, size_t n); /* NULL: the format keeps none */
} image_format;

/* Formats that stb_image would also take (PSD, HDR, PIC) or that PIL opens but align cannot are
 * named, so the error says what the file is. No signature here is a prefix of another. */
static const image_format formats[] = {
    {"\xff\xd8\xff", 3, 0, "JPEG", jpeg_decode, jpeg_decode_rows, orientation_jpeg},
    {"\x89PNG\r\n\x1a\n", 8, 0, "PNG", stb_decode_png, NULL, orientation_png},
    {"GIF87a", 6, 0, "GIF", gif_decode, NULL, NULL},
    {"GIF89a", 6, 0, "GIF", gif_decode, NULL, NULL},
    {"BM", 2, 0, "BMP", bmp_decode, NULL, NULL},
    /* a DIB without its file header starts with its info header's size, as Pillow accepts it */
    {"\x0c\0\0\0", 4, 0, "DIB", dib_decode, NULL, NULL},
    {"(\0\0\0", 4, 0, "DIB", dib_decode, NULL, NULL},
    {"@\0\0\0", 4, 0, "DIB", dib_decode, NULL, NULL},
    {"l\0\0\0", 4, 0, "DIB", dib_decode, NULL, NULL},
    {"|\0\0\0", 4, 0, "DIB", dib_decode, NULL, NULL},
    {"P1", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"P2", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"P3", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"P4", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"P5", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"P6", 2, 0, "PNM", netpbm_decode, NULL, NULL},
    {"RIFF....WEBP", 12, 0xf0, "WebP", webp_decode, NULL, orientation_webp},
    {"II*\0", 4, 0, "TIFF", tiff_decode, NULL, orientation_tiff},
    {"MM\0*", 4, 0, "TIFF", tiff_decode, NULL, orientation_tiff},
    {"II+\0", 4, 0, "BigTIFF", tiff_decode, NULL, orientation_tiff},
    {"MM\0+", 4, 0, "big-endian BigTIFF, which Pillow 9.4 does not read", NULL, NULL, NULL},
    {"P7", 2, 0, "PAM", NULL, NULL, NULL},
    {"8BPS", 4, 0, "PSD", psd_decode, NULL, NULL},
    {"\0\0\0\x0cjP  \r\n\x87\n", 12, 0, "JPEG 2000", jp2_decode, NULL, NULL},
    {"\xffO\xffQ", 4, 0, "JPEG 2000", jp2_decode, NULL, NULL},
    {"#?RADIANCE", 10, 0, "HDR", NULL, NULL, NULL},
    {"#?RGBE", 6, 0, "HDR", NULL, NULL, NULL},
    {"\x53\x80\xf6\x34", 4, 0, "PIC", NULL, NULL, NULL},
    {"\0\0\1\0", 4, 0, "ICO", ico_decode, NULL, NULL},
    {"\0\0\2\0", 4, 0, "CUR", cur_decode, NULL, NULL},
    {"\x01\xda", 2, 0, "SGI", sgi_decode, NULL, NULL}, /* 474, big-endian */
    /* PCX: 10, then a version Pillow accepts (0, 2, 3, 5) */
    {"\x0a\x00", 2, 0, "PCX", pcx_decode, NULL, NULL},
    {"\x0a\x02", 2, 0, "PCX", pcx_decode, NULL, NULL},
    {"\x0a\x03", 2, 0, "PCX", pcx_decode, NULL, NULL},
    {"\x0a\x05", 2, 0, "PCX", pcx_decode, NULL, NULL},
    {"\xb1\x68\xde\x3a", 4, 0, "DCX", dcx_decode, NULL, NULL},
    {"DDS ", 4, 0, "DDS", dds_decode, NULL, NULL},
    {"/* XPM */", 9, 0, "XPM", xpm_decode, NULL, NULL},
    {"icns", 4, 0, "ICNS", icns_decode, NULL, NULL},
    {"\x59\xa6\x6a\x95", 4, 0, "SUN", sun_decode, NULL, NULL},
    {"\x80\xe8\0\0", 4, 0, "PIXAR", pixar_decode, NULL, NULL},
    {"DanM", 4, 0, "MSP", msp_decode, NULL, NULL},
    {"LinS", 4, 0, "MSP", msp_decode, NULL, NULL},
    {"BLP1", 4, 0, "BLP", blp_decode, NULL, NULL},
    {"BLP2", 4, 0, "BLP", blp_decode, NULL, NULL},
    {"FTEX", 4, 0, "FTEX", ftex_decode, NULL, NULL},
    {"%!PS", 4, 0, "EPS", eps_decode, NULL, NULL},
    {"\xc5\xd0\xd3\xc6", 4, 0, "EPS", eps_decode, NULL, NULL},
    {"SIMPLE", 6, 0, "FITS", fits_decode, NULL, NULL},
    {"\0\0\0\0\0\0\0\x04", 8, 0, "McIdas", mcidas_decode, NULL, NULL},
    /* what phones and browsers write that Pillow 9.4 cannot open either: named, so the message
     * says which (an ISO media file: a box's size, "ftyp" and the brand) */
    {"....ftypheic", 12, 0xf, "HEIC", NULL, NULL, NULL},
    {"....ftypheix", 12, 0xf, "HEIC", NULL, NULL, NULL},
    {"....ftyphevc", 12, 0xf, "HEIC", NULL, NULL, NULL},
    {"....ftypmif1", 12, 0xf, "HEIF", NULL, NULL, NULL},
    {"....ftypmsf1", 12, 0xf, "HEIF", NULL, NULL, NULL},
    {"....ftypavif", 12, 0xf, "AVIF", NULL, NULL, NULL},
    {"....ftypavis", 12, 0xf, "AVIF", NULL, NULL, NULL},
    {"\0\0\0\x0cJXL \r\n\x87\n", 12, 0, "JPEG XL", NULL, NULL, NULL},
    {"\xff\x0a", 2, 0, "JPEG XL", NULL, NULL, NULL},
    /* what Pillow 9.4 claims by a plugin that only names the file (MPEG, WMF, BUFR, GRIB, HDF5),
     * so the message says which */
    {"\0\0\1\xb3", 4, 0, "MPEG", NULL, NULL, NULL},
    {"\xd7\xcd\xc6\x9a\0\0", 6, 0, "WMF", NULL, NULL, NULL},
    {"BUFR", 4, 0, "BUFR", NULL, NULL, NULL},
    {"GRIB", 4, 0, "GRIB", NULL, NULL, NULL},
    {"\x89HDF\r\n\x1a\n", 8, 0, "HDF5", NULL, NULL, NULL},
};

/* TGA has no signature, so anything without one of the others' is a TGA candidate. */
static const image_format tga = {"", 0, 0, "TGA", tga_decode, NULL, NULL};

/* XBM's signature is text after whitespace, so it is checked apart from the table. */
static const image_format xbm = {"", 0, 0, "XBM", xbm_decode, NULL, NULL};

/* PIL refuses a JPEG whose start marker is preceded by 0xFF fill bytes or not followed by another
 * marker; such a file is named, not tried as a TGA. The other signatures that start with FF (the
 * JPEG 2000 and JPEG XL codestreams') go on with neither FF nor D8, so this is looked for after
 * the table, where a file would be a TGA candidate (and no plugin without a signature took it). */
static const image_format jpeg_after_fill[] = {
    {"", 0, 0, "JPEG without a marker after its start", NULL, NULL, NULL},
    {"", 0, 0, "JPEG preceded by fill bytes", NULL, NULL, NULL},
};

/* Formats Pillow recognises by more than a signature at the start, each tried in its place in
 * Pillow's plugin order (BMP DIB GIF TIFF JPEG PPM PNG BLP BUFR CUR PCX DCX DDS EPS FITS FLI FTEX
 * GBR GRIB HDF5 JPEG2000 ICNS ICO IM IMT IPTC MCIDAS MPEG MSP PCD PIXAR PSD SGI SPIDER SUN TGA WEBP
 * WMF XBM XPM XVTHUMB): such a plugin takes a file whose signature belongs to a format it comes
 * before, or to none Pillow reads, when its own test passes. A file an earlier plugin gives up on
 * reaches them too (tga_or_refuse). */

/* A GIMP brush, by its header's numbers (gbr_opens): after CUR too, since a cursor that passes
 * GBR's test has no images and Pillow's CUR gives it up; a Sun raster 1 or 2 pixels wide can pass,
 * and then is no image to Pillow. */
static const image_format gbr = {"", 0, 0, "GBR", gbr_decode, NULL, NULL};

static const image_format *gbr_or(const uint8_t *p, size_t n, const image_format *f)
{
    static image_decoder *const before_gbr[] = {bmp_decode,  dib_decode,    gif_decode,     tiff_decode, jpeg_decode,
                                                netpbm_decode, stb_decode_png, pcx_decode, dcx_decode,  dds_decode,
                                                blp_decode, ftex_decode, fli_decode, eps_decode};
    for (size_t i = 0; i < sizeof before_gbr / sizeof before_gbr[0]; i++)
        if (f->decode == before_gbr[i]) return f;
    return gbr_opens(p, n) ? &gbr : f;
}

/* SPIDER, by its header's floats (spider_opens): Pillow tries it after its other plugins but SUN,
 * TGA, WEBP, WMF, XBM, XPM and XVTHUMB, so a file that starts with one of those formats' signatures
 * (or with none, a JPEG's fill bytes too) may be a SPIDER image. */
static const image_format spider = {"", 0, 0, "SPIDER", spider_decode, NULL, NULL};

static const image_format *spider_or(const uint8_t *p, size_t n, const image_format *f)
{
    static image_decoder *const after_spider[] = {sun_decode, webp_decode, xpm_decode, xbm_decode, tga_decode,
                                                  xvthumb_decode};
    int after = !f->decode && strcmp(f->name, "WMF") == 0;
    for (size_t i = 0; i < sizeof after_spider / sizeof after_spider[0]; i++)
        if (f->decode == after_spider[i]) after = 1;
    return after && spider_opens(p, n) ? &spider : f;
}

/* An IM file, by its text header (im_opens): an IM to read or to refuse. Only the formats after IM
 * whose files may start as such a header can lose one to it. */
static const image_format im = {"", 0, 0, "IM", im_decode, NULL, NULL};

static const image_format *im_or(const uint8_t *p, size_t n, const image_format *f)
{
    static image_decoder *const after_im[] = {imt_decode, pcd_decode,  spider_decode, tga_decode,
                                              webp_decode, msp_decode, sun_decode,    xvthumb_decode};
    int after = !f->decode && (!strcmp(f->name, "PAM") || !strcmp(f->name, "PIC"));
    for (size_t i = 0; i < sizeof after_im / sizeof after_im[0]; i++) after |= f->decode == after_im[i];
    return after && im_opens(p, n) ? &im : f;
}

/* IM Tools (its text header: imt_opens), then IPTC/NAA (a run of its fields: iptc_takes; named,
 * since Pillow 9.4 loads none), then PhotoCD ("PCD_" at byte 2048: pcd_opens). Only a file that
 * starts with 0x1C can be IPTC's, and of the formats after it only a TGA (or SPIDER or PhotoCD)
 * can start so. */
static const image_format imt = {"", 0, 0, "IMT", imt_decode, NULL, NULL};
static const image_format iptc = {"", 0, 0, "IPTC/NAA, which Pillow 9.4 opens but cannot load", NULL, NULL, NULL};
static const image_format pcd = {"", 0, 0, "PCD", pcd_decode, NULL, NULL};

static const image_format *imt_iptc_pcd_or(const uint8_t *p, size_t n, const image_format *f)
{
    static const char *const after_pcd[] = {"PIXAR", "PSD",          "SGI", "SPIDER", "SUN",  "TGA",  "WebP",
                                            "WMF",   "XBM",          "XPM", "PAM",    "HDR",  "PIC",  "HEIC",
                                            "HEIF",  "XV thumbnail", "AVIF", "JPEG XL"};
    for (size_t i = 0; i < sizeof after_pcd / sizeof after_pcd[0]; i++)
        if (!strcmp(f->name, after_pcd[i]))
            return imt_opens(p, n) ? &imt : iptc_takes(p, n) ? &iptc : pcd_opens(p, n) ? &pcd : f;
    return f;
}

/* An FLI's signature is at byte 4, behind 4 bytes of any value, so Pillow may take for one a file
 * another format's signature starts: it tries FLI after BMP, DIB, GIF, TIFF, JPEG, PNM, PNG, BLP,
 * BUFR, CUR, PCX, DCX, DDS, EPS and FITS, and after any of them that gives the file up (given_up
 * here; CUR, PCX and DCX through tga_or_refuse), before the others; where its FLI plugin gives the
 * file up (fli_opens), the formats after it have their turn. */
static const image_format fli = {"", 0, 0, "FLI", fli_decode, NULL, NULL};

/* Pillow's TIFF plugin gives up a file whose first directory's entry count lies past its end, and
 * its BLP plugin one of no pixels. */
static int given_up(const uint8_t *p, size_t n, const image_format *f)
{
    if (strcmp(f->name, "BLP") == 0) return n < 20 || !le32(p + 12) || !le32(p + 16);
    if (!strstr(f->name, "TIFF") || n < 16) return 0;
    int little = p[0] == 'I', big = p[2] == 43 || p[3] == 43;
    uint64_t at = !big ? rd32(p + 4, little) : little ? le64(p + 8) : (uint64_t)be32(p + 8) << 32 | be32(p + 12);
    return at > n - (big ? 8 : 2);
}

static const image_format *fli_or(const uint8_t *p, size_t n, const image_format *f)
{
    if (given_up(p, n, f)) return fli_opens(p, n) ? &fli : f;
    static const char *const before_fli[] = {"BMP", "DIB", "GIF", "TIFF", "BigTIFF", "big-endian BigTIFF",
                                             "JPEG", "PNM", "PNG", "BLP", "BUFR", "CUR", "PCX", "DCX",
                                             "DDS", "EPS", "FITS"};
    for (size_t i = 0; i < sizeof before_fli / sizeof before_fli[0]; i++) { /* by name: some are only named */
        size_t k = strlen(before_fli[i]);
        if (strncmp(f->name, before_fli[i], k) == 0 && (f->name[k] == '\0' || f->name[k] == ',')) return f;
    }
    return fli_opens(p, n) ? &fli : f;
}

/* f, or the plugin without a signature that Pillow would take the file for first */
static const image_format *claimed(const uint8_t *p, size_t n, const image_format *f)
{
    return fli_or(p, n, gbr_or(p, n, im_or(p, n, imt_iptc_pcd_or(p, n, spider_or(p, n, f)))));
}

/* An XV thumbnail starts "P7 332", which starts with PAM's signature: it is looked for before the table. */
static const image_format xvthumb = {"P7 332", 6, 0, "XV thumbnail", xvthumb_decode, NULL, NULL};

static int signature_matches(const uint8_t *p, size_t n, const image_format *f)
{
    if (n < f->len) return 0;
    for (size_t i = 0; i < f->len; i++)
        if (!(f->any >> i & 1) && p[i] != (uint8_t)f->magic[i]) return 0;
    return 1;
}

/* Pillow's XBM plugin takes a file whose first 16 bytes, whitespace stripped from the left, start
 * with "#define". No TGA starts so (its second byte is 0 or 1), so Pillow's TGA plugin, tried
 * before, never claims one, and none of the table's signatures does. */
static int looks_like_xbm(const uint8_t *p, size_t n)
{
    size_t i = 0, head = n < 16 ? n : 16;
    while (i < head && py_space(p[i])) i++;
    return head - i >= 7 && memcmp(p + i, "#define", 7) == 0;
}

static const image_format *sniff(const uint8_t *p, size_t n)
{
    if (signature_matches(p, n, &xvthumb)) return claimed(p, n, &xvthumb);
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (signature_matches(p, n, &formats[i])) return claimed(p, n, &formats[i]);
    const image_format *f = claimed(p, n, looks_like_xbm(p, n) ? &xbm : &tga);
    size_t fill = 0;
    while (f == &tga && fill < n && p[fill] == 0xff) fill++;
    return fill && fill < n && p[fill] == 0xd8 ? &jpeg_after_fill[fill > 1] : f;
}

image_row_decoder *image_rows_decoder(const uint8_t *p, size_t n, int *orientation)
{
    if (n == 0 || n > MAX_IMAGE_BYTES) return NULL; /* align_image_load_memory says why */
    const image_format *f = sniff(p, n);
    if (!f->rows) return NULL;
    *orientation = f->orientation ? f->orientation(p, n) : 1;
    return *orientation == ORIENTATION_REFUSED ? NULL : f->rows; /* refused by the whole decode */
}

align_status align_image_load_memory(const void *data, size_t size, const char *name,
                                     const align_decode_options *opts, align_image *out,
                                     align_error *err)
{
    if (!name) name = "(image)";
    if (!out || (!data && size)) return align_fail(err, ALIGN_ERR_ARG, "%s: no image buffer", name);
    memset(out, 0, sizeof *out);
    if (size == 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not an image (empty file)", name);
    if (size > MAX_IMAGE_BYTES)
        return align_fail(err, ALIGN_ERR_LIMIT, "%s: %zu bytes is more than the decoder takes (%zu)",
                          name, size, MAX_IMAGE_BYTES);
    const uint8_t *p = data;
    const image_format *f = sniff(p, size);
    if (!f->decode)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported image format (%s)", name, f->name);
    align_status s = f->decode(p, size, name, image_pixel_limit(opts), out, err);
    if (s) return s;
    int orientation = f->orientation ? f->orientation(p, size) : 1;
    if (orientation == ORIENTATION_REFUSED)
        s = align_fail(err, ALIGN_ERR_FORMAT, "%s: EXIF metadata Pillow cannot read (it refuses the image too; "
                       "strip the metadata to read it)", name);
    else
        s = orientation_apply(out, orientation, name, err);
    if (s) align_image_free(out);
    return s;
}

align_status align_image_load(const char *path, const align_decode_options *opts, align_image *out,
                              align_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return align_fail(err, ALIGN_ERR_ARG, "align_image_load: no path or output");
    file_map map;
    align_status s = file_map_open(path, &map, err);
    if (s) return s;
    s = align_image_load_memory(map.data, map.size, path, opts, out, err);
    file_map_close(&map);
    return s;
}

void align_image_free(align_image *image)
{
    if (!image) return;
    free(image->rgb);
    memset(image, 0, sizeof *image);
}
