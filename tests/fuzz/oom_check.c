/* oom_check: "out of memory anywhere in the library returns an error", checked allocation by
 * allocation. The library's objects are linked with malloc, calloc, realloc, strdup and mmap
 * wrapped (ld --wrap), so only the library's own calls can be made to fail, not those inside
 * OpenBLAS or libc. Each operation below runs once to count its allocations; then, for every k,
 * a child process runs it again with the k-th allocation failing and must return an error (one
 * line, ALIGN_ERR_NOMEM) or succeed, never crash, and under AddressSanitizer leak nothing and
 * touch nothing it freed.
 *
 *     make oom-check [OOM_OPS="config tokenizer ..."]     (see tests/fuzz/fuzz.mk)
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"
#include "kernels.h"
#include "preprocess.h"
#include "pytorch.h"
#include "safetensors.h"
#include "tokenizer.h"

/* ---- failing allocations ---------------------------------------------------------------------- */

static long alloc_count, fail_at = -1;
static int failed;         /* an allocation was refused in this run */
static int in_stb, failed_in_stb; /* ... inside stb_image */

static int refuse(void)
{
    if (++alloc_count != fail_at) return 0;
    failed = 1;
    failed_in_stb = in_stb;
    return 1;
}

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
char *__real_strdup(const char *);
void *__real_mmap(void *, size_t, int, int, int, off_t);

void *__wrap_malloc(size_t n)
{
    if (refuse()) return errno = ENOMEM, NULL;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
    if (refuse()) return errno = ENOMEM, NULL;
    return __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (refuse()) return errno = ENOMEM, NULL;
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (refuse()) return errno = ENOMEM, NULL;
    return __real_strdup(s);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (refuse()) return errno = ENOMEM, MAP_FAILED;
    return __real_mmap(addr, len, prot, flags, fd, off);
}

void *oom_stb_malloc(size_t n)
{
    in_stb = 1;
    void *p = __wrap_malloc(n);
    in_stb = 0;
    return p;
}

void *oom_stb_realloc(void *p, size_t n)
{
    in_stb = 1;
    void *q = __wrap_realloc(p, n);
    in_stb = 0;
    return q;
}

void oom_stb_free(void *p) { free(p); }

static int stb_blamed; /* FORMAT errors let through because stb_image's allocation was refused */

/* ---- the operations --------------------------------------------------------------------------- */

static char *fixture_bytes(const char *rel, size_t *len)
{
    long saved = fail_at;
    fail_at = -1; /* the harness's own reads never fail */
    char *p = fuzz_read_fixture(rel, len);
    fail_at = saved;
    return p;
}

/* An operation's outcome: ALIGN_OK, or its error (which must be a one-line NOMEM one when an
 * allocation failed). */
static int expect(align_status s, const align_error *err, const char *what)
{
    if (s == ALIGN_OK) return 0;
    size_t n = strnlen(err->message, sizeof err->message);
    if (n == 0 || n == sizeof err->message || memchr(err->message, '\n', n)) {
        fprintf(stderr, "%s: malformed error message\n", what);
        return 1;
    }
    if (!failed) {
        fprintf(stderr, "%s: fails with no allocation refused: %s\n", what, err->message);
        return 1;
    }
    if (s == ALIGN_ERR_FORMAT && failed_in_stb) {
        stb_blamed = 1;
        return 0;
    }
    if (s != ALIGN_ERR_NOMEM) {
        fprintf(stderr, "%s: a refused allocation reported as %s: %s\n", what, align_status_name(s), err->message);
        return 1;
    }
    return 0;
}

static int op_config(void)
{
    static const char *const files[] = {"tiny-a/config.json", "tiny-b/config.json", "align-base/config.json"};
    int bad = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        char *json = fixture_bytes(files[i], &len);
        align_config cfg;
        align_error err = {0};
        bad |= expect(config_parse(json, len, files[i], &cfg, &err), &err, files[i]);
        config_free(&cfg);
        free(json);
    }
    size_t len;
    char *json = fixture_bytes("tiny-a/tokenizer_config.json", &len);
    tokenizer_config tc;
    align_error err = {0};
    bad |= expect(tokenizer_config_parse(json, len, "tokenizer_config.json", &tc, &err), &err, "tokenizer_config");
    free(json);
    json = fixture_bytes("tiny-b/preprocessor_config.json", &len);
    preprocess_config pc;
    bad |= expect(preprocess_config_parse(json, len, "preprocessor_config.json", &pc, &err), &err, "preprocessor");
    free(json);
    return bad;
}

