/* Where images and labels come from: operands, directories, --files-from, --labels, stdin. */
#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "report.h"
#include "utf8.h"

int read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap >= max) {
            free(buf);
            error_msg("%s: more than %zu MB", name, max >> 20);
            return -1;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        error_msg("%s: out of memory", name);
        return -1;
    }
    if (ferror(f)) {
        error_msg("%s: %s", name, strerror(errno));
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Reads a whole file, or stdin for "-". */
static int read_source(const char *path, char **text, size_t *len)
{
    if (strcmp(path, "-") == 0) return read_stream(stdin, "stdin", MAX_STREAM, text, len);
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_msg("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        error_msg("%s: is a directory", path);
        return -1;
    }
    int r = read_stream(f, path, MAX_STREAM, text, len);
    fclose(f);
    return r;
}

int parse_files_from(const char *text, size_t len, const char *name, int nul, strlist *out)
{
    char sep = nul ? '\0' : '\n';
    for (size_t start = 0, i = 0; i <= len; i++) {
        if (i < len && text[i] != sep) continue;
        size_t n = i - start;
        if (!nul && n && text[start + n - 1] == '\r') n--;
        if (!nul && memchr(text + start, 0, n)) {
            error_msg("%s: a NUL byte in a path (use -0 for NUL-separated input)", name);
            return -1;
        }
        if (n && strlist_add(out, text + start, n)) {
            error_msg("out of memory");
            return -1;
        }
        start = i + 1;
    }
    return 0;
}

int read_files_from(const char *path, int nul, strlist *out)
{
    char *text;
    size_t len;
    if (read_source(path, &text, &len)) return -1;
    int rc = parse_files_from(text, len, path, nul, out);
    free(text);
    return rc;
}

int parse_labels(const char *text, size_t len, const char *name, strlist *out)
{
    size_t line = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) text += 3, len -= 3; /* a Windows editor's byte order mark */
    for (size_t start = 0, i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') continue;
        line++;
        size_t n = i - start;
        if (n && text[start + n - 1] == '\r') n--;
        const char *s = text + start;
        start = i + 1;
        if (text_blank(s, n) || s[0] == '#') continue;
        if (memchr(s, 0, n)) {
            error_msg("%s:%zu: a NUL byte in the label", name, line);
            return -1;
        }
        /* said here, where the file and the line are known (a Latin-1 file, say) */
        size_t valid = utf8_valid_prefix((const uint8_t *)s, n);
        if (valid < n) {
            error_msg("%s:%zu: invalid UTF-8 at byte %zu (0x%02X)", name, line, valid, (unsigned char)s[valid]);
            return -1;
        }
        if (strlist_add(out, s, n)) {
            error_msg("out of memory");
            return -1;
        }
    }
    return 0;
}

int read_labels_file(const char *path, strlist *out)
{
    char *text;
    size_t len;
    if (read_source(path, &text, &len)) return -1;
    int rc = parse_labels(text, len, strcmp(path, "-") ? path : "stdin", out);
    free(text);
    return rc;
}

/* Whether name ends in "." and one of ext's. */
static int has_extension(const char *name, const char *const *ext)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; ext[i]; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0) return 1;
    return 0;
}

int is_image_name(const char *name)
{
    static const char *const ext[] = {"jpg", "jpeg", "jpe", "jfif", "mpo", "png", "apng", "gif", "bmp", "dib", "tga",
                                      "icb", "vda", "vst", "pnm", "ppm", "pgm", "pbm", "webp", "tif", "tiff",
                                      "ico", "cur", "psd", "jp2", "j2k", "jpc", "jpf", "jpx", "j2c",
                                      "sgi", "rgb", "rgba", "bw", "xbm", "xpm", "icns", "pcx", "dcx", "dds",
                                      "ras", "msp", "gbr", "blp", "ftc", "ftu", "pcd", "im", "pxr", "fli", "flc",
                                      "fit", "fits", "ps", "eps", NULL};
    return has_extension(name, ext);
}

/* Photos a directory may hold that align cannot read (a phone's HEIC, say): left out of the walk
 * like any other file, but counted by kind, so that a folder of them is not skipped without a
 * word. */
enum { UNREAD_KINDS = 5 };
static const struct {
    const char *name, *ext[9];
} unread_kinds[UNREAD_KINDS] = {
    {"HEIC", {"heic", "heif", "hif", NULL}},
    {"AVIF", {"avif", NULL}},
    {"JPEG XL", {"jxl", NULL}},
    {"PSB", {"psb", NULL}},
    {"camera raw", {"dng", "cr2", "cr3", "nef", "arw", "orf", "rw2", "raf", NULL}},
};

static void count_unread(const char *name, size_t unread[UNREAD_KINDS])
{
    for (int k = 0; k < UNREAD_KINDS; k++)
        if (has_extension(name, unread_kinds[k].ext)) unread[k]++;
}

