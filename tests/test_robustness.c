/* Hostile and broken inputs through the align command: images that are bombs, lies, cut short, not
 * files or not readable; checkpoints whose config.json asks for absurd sizes or whose weight file
 * is shorter than its header says; labels that are not text, too long or too many; output that
 * cannot be written; memory that runs out. Each must end in one line naming the input and the
 * reason, with the documented exit status, and in a batch the other images must still come out. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builders.h"
#include "test.h"

#define A align_bin()

/* ---- helpers ---------------------------------------------------------------------------------- */

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Line i (from 0) of s, copied into a static buffer; "" past the end. */
static const char *line_of(const char *s, size_t i)
{
    static char buf[8192];
    for (; i && *s; s++)
        if (*s == '\n') i--;
    size_t n = strcspn(s, "\n");
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static uint8_t *slurp_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        test_fail_at(__FILE__, __LINE__, "cannot read %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)size + 1);
    if (p && fread(p, 1, (size_t)size, f) != (size_t)size) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)size;
    return p;
}

/* A copy of s that stays valid for the next 63 calls: fixture() and write_tmp() rotate through
 * only 8 buffers, fewer than a batch of images needs. */
static const char *keep(const char *s)
{
    static char bufs[64][1024];
    static int next;
    char *b = bufs[next++ % 64];
    snprintf(b, sizeof bufs[0], "%s", s);
    return b;
}

static const char *fx(const char *rel) { return keep(fixture(rel)); }

/* ---- building small image files --------------------------------------------------------------- */

/* A PNG of 8-bit RGB that declares w x h but carries rows x (1 + 3 * row_w) bytes of image data:
 * filter byte 0 and grey pixels (no IDAT chunk at all when rows is 0). */
static buf png_rgb(uint32_t w, uint32_t h, uint32_t row_w, uint32_t rows)
{
    size_t raw_n = (size_t)rows * (1 + 3 * row_w);
    uint8_t *raw = malloc(raw_n ? raw_n : 1);
    for (size_t i = 0; i < raw_n; i++) raw[i] = i % (1 + 3 * row_w) ? 0x80 : 0;
    buf b = png_file((int)w, (int)h, 8, 2, rows ? raw : NULL, raw_n, NULL);
    free(raw);
    return b;
}

static const char *write_bytes(const char *name, buf *b)
{
    const char *p = keep(write_tmp(name, b->p, b->n));
    free(b->p);
    memset(b, 0, sizeof *b);
    return p;
}

/* An RLE TGA of w x h 32-bit pixels and one packet: 23 bytes that make the decoder allocate
 * w * h * 7 bytes (the unpacked rows, then the RGB image) before it finds the data missing. */
static const char *write_big_rle_tga(const char *name, unsigned w, unsigned h)
{
    uint8_t t[] = {0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)h, (uint8_t)(h >> 8),
                   32, 0x20, 0x80, 1, 2, 3, 4};
    return keep(write_tmp(name, t, sizeof t));
}

/* ---- images ----------------------------------------------------------------------------------- */

/* A run of align classify over these images must print one JSONL record per image, in order, with
 * the errors given exactly, the same lines on stderr, and exit with status 2. */
typedef struct {
    const char *path;
    const char *error; /* NULL: classified */
} expect_image;

static void check_batch(const run_result *r, const expect_image *e, size_t n)
{
    CHECK_INT(r->status, 2);
    CHECK_INT(count_lines(r->out), n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(line_of(r->out, i));
        CHECK_MSG(o != NULL, "record %zu is not JSON: %s", i, line_of(r->out, i));
        if (!o) continue;
        const cJSON *img = cJSON_GetObjectItem(o, "image"), *err = cJSON_GetObjectItem(o, "error");
        CHECK_MSG(cJSON_IsString(img) && strcmp(img->valuestring, e[i].path) == 0, "record %zu is about %s, not %s",
                  i, cJSON_IsString(img) ? img->valuestring : "?", e[i].path);
        if (e[i].error) {
            char want[2048];
            snprintf(want, sizeof want, "%s: %s", e[i].path, e[i].error);
            CHECK_MSG(cJSON_IsString(err) && strcmp(err->valuestring, want) == 0, "record %zu: %s, expected %s", i,
                      cJSON_IsString(err) ? err->valuestring : "(no error)", want);
            snprintf(want, sizeof want, "align: %s: %s", e[i].path, e[i].error);
            CHECK_STR(line_of(r->err, bad), want);
            bad++;
        } else {
            CHECK_MSG(!err && cJSON_GetArraySize(cJSON_GetObjectItem(o, "results")) == 2, "record %zu: %s", i,
                      line_of(r->out, i));
        }
        cJSON_Delete(o);
    }
    CHECK_INT(count_lines(r->err), bad);
}