static int op_tokenizer(void)
{
    size_t len;
    char *vocab = fixture_bytes("vocab.txt", &len);
    align_error err = {0};
    tokenizer *t = tokenizer_from_memory(vocab, len, "vocab.txt", NULL, &err);
    free(vocab);
    if (!t) return expect(err.code ? err.code : ALIGN_ERR_NOMEM, &err, "tokenizer_from_memory");
    static const char *const texts[] = {"a photo of a cat", "Héllo Wörld! İ ΟΔΟΣ 中文 [MASK] unaffable",
                                        "a very long wooooooooooooooooooooooooooooooooooooooooooord indeed"};
    int bad = 0;
    for (size_t i = 0; i < 3; i++) {
        int32_t *ids = NULL;
        size_t n;
        bad |= expect(tokenizer_encode(t, texts[i], strlen(texts[i]), &ids, &n, &err), &err, texts[i]);
        free(ids);
    }
    tokenizer_free(t);
    return bad;
}

static int op_checkpoints(void)
{
    /* tiny-b's pytorch_model.bin would take some 10,000 runs; proto4.pt has every construct */
    static const char *const files[] = {"tiny-a/model.safetensors", "pytorch/proto4.pt"};
    int bad = 0;
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *data = fixture_bytes(files[i], &len);
        tensor_file tf;
        memset(&tf, 0, sizeof tf);
        align_error err = {0};
        align_status s = i == 0 ? safetensors_parse((const uint8_t *)data, len, files[i], &tf, &err)
                                : pytorch_parse((const uint8_t *)data, len, files[i], &tf, &err);
        bad |= expect(s, &err, files[i]);
        tensor_file_free(&tf);
        free(data);
    }
    /* mapping a file and writing one (align convert) */
    char path[4096], out[64];
    snprintf(path, sizeof path, "%s/pytorch/proto4.pt", ALIGN_FUZZ_FIXTURES);
    snprintf(out, sizeof out, "/tmp/align-oom-%ld.safetensors", (long)getpid());
    align_error err = {0};
    bad |= expect(align_convert_checkpoint(path, out, "f16", &err), &err, "convert");
    unlink(out);
    return bad;
}

static int op_images(void)
{
    static const char *const files[] = {"images/cat_exif_rot.jpg", "images/coffee_progressive.jpg",
                                        "images/chelsea_palette.png", "images/camera_gray.png", "images/rocket.bmp",
                                        "formats/webp/animated.webp", "formats/tiff/tiled-planar-deflate.tif",
                                        "formats/tiff/ycbcr-lzw.tif", "formats/png-orientation/raw-profile-ztxt-8.png",
                                        "formats/ico/png-and-dibs.ico", "formats/ico/dib-4.ico",
                                        "formats/psd/with-layers.psd", "formats/psd/lab.psd", "formats/jp2/tiled-8x8.jp2",
                                        "formats/jp2/grey16.j2k", "formats/icns/png-icp5.icns",
                                        "formats/icns/jp2-rgba.icns", "formats/icns/il32-rle.icns",
                                        "formats/dds/dx10-bc7-every-mode.dds", "formats/pcx/dcx-8bit-page.dcx",
                                        "formats/sgi/im-rgba.sgi", "formats/sun/rle24.ras", "formats/msp/lins-40x6.msp",
                                        "formats/xpm/colours-255.xpm", "formats/xbm/pil-13x7.xbm",
                                        "formats/gbr/trailing-data.gbr", "formats/blp/jpeg-cmyk.blp",
                                        "formats/blp/dxt3-alpha-depth.blp", "formats/fli/brun.flc", "formats/im/pil-CMYK.im",
                                        "formats/im/lut-B2-colour.im", "formats/fits/bitpix-minus64.fits",
                                        "formats/spider/stack.spi", "formats/mcidas/i16-prefix-bands2.area",
                                        "formats/imt/grey-13x7.imt", "formats/xvthumb/xv-13x7.xv",
                                        "formats/pcd/gradient.pcd", "formats/eps/imagedata-size.eps"};
    size_t len;
    char *json = fixture_bytes("tiny-a/preprocessor_config.json", &len);
    preprocess_config pc;
    align_error err = {0};
    long saved = fail_at;
    fail_at = -1;
    if (preprocess_config_parse(json, len, "pp", &pc, &err)) abort();
    fail_at = saved;
    free(json);
    int bad = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ALIGN_FUZZ_FIXTURES, files[i]);
        const kernel_table *kt = kernel_table_at(kernel_cpu_level());
        resample_row_fn row = kt->resample_row;
        /* decoded straight to the model's size (a JPEG by rows), then whole */
        char *bytes = fixture_bytes(files[i], &len);
        align_image fitted;
        bad |= expect(image_load_fitted(&pc, row, kt->resample_taps, bytes, len, files[i], NULL, &fitted, &err), &err,
                      files[i]);
        align_image_free(&fitted);
        free(bytes);
        align_image img;
        align_status s = align_image_load(path, NULL, &img, &err);
        bad |= expect(s, &err, files[i]);
        if (s) continue;
        int w, h;
        preprocess_output_size(&pc, img.width, img.height, &w, &h);
        float *px = __real_malloc((size_t)w * h * 3 * sizeof *px);
        bad |= expect(image_preprocess(&pc, row, &img, px, &err), &err, files[i]);
        free(px);
        align_image_free(&img);
    }
    return bad;
}

