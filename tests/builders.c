/* The tests' file builders (see builders.h). */
#include "builders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "test.h"

/* ---- bytes ------------------------------------------------------------------------------------ */

void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

void put8(buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}
void put16le(buf *b, unsigned v) { put8(b, v & 255), put8(b, v >> 8 & 255); }
void put16be(buf *b, unsigned v) { put8(b, v >> 8 & 255), put8(b, v & 255); }
void put32le(buf *b, uint32_t v) { put16le(b, v & 0xffff), put16le(b, v >> 16); }
void put32be(buf *b, uint32_t v) { put16be(b, v >> 16), put16be(b, v & 0xffff); }
void put64le(buf *b, uint64_t v) { put32le(b, (uint32_t)v), put32le(b, (uint32_t)(v >> 32)); }

uint32_t get32le(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
uint64_t get64le(const uint8_t *p) { return get32le(p) | (uint64_t)get32le(p + 4) << 32; }
void set16le(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
void set32le(uint8_t *p, uint32_t v) { set16le(p, v & 0xffff), set16le(p + 2, v >> 16); }
void set64le(uint8_t *p, uint64_t v) { set32le(p, (uint32_t)v), set32le(p + 4, (uint32_t)(v >> 32)); }

/* ---- images ----------------------------------------------------------------------------------- */

uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t crc)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return ~crc;
}

void png_chunk(buf *b, const char *type, const uint8_t *data, size_t n)
{
    put32be(b, (uint32_t)n);
    size_t at = b->n;
    put(b, type, 4);
    put(b, data, n);
    put32be(b, crc32_of(b->p + at, n + 4, 0));
}

/* A zlib stream of stored blocks (at most 65535 bytes each) holding data[0..n). */
static buf zlib_stored(const uint8_t *data, size_t n)
{
    buf z = {0};
    put8(&z, 0x78), put8(&z, 0x01);
    size_t at = 0;
    do {
        size_t len = n - at > 65535 ? 65535 : n - at;
        put8(&z, at + len == n), put16le(&z, (unsigned)len), put16le(&z, (unsigned)~len & 0xffff);
        put(&z, data + at, len);
        at += len;
    } while (at < n);
    uint32_t s1 = 1, s2 = 0;
    for (size_t i = 0; i < n; i++) s1 = (s1 + data[i]) % 65521, s2 = (s2 + s1) % 65521;
    put32be(&z, s2 << 16 | s1);
    return z;
}

