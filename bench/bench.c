/* bench: how fast align runs on this machine, against the machine's own sgemm peak measured in the
 * same run, and against Hugging Face's reference figures (issue 8). Every scenario runs in a child
 * process so that its peak RSS is its own.
 *
 *     build/bench [--model DIR] [--runs N] [--threads N] [--align BIN] [--make-index BIN]
 *
 * The model defaults to build/align-base-random (make random-model). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "align.h"
#include "config.h"
#include "efficientnet.h"
#include "fileio.h"
#include "kernels.h"

typedef struct {
    const char *model, *align, *image, *make_index;
    int runs, threads;
} bench_opts;

typedef struct {
    double median, min;
    long max_rss_kb;
} timing;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static timing summarise(double *t, int n, long rss)
{
    qsort(t, (size_t)n, sizeof *t, by_double);
    timing r = {n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, t[0], rss};
    return r;
}

/* ---- the machine's reference: a large square sgemm -------------------------------------------- */

static double sgemm_peak(void)
{
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 13) * 0.01f;
    double best = 1e9;
    /* three rounds a quarter of a second apart: on a shared host one busy second had halved a
     * single round's best (108 against 204 GFLOP/s, AMD EPYC Zen 4, 2026-12-06) */
    for (int round = 0; round < 3; round++) {
        if (round) nanosleep(&(struct timespec){0, 250000000}, NULL);
        for (int r = 0; r < 5; r++) {
            double t = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
            t = now() - t;
            best = t < best ? t : best;
        }
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * n / best / 1e9;
}

/* ---- work per input, from the config ---------------------------------------------------------- */

/* The vision tower's work for an image of h x w in GFLOP; each 1x1 product (stem, expansions,
 * projections) also goes to product(ctx, rows, n, k) when product is not NULL. */
typedef void (*product_fn)(void *ctx, long rows, int n, int k);

static double vision_walk(const align_config *cfg, int h, int w, product_fn product, void *ctx)
{
    const vision_config *v = &cfg->vision;
    h = (h + 1 - 3) / 2 + 1;
    w = (w + 1 - 3) / 2 + 1;
    double macs = (double)h * w * 27 * v->stem_dim;
    if (product) product(ctx, (long)h * w, v->stem_dim, 27);
    for (int i = 0; i < v->n_blocks; i++) {
        const vision_block *b = &v->blocks[i];
        if (b->has_expand) macs += (double)h * w * b->in_dim * b->expand_dim;
        if (b->has_expand && product) product(ctx, (long)h * w, b->expand_dim, b->in_dim);
        int oh = b->stride == 2 ? (h + (b->adjust_padding ? b->kernel - 2 : b->kernel - 1) - b->kernel) / 2 + 1 : h;
        int ow = b->stride == 2 ? (w + (b->adjust_padding ? b->kernel - 2 : b->kernel - 1) - b->kernel) / 2 + 1 : w;
        h = oh;
        w = ow;
        macs += (double)h * w * b->expand_dim * (b->kernel * b->kernel + b->out_dim) + 2.0 * b->expand_dim * b->se_dim;
        if (product) product(ctx, (long)h * w, b->out_dim, b->expand_dim);
    }
    return 2 * macs / 1e9;
}

static double vision_gflop(const align_config *cfg, int h, int w)
{
    return vision_walk(cfg, h, w, NULL, NULL);
}

static double text_gflop(const align_config *cfg, int tokens)
{
    const text_config *t = &cfg->text;
    double h = t->hidden_size, macs = t->num_layers * (tokens * (4 * h * h + 2 * h * t->intermediate_size) + 2.0 * tokens * tokens * h);
    return 2 * (macs + h * cfg->projection_dim) / 1e9;
}

/* ---- the vision tower's floor: its 1x1 products alone ------------------------------------------ */

typedef struct {
    int batch, threads;
    double seconds, gflop; /* per image */
} products_floor;

