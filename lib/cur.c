/* cur.c: a Windows cursor as Pillow 9.4's CurImagePlugin reads it, then convert("RGB").
 *
 * Pillow's cursor is a BMP file of its own, not an icon: it opens the directory's first entry, or
 * a later one whose width and height bytes are both greater (0 counts as 0 here, not 256), reads
 * that entry's bitmap as a DIB and halves its height. It reads no AND mask (a file may end after
 * the image) and no PNG image. A cursor keeps no EXIF orientation. */
#include "image_decode.h"

#include <string.h>

#include "byteorder.h"
#include "error.h"

/* The entry Pillow picks, walking the directory as it reads it: 16 bytes an entry, fewer at the
 * end of the file. A short entry is compared by the bytes it has (and refused where Python's
 * indexing would fail); picked, it has no offset. Returns the entry and sets *end to where the
 * walk stopped, or returns NULL. */
static const uint8_t *cur_pick(const uint8_t *p, size_t n, size_t *end)
{
    unsigned count = le16(p + 4);
    const uint8_t *m = NULL;
    size_t pos = 6, m_len = 0;
    for (unsigned i = 0; i < count; i++) {
        size_t len = n - pos < 16 ? n - pos : 16;
        const uint8_t *s = p + pos;
        pos += len;
        if (!m_len) {
            m = s, m_len = len;
            continue;
        }
        if (!len) return NULL;
        if (s[0] > m[0] && (len < 2 || m_len < 2)) return NULL;
        if (s[0] > m[0] && s[1] > m[1]) m = s, m_len = len;
    }
    *end = pos;
    return m_len == 16 ? m : NULL;
}

/* Where Pillow gives up on a cursor with an exception its Image.open takes as "not this format"
 * (no entries, a directory or a header size it cannot read), it tries the next format, and a
 * true-colour TGA without an ID or a colour map starts with a cursor's signature (tga_or_refuse);
 * without entries it was never a cursor, and the TGA's reason is the one to give. */
align_status cur_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    if (n < 6 || !le16(p + 4)) /* Pillow's PhotoCD plugin comes before its TGA one */
        return (pcd_opens(p, n) ? pcd_decode : tga_decode)(p, n, name, max_pixels, out, err);
    size_t end;
    const uint8_t *m = cur_pick(p, n, &end);
    if (!m) return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated CUR directory");
    uint64_t at = le32(m + 12);
    if (!at) at = end; /* Pillow seeks to a nonzero offset only */
    if (at >= n || n - at < 4)
        return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated CUR (its image starts past the end)");
    if (n - at >= 8 && memcmp(p + at, "\x89PNG\r\n\x1a\n", 8) == 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: a CUR whose cursor is a PNG, which Pillow does not read", name);
    uint64_t data_at;
    return bmp_decode_dib(p + at, n - at, name, max_pixels, DIB_HALF_HEIGHT, out, &data_at, err);
}