buf png_file(int w, int h, int depth, int ctype, const uint8_t *rows, size_t rows_len, const buf *extra)
{
    buf b = {0}, ihdr = {0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    put32be(&ihdr, (uint32_t)w), put32be(&ihdr, (uint32_t)h);
    put8(&ihdr, depth), put8(&ihdr, ctype), put8(&ihdr, 0), put8(&ihdr, 0), put8(&ihdr, 0);
    png_chunk(&b, "IHDR", ihdr.p, ihdr.n);
    if (extra) put(&b, extra->p, extra->n);
    if (rows) {
        buf z = zlib_stored(rows, rows_len);
        png_chunk(&b, "IDAT", z.p, z.n);
        free(z.p);
    }
    png_chunk(&b, "IEND", NULL, 0);
    free(ihdr.p);
    return b;
}

static void write_to_buf(void *ctx, void *data, int size) { put(ctx, data, (size_t)size); }

buf bmp_file(int w, int h, const uint8_t *rgb)
{
    buf b = {0};
    CHECK(stbi_write_bmp_to_func(write_to_buf, &b, w, h, 3, rgb));
    return b;
}

buf tga_file(int w, int h, const uint8_t *rgb)
{
    buf b = {0};
    CHECK(stbi_write_tga_to_func(write_to_buf, &b, w, h, 3, rgb));
    return b;
}

buf jpeg_file(int w, int h, const uint8_t *rgb, int quality)
{
    buf b = {0};
    CHECK(stbi_write_jpg_to_func(write_to_buf, &b, w, h, 3, rgb, quality));
    return b;
}

buf jpeg_with_app1(const uint8_t *jpeg, size_t n, const uint8_t *app1, size_t app1_len)
{
    buf b = {0};
    put(&b, jpeg, 2);
    put8(&b, 0xff), put8(&b, 0xe1), put16be(&b, (unsigned)app1_len + 2);
    put(&b, app1, app1_len);
    put(&b, jpeg + 2, n - 2);
    return b;
}

buf exif_block(int little, const ifd_entry *e, int n, unsigned count_field, uint32_t ifd_offset)
{
    buf b = {0};
    void (*p16)(buf *, unsigned) = little ? put16le : put16be;
    void (*p32)(buf *, uint32_t) = little ? put32le : put32be;
    put(&b, "Exif\0\0", 6);
    put(&b, little ? "II\x2a\0" : "MM\0\x2a", 4);
    p32(&b, ifd_offset);
    p16(&b, count_field);
    for (int i = 0; i < n; i++) {
        p16(&b, e[i].tag), p16(&b, e[i].type), p32(&b, e[i].count);
        if (e[i].type == 3) p16(&b, e[i].value), p16(&b, 0);
        else if (e[i].type == 1) put8(&b, e[i].value), put8(&b, 0), p16(&b, 0);
        else p32(&b, e[i].value);
    }
    p32(&b, 0);
    return b;
}

buf jpeg_with_orientation(const uint8_t *jpeg, size_t n, unsigned orientation)
{
    ifd_entry e = {0x0112, 3, 1, orientation};
    buf app1 = exif_block(1, &e, 1, 1, 8), b = jpeg_with_app1(jpeg, n, app1.p, app1.n);
    free(app1.p);
    return b;
}

buf ppm_file(int side)
{
    buf b = {0};
    char header[48];
    put(&b, header, (size_t)snprintf(header, sizeof header, "P6\n%d %d\n255\n", side, side));
    size_t n = (size_t)side * side * 3;
    uint8_t *px = malloc(n);
    if (!px) abort();
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 7 / 3);
    put(&b, px, n);
    free(px);
    return b;
}

/* ---- zip -------------------------------------------------------------------------------------- */

static void zip_local_header(buf *b, const zfile *f)
{
    put32le(b, 0x04034b50), put16le(b, 20), put16le(b, f->flags), put16le(b, f->method);
    put32le(b, 0), put32le(b, 0); /* time, date; crc */
    put32le(b, (uint32_t)f->size), put32le(b, (uint32_t)f->size);
    put16le(b, (unsigned)strlen(f->name)), put16le(b, 0);
    put(b, f->name, strlen(f->name));
}

static void zip_central_record(buf *b, const zfile *f, uint32_t offset)
{
    uint32_t size = f->zip64 ? 0xffffffff : (uint32_t)f->size;
    put32le(b, 0x02014b50), put16le(b, 20), put16le(b, 20), put16le(b, f->flags), put16le(b, f->method);
    put32le(b, 0), put32le(b, 0);
    put32le(b, size), put32le(b, size);
    put16le(b, (unsigned)strlen(f->name)), put16le(b, f->zip64 ? 28 : 0), put16le(b, 0);
    put16le(b, 0), put16le(b, 0), put32le(b, 0); /* disk, attributes */
    put32le(b, f->zip64 ? 0xffffffff : offset);
    put(b, f->name, strlen(f->name));
    if (f->zip64) {
        uint8_t x[28];
        set16le(x, 1), set16le(x + 2, 24);
        set64le(x + 4, f->size), set64le(x + 12, f->size), set64le(x + 20, offset);
        put(b, x, sizeof x);
    }
}

buf zip_file(const zfile *f, int n)
{
    buf b = {0};
    uint32_t offsets[16];
    if (n > 16) abort();
    for (int i = 0; i < n; i++) {
        offsets[i] = (uint32_t)b.n;
        zip_local_header(&b, &f[i]);
        put(&b, f[i].data, f[i].size);
    }
    uint32_t cd = (uint32_t)b.n;
    for (int i = 0; i < n; i++) zip_central_record(&b, &f[i], offsets[i]);
    uint32_t cd_size = (uint32_t)b.n - cd;
    put32le(&b, 0x06054b50), put16le(&b, 0), put16le(&b, 0), put16le(&b, (unsigned)n), put16le(&b, (unsigned)n);
    put32le(&b, cd_size), put32le(&b, cd), put16le(&b, 0);
    return b;
}