/* One thread's best of 3 for a product of the tower's shape, its operands hot. */
static double product_seconds(long rows, int n, int k)
{
    float *a = malloc(sizeof(float) * rows * k), *w = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * rows * n);
    if (!a || !w || !c) exit(1);
    for (long i = 0; i < rows * k; i++) a[i] = (float)(i % 13) * 0.01f;
    for (long i = 0; i < (long)n * k; i++) w[i] = (float)(i % 11) * 0.01f;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, n, k, 1, a, k, w, k, 0, c, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    free(a);
    free(w);
    free(c);
    return best;
}

/* The faster of the batch's images one by one and stacked in one product, shared ideally among
 * the threads: a floor the tower's own cuts, epilogues and caches can only stay above. */
static void add_product(void *ctx, long rows, int n, int k)
{
    products_floor *f = ctx;
    double alone = product_seconds(rows, n, k) * f->batch;
    double stacked = f->batch > 1 ? product_seconds(rows * f->batch, n, k) : alone;
    f->seconds += (alone < stacked ? alone : stacked) / f->threads / f->batch;
    f->gflop += 2.0 * rows * n * k / 1e9;
}

static products_floor vision_products_floor(const align_config *cfg, int batch, int threads)
{
    openblas_set_num_threads(1);
    products_floor f = {batch, threads, 0, 0};
    vision_walk(cfg, 289, 289, add_product, &f);
    return f;
}

static const char *const ten_labels[] = {"a photo of a cat",  "a photo of a dog",   "a photo of a bird",
                                         "a photo of a car",  "a photo of a plane", "a photo of a ship",
                                         "a photo of a frog", "a photo of a horse", "a photo of a deer",
                                         "a photo of a truck"};

/* The text tower's work for each of n labels, at its own token count, into gflop[0, n). */
static void labels_gflop(const bench_opts *o, const align_config *cfg, const char *const *labels, int n,
                         double *gflop)
{
    align_error err;
    align_model *m = align_model_load(o->model, &err);
    if (!m) {
        fprintf(stderr, "bench: %s\n", err.message);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        int32_t *ids;
        size_t n_ids;
        if (align_tokenize(m, labels[i], strlen(labels[i]), &ids, &n_ids, &err)) exit(1);
        gflop[i] = text_gflop(cfg, (int)n_ids);
        free(ids);
    }
    align_model_free(m);
}

/* MB of the weights file the page cache holds in 2 MB pages: mapped as align maps it and read
 * once (which is what a run does), then counted in /proc/self/smaps_rollup. A process maps those
 * with one page-table entry per 2 MB; the rest, 4 KB at a time (about 40 ms for align-base). */
static double huge_mapped_mb(const char *path)
{
    file_map map;
    align_error err;
    if (file_map_open(path, &map, &err)) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < map.size; i += 4096) sink ^= map.data[i];
    (void)sink;
    double mb = 0;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "FilePmdMapped:", 14) == 0) mb = atof(line + 14) / 1024;
    if (f) fclose(f);
    file_map_close(&map);
    return mb;
}

/* ---- scenarios -------------------------------------------------------------------------------- */

/* Runs fn in a child `runs` times (after one warm-up when warm is set, not counted) and collects
 * its per-run seconds through a pipe, and the child's peak RSS. */
static timing in_child(int runs, int warm, void (*fn)(void *arg, double *seconds, int runs), void *arg)
{
    int fd[2];
    if (pipe(fd)) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        double *t = calloc((size_t)runs + 1, sizeof *t);
        fn(arg, t, runs + warm);
        if (write(fd[1], t + warm, sizeof *t * (size_t)runs) < 0) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    double t[64] = {0};
    if (read(fd[0], t, sizeof *t * (size_t)runs) < 0) exit(1);
    close(fd[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench: a scenario failed\n");
        exit(1);
    }
    return summarise(t, runs, ru.ru_maxrss);
}

/* Runs a command `runs` times from fork to exit; peak RSS is the largest child's. */
static timing command(int runs, char *const argv[])
{
    double t[64];
    long rss = 0;
    for (int r = 0; r < runs; r++) {
        double start = now();
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execv(argv[0], argv);
            _exit(127);
        }
        int status;
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        t[r] = now() - start;
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bench: %s failed (status %d)\n", argv[0], status);
            exit(1);
        }
        rss = ru.ru_maxrss > rss ? ru.ru_maxrss : rss;
    }
    return summarise(t, runs, rss);
}

