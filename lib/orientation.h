/* orientation.h: the EXIF orientation of a file, read where PIL's ImageOps.exif_transpose finds
 * it, and the transpose it asks for. The readers return 1..8; 1 when there is nothing to do. */
#ifndef ALIGN_ORIENTATION_H
#define ALIGN_ORIENTATION_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

/* A reader's answer for a file whose EXIF PIL cannot read: exif_transpose raises, so PIL refuses
 * the file. */
#define ORIENTATION_REFUSED (-1)

/* The Orientation tag of IFD0 in a TIFF-structured EXIF block t[0..n). */
int orientation_exif(const uint8_t *t, size_t n);
/* The same, but 0 when the block has no Orientation tag (PIL then looks at XMP), and
 * ORIENTATION_REFUSED when its header is none PIL reads. */
int orientation_exif_tag(const uint8_t *t, size_t n);
/* A JPEG's: its first "Exif" APP1 segment. */
int orientation_jpeg(const uint8_t *p, size_t n);
/* A PNG's: its eXIf chunk, else its "Raw profile type exif" text, else XMP (png_orientation.c);
 * ORIENTATION_REFUSED where PIL cannot read them. */
int orientation_png(const uint8_t *p, size_t n);
/* A WebP's: the EXIF chunk libwebpdemux gives; ORIENTATION_REFUSED where PIL cannot read it. */
int orientation_webp(const uint8_t *p, size_t n);
/* A TIFF's: what PIL's load and exif_transpose make of IFD0's tag together. */
int orientation_tiff(const uint8_t *p, size_t n);

/* Transposes img in place (a new img->rgb) as PIL's exif_transpose does for orientation 2..8. */
align_status orientation_apply(align_image *img, int orientation, const char *name, align_error *err);

#endif
