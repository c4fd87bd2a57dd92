/* bench-decode: how long align takes to decode a 12-megapixel photo, against stb_image, the decoder
 * align used for JPEG before libjpeg-turbo and still uses for PNG, timed in the same run on the
 * same bytes (issue 17: "never slower than today").
 *
 *     build/bench-decode [--runs N] [--align BIN --model DIR]
 *
 * With --model it also times the photo's fit to the model's resize, the resize's rows at the ISA
 * level the model runs at against Pillow's own loop (the reference), and its decode straight to
 * that size (image_load_fitted, rows resized as they come) against the decode and then the fit,
 * upright and turned by its EXIF orientation; with --align too, `align embed` over a folder of 16
 * such photos, and its peak RSS: what a user's folder of phone photos costs.
 *
 * The photo is made here: smooth gradients with grain, 4000 x 3000, as JPEG (quality 90, 4:2:0,
 * libjpeg-turbo's defaults, as a camera writes) and as PNG (stb_image_write). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <jpeglib.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include "align.h"
#include "kernels.h"
#include "preprocess.h"

enum { W = 4000, H = 3000 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* A photo's statistics, roughly: large smooth areas (cheap to code) and fine grain (not). */
static unsigned char *photo(void)
{
    unsigned char *rgb = malloc((size_t)W * H * 3);
    if (!rgb) return NULL;
    unsigned seed = 12345;
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++) {
            seed = seed * 1103515245u + 12345u;
            int grain = (int)(seed >> 28) - 8;
            unsigned char *p = rgb + (y * W + x) * 3;
            int v[3] = {(int)(x * 255 / W), (int)(y * 255 / H), (int)((x + y) * 127 / (W + H)) + 64};
            for (int c = 0; c < 3; c++) {
                int q = v[c] + grain;
                p[c] = (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    return rgb;
}

static unsigned char *jpeg_of(const unsigned char *rgb, unsigned long *size)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, size);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < H) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * W * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return out;
}

typedef struct {
    unsigned char *data;
    size_t size, cap;
} buffer;

static void append(void *context, void *data, int size)
{
    buffer *b = context;
    if (!b->data && b->cap) return; /* an allocation failed before */
    if (b->size + (size_t)size > b->cap) {
        size_t cap = 2 * (b->size + (size_t)size);
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            free(b->data);
            *b = (buffer){NULL, 0, 1};
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->size, data, (size_t)size);
    b->size += (size_t)size;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of runs decodes by align (which = 0) or by stb_image (which = 1), in seconds. */
static double decode_time(const unsigned char *data, size_t size, int which, int runs)
{
    double t[64];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        if (which == 0) {
            align_image img;
            align_error err;
            if (align_image_load_memory(data, size, "photo", NULL, &img, &err)) {
                fprintf(stderr, "bench-decode: %s\n", err.message);
                exit(1);
            }
            align_image_free(&img);
        } else {
            int w, h, comp;
            unsigned char *px = stbi_load_from_memory(data, (int)size, &w, &h, &comp, 3);
            if (!px) exit(1);
            stbi_image_free(px);
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, by_double);
    return t[runs / 2];
}

static void row(const char *format, const unsigned char *data, size_t size, int runs)
{
    double a = decode_time(data, size, 0, runs), s = decode_time(data, size, 1, runs);
    printf("| %-4s | %7.1f MB | %9.1f | %9.1f | %5.2fx |\n", format, size / 1e6, a * 1e3, s * 1e3, s / a);
}

/* The median seconds of runs fits of img to cfg's resize with rows row. */
static double fit_time(const preprocess_config *cfg, resample_row_fn row, const align_image *img, int runs)
{
    double t[64];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        align_image out;
        align_error err;
        if (image_fit(cfg, row, img, &out, &err)) {
            fprintf(stderr, "bench-decode: %s\n", err.message);
            exit(1);
        }
        align_image_free(&out);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, by_double);
    return t[runs / 2];
}

/* The JPEG with an Exif segment after its start marker asking for orientation o. */
static buffer with_orientation(const unsigned char *jpeg, size_t size, int o)
{
    const unsigned char app1[] = {0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                  1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (unsigned char)o, 0, 0, 0, 0, 0, 0};
    buffer b = {0};
    append(&b, (void *)jpeg, 2);
    append(&b, (void *)app1, sizeof app1);
    append(&b, (void *)(jpeg + 2), (int)(size - 2));
    return b;
}

/* The median seconds of runs decodes of a file straight to cfg's size (fitted), or whole and then
 * fitted, at kt's level. */
static double fitted_time(const preprocess_config *cfg, const kernel_table *kt, const unsigned char *data, size_t size,
                          int fitted, int runs)
{
    double t[64];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        align_image full = {0}, out;
        align_error err;
        align_status s = fitted ? image_load_fitted(cfg, kt->resample_row, kt->resample_taps, data, size, "photo", NULL,
                                                    &out, &err)
                                : align_image_load_memory(data, size, "photo", NULL, &full, &err);
        if (!s && !fitted) s = image_fit(cfg, kt->resample_row, &full, &out, &err);
        if (s) {
            fprintf(stderr, "bench-decode: %s\n", err.message);
            exit(1);
        }
        align_image_free(&full), align_image_free(&out);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, by_double);
    return t[runs / 2];
}

/* The photo fitted to the model's resize (what the align command does to every image it
 * decodes), at the ISA level align runs at (ALIGN_ISA as at load) and by the reference rows. */