TEST(robust_bad_images_fail_alone_in_a_batch)
{
    size_t cat_n, png_n, bmp_n;
    uint8_t *cat = slurp_file(fx("images/cat.jpg"), &cat_n);
    uint8_t *png = slurp_file(fx("images/astronaut.png"), &png_n);
    uint8_t *bmp = slurp_file(fx("images/rocket.bmp"), &bmp_n);
    if (!cat || !png || !bmp) return;

    /* a decompression bomb: 45 bytes declaring 10^10 pixels (refused from IHDR, nothing allocated) */
    buf b = png_rgb(100000, 100000, 0, 0);
    const char *bomb = write_bytes("bomb.png", &b);
    /* declared sizes the data does not fill */
    b = png_rgb(64, 64, 8, 8);
    const char *lying_png = write_bytes("lying.png", &b);
    const char *lying_ppm = keep(write_tmp("lying.ppm", "P6 100 100 255\n0123456789ab", 27));
    uint8_t tga[18 + 30] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 100, 0, 24, 0x20};
    const char *lying_tga = keep(write_tmp("lying.tga", tga, sizeof tga));
    uint8_t rle[] = {0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 100, 0, 24, 0x20, 0x85, 0x10, 0x20, 0x30};
    const char *lying_rle = keep(write_tmp("lying_rle.tga", rle, sizeof rle));
    /* cut short */
    const char *half_jpg = keep(write_tmp("half.jpg", cat, cat_n / 2));
    const char *half_png = keep(write_tmp("half.png", png, png_n / 2));
    const char *cut_bmp = keep(write_tmp("cut.bmp", bmp, bmp_n - 100));
    uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 10, 0, 10, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                     ',', 0, 0, 0, 0, 10, 0, 10, 0, 0, 2, 22, 0x8c, 0x2d, 0x99};
    const char *cut_gif = keep(write_tmp("cut.gif", gif, sizeof gif));
    /* not images, not files */
    const char *empty = keep(write_tmp("empty.png", "", 0));
    const char *fifo = keep(tmp_path("fifo.png"));
    CHECK_MSG(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    const char *missing = keep(tmp_path("missing.png"));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/a-directory.png", test_tmpdir());
    mkdir(dir, 0700);
    char list_text[2048];
    snprintf(list_text, sizeof list_text, "%s\n/dev/zero\n%s\n", dir, fx("images/odd_37x23.png"));
    const char *list = keep(write_tmp("list.txt", list_text, strlen(list_text)));

    const expect_image e[] = {
        {fx("images/cat.jpg"), NULL},
        {bomb, "100000 x 100000 pixels is over the limit of 178956970"},
        {lying_png, "corrupt PNG image (not enough pixels)"},
        {lying_ppm, "truncated PNM (12 of 30000 pixel bytes)"},
        {fx("images/rocket.bmp"), NULL},
        {lying_tga, "truncated TGA (pixel data cut short)"},
        {lying_rle, "truncated TGA (pixel data cut short)"},
        {half_jpg, "truncated JPEG (no end-of-image marker)"},
        {half_png, "truncated PNG (image data cut short)"},
        {cut_bmp, "truncated BMP (pixel data cut short)"},
        {cut_gif, "truncated GIF (image data cut short)"},
        {empty, "not an image (empty file)"},
        {fifo, "not a regular file"},
        {missing, "No such file or directory"},
        {fx("images/astronaut.png"), NULL},
        /* from --files-from, which takes a directory as the path it is */
        {dir, "is a directory"},
        {"/dev/zero", "not a regular file"},
        {fx("images/odd_37x23.png"), NULL},
    };
    char cmd[8192];
    size_t k = (size_t)snprintf(cmd, sizeof cmd, "timeout 120 %s classify --jsonl -m %s -l cat -l dog --files-from %s", A,
                                fixture("tiny-a"), list);
    for (size_t i = 0; i < 15; i++) k += (size_t)snprintf(cmd + k, sizeof cmd - k, " '%s'", e[i].path);
    /* stdin is a terminal-less pipe with no writer at the end: nothing may read it */
    run_result r = run_cmd("%s < /dev/null", cmd);
    check_batch(&r, e, sizeof e / sizeof e[0]);
    run_free(&r);
    free(cat), free(png), free(bmp);
}

TEST(robust_max_pixels_lowers_the_limit)
{
    /* cat.jpg is 180 x 120 = 21600 pixels */
    const char *cat = fx("images/cat.jpg");
    run_result r = run_cmd("%s classify --jsonl -m %s -l cat -l dog --max-pixels 21599 %s %s", A, fixture("tiny-a"), cat,
                           fx("images/odd_37x23.png"));
    const expect_image e[] = {{cat, "180 x 120 pixels is over the limit of 21599"}, {fx("images/odd_37x23.png"), NULL}};
    check_batch(&r, e, 2);
    run_free(&r);
    r = run_cmd("%s classify --jsonl -m %s -l cat -l dog --max-pixels 21600 %s", A, fixture("tiny-a"), cat);
    CHECK_INT(r.status, 0);
    CHECK_INT(count_lines(r.out), 1);
    CHECK_INT(r.err_len, 0);
    run_free(&r);
    /* and a limit that is not a number is a usage error */
    r = run_cmd("%s classify -m %s --max-pixels 0 %s cat", A, fixture("tiny-a"), cat);
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: --max-pixels takes a whole number from 1 to 1099511627776, not '0' "
                     "(see 'align classify --help')\n");
    run_free(&r);
}

/* What runs a command held to file modes: "" for a user, and for root a setpriv from util-linux
 * that drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for it and what it runs (root reads a
 * mode-000 file otherwise); NULL when setpriv cannot (the caller's check is skipped). locked is
 * a mode-000 path to probe with. */
static const char *held_to_modes(const char *locked)
{
    if (geteuid() != 0) return "";
    static const char drop[] =
        "setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search -- ";
    struct stat st;
    int dir = stat(locked, &st) == 0 && S_ISDIR(st.st_mode);
    run_result probe = run_cmd("%s%s '%s'", drop, dir ? "ls" : "cat", locked);
    int can_drop = probe.status != 0 && strstr(probe.err, "Permission denied");
    run_free(&probe);
    if (!can_drop) {
        test_note("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here: not checked");
        return NULL;
    }
    test_note("running as root: the capabilities that bypass file modes are dropped with setpriv");
    return drop;
}

/* A failed image's message names it once and whole: a line break in its name stays in the JSON
 * record and is a space on stderr (one line); an escape sequence or a tab is \xHH there, so that
 * a name cannot drive the terminal; a path near PATH_MAX keeps its reason. */
