/* iptc.c: whether Pillow 9.4's IptcImagePlugin takes a file. It has no signature: Pillow tries it
 * after IM Tools, before McIdas and PhotoCD, on any file the plugins before it did not take. Its
 * load opens its temporary file for reading and then writes to it, so Pillow 9.4 loads no IPTC
 * image at all: a file it opens, and one its _open refuses with OSError, is refused (named); one
 * it gives up on (SyntaxError, or the IndexError, TypeError, KeyError and struct.error that
 * ImageFile turns into one) goes on to the next plugins.
 *
 * _open reads fields of 5 bytes (0x1C, record 1-9, dataset, a 16-bit big-endian size, or 0x80 + n
 * and an n-byte size) and their data until EOF or dataset 8:10, keeping each tag's data (a list
 * when repeated); then 3:60's first two values give the mode, 3:20 and 3:30 the size, 3:120 the
 * compression (1 or 5). */
#include "image_decode.h"

#include <string.h>

#include "byteorder.h"

/* A tag's data as Pillow's info dict holds it: bytes when seen once (None for a field of size 0),
 * a list of such when repeated. */
typedef struct {
    int count;
    const uint8_t *data[2]; /* the first two fields' data, NULL for None */
    size_t len[2];
} iptc_tag;

enum { IPTC_GIVES_UP, IPTC_TAKES };

/* i(c): big-endian unsigned of the last 4 bytes of four zero bytes + c */
static uint32_t iptc_int(const uint8_t *c, size_t len)
{
    uint8_t b[4] = {0};
    size_t k = len < 4 ? len : 4;
    memcpy(b + 4 - k, c + len - k, k);
    return be32(b);
}

/* getint(key): -1 where Pillow raises TypeError (None, or a list) */
static long long iptc_getint(const iptc_tag *t)
{
    return t->count == 1 && t->data[0] ? (long long)iptc_int(t->data[0], t->len[0]) : -1;
}

/* i8(info[tag][k]): the value's k-th byte, or of a list its k-th element's first byte; -1 where
 * Pillow raises (IndexError, TypeError). */
static int iptc_byte(const iptc_tag *t, int k)
{
    if (t->count == 1) return t->data[0] && t->len[0] > (size_t)k ? t->data[0][k] : -1;
    return t->data[k] && t->len[k] ? t->data[k][0] : -1;
}

static void iptc_keep(iptc_tag *t, const uint8_t *data, size_t len)
{
    if (t->count < 2) t->data[t->count] = data, t->len[t->count] = len;
    t->count++;
}

int iptc_takes(const uint8_t *p, size_t n)
{
    iptc_tag mode = {0}, band = {0}, width = {0}, height = {0}, compression = {0};
    size_t pos = 0;
    while (pos < n) {
        size_t k = n - pos < 5 ? n - pos : 5;
        const uint8_t *s = p + pos;
        pos += k;
        if (k < 3 || s[0] != 0x1c || s[1] < 1 || s[1] > 9) return IPTC_GIVES_UP;
        if (k < 4) return IPTC_GIVES_UP;
        size_t size = s[3];
        if (size > 132) return IPTC_TAKES; /* OSError: illegal field length */
        if (size == 128) {
            size = 0;
        } else if (size > 128) {
            size_t m = size - 128 < n - pos ? size - 128 : n - pos;
            size = iptc_int(p + pos, m);
            pos += m;
        } else {
            if (k < 5) return IPTC_GIVES_UP; /* struct.error */
            size = be16(s + 3);
        }
        if (s[1] == 8 && s[2] == 10) break;
        const uint8_t *data = size ? p + pos : NULL;
        size_t len = size < n - pos ? size : n - pos;
        pos += len;
        iptc_tag *t = s[1] != 3 ? NULL : s[2] == 60 ? &mode : s[2] == 65 ? &band : s[2] == 20 ? &width
                                          : s[2] == 30 ? &height : s[2] == 120 ? &compression : NULL;
        if (t) iptc_keep(t, data, len);
    }
    if (!mode.count) return IPTC_GIVES_UP;
    int layers = iptc_byte(&mode, 0), component = iptc_byte(&mode, 1);
    if (layers < 0 || component < 0) return IPTC_GIVES_UP;
    int id = 0;
    if (band.count && (id = iptc_byte(&band, 0)) < 0) return IPTC_GIVES_UP;
    id -= band.count ? 1 : 0;
    int named = 0;
    if (layers == 1 && !component) {
        named = 1;
    } else if ((layers == 3 || layers == 4) && component) {
        if (id >= layers || id < -layers) return IPTC_GIVES_UP; /* "RGB"[id] */
        named = 1;
    }
    long long w = width.count ? iptc_getint(&width) : -1, h = height.count ? iptc_getint(&height) : -1;
    if (w < 0 || h < 0) return IPTC_GIVES_UP;
    if (!compression.count) return IPTC_TAKES; /* KeyError inside its try: OSError */
    long long c = iptc_getint(&compression);
    if (c < 0) return IPTC_GIVES_UP;
    if (c != 1 && c != 5) return IPTC_TAKES; /* OSError: unknown compression */
    return named && w > 0 && h > 0 ? IPTC_TAKES : IPTC_GIVES_UP;
}