typedef struct {
    const bench_opts *o;
    int n_images, n_labels;
} work;

static align_model *load(const bench_opts *o)
{
    align_error err;
    align_model *m = align_model_load(o->model, &err);
    if (!m) {
        fprintf(stderr, "bench: %s\n", err.message);
        _exit(1);
    }
    align_model_set_threads(m, o->threads);
    return m;
}

static void run_load(void *arg, double *t, int runs)
{
    const work *w = arg;
    for (int r = 0; r < runs; r++) {
        double s = now();
        align_model_free(load(w->o));
        t[r] = now() - s;
    }
}

static void run_vision(void *arg, double *t, int runs)
{
    const work *w = arg;
    align_model *m = load(w->o);
    align_error err;
    align_image imgs[8];
    for (int i = 0; i < w->n_images; i++)
        if (align_image_load(w->o->image, NULL, &imgs[i], &err)) _exit(1);
    float *emb = malloc(sizeof(float) * 640 * 8);
    for (int r = 0; r < runs; r++) {
        double s = now();
        if (align_encode_images(m, imgs, w->n_images, emb, NULL, &err)) _exit(1);
        t[r] = (now() - s) / w->n_images;
    }
    align_model_free(m);
}

static void run_text(void *arg, double *t, int runs)
{
    const work *w = arg;
    align_model *m = load(w->o);
    align_error err;
    float *emb = malloc(sizeof(float) * 640 * 10);
    for (int r = 0; r < runs; r++) {
        double s = now();
        if (align_encode_text(m, ten_labels, 10, emb, NULL, &err)) _exit(1);
        t[r] = now() - s;
    }
    align_model_free(m);
}

/* ---- report ----------------------------------------------------------------------------------- */

/* /proc/cpuinfo's first "model name" (x86 Linux), or "unknown" where there is none. */
static void cpu_model(char *out, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, size, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += strspn(colon + 1, " \t") + 1;
        colon[strcspn(colon, "\n")] = 0;
        if (*colon) snprintf(out, size, "%s", colon);
        break;
    }
    if (f) fclose(f);
}

static void row(const char *name, timing t, double gflop, double peak, const char *extra)
{
    double gfs = gflop > 0 ? gflop / t.median : 0;
    printf("| %-36s | %8.1f | %8.1f | %7.1f | %5.0f%% | %7.0f | %s\n", name, t.median * 1e3, t.min * 1e3, gfs,
           gflop > 0 ? 100 * gfs / peak : 0, t.max_rss_kb / 1024.0, extra ? extra : "");
}

static char *labels_file(void)
{
    static char path[] = "/tmp/align-bench-labels-XXXXXX";
    int fd = mkstemp(path);
    for (int i = 0; i < 10; i++) {
        if (write(fd, ten_labels[i], strlen(ten_labels[i])) < 0 || write(fd, "\n", 1) < 0) exit(1);
    }
    close(fd);
    return path;
}

/* ---- collections: index, search, classify --db, cached labels (issue 18) ----------------------- */

/* /tmp/align-bench-PID-name: the bench's own files, removed at the end. */
static const char *bench_file(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "/tmp/align-bench-%d-%s", (int)getpid(), name);
    return b;
}

static void remove_db(const char *path)
{
    char aux[300];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

/* `align index` of argv's images into a new index each run: a fresh index embeds every image. */
static timing index_fresh(int runs, char *const argv[], const char *db)
{
    double t[64];
    long rss = 0;
    for (int r = 0; r < runs; r++) {
        remove_db(db);
        timing one = command(1, argv);
        t[r] = one.median;
        rss = one.max_rss_kb > rss ? one.max_rss_kb : rss;
    }
    remove_db(db);
    return summarise(t, runs, rss);
}

/* A synthetic index of n rows of this model's identity (scripts/make_index.c). */
static const char *synthetic_index(const bench_opts *o, long n)
{
    char name[64], count[32];
    snprintf(name, sizeof name, "%ld.db", n);
    snprintf(count, sizeof count, "%ld", n);
    const char *db = bench_file(name);
    char *argv[] = {(char *)o->make_index, (char *)db, count, "--model", (char *)o->model, NULL};
    remove_db(db);
    command(1, argv);
    return db;
}

static char *labels_1000(void)
{
    const char *path = bench_file("labels1000.txt");
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < 1000; i++) fprintf(f, "a photo of a thing of kind %d\n", i);
    if (!f || fclose(f)) exit(1);
    return (char *)path;
}