TEST(robust_odd_names_are_named_once)
{
    char nl[2048], esc[2048], esc_shown[2048], deep[4096];
    snprintf(nl, sizeof nl, "%s/bad\nname.jpg", test_tmpdir());
    snprintf(esc, sizeof esc, "%s/bad\x1b[31mred\tname.jpg", test_tmpdir());
    snprintf(esc_shown, sizeof esc_shown, "%s/bad\\x1B[31mred\\x09name.jpg", test_tmpdir());
    snprintf(deep, sizeof deep, "%s", test_tmpdir());
    while (strlen(deep) < 3800) {
        strcat(deep, "/ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
        mkdir(deep, 0700);
    }
    strcat(deep, "/empty.jpg");
    for (int i = 0; i < 3; i++) {
        const char *path = i == 2 ? esc : i ? deep : nl;
        FILE *f = fopen(path, "wb");
        if (f) fclose(f);
        run_result r = run_cmd("%s classify --jsonl -m %s -l cat -l dog '%s' %s", A, fixture("tiny-a"), path,
                               fx("images/cat.jpg"));
        cJSON *o = cJSON_Parse(line_of(r.out, 0));
        const cJSON *err = cJSON_GetObjectItem(o, "error");
        char want[8192];
        snprintf(want, sizeof want, "%s: not an image (empty file)", path);
        CHECK_MSG(cJSON_IsString(err) && strcmp(err->valuestring, want) == 0, "%s", line_of(r.out, 0));
        cJSON_Delete(o);
        snprintf(want, sizeof want, "align: %s: not an image (empty file)\n", i == 2 ? esc_shown : path);
        for (char *p = want; *p; p++) *p = *p == '\n' && p[1] ? ' ' : *p;
        CHECK_STR(r.err, want);
        CHECK_INT(r.status, 2);
        run_free(&r);
    }
}

/* The text format is for a person at a terminal: a name's or a label's control bytes (C1's too)
 * and its bytes of no UTF-8 character show as \xHH there too, in classify's headings and labels
 * and in search's hits; UTF-8 shows as it is. */
TEST(robust_text_output_shows_control_bytes)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/esc-text", test_tmpdir());
    run_result r = run_cmd("mkdir -p %s && cp %s \"%s/$(printf 'e\\033[31mred.jpg')\" && cp %s %s/plain.bmp && "
                           "(cd %s && for n in 'caf\\351' 'c1\\302\\233x' 'na\\303\\257ve'; do "
                           "cp plain.bmp \"$(printf \"$n.bmp\")\"; done) && "
                           "%s classify -q -m %s -l \"$(printf 'tab\\tbed')\" -l b %s",
                           dir, fx("images/cat.jpg"), dir, fx("images/rocket.bmp"), dir, dir, A, fixture("tiny-a"), dir);
    CHECK_INT(r.status, 0);
    CHECK_MSG(!strchr(r.out, '\x1b') && !strchr(r.out, '\t') && !strchr(r.out, '\xe9') && !strchr(r.out, '\x9b'),
              "raw control bytes: %s", r.out);
    CHECK_CONTAINS(r.out, "/e\\x1B[31mred.jpg\n");
    CHECK_CONTAINS(r.out, "%  tab\\x09bed\n");
    CHECK_CONTAINS(r.out, "/caf\\xE9.bmp\n");
    CHECK_CONTAINS(r.out, "/c1\\xC2\\x9Bx.bmp\n");
    CHECK_CONTAINS(r.out, "/na\xc3\xafve.bmp\n");
    run_free(&r);
    r = run_cmd("%s index -q -m %s --db %s/i.db %s && %s search -m %s --db %s/i.db -k 0 cat", A, fixture("tiny-a"), dir,
                dir, A, fixture("tiny-a"), dir);
    CHECK_INT(r.status, 0);
    CHECK_MSG(!strchr(r.out, '\x1b') && !strchr(r.out, '\xe9'), "raw escape: %s", r.out);
    CHECK_CONTAINS(r.out, "/e\\x1B[31mred.jpg\n");
    CHECK_CONTAINS(r.out, "/caf\\xE9.bmp\n");
    run_free(&r);
    /* and info's paths */
    r = run_cmd("cp -r %s \"%s/$(printf 'm\\033x\\351')\" && %s info -m \"%s/$(printf 'm\\033x\\351')\"",
                fixture("tiny-a"), dir, A, dir);
    CHECK_INT(r.status, 0);
    CHECK_MSG(!strchr(r.out, '\x1b') && !strchr(r.out, '\xe9'), "raw escape: %s", r.out);
    CHECK_CONTAINS(r.out, "/m\\x1Bx\\xE9\n");
    CHECK_CONTAINS(r.out, "/m\\x1Bx\\xE9/model.safetensors (safetensors)\n");
    run_free(&r);
}

TEST(robust_unreadable_image)
{
    size_t n;
    uint8_t *png = slurp_file(fx("images/odd_37x23.png"), &n);
    if (!png) return;
    const char *locked = keep(write_tmp("locked.png", png, n));
    free(png);
    chmod(locked, 0);
    const char *drop = held_to_modes(locked);
    if (!drop) return;
    run_result r = run_cmd("%s%s classify --jsonl -m %s -l cat -l dog %s %s", drop, A, fixture("tiny-a"), locked,
                           fx("images/cat.jpg"));
    const expect_image e[] = {{locked, "Permission denied"}, {fx("images/cat.jpg"), NULL}};
    check_batch(&r, e, 2);
    run_free(&r);
}

/* A directory that cannot be read is one input that fails: reported in its place, the rest go
 * on, whether it is an operand or met in a walk. */
TEST(robust_unreadable_directory)
{
    char tree[2048], locked[2100], shut[2100];
    snprintf(tree, sizeof tree, "%s/unreadable-tree", test_tmpdir());
    snprintf(locked, sizeof locked, "%s/locked", tree);
    snprintf(shut, sizeof shut, "%s/shut", test_tmpdir());
    run_result r = run_cmd("mkdir -p %s/ok %s %s && cp %s %s/ok/ && cp %s %s/ && cp %s %s/ && chmod 000 %s %s", tree,
                           locked, shut, fx("images/cat.jpg"), tree, fx("images/rocket.bmp"), locked,
                           fx("images/rocket.bmp"), shut, locked, shut);
    run_free(&r);
    const char *drop = held_to_modes(locked);
    if (drop) {
        char cat[2200];
        snprintf(cat, sizeof cat, "%s/ok/cat.jpg", tree);
        r = run_cmd("%s%s classify --jsonl -m %s -l cat -l dog -r %s", drop, A, fixture("tiny-a"), tree);
        const expect_image walked[] = {{locked, "Permission denied"}, {cat, NULL}};
        check_batch(&r, walked, 2);
        run_free(&r);
        r = run_cmd("%s%s classify --jsonl -m %s -l cat -l dog %s %s", drop, A, fixture("tiny-a"), shut,
                    fx("images/cat.jpg"));
        const expect_image operand[] = {{shut, "Permission denied"}, {fx("images/cat.jpg"), NULL}};
        check_batch(&r, operand, 2);
        run_free(&r);
    }
    chmod(locked, 0700), chmod(shut, 0700);
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* A model directory in the scratch area: tiny-a's files linked in, except config.json (written
 * from config_json when not NULL) and the weights (linked only when weights is NULL). */
