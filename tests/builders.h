/* builders.h: files built byte by byte for the tests: a growing byte buffer with little- and
 * big-endian writers, and PNG, BMP, TGA, PPM and zip files made with it. Every builder returns a buf
 * the caller frees (free(b.p)); running out of memory aborts the test run. */
#ifndef ALIGN_TEST_BUILDERS_H
#define ALIGN_TEST_BUILDERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

/* Appends n bytes (data may be NULL when n is 0), one byte, or an integer in the byte order named. */
void put(buf *b, const void *data, size_t n);
void put8(buf *b, unsigned v);
void put16le(buf *b, unsigned v);
void put16be(buf *b, unsigned v);
void put32le(buf *b, uint32_t v);
void put32be(buf *b, uint32_t v);
void put64le(buf *b, uint64_t v);

/* Little-endian integers read or overwritten in place, to find and break fields of a built file. */
uint32_t get32le(const uint8_t *p);
uint64_t get64le(const uint8_t *p);
void set16le(uint8_t *p, unsigned v);
void set32le(uint8_t *p, uint32_t v);
void set64le(uint8_t *p, uint64_t v);

/* CRC-32 (zlib's, as PNG chunks carry) of p[0..n), continuing from crc (0 to start). */
uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t crc);
/* Appends a PNG chunk: length, type, data, CRC. */
void png_chunk(buf *b, const char *type, const uint8_t *data, size_t n);
/* A PNG with the given IHDR fields and raw scanlines (filter byte included), compressed with
 * stored deflate blocks; extra chunks go before IDAT (PLTE, tRNS, eXIf...). With rows NULL there
 * is no IDAT chunk at all. */
buf png_file(int w, int h, int depth, int ctype, const uint8_t *rows, size_t rows_len, const buf *extra);
/* A BMP or TGA of w x h RGB pixels, written by stb_image_write (a failure fails the test). */
buf bmp_file(int w, int h, const uint8_t *rgb);
buf tga_file(int w, int h, const uint8_t *rgb);

/* A JPEG of w x h RGB pixels at quality 1..100 (4:2:0 below 90), written by stb_image_write. */
buf jpeg_file(int w, int h, const uint8_t *rgb, int quality);
/* The JPEG jpeg[0..n) with an APP1 segment holding app1 inserted after its SOI. */
buf jpeg_with_app1(const uint8_t *jpeg, size_t n, const uint8_t *app1, size_t app1_len);

/* One IFD entry of an exif_block: tag, type, count, and the value (SHORT, BYTE or LONG). */
typedef struct {
    unsigned tag, type;
    uint32_t count, value;
} ifd_entry;

/* "Exif\0\0" and a TIFF block (little- or big-endian) whose IFD0, at ifd_offset, holds the n
 * entries and declares count_field of them. */
buf exif_block(int little, const ifd_entry *e, int n, unsigned count_field, uint32_t ifd_offset);
/* The JPEG with an Exif segment asking for orientation (1..8). */
buf jpeg_with_orientation(const uint8_t *jpeg, size_t n, unsigned orientation);

/* A binary PPM of side x side pixels, each byte a step of a ramp: a large image quick to build and
 * to decode. */
buf ppm_file(int side);

/* One entry of a zip_file. */
typedef struct {
    const char *name;
    const void *data;
    size_t size;
    unsigned method, flags;
    int zip64; /* central record sizes and offset saturated, the values in a zip64 extra field */
} zfile;

/* A zip of at most 16 stored entries (CRCs left 0) with no zip64 end records, as simple as a
 * reader must accept. */
buf zip_file(const zfile *f, int n);

#endif