/* A directory of n links to image, under distinct names (a share, and an index row, goes by the
 * path); its path, malloc'ed. */
static char *image_dir(const char *image, int n)
{
    char *dir = strdup("/tmp/align-bench-images-XXXXXX");
    if (!dir || !mkdtemp(dir)) exit(1);
    char target[4096], link[4200];
    if (!realpath(image, target)) exit(1);
    for (int i = 0; i < n; i++) {
        snprintf(link, sizeof link, "%s/img%03d.jpg", dir, i);
        if (symlink(target, link)) exit(1);
    }
    return dir;
}

/* The index, search, classify --db and label cache scenarios; c32 is classify's 32-image run. */
static void collections(const bench_opts *o, const char *threads, const char *labels, timing c32,
                        double vis, double peak)
{
    /* the label cache of these runs is the bench's own */
    char cache[256];
    snprintf(cache, sizeof cache, "%s", bench_file("cache"));
    setenv("XDG_CACHE_HOME", cache, 1);
    const char *db = bench_file("index.db");
    char *dir = image_dir(o->image, 32), rm_dir[4200];
    char *ix[] = {(char *)o->align, "index", "-q", "--threads", (char *)threads, "-m", (char *)o->model, "--db",
                  (char *)db, dir, NULL};
    timing ti = index_fresh(o->runs < 3 ? o->runs : 3, ix, db);
    snprintf(rm_dir, sizeof rm_dir, "rm -rf %s", dir);
    if (system(rm_dir)) exit(1);
    free(dir);
    char extra[128];
    snprintf(extra, sizeof extra, "%.2f images/s, %.1f%% of classify's", 32 / ti.median, 100 * c32.median / ti.median);
    row("align index, 32 images (new index)", ti, 32 * vis, peak, extra);

    const long sizes[] = {100000, 1000000};
    timing ts[2];
    const char *db100k = NULL;
    for (int i = 0; i < 2; i++) {
        const char *big = synthetic_index(o, sizes[i]);
        char *search[] = {(char *)o->align, "search", "-q", "--threads", (char *)threads, "-m", (char *)o->model,
                          "--db", (char *)big, "a photo of a cat", NULL};
        command(1, search); /* the query's text embedding into the cache */
        ts[i] = command(o->runs, search);
        snprintf(extra, sizeof extra, "target %s", i ? "2 s" : "0.3 s");
        row(i ? "align search, 1,000,000 images" : "align search, 100,000 images", ts[i], 0, peak, extra);
        if (i == 0) db100k = big;
        else remove_db(big);
    }
    printf("  search time from 100,000 to 1,000,000 images: x%.1f\n", ts[1].median / ts[0].median);

    char *all[] = {(char *)o->align, "classify", "-q", "--threads", (char *)threads, "-m", (char *)o->model, "--db",
                   (char *)db100k, "--all", "--labels", (char *)labels, NULL};
    command(1, all); /* the labels into the cache */
    timing ta = command(o->runs, all);
    row("classify --db --all, 100k x 10 labels", ta, 0, peak, "cached labels; target 3 s");
    remove_db(db100k);

    char *l1000 = labels_1000();
    char *c1000[] = {(char *)o->align, "classify", "-q", "--threads", (char *)threads, "-m", (char *)o->model,
                     "--labels", l1000, (char *)o->image, NULL};
    timing first = command(1, c1000);
    timing again = command(o->runs, c1000);
    snprintf(extra, sizeof extra, "first run %.1f s; target 0.5 s", first.median);
    row("classify, 1 image x 1,000 labels cached", again, vis, peak, extra);
    unlink(l1000);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", cache);
    if (system(rm) != 0) fprintf(stderr, "bench: could not remove %s\n", cache);
}

/* ---- beyond one machine ---------------------------------------------------------------------- */

