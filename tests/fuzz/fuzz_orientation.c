/* fuzz_orientation: arbitrary bytes through every orientation reader whose signature they carry
 * (a PNG's eXIf, text and XMP chunks, with inflating; a WebP's chunks; a TIFF's or an EXIF block's
 * IFD0; a JPEG's segments). Each must answer 1..8. */
#include "fuzz_util.h"
#include "orientation.h"

static void check(int o)
{
    FUZZ_ASSERT(o >= 1 && o <= 8, "orientation %d", o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(orientation_exif(data, size));
    if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) check(orientation_png(data, size));
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) check(orientation_webp(data, size));
    if (size >= 3 && !memcmp(data, "\xff\xd8\xff", 3)) check(orientation_jpeg(data, size));
    check(orientation_tiff(data, size));
    return 0;
}
