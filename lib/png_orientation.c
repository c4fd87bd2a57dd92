/* png_orientation.c: a PNG's EXIF orientation, from every place PIL 9.4's getexif() looks. The
 * chunks fill PIL's info dictionary, a later chunk replacing an earlier one of the same key: those
 * before the image data when they hold "exif" (PIL then reads no further), else all to IEND. Then:
 *   1. info["exif"]: an eXIf chunk (PIL puts "Exif\0\0" before its data), or a text chunk keyed
 *      "exif" (a tEXt's bytes; a zTXt's or iTXt's text, which PIL's Exif.load refuses);
 *   2. else "Raw profile type exif" (ImageMagick's tEXt, zTXt or iTXt): hex text after three lines
 *      (text Python cannot read as hex is refused too);
 *   3. then, only when the EXIF of 1 or 2 has no Orientation tag, the XMP of "XML:com.adobe.xmp":
 *      the first tiff:Orientation=" or tiff:Orientation> followed by a digit.
 * What PIL refuses is ORIENTATION_REFUSED. */
#include "orientation.h"

#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "byteorder.h"
#include "utf8.h"

/* PIL inflates a compressed text to at most this many bytes (ImageFile.SAFEBLOCK). */
#define MAX_TEXT (1 << 20)

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

/* The chunk (type, data) of the last value each key took. */
typedef struct {
    const uint8_t *type, *data;
    size_t len;
} chunk;

/* A text chunk's keyword and value as PIL reads them; *compressed when the value is zlib data.
 * Returns 0 for a chunk PIL ignores (an iTXt's language or translated keyword that is not UTF-8
 * among them; its text is checked once inflated: itxt_readable). */
static int text_chunk(const chunk *c, span *key, span *value, int *compressed)
{
    const uint8_t *nul = memchr(c->data, 0, c->len);
    key->p = c->data;
    key->n = nul ? (size_t)(nul - c->data) : c->len;
    const uint8_t *rest = nul ? nul + 1 : c->data + c->len, *end = c->data + c->len;
    *compressed = 0;
    if (!memcmp(c->type, "tEXt", 4)) {
        *value = (span){rest, (size_t)(end - rest)};
    } else if (!memcmp(c->type, "zTXt", 4)) {
        if (rest < end && rest[0] != 0) return 0; /* an unknown method: PIL refuses the file */
        *value = (span){rest < end ? rest + 1 : rest, rest < end ? (size_t)(end - rest - 1) : 0};
        *compressed = 1;
    } else { /* iTXt: flag, method, language NUL, translated keyword NUL, text */
        if (!nul || end - rest < 2) return 0;
        int flag = rest[0], method = rest[1];
        const uint8_t *lang_end = memchr(rest + 2, 0, (size_t)(end - rest - 2));
        const uint8_t *tk_end = lang_end ? memchr(lang_end + 1, 0, (size_t)(end - lang_end - 1)) : NULL;
        if (!tk_end || (flag && method)) return 0;
        size_t lang_n = (size_t)(lang_end - rest - 2), tk_n = (size_t)(tk_end - lang_end - 1);
        if (utf8_valid_prefix(rest + 2, lang_n) != lang_n || utf8_valid_prefix(lang_end + 1, tk_n) != tk_n) return 0;
        *value = (span){tk_end + 1, (size_t)(end - tk_end - 1)};
        *compressed = flag != 0;
    }
    return key->n > 0;
}

/* The value of c's text, inflated into *owned when compressed (an inflate error is an empty text,
 * as in PIL). */
static span text_value(const chunk *c, uint8_t **owned)
{
    span key, value;
    int compressed;
    *owned = NULL;
    text_chunk(c, &key, &value, &compressed);
    if (!compressed) return value;
    if (!(*owned = malloc(MAX_TEXT))) return (span){NULL, 0};
    int got = stbi_zlib_decode_buffer((char *)*owned, MAX_TEXT, (const char *)value.p, (int)value.n);
    return (span){*owned, got > 0 ? (size_t)got : 0};
}

