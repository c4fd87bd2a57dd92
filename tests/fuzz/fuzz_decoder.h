/* fuzz_decoder.h: the body of a target that feeds one format's decoder (image_decode.h) directly:
 * inputs without the format's signature are skipped, since the dispatcher never passes them. A
 * decoded image is within the pixel limit and every byte of it is read (ASan sees a short buffer,
 * and the sum makes an uninitialised byte matter to MSan-style checks); a refusal is one line. */
#ifndef ALIGN_FUZZ_DECODER_H
#define ALIGN_FUZZ_DECODER_H

#include <stdint.h>

#include "fuzz_util.h"
#include "image_decode.h"

/* As fuzz_image's: low enough for one input to decode well within the timeout. */
#define FUZZ_DECODER_MAX_PIXELS (1u << 22)

static inline int fuzz_decoder(image_decoder *decode, const uint8_t *data, size_t size)
{
    align_image img = {0};
    align_error err;
    align_status s = decode(data, size, "fuzz.img", FUZZ_DECODER_MAX_PIXELS, &img, &err);
    if (s) {
        fuzz_check_error(s, &err, "fuzz.img");
        FUZZ_ASSERT(img.rgb == NULL && img.width == 0 && img.height == 0, "a failed decode left an image");
        return 0;
    }
    FUZZ_ASSERT(img.rgb && img.width >= 1 && img.height >= 1, "%d x %d", img.width, img.height);
    FUZZ_ASSERT((uint64_t)img.width * (uint64_t)img.height <= FUZZ_DECODER_MAX_PIXELS, "%d x %d is over the limit",
                img.width, img.height);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++) sum ^= img.rgb[i];
    (void)sum;
    align_image_free(&img);
    return 0;
}

#endif
