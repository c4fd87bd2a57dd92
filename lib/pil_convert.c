/* pil_convert.c: PIL 9.4's convert("RGB") of CMYK, LAB and YCbCr pixels. */
#include "pil_convert.h"

#include <lcms2.h>

uint8_t pil_cmyk_channel(unsigned c, unsigned k)
{
    unsigned nk = 255 - k, t = c * nk + 128;
    return (uint8_t)(nk - ((t >> 8) + t) / 256);
}

/* PIL converts LAB to RGB with LittleCMS: its own LAB profile (D50) to sRGB, perceptual, in 8 bits,
 * the pixels padded to 4 bytes. A context of its own for each call: LittleCMS's default one is
 * process-wide. */
int pil_lab_to_rgba(uint8_t *rows, size_t row_bytes, int w, int h)
{
    cmsContext ctx = cmsCreateContext(NULL, NULL);
    cmsHPROFILE lab = ctx ? cmsCreateLab2ProfileTHR(ctx, NULL) : NULL;
    cmsHPROFILE srgb = ctx ? cmsCreate_sRGBProfileTHR(ctx) : NULL;
    cmsUInt32Number lab_x = COLORSPACE_SH(PT_LabV2) | CHANNELS_SH(3) | BYTES_SH(1) | EXTRA_SH(1);
    cmsHTRANSFORM t = lab && srgb ? cmsCreateTransformTHR(ctx, lab, lab_x, srgb, TYPE_RGBA_8, INTENT_PERCEPTUAL, 0)
                                  : NULL;
    for (int y = 0; t && y < h; y++) {
        uint8_t *row = rows + (size_t)y * row_bytes;
        cmsDoTransform(t, row, row, (cmsUInt32Number)w);
    }
    if (t) cmsDeleteTransform(t);
    if (lab) cmsCloseProfile(lab);
    if (srgb) cmsCloseProfile(srgb);
    if (ctx) cmsDeleteContext(ctx);
    return t ? 1 : -1;
}

/* PIL's YCbCr conversion works in 1/64ths: each chroma term is the coefficient times 64 times the
 * chroma's distance from 128, plus a half, truncated toward zero; a colour is the luma plus the floor
 * of its terms' sum over 64, clipped. */
static int ycbcr_term(double coefficient, unsigned chroma)
{
    return (int)(coefficient * 64 * ((int)chroma - 128) + 0.5);
}

static uint8_t ycbcr_level(int y, int sixty_fourths)
{
    int v = y + (sixty_fourths >= 0 ? sixty_fourths / 64 : -((63 - sixty_fourths) / 64));
    return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
}

void pil_ycbcr_to_rgb(const uint8_t ycc[3], uint8_t rgb[3])
{
    rgb[0] = ycbcr_level(ycc[0], ycbcr_term(1.402, ycc[2]));
    rgb[1] = ycbcr_level(ycc[0], ycbcr_term(-0.34414, ycc[1]) + ycbcr_term(-0.71414, ycc[2]));
    rgb[2] = ycbcr_level(ycc[0], ycbcr_term(1.772, ycc[1]));
}
