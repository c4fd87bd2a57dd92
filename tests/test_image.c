/* Image decoding and preprocessing against the fixtures made with Hugging Face's own code, and
 * against Pillow 9.4 (Debian's python3-pil) where the numbers are quoted below. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builders.h"
#include "kernel_levels.h"
#include "kernels.h"
#include "preprocess.h"
#include "resample.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static int load_ok(const void *data, size_t n, const char *name, align_image *img)
{
    align_error err = {0};
    align_status s = align_image_load_memory(data, n, name, NULL, img, &err);
    CHECK_MSG(s == ALIGN_OK, "%s: %s", name, err.message);
    return s == ALIGN_OK;
}

/* Expects failure with this code and a message that names the input and contains text. */
static void expect_error(align_status s, const align_error *err, align_status code, const char *name,
                         const char *text)
{
    CHECK_INT(s, code);
    CHECK_INT(err->code, code);
    CHECK_CONTAINS(err->message, name);
    CHECK_CONTAINS(err->message, text);
}

static void expect_pixels(const align_image *img, int w, int h, const uint8_t *rgb, const char *what)
{
    CHECK_MSG(img->width == w && img->height == h, "%s: %d x %d, expected %d x %d", what, img->width,
              img->height, w, h);
    if (img->width == w && img->height == h)
        CHECK_MSG(!memcmp(img->rgb, rgb, (size_t)w * h * 3), "%s: pixels differ", what);
}

/* ---- decoding the fixture images -------------------------------------------------------------- */

static const char *const fixture_images[] = {"cat.jpg", "coffee_progressive.jpg", "astronaut.png",
                                             "logo_rgba.png", "camera_gray.png", "chelsea_palette.png",
                                             "rocket.bmp", "odd_37x23.png", "cat_exif_rot.jpg"};

static const char *decoded_ppm(const char *image)
{
    static char path[256];
    char base[128];
    snprintf(base, sizeof base, "%s", strrchr(image, '/') ? strrchr(image, '/') + 1 : image);
    *strrchr(base, '.') = 0;
    snprintf(path, sizeof path, "images/decoded/%s.ppm", base);
    return fixture(path);
}

TEST(image_decode_fixtures)
{
    cJSON *meta = load_json(fixture("images/images.json"));
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(meta, "images");
    for (size_t i = 0; i < sizeof fixture_images / sizeof fixture_images[0]; i++) {
        const char *name = fixture_images[i];
        char rel[128];
        snprintf(rel, sizeof rel, "images/%s", name);
        align_image img, ref;
        align_error err = {0};
        align_status s = align_image_load(fixture(rel), NULL, &img, &err);
        CHECK_MSG(s == ALIGN_OK, "%s: %s", name, err.message);
        if (s) continue;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(images, name),
                                                              "decoded_size_wh");
        CHECK_INT(img.width, cJSON_GetArrayItem(size, 0)->valueint);
        CHECK_INT(img.height, cJSON_GetArrayItem(size, 1)->valueint);
        if (load_ppm(decoded_ppm(name), &ref) && ref.width == img.width && ref.height == img.height) {
            size_t n = (size_t)img.width * img.height * 3, differ = 0;
            int worst = 0;
            for (size_t k = 0; k < n; k++) {
                int d = abs(img.rgb[k] - ref.rgb[k]);
                differ += d != 0;
                if (d > worst) worst = d;
            }
            /* JPEG too: libjpeg-turbo with PIL's settings gives PIL's pixels */
            CHECK_MSG(differ == 0, "%s: %zu values differ from PIL's, max %d", name, differ, worst);
        }
        align_image_free(&img);
        align_image_free(&ref);
    }
    cJSON_Delete(meta);
}

/* ---- EXIF orientation ------------------------------------------------------------------------- */

static int orientation_of(const align_image *plain, const align_image *img)
{
    /* which of PIL's eight transposes turns plain into img (0 when none does) */
    int w = plain->width, h = plain->height;
    for (int o = 1; o <= 8; o++) {
        int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h, same = img->width == ow && img->height == oh;
        for (int y = 0; same && y < oh; y++) {
            for (int x = 0; same && x < ow; x++) {
                int sx, sy;
                switch (o) {
                case 1: sx = x, sy = y; break;
                case 2: sx = w - 1 - x, sy = y; break;
                case 3: sx = w - 1 - x, sy = h - 1 - y; break;
                case 4: sx = x, sy = h - 1 - y; break;
                case 5: sx = y, sy = x; break;
                case 6: sx = y, sy = h - 1 - x; break;
                case 7: sx = w - 1 - y, sy = h - 1 - x; break;
                default: sx = w - 1 - y, sy = x; break;
                }
                const uint8_t *a = img->rgb + ((size_t)y * ow + x) * 3;
                same = !memcmp(a, plain->rgb + ((size_t)sy * w + sx) * 3, 3);
            }
        }
        if (same) return o;
    }
    return 0;
}

static int decoded_orientation(const uint8_t *jpeg, size_t n, const align_image *plain, const buf *app1,
                               const char *what)
{
    buf file = jpeg_with_app1(jpeg, n, app1->p, app1->n);
    align_image img;
    int o = load_ok(file.p, file.n, what, &img) ? orientation_of(plain, &img) : -1;
    align_image_free(&img);
    free(file.p);
    return o;
}

TEST(image_exif_orientations)
{
    size_t n;
    uint8_t *jpeg = read_fixture_bytes(fixture("images/cat.jpg"), &n);
    align_image plain;
    if (!jpeg || !load_ok(jpeg, n, "cat.jpg", &plain)) return;
    CHECK_INT(plain.width, 180);
    for (int little = 0; little <= 1; little++) {
        for (unsigned o = 1; o <= 8; o++) {
            ifd_entry e[] = {{0x010f, 2, 4, 0}, {0x0112, 3, 1, o}, {0x011a, 5, 1, 100}};
            buf app1 = exif_block(little, e, 3, 3, 8);
            char what[64];
            snprintf(what, sizeof what, "orientation %u (%s)", o, little ? "II" : "MM");
            CHECK_MSG(decoded_orientation(jpeg, n, &plain, &app1, what) == (int)o, "%s", what);
            free(app1.p);
        }
    }
    /* the fixture's own EXIF: PIL's decode is 60 x 90 from a 90 x 60 JPEG */
    align_image rot;
    align_error err;
    if (align_image_load(fixture("images/cat_exif_rot.jpg"), NULL, &rot, &err) == ALIGN_OK) {
        CHECK_INT(rot.width, 60);
        CHECK_INT(rot.height, 90);
        align_image_free(&rot);
    }
    align_image_free(&plain);
    free(jpeg);
}

