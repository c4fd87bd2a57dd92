/* fuzz_orientation: arbitrary bytes through every orientation reader whose signature they carry
 * (a PNG's eXIf, text and XMP chunks, with inflating; a WebP's chunks; a TIFF's or an EXIF block's
 * IFD0; a JPEG's segments). Each must answer 1..8; a PNG's or WebP's reader may also refuse the
 * file (ORIENTATION_REFUSED), as PIL refuses an EXIF block it cannot read there. */
#include "fuzz_util.h"
#include "orientation.h"

static void check(int o)
{
    FUZZ_ASSERT(o >= 1 && o <= 8, "orientation %d", o);
}

static void check_or_refused(int o)
{
    if (o != ORIENTATION_REFUSED) check(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(orientation_exif(data, size));
    if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) check_or_refused(orientation_png(data, size));
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) check_or_refused(orientation_webp(data, size));
    if (size >= 3 && !memcmp(data, "\xff\xd8\xff", 3)) check(orientation_jpeg(data, size));
    check(orientation_tiff(data, size));
    return 0;
}