/* Runs the n commands argv[0..n) `runs` times, at most jobs at once (GNU parallel's way: a new one
 * as one ends), timing each round from the first fork to the last exit. */
static timing concurrently(int runs, int n, int jobs, char **argv[])
{
    double t[64];
    long rss = 0;
    for (int r = 0; r < runs; r++) {
        double start = now();
        int started = 0, running = 0;
        while (started < n || running) {
            if (started < n && running < jobs) {
                pid_t pid = fork();
                if (pid == 0) {
                    int null = open("/dev/null", O_WRONLY);
                    dup2(null, 1);
                    execv(argv[started][0], argv[started]);
                    _exit(127);
                }
                started++, running++;
                continue;
            }
            int status;
            struct rusage ru;
            if (wait4(-1, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
                fprintf(stderr, "bench: a shard failed (status %d)\n", status);
                exit(1);
            }
            running--;
            rss = ru.ru_maxrss > rss ? ru.ru_maxrss : rss;
        }
        t[r] = now() - start;
    }
    return summarise(t, runs, rss);
}

/* 4 shards of 32 images, two at a time with a thread each (as `parallel` runs them on 2 cores),
 * against one process with every thread; then the merge of 4 synthetic shards of 100,000 rows. */
static void scale_out(const bench_opts *o, const char *threads_s, double peak, double vis)
{
    char *dir = image_dir(o->image, 32), cmd[8192];
    char *one[] = {(char *)o->align, "embed", "-q", "--threads", (char *)threads_s, "-m", (char *)o->model, dir, NULL};
    char **single[] = {one};
    timing t1 = concurrently(o->runs < 3 ? o->runs : 3, 1, 1, single);
    row("align embed, 32 images, one process", t1, 32 * vis, peak, "");
    char shard_s[4][8], *shard[4][12];
    char **shards[4];
    for (int k = 0; k < 4; k++) {
        snprintf(shard_s[k], sizeof shard_s[k], "%d/4", k);
        char *argv[] = {(char *)o->align, "embed", "-q", "--threads", "1", "--shard", shard_s[k], "-m", (char *)o->model, dir, NULL};
        memcpy(shard[k], argv, sizeof argv);
        shards[k] = shard[k];
    }
    timing t4 = concurrently(o->runs < 3 ? o->runs : 3, 4, 2, shards);
    char ratio[64];
    snprintf(ratio, sizeof ratio, "%.2fx one process's time (target <= 1.10)", t4.median / t1.median);
    row("the same in 4 shards, 2 at a time", t4, 32 * vis, peak, ratio);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) exit(1);
    free(dir);

    char dbdir[] = "/tmp/align-bench-merge-XXXXXX";
    const char *make_index = o->make_index;
    if (!mkdtemp(dbdir)) exit(1);
    for (int k = 0; k < 4; k++) {
        snprintf(cmd, sizeof cmd, "%s %s/shard-%d.db 100000 --model %s --seed %d --first %d >/dev/null", make_index, dbdir,
                 k, o->model, k + 1, k * 100000);
        if (system(cmd)) {
            fprintf(stderr, "bench: %s failed (make build/make-index)\n", make_index);
            exit(1);
        }
    }
    double merges[64];
    for (int r = 0; r < (o->runs < 3 ? o->runs : 3); r++) {
        snprintf(cmd, sizeof cmd, "rm -f %s/merged.db*", dbdir);
        if (system(cmd)) exit(1);
        snprintf(cmd, sizeof cmd, "%s index --merge %s/merged.db %s/shard-0.db %s/shard-1.db %s/shard-2.db %s/shard-3.db "
                 "2>/dev/null", o->align, dbdir, dbdir, dbdir, dbdir, dbdir);
        double s = now();
        if (system(cmd)) exit(1);
        merges[r] = now() - s;
    }
    timing m = summarise(merges, o->runs < 3 ? o->runs : 3, 0);
    row("index --merge, 4 x 100,000 rows", m, 0, peak, "target <= 10 s");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dbdir);
    if (system(cmd)) exit(1);
}

