/* make-index: writes a synthetic align index of N random normalised embeddings, for benchmarking
 * search and merge at sizes no test folder has (100,000 and 1,000,000 images).
 *
 *     build/make-index OUT.db N (--model DIR | --model-id ID [--dim D]) [--seed S] [--first K]
 *
 * The index carries the identity of the model in DIR (so that align search with that model takes
 * it), or the given identity and length (default 640). Paths look like a photo library's,
 * photos/NNNN/IMG_NNNNNNN.jpg, numbered from K (default 0; shards to merge take disjoint ranges).
 * The file is built under OUT.db.tmp and renamed when complete. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "align.h"

#define BATCH 10000

static const char usage[] =
    "usage: make-index OUT.db N (--model DIR | --model-id ID [--dim D]) [--seed S] [--first K]\n";

/* xorshift64*: a fast stream of uniform doubles in [-1, 1) */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (double)((*s * 0x2545f4914f6cdd1dull) >> 11) / 4503599627370496.0 - 1;
}

static void random_unit(uint64_t *s, float *v, int dim)
{
    double ss = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = (float)uniform(s);
        ss += (double)v[i] * v[i];
    }
    for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(ss));
}

static int fill(align_index *ix, long first, long n, int dim, uint64_t seed, align_error *err)
{
    float *e = malloc(sizeof(float) * BATCH * (size_t)dim);
    align_index_row *rows = calloc(BATCH, sizeof *rows);
    char(*paths)[64] = malloc(sizeof *paths * BATCH);
    if (!e || !rows || !paths) return fprintf(stderr, "make-index: out of memory\n"), 1;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 88172645463325252ull;
    int rc = 0;
    for (long at = 0; at < n && !rc; at += BATCH) {
        int k = n - at < BATCH ? (int)(n - at) : BATCH;
        for (int i = 0; i < k; i++) {
            long id = first + at + i;
            snprintf(paths[i], sizeof paths[i], "photos/%04ld/IMG_%07ld.jpg", id / 1000, id);
            random_unit(&s, e + (size_t)i * dim, dim);
            rows[i] = (align_index_row){paths[i], 2000000 + id % 3000000, 1600000000000000000ll + id * 1000000000ll,
                                        e + (size_t)i * dim};
        }
        if (align_index_add(ix, rows, k, err)) {
            fprintf(stderr, "make-index: %s\n", err->message);
            rc = 1;
        }
    }
    free(e);
    free(rows);
    free(paths);
    return rc;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *model_dir = NULL, *model_id = NULL;
    long n = -1, first = 0;
    int dim = 640;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model_dir = argv[++i];
        else if (strcmp(argv[i], "--model-id") == 0 && i + 1 < argc)
            model_id = argv[++i];
        else if (strcmp(argv[i], "--dim") == 0 && i + 1 < argc)
            dim = atoi(argv[++i]);
        else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc)
            first = atol(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else if (argv[i][0] != '-' && n < 0)
            n = atol(argv[i]);
        else
            return fputs(usage, stderr), 1;
    }
    if (!out || n < 0 || first < 0 || !model_dir == !model_id || dim <= 0) return fputs(usage, stderr), 1;
    align_error err;
    char id[64];
    if (model_dir) {
        align_model *m = align_model_load(model_dir, &err);
        if (!m) return fprintf(stderr, "make-index: %s\n", err.message), 1;
        align_model_info info;
        align_model_get_info(m, &info);
        snprintf(id, sizeof id, "%s", align_model_id(m));
        dim = info.projection_dim;
        align_model_free(m);
        model_id = id;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    /* what an interrupted run left, its journal included */
    static const char *const leftovers[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char stale[4200];
        snprintf(stale, sizeof stale, "%s%s", tmp, leftovers[i]);
        unlink(stale);
    }
    align_index *ix = align_index_open(tmp, model_id, dim, ALIGN_INDEX_CREATE, &err);
    if (!ix) return fprintf(stderr, "make-index: %s\n", err.message), 1;
    int rc = fill(ix, first, n, dim, seed, &err);
    align_index_close(ix);
    if (!rc && rename(tmp, out) != 0) {
        fprintf(stderr, "make-index: cannot rename %s to %s\n", tmp, out);
        rc = 1;
    }
    return rc;
}