/* Malformed or unusual EXIF blocks: PIL's reading of each, and never a read out of bounds. */
TEST(image_exif_hostile)
{
    size_t n;
    uint8_t *jpeg = read_fixture_bytes(fixture("images/cat.jpg"), &n);
    align_image plain;
    if (!jpeg || !load_ok(jpeg, n, "cat.jpg", &plain)) return;
    struct {
        const char *what;
        int little;
        ifd_entry e[3];
        int n;
        unsigned count_field;
        uint32_t ifd_offset;
        int expect;
    } cases[] = {
        {"LONG value", 1, {{0x0112, 4, 1, 6}}, 1, 1, 8, 6},
        {"BYTE value", 0, {{0x0112, 1, 1, 3}}, 1, 1, 8, 1}, /* bytes in PIL: never equal to 3 */
        {"value 9 is not an orientation", 1, {{0x0112, 3, 1, 9}}, 1, 1, 8, 1},
        {"value 0", 0, {{0x0112, 3, 1, 0}}, 1, 1, 8, 1},
        {"two values", 1, {{0x0112, 3, 2, 6}}, 1, 1, 8, 6}, /* the first counts */
        {"rational type", 1, {{0x0112, 5, 1, 6}}, 1, 1, 8, 1},
        {"unknown type skipped", 1, {{0x0112, 3, 1, 8}, {0x0112, 99, 1, 6}}, 2, 2, 8, 8},
        {"last duplicate wins", 0, {{0x0112, 3, 1, 6}, {0x0112, 3, 1, 3}}, 2, 2, 8, 3},
        {"IFD offset past the end", 1, {{0x0112, 3, 1, 6}}, 1, 1, 0xfffffff0u, 1},
        {"IFD offset at the end", 1, {{0x0112, 3, 1, 6}}, 1, 1, 22, 1},
        {"entry count past the end", 0, {{0x0112, 3, 1, 6}}, 1, 0xffff, 8, 6},
        {"no entries", 1, {{0}}, 0, 0, 8, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf app1 = exif_block(cases[i].little, cases[i].e, cases[i].n, cases[i].count_field,
                              cases[i].ifd_offset);
        int o = decoded_orientation(jpeg, n, &plain, &app1, cases[i].what);
        CHECK_MSG(o == cases[i].expect, "%s: orientation %d, expected %d", cases[i].what, o, cases[i].expect);
        free(app1.p);
    }

    ifd_entry six = {0x0112, 3, 1, 6}, three = {0x0112, 3, 1, 3};
    buf good = exif_block(1, &six, 1, 1, 8);
    /* "Exif\0" + a byte other than NUL: PIL keeps the segment but cannot parse it */
    good.p[5] = 'X';
    CHECK_INT(decoded_orientation(jpeg, n, &plain, &good, "Exif\\0X"), 1);
    good.p[5] = 0;
    /* cut inside the TIFF header, and inside the entry */
    for (size_t cut = 6; cut < good.n; cut += 3) {
        buf part = {good.p, cut, cut};
        int o = decoded_orientation(jpeg, n, &plain, &part, "cut EXIF");
        CHECK_MSG(o == (cut >= 6 + 10 + 12 ? 6 : 1), "EXIF cut at %zu: orientation %d", cut, o);
    }
    /* PIL keeps the first Exif APP1 */
    buf second = exif_block(1, &three, 1, 1, 8);
    buf once = jpeg_with_app1(jpeg, n, second.p, second.n);
    buf twice = jpeg_with_app1(once.p, once.n, good.p, good.n);
    align_image img;
    if (load_ok(twice.p, twice.n, "two APP1", &img)) CHECK_INT(orientation_of(&plain, &img), 6);
    align_image_free(&img);
    free(once.p), free(twice.p), free(second.p), free(good.p);
    align_image_free(&plain);
    free(jpeg);
}

TEST(image_png_exif)
{
    /* 3 x 2 RGB, orientation in an eXIf chunk before and after IDAT (Pillow reads both) */
    uint8_t rows[2 * (1 + 9)] = {0};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 9; k++) rows[i * 10 + 1 + k] = (uint8_t)(i * 9 + k) * 10;
    ifd_entry e = {0x0112, 3, 1, 6};
    buf exif = exif_block(0, &e, 1, 1, 8), chunk = {0};
    png_chunk(&chunk, "eXIf", exif.p + 6, exif.n - 6);
    buf before = png_file(3, 2, 8, 2, rows, sizeof rows, &chunk);
    buf plain = png_file(3, 2, 8, 2, rows, sizeof rows, NULL);
    buf after = {0};
    put(&after, plain.p, plain.n - 12);
    put(&after, chunk.p, chunk.n);
    put(&after, plain.p + plain.n - 12, 12);
    align_image a, b, c;
    if (load_ok(plain.p, plain.n, "plain.png", &a)) {
        if (load_ok(before.p, before.n, "before.png", &b)) CHECK_INT(orientation_of(&a, &b), 6);
        if (load_ok(after.p, after.n, "after.png", &c)) CHECK_INT(orientation_of(&a, &c), 6);
    }
    align_image_free(&a), align_image_free(&b), align_image_free(&c);
    free(exif.p), free(chunk.p), free(before.p), free(plain.p), free(after.p);
}

/* ---- PNG, PNM, GIF, BMP and TGA variants ------------------------------------------------------ */

/* Expected values are what Pillow 9.4's Image.open(...).convert("RGB") gives for the same files. */
TEST(image_png_variants)
{
    static const unsigned v16[8] = {0, 1, 255, 256, 257, 1000, 32768, 65535};
    /* 16-bit grey is PIL mode "I": convert("RGB") clips the value at 255 */
    static const uint8_t grey16[8] = {0, 1, 255, 255, 255, 255, 255, 255};
    /* 16-bit RGB, grey+alpha and RGBA keep the high byte */
    static const uint8_t high16[8] = {0, 0, 0, 1, 1, 3, 128, 255};
    static const int channels[7] = {1, 0, 3, 0, 2, 0, 4};
    for (int ctype = 0; ctype <= 6; ctype += 2) {
        buf rows = {0};
        put8(&rows, 0);
        for (int i = 0; i < 8; i++)
            for (int c = 0; c < channels[ctype]; c++) put16be(&rows, v16[i]);
        buf png = png_file(8, 1, 16, ctype, rows.p, rows.n, NULL);
        uint8_t expect[24];
        for (int i = 0; i < 24; i++) expect[i] = ctype == 0 ? grey16[i / 3] : high16[i / 3];
        align_image img;
        char what[32];
        snprintf(what, sizeof what, "16-bit colour type %d", ctype);
        if (load_ok(png.p, png.n, what, &img)) expect_pixels(&img, 8, 1, expect, what);
        align_image_free(&img);
        free(rows.p), free(png.p);
    }

    /* RGBA: alpha is dropped, not blended */
    uint8_t rgba_rows[] = {0, 10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255};
    uint8_t rgba_expect[] = {10, 20, 30, 200, 100, 50, 1, 2, 3};
    /* grey + alpha */
    uint8_t la_rows[] = {0, 7, 0, 250, 99};
    uint8_t la_expect[] = {7, 7, 7, 250, 250, 250};
    /* 2-bit grey: 0, 1, 2, 3 -> 0, 85, 170, 255 */
    uint8_t g2_rows[] = {0, 0x1b};
    uint8_t g2_expect[] = {0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255};
    struct {
        const char *what;
        int w, depth, ctype;
        uint8_t *rows;
        size_t n;
        const uint8_t *expect;
    } cases[] = {
        {"RGBA", 3, 8, 6, rgba_rows, sizeof rgba_rows, rgba_expect},
        {"grey+alpha", 2, 8, 4, la_rows, sizeof la_rows, la_expect},
        {"2-bit grey", 4, 2, 0, g2_rows, sizeof g2_rows, g2_expect},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf png = png_file(cases[i].w, 1, cases[i].depth, cases[i].ctype, cases[i].rows, cases[i].n, NULL);
        align_image img;
        if (load_ok(png.p, png.n, cases[i].what, &img))
            expect_pixels(&img, cases[i].w, 1, cases[i].expect, cases[i].what);
        align_image_free(&img);
        free(png.p);
    }

    /* 2-bit palette with a tRNS chunk: the palette colours, transparency ignored */
    buf extra = {0};
    uint8_t plte[] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}, trns[] = {0, 128};
    png_chunk(&extra, "PLTE", plte, sizeof plte);
    png_chunk(&extra, "tRNS", trns, sizeof trns);
    buf pal = png_file(4, 1, 2, 3, g2_rows, sizeof g2_rows, &extra);
    align_image img;
    if (load_ok(pal.p, pal.n, "palette", &img)) expect_pixels(&img, 4, 1, plte, "palette + tRNS");
    align_image_free(&img);

    /* PIL reads a PNG cut after its image data (no IEND, a partial IEND or CRC); so does this */
    align_image whole;
    if (load_ok(pal.p, pal.n, "whole", &whole)) {
        for (size_t cut = 1; cut <= 16; cut++) {
            char what[32];
            snprintf(what, sizeof what, "PNG less %zu bytes", cut);
            if (load_ok(pal.p, pal.n - cut, what, &img)) expect_pixels(&img, 4, 1, whole.rgb, what);
            align_image_free(&img);
        }
    }
    align_image_free(&whole);
    free(extra.p), free(pal.p);
}