/* PIL drops an iTXt whose text, once inflated, is not UTF-8. */
static int itxt_readable(const chunk *c)
{
    if (memcmp(c->type, "iTXt", 4)) return 1;
    uint8_t *owned;
    span text = text_value(c, &owned);
    int ok = utf8_valid_prefix(text.p, text.n) == text.n;
    free(owned);
    return ok;
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* bytes.fromhex of the text after its third line, line breaks removed: whitespace may stand
 * between two digits' pairs. Returns the byte count, or -1 where Python would refuse the text. */
static long raw_profile_bytes(span text, uint8_t *out)
{
    size_t pos = 0;
    for (int lines = 0; lines < 3; pos++) {
        if (pos >= text.n) return 0;
        if (text.p[pos] == '\n') lines++;
    }
    long k = 0;
    while (pos < text.n) {
        uint8_t c = text.p[pos];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            pos++;
            continue;
        }
        size_t next = pos + 1;
        while (next < text.n && text.p[next] == '\n') next++; /* the lines are joined first */
        if (next >= text.n || hex_digit(c) < 0 || hex_digit(text.p[next]) < 0) return -1;
        out[k++] = (uint8_t)(hex_digit(c) << 4 | hex_digit(text.p[next]));
        pos = next + 1;
    }
    return k;
}

/* PIL's Exif.load: an "Exif\0\0" prefix is dropped; 0 when there is no Orientation tag. */
static int exif_block_tag(const uint8_t *t, size_t n)
{
    if (n >= 6 && !memcmp(t, "Exif\0\0", 6)) t += 6, n -= 6;
    return orientation_exif_tag(t, n);
}

/* The EXIF block of "Raw profile type exif": 0 when it has no Orientation tag. */
static int raw_profile_tag(const chunk *c)
{
    uint8_t *owned;
    span text = text_value(c, &owned);
    uint8_t *exif = malloc(text.n / 2 + 1);
    long n = exif ? raw_profile_bytes(text, exif) : 0;
    int o = n > 0 ? exif_block_tag(exif, (size_t)n) : 0;
    free(exif);
    free(owned);
    return n < 0 ? ORIENTATION_REFUSED : o; /* bytes.fromhex raises */
}

/* The first tiff:Orientation=" or tiff:Orientation> followed by a digit in the XMP text. */
static int xmp_orientation(const chunk *c)
{
    static const char tag[] = "tiff:Orientation";
    uint8_t *owned;
    span text = text_value(c, &owned);
    int o = 1;
    for (size_t i = 0; text.n >= sizeof tag + 1 && i <= text.n - sizeof tag - 1; i++) {
        if (memcmp(text.p + i, tag, sizeof tag - 1)) continue;
        const uint8_t *after = text.p + i + sizeof tag - 1;
        size_t digit = after[0] == '>' ? 1 : after[0] == '=' && after[1] == '"' ? 2 : 0;
        if (!digit || i + sizeof tag - 1 + digit >= text.n) continue;
        uint8_t d = after[digit];
        if (d < '0' || d > '9') continue;
        o = d - '0';
        break;
    }
    free(owned);
    return o >= 1 && o <= 8 ? o : 1;
}

static int key_is(span key, const char *want)
{
    return key.n == strlen(want) && !memcmp(key.p, want, key.n);
}

int orientation_png(const uint8_t *p, size_t n)
{
    chunk exif = {0}, raw = {0}, xmp = {0};
    size_t pos = 8;
    while (n - pos >= 12) {
        size_t len = be32(p + pos);
        if (len > n - pos - 12) break;
        chunk c = {p + pos + 4, p + pos + 8, len};
        span key, value;
        int compressed;
        if (!memcmp(c.type, "IEND", 4) || (!memcmp(c.type, "IDAT", 4) && exif.type)) break;
        if (!memcmp(c.type, "eXIf", 4)) exif = c;
        if ((!memcmp(c.type, "tEXt", 4) || !memcmp(c.type, "zTXt", 4) || !memcmp(c.type, "iTXt", 4)) &&
            text_chunk(&c, &key, &value, &compressed)) {
            chunk *slot = key_is(key, "exif") ? &exif : key_is(key, "Raw profile type exif") ? &raw
                        : key_is(key, "XML:com.adobe.xmp") ? &xmp : NULL;
            if (slot && itxt_readable(&c)) *slot = c;
        }
        pos += 12 + len;
    }
    int o = 0;
    if (exif.type && !memcmp(exif.type, "eXIf", 4)) {
        o = orientation_exif_tag(exif.data, exif.len);
    } else if (exif.type && !memcmp(exif.type, "tEXt", 4)) {
        span key, value;
        int compressed;
        text_chunk(&exif, &key, &value, &compressed);
        o = exif_block_tag(value.p, value.n);
    } else if (exif.type) {
        o = ORIENTATION_REFUSED;
    } else if (raw.type) {
        o = raw_profile_tag(&raw);
    }
    if (!o && xmp.type) o = xmp_orientation(&xmp);
    return o ? o : 1;
}
