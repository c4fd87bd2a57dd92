#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "error.h"
#include "fileio.h"

#define SQLITE_MAGIC "SQLite format 3"

/* The directory holding path, malloc'ed. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    return dir;
}

static char *with_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (s) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b + 1);
    }
    return s;
}

/* Root may write anything: a file or directory with no write bit is still refused, since its owner
 * made it read-only on purpose. */
static int can_write(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & 0222) && access(path, W_OK) == 0;
}

/* A WAL that SQLite has still to copy into the file: the file alone may then look short. */
static int wal_pending(const char *path)
{
    char *wal = with_suffix(path, "-wal");
    struct stat st;
    int pending = !wal || (stat(wal, &st) == 0 && st.st_size > 0);
    free(wal);
    return pending;
}

static align_status check_header(const char *path, const db_kind *kind, const struct stat *st, align_error *err)
{
    if (st->st_size == 0) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not %s (an empty file)", path, kind->what);
    uint8_t h[100];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return align_fail(err, ALIGN_ERR_IO, "%s: %s", path, strerror(errno));
    ssize_t n = pread(fd, h, sizeof h, 0);
    close(fd);
    if (n != (ssize_t)sizeof h || memcmp(h, SQLITE_MAGIC, sizeof SQLITE_MAGIC) != 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not %s (not a SQLite database)", path, kind->what);
    if (be32(h + 68) != kind->application_id)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not %s (a SQLite database of another program)", path,
                          kind->what);
    if (be32(h + 60) != (uint32_t)kind->version)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s in format %u; this align reads format %d", path, kind->what,
                          be32(h + 60), kind->version);
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1) page = 65536;
    if (page < 512 || (page & (page - 1)))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (page size %u in its header)", path, page);
    /* the page count in the header is current when the change counter matches its copy */
    uint64_t expect = (uint64_t)be32(h + 28) * page;
    if (be32(h + 24) == be32(h + 92) && (uint64_t)st->st_size < expect && !wal_pending(path))
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: truncated (%lld bytes; its header says %llu)", path,
                          (long long)st->st_size, (unsigned long long)expect);
    return ALIGN_OK;
}

/* A file: URI for path, so that SQLite takes options such as immutable=1. */
static char *file_uri(const char *path, const char *query)
{
    static const char hex[] = "0123456789abcdef";
    char *uri = malloc(5 + 3 * strlen(path) + strlen(query) + 1), *o = uri;
    if (!uri) return NULL;
    o += sprintf(o, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/._-~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    strcpy(o, query);
    return uri;
}

align_status db_fail(align_error *err, sqlite3 *db, int rc, const char *path)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return align_fail(err, ALIGN_ERR_IO, "%s: busy: another process has held it locked for %d s; try again when it is done",
                          path, DB_BUSY_MS / 1000);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: corrupt (%s)", path, msg);
    case SQLITE_NOMEM:
        return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    case SQLITE_FULL:
        return align_fail(err, ALIGN_ERR_IO, "%s: disk full", path);
    default:
        return align_fail(err, ALIGN_ERR_IO, "%s: %s", path, msg);
    }
}

align_status db_exec(sqlite3 *db, const char *sql, const char *path, align_error *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? ALIGN_OK : db_fail(err, db, rc, path);
}

align_status db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, const char *path, align_error *err)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? ALIGN_OK : db_fail(err, db, rc, path);
}

align_status db_begin(sqlite3 *db, const char *path, align_error *err)
{
    return db_exec(db, "BEGIN IMMEDIATE", path, err);
}

