/* The format corpus against Pillow 9.4 (Debian's python3-pil), byte for byte.
 *
 * tests/fixtures/formats/<format>/ holds small files made by that directory's make.py with the
 * tools Debian has (python3-pil, imagemagick, cwebp, libtiff-tools), each FILE beside one of:
 *   FILE.ppm  what Hugging Face's load_image gives (PIL's exif_transpose, then convert("RGB")),
 *             written by ../expect.py;
 *   FILE.err  for a file Pillow refuses too: text align's one-line message must contain (and for
 *             the few the README lists as refused where Pillow reads them: jp2/'s subsampled).
 * Every file is decoded twice in this process: equal bytes both times, and equal to Pillow's,
 * which was decoded in another, so no pixel may come from memory the file did not define. And
 * decoded straight to a model's size (image_load_fitted, a JPEG resized by rows as they come):
 * Pillow's pixels resized, or refused alike. EPS, which Pillow and align have Ghostscript render,
 * is checked apart, where `gs` is installed. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "preprocess.h"
#include "resample.h"
#include "test.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_corpus_file(const char *name)
{
    return name[0] != '.' && !ends_with(name, ".ppm") && !ends_with(name, ".err") &&
           !ends_with(name, ".py") && !ends_with(name, ".md");
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The two fits: align-base's (bilinear, 346 x 346) and a bicubic shrink to an odd size. */
static preprocess_config fit_config(int which)
{
    preprocess_config cfg;
    preprocess_config_default(&cfg);
    cfg.resample = which ? RESAMPLE_BICUBIC : RESAMPLE_BILINEAR;
    cfg.size_w = which ? 23 : 346;
    cfg.size_h = which ? 17 : 346;
    return cfg;
}

static align_status load_fitted(const char *path, const preprocess_config *cfg, align_image *out, align_error *err)
{
    const kernel_table *kt = kernel_table_at(kernel_cpu_level());
    size_t n;
    uint8_t *bytes = read_fixture_bytes(path, &n);
    align_status s = image_load_fitted(cfg, kt->resample_row, kt->resample_taps, bytes, n, path, NULL, out, err);
    free(bytes);
    return s;
}

/* Decoded fitted: Pillow's pixels through the fit at the reference rows. */
static void expect_fitted(const char *path, const align_image *pillow)
{
    for (int which = 0; which < 2; which++) {
        preprocess_config cfg = fit_config(which);
        align_image want, got;
        align_error err = {0};
        if (image_fit(&cfg, resample_row_reference, pillow, &want, &err) != ALIGN_OK) {
            test_fail_at(__FILE__, __LINE__, "%s: %s", path, err.message);
            continue;
        }
        if (load_fitted(path, &cfg, &got, &err) != ALIGN_OK)
            test_fail_at(__FILE__, __LINE__, "%s fitted: %s", path, err.message);
        else
            CHECK_MSG(memcmp(got.rgb, want.rgb, (size_t)want.width * want.height * 3) == 0,
                      "%s: fitted to %d x %d, the bytes differ from Pillow's pixels resized", path, want.width,
                      want.height);
        align_image_free(&want), align_image_free(&got);
    }
}

/* Whether a JPEG 2000 file's pixels come out of float arithmetic that this machine may round
 * otherwise than the x86-64 machine the PPMs were made on: its COD marker's transform byte says the
 * irreversible 9/7 wavelet, which OpenJPEG computes in floats (Debian's arm64 build contracts them
 * into fused multiply-adds; PIL there links the same library, so its pixels are align's). */
static int float_wavelet(const char *path)
{
#if defined(__x86_64__)
    (void)path;
    return 0;
#else
    size_t n;
    uint8_t *p = read_fixture_bytes(path, &n);
    int irreversible = 0;
    /* COD: the marker, Lcod, Scod, progression, layers (2), MCT, levels, code-block width, height
     * and style, then the transform: 0 for 9/7 */
    if (p && (ends_with(path, ".jp2") || ends_with(path, ".j2k")))
        for (size_t i = 0; i + 14 <= n; i++)
            if (p[i] == 0xff && p[i + 1] == 0x52) {
                irreversible = p[i + 13] == 0;
                break;
            }
    free(p);
    return irreversible;
#endif
}

