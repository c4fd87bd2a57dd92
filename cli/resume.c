/* Carrying on an output that an earlier run left. */
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "report.h"
#include "signals.h"

/* The key of a whole JSON Lines record line (n bytes, its newline included): the string literal
 * after {"image":, without its quotes; NULL when the line is not such a record. */
static const char *jsonl_key(const char *line, size_t n, size_t *klen)
{
    static const char head[] = "{\"image\":\"";
    size_t h = sizeof head - 1;
    if (n < h + 3 || memcmp(line, head, h) != 0 || line[n - 2] != '}') return NULL;
    for (size_t i = h; i < n - 2; i++) {
        if ((unsigned char)line[i] < 0x20) return NULL;
        if (line[i] == '\\')
            i++;
        else if (line[i] == '"')
            return *klen = i - h, line + h;
    }
    return NULL;
}

/* The TSV rows of one image, as they are read. */
typedef struct {
    char *key; /* NULL before the first row */
    size_t rows;
    long first; /* the label of its first row: the best */
} tsv_group;

/* Reads one TSV row (n bytes, its newline included) at offset at: the image, then one of the
 * run's labels, none twice in a group; *valid moves past it when it completes its image's group.
 * The same image given twice has two groups alike, so a group that starts with another label
 * than the one before of the same image is another run's. 0, or -1 when the row is not one this
 * run would write. */
static int tsv_row(tsv_group *g, shape_check *c, const char *line, size_t n, off_t at, strlist *keys, off_t *valid)
{
    size_t rows = c->shape->count;
    const char *tab = memchr(line, '\t', n), *tab2 = tab ? memchr(tab + 1, '\t', n - (size_t)(tab + 1 - line)) : NULL;
    if (!tab2 || memchr(line, 0, n)) return -1;
    size_t klen = (size_t)(tab - line);
    long label = shape_tsv_label(c, tab + 1, (size_t)(tab2 - tab - 1));
    if (label < 0) return -1;
    int same = g->key && strlen(g->key) == klen && memcmp(g->key, line, klen) == 0;
    if (!same || g->rows == rows) { /* a new image (or the same one given twice) */
        if (g->key && g->rows != rows) return -1;
        if (same && label != g->first) return -1;
        free(g->key);
        if (!(g->key = strndup(line, klen))) return -1;
        g->rows = 0;
        g->first = label;
        c->checks++;
    }
    if (!shape_take(c, label)) return -1;
    if (++g->rows == rows) {
        if (strlist_add(keys, g->key, klen)) return -1;
        *valid = at + (off_t)n;
    }
    return 0;
}