/* One line for a directory operand whose walk left such files out. */
static void report_unread(const char *dir, const size_t unread[UNREAD_KINDS])
{
    char kinds[256] = "";
    size_t total = 0, at = 0;
    for (int k = 0; k < UNREAD_KINDS; k++)
        if (unread[k] && at < sizeof kinds) {
            at += (size_t)snprintf(kinds + at, sizeof kinds - at, "%s%zu %s", total ? ", " : "", unread[k],
                                   unread_kinds[k].name);
            total += unread[k];
        }
    if (total)
        error_msg("%s: left out %s: align does not read %s (convert to JPEG or PNG)", dir, kinds,
                  total == 1 ? "that format" : "these formats");
}

/* The directories being walked, innermost first: a subdirectory that is one of them (a symbolic
 * link back up the tree) would be walked again and again, and two such links double the work at
 * every level. */
typedef struct walk_level {
    dev_t dev;
    ino_t ino;
    const struct walk_level *up;
} walk_level;

/* Appends the images in dir, sorted by name; subdirectories too when recursive. Hidden entries
 * (dot files) are skipped, as ls and shell globs do; so is a subdirectory that loops back to one
 * being walked (reported, as find -L does). A directory that cannot be read is appended itself:
 * it fails as an input does, reported in its place, and the run goes on. */
static int walk_dir(const char *dir, int recursive, const walk_level *up, strlist *out,
                    size_t unread[UNREAD_KINDS])
{
    struct stat self;
    if (stat(dir, &self) != 0) {
        error_msg("%s: %s", dir, strerror(errno));
        return -1;
    }
    for (const walk_level *l = up; l; l = l->up)
        if (l->dev == self.st_dev && l->ino == self.st_ino) {
            error_msg("%s: skipped, a directory loop (it is a directory already being read)", dir);
            return 0;
        }
    walk_level level = {self.st_dev, self.st_ino, up};
    DIR *d = opendir(dir);
    if (!d) { /* kept as an input, to fail with its own message while the rest go on */
        if (strlist_add(out, dir, strlen(dir)) == 0) return 0;
        error_msg("out of memory");
        return -1;
    }
    strlist names = {0};
    struct dirent *e;
    int rc = 0, oom = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strlist_add(&names, e->d_name, strlen(e->d_name))) oom = 1;
    closedir(d);
    if (names.count) qsort(names.items, names.count, sizeof *names.items, strlist_order);
    for (size_t i = 0; i < names.count && !rc && !oom; i++) {
        size_t len = strlen(dir) + strlen(names.items[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            oom = 1;
            break;
        }
        snprintf(path, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names.items[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (recursive) rc = walk_dir(path, recursive, &level, out, unread);
        } else if (is_image_name(names.items[i])) {
            oom = strlist_add(out, path, strlen(path)) != 0;
        } else {
            count_unread(names.items[i], unread);
        }
        free(path);
    }
    strlist_free(&names);
    if (oom) {
        error_msg("out of memory");
        return -1;
    }
    return rc;
}

static int expand_images(char **operands, int n, int recursive, strlist *out)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (strcmp(operands[i], "-") != 0 && stat(operands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t unread[UNREAD_KINDS] = {0};
            if (walk_dir(operands[i], recursive, NULL, out, unread)) return -1;
            report_unread(operands[i], unread);
        } else if (strlist_add(out, operands[i], strlen(operands[i]))) {
            error_msg("out of memory");
            return -1;
        }
    }
    return 0;
}

/* Keeps the paths from index first on that are in the share, in order. */
static void keep_share(const shard *share, size_t first, strlist *l)
{
    size_t kept = first;
    for (size_t i = first; i < l->count; i++) {
        if (shard_has(share, l->items[i]))
            l->items[kept++] = l->items[i];
        else
            free(l->items[i]);
    }
    l->count = kept;
}

int stdin_given_twice(char *const *images, size_t n, const image_sources *src)
{
    int readers = src->stdin_taken + (src->files_from && strcmp(src->files_from, "-") == 0);
    for (size_t i = 0; i < n; i++) readers += strcmp(images[i], "-") == 0;
    if (readers > 1) error_msg("stdin ('-') is given more than once: it can be read only once");
    return readers > 1;
}

int gather_images(char **operands, int n, const image_sources *src, strlist *out)
{
    size_t first = out->count;
    if (expand_images(operands, n, src->recursive, out)) return -1;
    if (src->files_from && read_files_from(src->files_from, src->nul, out)) return -1;
    size_t added = out->count - first; /* none: items may be a null pointer, no base for an offset */
    if (stdin_given_twice(added ? out->items + first : NULL, added, src)) return -1;
    keep_share(&src->share, first, out);
    return 0;
}