static const char *model_dir(const char *name, const char *config_json, int link_weights)
{
    static char dirs[4][1024];
    static int next;
    char *dir = dirs[next++ % 4];
    snprintf(dir, sizeof dirs[0], "%s/%s", test_tmpdir(), name);
    mkdir(dir, 0700);
    static const char *const files[] = {"config.json", "preprocessor_config.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "vocab.txt", "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if ((i == 0 && config_json) || (i == 5 && !link_weights)) continue;
        char src[4096], dst[2048];
        if (!realpath(fixture("tiny-a"), src)) continue;
        strcat(src, "/"), strcat(src, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        CHECK_MSG(symlink(src, dst) == 0, "symlink %s: %s", dst, strerror(errno));
    }
    if (config_json) {
        char path[2048];
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        if (f) fputs(config_json, f), fclose(f);
    }
    return dir;
}

/* tiny-a's config.json with one key of text_config or vision_config replaced by a JSON value. */
static char *tiny_a_config_with(const char *section, const char *key, const char *value)
{
    cJSON *root = load_json(fixture("tiny-a/config.json"));
    if (!root) return NULL;
    cJSON *sec = cJSON_GetObjectItem(root, section);
    cJSON_DeleteItemFromObject(sec, key);
    cJSON_AddItemToObject(sec, key, cJSON_Parse(value));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static void expect_info_error(const char *dir, const char *message)
{
    run_result r = run_cmd("%s info -m %s", A, dir);
    CHECK_INT(r.status, 1);
    CHECK_INT(r.out_len, 0);
    char want[4096];
    snprintf(want, sizeof want, "align: %s\n", message);
    CHECK_STR(r.err, want);
    run_free(&r);
}

TEST(robust_hostile_config_refused_before_allocating)
{
    /* tiny-a's real weights beside a config.json that asks for something absurd: refused from the
     * config alone, or from comparing it with the checkpoint's header, before anything is
     * allocated for the sizes it names (the first case would be 1.2 TB of float32) */
    static const struct {
        const char *section, *key, *value, *file, *error;
    } cases[] = {
        {"text_config", "hidden_size", "65536", "config.json",
         "the sizes describe 296549701672 parameters, more than the 8589934592 this build accepts"},
        {"text_config", "intermediate_size", "1000000000", "config.json",
         "text_config: intermediate_size: 1000000000 is out of range [1, 262144]"},
        {"text_config", "num_hidden_layers", "9223372036854775807", "config.json",
         "text_config: num_hidden_layers: 9.2233720368547758e+18 is out of range [1, 1024]"},
        {"text_config", "max_position_embeddings", "1e12", "config.json",
         "text_config: max_position_embeddings: 1000000000000 is out of range [3, 65536]"},
        {"vision_config", "width_coefficient", "100", "config.json",
         "projection_dim: 40, but the vision tower ends with 8000 channels (out_channels, width_coefficient)"},
        {"vision_config", "in_channels", "[32, 16, 24, 4000]", "config.json",
         "vision_config: in_channels[3]: 2000 channels (after width_coefficient), but the stage before gives 24"},
        {"text_config", "max_position_embeddings", "65536", "model.safetensors",
         "2 tensors wrong: text_model.embeddings.position_ids: expected [1, 65536], file has [1, 512]; "
         "text_model.embeddings.position_embeddings.weight: expected [65536, 24], file has [512, 24]"},
        {"text_config", "intermediate_size", "262144", "model.safetensors",
         "6 tensors wrong: text_model.encoder.layer.0.intermediate.dense.weight: expected [262144, 24], file has "
         "[37, 24]; text_model.encoder.layer.0.intermediate.dense.bias: expected [262144], file has [37]; "
         "text_model.encoder.layer.0.output.dense.weight: expected [24, 262144], file has [24, 37]; "
         "text_model.encoder.layer.1.intermediate.dense.weight: expected [262144, 24], file has [37, 24]; "
         "text_model.encoder.layer.1.intermediate.dense.bias: expected [262144], file has [37]; "
         "text_model.encoder.layer.1.output.dense.weight: expected [24, 262144], file has [24, 37]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = tiny_a_config_with(cases[i].section, cases[i].key, cases[i].value);
        if (i == 0) { /* 4 M tokens of 65536 floats, one head */
            cJSON *root = cJSON_Parse(json), *t = cJSON_GetObjectItem(root, "text_config");
            cJSON_ReplaceItemInObject(t, "vocab_size", cJSON_CreateNumber(4000000));
            cJSON_ReplaceItemInObject(t, "num_attention_heads", cJSON_CreateNumber(1));
            free(json);
            json = cJSON_Print(root);
            cJSON_Delete(root);
        }
        char name[32], want[4096];
        snprintf(name, sizeof name, "hostile-%zu", i);
        const char *dir = model_dir(name, json, 1);
        free(json);
        snprintf(want, sizeof want, "%s/%s: %s", dir, cases[i].file, cases[i].error);
        expect_info_error(dir, want);
    }
}

/* Writes the first keep bytes of a fixture checkpoint into dir/name. */
static void write_cut(const char *dir, const char *name, const uint8_t *data, size_t keep)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, keep, f) != keep) test_fail_at(__FILE__, __LINE__, "cannot write %s", path);
    if (f) fclose(f);
}