TEST(image_pnm_variants)
{
    /* Pillow scales samples by 255 / maxval with Python's round (half to even): 76.5 -> 76 */
#define BYTES(s) s, sizeof s - 1
    static const struct {
        const char *what, *data;
        size_t n;
        uint8_t expect[6];
        int w;
    } cases[] = {
        {"P5 maxval 15", BYTES("P5 3 1 15\n\x00\x07\x0f"), {0, 119, 255}, 3},
        {"P6 maxval 100", BYTES("P6\n# comment\n2 1\n100\n\x00\x32\x64\x0a\x14\x1e"),
         {0, 128, 255, 26, 51, 76}, 2},
        /* 16-bit grey is PIL mode "I": clipped at 255 */
        {"P5 maxval 65535", BYTES("P5 3 1 65535\n\x00\x00\x01\x00\xff\xff"), {0, 255, 255}, 3},
        {"P6 maxval 65535", BYTES("P6 2 1 65535\n\x00\x00\x01\x00\xff\xff\x03\xe8\x75\x30\x02\x00"),
         {0, 1, 255, 4, 117, 2}, 2},
    };
#undef BYTES
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t expect[18];
        int grey = cases[i].data[1] == '5';
        for (int k = 0; k < cases[i].w * 3; k++)
            expect[k] = grey ? cases[i].expect[k / 3] : cases[i].expect[k];
        align_image img;
        if (load_ok(cases[i].data, cases[i].n, cases[i].what, &img))
            expect_pixels(&img, cases[i].w, 1, expect, cases[i].what);
        align_image_free(&img);
    }
}

/* A GIF whose image data is LZW with a clear code before every pixel, so no code table builds up
 * and every code keeps min_code_size + 1 bits. The palette has four entries. */
static buf gif_file(int cw, int ch, const uint8_t *global, int background, int transparent,
                    const uint8_t *local, int x, int y, int w, int h, const uint8_t *pixels)
{
    buf b = {0}, codes = {0};
    put(&b, "GIF89a", 6);
    put16le(&b, cw), put16le(&b, ch), put8(&b, global ? 0x81 : 0), put8(&b, background), put8(&b, 0);
    if (global) put(&b, global, 12);
    if (transparent >= 0) put(&b, "\x21\xf9\x04\x01\x00\x00", 6), put8(&b, transparent), put8(&b, 0);
    put8(&b, 0x2c), put16le(&b, x), put16le(&b, y), put16le(&b, w), put16le(&b, h);
    put8(&b, local ? 0x81 : 0);
    if (local) put(&b, local, 12);
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i <= w * h; i++) {
        unsigned pair = i < w * h ? 4u | (unsigned)pixels[i] << 3 : 5u; /* clear + pixel, or end */
        acc |= pair << bits;
        bits += i < w * h ? 6 : 3;
        while (bits >= 8) put8(&codes, acc & 255), acc >>= 8, bits -= 8;
    }
    if (bits) put8(&codes, acc);
    put8(&b, 2);
    for (size_t at = 0; at < codes.n; at += 255) {
        size_t len = codes.n - at > 255 ? 255 : codes.n - at;
        put8(&b, (unsigned)len), put(&b, codes.p + at, len);
    }
    put8(&b, 0), put8(&b, 0x3b);
    free(codes.p);
    return b;
}

TEST(image_gif_first_frame)
{
    static const uint8_t G[12] = {10, 20, 30, 200, 100, 50, 0, 255, 0, 250, 250, 250};
    static const uint8_t L[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13};
    static const uint8_t frame[4] = {0, 1, 2, 3};
#define RGB(pal, i) pal[3 * (i)], pal[3 * (i) + 1], pal[3 * (i) + 2]
    /* 4 x 3 canvas, 2 x 2 frame at (1, 1). Pillow fills the canvas with the transparent index (or
     * index 0) and shows transparent pixels in their palette colour; stb_image alone would give
     * black or the background colour there. */
    struct { const char *what; int bg, transparent; const uint8_t *local; uint8_t expect[36]; } cases[] = {
        {"no transparency, background 2", 2, -1, NULL,
         {RGB(G, 0), RGB(G, 0), RGB(G, 0), RGB(G, 0), RGB(G, 0), RGB(G, 0), RGB(G, 1), RGB(G, 0),
          RGB(G, 0), RGB(G, 2), RGB(G, 3), RGB(G, 0)}},
        {"transparent index 1", 2, 1, NULL,
         {RGB(G, 1), RGB(G, 1), RGB(G, 1), RGB(G, 1), RGB(G, 1), RGB(G, 0), RGB(G, 1), RGB(G, 1),
          RGB(G, 1), RGB(G, 2), RGB(G, 3), RGB(G, 1)}},
        {"local palette, transparent index 2", 2, 2, L,
         {RGB(L, 2), RGB(L, 2), RGB(L, 2), RGB(L, 2), RGB(L, 2), RGB(L, 0), RGB(L, 1), RGB(L, 2),
          RGB(L, 2), RGB(L, 2), RGB(L, 3), RGB(L, 2)}},
    };
#undef RGB
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf gif = gif_file(4, 3, G, cases[i].bg, cases[i].transparent, cases[i].local, 1, 1, 2, 2, frame);
        align_image img;
        if (load_ok(gif.p, gif.n, cases[i].what, &img))
            expect_pixels(&img, 4, 3, cases[i].expect, cases[i].what);
        align_image_free(&img);
        free(gif.p);
    }
}

TEST(image_bmp_tga_lossless)
{
    uint8_t rgb[7 * 5 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37 + 11);
    buf bmp = bmp_file(7, 5, rgb), tga = tga_file(7, 5, rgb);
    align_image img;
    if (load_ok(bmp.p, bmp.n, "7x5.bmp", &img)) expect_pixels(&img, 7, 5, rgb, "BMP");
    align_image_free(&img);
    if (load_ok(tga.p, tga.n, "7x5.tga", &img)) expect_pixels(&img, 7, 5, rgb, "TGA");
    align_image_free(&img);
    free(bmp.p), free(tga.p);
}

/* ---- resizing --------------------------------------------------------------------------------- */