align_status db_end(sqlite3 *db, align_status status, const char *path, align_error *err)
{
    if (!status) status = db_exec(db, "COMMIT", path, err);
    if (status && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

/* frozen: nobody writes the file (it has no write bits, or its directory is read-only). With no WAL
 * to read, SQLite may then read it as immutable, which makes no -shm file: in a read-only directory
 * it could not, and elsewhere it would be left behind by a read-only connection. */
static align_status open_checked(const char *path, int writable, int frozen, sqlite3 **out, align_error *err)
{
    char *wal = with_suffix(path, "-wal");
    char *uri = wal ? file_uri(path, frozen && !file_exists(wal) ? "?immutable=1" : "") : NULL;
    free(wal);
    if (!uri) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    int flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY);
    int rc = sqlite3_open_v2(uri, out, flags, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        align_status s = db_fail(err, *out, rc, path);
        sqlite3_close(*out);
        *out = NULL;
        return s;
    }
    sqlite3_busy_timeout(*out, DB_BUSY_MS);
    return ALIGN_OK;
}

align_status db_open(const char *path, const db_kind *kind, int writable, sqlite3 **out, align_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return align_fail(err, ALIGN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return align_fail(err, ALIGN_ERR_IO, "%s: is a directory", path);
    if (!S_ISREG(st.st_mode)) return align_fail(err, ALIGN_ERR_IO, "%s: not a regular file", path);
    align_status s = check_header(path, kind, &st, err);
    if (s) return s;
    char *dir = dir_of(path);
    if (!dir) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    int file_w = can_write(path), dir_w = can_write(dir);
    if (writable && !file_w)
        s = align_fail(err, ALIGN_ERR_IO, "%s: read-only (no permission to write it)", path);
    else if (writable && !dir_w)
        s = align_fail(err, ALIGN_ERR_IO, "%s: its directory %s is read-only (SQLite keeps a journal beside the file)",
                       path, dir);
    free(dir);
    if (s) return s;
    /* a reader that could write opens read-write and promises not to, so that the last connection
     * to close removes SQLite's -wal and -shm files as a writer would */
    s = open_checked(path, file_w && dir_w, !dir_w || !(st.st_mode & 0222), out, err);
    if (!s && !writable && file_w && dir_w) s = db_exec(*out, "PRAGMA query_only=1", path, err);
    /* with a WAL, NORMAL loses no committed transaction when the process is killed; a power cut may
     * lose the last ones, and never corrupts the file */
    if (!s && writable) s = db_exec(*out, "PRAGMA synchronous=NORMAL", path, err);
    if (s) {
        sqlite3_close(*out);
        *out = NULL;
    }
    return s;
}

/* Creates an empty file beside path under a name no other process uses. */
static char *make_temp(const char *path, align_error *err)
{
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp) {
        align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(tmp, n, "%s.tmp-%ld-%ld", path, (long)getpid(), (long)ts.tv_nsec + attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            close(fd);
            return tmp;
        }
        if (errno != EEXIST) break;
    }
    align_fail(err, ALIGN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    free(tmp);
    return NULL;
}

/* Makes tmp the new database that will be path (named in errors: tmp is align's own). */
static align_status fill_new(const char *tmp, const char *path, const db_kind *kind,
                             align_status (*init)(sqlite3 *db, void *arg, align_error *err), void *arg,
                             align_error *err)
{
    sqlite3 *db;
    align_status s = open_checked(tmp, 1, 0, &db, err);
    if (s) return s;
    char pragmas[160];
    /* the page size first: it is fixed once the first page is written */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=%d; PRAGMA application_id=%u; PRAGMA user_version=%d; PRAGMA journal_mode=WAL;",
             kind->page_size, kind->application_id, kind->version);
    if (!(s = db_exec(db, pragmas, path, err)) && !(s = db_exec(db, kind->schema, path, err)) && init)
        s = init(db, arg, err);
    int rc = sqlite3_close(db);
    return s || rc == SQLITE_OK ? s : db_fail(err, NULL, rc, path);
}

/* Gives tmp the name path unless path exists (link refuses to replace). Some file systems (FAT)
 * have no links: there the check and the rename are two steps. */
static align_status publish(const char *tmp, const char *path, int replace, align_error *err)
{
    if (replace) {
        if (rename(tmp, path) == 0) return ALIGN_OK;
    } else {
        if (link(tmp, path) == 0 || errno == EEXIST) return ALIGN_OK;
        if ((errno == EPERM || errno == ENOTSUP) && !file_exists(path) && rename(tmp, path) == 0) return ALIGN_OK;
    }
    return align_fail(err, ALIGN_ERR_IO, "cannot create %s: %s", path, strerror(errno));
}

align_status db_create(const char *path, const db_kind *kind, int replace,
                       align_status (*init)(sqlite3 *db, void *arg, align_error *err), void *arg,
                       align_error *err)
{
    char *dir = dir_of(path);
    if (!dir) return align_fail(err, ALIGN_ERR_NOMEM, "out of memory");
    align_status s = ALIGN_OK;
    struct stat st;
    if (stat(dir, &st) != 0)
        s = align_fail(err, ALIGN_ERR_IO, "cannot create %s: %s: %s", path, dir, strerror(errno));
    else if (!can_write(dir))
        s = align_fail(err, ALIGN_ERR_IO, "cannot create %s: its directory %s is read-only", path, dir);
    free(dir);
    char *tmp = s ? NULL : make_temp(path, err);
    if (!s && !tmp) s = err->code;
    if (!s) s = fill_new(tmp, path, kind, init, arg, err);
    if (!s) s = publish(tmp, path, replace, err);
    if (tmp) unlink(tmp);
    free(tmp);
    return s;
}
