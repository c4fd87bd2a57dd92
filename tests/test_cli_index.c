/* align index, align search and align classify --db driven through a shell on real SQLite files:
 * incremental runs, kill -9 at random moments, Ctrl-C after a commit, search against a brute-force ranking of `align
 * embed` vectors, classify from stored rows and cached labels bit for bit, every bad index. */
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test.h"

#define A align_bin()
#define DIM 40 /* tiny-a's projection_dim */

static const char *model(void)
{
    return fixture("tiny-a");
}

/* scratch names apart from test_index.c's: the format is always a literal */
#define tmp(...) tmp_path("cli-" __VA_ARGS__)

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    run_result r = run_cmd("%s", cmd);
    CHECK_MSG(r.status == 0, "%s: exit %d: %s", cmd, r.status, r.err);
    run_free(&r);
}

/* A directory of n images, copies of the fixture images in turn; returns its path. */
static const char *image_dir(const char *name, int n)
{
    static const char *const srcs[] = {"astronaut.png", "cat.jpg", "rocket.bmp", "camera_gray.png",
                                       "coffee_progressive.jpg", "odd_37x23.png", "chelsea_palette.png"};
    const char *dir = tmp("%s", name);
    char cmd[6144];
    size_t k = (size_t)snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    for (int i = 0; i < n; i++) {
        const char *src = srcs[i % 7];
        k += (size_t)snprintf(cmd + k, sizeof cmd - k, " && cp %s/images/%s %s/img%04d%s", fixture(""), src, dir, i,
                              strrchr(src, '.'));
        if (k > sizeof cmd - 400) {
            sh("%s", cmd);
            k = (size_t)snprintf(cmd, sizeof cmd, "true");
        }
    }
    sh("%s", cmd);
    return dir;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Every row of an index folded into a count and a hash of paths, stamps and embedding bytes. */
typedef struct {
    long rows;
    uint64_t hash;
} digest;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int digest_chunk(void *user, const align_index_row *rows, int n)
{
    digest *d = user;
    for (int i = 0; i < n; i++) {
        d->hash = fnv(d->hash, rows[i].path, strlen(rows[i].path) + 1);
        d->hash = fnv(d->hash, &rows[i].size, sizeof rows[i].size);
        d->hash = fnv(d->hash, &rows[i].mtime_ns, sizeof rows[i].mtime_ns);
        d->hash = fnv(d->hash, rows[i].embedding, sizeof(float) * DIM);
        d->rows++;
    }
    return 0;
}

static digest index_digest(const char *path)
{
    digest d = {0, 0xcbf29ce484222325ull};
    align_error err;
    align_index *ix = align_index_open(path, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    if (!ix) return d;
    CHECK_MSG(align_index_check(ix, &err) == ALIGN_OK, "%s", err.message);
    CHECK_MSG(align_index_scan(ix, digest_chunk, &d, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    return d;
}

/* ---- index ------------------------------------------------------------------------------------ */

/* A second run decodes nothing; a changed file is embedded again; --prune drops a deleted one. */
TEST(cli_index_is_incremental_and_prunes)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("incr", 10), *db = tmp("incr.db");
    run_result r = run_cmd("%s index -m %s --db %s %s", A, model(), db, dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, ": 10 embedded, 0 unchanged, 0 failed, 0 pruned; 10 images in the index");
    run_free(&r);
    digest first = index_digest(db);
    r = run_cmd("%s index -m %s --db %s %s", A, model(), db, dir);
    CHECK_CONTAINS(r.err, ": 0 embedded, 10 unchanged, 0 failed, 0 pruned; 10 images in the index");
    run_free(&r);
    digest again = index_digest(db);
    CHECK(first.hash == again.hash);
    /* img0000 becomes a copy of the cat: embedded again, and found as the cat */
    sh("cp %s %s/img0000.png && touch -d '2001-01-01' %s/img0000.png", fixture("images/cat.jpg"), dir, dir);
    r = run_cmd("%s index -m %s --db %s %s", A, model(), db, dir);
    CHECK_CONTAINS(r.err, ": 1 embedded, 9 unchanged, 0 failed, 0 pruned; 10 images in the index");
    run_free(&r);
    r = run_cmd("%s search -m %s --db %s -k 3 --format tsv image:%s/img0001.jpg", A, model(), db, dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    /* the cat against itself: cosine 1, up to a 640-term float dot product's rounding (640 u) */
    const char *hit = strstr(r.out, "img0000.png\t");
    CHECK_MSG(hit != NULL, "img0000.png not among the hits: %s", r.out);
    if (hit) CHECK_MSG(fabs(strtod(hit + strlen("img0000.png\t"), NULL) - 1) <= 640 * 0x1p-24, "%s", r.out);
    CHECK_INT(count_lines(r.out), 4);
    /* image:- is the image on stdin: the same bytes, the same hits */
    run_result piped = run_cmd("%s search -m %s --db %s -k 3 --format tsv image:- < %s/img0001.jpg", A, model(), db, dir);
    CHECK_STR(piped.out, r.out);
    run_free(&piped);
    run_free(&r);
    r = run_cmd("%s search -m %s --db %s image:- + image:- < %s/img0001.jpg", A, model(), db, dir);
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: stdin (image:-) is given more than once: it can be read only once (see 'align search "
                     "--help')\n");
    run_free(&r);
    sh("rm %s/img0003.png", dir);
    r = run_cmd("%s index -m %s --db %s --prune", A, model(), db);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, ": 0 embedded, 0 unchanged, 0 failed, 1 pruned; 9 images in the index");
    run_free(&r);
    /* relative paths from another directory are keyed alike */
    char *bin = realpath(A, NULL), *m = realpath(model(), NULL);
    r = run_cmd("cd %s && %s index -m %s --db %s ./img0001.jpg ../cli-incr/img0002.bmp", dir, bin, m, db);
    free(bin);
    free(m);
    CHECK_CONTAINS(r.err, ": 0 embedded, 2 unchanged");
    run_free(&r);
    /* one file under three names in one run is one row, embedded once */
    r = run_cmd("touch -d '2002-02-02' %s/img0000.png && %s index -m %s --db %s %s//img0000.png %s/./img0000.png "
                "%s/../cli-incr/img0000.png", dir, A, model(), db, dir, dir, dir);
    CHECK_CONTAINS(r.err, ": 1 embedded, 0 unchanged, 0 failed, 0 pruned; 9 images in the index");
    run_free(&r);
}

/* Only the path of an index's one row. */
static int first_path(void *user, const align_index_row *rows, int n)
{
    if (n > 0) snprintf(user, 1024, "%s", rows[0].path);
    return 0;
}

/* link/../cat.jpg, link a symbolic link to real/sub, opens real/cat.jpg: its row is keyed so, not
 * by the lexical here/cat.jpg (another file), and neither a later run nor --prune mistakes it. */
TEST(cli_index_keys_dotdot_after_a_link_as_the_kernel_opens_it)
{
    const char *dir = tmp("dotdot"), *db = tmp("dotdot.db");
    sh("rm -rf %s %s && mkdir -p %s/real/sub %s/here && cp %s/images/cat.jpg %s/real/ && "
       "cp %s/images/astronaut.png %s/here/cat.jpg && ln -s ../real/sub %s/here/link",
       dir, db, dir, dir, fixture(""), dir, fixture(""), dir, dir);
    run_result r = run_cmd("%s index -m %s --db %s %s/here/link/../cat.jpg", A, model(), db, dir);
    CHECK_CONTAINS(r.err, ": 1 embedded, 0 unchanged, 0 failed, 0 pruned; 1 image in the index");
    run_free(&r);
    char real[1024], want[1100], got[1024] = "";
    snprintf(real, sizeof real, "%s/real", dir);
    char *resolved = realpath(real, NULL);
    snprintf(want, sizeof want, "%s/cat.jpg", resolved ? resolved : real);
    free(resolved);
    align_error err;
    align_index *ix = align_index_open(db, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    if (ix) {
        CHECK_MSG(align_index_scan(ix, first_path, got, &err) == ALIGN_OK, "%s", err.message);
        align_index_close(ix);
    }
    CHECK_STR(got, want);
    r = run_cmd("%s index -m %s --db %s --prune %s", A, model(), db, want);
    CHECK_CONTAINS(r.err, ": 0 embedded, 1 unchanged, 0 failed, 0 pruned; 1 image in the index");
    run_free(&r);
}

/* Killed at random moments, then run again: the same rows and embeddings as one uninterrupted run,
 * and an intact file after every kill. */
TEST(cli_index_survives_kill_9)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("kill", 400), *ref = tmp("kill-ref.db");
    sh("%s index -q -m %s --db %s %s", A, model(), ref, dir);
    digest want = index_digest(ref);
    CHECK_INT(want.rows, 400);
    srand((unsigned)time(NULL));
    int partial = 0;
    for (int round = 0; round < 4; round++) {
        char db[1024];
        snprintf(db, sizeof db, "%s/cli-kill-%d.db", test_tmpdir(), round);
        for (int kill = 0; kill < 3; kill++) {
            int ms = 5 + rand() % 150;
            sh("%s index -q -m %s --db %s %s & pid=$!; sleep %d.%03d; kill -9 $pid; wait $pid; true", A, model(), db,
               dir, ms / 1000, ms % 1000);
            struct stat st;
            if (stat(db, &st) != 0) continue; /* killed before the file was made */
            digest d = index_digest(db);
            partial += d.rows > 0 && d.rows < 400;
        }
        sh("%s index -q -m %s --db %s %s", A, model(), db, dir);
        digest got = index_digest(db);
        CHECK_INT(got.rows, want.rows);
        CHECK_MSG(got.hash == want.hash, "round %d: rows differ from the uninterrupted run", round);
    }
    test_note("%d of 12 kills left a partial index", partial);
}

/* ---- signals --------------------------------------------------------------------------------- */

extern char **environ;

/* Starts `sh -c cmd` without a shell's job control in the way (a background job of a script
 * ignores SIGINT), stdout and stderr to err_path, SIGINT at its default; its pid, or -1. */
static pid_t spawn_sh(const char *cmd, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    /* exec: the shell becomes the command, so that the signal reaches align */
    char line[8192];
    snprintf(line, sizeof line, "exec %s", cmd);
    char *argv[] = {"sh", "-c", line, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    CHECK_MSG(rc == 0, "cannot start %s", cmd);
    return rc == 0 ? pid : -1;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Waits until path has some bytes, or pid has ended (or a minute passed): 1 when it has. */
static int wait_for_bytes(const char *path, pid_t pid)
{
    for (int ms = 0; ms < 60000; ms++) {
        if (file_size(path) > 0) return 1;
        if (waitpid(pid, NULL, WNOHANG) != 0) return 0;
        sleep_ms(1);
    }
    return 0;
}

/* Sends sig to pid and reaps it: its status as run_cmd gives it (128 + signal). */
static int signal_and_wait(pid_t pid, int sig)
{
    int st = 0;
    kill(pid, sig);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Neither -wal nor -shm beside db. */
static void check_no_wal(const char *db)
{
    char side[1100];
    snprintf(side, sizeof side, "%s-wal", db);
    CHECK_MSG(access(side, F_OK) != 0, "%s is left", side);
    snprintf(side, sizeof side, "%s-shm", db);
    CHECK_MSG(access(side, F_OK) != 0, "%s is left", side);
}

/* Each row of an index must be the reference index's row for its path. */
typedef struct {
    align_index *ref;
    long rows, differ;
} matching;

static int match_chunk(void *user, const align_index_row *rows, int n)
{
    matching *m = user;
    float e[DIM];
    for (int i = 0; i < n; i++, m->rows++) {
        int64_t size, mtime;
        int found = 0;
        align_index_lookup(m->ref, rows[i].path, &size, &mtime, e, &found, NULL);
        m->differ += !found || size != rows[i].size || mtime != rows[i].mtime_ns ||
                     memcmp(e, rows[i].embedding, sizeof e) != 0;
    }
    return 0;
}

/* The rows of a copy of db (the .db file alone), each checked against ref's; -1 when one differs. */
static long copied_rows_matching(const char *db, const char *ref)
{
    char copy[1100];
    snprintf(copy, sizeof copy, "%s.copy", db);
    sh("cp %s %s", db, copy);
    align_error err;
    matching m = {align_index_open(ref, NULL, 0, ALIGN_INDEX_READ, &err), 0, 0};
    align_index *ix = align_index_open(copy, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix && m.ref, "%s", err.message);
    if (ix && m.ref) CHECK_MSG(align_index_scan(ix, match_chunk, &m, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    align_index_close(m.ref);
    return m.differ ? -1 : m.rows;
}

/* Ctrl-C after the first batch is committed: exit 130, the index one whole file (no -wal left) that
 * holds the rows the run said it embedded, each as an uninterrupted run makes it; run again, it
 * carries on. */
TEST(cli_index_interrupted_leaves_one_whole_file)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("sigint", 600), *ref = tmp("sigint-ref.db"), *db = tmp("sigint.db");
    const char *err_path = tmp("sigint.err"), *wal = tmp("sigint.db-wal");
    sh("%s index -q -m %s --db %s %s", A, model(), ref, dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s index -m %s --db %s %s", A, model(), db, dir);
    pid_t pid = spawn_sh(cmd, err_path);
    if (pid < 0) return;
    /* the first bytes in the WAL are the first batch's transaction: the signal comes during or
       after it, and the run must finish it */
    CHECK_MSG(wait_for_bytes(wal, pid), "no batch written before the run ended");
    CHECK_INT(signal_and_wait(pid, SIGINT), 130);
    check_no_wal(db);
    long rows = copied_rows_matching(db, ref);
    size_t n = 0;
    char *said = (char *)read_fixture_bytes(err_path, &n);
    CHECK_MSG(rows >= 1 && rows < 600, "%ld rows", rows);
    const char *embedded = said ? strstr(said, ".db: ") : NULL;
    CHECK_MSG(embedded && strstr(said, "interrupted") && atol(embedded + 5) == rows, "%ld rows; %s", rows, said);
    CHECK_INT(count_lines(said), 1);
    free(said);
    sh("%s index -q -m %s --db %s %s", A, model(), db, dir);
    CHECK(index_digest(db).hash == index_digest(ref).hash);
}

/* classify --update -o, killed (SIGTERM) after a batch: the index as above, and -o's old file kept
 * whole with no temporary file beside it. */
TEST(cli_classify_update_interrupted_leaves_one_whole_file)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("sigint", 600), *ref = tmp("sigint-ref.db"), *db = tmp("sigcls.db");
    const char *out = tmp("sigcls-out/r.tsv");
    sh("%s index -q -m %s --db %s %s && mkdir -p %s-out && echo old > %s", A, model(), ref, dir, tmp("sigcls"), out);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s --db %s --update -l cat -l dog --format tsv -o %s %s", A, model(),
             db, out, dir);
    pid_t pid = spawn_sh(cmd, tmp("sigcls.err"));
    if (pid < 0) return;
    CHECK_MSG(wait_for_bytes(tmp("sigcls.db-wal"), pid), "no batch written before the run ended");
    CHECK_INT(signal_and_wait(pid, SIGTERM), 143);
    check_no_wal(db);
    long rows = copied_rows_matching(db, ref);
    CHECK_MSG(rows >= 1 && rows < 600, "%ld rows", rows);
    run_result r = run_cmd("ls %s-out && cat %s", tmp("sigcls"), out);
    CHECK_STR(r.out, "r.tsv\nold\n");
    run_free(&r);
}

/* An index of n made-up rows, paths /img<first>.png on, under model_id. */
static void synthetic_index(const char *path, const char *model_id, int first, int n)
{
    align_error err;
    align_index *ix = align_index_open(path, model_id, DIM, ALIGN_INDEX_CREATE, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    align_index_row *rows = malloc(sizeof *rows * (size_t)n);
    float *e = malloc(sizeof(float) * DIM * (size_t)n);
    char (*paths)[32] = malloc(32 * (size_t)n);
    for (int i = 0; ix && i < n; i++) {
        for (int j = 0; j < DIM; j++) e[(size_t)i * DIM + j] = (float)((first + i) % 97 - j) / 97;
        snprintf(paths[i], sizeof paths[i], "/img%07d.png", first + i);
        rows[i] = (align_index_row){paths[i], first + i, first + i, e + (size_t)i * DIM};
    }
    if (ix) CHECK_MSG(align_index_add(ix, rows, n, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    free(paths);
    free(e);
    free(rows);
}

/* 300,000 made-up rows under tiny-a's identity: a search or a classify --all long enough to kill. */
static void long_index(const char *db)
{
    align_error err;
    align_model *m = align_model_load(model(), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    if (m) synthetic_index(db, align_model_id(m), 0, 300000);
    align_model_free(m);
}

/* cmd, reading db, killed (SIGTERM) once the file ready has bytes: exit 143, and the index closed
 * as a reader leaves it, unchanged and one file with nothing beside it (SQLite makes -wal and -shm
 * for readers too). Its output goes to said. */
static void reader_killed(const char *db, const char *cmd, const char *ready, const char *said)
{
    digest before = index_digest(db);
    pid_t pid = spawn_sh(cmd, said);
    if (pid < 0) return;
    CHECK_MSG(wait_for_bytes(ready, pid), "%s: ended before %s had bytes", cmd, ready);
    CHECK_INT(signal_and_wait(pid, SIGTERM), 143);
    check_no_wal(db);
    CHECK(index_digest(db).hash == before.hash);
}

/* classify reading an index, killed while the vision tower runs (the stored image's row is written
 * before the first batch goes through it). */
TEST(cli_classify_reading_an_index_interrupted_leaves_no_wal)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("sigint", 600), *db = tmp("sigread.db"), *said = tmp("sigread.out");
    sh("%s index -q -m %s --db %s %s/img0000.png", A, model(), db, dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s --db %s -l cat -l dog --format tsv %s", A, model(), db, dir);
    reader_killed(db, cmd, said, said);
}

/* classify --db --all, killed while it scores the rows. */
TEST(cli_classify_all_interrupted_leaves_no_wal)
{
    if (test_skip_in_a_rerun()) return;
    const char *db = tmp("sigall.db"), *said = tmp("sigall.out");
    long_index(db);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s classify -q -m %s --db %s --all -l cat -l dog --format tsv", A, model(), db);
    reader_killed(db, cmd, said, said);
}

/* search, killed once it has the index open (SQLite writes the -shm file as a reader opens it):
 * no hits written either. */
TEST(cli_search_interrupted_leaves_no_wal)
{
    if (test_skip_in_a_rerun()) return;
    const char *db = tmp("sigsearch.db"), *said = tmp("sigsearch.out");
    long_index(db);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s search -q -m %s --db %s -k 0 cat", A, model(), db);
    reader_killed(db, cmd, tmp("sigsearch.db-shm"), said);
    CHECK_INT((int)file_size(said), 0);
}

/* index --merge, interrupted (SIGTERM) between two chunks of a merge long enough: one whole file,
 * as classify --update leaves it. */
TEST(cli_index_merge_interrupted_leaves_one_whole_file)
{
    if (test_skip_in_a_rerun()) return;
    const char *a = tmp("sigm-a.db"), *b = tmp("sigm-b.db"), *ref = tmp("sigm-ref.db"), *out = tmp("sigm-out.db");
    synthetic_index(a, "0123456789abcdef", 0, 50000);
    synthetic_index(b, "0123456789abcdef", 50000, 50000);
    sh("%s index -q --merge %s %s %s", A, ref, a, b);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s index --merge %s %s %s", A, out, a, b);
    pid_t pid = spawn_sh(cmd, tmp("sigm.err"));
    if (pid < 0) return;
    CHECK_MSG(wait_for_bytes(tmp("sigm-out.db-wal"), pid), "no chunk written before the merge ended");
    CHECK_INT(signal_and_wait(pid, SIGTERM), 143);
    check_no_wal(out);
    check_no_wal(a);
    long rows = copied_rows_matching(out, ref);
    CHECK_MSG(rows >= 1 && rows < 100000, "%ld rows", rows);
    size_t n = 0;
    char *said = (char *)read_fixture_bytes(tmp("sigm.err"), &n);
    CHECK_CONTAINS(said, "interrupted");
    CHECK_INT(count_lines(said), 1);
    free(said);
    sh("%s index -q --merge %s %s %s", A, out, a, b);
    CHECK(index_digest(out).hash == index_digest(ref).hash);
}

/* kill -9 cannot be caught: it leaves the committed rows in the WAL, and the next command to open
 * the index (here search, which only reads) folds them into the file as it closes it. */
TEST(cli_search_folds_back_the_wal_a_kill_9_left)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("sigkill", 600), *ref = tmp("sigkill-ref.db"), *db = tmp("sigkill.db");
    sh("%s index -q -m %s --db %s %s", A, model(), ref, dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s index -q -m %s --db %s %s", A, model(), db, dir);
    pid_t pid = spawn_sh(cmd, tmp("sigkill.err"));
    if (pid < 0) return;
    /* a row is committed once a reader sees it */
    int64_t seen = 0;
    for (int ms = 0; ms < 60000 && seen == 0 && waitpid(pid, NULL, WNOHANG) == 0; ms++, sleep_ms(1)) {
        align_index *ix = access(db, F_OK) == 0 ? align_index_open(db, NULL, 0, ALIGN_INDEX_READ, NULL) : NULL;
        if (ix) align_index_count(ix, &seen, NULL);
        align_index_close(ix);
    }
    CHECK_INT(signal_and_wait(pid, SIGKILL), 128 + SIGKILL);
    CHECK_MSG(seen > 0 && file_size(tmp("sigkill.db-wal")) > 0, "%lld rows seen", (long long)seen);
    run_result r = run_cmd("%s search -m %s --db %s -k 0 -f paths cat", A, model(), db);
    CHECK_MSG(r.status == 0, "%s", r.err);
    check_no_wal(db);
    long rows = copied_rows_matching(db, ref);
    CHECK_MSG(rows >= seen && rows < 600 && rows == count_lines(r.out), "%ld rows, %d found", rows,
              count_lines(r.out));
    run_free(&r);
}

/* A second index on the same file waits for the first's transaction; search reads meanwhile. */
typedef struct {
    sqlite3 *db;
    int ms;
} holder;

static void *release_later(void *arg)
{
    holder *h = arg;
    sleep_ms(h->ms);
    sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

TEST(cli_index_concurrent_writer_waits_or_says_busy)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("busy", 3), *db = tmp("busy.db");
    sh("%s index -q -m %s --db %s %s/img0000.png", A, model(), db, dir);
    holder h = {NULL, 1000};
    CHECK(sqlite3_open(db, &h.db) == SQLITE_OK);
    CHECK(sqlite3_exec(h.db, "BEGIN IMMEDIATE; DELETE FROM images WHERE 0", NULL, NULL, NULL) == SQLITE_OK);
    run_result r = run_cmd("%s search -m %s --db %s -f paths cat", A, model(), db);
    CHECK_MSG(r.status == 0, "search while a writer holds the lock: %s", r.err);
    CHECK_INT(count_lines(r.out), 1);
    run_free(&r);
    pthread_t t;
    pthread_create(&t, NULL, release_later, &h);
    r = run_cmd("%s index -m %s --db %s %s", A, model(), db, dir);
    CHECK_MSG(r.status == 0, "a writer that waits: %s", r.err);
    CHECK_CONTAINS(r.err, "2 embedded, 1 unchanged");
    run_free(&r);
    pthread_join(t, NULL);
    /* held past the wait: busy, said in one line */
    CHECK(sqlite3_exec(h.db, "BEGIN IMMEDIATE; DELETE FROM images WHERE 0", NULL, NULL, NULL) == SQLITE_OK);
    sh("touch -d '2001-01-01' %s/img0001.jpg", dir);
    r = run_cmd("%s index -m %s --db %s %s", A, model(), db, dir);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "busy");
    CHECK_INT(count_lines(r.err), 1);
    run_free(&r);
    sqlite3_exec(h.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h.db);
    CHECK_INT(index_digest(db).rows, 3);
}

/* ---- bad indexes ------------------------------------------------------------------------------ */

/* The names and bytes of every file in dir, to see that nothing was written or deleted. */
static char *dir_state(const char *dir)
{
    run_result r = run_cmd("cd %s && ls -A && cat * | cksum", dir);
    char *s = strdup(r.out);
    run_free(&r);
    return s;
}

/* cmd (with %s for the index path) fails with one line containing want, and leaves dir as it was. */
static void refused(const char *dir, const char *db, const char *cmd, const char *want)
{
    char *before = dir_state(dir), line[4096];
    snprintf(line, sizeof line, cmd, db);
    run_result r = run_cmd("%s", line);
    CHECK_MSG(r.status == 1, "%s: exit %d", line, r.status);
    CHECK_MSG(count_lines(r.err) == 1, "%s: %s", line, r.err);
    CHECK_MSG(strstr(r.err, want) != NULL, "%s: '%s' lacks '%s'", line, r.err, want);
    CHECK_INT(r.out_len, 0);
    char *after = dir_state(dir);
    CHECK_MSG(strcmp(before, after) == 0, "%s changed %s:\n%s\nto\n%s", line, dir, before, after);
    free(before);
    free(after);
    run_free(&r);
}

/* Each bad index through index, search and classify --db (with --update too). */
static void refused_everywhere(const char *dir, const char *db, const char *want, int readable)
{
    const char *img = fixture("images/cat.jpg");
    char cmd[4][2048];
    snprintf(cmd[0], sizeof cmd[0], "%s index -m %s --db %%s %s", A, model(), img);
    snprintf(cmd[1], sizeof cmd[1], "%s search -m %s --db %%s cat", A, model());
    snprintf(cmd[2], sizeof cmd[2], "%s classify -m %s --db %%s %s cat dog", A, model(), img);
    snprintf(cmd[3], sizeof cmd[3], "%s classify -m %s --db %%s --update %s cat dog", A, model(), img);
    for (int i = 0; i < 4; i++)
        if (!(readable && (i == 1 || i == 2))) refused(dir, db, cmd[i], want);
}

TEST(cli_bad_indexes_are_refused_and_left_alone)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = tmp("bad");
    sh("mkdir -p %s", dir);
    const char *img = fixture("images/cat.jpg");
    /* not an index */
    sh("printf 'hello\\n' > %s/text.db", dir);
    refused_everywhere(dir, tmp("bad/text.db"), "not an align index", 0);
    /* another model's */
    sh("%s index -q -m %s --db %s/other.db %s", A, fixture("tiny-b"), dir, img);
    refused_everywhere(dir, tmp("bad/other.db"), "another model", 0);
    /* truncated and corrupt copies of a good one */
    const char *good = tmp("good.db");
    /* image_dir uses fixture()'s rotating buffers: made before model() takes one */
    const char *images = image_dir("bad-images", 60);
    sh("%s index -q -m %s --db %s %s", A, model(), good, images);
    sh("cp %s %s/truncated.db && truncate -s 100000 %s/truncated.db", good, dir, dir);
    refused_everywhere(dir, tmp("bad/truncated.db"), "truncated.db", 0);
    sh("cp %s %s/corrupt.db && printf 'garbage garbage garbage garbage' | dd of=%s/corrupt.db bs=1 seek=40 conv=notrunc "
       "2>/dev/null && dd if=/dev/urandom of=%s/corrupt.db bs=1024 seek=100 count=20 conv=notrunc 2>/dev/null",
       good, dir, dir, dir);
    refused_everywhere(dir, tmp("bad/corrupt.db"), "corrupt.db", 0);
    /* read-only file: not written, still searched */
    sh("cp %s %s/ro.db && chmod 444 %s/ro.db", good, dir, dir);
    refused_everywhere(dir, tmp("bad/ro.db"), "read-only", 1);
    run_result r = run_cmd("%s search -m %s --db %s/ro.db -k 2 cat", A, model(), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_INT(count_lines(r.out), 2);
    run_free(&r);
    sh("rm -f %s/ro.db", dir);
    /* read-only directory: an index in it is not written, nor one created there */
    sh("mkdir -p %s/rodir && cp %s %s/rodir/in.db && chmod 555 %s/rodir", dir, good, dir, dir);
    refused_everywhere(tmp("bad/rodir"), tmp("bad/rodir/in.db"), "read-only", 1);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s index -m %s --db %%s %s", A, model(), fixture("images/cat.jpg"));
    refused(tmp("bad/rodir"), tmp("bad/rodir/new.db"), cmd, "read-only");
    sh("chmod 755 %s/rodir", dir);
    /* a file size limit while a new index is made: the error names the index, not the temporary
       file it is made under, and nothing is left */
    r = run_cmd("(ulimit -f 2; %s index -q -m %s --db %s/limited.db %s); echo $?; ls %s/limited.db* 2>/dev/null", A,
                model(), dir, fixture("images/cat.jpg"), dir);
    CHECK_STR(r.out, "1\n");
    char want[1024];
    snprintf(want, sizeof want, "align: %s/limited.db: disk I/O error\n", dir);
    CHECK_STR(r.err, want);
    run_free(&r);
    /* a missing index is not made by reading it */
    snprintf(cmd, sizeof cmd, "%s search -m %s --db %%s cat", A, model());
    refused(dir, tmp("bad/missing.db"), cmd, "missing.db");
}

/* ---- search ----------------------------------------------------------------------------------- */

/* The "embedding" arrays of JSON lines into rows (dim floats each); returns the rows read. */
static int embeddings(const char *out, float *rows, int max_rows, char paths[][512])
{
    char *copy = strdup(out), *save;
    int n = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && n < max_rows; line = strtok_r(NULL, "\n", &save), n++) {
        cJSON *o = cJSON_Parse(line), *v;
        int k = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(o, "embedding")) if (k < DIM) rows[n * DIM + k++] = (float)v->valuedouble;
        CHECK_INT(k, DIM);
        if (paths) snprintf(paths[n], 512, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "image")));
        cJSON_Delete(o);
    }
    free(copy);
    return n;
}

typedef struct {
    int row;
    double score;
} ranked;

static char (*rank_paths)[512];

/* similarity, then path (the library's order for equal scores) */
static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return strcmp(rank_paths[x->row], rank_paths[y->row]);
}

/* `align search QUERY` (jsonl, -k 0) against the ranking of every row by q, in double. */
static void check_ranking(const char *db, const char *query, const float *q, const float *rows, char paths[][512],
                          int n, const char *extra)
{
    double norm = 0;
    for (int d = 0; d < DIM; d++) norm += (double)q[d] * q[d];
    ranked want[64];
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < DIM; d++) s += (double)q[d] * rows[i * DIM + d];
        want[i] = (ranked){i, s / sqrt(norm)};
    }
    rank_paths = paths;
    qsort(want, (size_t)n, sizeof *want, by_score);
    run_result r = run_cmd("%s search -m %s --db %s --format jsonl -k 0 %s %s", A, model(), db, extra, query);
    CHECK_MSG(r.status == 0, "%s: %s", query, r.err);
    CHECK_INT(count_lines(r.out), n);
    char *save;
    int i = 0;
    double worst = 0;
    for (char *line = strtok_r(r.out, "\n", &save); line && i < n; line = strtok_r(NULL, "\n", &save), i++) {
        cJSON *o = cJSON_Parse(line);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(o, "image"));
        double sim = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "similarity"));
        CHECK_MSG(path && strcmp(path, paths[want[i].row]) == 0, "%s: rank %d is %s, expected %s", query, i,
                  path ? path : "(none)", paths[want[i].row]);
        worst = fmax(worst, fabs(sim - want[i].score));
        CHECK_MSG(fabs(sim - want[i].score) <= 1e-6, "%s: rank %d similarity %.9g, expected %.9g", query, i, sim,
                  want[i].score);
        cJSON_Delete(o);
    }
    test_note("%s: largest similarity difference %.3g", query, worst);
    run_free(&r);
}

