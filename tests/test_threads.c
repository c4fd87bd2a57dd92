/* One model handle serves many threads: concurrent calls give what one call gives alone. */
#include <pthread.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "cpu_count.h"
#include "test.h"

typedef struct {
    align_model *m;
    align_image img;
    float image[40], text[2 * 40];
    align_status s;
} worker_arg;

static const char *const labels[] = {"a photo of a cat", "a photo of a dog"};

static void *work(void *p)
{
    worker_arg *a = p;
    align_error err;
    for (int r = 0; r < 5 && !a->s; r++) {
        a->s = align_encode_images(a->m, &a->img, 1, a->image, NULL, &err);
        if (!a->s) a->s = align_encode_text(a->m, labels, 2, a->text, NULL, &err);
    }
    return NULL;
}

TEST(one_model_serves_many_threads)
{
    align_error err;
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    if (!m) return;
    worker_arg alone = {.m = m}, w[4];
    CHECK(align_image_load(fixture("images/astronaut.png"), NULL, &alone.img, &err) == ALIGN_OK);
    work(&alone);
    CHECK(alone.s == ALIGN_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_arg){.m = m, .img = alone.img};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].s == ALIGN_OK);
        CHECK(memcmp(w[i].image, alone.image, sizeof alone.image) == 0);
        CHECK(memcmp(w[i].text, alone.text, sizeof alone.text) == 0);
    }
    align_image_free(&alone.img);
    align_model_free(m);
}

/* Loading a model stops OpenBLAS's idle server threads; a program that asks OpenBLAS for threads
 * afterwards must still get right answers (it starts them again). */
TEST(blas_still_threads_after_a_model_load)
{
    align_error err;
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    enum { N = 384 };
    static float a[N * N], b[N * N], c[N * N];
    for (int i = 0; i < N * N; i++) a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
    openblas_set_num_threads(2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, b, N, 0, c, N);
    openblas_set_num_threads(1);
    /* small integers: every sum is exact in float, whatever the order */
    int wrong = 0;
    for (int i = 0; i < N; i += 7)
        for (int j = 0; j < N; j += 5) {
            float want = 0;
            for (int k = 0; k < N; k++) want += a[i * N + k] * b[k * N + j];
            wrong += c[i * N + j] != want;
        }
    CHECK_INT(wrong, 0);
    align_model_free(m);
}

/* The thread count a handle uses changes no bit of what it computes, whatever OpenBLAS kernel is
 * loaded (on the AVX2 kernels a product cut by columns would: ops.c); .ci/run runs it under every
 * kernel the machine can (lib/cpu.h, blas_row_period). Slurm's one-CPU shards and a two-thread
 * process must write the same index. */
TEST(thread_count_changes_no_bit)
{
    if (!measured_blas_period()) return;
    align_error err;
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    if (!m) return;
    align_model_info info;
    align_model_get_info(m, &info);
    int d = info.projection_dim;
    align_image img;
    CHECK(align_image_load(fixture("images/astronaut.png"), NULL, &img, &err) == ALIGN_OK);
    /* enough labels that the text tower's products go to OpenBLAS (more than GEMM_DOT_ROWS rows) */
    const char *many[48];
    for (int i = 0; i < 48; i++) many[i] = i % 2 ? "a photo of a small grey cat" : "an astronaut on the moon";
    float *want = malloc(sizeof(float) * 49 * d), *got = malloc(sizeof(float) * 49 * d);
    for (int threads = 1; threads <= 3; threads++) {
        float *out = threads == 1 ? want : got;
        align_model_set_threads(m, threads);
        CHECK(align_encode_images(m, &img, 1, out, NULL, &err) == ALIGN_OK);
        CHECK(align_encode_text(m, many, 48, out + d, NULL, &err) == ALIGN_OK);
        if (threads > 1) CHECK_MSG(memcmp(want, got, sizeof(float) * 49 * d) == 0, "%d threads", threads);
    }
    free(want);
    free(got);
    align_image_free(&img);
    align_model_free(m);
}

/* cgroup v2's cpu.max is "$MAX $PERIOD" ("max" for none), v1's quota file holds -1 for none (the
 * kernel's cgroup documentation); a quota of 1.5 CPUs lets 2 threads run, and the smallest of a
 * cgroup's and its ancestors' holds. */
TEST(cgroup_cpu_quota_reads_v2_and_v1)
{
    const char *root = tmp_path("cgroup");
    run_result r = run_cmd("mkdir -p %s/a/b %s/c/d %s/e %s/cpu", root, root, root, root);
    run_free(&r);
    static const char *const files[][2] = {
        {"a/cpu.max", "150000 100000\n"}, {"a/b/cpu.max", "max 100000\n"},     {"c/cpu.max", "400000 100000\n"},
        {"c/d/cpu.max", "50000 100000\n"}, {"e/cpu.max", "max 100000\n"},       {"cpu/cpu.cfs_quota_us", "300000\n"},
        {"cpu/cpu.cfs_period_us", "100000\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char name[64];
        snprintf(name, sizeof name, "cgroup/%s", files[i][0]);
        write_tmp(name, files[i][1], strlen(files[i][1]));
    }
    CHECK_INT(cgroup_cpu_quota(root, "0::/a/b\n"), 2);
    CHECK_INT(cgroup_cpu_quota(root, "0::/c/d\n"), 1);
    CHECK_INT(cgroup_cpu_quota(root, "0::/e\n"), 0);
    CHECK_INT(cgroup_cpu_quota(root, "0::/\n"), 0);
    /* v1 inside a container: the host's path is not there, the container's own files are */
    CHECK_INT(cgroup_cpu_quota(root, "4:cpu,cpuacct:/docker/0123abc\n"), 3);
    CHECK_INT(cgroup_cpu_quota(root, "3:cpuset:/\n5:cpuacct,cpu:/x"), 3);
    CHECK_INT(cgroup_cpu_quota(root, "3:cpuset:/\n"), 0);
    CHECK_INT(cgroup_cpu_quota(root, "1:cpu:/\n0::/a/b\n"), 2);
    CHECK_INT(cgroup_cpu_quota(root, ""), 0);
    write_tmp("cgroup/cpu/cpu.cfs_quota_us", "-1\n", 3);
    CHECK_INT(cgroup_cpu_quota(root, "4:cpu,cpuacct:/\n"), 0);
}
