/* png_chunks.h: a PNG's chunks walked as Pillow 9.4 walks them, and the PNG stb_image 2.27 (Debian
 * 12's libstb) is given, so that it reads what Pillow reads and refuses what Pillow refuses. */
#ifndef ALIGN_PNG_CHUNKS_H
#define ALIGN_PNG_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PNG_READ,             /* the view holds what Pillow decodes */
    PNG_ENDS_BEFORE_DATA, /* the file ends (or its IEND comes) before any image data */
    PNG_CHUNK_PAST_END,   /* a chunk Pillow reads whole runs past the end of the file */
    PNG_BAD_CHUNK_TYPE,   /* before the image data, a chunk type of other than letters, digits, _ */
    PNG_BAD_CRC,          /* before the image data, a chunk whose CRC does not match */
    PNG_CHUNK_TOO_SHORT,  /* a chunk shorter than Pillow's reading of it needs */
    PNG_NO_MEMORY,
} png_walk;

/* A PNG rewritten for stb_image: the signature, IHDR (its compression byte, which Pillow ignores,
 * zeroed), a palette image's PLTE (entries past the file's, or all of them without one, are PIL's
 * grey ramp, where stb_image would read memory the file never set or refuse the file), the image
 * data Pillow reads as one IDAT, and IEND.
 * Pillow reads one run of IDAT chunks and ignores every other chunk's content; stb_image would
 * check their order, refuse critical chunks it does not know, and read IDATs anywhere. */
typedef struct {
    uint8_t *data; /* malloc'd */
    size_t size;
    int data_cut;   /* the image data runs to the end of the file, its last chunk cut short */
    int later_cut;  /* that chunk is not the run's first: Pillow reads it only if it needs it */
    char chunk[5];  /* the chunk a refusal is about */
} png_view;

/* Walks p as Pillow does and, when it reads on, makes v (with the cut chunk's bytes, or with
 * keep_cut 0 without them). */
png_walk png_view_make(const uint8_t *p, size_t n, int keep_cut, png_view *v);

#endif