/* Text, image and compound queries rank as a brute force over `align embed`'s vectors does; the
 * seven images differ, so that no two scores tie. */
TEST(cli_search_equals_brute_force_over_embed)
{
    const char *dir = image_dir("search", 7), *db = tmp("search.db");
    sh("%s index -q -m %s --db %s %s", A, model(), db, dir);
    static float rows[64 * DIM], text[4 * DIM], image[DIM];
    static char paths[64][512];
    run_result r = run_cmd("%s embed -q -m %s %s", A, model(), dir);
    int n = embeddings(r.out, rows, 64, paths);
    CHECK_INT(n, 7);
    run_free(&r);
    r = run_cmd("%s embed -m %s --text 'a photo of a cat' 'at night' daytime '0x10*cat'", A, model());
    CHECK_INT(embeddings(r.out, text, 4, NULL), 4);
    run_free(&r);
    r = run_cmd("%s embed -m %s %s/img0002.bmp", A, model(), dir);
    CHECK_INT(embeddings(r.out, image, 1, NULL), 1);
    run_free(&r);
    check_ranking(db, "'a photo of a cat'", text, rows, paths, n, "");
    check_ranking(db, "'a photo of a cat'", text, rows, paths, n, "--no-cache");
    check_ranking(db, "'a photo of a cat'", text, rows, paths, n, ""); /* from the cache */
    char query[1024];
    snprintf(query, sizeof query, "%s/img0002.bmp", dir);
    check_ranking(db, query, image, rows, paths, n, "");
    float q[DIM];
    for (int d = 0; d < DIM; d++) q[d] = image[d] + 2 * text[DIM + d] - 0.5f * text[2 * DIM + d];
    snprintf(query, sizeof query, "image:%s/img0002.bmp + '2*at night' - 0.5*text:daytime", dir);
    check_ranking(db, query, q, rows, paths, n, "");
    /* a weight is a decimal number: anything else before a '*' is part of the text */
    check_ranking(db, "'0x10*cat'", text + 3 * DIM, rows, paths, n, "");
}

