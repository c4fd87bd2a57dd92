/* image_decode.h: the interface between the image dispatcher (image_decode.c: align_image_load,
 * align_image_load_memory, align_image_free) and the format decoders it calls.
 *
 * The dispatcher refuses empty and oversized buffers, recognises the format by its signature (a
 * table with one row per signature: the bytes, the format's name, its decoder, where it keeps its
 * orientation), calls the format's decoder, then applies the file's EXIF orientation
 * (orientation.h). A decoder plugs in with its declaration below and its row in that table (a
 * named but unread format's row has a NULL decoder: fill it in). Its file includes this header,
 * so the compiler checks its definition against image_decoder; image_limits.h has the checks and
 * messages decoders share.
 *
 * A decoder, the contract:
 *   align_status decode_X(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
 *                         align_image *out, align_error *err);
 *   - p[0..n) is the whole file (1 <= n <= INT_MAX - 16; its signature matched);
 *   - name is what messages call the file: every error is one line starting "name: ";
 *   - max_pixels (never 0) is checked against the header's width x height before any pixel
 *     buffer is allocated (image_limits.h); over it is ALIGN_ERR_LIMIT;
 *   - on success out->rgb holds width x height 8-bit RGB pixels, top row first, channels
 *     innermost, malloc'ed (align_image_free frees it), exactly as PIL's convert("RGB") gives the
 *     file, BEFORE any EXIF orientation (the dispatcher applies it);
 *   - on failure out is left zeroed (*out is zeroed on entry) and err says what is wrong:
 *     ALIGN_ERR_FORMAT for a corrupt or truncated file, ALIGN_ERR_NOMEM, ALIGN_ERR_LIMIT;
 *   - it is reentrant (no global mutable state) and never aborts, exits or prints. */
#ifndef ALIGN_IMAGE_DECODE_H
#define ALIGN_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

typedef align_status image_decoder(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                   align_image *out, align_error *err);

/* Where a decoder by rows puts them: begin learns the size (after the limits are checked) and may
 * fail; row(y) is where row y goes, room for width x 4 bytes (a decoder may widen a row in place);
 * done (may be NULL) is told when it holds the row's RGB. */
typedef struct {
    align_status (*begin)(void *ctx, const char *name, int w, int h, align_error *err);
    uint8_t *(*row)(void *ctx, int y);
    void (*done)(void *ctx, int y, const uint8_t *rgb);
    void *ctx;
} image_rows;

/* A decoder by rows: the contract above, but each row goes to `to` as it is decoded and nothing is
 * allocated for the image (what begin allocates, the caller frees, whatever the result). */
typedef align_status image_row_decoder(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                       const image_rows *to, align_error *err);

/* A file's decoder by rows and its EXIF orientation, or NULL when its format has none (the file is
 * then decoded whole: align_image_load_memory). */
image_row_decoder *image_rows_decoder(const uint8_t *p, size_t n, int *orientation);

/* ---- the decoders ---- */

image_decoder netpbm_decode;   /* PBM, PGM and PPM, plain and binary (netpbm.c) */
image_decoder bmp_decode;      /* every BMP Pillow reads, as it reads it (bmp.c) */
image_decoder dib_decode;      /* the same without its file header, as Pillow's DIB plugin (bmp.c) */
image_decoder tga_decode;      /* every TGA Pillow reads, as it reads it (tga.c) */
/* Where Pillow's ICO or CUR plugin gives up with an exception Image.open takes as "not this
 * format", it tries the next plugins, TGA among them, and a true-colour TGA without an ID or a
 * colour map starts with an icon's or cursor's signature: such a file is a TGA if it reads as one,
 * and otherwise refused for `why`, what it lacks as an icon or cursor. Pillow tries its FLI
 * plugin (the signature at byte 4), its PhotoCD one (at byte 2048) and its SPIDER one (a header of
 * floats) before TGA: a file one of them opens is read as such instead. */
align_status tga_or_refuse(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                           align_error *err, const char *why);
image_decoder gif_decode;      /* a GIF's first frame, as Pillow gives it (gif.c) */
image_decoder jpeg_decode;     /* libjpeg-turbo, with PIL's settings (jpeg_decode.c) */
image_row_decoder jpeg_decode_rows; /* the same, by rows */
/* the same, as Pillow's BLP plugin has it decode a JPEG: four components taken as the CMYK they
 * are stored as, never converted from YCCK, whatever an Adobe marker says */
