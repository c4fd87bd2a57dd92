/* fuzz_jp2: arbitrary JPEG 2000 files, JP2 or bare codestream, through jp2_decode (PIL's header
 * walk, OpenJPEG through PIL's read callbacks, the tile bounds, PIL's unpacking). */
#include "fuzz_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!(size >= 12 && memcmp(data, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0) && !(size >= 4 && memcmp(data, "\xffO\xffQ", 4) == 0))
        return 0;
    return fuzz_decoder(jp2_decode, data, size);
}