TEST(robust_short_weight_files_refused_before_reading)
{
    size_t st_n, pt_n;
    uint8_t *st = slurp_file(fixture("tiny-a/model.safetensors"), &st_n);
    uint8_t *pt = slurp_file(fixture("tiny-a/pytorch_model.bin"), &pt_n);
    if (!st || !pt) return;
    char want[2048];

    /* safetensors cut inside the data: the header (32216 bytes) promises 3.4 MB; the first entry
     * past the end is named with the bytes there are (2000000 - 8 - 32216) */
    const char *dir = model_dir("st-cut", NULL, 0);
    write_cut(dir, "model.safetensors", st, 2000000);
    snprintf(want, sizeof want,
             "%s/model.safetensors: tensor text_model.embeddings.word_embeddings.weight: data_offsets [53868, 2983980] "
             "outside the data (1967776 bytes)",
             dir);
    expect_info_error(dir, want);
    /* cut inside the header */
    dir = model_dir("st-header", NULL, 0);
    write_cut(dir, "model.safetensors", st, 1000);
    snprintf(want, sizeof want,
             "%s/model.safetensors: header length 32216 runs past the end of the file (1000 bytes): truncated?", dir);
    expect_info_error(dir, want);

    /* pytorch_model.bin cut anywhere loses the zip directory at its end */
    dir = model_dir("pt-cut", NULL, 0);
    write_cut(dir, "pytorch_model.bin", pt, 2000000);
    snprintf(want, sizeof want,
             "%s/pytorch_model.bin: no zip end-of-central-directory record (truncated or not a zip archive)", dir);
    expect_info_error(dir, want);
    /* the directory kept, 4096 bytes of storage data taken out before it: the directory now claims
     * more than the file holds. torch.save writes zip64 end records; the locator's pointer to the
     * zip64 record is moved with it, the offsets the records hold are not. */
    size_t eocd = pt_n - 22, locator = eocd - 20;
    CHECK(get32le(pt + eocd) == 0x06054b50 && get32le(pt + locator) == 0x07064b50);
    uint64_t z64 = get32le(pt + locator + 8) | (uint64_t)get32le(pt + locator + 12) << 32;
    CHECK(z64 < pt_n && get32le(pt + z64) == 0x06064b50);
    uint64_t cd_size = get32le(pt + z64 + 40), cd_at = get32le(pt + z64 + 48);
    z64 -= 4096;
    for (int i = 0; i < 8; i++) pt[locator + 8 + i] = (uint8_t)(z64 >> (8 * i));
    memmove(pt + cd_at - 4096, pt + cd_at, pt_n - cd_at);
    dir = model_dir("pt-short", NULL, 0);
    write_cut(dir, "pytorch_model.bin", pt, pt_n - 4096);
    snprintf(want, sizeof want,
             "%s/pytorch_model.bin: zip central directory (%llu bytes at offset %llu) lies outside the file", dir,
             (unsigned long long)cd_size, (unsigned long long)cd_at);
    expect_info_error(dir, want);
    free(st), free(pt);
}

/* ---- labels ----------------------------------------------------------------------------------- */

static void expect_classify_error(const char *args, const char *message)
{
    run_result r = run_cmd("%s classify -m %s %s", A, fixture("tiny-a"), args);
    CHECK_MSG(r.status == 1, "classify %s: exit %d", args, r.status);
    CHECK_INT(r.out_len, 0);
    char want[4096];
    snprintf(want, sizeof want, "align: %s\n", message);
    CHECK_STR(r.err, want);
    run_free(&r);
}

TEST(robust_bad_labels)
{
    char args[8192];
    const char *cat = fx("images/cat.jpg");
    /* not UTF-8: the error quotes the label, its byte of no UTF-8 character as \xHH */
    snprintf(args, sizeof args, "-l \"$(printf 'caf\\351')\" -l dog %s", cat);
    expect_classify_error(args, "text \"caf\\xE9\": invalid UTF-8 at byte 3 (0xE9): truncated sequence");
    /* embed --text names it the same way: a text, not a label */
    run_result t = run_cmd("%s embed -m %s --text \"$(printf 'caf\\351')\"", A, fixture("tiny-a"));
    CHECK_INT(t.status, 1);
    CHECK_STR(t.err, "align: text \"caf\\xE9\": invalid UTF-8 at byte 3 (0xE9): truncated sequence\n");
    run_free(&t);
    /* a NUL byte in a labels file: the file and the line */
    const char *nul = keep(write_tmp("nul-labels.txt", "cat\n# a comment\ndo\0g\n", 20));
    snprintf(args, sizeof args, "--labels %s %s", nul, cat);
    snprintf(args + 4096, 4096, "%s:3: a NUL byte in the label", nul);
    expect_classify_error(args, args + 4096);
    /* longer than the position table (512 for tiny-a): the label, shortened, and the count */
    char *words = malloc(600 * 5 + 1);
    for (int i = 0; i < 600; i++) memcpy(words + 5 * i, "word ", 5);
    words[600 * 5 - 1] = 0;
    const char *file = keep(write_tmp("long-label.txt", words, strlen(words)));
    free(words);
    snprintf(args, sizeof args, "--labels %s %s", file, cat);
    expect_classify_error(args, "text \"word word word word word word word word word word word wo...\": 602 tokens, "
                                "more than the model's 512");
    /* no labels at all: a usage error */
    const char *none = keep(write_tmp("no-labels.txt", "# nothing here\n\n\r\n", 18));
    snprintf(args, sizeof args, "--labels %s %s", none, cat);
    expect_classify_error(args, "no labels to score (see 'align classify --help')");
    snprintf(args, sizeof args, "--labels - %s < /dev/null", cat);
    expect_classify_error(args, "no labels to score (see 'align classify --help')");
}

/* A blank label or text is refused (an unset shell variable leaves one); a repeated label is said once,
 * and -q keeps it quiet. The copies are the same text, so softmax gives them the same share. */