/* The resize's horizontal pass at this CPU's ISA level, as a loaded model would run it. */
static resample_row_fn cpu_row(void) { return kernel_table_at(kernel_cpu_level())->resample_row; }

static align_image make_image(int w, int h, const uint8_t *rgb)
{
    align_image img = {w, h, malloc((size_t)w * h * 3)};
    memcpy(img.rgb, rgb, (size_t)w * h * 3);
    return img;
}

/* Cases small enough to follow Pillow's arithmetic by hand. */
TEST(image_resize_by_hand)
{
    align_image out;
    align_error err;
    /* box 4 -> 2: each output averages two inputs with weight 2^21 each, plus 2^21 for rounding,
     * shifted right by 22: (a + b + 1) / 2 */
    uint8_t row4[] = {10, 0, 255, 21, 1, 254, 30, 2, 0, 41, 3, 1};
    align_image in = make_image(4, 1, row4);
    if (image_resize(&in, 2, 1, RESAMPLE_BOX, resample_row_reference, &out, &err) == ALIGN_OK) {
        uint8_t expect[] = {16, 1, 255, 36, 3, 1};
        expect_pixels(&out, 2, 1, expect, "box 4->2");
        align_image_free(&out);
    }
    align_image_free(&in);
    /* bilinear 2 -> 3: centres 1/3, 1, 5/3 of a step 2/3; the window [c - 1 + 0.5, c + 1 + 0.5)
     * truncated holds only pixel 0 for the first output, pixels 0 and 1 (weights 1/2, 1/2) for
     * the middle one, only pixel 1 for the last */
    uint8_t row2[] = {0, 100, 7, 255, 101, 8};
    in = make_image(2, 1, row2);
    if (image_resize(&in, 3, 1, RESAMPLE_BILINEAR, resample_row_reference, &out, &err) == ALIGN_OK) {
        uint8_t expect[] = {0, 100, 7, 128, 101, 8, 255, 101, 8};
        expect_pixels(&out, 3, 1, expect, "bilinear 2->3");
        align_image_free(&out);
    }
    /* nearest 2 -> 7: the source position starts at 1/7 and adds 2/7 per pixel; the fourth sum,
     * 1/7 + 3 * 2/7, comes out just below 1 in doubles, so Pillow reads column 0 where the
     * product (3 + 0.5) * 2/7 would give exactly 1 */
    uint8_t black_white[] = {0, 0, 0, 255, 255, 255};
    align_image bw = make_image(2, 1, black_white);
    if (image_resize(&bw, 7, 1, RESAMPLE_NEAREST, resample_row_reference, &out, &err) == ALIGN_OK) {
        static const int col[7] = {0, 0, 0, 0, 1, 1, 1};
        for (int x = 0; x < 7; x++) CHECK_MSG(out.rgb[3 * x] == 255 * col[x], "nearest 2->7: pixel %d", x);
        align_image_free(&out);
    }
    bw.width = 1, bw.height = 2; /* the same pixels as a column: 2 -> 15 reads row 0 eight times */
    if (image_resize(&bw, 1, 15, RESAMPLE_NEAREST, resample_row_reference, &out, &err) == ALIGN_OK) {
        for (int y = 0; y < 15; y++)
            CHECK_MSG(out.rgb[3 * y] == (y < 8 ? 0 : 255), "nearest 2->15: row %d", y);
        align_image_free(&out);
    }
    align_image_free(&bw);
    /* the same size is a copy, whatever the filter */
    for (int f = 0; f <= 5; f++) {
        if (image_resize(&in, 2, 1, f, resample_row_reference, &out, &err) == ALIGN_OK)
            expect_pixels(&out, 2, 1, row2, "same size");
        align_image_free(&out);
    }
    align_image_free(&in);
}

static uint8_t hexval(char c) { return (uint8_t)(c <= '9' ? c - '0' : c - 'a' + 10); }

/* Pillow 9.4's Image.resize((w, h), resample=f) of the pattern below, for f = 0..5, as hex. */
TEST(image_resize_filters_pillow)
{
    static const struct { int iw, ih, ow, oh; const char *hex[6]; } cases[] = {
        {5, 4, 3, 2, {
            "617500cbf1ff3565742397ff8d13aef7875c",
            "5f7a457bbb75666c7d919b7c7c5cb3988db9",
            "5c7d537aad7770717b87987f7d62a79b8cb3",
            "5a7b4c7bb8756b6e798c9a807c5aad9d8db9",
            "4c7d489be9806b71738e9f965d0b91ad93c3",
            "4a7a5586c677716d6986998b713fa0ad8cb9"}},
        {5, 4, 7, 5, {
            "0064ff3583003583006ae0009f7bff9f7bffd4540061750096941d96941dcbf1ff008c"
            "57008c57356574c28600f7a5fff7a5ff2c0274619dae619dae9676ffc28600f7a5fff7"
            "a5ff2c0274619dae619dae9676ff2397ff58b65758b6578d13aec2aeffc2aefff7875c",
            "0063ff15688841a40061db00939feac95cabe25200336f5a436f1892b932c0ffbf4fb4"
            "ae316358675e41af7a00db9339de96da7c7ad619916d1c868f486ae8908557c6b6ada8"
            "72d2370070656dafb4a9e4c575d11591ff2ebd9c6487409618b4b682ffe2b0b4fe8140",
            "0064ff1e766d449e006ae0009098b6b66a92d4540044704c62822d88aa42aeecb354a4"
            "95477671656051927e00b09052b1939b7c7aba468d9248849a666eba928b4cb09d96a3"
            "7bb84907856f76b39591cab37bce2397ff41a99f6787708d13aeb382e8d99db9f7875c",
            "0061ff166e753f9e0066df009498d7c262a3de51003d6d485879158eaf37bbfdc148a9"
            "99336d645e5d4b9e7c00c59145c796b37c7ac6309082328595596ccd998a48c4a9a4af"
            "7cd03c007a6977b39f9dd8bb7ad81996ff35b49b638d579114b1b888fee1a8bcfe864c",
            "0064ff3583003583006ae0009f7bff9f7bffd4540061750096941d96941dcbf1ff008c"
            "57008c57356574c28600f7a5fff7a5ff2c0274619dae619dae9676ffc28600f7a5fff7"
            "a5ff2c0274619dae619dae9676ff2397ff58b65758b6578d13aec2aeffc2aefff7875c",
            "0064ff2379563b8d006ae0009986e3b16ea9d4540055732078881b909c2fbfefdf2695"
            "78267d6a496366927e00b5935ebf99937c7aba399289438895666ebaae8820d19da6d1"
            "95de38047b678eb27f92c9a278eb2397ff46ac905ea4608d13aebc9df6d4a1c8f7875c"}},
        {23, 19, 4, 3, {
            "8d13aecb57b80953c24707ccd3790a11bd284fb9468d6d6419df66572398951fcad3d3fc",
            "7c9b9579779a7781a87a7da284769c8291b07f81b27c7ba98173a6876fb28887a48591bc",
            "7d9197797d9d7780a9797ca482799b808ca77f82af7f7ea98279a78770b08886a9848fb8",
            "7d969579799a7681a97a7ca283779a8190ab7f81b27e7da88177a7886db18888a68591bb",
            "7e8f8b7570907289a97c7c9d807b968197b0827bbb7f7ca6817a9e866aab8a909f8692c2",
            "808e977878997580ad7a7ca38175977e97a38081b3817da3807da88866b08a8ca68494b9"}},
    };
    static const char *const names[6] = {"nearest", "lanczos", "bilinear", "bicubic", "box", "hamming"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int iw = cases[i].iw, ih = cases[i].ih, ow = cases[i].ow, oh = cases[i].oh;
        align_image in = {iw, ih, malloc((size_t)iw * ih * 3)};
        for (int y = 0; y < ih; y++) {
            for (int x = 0; x < iw; x++) {
                uint8_t *p = in.rgb + ((size_t)y * iw + x) * 3;
                p[0] = (uint8_t)((x * 53 + y * 97) % 256);
                p[1] = (uint8_t)((x * x * 31 + y * 17 + 100) % 256);
                p[2] = (uint8_t)((x + y) % 3 == 0 ? 255 : (x * y * 29) % 256);
            }
        }
        for (int f = 0; f <= 5; f++) {
            uint8_t expect[4096];
            const char *hex = cases[i].hex[f];
            for (int k = 0; k < ow * oh * 3; k++)
                expect[k] = (uint8_t)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
            for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
                const kernel_table *kt = *t;
                align_image out;
                align_error err = {0};
                char what[80];
                snprintf(what, sizeof what, "%s %dx%d -> %dx%d at %s", names[f], iw, ih, ow, oh, kt->isa);
                CHECK_MSG(image_resize(&in, ow, oh, f, kt->resample_row, &out, &err) == ALIGN_OK, "%s: %s", what,
                          err.message);
                expect_pixels(&out, ow, oh, expect, what);
                align_image_free(&out);
            }
        }
        align_image_free(&in);
    }
}

