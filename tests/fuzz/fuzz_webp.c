/* fuzz_webp: arbitrary RIFF/WEBP files through webp_decode (libwebp's animation decoder, the
 * header-first size check, the first frame's canvas). */
#include "fuzz_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12 || memcmp(data, "RIFF", 4) || memcmp(data + 8, "WEBP", 4)) return 0;
    return fuzz_decoder(webp_decode, data, size);
}
