/* preprocess.c: Hugging Face's EfficientNetImageProcessor of transformers 4.27: its
 * preprocessor_config.json, then resize (resample.h), center crop, rescale and normalise. */
#include "preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "jsonutil.h"
#include "resample.h"

void preprocess_config_default(preprocess_config *cfg)
{
    *cfg = (preprocess_config){
        .do_resize = 1, .size_h = 346, .size_w = 346, .resample = RESAMPLE_NEAREST,
        .do_center_crop = 0, .crop_h = 289, .crop_w = 289,
        .do_rescale = 1, .rescale_offset = 0, .rescale_factor = 1.0 / 255,
        /* IMAGENET_STANDARD_MEAN and _STD */
        .do_normalize = 1, .image_mean = {0.5, 0.5, 0.5}, .image_std = {0.5, 0.5, 0.5},
        .include_top = 1,
    };
}

/* The largest side of what the vision tower is fed: size and crop_size in a config, and an image
 * passed through at its own size (do_resize and do_center_crop off). The tower's activations grow
 * with the input's area: align-base takes about 1.5 GB per image at 2048 x 2048 (on top of its
 * weights), 16 times that at 8192. EfficientNet-B7 was trained at 600, align-base at 289. */
#define MAX_SIDE 2048

/* size / crop_size: {"height": h, "width": w}, a bare integer (square) or [h, w], as HF's
 * get_size_dict accepts them. */
static align_status read_size(const cJSON *root, const char *key, const char *path, int *h, int *w,
                              align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: %s", path, key);
    if (!v || cJSON_IsNull(v)) return ALIGN_OK;
    if (cJSON_IsNumber(v)) {
        int side = 0;
        align_status s = json_int(root, key, path, 1, MAX_SIDE, &side, err);
        if (!s) *h = *w = side;
        return s;
    }
    if (cJSON_IsArray(v)) {
        int hw[2], n = 0;
        align_status s = json_int_array(root, key, path, 1, MAX_SIDE, hw, 2, &n, err);
        if (s) return s;
        if (n != 2) return align_fail(err, ALIGN_ERR_CONFIG, "%s: expected [height, width]", ctx);
        *h = hw[0];
        *w = hw[1];
        return ALIGN_OK;
    }
    if (!cJSON_IsObject(v) || !cJSON_GetObjectItemCaseSensitive(v, "height") ||
        !cJSON_GetObjectItemCaseSensitive(v, "width"))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: expected {\"height\": H, \"width\": W}", ctx);
    align_status s = json_int(v, "height", ctx, 1, MAX_SIDE, h, err);
    return s ? s : json_int(v, "width", ctx, 1, MAX_SIDE, w, err);
}

/* image_mean / image_std: three numbers, or one for every channel. */
static align_status read_channels(const cJSON *root, const char *key, const char *path, double lo,
                                  double hi, double out[3], align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return ALIGN_OK;
    if (cJSON_IsNumber(v)) {
        double x = 0;
        align_status s = json_double(root, key, path, lo, hi, &x, err);
        if (!s) out[0] = out[1] = out[2] = x;
        return s;
    }
    double vals[3];
    int n = 0;
    align_status s = json_double_array(root, key, path, lo, hi, vals, 3, &n, err);
    if (s) return s;
    if (n != 3) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected 3 values, got %d", path, key, n);
    memcpy(out, vals, sizeof vals);
    return ALIGN_OK;
}

align_status preprocess_config_parse(const char *json, size_t len, const char *path, preprocess_config *cfg,
                                    align_error *err)
{
    preprocess_config_default(cfg);
    cJSON *root;
    align_status s = json_parse_object(json, len, path, &root, err);
    if (s) return s;
    preprocess_config c = *cfg;
    if (!s) s = json_bool(root, "do_resize", path, &c.do_resize, err);
    if (!s) s = read_size(root, "size", path, &c.size_h, &c.size_w, err);
    if (!s) s = json_int(root, "resample", path, RESAMPLE_NEAREST, RESAMPLE_HAMMING, &c.resample, err);
    if (!s) s = json_bool(root, "do_center_crop", path, &c.do_center_crop, err);
    if (!s) s = read_size(root, "crop_size", path, &c.crop_h, &c.crop_w, err);
    if (!s) s = json_bool(root, "do_rescale", path, &c.do_rescale, err);
    if (!s) s = json_double(root, "rescale_factor", path, 0.0, 1e6, &c.rescale_factor, err);
    if (!s) s = json_bool(root, "rescale_offset", path, &c.rescale_offset, err);
    if (!s) s = json_bool(root, "do_normalize", path, &c.do_normalize, err);
    if (!s) s = read_channels(root, "image_mean", path, -1e6, 1e6, c.image_mean, err);
    if (!s) s = read_channels(root, "image_std", path, 1e-6, 1e6, c.image_std, err);
    if (!s) s = json_bool(root, "include_top", path, &c.include_top, err);
    cJSON_Delete(root);
    if (!s) *cfg = c;
    return s;
}