/* ---- preprocessing against the fixtures ------------------------------------------------------- */

typedef struct {
    size_t n, differ;
    double worst;
} diff_stats;

static diff_stats compare(const float *a, const float *b, size_t n)
{
    diff_stats d = {n, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        d.differ += e != 0;
        if (e > d.worst) d.worst = e;
    }
    return d;
}

/* One 8-bit input level, as a distance between output values. */
static double level_step(const preprocess_config *cfg)
{
    double step = cfg->do_rescale ? cfg->rescale_factor : 1.0, smallest = cfg->image_std[0];
    for (int c = 1; c < 3; c++)
        if (cfg->image_std[c] < smallest) smallest = cfg->image_std[c];
    if (cfg->do_normalize) step /= smallest;
    if (cfg->include_top) step /= smallest;
    return step;
}

/* HWC -> the CHW layout of pixel_values. */
static void to_chw(const float *hwc, int w, int h, float *chw)
{
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++) chw[(size_t)c * w * h + i] = hwc[(size_t)i * 3 + c];
}

static void check_model_fixtures(const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/preprocessor_config.json", model);
    preprocess_config cfg;
    align_error err = {0};
    CHECK_MSG(preprocess_config_read(fixture(rel), &cfg, &err) == ALIGN_OK, "%s", err.message);
    double step = level_step(&cfg);
    snprintf(rel, sizeof rel, "%s/expected.json", model);
    cJSON *exp = load_json(fixture(rel));
    const cJSON *c;
    size_t ppm_differ = 0, ppm_total = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(exp, "cases")) {
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(c, "pixel_values");
        float *want = json_tensor(pv, NULL);
        int oh = json_tensor_dim(pv, 2), ow = json_tensor_dim(pv, 3), i = 0;
        const cJSON *file;
        cJSON_ArrayForEach(file, cJSON_GetObjectItemCaseSensitive(c, "images")) {
            const char *name = file->valuestring;
            const cJSON *detail = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "image_details"), i);
            const float *want_i = want + (size_t)i++ * 3 * ow * oh;
            align_image ppm, dec;
            if (!load_ppm(decoded_ppm(name), &ppm)) continue;

            /* the PIL resize, exactly, at every ISA level */
            const cJSON *resized = cJSON_GetObjectItemCaseSensitive(detail, "resized_uint8");
            size_t rn;
            float *rw = json_tensor(resized, &rn);
            for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
                const kernel_table *kt = *t;
                align_image out;
                if (image_resize(&ppm, cfg.size_w, cfg.size_h, cfg.resample, kt->resample_row, &out, &err) ==
                    ALIGN_OK) {
                    size_t bad = rn != (size_t)out.width * out.height * 3;
                    for (size_t k = 0; !bad && k < rn; k++) bad += out.rgb[k] != (uint8_t)rw[k];
                    CHECK_MSG(!bad, "%s %s: resized pixels differ from PIL's at %s", model, name, kt->isa);
                    align_image_free(&out);
                }
            }

            /* pixel_values from PIL's decode: at most one level apart (and in fact equal) */
            int pw, ph;
            preprocess_output_size(&cfg, ppm.width, ppm.height, &pw, &ph);
            CHECK_MSG(pw == ow && ph == oh, "%s: output %d x %d, expected %d x %d", name, pw, ph, ow, oh);
            float *hwc = malloc(sizeof(float) * 3 * ow * oh), *chw = malloc(sizeof(float) * 3 * ow * oh);

            /* the image fitted (what the CLI holds while it decodes ahead) is PIL's resize, and
             * preprocesses to HF's pixel_values exactly */
            align_image fit;
            if (image_fit(&cfg, cpu_row(), &ppm, &fit, &err) == ALIGN_OK) {
                size_t bad = rn != (size_t)fit.width * fit.height * 3;
                for (size_t k = 0; !bad && k < rn; k++) bad += fit.rgb[k] != (uint8_t)rw[k];
                CHECK_MSG(!bad, "%s %s: the fitted image differs from PIL's resize", model, name);
                if (image_preprocess(&cfg, cpu_row(), &fit, hwc, &err) == ALIGN_OK) {
                    to_chw(hwc, ow, oh, chw);
                    CHECK_MSG(compare(chw, want_i, (size_t)3 * ow * oh).differ == 0,
                              "%s %s: the fitted image preprocesses to other values", model, name);
                }
                align_image_free(&fit);
            } else {
                CHECK_MSG(0, "%s: %s", name, err.message);
            }
            free(rw);
            if (image_preprocess(&cfg, cpu_row(), &ppm, hwc, &err) == ALIGN_OK) {
                to_chw(hwc, ow, oh, chw);
                diff_stats d = compare(chw, want_i, (size_t)3 * ow * oh);
                ppm_differ += d.differ;
                ppm_total += d.n;
                CHECK_MSG(d.worst <= step * 1.0001, "%s %s: max diff %.9g, over one level %.9g", model, name,
                          d.worst, step);
                /* the arithmetic is HF's own, so no value should differ at all */
                CHECK_MSG(d.differ == 0, "%s %s: %zu values differ", model, name, d.differ);
            }

            /* pixel_values from this library's decoder */
            snprintf(rel, sizeof rel, "%s/%s", model, name);
            if (align_image_load(fixture(rel), NULL, &dec, &err) == ALIGN_OK &&
                image_preprocess(&cfg, cpu_row(), &dec, hwc, &err) == ALIGN_OK) {
                to_chw(hwc, ow, oh, chw);
                diff_stats d = compare(chw, want_i, (size_t)3 * ow * oh);
                test_note("%s %s via the decoder: %zu of %zu values differ, max %.3g (%.2f levels)", model,
                          strrchr(name, '/') + 1, d.differ, d.n, d.worst, d.worst / step);
                CHECK_MSG(d.differ == 0, "%s %s: decoder path differs by %.3g", model, name, d.worst);
            } else {
                CHECK_MSG(0, "%s: %s", name, err.message);
            }

            /* and decoded straight to the model's size (a JPEG resized as its rows come) */
            const kernel_table *kt = kernel_table_at(kernel_cpu_level());
            size_t n;
            uint8_t *bytes = read_fixture_bytes(fixture(rel), &n);
            align_image fitted;
            if (bytes &&
                image_load_fitted(&cfg, kt->resample_row, kt->resample_taps, bytes, n, name, NULL, &fitted, &err) ==
                    ALIGN_OK) {
                if (image_preprocess(&cfg, cpu_row(), &fitted, hwc, &err) == ALIGN_OK) {
                    to_chw(hwc, ow, oh, chw);
                    CHECK_MSG(compare(chw, want_i, (size_t)3 * ow * oh).differ == 0,
                              "%s %s: decoded fitted, other values", model, name);
                }
                align_image_free(&fitted);
            } else {
                CHECK_MSG(0, "%s: %s", name, err.message);
            }
            free(bytes);
            free(hwc), free(chw);
            align_image_free(&ppm), align_image_free(&dec);
        }
        free(want);
    }
    test_note("%s from PIL's pixels: %zu of %zu values differ from pixel_values", model, ppm_differ,
              ppm_total);
    cJSON_Delete(exp);
}

