/* fuzz_tiff: arbitrary TIFF files through tiff_decode (libtiff's client procedures over memory, its
 * per-handle error handlers, PIL's modes, strips, tiles and planes gathered here). */
#include "fuzz_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || (memcmp(data, "II*\0", 4) && memcmp(data, "MM\0*", 4) && memcmp(data, "II+\0", 4) &&
                     memcmp(data, "MM\0+", 4)))
        return 0;
    return fuzz_decoder(tiff_decode, data, size);
}
