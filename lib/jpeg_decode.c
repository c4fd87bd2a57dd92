/* jpeg_decode.c: JPEG through libjpeg-turbo, the library PIL links, with PIL's settings: libjpeg's
 * defaults (islow IDCT, fancy upsampling), grey widened to RGB, and CMYK/YCCK read as PIL reads
 * it (Adobe's inverted CMYK, then convert("RGB")'s CMYK formula). libjpeg reports a fatal error by
 * calling error_exit, which must not return: ours longjmps back here, so nothing aborts or prints. */
#include "image_decode.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h uses FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"
#include "pil_convert.h"

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg's err pointer is this struct's address */
    jmp_buf jump;
    int ran_out;    /* the data ended before the end-of-image marker */
    int many_scans; /* stopped by jpeg_progress */
} jpeg_errors;

/* Every scan of a progressive JPEG passes over the whole image, so a small file of many tiny scans
 * takes minutes (libjpeg-turbo's own tools cap them too); real encoders write about ten. */
#define MAX_SCANS 1000

static void jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_errors *errors = (jpeg_errors *)cinfo->err;
    if (d->input_scan_number > MAX_SCANS) {
        errors->many_scans = 1;
        longjmp(errors->jump, 1);
    }
}

static void jpeg_error_exit(j_common_ptr cinfo)
{
    longjmp(((jpeg_errors *)cinfo->err)->jump, 1);
}

/* Warnings (corrupt data, extraneous bytes) are ignored, as PIL ignores them; running out of data
 * is noted: PIL's decoder waits for more and, at the end of the file, calls it truncated. */
static void jpeg_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) ((jpeg_errors *)cinfo->err)->ran_out = 1;
}

/* One decoded row of `components` samples per pixel to RGB in place (row holds w * 4 bytes). */
static void row_to_rgb(uint8_t *row, int w, int components)
{
    if (components == 1) {
        for (int x = w - 1; x >= 0; x--) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = row[x];
    } else if (components == 4) {
        for (int x = 0; x < w; x++) {
            const uint8_t *s = row + 4 * x;
            /* Adobe's CMYK is stored inverted: 255 is no ink */
            uint8_t r = pil_cmyk_channel(255u - s[0], 255u - s[3]), g = pil_cmyk_channel(255u - s[1], 255u - s[3]),
                    b = pil_cmyk_channel(255u - s[2], 255u - s[3]);
            row[3 * x] = r;
            row[3 * x + 1] = g;
            row[3 * x + 2] = b;
        }
    }
}

/* The decode proper, between setjmp and jpeg_destroy_decompress: each row decoded where `to` says.
 * What must be freed after a longjmp is `to`'s, so nothing here lives in a local across one.
 * stored_cmyk: a four-component image's samples are CMYK as stored, whatever its Adobe marker says. */
static align_status jpeg_rows(struct jpeg_decompress_struct *cinfo, const char *name, uint64_t max_pixels,
                              const image_rows *to, int stored_cmyk, align_error *err)
{
    /* a datastream of tables alone (or of nothing) before the image's is read past, as PIL does */
    int got;
    while ((got = jpeg_read_header(cinfo, FALSE)) == JPEG_HEADER_TABLES_ONLY && !((jpeg_errors *)cinfo->err)->ran_out)
        ;
    if (got != JPEG_HEADER_OK)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated JPEG (no image in it)", name);
    int w = (int)cinfo->image_width, h = (int)cinfo->image_height, comps = cinfo->num_components;
    if (comps != 1 && comps != 3 && comps != 4) /* PIL: "cannot handle N-layer images" */
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: unsupported JPEG (%d components)", name, comps);
    align_status s = image_check_size(name, "JPEG", w, h, max_pixels, err);
    if (s) return s;
    cinfo->out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    if (comps == 4 && stored_cmyk) cinfo->jpeg_color_space = JCS_CMYK;
    jpeg_start_decompress(cinfo);
    if ((s = to->begin(to->ctx, name, w, h, err))) return s;
    while (cinfo->output_scanline < cinfo->output_height) {
        int y = (int)cinfo->output_scanline;
        JSAMPROW row = to->row(to->ctx, y);
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) break;
        row_to_rgb(row, w, comps);
        if (to->done) to->done(to->ctx, y, row);
    }
    if (!((jpeg_errors *)cinfo->err)->ran_out) jpeg_finish_decompress(cinfo);
    if (((jpeg_errors *)cinfo->err)->ran_out)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated JPEG (no end-of-image marker)", name);
    return ALIGN_OK;
}

static align_status jpeg_decode_with(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                     const image_rows *to, int stored_cmyk, align_error *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors errors;
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jpeg_error_exit;
    errors.pub.emit_message = jpeg_message;
    errors.ran_out = errors.many_scans = 0;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    align_status s;
    if (setjmp(errors.jump)) {
        char why[JMSG_LENGTH_MAX];
        errors.pub.format_message((j_common_ptr)&cinfo, why);
        if (errors.many_scans)
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt JPEG image (more than %d scans)", name, MAX_SCANS);
        else if (errors.pub.msg_code == JERR_OUT_OF_MEMORY)
            s = align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory decoding the JPEG", name);
        else if (errors.ran_out) /* libjpeg ended the data with a made-up marker, then failed on it */
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated JPEG (%s)", name, why);
        else
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt JPEG image (%s)", name, why);
    } else {
        jpeg_create_decompress(&cinfo);
        cinfo.progress = &progress;
        jpeg_mem_src(&cinfo, p, (unsigned long)n);
        s = jpeg_rows(&cinfo, name, max_pixels, to, stored_cmyk, err);
    }
    jpeg_destroy_decompress(&cinfo);
    return s;
}

align_status jpeg_decode_rows(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                              const image_rows *to, align_error *err)
{
    return jpeg_decode_with(p, n, name, max_pixels, to, 0, err);
}

/* The whole image's rows in out->rgb, 4 bytes a pixel in the last row: a CMYK row is converted in
 * place. */
static align_status whole_begin(void *ctx, const char *name, int w, int h, align_error *err)
{
    align_image *out = ctx;
    if (!(out->rgb = big_malloc((size_t)w * h * 3 + (size_t)w))) return image_out_of_memory(name, w, h, err);
    out->width = w;
    out->height = h;
    return ALIGN_OK;
}

static uint8_t *whole_row(void *ctx, int y)
{
    align_image *out = ctx;
    return out->rgb + (size_t)y * out->width * 3;
}

static align_status jpeg_decode_whole(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                      align_image *out, int stored_cmyk, align_error *err)
{
    image_rows whole = {whole_begin, whole_row, NULL, out};
    align_status s = jpeg_decode_with(p, n, name, max_pixels, &whole, stored_cmyk, err);
    if (s) align_image_free(out);
    return s;
}

align_status jpeg_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    return jpeg_decode_whole(p, n, name, max_pixels, out, 0, err);
}

align_status jpeg_decode_stored_cmyk(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels,
                                     align_image *out, align_error *err)
{
    return jpeg_decode_whole(p, n, name, max_pixels, out, 1, err);
}