TEST(image_preprocess_tiny_a) { check_model_fixtures("tiny-a"); }
TEST(image_preprocess_tiny_b) { check_model_fixtures("tiny-b"); }

/* An image fitted to the model's resize gets the embedding the image gets, bit for bit; a
 * processor that does not resize fits an image to a copy of itself. */
TEST(image_fit_keeps_the_embedding)
{
    align_error err;
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    align_image img, fit;
    if (!m || align_image_load(fixture("images/astronaut.png"), NULL, &img, &err) != ALIGN_OK) {
        align_model_free(m);
        return;
    }
    if (align_image_fit(m, &img, &fit, &err) == ALIGN_OK) {
        /* tiny-a's preprocessor_config.json: size 48 wide, 40 high */
        CHECK_INT(fit.width, 48);
        CHECK_INT(fit.height, 40);
        align_model_info info;
        align_model_get_info(m, &info);
        float *a = malloc(sizeof(float) * info.projection_dim), *b = malloc(sizeof(float) * info.projection_dim);
        CHECK(align_encode_images(m, &img, 1, a, NULL, &err) == ALIGN_OK);
        CHECK(align_encode_images(m, &fit, 1, b, NULL, &err) == ALIGN_OK);
        CHECK_MSG(memcmp(a, b, sizeof(float) * info.projection_dim) == 0, "the fitted image's embedding differs");
        free(a), free(b);
        align_image_free(&fit);
    }
    preprocess_config cfg;
    preprocess_config_default(&cfg);
    cfg.do_resize = 0;
    if (image_fit(&cfg, cpu_row(), &img, &fit, &err) == ALIGN_OK) {
        CHECK(fit.width == img.width && fit.height == img.height);
        CHECK(memcmp(fit.rgb, img.rgb, (size_t)img.width * img.height * 3) == 0);
        align_image_free(&fit);
    }
    align_image fit_none;
    align_image empty = {0};
    CHECK(align_image_fit(m, &empty, &fit_none, &err) == ALIGN_ERR_ARG);
    align_image_free(&img);
    align_model_free(m);
}

/* transformers 4.27's center_crop: offset (in - crop) // 2 inside the image; a smaller image gets
 * (crop - in) // 2 zeros on each side, one row/column short of crop when the difference is odd. */
TEST(image_center_crop_pad)
{
    preprocess_config cfg;
    preprocess_config_default(&cfg);
    cfg.do_resize = 0;
    cfg.do_center_crop = 1;
    cfg.do_normalize = 0;
    cfg.include_top = 0;
    cfg.rescale_offset = 1;
    cfg.rescale_factor = 1 / 127.5;
    /* 3 wide, 2 high, crop 6 x 5: width pads 1 + 1 -> 5, height pads 1 + 1 -> 4 */
    uint8_t rgb[3 * 2 * 3];
    for (int i = 0; i < 18; i++) rgb[i] = (uint8_t)(i * 15);
    align_image in = make_image(3, 2, rgb);
    cfg.crop_w = 6, cfg.crop_h = 5;
    int w, h;
    preprocess_output_size(&cfg, 3, 2, &w, &h);
    CHECK_INT(w, 5);
    CHECK_INT(h, 4);
    float out[5 * 4 * 3];
    align_error err;
    if (image_preprocess(&cfg, cpu_row(), &in, out, &err) == ALIGN_OK) {
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 5; x++) {
                for (int c = 0; c < 3; c++) {
                    int inside = y >= 1 && y <= 2 && x >= 1 && x <= 3;
                    int v = inside ? rgb[((y - 1) * 3 + (x - 1)) * 3 + c] : 0;
                    float want = (float)((v - 127.5) * (1 / 127.5));
                    CHECK_MSG(out[(y * 5 + x) * 3 + c] == want, "pad (%d,%d,%d): %g, expected %g", x, y, c,
                              out[(y * 5 + x) * 3 + c], want);
                }
            }
        }
    }
    /* even difference pads to the full crop; a larger axis crops from (in - crop) // 2 */
    cfg.crop_w = 2, cfg.crop_h = 4;
    preprocess_output_size(&cfg, 3, 2, &w, &h);
    CHECK_INT(w, 2);
    CHECK_INT(h, 4);
    if (image_preprocess(&cfg, cpu_row(), &in, out, &err) == ALIGN_OK) {
        /* row 1 of the output is image row 0; column 0 is image column (3 - 2) // 2 = 0 */
        CHECK(out[0] == -1.0f);
        CHECK(out[(1 * 2 + 0) * 3] == (float)((rgb[0] - 127.5) * (1 / 127.5)));
        CHECK(out[(2 * 2 + 1) * 3 + 2] == (float)((rgb[(1 * 3 + 1) * 3 + 2] - 127.5) * (1 / 127.5)));
    }
    align_image_free(&in);
}