TEST(robust_blank_and_repeated_labels)
{
    char args[4096];
    const char *cat = fx("images/cat.jpg");
    snprintf(args, sizeof args, "%s 'a cat' ''", cat);
    expect_classify_error(args, "label 2 of 2 is blank (see 'align classify --help')");
    snprintf(args, sizeof args, "-l dog -l ' \t' %s", cat);
    expect_classify_error(args, "label 2 of 2 is blank (see 'align classify --help')");
    /* and so is a blank text to embed */
    run_result t = run_cmd("%s embed -m %s --text 'a cat' ' ' dog", A, fixture("tiny-a"));
    CHECK_INT(t.status, 1);
    CHECK_INT(t.out_len, 0);
    CHECK_STR(t.err, "align: text 2 of 3 is blank (see 'align embed --help')\n");
    run_free(&t);
    /* blank to BERT's tokenizer too: a no-break space, an ideographic space, a zero-width space, a
       byte order mark, a control character; each leaves [CLS] [SEP] alone */
    static const char *const invisible[] = {"\\302\\240", "\\343\\200\\200", "\\342\\200\\213", "\\357\\273\\277",
                                            "\\001"};
    t = run_cmd("%s index -q -m %s --db %s/blank.db %s", A, fixture("tiny-a"), test_tmpdir(), cat);
    CHECK_INT(t.status, 0);
    run_free(&t);
    for (size_t i = 0; i < sizeof invisible / sizeof invisible[0]; i++) {
        t = run_cmd("%s classify -m %s %s dog \"$(printf '%s')\"; %s embed -m %s --text \"$(printf ' %s ')\"; "
                    "%s search -m %s --db %s/blank.db cat + \"text:$(printf '%s')\"",
                    A, fixture("tiny-a"), cat, invisible[i], A, fixture("tiny-a"), invisible[i], A, fixture("tiny-a"),
                    test_tmpdir(), invisible[i]);
        CHECK_STR(t.err, "align: label 2 of 2 is blank (see 'align classify --help')\n"
                         "align: text 1 of 1 is blank (see 'align embed --help')\n"
                         "align: the query term 2 of 2 is blank (see 'align search --help')\n");
        run_free(&t);
    }
    run_result r = run_cmd("%s classify --no-cache --format tsv -m %s %s 'a cat' dog 'a cat'", A, fixture("tiny-a"), cat);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.err, "align: warning: label 'a cat' is given more than once: its copies share its probability\n");
    const char *first = strstr(r.out, "\ta cat\t"), *second = first ? strstr(first + 1, "\ta cat\t") : NULL;
    size_t line = first ? strcspn(first, "\n") : 0;
    CHECK_MSG(second && strncmp(first, second, line + 1) == 0, "two equal shares for the copies: %s", r.out);
    run_free(&r);
    const char *file = keep(write_tmp("repeated-labels.txt", "crane\nb\na\nb\ncrane\n", 18));
    r = run_cmd("%s classify --no-cache -m %s --labels %s %s", A, fixture("tiny-a"), file, cat);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.err, "align: warning: 2 labels are given more than once ('crane' the first): each one's copies share "
                     "its probability\n");
    run_free(&r);
    r = run_cmd("%s classify -q --no-cache -m %s --labels %s %s", A, fixture("tiny-a"), file, cat);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.err, "");
    run_free(&r);
}

/* Runs cmd through sh and returns the peak resident set of that process in KB (wait4's rusage
 * covers it alone, unlike getrusage(RUSAGE_CHILDREN)); *status gets the exit status. */
static long peak_rss_kb(const char *cmd, int *status)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid) return -1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return ru.ru_maxrss;
}

TEST(robust_tens_of_thousands_of_labels)
{
    if (test_skip_in_a_rerun()) return;
    long rss[2];
    const int counts[2] = {2000, 20000};
    for (int k = 0; k < 2; k++) {
        size_t cap = (size_t)counts[k] * 40, n = 0;
        char *text = malloc(cap);
        for (int i = 0; i < counts[k]; i++)
            n += (size_t)snprintf(text + n, cap - n, "a photo of thing number %d\n", i);
        char name[64];
        snprintf(name, sizeof name, "labels-%d.txt", counts[k]);
        const char *file = keep(write_tmp(name, text, n));
        free(text);
        char cmd[4096];
        /* AddressSanitizer (make test SAN=1) would otherwise keep 256 MB of freed blocks */
        snprintf(cmd, sizeof cmd,
                 "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 exec %s classify -q -m %s --labels %s "
                 "-k 3 %s",
                 A, fixture("tiny-a"), file,
                 fx("images/cat.jpg"));
        int status = -1;
        rss[k] = peak_rss_kb(cmd, &status);
        CHECK_MSG(status == 0, "%d labels: exit %d", counts[k], status);
    }
    test_note("peak RSS: %ld KB for 2,000 labels, %ld KB for 20,000 (%.2f KB per extra label)", rss[0], rss[1],
              (double)(rss[1] - rss[0]) / 18000);
    CHECK(rss[0] > 0 && rss[1] > 0);
    /* linear at most: ten times the labels may not take ten times the memory (the model, the code
     * and the image are the same), and each label costs a bounded amount: its text, a few
     * pointers, one embedding of projection_dim floats (40 here) and the chunk being encoded */
    CHECK_MSG(rss[1] < 10 * rss[0], "%ld KB for 20,000 labels, %ld KB for 2,000", rss[1], rss[0]);
    CHECK_MSG(rss[1] - rss[0] < 18000L * 2, "%.2f KB per label", (double)(rss[1] - rss[0]) / 18000);
}

/* ---- output ----------------------------------------------------------------------------------- */

TEST(robust_write_errors_and_closed_pipes)
{
    if (test_skip_in_a_rerun()) return;
    /* test_cli.c covers classify; the other commands that write results must do the same */
    static const char *const cmds[] = {"embed -m %s %s", "embed -m %s --text 'a cat'", "tokenize -m %s 'a photo'",
                                       "info -m %s"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, cmds[i], fixture("tiny-a"), fx("images/cat.jpg"));
        run_result r = run_cmd("%s %s > /dev/full", A, args);
        CHECK_MSG(r.status == 1, "align %s > /dev/full: exit %d", args, r.status);
        CHECK_MSG(count_lines(r.err) == 1 && strstr(r.err, "stdout: write error"), "align %s > /dev/full: %s", args, r.err);
        run_free(&r);
    }
    char list[8192] = "";
    size_t k = 0;
    for (int i = 0; i < 40; i++) k += (size_t)snprintf(list + k, sizeof list - k, " %s", fx("images/astronaut.png"));
    run_result r = run_cmd("%s embed -m %s%s | head -c 10", A, fixture("tiny-a"), list);
    CHECK_INT(r.status, 0);
    CHECK_INT(r.out_len, 10);
    CHECK_MSG(r.err_len == 0, "stderr: %s", r.err);
    run_free(&r);
}

/* ---- out of memory ---------------------------------------------------------------------------- */