TEST(cli_search_top_threshold_and_formats)
{
    const char *dir = image_dir("formats", 9), *db = tmp("formats.db");
    sh("%s index -q -m %s --db %s %s", A, model(), db, dir);
    run_result all = run_cmd("%s search -m %s --db %s -k 0 --format tsv cat", A, model(), db);
    CHECK_INT(count_lines(all.out), 10);
    CHECK(strncmp(all.out, "image\tsimilarity\n", 17) == 0);
    /* the similarity of the fifth: --threshold keeps those above it */
    char *line = all.out;
    for (int i = 0; i < 5; i++) line = strchr(line, '\n') + 1;
    const char *tab = strchr(line, '\t');
    double fifth = tab ? atof(tab + 1) : 0;
    run_result r = run_cmd("%s search -m %s --db %s -k 0 --threshold %.9g -f paths cat", A, model(), db, fifth);
    CHECK_INT(count_lines(r.out), 4);
    run_free(&r);
    /* a cosine similarity's bounds: -1 keeps every image, past them is a usage error */
    r = run_cmd("%s search -m %s --db %s -k 0 --threshold -1 -f paths cat", A, model(), db);
    CHECK_INT(count_lines(r.out), 9);
    run_free(&r);
    static const char *const off[] = {"2", "' 0.5'", "0x1p-1", "-inf"}, *shown[] = {"2", " 0.5", "0x1p-1", "-inf"};
    for (int i = 0; i < 4; i++) {
        r = run_cmd("%s search -m %s --db %s --threshold %s cat", A, model(), db, off[i]);
        CHECK_INT(r.status, 1);
        char want[256];
        snprintf(want, sizeof want, "align: --threshold takes a similarity from -1 to 1, not '%s' (see 'align search "
                 "--help')\n", shown[i]);
        CHECK_STR(r.err, want);
        run_free(&r);
    }
    /* --tsv is --format tsv */
    r = run_cmd("%s search -m %s --db %s -k 0 --tsv cat", A, model(), db);
    CHECK_STR(r.out, all.out);
    run_free(&r);
    r = run_cmd("%s search -m %s --db %s -k 3 --json cat", A, model(), db);
    cJSON *o = cJSON_Parse(r.out);
    CHECK(cJSON_IsArray(o) && cJSON_GetArraySize(o) == 3);
    cJSON_Delete(o);
    run_free(&r);
    r = run_cmd("%s search -m %s --db %s -f paths -0 cat | xargs -0 -n1 echo | wc -l", A, model(), db);
    CHECK_STR(r.out, "9\n");
    run_free(&r);
    r = run_cmd("%s search -m %s --db %s cat", A, model(), db);
    CHECK_INT(count_lines(r.out), 9);
    CHECK_CONTAINS(r.out, dir);
    run_free(&r);
    run_free(&all);
}