TEST(image_preprocess_config)
{
    preprocess_config cfg;
    align_error err = {0};
    /* a missing file gives EfficientNetImageProcessor's own defaults */
    CHECK_INT(preprocess_config_read(fixture("no-such-dir/preprocessor_config.json"), &cfg, &err), ALIGN_OK);
    CHECK(cfg.do_resize && cfg.size_h == 346 && cfg.size_w == 346 && cfg.resample == RESAMPLE_NEAREST);
    CHECK(!cfg.do_center_crop && cfg.crop_h == 289 && cfg.crop_w == 289);
    CHECK(cfg.do_rescale && !cfg.rescale_offset && cfg.rescale_factor == 1.0 / 255);
    CHECK(cfg.do_normalize && cfg.image_mean[0] == 0.5 && cfg.image_std[2] == 0.5 && cfg.include_top);

    CHECK_INT(preprocess_config_read(fixture("align-base/preprocessor_config.json"), &cfg, &err), ALIGN_OK);
    CHECK(cfg.size_h == 346 && cfg.crop_w == 289 && cfg.resample == RESAMPLE_BILINEAR && cfg.rescale_offset);
    CHECK(cfg.do_center_crop && !cfg.do_normalize && !cfg.include_top);
    int w, h;
    preprocess_output_size(&cfg, 640, 480, &w, &h);
    CHECK(w == 289 && h == 289);

    const char *json = "{\"size\": 40, \"crop_size\": [10, 12], \"image_mean\": 0.25,"
                       " \"image_std\": [1, 2, 4], \"do_center_crop\": true}";
    const char *p = write_tmp("pp_int.json", json, strlen(json));
    CHECK_INT(preprocess_config_read(p, &cfg, &err), ALIGN_OK);
    CHECK(cfg.size_h == 40 && cfg.size_w == 40 && cfg.crop_h == 10 && cfg.crop_w == 12);
    CHECK(cfg.image_mean[1] == 0.25 && cfg.image_std[2] == 4);
    preprocess_output_size(&cfg, 7, 7, &w, &h);
    CHECK(w == 12 && h == 10);

    static const struct { const char *name, *json, *text; } bad[] = {
        {"pp_bad1.json", "{\"resample\": 7}", "resample"},
        {"pp_bad2.json", "{\"size\": {\"height\": 10}}", "size"},
        {"pp_bad3.json", "{\"image_std\": [1, 0, 1]}", "image_std"},
        {"pp_bad4.json", "{\"image_mean\": [1, 2]}", "image_mean"},
        {"pp_bad5.json", "{\"do_resize\": \"yes\"}", "do_resize"},
        {"pp_bad6.json", "{\"crop_size\": {\"height\": 0, \"width\": 5}}", "height"},
        {"pp_bad7.json", "[1, 2]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp(bad[i].name, bad[i].json, strlen(bad[i].json));
        align_status s = preprocess_config_read(p, &cfg, &err);
        CHECK_MSG(s == ALIGN_ERR_CONFIG || s == ALIGN_ERR_FORMAT, "%s: status %d", bad[i].name, s);
        CHECK_CONTAINS(err.message, bad[i].name);
        CHECK_CONTAINS(err.message, bad[i].text);
    }
}

/* ---- hostile inputs --------------------------------------------------------------------------- */

static void expect_file_error(const char *path, align_status code, const char *text)
{
    align_image img;
    align_error err = {0};
    align_status s = align_image_load(path, NULL, &img, &err);
    expect_error(s, &err, code, path, text);
    CHECK(img.rgb == NULL);
    align_image_free(&img);
}

static void expect_memory_error(const void *data, size_t n, const char *name, align_status code,
                                const char *text, uint64_t max_pixels)
{
    align_image img;
    align_error err = {0};
    align_decode_options opts = {max_pixels};
    align_status s = align_image_load_memory(data, n, name, &opts, &img, &err);
    expect_error(s, &err, code, name, text);
    CHECK(img.rgb == NULL);
}

TEST(image_hostile_inputs)
{
    expect_file_error(write_tmp("empty.jpg", "", 0), ALIGN_ERR_FORMAT, "empty");
    expect_memory_error("", 0, "mem.png", ALIGN_ERR_FORMAT, "empty", 0);
    const char *garbage = "this is not an image, only some words.";
    expect_file_error(write_tmp("x.jpg", garbage, strlen(garbage)), ALIGN_ERR_FORMAT,
                      "not an image (unknown format)");
    expect_memory_error("II*\0\x08\0\0\0\0\0", 10, "scan.tif", ALIGN_ERR_FORMAT, "corrupt TIFF image", 0);
    expect_memory_error("RIFF\0\0\0\0WEBPVP8 ", 16, "a.webp", ALIGN_ERR_FORMAT, "WebP", 0);
    /* what phones write and Pillow 9.4 cannot open either is named: the brand after an ISO media
     * file's "ftyp" (the box's size before it is anything) */
    static const struct {
        const char *head, *name;
    } named[] = {{"\0\0\0\x18" "ftypheic", "(HEIC)"}, {"\0\0\0\x1c" "ftypheix", "(HEIC)"},
                 {"\0\0\0\x20" "ftypmif1", "(HEIF)"}, {"\0\0\0\x1c" "ftypavif", "(AVIF)"},
                 {"\0\0\0\x0cJXL \r\n\x87\n", "(JPEG XL)"},
                 {"\xff\x0a\xfa\x7f\x01\x90\x08\x06\x01\0\x48\0", "(JPEG XL)"},
                 {"8BPS\0\x02\0\0\0\0\0\0", "(PSB, the large-document PSD)"},
                 /* and what another plugin of Pillow's claims only to name it */
                 {"\0\0\1\xb3\x14\0\xf0\x13\0\0\0\0", "(MPEG)"},
                 {"\xd7\xcd\xc6\x9a\0\0\0\0\0\0\0\0", "(WMF)"}, {"\x89HDF\r\n\x1a\n\0\0\0\0", "(HDF5)"}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        uint8_t head[64] = {0};
        memcpy(head, named[i].head, 12);
        char want[64];
        snprintf(want, sizeof want, "unsupported image format %s", named[i].name);
        expect_memory_error(head, sizeof head, "IMG_0001", ALIGN_ERR_FORMAT, want, 0);
    }

    /* JPEG 2000's two signatures, then nothing: PIL's header walk finds no JP2 header box, and a
     * SIZ marker of zero length */
    uint8_t j2[64] = {0};
    memcpy(j2, "\0\0\0\x0cjP  \r\n\x87\n", 12);
    expect_memory_error(j2, sizeof j2, "a.jp2", ALIGN_ERR_FORMAT, "a.jp2: corrupt JPEG 2000 image (unreadable JP2 header)", 0);
    memcpy(j2, "\xffO\xffQ", 4);
    expect_memory_error(j2, sizeof j2, "a.j2k", ALIGN_ERR_FORMAT, "a.j2k: corrupt JPEG 2000 image (unreadable SIZ marker)", 0);

    size_t pn, jn;
    uint8_t *png = read_fixture_bytes(fixture("images/astronaut.png"), &pn);
    uint8_t *jpg = read_fixture_bytes(fixture("images/cat.jpg"), &jn);
    if (!png || !jpg) return;
    /* truncated inside the image data; JPEGs without their end marker */
    expect_file_error(write_tmp("half.png", png, pn / 2), ALIGN_ERR_FORMAT, "truncated PNG (image data cut short)");
    expect_file_error(write_tmp("header.png", png, 40), ALIGN_ERR_FORMAT, "truncated PNG (it ends before its image data)");
    /* a chunk typed "X" and three NULs: refused as Pillow refuses a type of other than four letters,
     * digits or _, the type not quoted (stb_image's message would have held its bytes up to the
     * first NUL) */
    if (pn > 33 + 16) {
        uint8_t *odd = malloc(pn + 12);
        memcpy(odd, png, 33);
        memcpy(odd + 33, "\0\0\0\0X\0\0\0\0\0\0\0", 12);
        memcpy(odd + 45, png + 33, pn - 33);
        expect_memory_error(odd, pn + 12, "odd-chunk.png", ALIGN_ERR_FORMAT,
                            "corrupt PNG image (a chunk type that is not four letters)", 0);
        free(odd);
    }
    expect_file_error(write_tmp("half.jpg", jpg, jn / 2), ALIGN_ERR_FORMAT, "truncated JPEG");
    expect_file_error(write_tmp("noeoi.jpg", jpg, jn - 2), ALIGN_ERR_FORMAT, "truncated JPEG");
    expect_memory_error(jpg, 200, "head.jpg", ALIGN_ERR_FORMAT, "JPEG", 0);
    /* a progressive JPEG whose last scan comes 1,001 times more: every scan passes over the whole
     * image, so scans are capped (PIL would grind through them) */
    size_t qn;
    uint8_t *prog = read_fixture_bytes(fixture("images/coffee_progressive.jpg"), &qn);
    if (prog) {
        size_t last = 0;
        for (size_t k = 0; k + 1 < qn; k++)
            if (prog[k] == 0xff && prog[k + 1] == 0xda) last = k;
        buf many = {0};
        put(&many, prog, qn - 2);
        for (int k = 0; k < 1001; k++) put(&many, prog + last, qn - 2 - last);
        put(&many, "\xff\xd9", 2);
        expect_memory_error(many.p, many.n, "scans.jpg", ALIGN_ERR_FORMAT, "more than 1000 scans", 0);
        free(many.p);
        free(prog);
    }
    expect_memory_error("P6 4 4 255\n\x01\x02\x03", 14, "short.ppm", ALIGN_ERR_FORMAT, "truncated PNM", 0);
    expect_memory_error("P6 4 4 0\n\x01\x02\x03", 12, "zero.ppm", ALIGN_ERR_FORMAT, "PNM", 0);
    uint8_t rgb[8 * 8 * 3] = {0};
    buf bmp = bmp_file(8, 8, rgb);
    expect_memory_error(bmp.p, bmp.n - 20, "short.bmp", ALIGN_ERR_FORMAT, "truncated BMP", 0);
    free(bmp.p);

    /* sizes over the limit are refused from the header, before anything is allocated (under
     * AddressSanitizer a 30 GB request would abort the run) */
    uint8_t huge_png[33];
    memcpy(huge_png, png, 33);
    uint8_t dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0}; /* 100000 x 100000 */
    memcpy(huge_png + 16, dims, 8);
    uint32_t crc = crc32_of(huge_png + 12, 17, 0);
    for (int k = 0; k < 4; k++) huge_png[29 + k] = (uint8_t)(crc >> (24 - 8 * k));
    expect_memory_error(huge_png, sizeof huge_png, "huge.png", ALIGN_ERR_LIMIT, "100000 x 100000", 0);
    uint8_t *huge_jpg = malloc(jn);
    memcpy(huge_jpg, jpg, jn);
    for (size_t k = 2; k + 9 < jn; k++) {
        if (huge_jpg[k] == 0xff && (huge_jpg[k + 1] == 0xc0 || huge_jpg[k + 1] == 0xc2)) {
            /* 60000 x 60000: libjpeg itself refuses a side over 65500 */
            memcpy(huge_jpg + k + 5, "\xea\x60\xea\x60", 4);
            break;
        }
    }
    expect_memory_error(huge_jpg, jn, "huge.jpg", ALIGN_ERR_LIMIT, "60000 x 60000", 0);
    expect_memory_error(png, pn, "astronaut.png", ALIGN_ERR_LIMIT,
                        "128 x 128 pixels is over the limit of 16383", 16383);
    /* the default is where PIL refuses, twice its MAX_IMAGE_PIXELS (it only warns above that): a
     * header of 9500 x 9500 (90,250,000 pixels) is past its warning and within the default, so
     * the file is read until its pixels run out, and 13380 x 13375 (178,957,500) is refused */
    const char *warned = "P5 9500 9500 255\n\1\2\3";
    expect_memory_error(warned, strlen(warned), "scan.pgm", ALIGN_ERR_FORMAT, "truncated PNM", 0);
    const char *refused = "P5 13380 13375 255\n\1\2\3";
    expect_memory_error(refused, strlen(refused), "scan.pgm", ALIGN_ERR_LIMIT,
                        "13380 x 13375 pixels is over the limit of 178956970", 0);
    align_image img;
    align_error err;
    align_decode_options exact = {128 * 128};
    CHECK_INT(align_image_load_memory(png, pn, "astronaut.png", &exact, &img, &err), ALIGN_OK);
    align_image_free(&img);
    free(huge_jpg);

    /* not regular files */
    expect_file_error(test_tmpdir(), ALIGN_ERR_IO, "is a directory");
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/pipe.png", test_tmpdir());
    if (mkfifo(fifo, 0600) == 0) expect_file_error(fifo, ALIGN_ERR_IO, "not a regular file");
    else test_fail_at(__FILE__, __LINE__, "mkfifo: %s", strerror(errno));
    char missing[512];
    snprintf(missing, sizeof missing, "%s/missing.jpg", test_tmpdir());
    expect_file_error(missing, ALIGN_ERR_IO, "No such file");
    const char *locked = write_tmp("locked.png", png, pn);
    chmod(locked, 0);
    if (geteuid() == 0) {
        /* root reads whatever the mode says; a path through a regular file still cannot open */
        test_note("running as root: a mode-000 file is readable, checking ENOTDIR instead");
        char through[600];
        snprintf(through, sizeof through, "%s/inside.png", locked);
        expect_file_error(through, ALIGN_ERR_IO, "Not a directory");
    } else {
        expect_file_error(locked, ALIGN_ERR_IO, "Permission denied");
    }

    /* bad arguments */
    CHECK_INT(align_image_load(NULL, NULL, &img, &err), ALIGN_ERR_ARG);
    CHECK_INT(align_image_load_memory(NULL, 10, NULL, NULL, &img, &err), ALIGN_ERR_ARG);
    CHECK_CONTAINS(err.message, "(image)");
    free(png), free(jpg);
}