align_status preprocess_config_read(const char *path, preprocess_config *cfg, align_error *err)
{
    preprocess_config_default(cfg);
    if (!path) return align_fail(err, ALIGN_ERR_ARG, "preprocessor config: no path");
    if (!file_exists(path)) return ALIGN_OK;
    char *text;
    size_t len;
    align_status s = file_read_all(path, 1 << 20, &text, &len, err);
    if (s) return s;
    s = preprocess_config_parse(text, len, path, cfg, err);
    free(text);
    return s;
}

/* HF 4.27's center_crop, per axis: inside the image the window starts at (in - crop) // 2; a
 * smaller image is padded by (crop - in) // 2 zeros on each side, so an odd difference yields one
 * row or column less than crop (fixed in later transformers; 4.27's output is reproduced). The
 * window's start in image coordinates is negative when padded. */
static void crop_axis(int in, int crop, int *start, int *len)
{
    if (in >= crop) {
        *start = (in - crop) / 2;
        *len = crop;
    } else {
        int pad = (crop - in) / 2;
        *start = -pad;
        *len = in + 2 * pad;
    }
}

void preprocess_output_size(const preprocess_config *cfg, int in_w, int in_h, int *out_w, int *out_h)
{
    int w = cfg->do_resize ? cfg->size_w : in_w, h = cfg->do_resize ? cfg->size_h : in_h, start;
    if (cfg->do_center_crop) {
        crop_axis(w, cfg->crop_w, &start, &w);
        crop_axis(h, cfg->crop_h, &start, &h);
    }
    *out_w = w;
    *out_h = h;
}

/* Every stage after the crop maps one 8-bit value to one float, so a table per channel holds the
 * whole arithmetic, in the precision HF uses: rescale in float64 on the uint8 array, then cast to
 * float32 (with offset: (x - 127.5) * factor, 4.27's formula); normalize and include_top's second
 * division by std in float32. */
static void value_table(const preprocess_config *cfg, float table[3][256])
{
    for (int c = 0; c < 3; c++) {
        float mean = (float)cfg->image_mean[c], std = (float)cfg->image_std[c];
        for (int v = 0; v < 256; v++) {
            float x = (float)v;
            if (cfg->do_rescale && cfg->rescale_offset) x = (float)((v - 127.5) * cfg->rescale_factor);
            else if (cfg->do_rescale) x = (float)(v * cfg->rescale_factor);
            if (cfg->do_normalize) x = (x - mean) / std;
            if (cfg->include_top) x = x / std;
            table[c][v] = x;
        }
    }
}

align_status image_fit(const preprocess_config *cfg, resample_row_fn row, const align_image *in, align_image *out,
                       align_error *err)
{
    if (cfg->do_resize) return image_resize(in, cfg->size_w, cfg->size_h, cfg->resample, row, out, err);
    /* to its own size: image_resize copies (and refuses an empty image, as it would any) */
    return image_resize(in, in ? in->width : 0, in ? in->height : 0, RESAMPLE_NEAREST, row, out, err);
}

align_status image_preprocess(const preprocess_config *cfg, resample_row_fn row, const align_image *in, float *out,
                              align_error *err)
{
    if (!cfg || !in || !in->rgb || in->width <= 0 || in->height <= 0 || !out)
        return align_fail(err, ALIGN_ERR_ARG, "preprocess: empty image or output");
    int out_w, out_h;
    preprocess_output_size(cfg, in->width, in->height, &out_w, &out_h);
    if (out_w > MAX_SIDE || out_h > MAX_SIDE)
        return align_fail(err, ALIGN_ERR_LIMIT,
                          "%d x %d pixels would go to the model as they are (do_resize is off): at most %d x %d",
                          in->width, in->height, MAX_SIDE, MAX_SIDE);
    align_image resized = {0};
    const align_image *src = in;
    if (cfg->do_resize) {
        align_status s = image_resize(in, cfg->size_w, cfg->size_h, cfg->resample, row, &resized, err);
        if (s) return s;
        src = &resized;
    }
    int left = 0, top = 0, w = src->width, h = src->height;
    if (cfg->do_center_crop) {
        crop_axis(src->width, cfg->crop_w, &left, &w);
        crop_axis(src->height, cfg->crop_h, &top, &h);
    }
    float table[3][256];
    value_table(cfg, table);
    for (int y = 0; y < h; y++) {
        int sy = y + top;
        for (int x = 0; x < w; x++) {
            int sx = x + left;
            int inside = sy >= 0 && sy < src->height && sx >= 0 && sx < src->width;
            const uint8_t *px = inside ? src->rgb + ((size_t)sy * src->width + sx) * 3 : NULL;
            float *o = out + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = table[c][px ? px[c] : 0];
        }
    }
    align_image_free(&resized);
    return ALIGN_OK;
}
