/* fuzz_jpeg: arbitrary bytes after a JPEG's start marker through jpeg_decode (libjpeg-turbo, its
 * error_exit longjmp, the truncation check, the CMYK and grey conversions). */
#include "fuzz_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || memcmp(data, "\xff\xd8\xff", 3)) return 0;
    return fuzz_decoder(jpeg_decode, data, size);
}