/* search QUERY's exit status and stderr; a failed search prints nothing. */
static void expect_search(const char *db, const char *query, int status, const char *err)
{
    run_result r = run_cmd("%s search -m %s --db %s %s", A, model(), db, query);
    CHECK_MSG(r.status == status, "%s: exit %d", query, r.status);
    CHECK_STR(r.err, err);
    if (status) CHECK_INT(r.out_len, 0);
    run_free(&r);
}

TEST(cli_search_query_syntax_errors)
{
    const char *db = tmp("syntax.db");
    sh("%s index -q -m %s --db %s %s", A, model(), db, fixture("images/cat.jpg"));
    const char *bad[] = {"+ cat", "cat dog", "cat -", "cat + +", "text:", "'1e999*cat'", "image:/nonexistent.png",
                         "' '", "cat + 'text: \t'"};
    const char *want[] = {"'+' where", "follows another term", "ends with", "'+' where", "empty", "finite",
                          "nonexistent.png", "' ' is blank", "'text: ?' is blank"};
    for (int i = 0; i < 9; i++) {
        run_result r = run_cmd("%s search -m %s --db %s %s", A, model(), db, bad[i]);
        CHECK_MSG(r.status == 1, "%s: exit %d", bad[i], r.status);
        CHECK_MSG(count_lines(r.err) == 1 && strstr(r.err, want[i]), "%s: %s", bad[i], r.err);
        CHECK_INT(r.out_len, 0);
        run_free(&r);
    }
    /* a term named like an image that is no file: most likely misspelt, so searched as text and said;
       text: asks for the text and is quiet */
    expect_search(db, "photos/catt.jpg", 0,
                  "align: photos/catt.jpg: no such image, so searched as text (text:photos/catt.jpg says so and is "
                  "quiet)\n");
    expect_search(db, "text:photos/catt.jpg", 0, "");
    /* an address is an image Hugging Face's load_image would fetch: refused with what to do, unless
       text: asks for the text */
    expect_search(db, "https://example.com/cat.jpg", 1,
                  "align: https://example.com/cat.jpg: a URL, and align reads only files: download it first (curl "
                  "-sLO URL), or write text:https://example.com/cat.jpg to search for the text\n");
    expect_search(db, "text:http://example.com/", 0, "");
}

