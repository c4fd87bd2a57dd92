/* webp_decode.c: WebP through libwebp's animation decoder (libwebpdemux), as PIL 9.4 reads every
 * WebP, still or animated: the first frame drawn on the canvas as RGBA, not premultiplied, then
 * convert("RGB") drops the alpha. On an animation's first frame the canvas outside the frame is
 * transparent black, so it comes out black. */
#include "image_decode.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "error.h"
#include "image_limits.h"
#include "memory.h"

align_status webp_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                         align_error *err)
{
    /* the canvas size from the header, before the decoder allocates the canvas */
    WebPBitstreamFeatures features;
    if (WebPGetFeatures(p, n, &features) != VP8_STATUS_OK)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt WebP image (unreadable header)", name);
    align_status s = image_check_size(name, "WebP", features.width, features.height, max_pixels, err);
    if (s) return s;
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: libwebp's version does not match its headers", name);
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    WebPData data = {p, n};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &options);
    if (!dec) return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt or truncated WebP image", name);
    WebPAnimInfo info;
    uint8_t *canvas;
    int timestamp;
    if (!WebPAnimDecoderGetInfo(dec, &info) || (int)info.canvas_width != features.width ||
        (int)info.canvas_height != features.height || !WebPAnimDecoderGetNext(dec, &canvas, &timestamp)) {
        WebPAnimDecoderDelete(dec);
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt or truncated WebP image (first frame)", name);
    }
    size_t count = (size_t)info.canvas_width * info.canvas_height;
    if (!(out->rgb = big_malloc(count * 3))) {
        WebPAnimDecoderDelete(dec);
        return image_out_of_memory(name, features.width, features.height, err);
    }
    for (size_t i = 0; i < count; i++) memcpy(out->rgb + 3 * i, canvas + 4 * i, 3);
    out->width = (int)info.canvas_width;
    out->height = (int)info.canvas_height;
    WebPAnimDecoderDelete(dec);
    return ALIGN_OK;
}