/* Decodes path twice; both must equal the PPM's pixels (within 1 where float_wavelet). */
static void expect_decoded(const char *path, const char *ppm)
{
    align_image want, got[2] = {{0}};
    if (!load_ppm(ppm, &want)) return;
    int slack = float_wavelet(path);
    for (int i = 0; i < 2; i++) {
        align_error err = {0};
        if (align_image_load(path, NULL, &got[i], &err) != ALIGN_OK) {
            test_fail_at(__FILE__, __LINE__, "%s: %s", path, err.message);
            break;
        }
        size_t bytes = (size_t)want.width * want.height * 3;
        CHECK_MSG(got[i].width == want.width && got[i].height == want.height,
                  "%s: %d x %d, Pillow %d x %d", path, got[i].width, got[i].height, want.width,
                  want.height);
        if (got[i].width != want.width || got[i].height != want.height) break;
        size_t differ = 0;
        for (size_t k = 0; k < bytes; k++) differ += abs(got[i].rgb[k] - want.rgb[k]) > slack;
        CHECK_MSG(differ == 0, "%s: %zu of %zu values differ from Pillow's (decode %d)", path, differ,
                  bytes, i + 1);
    }
    CHECK_MSG(!got[1].rgb || memcmp(got[0].rgb, got[1].rgb, (size_t)got[0].width * got[0].height * 3) == 0,
              "%s: two decodes differ", path);
    /* where this machine's floats round otherwise, the fit is checked against align's own pixels */
    expect_fitted(path, slack && got[0].rgb ? &got[0] : &want);
    align_image_free(&got[0]);
    align_image_free(&got[1]);
    align_image_free(&want);
}

static void expect_refused(const char *path, const char *errfile)
{
    size_t n;
    char *text = (char *)read_fixture_bytes(errfile, &n);
    if (!text) return;
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = 0;
    align_image img;
    align_error err = {0};
    align_status s = align_image_load(path, NULL, &img, &err);
    CHECK_MSG(s != ALIGN_OK, "%s: decoded, but Pillow refuses it", path);
    if (s != ALIGN_OK) {
        CHECK_CONTAINS(err.message, path);
        CHECK_CONTAINS(err.message, text);
        CHECK_MSG(!strchr(err.message, '\n'), "%s: the message is more than one line", path);
    }
    align_image_free(&img);
    preprocess_config cfg = fit_config(0);
    align_error fit_err = {0};
    CHECK_MSG(load_fitted(path, &cfg, &img, &fit_err) == s && !strcmp(fit_err.message, err.message),
              "%s: decoded fitted, \"%s\" against \"%s\"", path, fit_err.message, err.message);
    align_image_free(&img);
    free(text);
}

/* Checks one format's directory; counts its files and the ones decoded. */
static void check_format(const char *dir, const char *format, int *files, int *decoded)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_corpus_file(e->d_name)) continue;
        char path[4400], expected[4500];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        (*files)++;
        snprintf(expected, sizeof expected, "%s.ppm", path);
        if (exists(expected)) {
            (*decoded)++;
            expect_decoded(path, expected);
            continue;
        }
        snprintf(expected, sizeof expected, "%s.err", path);
        if (exists(expected))
            expect_refused(path, expected);
        else
            test_fail_at(__FILE__, __LINE__, "%s/%s: no .ppm or .err beside it", format, e->d_name);
    }
    closedir(d);
}

TEST(formats_corpus_equals_pillow)
{
    if (test_skip_in_a_rerun()) return;
    const char *root = fixture("formats");
    DIR *d = opendir(root);
    CHECK_MSG(d != NULL, "cannot open %s", root);
    if (!d) return;
    int files = 0, decoded = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "eps")) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        int f = 0, ok = 0;
        check_format(dir, e->d_name, &f, &ok);
        if (f) test_note("%s: %d files, %d decoded as Pillow does, %d refused as Pillow does", e->d_name, f, ok, f - ok);
        files += f;
        decoded += ok;
    }
    closedir(d);
    test_note("corpus: %d files, %d decoded", files, decoded);
}

/* Whether `gs` is a program on PATH, where Pillow and align look for it. */
static int ghostscript_installed(void)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char gs[4200];
        snprintf(gs, sizeof gs, "%.*s/gs", (int)len, path);
        if (len && access(gs, X_OK) == 0) return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

TEST(formats_corpus_eps_through_ghostscript)
{
    if (test_skip_in_a_rerun()) return;
    if (!ghostscript_installed()) {
        test_skip("gs (Debian's ghostscript) is not installed: EPS is rendered by it");
        return;
    }
    int files = 0, decoded = 0;
    check_format(fixture("formats/eps"), "eps", &files, &decoded);
    CHECK_MSG(files > 0, "no EPS corpus in %s", fixture("formats/eps"));
    test_note("eps: %d files, %d decoded as Pillow does, %d refused as Pillow does", files, decoded, files - decoded);
}