/* ---- classify --db and the label cache -------------------------------------------------------- */

/* Scores from stored rows are the bytes a run without the index prints; --all gives every row. */
TEST(cli_classify_db_is_bit_identical)
{
    /* labels computed here, not read from a cache other tests filled with other label sets: on
     * OpenBLAS's AVX2 kernels a label's last bits depend on the labels beside it (README) */
    const char *dir = image_dir("classify", 19), *db = tmp("classify.db");
    const char *labels = "-l cat -l dog -l 'a rocket' -l 'an astronaut'";
    run_result plain = run_cmd("%s classify -m %s --jsonl --no-cache %s %s", A, model(), labels, dir);
    CHECK_MSG(plain.status == 0, "%s", plain.err);
    run_result r = run_cmd("%s classify -v -m %s --jsonl --no-cache --db %s %s %s", A, model(), db, labels, dir);
    CHECK_INT(r.status, 1); /* no index yet, and reading does not make one */
    run_free(&r);
    r = run_cmd("%s classify -v -m %s --jsonl --no-cache --db %s --update %s %s", A, model(), db, labels, dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, "19 images: 0 from the index, 19 through the vision tower");
    CHECK_STR(r.out, plain.out);
    run_free(&r);
    r = run_cmd("%s classify -v -m %s --jsonl --no-cache --db %s %s %s", A, model(), db, labels, dir);
    CHECK_CONTAINS(r.err, "19 images: 19 from the index, 0 through the vision tower");
    CHECK_STR(r.out, plain.out);
    run_free(&r);
    r = run_cmd("%s classify -v -m %s --jsonl --no-cache --db %s --all %s", A, model(), db, labels);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_STR(r.out, plain.out);
    CHECK_CONTAINS(r.err, "19 images, all from the index");
    run_free(&r);
    /* --all in 3 shares: the rows split among them, each once */
    const char *whole = write_tmp("classify-all.jsonl", plain.out, plain.out_len);
    r = run_cmd("for k in 0 1 2; do %s classify -q -m %s --jsonl --no-cache --db %s --all --shard $k/3 %s > %s.$k; "
                "done; wc -l < %s.0; cat %s.0 %s.1 %s.2 | sort | cmp - \"$(sort %s > %s.s; echo %s.s)\" && echo same",
                A, model(), db, labels, whole, whole, whole, whole, whole, whole, whole, whole);
    CHECK_MSG(strstr(r.out, "same\n") && atoi(r.out) > 0 && atoi(r.out) < 19, "%s %s", r.out, r.err);
    run_free(&r);
    /* a file changed since it was indexed goes through the vision tower again */
    sh("touch -d '2001-01-01' %s/img0004.jpg", dir);
    r = run_cmd("%s classify -v -m %s --jsonl --no-cache --db %s %s %s", A, model(), db, labels, dir);
    CHECK_CONTAINS(r.err, "19 images: 18 from the index, 1 through the vision tower");
    run_free(&r);
    /* text output too, and a mix of stored and new images keeps the input order */
    run_result tplain = run_cmd("%s classify -m %s --no-cache %s %s %s/img0002.bmp", A, model(), labels,
                                fixture("images/logo_rgba.png"), dir);
    r = run_cmd("%s classify -v -m %s --no-cache --db %s %s %s %s/img0002.bmp", A, model(), db, labels,
                fixture("images/logo_rgba.png"), dir);
    CHECK_CONTAINS(r.err, "2 images: 1 from the index, 1 through the vision tower");
    CHECK_STR(r.out, tplain.out);
    run_free(&r);
    /* one is one */
    r = run_cmd("%s classify -v -m %s --no-cache --db %s %s/img0002.bmp cat", A, model(), db, dir);
    CHECK_STR(r.err, "align: 1 label text: 1 through the text tower, 0 from the cache\n"
                     "align: 1 image: 1 from the index, 0 through the vision tower\n");
    run_free(&r);
    /* said once the run has told: an image that fails is neither */
    r = run_cmd("%s classify -v -m %s --no-cache --db %s -l cat %s/img0002.bmp %s/nonexistent.png %s", A, model(), db,
                dir, dir, fixture("images/logo_rgba.png"));
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "nonexistent.png: No such file or directory\n"
                          "align: 3 images: 1 from the index, 1 through the vision tower, 1 failed\n");
    run_free(&r);
    run_free(&tplain);
    run_free(&plain);
}