static void fit_row(const char *model, const unsigned char *jpeg, size_t size, int runs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", model);
    preprocess_config cfg;
    const kernel_table *kt;
    align_image img;
    align_error err;
    if (preprocess_config_read(path, &cfg, &err) ||
        kernel_table_choose(getenv("ALIGN_ISA"), "ALIGN_ISA", &kt, &err) ||
        align_image_load_memory(jpeg, size, "photo", NULL, &img, &err)) {
        fprintf(stderr, "bench-decode: %s\n", err.message);
        exit(1);
    }
    double tuned = fit_time(&cfg, kt->resample_row, &img, runs);
    double plain = fit_time(&cfg, resample_row_reference, &img, runs);
    printf("\nfitting it to the model's resize (%d x %d), median of %d: %.1f ms at %s, %.1f ms by the reference rows "
           "(Pillow's loop): %.2fx\n",
           cfg.size_w, cfg.size_h, runs, tuned * 1e3, kt->isa, plain * 1e3, plain / tuned);
    align_image_free(&img);
    buffer turned = with_orientation(jpeg, size, 6);
    if (!turned.data) exit(1);
    double up = fitted_time(&cfg, kt, jpeg, size, 1, runs), up_whole = fitted_time(&cfg, kt, jpeg, size, 0, runs);
    double turn = fitted_time(&cfg, kt, turned.data, turned.size, 1, runs),
           turn_whole = fitted_time(&cfg, kt, turned.data, turned.size, 0, runs);
    printf("decoding it straight to that size (what the align command does: rows resized as they are decoded), median "
           "of %d: %.1f ms against %.1f decoded whole then fitted; turned by its EXIF orientation (6) %.1f against "
           "%.1f ms\n",
           runs, up * 1e3, up_whole * 1e3, turn * 1e3, turn_whole * 1e3);
    free(turned.data);
}

enum { PHOTOS = 16 };

/* A directory of PHOTOS copies of the JPEG; its path, or NULL. */
static char *photo_dir(const unsigned char *jpeg, unsigned long size)
{
    static char dir[] = "/tmp/align-bench-photos-XXXXXX";
    if (!mkdtemp(dir)) return NULL;
    for (int i = 0; i < PHOTOS; i++) {
        char path[sizeof dir + 32];
        snprintf(path, sizeof path, "%s/photo%02d.jpg", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jpeg, 1, size, f) != size || fclose(f)) return NULL;
    }
    return dir;
}

/* `align embed` over the folder, runs times: the median seconds and the largest peak RSS (KB). */
static double embed_folder(const char *align, const char *model, const char *dir, int runs, long *rss)
{
    double t[64];
    *rss = 0;
    for (int r = 0; r < runs; r++) {
        fflush(stdout); /* or the child's copy of the buffer is written again */
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null < 0 || dup2(null, 1) < 0) _exit(1);
            execl(align, align, "embed", "-q", "-m", model, dir, (char *)NULL);
            _exit(127);
        }
        int status;
        struct rusage ru;
        if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bench-decode: %s embed failed\n", align);
            exit(1);
        }
        t[r] = now() - t0;
        *rss = ru.ru_maxrss > *rss ? ru.ru_maxrss : *rss;
    }
    qsort(t, (size_t)runs, sizeof *t, by_double);
    return t[runs / 2];
}

static void photo_folder(const char *align, const char *model, const unsigned char *jpeg, unsigned long size)
{
    char *dir = photo_dir(jpeg, size);
    if (!dir) {
        fprintf(stderr, "bench-decode: cannot write the photos\n");
        exit(1);
    }
    long rss;
    double t = embed_folder(align, model, dir, 3, &rss);
    printf("\nalign embed, a folder of %d such JPEGs, median of 3: %.2f s, %.0f ms a photo, peak RSS %.0f MB\n",
           PHOTOS, t, t / PHOTOS * 1e3, rss / 1024.0);
    char path[64];
    for (int i = 0; i < PHOTOS; i++) {
        snprintf(path, sizeof path, "%s/photo%02d.jpg", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* A misspelt option would otherwise run the whole benchmark with the defaults. */
static int usage(const char *arg)
{
    fprintf(stderr, "bench-decode: '%s': expected --runs N, --align PATH or --model DIR\n", arg);
    return 2;
}

int main(int argc, char **argv)
{
    int runs = 5;
    const char *align = NULL, *model = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) return fprintf(stderr, "bench-decode: %s needs a value\n", argv[i]), 2;
        if (strcmp(argv[i], "--runs") == 0) runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--align") == 0) align = argv[i + 1];
        else if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else return usage(argv[i]);
    }
    if (runs < 1 || runs > 64) runs = 5;
#ifdef __GLIBC__
    /* decoding as the align command does (cli/main.c): freed pixels stay in the heap */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_ARENA_MAX, 1);
#endif
    unsigned char *rgb = photo();
    if (!rgb) return fprintf(stderr, "bench-decode: out of memory\n"), 1;
    unsigned long jpeg_size = 0;
    unsigned char *jpeg = jpeg_of(rgb, &jpeg_size);
    buffer png = {0};
    stbi_write_png_to_func(append, &png, W, H, 3, rgb, W * 3);
    free(rgb);
    if (!jpeg || !png.data) return fprintf(stderr, "bench-decode: could not encode the photo\n"), 1;
    printf("\ndecoding a %d x %d photo (12 MP), median of %d, one thread:\n\n", W, H, runs);
    printf("| file | size | align ms | stb_image ms | stb / align |\n|---|---|---|---|---|\n");
    row("JPEG", jpeg, jpeg_size, runs);
    row("PNG", png.data, png.size, runs);
    if (model) fit_row(model, jpeg, jpeg_size, runs);
    if (align && model) photo_folder(align, model, jpeg, jpeg_size);
    free(jpeg);
    free(png.data);
    return 0;
}