image_decoder jpeg_decode_stored_cmyk;
image_decoder webp_decode;     /* libwebp's animation decoder: the first frame (webp_decode.c) */
image_decoder tiff_decode;     /* libtiff: the first page, in PIL's modes (tiff_decode.c) */
image_decoder stb_decode_png;  /* stb_image, made to agree with PIL (stb_decode.c) */
image_decoder ico_decode;      /* a Windows icon's largest image, as Pillow picks it (ico.c) */
image_decoder cur_decode;      /* a Windows cursor's image, as Pillow picks it (cur.c) */
image_decoder jp2_decode;      /* JPEG 2000 through OpenJPEG, unpacked as PIL unpacks it (jp2_decode.c) */
image_decoder psd_decode;      /* a Photoshop document's composite image, as Pillow reads it (psd.c) */
image_decoder sgi_decode;      /* every SGI image Pillow reads, as it reads it (sgi.c) */
image_decoder pcx_decode;      /* a Paintbrush image, as Pillow reads it (pcx.c) */
image_decoder dcx_decode;      /* a DCX container's first page, read as a PCX (pcx.c) */
image_decoder dds_decode;      /* a DirectDraw Surface's top-level image, as Pillow reads it (dds.c) */
image_decoder xbm_decode;      /* an X11 bitmap, as Pillow's XBM plugin reads it (xbm.c) */
image_decoder xpm_decode;      /* an X11 pixmap, as Pillow 9.4's XPM plugin reads it (xpm.c) */
image_decoder icns_decode;     /* an Apple icon's largest image, as Pillow picks it (icns.c) */
image_decoder sun_decode;      /* a Sun raster file, raw or run-length encoded (sun.c) */
image_decoder msp_decode;      /* a Microsoft Paint file, version 1 or 2 (msp.c) */
image_decoder gbr_decode;      /* a GIMP brush, version 1 or 2 (gbr.c) */
image_decoder blp_decode;      /* a Blizzard texture, BLP1 (JPEG, palette) or BLP2 (palette, DXTn) (blp.c) */
image_decoder eps_decode;      /* Encapsulated PostScript, rendered by Ghostscript's gs as Pillow has it (eps.c) */
image_decoder ftex_decode;     /* an Independence War 2 texture, DXT1 or RGB (ftex.c) */
/* 1 when Pillow's GBR plugin would open the file: it has no signature (gbr.c) */
int gbr_opens(const uint8_t *p, size_t n);
image_decoder pcd_decode;      /* a Kodak PhotoCD's 768 x 512 base image, as Pillow reads it (pcd.c) */
/* 1 when Pillow's PhotoCD plugin would open the file: its signature is at byte 2048 (pcd.c) */
int pcd_opens(const uint8_t *p, size_t n);
image_decoder imt_decode;      /* an IM Tools image (8-bit grey), as Pillow reads it (imt.c) */
/* 1 when Pillow's IM Tools plugin would take the file (open it, or refuse it outright): it has no
 * signature (imt.c) */
int imt_opens(const uint8_t *p, size_t n);
/* 1 when Pillow 9.4's IPTC/NAA plugin would take the file (it has no signature), which it then
 * cannot load (iptc.c) */
int iptc_takes(const uint8_t *p, size_t n);
image_decoder im_decode;       /* an IFUNC IM file, as Pillow's IM plugin reads it (im.c) */
/* 1 when Pillow's IM plugin would take the file (to read or to refuse): it has no signature (im.c) */
int im_opens(const uint8_t *p, size_t n);
image_decoder pixar_decode;    /* a PIXAR raster of 8-bit RGB, the one kind Pillow reads (pixar.c) */
image_decoder xvthumb_decode;  /* an XV thumbnail, 3-3-2 colour (xvthumb.c) */
image_decoder fli_decode;      /* an FLI/FLC animation's first frame, as Pillow reads it (fli.c) */
/* 1 when Pillow's FLI plugin would open the file: its signature is at byte 4 (fli.c) */
int fli_opens(const uint8_t *p, size_t n);
image_decoder fits_decode;     /* a FITS image, as Pillow 9.4 reads it (fits.c) */
image_decoder spider_decode;   /* a SPIDER image of floats, or a stack's first (spider.c) */
/* 1 when Pillow's SPIDER plugin would open the file: it has no signature (spider.c) */
int spider_opens(const uint8_t *p, size_t n);
image_decoder mcidas_decode;   /* a McIdas area file (mcidas.c) */

/* How bmp_decode_dib reads a bitmap: an icon's or a cursor's counts the AND mask below the image in
 * its height; an icon's Pillow reads from a stream, where a file of its own it maps. */
enum { DIB_HALF_HEIGHT = 1, DIB_STREAMED = 2 };

/* A bitmap without its file header (the info header first): a DIB file (how 0), or an icon's or a
 * cursor's bitmap. *data_at is where its pixel data starts in p. */
align_status bmp_decode_dib(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, unsigned how,
                            align_image *out, uint64_t *data_at, align_error *err);

#endif