/* The kernel's transparent huge page mode, "always", "madvise" or "never" ("never" where it has none). */
static const char *thp_mode(char *buf, size_t size)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return "never";
    const char *mode = "never";
    if (fgets(buf, (int)size, f)) { /* "always [madvise] never": the mode in brackets */
        char *open = strchr(buf, '['), *close = open ? strchr(open, ']') : NULL;
        if (close) *close = 0, mode = open + 1;
    }
    fclose(f);
    return mode;
}

/* A large image's pixels are asked to be huge pages before the decoder writes them (memory.h): a
 * 3000 x 3000 PPM already in memory decodes into 27 MB with far fewer page faults than its 6,592
 * 4 KB pages (14 as 2 MB pages, where the kernel gives them on request). */
TEST(large_images_are_decoded_into_huge_pages)
{
    if (test_skip_under_emulation("the page faults are the emulator's")) return;
    char line[128];
    const char *mode = thp_mode(line, sizeof line);
    if (strcmp(mode, "never") == 0) {
        test_skip("this kernel gives no transparent huge pages");
        return;
    }
#ifdef UNDER_ASAN
    test_skip("under AddressSanitizer, whose allocator and shadow memory fault pages of their own");
    return;
#endif
    enum { SIDE = 3000 };
    buf ppm = ppm_file(SIDE);
    struct rusage before, after;
    align_image img;
    align_error err;
    getrusage(RUSAGE_SELF, &before);
    align_status s = align_image_load_memory(ppm.p, ppm.n, "photo.ppm", NULL, &img, &err);
    getrusage(RUSAGE_SELF, &after);
    CHECK_MSG(s == ALIGN_OK, "%s", err.message);
    long faults = after.ru_minflt - before.ru_minflt, pages = (long)SIDE * SIDE * 3 / 4096;
    test_note("transparent huge pages: %s; %ld page faults for %ld 4 KB pages of pixels", mode, faults, pages);
    CHECK_MSG(faults < pages / 4, "%ld page faults decoding %ld pages of pixels", faults, pages);
    align_image_free(&img);
    free(ppm.p);
}
