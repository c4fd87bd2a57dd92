/* db.h: the SQLite files align keeps (the embedding index, the label cache). A file is opened only
 * when it is what it claims to be, is created under a temporary name and linked into place, and
 * SQLite's failures come back as one-line align_errors naming the file. */
#ifndef ALIGN_DB_H
#define ALIGN_DB_H

#include <stdint.h>

#include <sqlite3.h>

#include "align.h"

/* How long a writer waits for another process's transaction before it reports the file busy. */
#define DB_BUSY_MS 5000

typedef struct {
    const char *what;        /* what messages call the file: "an align index" */
    uint32_t application_id; /* in the SQLite header: tells align's files from other databases */
    int version;             /* PRAGMA user_version: the format this code reads and writes */
    int page_size;
    const char *schema;      /* creates the tables of a new file */
} db_kind;

/* Opens an existing file of this kind. Refuses, before SQLite reads it, a file that is not a SQLite
 * database of this kind, of another format version, or truncated; and, when writable, a file or
 * directory without write permission (or, for root, without write bits: the owner meant it
 * read-only). A read-only open never writes, and works in a read-only directory. */
align_status db_open(const char *path, const db_kind *kind, int writable, sqlite3 **out, align_error *err);

/* Creates path as a new, empty file of this kind: the schema runs, then init (when not NULL), under
 * a temporary name beside path, which is then linked into place. When a file appeared at path
 * meanwhile, it is kept, unless replace is set. */
align_status db_create(const char *path, const db_kind *kind, int replace,
                       align_status (*init)(sqlite3 *db, void *arg, align_error *err), void *arg,
                       align_error *err);

/* Fills err from a failed SQLite call: "path: the problem" in words (busy, corrupt, read-only,
 * disk full...), and returns its status. */
align_status db_fail(align_error *err, sqlite3 *db, int rc, const char *path);

/* Runs SQL with no results, as db_fail reports. */
align_status db_exec(sqlite3 *db, const char *sql, const char *path, align_error *err);
/* BEGIN IMMEDIATE: takes the write lock now (waiting up to DB_BUSY_MS), so the transaction never
 * fails half-way on a lock it could not upgrade. */
align_status db_begin(sqlite3 *db, const char *path, align_error *err);
/* Commits, or rolls back when status is not ALIGN_OK or the commit fails; returns the outcome. */
align_status db_end(sqlite3 *db, align_status status, const char *path, align_error *err);

/* Prepares a statement, as db_fail reports. */
align_status db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, const char *path, align_error *err);

#endif
