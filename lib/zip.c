/* zip.c: the zip layer of a torch.save checkpoint. The end-of-central-directory record (and its
 * zip64 form) locates the directory; each directory record is checked against its local header, and
 * every entry's bytes must lie before the directory and apart from every other entry's, so a
 * damaged or hostile archive cannot make a reader look outside buf or read one byte as two files. */
#include "zip.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "error.h"

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_EOCD_SIG 0x06064b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP_EOCD_SIZE 22
#define ZIP64_EOCD_SIZE 56
#define ZIP64_LOCATOR_SIZE 20
#define ZIP_MAX_COMMENT 65535

typedef struct {
    uint64_t count, offset, size;
    uint64_t end; /* the first end-of-directory record: nothing the directory lists may pass it */
    uint64_t disk, cd_disk, on_disk; /* one disk only: 0, 0 and count */
} zip_directory;

/* [off, off + len) lies within [0, limit), with no overflow on the way. */
static int fits(uint64_t off, uint64_t len, uint64_t limit) { return off <= limit && len <= limit - off; }

/* The end-of-central-directory record's offset. The record ends the file after a comment of its
 * stated length; requiring that rules out a signature that merely occurs inside the comment or the
 * data. */
static align_status zip_find_eocd(const uint8_t *buf, size_t size, const char *file, size_t *eocd,
                                  align_error *err)
{
    if (size < ZIP_EOCD_SIZE)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: %zu bytes is too short for a zip archive", file, size);
    size_t pos = size - ZIP_EOCD_SIZE, lowest = pos > ZIP_MAX_COMMENT ? pos - ZIP_MAX_COMMENT : 0;
    while (!(le32(buf + pos) == ZIP_EOCD_SIG && pos + ZIP_EOCD_SIZE + le16(buf + pos + 20) == size)) {
        if (pos == lowest)
            return align_fail(err, ALIGN_ERR_FORMAT,
                              "%s: no zip end-of-central-directory record (truncated or not a zip archive)",
                              file);
        pos--;
    }
    *eocd = pos;
    return ALIGN_OK;
}

/* Replaces the directory's fields with the zip64 end record's, which the locator before the end
 * record at pos points to. */
static align_status zip64_directory(const uint8_t *buf, size_t pos, const char *file, zip_directory *dir,
                                    align_error *err)
{
    const uint8_t *loc = buf + pos - ZIP64_LOCATOR_SIZE;
    uint64_t at = le64(loc + 8);
    if (!fits(at, ZIP64_EOCD_SIZE, pos - ZIP64_LOCATOR_SIZE) || le32(buf + at) != ZIP64_EOCD_SIG)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: bad zip64 end-of-central-directory record", file);
    const uint8_t *z = buf + at;
    dir->disk = le32(z + 16) | le32(loc + 4);
    dir->cd_disk = le32(z + 20);
    dir->on_disk = le64(z + 24);
    dir->count = le64(z + 32);
    dir->size = le64(z + 40);
    dir->offset = le64(z + 48);
    dir->end = at;
    return ALIGN_OK;
}

static align_status zip_find_directory(const uint8_t *buf, size_t size, const char *file,
                                       zip_directory *dir, align_error *err)
{
    size_t pos = 0;
    align_status s = zip_find_eocd(buf, size, file, &pos, err);
    if (s) return s;
    const uint8_t *e = buf + pos;
    *dir = (zip_directory){.disk = le16(e + 4), .cd_disk = le16(e + 6), .on_disk = le16(e + 8),
                           .count = le16(e + 10), .size = le32(e + 12), .offset = le32(e + 16),
                           .end = pos};
    if (pos >= ZIP64_LOCATOR_SIZE && le32(e - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIG) {
        if ((s = zip64_directory(buf, pos, file, dir, err))) return s;
    } else if (dir->count == 0xffff || dir->size == 0xffffffff || dir->offset == 0xffffffff) {
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip archive lacks the zip64 record it needs", file);
    }
    if (dir->disk || dir->cd_disk || dir->on_disk != dir->count)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: multi-disk zip archives are not supported", file);
    if (!fits(dir->offset, dir->size, dir->end))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory (%llu bytes at offset %llu) lies outside the file",
                          file, (unsigned long long)dir->size, (unsigned long long)dir->offset);
    if (dir->count > dir->size / ZIP_CENTRAL_SIZE)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory claims %llu entries, more than its %llu bytes hold",
                          file, (unsigned long long)dir->count, (unsigned long long)dir->size);
    return ALIGN_OK;
}

/* Applies the zip64 extended-information extra field: it holds the 64-bit value of each saturated
 * 32-bit field, in this fixed order. Returns 0 when the extra data is malformed. */
static int zip64_extra(const uint8_t *x, size_t len, uint64_t *usize, uint64_t *csize, uint64_t *local)
{
    while (len >= 4) {
        size_t id = le16(x), n = le16(x + 2);
        if (n > len - 4) return 0;
        if (id == 1) {
            uint64_t *fields[3] = {usize, csize, local};
            const uint8_t *v = x + 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffff) continue;
                if (v + 8 > x + 4 + n) return 0;
                *fields[i] = le64(v);
                v += 8;
            }
            return 1;
        }
        x += 4 + n;
        len -= 4 + n;
    }
    return 1;
}

/* The stored entry's data, which must start after a local header that agrees with the directory
 * (name and method) and end before the directory. */