int resume_scan(FILE *f, const char *name, out_format format, const char *tsv_header, const record_shape *shape,
                strlist *keys, size_t *failed, off_t *valid)
{
    int kind;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    off_t at = 0;
    int bad = 0;
    tsv_group g = {NULL, 0, -1};
    shape_check check;
    *valid = 0;
    if (shape_check_init(&check, shape, format)) return -1;
    if (format == FMT_TSV && !check.sorted) bad = 1; /* TSV records are classify's */
    while (!bad && (n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
        lineno++;
        size_t klen;
        const char *key;
        if (format == FMT_TSV && lineno == 1) {
            bad = (size_t)n != strlen(tsv_header) + 1 || memcmp(line, tsv_header, (size_t)n - 1) != 0;
            *valid = n;
        } else if (format == FMT_TSV) {
            bad = tsv_row(&g, &check, line, (size_t)n, at, keys, valid);
        } else if ((key = jsonl_key(line, (size_t)n, &klen)) &&
                   (kind = shape_jsonl_matches(&check, key + klen + 1, (size_t)n - (size_t)(key + klen + 1 - line)))) {
            bad = strlist_add(keys, key, klen) != 0;
            *failed += kind == 2;
            *valid = at + n;
        } else {
            bad = 1;
        }
        at += n;
    }
    if (bad)
        error_msg("%s:%zu: not a record of this command in %s (--resume carries on an output of the same "
                  "command, format and labels)", name, lineno, format == FMT_TSV ? "TSV" : "JSON Lines");
    else if (ferror(f))
        error_msg("%s: %s", name, strerror(errno));
    free(g.key);
    free(line);
    shape_check_free(&check);
    return bad || ferror(f) ? -1 : 0;
}

/* Scans path (open as f) into r->done; *valid as resume_scan. */
static int scan_file(resume *r, FILE *f, const char *name, const char *tsv_header, const record_shape *shape,
                     off_t *valid)
{
    if (!f) {
        error_msg("%s: %s", name, strerror(errno));
        return -1;
    }
    int rc = resume_scan(f, name, r->format, tsv_header, shape, &r->done, &r->done_failed, valid);
    fclose(f);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Starts the partial file with the first valid bytes of path. */
static int copy_prefix(resume *r, off_t valid)
{
    FILE *f = fopen(r->path, "rb");
    char buf[1 << 16];
    while (f && valid > 0) {
        size_t want = valid < (off_t)sizeof buf ? (size_t)valid : sizeof buf, got = fread(buf, 1, want, f);
        if (got != want || write_all(r->fd, buf, got)) break;
        valid -= (off_t)got;
    }
    if (f) fclose(f);
    if (valid == 0) return 0;
    error_msg("%s: %s", r->partial, strerror(errno ? errno : EIO));
    return -1;
}

/* Opens and locks FILE.partial; 0 or -1 after reporting. */
static int open_partial(resume *r)
{
    size_t len = strlen(r->path) + sizeof ".partial";
    if (!(r->partial = malloc(len))) {
        error_msg("out of memory");
        return -1;
    }
    snprintf(r->partial, len, "%s.partial", r->path);
    if ((r->fd = open(r->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
        error_msg("%s: %s", r->partial, strerror(errno));
        return -1;
    }
    /* a writer that held the lock may have renamed or removed the file since it was opened here */
    struct stat held, named;
    int locked = flock(r->fd, LOCK_EX | LOCK_NB) == 0;
    if (locked && fstat(r->fd, &held) == 0 && stat(r->partial, &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev)
        return 0;
    if (locked) errno = EWOULDBLOCK;
    error_msg("%s: %s", r->partial, errno == EWOULDBLOCK ? "busy: another align is writing it" : strerror(errno));
    return -1;
}

int resume_open(resume *r, const char *path, out_format format, const char *tsv_header, const record_shape *shape)
{
    *r = (resume){.fd = -1, .format = format};
    if (!*path) {
        error_msg("-o: an empty file name");
        return -1;
    }
    /* a symbolic link is followed: the file it names is carried on, the link kept */
    if (!(r->path = output_target(path))) {
        error_msg("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st, pst;
    int exists = stat(r->path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        error_msg("%s: not a regular file; --resume carries on a file", path);
        resume_close(r, 0);
        return -1;
    }
    off_t valid = 0;
    int rc = !r->path || open_partial(r) || fstat(r->fd, &pst) ? -1 : 0;
    r->bare = !rc && pst.st_size == 0;
    if (!rc && pst.st_size > 0) {
        int fd = dup(r->fd);
        rc = scan_file(r, fd >= 0 ? fdopen(fd, "rb") : NULL, r->partial, tsv_header, shape, &valid);
        if (!rc && ftruncate(r->fd, valid)) rc = -1, error_msg("%s: %s", r->partial, strerror(errno));
    } else if (!rc && exists) {
        rc = scan_file(r, fopen(r->path, "rb"), path, tsv_header, shape, &valid);
        if (!rc) rc = copy_prefix(r, valid);
    }
    if (!rc && lseek(r->fd, 0, SEEK_END) < 0) rc = -1, error_msg("%s: %s", r->partial, strerror(errno));
    if (!rc && valid == 0 && format == FMT_TSV &&
        (write_all(r->fd, tsv_header, strlen(tsv_header)) || write_all(r->fd, "\n", 1)))
        rc = -1, error_msg("%s: write error: %s", r->partial, strerror(errno));
    if (rc) {
        resume_close(r, 0);
        return -1;
    }
    if (r->done.count) qsort(r->done.items, r->done.count, sizeof *r->done.items, strlist_order);
    return 0;
}

/* Takes one of the records of key (done is sorted, a key given twice has two): 1, or 0 when none
 * is left. */
static int take_record(resume *r, char *used, const char *key)
{
    size_t lo = strlist_lower_bound(r->done.items, r->done.count, key);
    for (; lo < r->done.count && strcmp(r->done.items[lo], key) == 0; lo++)
        if (!used[lo]) return used[lo] = 1;
    return 0;
}

int resume_skip_done(resume *r, strlist *paths)
{
    size_t kept = 0;
    char *used = calloc(r->done.count + 1, 1);
    int oom = !used;
    for (size_t i = 0; i < paths->count; i++) {
        char *key = oom ? NULL : record_key(paths->items[i], r->format);
        oom = oom || !key;
        if (key && !take_record(r, used, key))
            paths->items[kept++] = paths->items[i];
        else
            free(paths->items[i]);
        free(key);
    }
    paths->count = kept;
    free(used);
    if (oom) error_msg("out of memory");
    return oom ? -1 : 0;
}

int resume_status(const resume *r, size_t failed, size_t total)
{
    if (r->done_failed)
        error_msg("%s: %zu error record%s from an earlier run carried on, not retried", r->path, r->done_failed,
                  r->done_failed == 1 ? "" : "s");
    return exit_status(failed + r->done_failed, total + r->done.count);
}

FILE *resume_batch(resume *r)
{
    r->batch = open_memstream(&r->buf, &r->len);
    if (!r->batch) error_msg("out of memory");
    return r->batch;
}

int resume_flush(resume *r)
{
    int oom = !r->batch || fclose(r->batch) != 0;
    r->batch = NULL;
    int failed = oom || write_all(r->fd, r->buf, r->len) || fdatasync(r->fd);
    if (failed) error_msg("%s: write error: %s", r->partial, oom ? "out of memory" : strerror(errno ? errno : EIO));
    if (!failed && r->len) r->bare = 0;
    free(r->buf);
    r->buf = NULL;
    return failed ? -1 : 0;
}

int resume_close(resume *r, int complete)
{
    int failed = 0;
    if (r->batch) fclose(r->batch);
    free(r->buf);
    if (r->fd >= 0 && complete) {
        failed = fsync(r->fd) || rename(r->partial, r->path);
        if (failed) error_msg("%s: %s", r->path, strerror(errno));
    } else if (r->fd >= 0 && r->bare) {
        unlink(r->partial);
    } else if (r->fd >= 0 && signals_caught() && signals_caught() != SIGPIPE) {
        /* Ctrl-C, say: what to do next, as index says it */
        error_msg("%s: interrupted: the records so far are in %s; run it again with --resume to carry on", r->path,
                  r->partial);
    }
    if (r->fd >= 0) close(r->fd);
    strlist_free(&r->done);
    free(r->partial);
    free(r->path);
    *r = (resume){.fd = -1};
    return failed ? -1 : 0;
}