/* A misspelt option would otherwise run the whole benchmark with the defaults. */
static int usage(const char *arg)
{
    fprintf(stderr, "bench: '%s': expected --model DIR, --runs N, --threads N, --align PATH or --make-index PATH\n",
            arg);
    return 2;
}

int main(int argc, char **argv)
{
    align_blas_reexec(argv);
    bench_opts o = {"build/align-base-random", "build/align", "tests/fixtures/images/cat.jpg", "build/make-index", 5, 0};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) return fprintf(stderr, "bench: %s needs a value\n", argv[i]), 2;
        if (strcmp(argv[i], "--model") == 0) o.model = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0) o.runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) o.threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--align") == 0) o.align = argv[i + 1];
        else if (strcmp(argv[i], "--make-index") == 0) o.make_index = argv[i + 1];
        else return usage(argv[i]);
    }
    if (o.runs < 1 || o.runs > 60) o.runs = 5;
    char make_index[4096];
    if (!strcmp(o.make_index, "build/make-index") && strrchr(o.align, '/')) { /* beside align, by default */
        snprintf(make_index, sizeof make_index, "%.*s/make-index", (int)(strrchr(o.align, '/') - o.align), o.align);
        o.make_index = make_index;
    }
    int threads = o.threads ? o.threads : align_cpu_count();
    openblas_set_num_threads(threads); /* for the peak only: the model runs OpenBLAS single-threaded */
    char cfg_path[4096], st_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", o.model);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", o.model);
    align_config cfg;
    align_error err;
    if (config_read(cfg_path, &cfg, &err)) return fprintf(stderr, "bench: %s (make random-model)\n", err.message), 1;
    const kernel_table *isa;
    if (kernel_table_choose(getenv("ALIGN_ISA"), "ALIGN_ISA", &isa, &err)) return fprintf(stderr, "bench: %s\n", err.message), 1;
    struct stat st;
    double file_mb = stat(st_path, &st) == 0 ? st.st_size / 1048576.0 : 0;

    double peak = sgemm_peak();
    /* after the peak: loading a model makes OpenBLAS single-threaded */
    double vis = vision_gflop(&cfg, 289, 289), per_label[10], txt10 = 0;
    labels_gflop(&o, &cfg, ten_labels, 10, per_label);
    for (int i = 0; i < 10; i++) txt10 += per_label[i];
    double txt2 = per_label[0] + per_label[1];
    printf("align bench, %s, OpenBLAS %s kernel, %d threads, model %s (%.0f MB)\n", ALIGN_VERSION,
           align_blas_core(), threads, o.model, file_mb);
    printf("sgemm peak (2048^3, same threads): %.1f GFLOP/s; vision %.2f GFLOP per 289x289 image, text %.3f GFLOP "
           "for the 10 labels\n", peak, vis, txt10);
    printf("page cache: %.0f of the %.0f MB of weights in 2 MB pages\n", huge_mapped_mb(st_path), file_mb);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("CPU %s; hot loops at ISA level %s (the CPU's, capped by ALIGN_ISA)\n\n", cpu, isa->isa);
    printf("| %-36s | %8s | %8s | %7s | %6s | %7s |\n", "scenario", "median ms", "min ms", "GFLOP/s", "of peak", "RSS MB");
    printf("|%.38s|%.10s|%.10s|%.9s|%.8s|%.9s|\n", "--------------------------------------", "----------",
           "----------", "---------", "--------", "---------");

    char *labels = labels_file(), threads_s[16];
    snprintf(threads_s, sizeof threads_s, "%d", threads);
    /* the classify scenarios time both towers, as the reference's runs did: no label cache */
    char *cli2[] = {(char *)o.align, "classify", "-q", "--no-cache", "--threads", threads_s, "-m", (char *)o.model, (char *)o.image,
                    (char *)ten_labels[0], (char *)ten_labels[1], NULL};
    timing c2 = command(o.runs, cli2);
    row("align classify, 1 image x 2 labels", c2, vis + txt2, peak, "");
    char *cli10[] = {(char *)o.align, "classify", "-q", "--no-cache", "--threads", threads_s, "-m", (char *)o.model, "--labels", labels,
                     (char *)o.image, NULL};
    timing c10 = command(o.runs, cli10);
    row("align classify, 1 image x 10 labels", c10, vis + txt10, peak, "");
    work w = {&o, 1, 0};
    /* each load in a fresh process, as a user's run has it: nothing faulted in yet */
    double loads[64];
    long load_rss = 0;
    for (int r = 0; r < o.runs; r++) {
        timing one = in_child(1, 0, run_load, &w);
        loads[r] = one.median;
        load_rss = one.max_rss_kb > load_rss ? one.max_rss_kb : load_rss;
    }
    timing ld = summarise(loads, o.runs, load_rss);
    row("model load (fresh process)", ld, 0, peak, "");
    timing v1 = in_child(o.runs, 1, run_vision, &w);
    row("vision tower, batch 1 (per image)", v1, vis, peak, "");
    w.n_images = 8;
    timing v8 = in_child(o.runs, 1, run_vision, &w);
    row("vision tower, batch 8 (per image)", v8, vis, peak, "");
    timing tx = in_child(o.runs, 1, run_text, &w);
    row("text tower, 10 labels", tx, txt10, peak, "");
    char *cli8[64] = {(char *)o.align, "classify", "-q", "--no-cache", "--threads", threads_s, "-m", (char *)o.model, "--labels", labels};
    int k = 10;
    for (int i = 0; i < 8; i++) cli8[k++] = (char *)o.image;
    cli8[k] = NULL;
    timing c8 = command(o.runs, cli8);
    row("align classify, 8 images x 10 labels", c8, 8 * vis + txt10, peak, "");
    for (int i = 8; i < 32; i++) cli8[k++] = (char *)o.image;
    cli8[k] = NULL;
    timing c32 = command(o.runs < 3 ? o.runs : 3, cli8);
    char ips[64];
    snprintf(ips, sizeof ips, "%.2f images/s", 32 / c32.median);
    row("align classify, 32 images x 10 labels", c32, 32 * vis + txt10, peak, ips);
    collections(&o, threads_s, labels, c32, vis, peak);
    scale_out(&o, threads_s, peak, vis);
    unlink(labels);
    products_floor f1 = vision_products_floor(&cfg, 1, threads), f8 = vision_products_floor(&cfg, 8, threads);
    printf("\nthe vision tower's 1x1 products alone (%.2f of its %.2f GFLOP an image), each timed by OpenBLAS on hot\n"
           "operands, one thread's best divided among %d: %.1f ms an image as at batch 1 (%.0f%% of peak), %.1f ms at\n"
           "batch 8 (%.0f%%); the tower beyond its products: %.1f ms at batch 1, %.1f ms at batch 8\n",
           f1.gflop, vis, threads, f1.seconds * 1e3, 100 * f1.gflop / f1.seconds / peak, f8.seconds * 1e3,
           100 * f8.gflop / f8.seconds / peak, (v1.median - f1.seconds) * 1e3, (v8.median - f8.seconds) * 1e3);

    printf("\nagainst Hugging Face transformers + PyTorch 1.13, measured on an AVX-512 machine of this project's type\n"
           "(2 threads, issue 8): on another CPU these ratios compare different machines\n");
    printf("  1 image x 2 labels incl. load: %.2f s vs 1.11 s: %.1fx faster\n", c2.median, 1.11 / c2.median);
    printf("  1 image x 10 labels incl. load: %.2f s vs 2.54 s: %.1fx faster\n", c10.median, 2.54 / c10.median);
    printf("  8 images x 10 labels: %.2f s vs 5.20 s: %.1fx the throughput\n", c8.median, 5.20 / c8.median);
    printf("  model load: %.0f%% of the 1 image x 2 labels process time\n", 100 * ld.median / c2.median);
    printf("  peak RSS, 1 image x 10 labels: %.0f MB, %.2fx the weight file\n", c10.max_rss_kb / 1024.0,
           c10.max_rss_kb / 1024.0 / file_mb);
    openblas_set_num_threads(threads);
    printf("\nsgemm peak measured again at the end: %.1f GFLOP/s (the ratios above use the first, %.1f)\n",
           sgemm_peak(), peak);
    config_free(&cfg);
    return 0;
}