/* Runs align under an address-space limit (ulimit -v, KB), with one thread and OpenBLAS on one
 * thread: OpenBLAS's own buffer (128 MB, taken at the first matrix product, or by every OpenBLAS
 * thread as it starts) loops forever in blas_memory_alloc when it cannot get it, so the limits
 * below leave room for that and run out in align's own allocations. */
static run_result run_limited(long kb, const char *args)
{
    return run_cmd("ulimit -v %ld; OPENBLAS_NUM_THREADS=1 timeout -s KILL 120 %s %s --threads 1", kb, A, args);
}

TEST(robust_out_of_memory_is_an_error)
{
    /* qemu-user reserves the guest's address space itself: under ulimit -v it can spin for
     * minutes before the program starts */
    if (test_skip_under_emulation("an address-space limit bounds the emulator, not align; checked natively")) return;
    run_result probe = run_cmd("ulimit -v 300000; %s --version; exit $?", A);
    int limited_ok = probe.status == 0;
    run_free(&probe);
    if (!limited_ok) {
        /* AddressSanitizer reserves terabytes of address space at start */
        test_note("align does not start under ulimit -v (a sanitizer build?): not checked");
        return;
    }
    char args[4096];
    /* a 23-byte TGA of 9400 x 9400 pixels (88 M, under the default limit): its decoder wants
     * 619 MB for it; the run goes on with the next image */
    const char *tga = write_big_rle_tga("big.tga", 9400, 9400);
    snprintf(args, sizeof args, "classify --jsonl -m %s -l cat -l dog %s %s %s", fixture("tiny-a"),
             fx("images/cat.jpg"), tga, fx("images/rocket.bmp"));
    run_result r = run_limited(600000, args);
    const expect_image e[] = {{fx("images/cat.jpg"), NULL},
                              {tga, "out of memory decoding 9400 x 9400 pixels"},
                              {fx("images/rocket.bmp"), NULL}};
    check_batch(&r, e, 3);
    run_free(&r);

    /* a 30 MB label: the tokenizer's buffers do not fit in 400 MB */
    size_t n = 30000000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = "ab "[i % 3];
    big[n] = '\n';
    const char *file = keep(write_tmp("huge-label.txt", big, n + 1));
    free(big);
    snprintf(args, sizeof args, "classify -m %s --labels %s %s", fixture("tiny-a"), file, fx("images/cat.jpg"));
    r = run_limited(400000, args);
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: text \"ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ...\": out of memory\n");
    run_free(&r);
    unlink(file);

    /* a checkpoint larger than the address space left: mapping it fails, cleanly */
    const char *random_model = getenv("ALIGN_RANDOM_MODEL");
    if (random_model && *random_model) {
        snprintf(args, sizeof args, "info -m %s", random_model);
        r = run_limited(400000, args);
        CHECK_INT(r.status, 1);
        char want[2048];
        snprintf(want, sizeof want, "align: %s/model.safetensors: cannot map: Cannot allocate memory\n", random_model);
        CHECK_STR(r.err, want);
        run_free(&r);
    } else {
        test_note("ALIGN_RANDOM_MODEL unset: the full-size checkpoint case is not checked");
    }
}

/* ---- more hostile model files and trees ------------------------------------------------------- */

