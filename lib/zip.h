/* zip.h: a zip archive read in place: the central directory (zip64 included) gives every entry's
 * bytes, which must be stored (not compressed), unencrypted, inside the file and apart from each
 * other. Multi-disk archives are refused; CRCs are not checked (see zip.c). */
#ifndef ALIGN_ZIP_H
#define ALIGN_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const uint8_t *data; /* points into the archive's buffer */
    size_t size;
    uint64_t start, end; /* local header to end of data: the bytes the entry claims */
} zip_entry;

typedef struct {
    zip_entry *entries; /* sorted by name, no name twice */
    size_t count;
} zip_archive;

/* Reads the directory of the archive in buf (which must outlive zip); file names it in messages.
 * On failure zip is left empty. */
align_status zip_open(const uint8_t *buf, size_t size, const char *file, zip_archive *zip, align_error *err);
/* The entry named name[0..len), or NULL. */
const zip_entry *zip_find(const zip_archive *zip, const char *name, size_t len);
/* Frees the entry table (the buffer stays the caller's). */
void zip_close(zip_archive *zip);

#endif
