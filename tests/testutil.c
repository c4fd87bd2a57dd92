/* Helpers shared by the tests: fixture paths, golden JSON tensors, scratch files, running the CLI. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "test.h"

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int measured_blas_period(void)
{
    int period = blas_row_period(align_blas_core());
    if (!period) test_skip("OpenBLAS's %s kernel is not measured (lib/cpu.h)", align_blas_core());
    return period;
}

static const char *rotate(const char *fmt, const char *a, const char *b)
{
    static char bufs[8][4096];
    static int next;
    char *buf = bufs[next++ % 8];
    snprintf(buf, sizeof bufs[0], fmt, a, b);
    return buf;
}

const char *fixture(const char *rel)
{
    const char *dir = getenv("ALIGN_FIXTURES");
    return rotate("%s/%s", dir ? dir : "tests/fixtures", rel);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = n;
    return buf;
}

uint8_t *read_fixture_bytes(const char *path, size_t *n)
{
    size_t len = 0;
    char *p = slurp(path, &len);
    if (!p) test_fail_at(__FILE__, __LINE__, "cannot read %s", path);
    *n = len;
    return (uint8_t *)p;
}

int load_ppm(const char *path, align_image *img)
{
    size_t n;
    uint8_t *p = read_fixture_bytes(path, &n);
    int w, h, maxval, off = 0;
    memset(img, 0, sizeof *img);
    if (!p || sscanf((const char *)p, "P6 %d %d %d%n", &w, &h, &maxval, &off) != 3 || maxval != 255 ||
        w <= 0 || h <= 0 || (size_t)off + 1 + (size_t)w * h * 3 != n) {
        test_fail_at(__FILE__, __LINE__, "%s: not a binary 8-bit PPM", path);
        free(p);
        return 0;
    }
    img->width = w;
    img->height = h;
    img->rgb = malloc((size_t)w * h * 3);
    memcpy(img->rgb, p + off + 1, (size_t)w * h * 3);
    free(p);
    return 1;
}

cJSON *load_json(const char *path)
{
    char *text = slurp(path, NULL);
    if (!text) {
        test_fail_at(__FILE__, __LINE__, "cannot read %s", path);
        return NULL;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) test_fail_at(__FILE__, __LINE__, "cannot parse %s", path);
    return j;
}

float *json_tensor(const cJSON *t, size_t *n)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
    int count = cJSON_GetArraySize(data);
    float *out = malloc(sizeof(float) * (size_t)(count ? count : 1));
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, data) out[i++] = (float)v->valuedouble;
    if (n) *n = (size_t)count;
    return out;
}

int json_tensor_dim(const cJSON *t, int i)
{
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "shape"), i);
    return d ? d->valueint : -1;
}

double test_check_close(const char *file, int line, const char *what, const float *a, const float *b,
                        size_t n, double tol)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) d = INFINITY;
        if (d > worst) {
            worst = d;
            at = i;
        }
    }
    if (worst > tol)
        test_fail_at(file, line, "%s: max |diff| %.3g at [%zu] (%.9g vs %.9g), tolerance %.3g", what,
                     worst, at, (double)a[at], (double)b[at], tol);
    return worst;
}

static char tmpdir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    /* a test may have taken permissions away to make a file unreadable; chmod follows links,
     * so links (to fixtures) are left alone */
    if (flag != FTW_SL) chmod(path, 0700);
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0] && !getenv("ALIGN_KEEP_TMP")) nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/align-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *tmp_path(const char *fmt, ...)
{
    static char bufs[16][1024];
    static int next;
    char name[512], *b = bufs[next++ % 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(b, sizeof bufs[0], "%s/%s", test_tmpdir(), name);
    return b;
}

const char *write_tmp(const char *name, const void *data, size_t size)
{
    const char *path = rotate("%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) test_fail_at(__FILE__, __LINE__, "cannot write %s", path);
    if (f) fclose(f);
    return path;
}

run_result run_cmd(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd - 64, fmt, ap);
    va_end(ap);
    static int serial;
    char out_path[512], err_path[512], full[sizeof cmd + 1200];
    snprintf(out_path, sizeof out_path, "%s/run%d.out", test_tmpdir(), serial);
    snprintf(err_path, sizeof err_path, "%s/run%d.err", test_tmpdir(), serial++);
    /* the commands' label cache goes to the scratch directory, never the user's */
    char cache[300];
    snprintf(cache, sizeof cache, "%s/xdg-cache", test_tmpdir());
    setenv("XDG_CACHE_HOME", cache, 1);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>'%s'", cmd, out_path, err_path);
    run_result r = {0};
    int st = system(full);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r.out = slurp(out_path, &r.out_len);
    r.err = slurp(err_path, &r.err_len);
    if (!r.out) r.out = calloc(1, 1);
    if (!r.err) r.err = calloc(1, 1);
    return r;
}

void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

const char *align_bin(void)
{
    /* absolute, so that a test may cd elsewhere first */
    static char path[4096];
    if (!path[0]) {
        const char *b = getenv("ALIGN_BIN");
        if (!realpath(b ? b : "build/align", path)) snprintf(path, sizeof path, "%s", b ? b : "build/align");
    }
    return path;
}