TEST(robust_hostile_preprocessor_config)
{
    if (test_skip_in_a_rerun()) return;
    /* the size the tower is fed decides its memory (about 1.5 GB per image at 2048 x 2048 for
     * align-base): larger sides are refused at load, and an image passed through at its own size
     * is refused alone */
    const char *dir = model_dir("pp-big", NULL, 1);
    char path[2048], want[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (f) fputs("{\"size\": {\"height\": 8192, \"width\": 8192}}", f), fclose(f);
    snprintf(want, sizeof want, "%s: size: height: 8192 is out of range [1, 2048]", path);
    expect_info_error(dir, want);

    dir = model_dir("pp-as-is", NULL, 1);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    unlink(path);
    f = fopen(path, "w");
    if (f) fputs("{\"do_resize\": false, \"do_center_crop\": false}", f), fclose(f);
    buf b = png_rgb(3000, 1000, 3000, 1000);
    const char *wide = write_bytes("wide.png", &b);
    run_result r = run_cmd("%s classify --jsonl -m %s -l cat -l dog %s %s", A, dir, wide, fx("images/cat.jpg"));
    const expect_image e[] = {
        {wide, "3000 x 1000 pixels would go to the model as they are (do_resize is off): at most 2048 x 2048"},
        {fx("images/cat.jpg"), NULL}};
    check_batch(&r, e, 2);
    run_free(&r);
}

TEST(robust_directory_loops_are_walked_once)
{
    /* tree/sub/cat.jpg, with sub/up -> .. and sub/up2 -> .. and self -> . : before the loop check,
     * every level doubled the paths (2^40 before the kernel's ELOOP) */
    char tree[1024], p[2048];
    snprintf(tree, sizeof tree, "%s/tree", test_tmpdir());
    mkdir(tree, 0700);
    snprintf(p, sizeof p, "%s/sub", tree);
    mkdir(p, 0700);
    size_t n;
    uint8_t *cat = slurp_file(fixture("images/cat.jpg"), &n);
    if (!cat) return;
    snprintf(p, sizeof p, "%s/sub/cat.jpg", tree);
    FILE *f = fopen(p, "wb");
    if (f) fwrite(cat, 1, n, f), fclose(f);
    free(cat);
    snprintf(p, sizeof p, "%s/sub/up", tree);
    CHECK(symlink("..", p) == 0);
    snprintf(p, sizeof p, "%s/sub/up2", tree);
    CHECK(symlink("..", p) == 0);
    snprintf(p, sizeof p, "%s/self", tree);
    CHECK(symlink(".", p) == 0);
    run_result r = run_cmd("timeout 60 %s classify -r --jsonl -m %s -l cat -l dog %s", A, fixture("tiny-a"), tree);
    CHECK_INT(r.status, 0);
    CHECK_INT(count_lines(r.out), 1);
    CHECK_CONTAINS(r.out, "/sub/cat.jpg\"");
    char want[4096];
    snprintf(want, sizeof want,
             "align: %s/self: skipped, a directory loop (it is a directory already being read)\n"
             "align: %s/sub/up: skipped, a directory loop (it is a directory already being read)\n"
             "align: %s/sub/up2: skipped, a directory loop (it is a directory already being read)\n",
             tree, tree, tree);
    CHECK_STR(r.err, want);
    run_free(&r);
}

TEST(robust_jpeg_tables_as_pil_reads_them)
{
    /* as PIL (libjpeg-turbo) reads them: a DHT of more than 256 codes is refused, a file without
     * any DHT gets the standard tables (Motion JPEG's), and fill bytes before the start marker
     * are no JPEG */
    size_t n;
    uint8_t *cat = slurp_file(fixture("images/cat.jpg"), &n);
    if (!cat) return;
    /* the segments before the first scan: find the first DHT, and drop every DHT for the second file */
    buf big = {0}, none = {0}, fill = {0};
    size_t pos = 2, first_dht = 0;
    put(&none, cat, 2);
    while (pos + 4 <= n && cat[pos] == 0xff) {
        size_t len = (size_t)cat[pos + 2] << 8 | cat[pos + 3];
        if (cat[pos + 1] == 0xc4 && !first_dht) first_dht = pos;
        if (cat[pos + 1] == 0xda) break;
        if (cat[pos + 1] != 0xc4) put(&none, cat + pos, len + 2);
        pos += len + 2;
    }
    CHECK(first_dht > 0 && pos + 4 <= n);
    put(&none, cat + pos, n - pos);
    uint8_t seg[4 + 17 + 4080] = {0xff, 0xc4, (4080 + 19) >> 8, (4080 + 19) & 0xff, 0x13};
    memset(seg + 5, 0xff, 16);
    put(&big, cat, first_dht);
    put(&big, seg, sizeof seg);
    put(&big, cat + first_dht, n - first_dht);
    put(&fill, "\xff\xff", 2);
    put(&fill, cat, n);
    free(cat);
    const char *p_big = write_bytes("dht-overflow.jpg", &big);
    const char *p_none = write_bytes("no-dht.jpg", &none);
    const char *p_fill = write_bytes("fill.jpg", &fill);
    run_result r = run_cmd("%s classify --jsonl -m %s -l cat -l dog %s %s %s %s", A, fixture("tiny-a"), p_big, p_none,
                           p_fill, fx("images/coffee_progressive.jpg"));
    const expect_image e[] = {
        {p_big, "corrupt JPEG image (Bogus Huffman table definition)"},
        {p_none, NULL},
        {p_fill, "unsupported image format (JPEG preceded by fill bytes)"},
        {fx("images/coffee_progressive.jpg"), NULL},
    };
    check_batch(&r, e, 4);
    run_free(&r);
}

TEST(robust_pickle_bomb_is_capped)
{
    /* "append 0 to a list" is 3 bytes of pickle; 4.2 M of them would have taken some 300 MB of
     * objects here (a 1 GB data.pkl, over 20 GB), so the unpickler stops at 4,194,304 objects */
    size_t count = 4200000, n = 3 + 3 * count + 1;
    uint8_t *pkl = malloc(n);
    memcpy(pkl, "\x80\x02]", 3);
    for (size_t i = 0; i < count; i++) memcpy(pkl + 3 + 3 * i, "K\0a", 3);
    pkl[n - 1] = '.';
    buf z = zip_file(&(zfile){"archive/data.pkl", pkl, n, 0, 0, 0}, 1);
    free(pkl);
    const char *dir = model_dir("pickle-bomb", NULL, 0);
    char path[2048], want[4096];
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(z.p, 1, z.n, f), fclose(f);
    free(z.p);
    /* the 4,194,304th object made after PROTO and the list: byte 3 + 3 * 4194303 */
    snprintf(want, sizeof want,
             "%s: data.pkl at byte 12582912: more than 4194304 objects, far more than any state_dict needs", path);
    expect_info_error(dir, want);
}

TEST(robust_json_bombs_are_capped)
{
    /* cJSON spends about 80 bytes on a value that can take 2 bytes of text ("0,"): values are
     * counted before parsing, 262,144 at most in the config files, 4,194,304 in a safetensors
     * header (a 90 MB header of zeros took 3.6 GB and 13 s before) */
    size_t count = 300000, n;
    char *json = malloc(64 + 2 * count);
    n = (size_t)sprintf(json, "{\"id2label\": [");
    for (size_t i = 0; i < count; i++) json[n++] = '0', json[n++] = ',';
    n += (size_t)sprintf(json + n - 1, "]}") - 1;
    json[n] = 0;
    const char *dir = model_dir("json-bomb", json, 1);
    free(json);
    char want[4096];
    snprintf(want, sizeof want, "%s/config.json: more than 262144 JSON values", dir);
    expect_info_error(dir, want);

    count = 4200000;
    buf st = {0};
    const char *head = "{\"a\":{\"dtype\":\"F32\",\"shape\":[";
    size_t h = strlen(head) + 2 * count + strlen("0],\"data_offsets\":[0,4]}}");
    put64le(&st, h);
    put(&st, head, strlen(head));
    for (size_t i = 0; i < count; i++) put(&st, "0,", 2);
    put(&st, "0],\"data_offsets\":[0,4]}}", strlen("0],\"data_offsets\":[0,4]}}"));
    put(&st, "\0\0\0\0", 4);
    dir = model_dir("header-bomb", NULL, 0);
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(st.p, 1, st.n, f), fclose(f);
    free(st.p);
    snprintf(want, sizeof want, "%s: header holds more than 4194304 JSON values", path);
    expect_info_error(dir, want);
}

TEST(robust_vocabulary_bomb_is_capped)
{
    /* a line of vocab.txt costs some 40 bytes beyond its text: 4,194,304 lines at most (config.json's
     * own bound on vocab_size), before anything is allocated per line */
    size_t n = 4200000;
    char *lines = malloc(n);
    memset(lines, '\n', n);
    const char *dir = model_dir("vocab-bomb", NULL, 1);
    char path[2048], want[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(lines, 1, n, f), fclose(f);
    free(lines);
    snprintf(want, sizeof want, "%s: more than 4194304 tokens", path);
    expect_info_error(dir, want);
}