static align_status zip_local_data(const uint8_t *buf, const zip_directory *dir, const zip_entry *e,
                                   unsigned method, uint64_t *data, const char *file, align_error *err)
{
    int shown = ERR_SHOWN(e->name_len);
    if (!fits(e->start, ZIP_LOCAL_SIZE, dir->offset) || le32(buf + e->start) != ZIP_LOCAL_SIG)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s: no local header at offset %llu",
                          file, shown, e->name, (unsigned long long)e->start);
    const uint8_t *l = buf + e->start;
    *data = e->start + ZIP_LOCAL_SIZE + le16(l + 26) + le16(l + 28);
    if (!fits(*data, e->size, dir->offset))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s (%llu bytes at offset %llu) runs into the central directory",
                          file, shown, e->name, (unsigned long long)e->size, (unsigned long long)*data);
    if (le16(l + 26) != e->name_len || memcmp(l + ZIP_LOCAL_SIZE, e->name, e->name_len) != 0 ||
        le16(l + 8) != method)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s: local header disagrees with the central directory", file,
                          shown, e->name);
    return ALIGN_OK;
}

/* Refuses what cannot be read in place: encryption, compression, sizes that differ. */
static align_status zip_check_stored(const zip_entry *e, uint32_t flags, unsigned method, uint64_t csize,
                                     uint64_t usize, const char *file, align_error *err)
{
    int shown = ERR_SHOWN(e->name_len);
    /* bit 0: encrypted, bit 6: strong encryption */
    if (flags & 0x41)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s is encrypted", file, shown, e->name);
    if (method != 0)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip entry %.*s is compressed (method %u); only stored entries can be read "
                          "in place",
                          file, shown, e->name, method);
    if (csize != usize)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s is stored but its sizes differ",
                          file, shown, e->name);
    return ALIGN_OK;
}

/* Reads the central directory record at *pos and the local header it points to. CRCs are not
 * checked: that would touch every byte of a checkpoint of hundreds of MB at load time, and the bounds
 * checks already keep a damaged archive from reading outside buf. */
static align_status zip_read_entry(const uint8_t *buf, const zip_directory *dir, uint64_t *pos,
                                   zip_entry *out, const char *file, align_error *err)
{
    uint64_t cd_end = dir->offset + dir->size;
    if (!fits(*pos, ZIP_CENTRAL_SIZE, cd_end) || le32(buf + *pos) != ZIP_CENTRAL_SIG)
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: bad zip central directory record at offset %llu", file,
                          (unsigned long long)*pos);
    const uint8_t *c = buf + *pos;
    uint32_t flags = le16(c + 8), method = le16(c + 10);
    uint64_t csize = le32(c + 20), usize = le32(c + 24), local = le32(c + 42);
    size_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
    uint64_t record = ZIP_CENTRAL_SIZE + name_len + extra_len + comment_len;
    if (!fits(*pos, record, cd_end))
        return align_fail(err, ALIGN_ERR_FORMAT,
                          "%s: zip central directory record at offset %llu runs past the directory",
                          file, (unsigned long long)*pos);
    zip_entry e = {.name = (const char *)c + ZIP_CENTRAL_SIZE, .name_len = name_len};
    if (!zip64_extra(c + ZIP_CENTRAL_SIZE + name_len, extra_len, &usize, &csize, &local))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s: bad extra field", file,
                          ERR_SHOWN(name_len), e.name);
    e.start = local;
    e.size = (size_t)csize;
    uint64_t data = 0;
    align_status s = zip_check_stored(&e, flags, method, csize, usize, file, err);
    if (!s) s = zip_local_data(buf, dir, &e, method, &data, file, err);
    if (s) return s;
    e.data = buf + data;
    e.end = data + csize;
    *out = e;
    *pos += record;
    return ALIGN_OK;
}

static int by_start(const void *a, const void *b)
{
    const zip_entry *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int by_name(const void *a, const void *b)
{
    const zip_entry *x = a, *y = b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

void zip_close(zip_archive *zip)
{
    free(zip->entries);
    zip->entries = NULL;
    zip->count = 0;
}

/* Sorts the entries by name, refusing any two that share bytes or a name. */
static align_status zip_check_entries(zip_archive *zip, const char *file, align_error *err)
{
    qsort(zip->entries, zip->count, sizeof *zip->entries, by_start);
    for (size_t i = 1; i < zip->count; i++) {
        const zip_entry *a = &zip->entries[i - 1], *b = &zip->entries[i];
        if (a->end > b->start)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entries %.*s and %.*s overlap", file,
                              ERR_SHOWN(a->name_len), a->name, ERR_SHOWN(b->name_len), b->name);
    }
    qsort(zip->entries, zip->count, sizeof *zip->entries, by_name);
    for (size_t i = 1; i < zip->count; i++) {
        const zip_entry *e = &zip->entries[i];
        if (by_name(e - 1, e) == 0)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: zip entry %.*s appears twice", file,
                              ERR_SHOWN(e->name_len), e->name);
    }
    return ALIGN_OK;
}

align_status zip_open(const uint8_t *buf, size_t size, const char *file, zip_archive *zip, align_error *err)
{
    zip->entries = NULL;
    zip->count = 0;
    zip_directory dir = {0};
    align_status s = zip_find_directory(buf, size, file, &dir, err);
    if (s) return s;
    /* count is bounded by the directory's size, which is bounded by the file's */
    zip->entries = malloc((size_t)(dir.count ? dir.count : 1) * sizeof *zip->entries);
    if (!zip->entries) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", file);
    uint64_t pos = dir.offset;
    for (zip->count = 0; !s && zip->count < dir.count; zip->count++)
        s = zip_read_entry(buf, &dir, &pos, &zip->entries[zip->count], file, err);
    if (!s) s = zip_check_entries(zip, file, err);
    if (s) zip_close(zip);
    return s;
}

const zip_entry *zip_find(const zip_archive *zip, const char *name, size_t len)
{
    zip_entry key = {.name = name, .name_len = len};
    return zip->count ? bsearch(&key, zip->entries, zip->count, sizeof key, by_name) : NULL;
}