/* The second run reads every label from the cache (no text tower) and prints the same bytes; a
 * cache that cannot be used is a warning. */
TEST(cli_label_cache_is_bit_identical_and_skips_the_text_tower)
{
    const char *cache = tmp("label-cache"), *img = fixture("images/astronaut.png");
    const char *labels = "-l cat -l dog -l 'a rocket' -t 'a photo of {}' -t 'a drawing of {}'";
    run_result none = run_cmd("%s classify -v -m %s --jsonl --no-cache %s %s", A, model(), labels, img);
    CHECK_CONTAINS(none.err, "6 label texts: 6 through the text tower, 0 from the cache");
    run_result first = run_cmd("XDG_CACHE_HOME=%s %s classify -v -m %s --jsonl %s %s", cache, A, model(), labels, img);
    CHECK_CONTAINS(first.err, "6 label texts: 6 through the text tower, 0 from the cache");
    run_result second = run_cmd("XDG_CACHE_HOME=%s %s classify -v -m %s --jsonl %s %s", cache, A, model(), labels, img);
    CHECK_CONTAINS(second.err, "6 label texts: 0 through the text tower, 6 from the cache");
    CHECK_STR(first.out, none.out);
    CHECK_STR(second.out, none.out);
    struct stat st;
    CHECK(stat(tmp("label-cache/align/text-embeddings.db"), &st) == 0);
    /* HOME's cache when XDG_CACHE_HOME is unset */
    run_result home = run_cmd("env -u XDG_CACHE_HOME HOME=%s %s classify -v -m %s --jsonl %s %s", tmp("home"), A,
                              model(), labels, img);
    CHECK_STR(home.out, none.out);
    CHECK(stat(tmp("home/.cache/align/text-embeddings.db"), &st) == 0);
    /* a cache directory that is a file: a warning, the same scores */
    sh("printf x > %s", tmp("cache-file"));
    run_result bad = run_cmd("XDG_CACHE_HOME=%s %s classify -m %s --jsonl %s %s", tmp("cache-file"), A, model(), labels,
                             img);
    CHECK_INT(bad.status, 0);
    CHECK_CONTAINS(bad.err, "warning");
    CHECK_INT(count_lines(bad.err), 1);
    CHECK_STR(bad.out, none.out);
    run_result *all[] = {&none, &first, &second, &home, &bad};
    for (int i = 0; i < 5; i++) run_free(all[i]);
}

/* --merge joins indexes made apart into one equal to indexing everything at once. */
TEST(cli_index_merge)
{
    if (test_skip_in_a_rerun()) return;
    const char *dir = image_dir("merge", 12), *whole = tmp("merge-whole.db"), *out = tmp("merge-out.db");
    sh("%s index -q -m %s --db %s %s", A, model(), whole, dir);
    sh("%s index -q -m %s --db %s %s/img000*", A, model(), tmp("merge-a.db"), dir);
    sh("%s index -q -m %s --db %s %s/img001*", A, model(), tmp("merge-b.db"), dir);
    sh("%s index -q --merge %s %s %s", A, out, tmp("merge-a.db"), tmp("merge-b.db"));
    digest a = index_digest(whole), b = index_digest(out);
    CHECK_INT(b.rows, 12);
    /* batches of 8 and 4 rather than 8, 2 and 2: compare the rows, not the last bits */
    CHECK_INT(a.rows, b.rows);
    run_result r = run_cmd("%s search -m %s --db %s -k 0 -f paths cat", A, model(), out);
    CHECK_INT(count_lines(r.out), 12);
    run_free(&r);
}