/* The whole model (the lead's towers included): load tiny-a, encode labels and images. */
static int op_model(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tiny-a", ALIGN_FUZZ_FIXTURES);
    align_error err = {0};
    align_model *m = align_model_load(dir, &err);
    if (!m) return expect(err.code, &err, "align_model_load");
    align_model_set_threads(m, 1);
    int bad = 0;
    const char *labels[] = {"a photo of a cat", "a dog"};
    float text[2 * 64], emb[2 * 64];
    bad |= expect(align_encode_text(m, labels, 2, text, NULL, &err), &err, "align_encode_text");
    char path[4096];
    snprintf(path, sizeof path, "%s/images/odd_37x23.png", ALIGN_FUZZ_FIXTURES);
    align_image imgs[2];
    align_status s = align_image_load(path, NULL, &imgs[0], &err);
    bad |= expect(s, &err, "align_image_load");
    if (!s) {
        imgs[1] = imgs[0];
        bad |= expect(align_encode_images(m, imgs, 2, emb, NULL, &err), &err, "align_encode_images");
        align_image_free(&imgs[0]);
    }
    align_model_free(m);
    return bad;
}

static const struct {
    const char *name;
    int (*fn)(void);
} ops[] = {{"config", op_config},   {"tokenizer", op_tokenizer}, {"checkpoints", op_checkpoints},
           {"images", op_images},   {"model", op_model}};

/* ---- driver ----------------------------------------------------------------------------------- */

/* Runs op in a child with allocation k (0: none) failing; returns the child's wait status. */
static int run_child(int (*fn)(void), long k)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alloc_count = 0;
        fail_at = k ? k : -1;
        exit(fn() ? 1 : stb_blamed ? 3 : 0);
    }
    int st;
    waitpid(pid, &st, 0);
    return st;
}

static long count_allocations(int (*fn)(void))
{
    int fds[2];
    if (pipe(fds)) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        alloc_count = 0;
        int bad = fn();
        fprintf(stderr, "%ld\n", alloc_count);
        exit(bad ? 1 : 0);
    }
    close(fds[1]);
    char buf[256] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return -1;
    return strtol(buf, NULL, 10);
}

int main(int argc, char **argv)
{
    int failures = 0;
    setenv("OPENBLAS_NUM_THREADS", "1", 1); /* a forked child must not need OpenBLAS's threads */
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], ops[i].name) == 0;
        if (!wanted) continue;
        long n = count_allocations(ops[i].fn);
        if (n < 0) {
            printf("%-12s FAILS without any allocation refused\n", ops[i].name);
            failures++;
            continue;
        }
        int bad = 0, stb = 0;
        for (long k = 1; k <= n; k++) {
            int st = run_child(ops[i].fn, k);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
                stb++;
                continue;
            }
            bad++;
            if (WIFSIGNALED(st))
                printf("%-12s allocation %ld of %ld refused: killed by signal %d (%s)\n", ops[i].name, k, n,
                       WTERMSIG(st), strsignal(WTERMSIG(st)));
            else
                printf("%-12s allocation %ld of %ld refused: exit %d (see stderr above)\n", ops[i].name, k, n,
                       WEXITSTATUS(st));
        }
        printf("%-12s %ld allocations, each refused in turn: %s", ops[i].name, n, bad ? "FAILED" : "ok");
        if (stb) printf(" (%d refused inside stb_image came out as format errors: its API cannot tell)", stb);
        printf("\n");
        failures += bad;
    }
    return failures ? 1 : 0;
}
