/* The align command driven as a user drives it: through a shell, checking stdout, stderr and the
 * exit status. Golden values come from the fixtures' expected.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builders.h"
#include "kernels.h"
#include "test.h"

#define A align_bin()

/* A labels file for a case's labels (one per line) in the scratch directory. */
static const char *labels_file(const cJSON *labels, const char *name)
{
    char buf[8192];
    size_t n = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, labels) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", l->valuestring);
    return write_tmp(name, buf, n);
}

static const cJSON *get(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(v != NULL, "no \"%s\"", key);
    return v;
}

/* The score the output gives a label, or NAN. */
static double score_of(const cJSON *results, const char *label, const char *field)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, results) if (strcmp(get(r, "label")->valuestring, label) == 0) return get(r, field)->valuedouble;
    return NAN;
}

/* The file to classify for a case's image: the image itself, since the decoder gives PIL's pixels
 * for every format (JPEG through libjpeg-turbo, as PIL). */
static const char *case_image(const char *model, const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", fixture(model), rel);
    return buf;
}

/* Every case of a model's expected.json through `align classify --jsonl`. */
static void classify_golden(const char *model)
{
    char path[512];
    snprintf(path, sizeof path, "%s/expected.json", fixture(model));
    cJSON *exp = load_json(path);
    if (!exp) return;
    const cJSON *c;
    double worst_p = 0, worst_l = 0;
    cJSON_ArrayForEach(c, get(exp, "cases")) {
        const cJSON *labels = get(c, "labels"), *images = get(c, "images"), *img;
        char files[2048] = "";
        size_t k = 0;
        cJSON_ArrayForEach(img, images) k += (size_t)snprintf(files + k, sizeof files - k, " '%s'", case_image(model, img->valuestring));
        run_result r = run_cmd("%s classify -q --jsonl -m %s --labels %s%s", A, fixture(model),
                               labels_file(labels, "golden_labels.txt"), files);
        CHECK_MSG(r.status == 0, "%s: exit %d: %s", get(c, "name")->valuestring, r.status, r.err);
        float *probs = json_tensor(get(c, "probs"), NULL), *logits = json_tensor(get(c, "logits_per_image"), NULL);
        int n_labels = cJSON_GetArraySize(labels), i = 0;
        for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"), i++) {
            cJSON *o = cJSON_Parse(line);
            CHECK_MSG(o != NULL, "not JSON: %s", line);
            if (!o) continue;
            CHECK(get(o, "image") && cJSON_IsString(get(o, "image")));
            const cJSON *results = get(o, "results");
            CHECK_INT(cJSON_GetArraySize(results), n_labels);
            double prev = 2;
            const cJSON *res;
            cJSON_ArrayForEach(res, results) { /* sorted by score, highest first */
                CHECK(get(res, "score")->valuedouble <= prev);
                prev = get(res, "score")->valuedouble;
            }
            for (int j = 0; j < n_labels; j++) {
                const char *label = cJSON_GetArrayItem(labels, j)->valuestring;
                double dp = fabs(score_of(results, label, "score") - probs[i * n_labels + j]);
                double dl = fabs(score_of(results, label, "logit") - logits[i * n_labels + j]);
                CHECK_MSG(dp <= 1e-5, "%s image %d \"%s\": score off by %.3g", get(c, "name")->valuestring, i, label, dp);
                CHECK_MSG(dl <= 1e-4, "%s image %d \"%s\": logit off by %.3g", get(c, "name")->valuestring, i, label, dl);
                worst_p = dp > worst_p ? dp : worst_p;
                worst_l = dl > worst_l ? dl : worst_l;
            }
            cJSON_Delete(o);
        }
        CHECK_INT(i, cJSON_GetArraySize(images));
        free(probs);
        free(logits);
        run_free(&r);
    }
    test_note("%s: largest score difference %.3g, logit %.3g", model, worst_p, worst_l);
    cJSON_Delete(exp);
}

TEST(cli_classify_jsonl_matches_hf_tiny_a) { classify_golden("tiny-a"); }
TEST(cli_classify_jsonl_matches_hf_tiny_b) { classify_golden("tiny-b"); }

/* The "embedding" of each JSON line of out (modified), dim floats a row, at most max_rows rows;
 * returns the rows read. */
static int embedding_rows(char *out, int dim, float *rows, int max_rows)
{
    int row = 0;
    for (char *line = strtok(out, "\n"); line && row < max_rows; line = strtok(NULL, "\n"), row++) {
        cJSON *o = cJSON_Parse(line), *v;
        int n = 0;
        cJSON_ArrayForEach(v, (o ? get(o, "embedding") : NULL)) if (n < dim) rows[row * dim + n++] = (float)v->valuedouble;
        CHECK_INT(n, dim);
        cJSON_Delete(o);
    }
    return row;
}

/* The fixtures' README: unnormalised vectors compare at 1e-5 relative to the reference's largest
 * magnitude (they are not bounded by 1). */
static double relative_tol(const float *ref, size_t n)
{
    double m = 1;
    for (size_t i = 0; i < n; i++) m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    return 1e-5 * m;
}

/* `align embed FLAGS` of astronaut.png (a lossless file), then of the texts 'an astronaut' and
 * 'a rocket' (rows in order), against the fields of tiny-a's second case; relative: at 1e-5 of the
 * reference's largest magnitude, else 1e-5. */
static void embed_vs_hf(const char *flags, const char *image_field, const char *text_field, int relative)
{
    cJSON *exp = load_json(fixture("tiny-a/expected.json"));
    if (!exp) return;
    const cJSON *c = cJSON_GetArrayItem(get(exp, "cases"), 1);
    const char *operands[] = {fixture("images/astronaut.png"), "--text 'an astronaut' 'a rocket'"};
    const char *fields[] = {image_field, text_field};
    for (int k = 0; k < 2; k++) {
        int rows = k + 1; /* the case's first rows: its image, its first two labels */
        float *want = json_tensor(get(c, fields[k]), NULL), got[2 * 40];
        run_result r = run_cmd("%s embed %s -m %s %s", A, flags, fixture("tiny-a"), operands[k]);
        CHECK_MSG(r.status == 0, "%s", r.err);
        CHECK_INT(embedding_rows(r.out, 40, got, 2), rows);
        CHECK_CLOSE(got, want, rows * 40, relative ? relative_tol(want, rows * 40) : 1e-5);
        free(want);
        run_free(&r);
    }
    cJSON_Delete(exp);
}

/* `align embed` rows against image_embeds / text_embeds. */
TEST(cli_embed_matches_hf) { embed_vs_hf("", "image_embeds", "text_embeds", 0); }

/* --unnormalized: what Hugging Face's get_image_features (the pooled features) and
 * get_text_features (the text projection) return, before L2 normalisation; the npy matrix too. */
TEST(cli_embed_unnormalized_matches_hf_features)
{
    embed_vs_hf("--unnormalized", "image_embeds_unnormalized", "text_embeds_unnormalized", 1);
    cJSON *exp = load_json(fixture("tiny-a/expected.json"));
    if (!exp) return;
    float *want = json_tensor(get(cJSON_GetArrayItem(get(exp, "cases"), 1), "image_embeds_unnormalized"), NULL), got[40];
    char path[512];
    snprintf(path, sizeof path, "%s/unnormalized.npy", test_tmpdir());
    run_result r = run_cmd("%s embed --unnormalized --format npy -o %s -m %s %s", A, path, fixture("tiny-a"),
                           fixture("images/astronaut.png"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    FILE *f = fopen(path, "rb");
    CHECK(f && fseek(f, -40 * (long)sizeof(float), SEEK_END) == 0 && fread(got, sizeof(float), 40, f) == 40);
    if (f) fclose(f);
    CHECK_CLOSE(got, want, 40, relative_tol(want, 40));
    free(want);
    run_free(&r);
    cJSON_Delete(exp);
}

TEST(cli_embed_npy_is_a_valid_matrix)
{
    char path[512];
    snprintf(path, sizeof path, "%s/e.npy", test_tmpdir());
    run_result r = run_cmd("%s embed -m %s --format npy -o %s %s %s", A, fixture("tiny-b"), path,
                           fixture("images/astronaut.png"), fixture("images/rocket.bmp"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    CHECK(f && fread(head, 1, 10, f) == 10);
    CHECK(memcmp(head, "\x93NUMPY\x01\x00", 8) == 0);
    int hl = head[8] | head[9] << 8;
    CHECK_INT((10 + hl) % 64, 0);
    char dict[256] = "";
    CHECK(fread(dict, 1, (size_t)hl < sizeof dict - 1 ? (size_t)hl : sizeof dict - 1, f) > 0);
    CHECK_CONTAINS(dict, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 16)");
    float rows[32];
    fseek(f, 10 + hl, SEEK_SET);
    CHECK(fread(rows, sizeof(float), 32, f) == 32);
    double norm = 0;
    for (int i = 0; i < 16; i++) norm += rows[16 + i] * rows[16 + i];
    CHECK(fabs(norm - 1) < 1e-5);
    if (f) fclose(f);
    run_free(&r);
}

/* `align tokenize` against every tokenizer fixture case (one process, many operands). */
TEST(cli_tokenize_matches_hf)
{
    cJSON *cases = load_json(fixture("tokenizer_cases.json"));
    if (!cases) return;
    /* the texts go through a file, one per line, so no case needs shell quoting; cases with
     * newlines are left to the library tests */
    const cJSON *c;
    int checked = 0, bad = 0;
    cJSON_ArrayForEach(c, get(cases, "cases")) {
        const char *text = get(c, "text")->valuestring;
        if (strchr(text, '\n') || strchr(text, '\'') || checked >= 40) continue;
        run_result r = run_cmd("%s tokenize -m %s -- '%s'", A, fixture("tiny-a"), text);
        cJSON *o = cJSON_Parse(r.out);
        const cJSON *ids = o ? cJSON_GetObjectItem(o, "ids") : NULL, *want = get(c, "ids");
        int same = ids && cJSON_GetArraySize(ids) == cJSON_GetArraySize(want);
        for (int i = 0; same && i < cJSON_GetArraySize(want); i++)
            same = cJSON_GetArrayItem(ids, i)->valueint == cJSON_GetArrayItem(want, i)->valueint;
        if (!same && bad++ < 5) CHECK_MSG(0, "tokenize '%s': %s", text, r.out);
        checked++;
        cJSON_Delete(o);
        run_free(&r);
    }
    CHECK_INT(bad, 0);
    CHECK(checked == 40);
    cJSON_Delete(cases);
}

/* ---- inputs ----------------------------------------------------------------------------------- */

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(cli_directories_files_from_and_stdin)
{
    const char *dir = test_tmpdir();
    run_result r = run_cmd("mkdir -p %s/photos/sub && cp %s %s/photos/b.png && cp %s %s/photos/a.jpg && "
                           "cp %s %s/photos/sub/c.bmp && echo notes > %s/photos/readme.txt",
                           dir, fixture("images/astronaut.png"), dir, fixture("images/cat.jpg"), dir,
                           fixture("images/rocket.bmp"), dir, dir);
    run_free(&r);
    /* a directory: its images in sorted order, not the text file, not the subdirectory */
    r = run_cmd("%s classify -m %s -l cat -l rocket --jsonl %s/photos", A, fixture("tiny-a"), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_INT(count_lines(r.out), 2);
    char *a = strstr(r.out, "a.jpg"), *b = strstr(r.out, "b.png");
    CHECK(a && b && a < b);
    run_free(&r);
    /* -r adds the subdirectory */
    r = run_cmd("%s classify -m %s -l cat -l rocket --jsonl -r %s/photos", A, fixture("tiny-a"), dir);
    CHECK_INT(count_lines(r.out), 3);
    CHECK_CONTAINS(r.out, "sub/c.bmp");
    run_free(&r);
    /* --files-from with NUL separators, from a pipe */
    r = run_cmd("find %s/photos -name '*.*g' -print0 | sort -z | %s classify -0 --files-from - -m %s -l cat -l rocket --jsonl",
                dir, A, fixture("tiny-a"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_INT(count_lines(r.out), 2);
    run_free(&r);
    /* an image on stdin */
    r = run_cmd("%s classify -m %s --jsonl - cat rocket < %s", A, fixture("tiny-a"), fixture("images/rocket.bmp"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "{\"image\":\"-\",\"results\":[");
    run_free(&r);
}

/* A directory's images are its files of every extension PIL registers for a format align reads
 * (Image.registered_extensions() of Pillow 9.4), whatever their case; other files are not, and
 * photos of a format align cannot read are counted in one line. */
TEST(cli_directories_take_every_extension_pil_registers)
{
    if (test_skip_in_a_rerun()) return;
    static const struct {
        const char *fixture, *names[6];
    } kinds[] = {
        {"images/cat.jpg", {"a.jpg", "b.JPEG", "c.jpe", "d.jfif", "e.mpo"}},
        {"images/astronaut.png", {"f.png", "g.apng"}},
        {"formats/gif/im.gif", {"h.gif"}},
        {"images/rocket.bmp", {"i.bmp", "j.dib"}},
        {"formats/tga/im-rgb.tga", {"k.tga", "l.icb", "m.vda", "n.vst"}},
        {"formats/pnm/im-plain.pnm", {"o.pnm", "p.ppm", "q.pgm", "r.pbm"}},
        {"formats/webp/lossy.webp", {"s.webp"}},
        {"formats/tiff/planar.tif", {"t.tif", "u.TIFF"}},
        {"formats/ico/dib-24.ico", {"v.ico"}},
        {"formats/psd/rgb-raw.psd", {"w.psd", "x.PSD"}},
        {"formats/cur/cur-24.cur", {"y.cur"}},
        {"formats/jp2/rgb.jp2", {"z.jp2", "z.JPF", "z.jpx"}},
        {"formats/jp2/rgb.j2k", {"z.j2k", "z.jpc", "z.j2c"}},
        {"formats/sgi/pil-rgb.sgi", {"z.sgi", "z.RGB", "z.rgba", "z.bw"}},
        {"formats/xbm/pil-13x7.xbm", {"z.xbm"}},
        {"formats/xpm/im.xpm", {"z.XPM"}},
        {"formats/icns/pil.icns", {"z.icns"}},
        {"formats/pcx/bits1-planes1-w1.pcx", {"z.pcx"}},
        {"formats/pcx/dcx-8bit-page.dcx", {"z.DCX"}},
        {"formats/dds/dxt1-13x7.dds", {"z.dds"}},
        {"formats/sun/bits1-type0.ras", {"z.ras"}},
        {"formats/msp/danm-odd-fields.msp", {"z.msp"}},
        {"formats/gbr/trailing-data.gbr", {"z.gbr"}},
        {"formats/blp/dxt1-13x7.blp", {"z.BLP"}},
        {"formats/ftex/dxt1-13x7.ftc", {"z.ftc"}},
        {"formats/ftex/rgb-13x7.ftu", {"z.ftu"}},
        {"formats/pcd/gradient.pcd", {"z.pcd"}},
        {"formats/im/pil-RGB.im", {"z.im", "z.IM"}},
        {"formats/pixar/rgb-13x7.pxr", {"z.pxr"}},
        {"formats/fli/copy.fli", {"z.fli", "z.FLC"}},
        {"formats/fits/bitpix8.fits", {"z.fit", "z.FITS"}},
    };
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kinds", test_tmpdir());
    run_result r = run_cmd("mkdir -p %s/sub && echo notes > %s/readme.txt && : > %s/jpg && : > %s/IMG_0001.HEIC && "
                           ": > %s/sub/IMG_0002.heic && : > %s/c.avif && : > %s/d.DNG && : > %s/e.psb",
                           dir, dir, dir, dir, dir, dir, dir, dir);
    run_free(&r);
    int images = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int i = 0; kinds[k].names[i]; i++, images++) {
            r = run_cmd("cp %s %s/%s", fixture(kinds[k].fixture), dir, kinds[k].names[i]);
            CHECK_MSG(r.status == 0, "%s", r.err);
            run_free(&r);
        }
    r = run_cmd("%s embed -m %s -r %s", A, fixture("tiny-a"), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_INT(count_lines(r.out), images);
    CHECK(!strstr(r.out, "readme.txt") && !strstr(r.out, "/jpg\"") && !strstr(r.out, "HEIC"));
    CHECK_CONTAINS(r.err, "kinds: left out 2 HEIC, 1 AVIF, 1 PSB, 1 camera raw: align does not read these formats");
    CHECK_INT(count_lines(r.err), 1);
    run_free(&r);
}

/* EPS is rendered by Ghostscript, as Pillow renders it: without `gs` on PATH a file is one line
 * saying so (Pillow cannot load it then either), and a directory's .eps and .ps files are still
 * its images. */
TEST(cli_eps_without_ghostscript_says_so)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/eps-walk", test_tmpdir());
    run_result r = run_cmd("mkdir -p %s/empty-path && cp %s %s/a.eps && cp %s %s/b.PS", dir, fixture("formats/eps/rect.eps"),
                           dir, fixture("formats/eps/pil-rgb.eps"), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    run_free(&r);
    r = run_cmd("PATH=%s/empty-path %s embed -m %s %s", dir, A, fixture("tiny-a"), dir);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "a.eps: Pillow renders EPS with Ghostscript, and gs is not installed");
    CHECK_CONTAINS(r.err, "b.PS: Pillow renders EPS with Ghostscript, and gs is not installed");
    CHECK_INT(count_lines(r.err), 2);
    run_free(&r);
}

TEST(cli_labels_file_skips_blank_and_comment_lines)
{
    /* a byte order mark first (a Windows editor's), and lines of white space (a page break's form
     * feed among them), which are blank as a blank label operand is */
    const char *text = "\xef\xbb\xbf" "cat\n# animals\n\n \t \n\f\n\v \r\r\ndog\r\n#bird\nrocket\n";
    const char *labels = write_tmp("labels.txt", text, strlen(text));
    run_result r = run_cmd("%s classify -m %s --labels %s --jsonl %s", A, fixture("tiny-a"), labels, fixture("images/cat.jpg"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    const cJSON *res = o ? get(o, "results") : NULL;
    CHECK_INT(cJSON_GetArraySize(res), 3);
    CHECK(!isnan(score_of(res, "cat", "score")) && !isnan(score_of(res, "dog", "score")) &&
          !isnan(score_of(res, "rocket", "score")));
    cJSON_Delete(o);
    run_free(&r);
    /* labels from stdin */
    r = run_cmd("printf 'cat\\ndog\\n' | %s classify -m %s --labels - --jsonl %s", A, fixture("tiny-a"), fixture("images/cat.jpg"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "\"label\":\"dog\"");
    run_free(&r);
    /* a file that is not UTF-8 (Latin-1, say) is named with its line */
    r = run_cmd("%s classify -m %s --labels %s %s", A, fixture("tiny-a"), write_tmp("latin1.txt", "cat\ncaf\xe9\n", 9),
                fixture("images/cat.jpg"));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "latin1.txt:2: invalid UTF-8 at byte 3 (0xE9)\n"); /* bytes counted as the tokenizer's */
    CHECK_INT(count_lines(r.err), 1);
    run_free(&r);
    /* --labels adds up as -l does: the -l labels, then each file's in turn */
    const char *a = write_tmp("a.txt", "cat\n", 4), *b = write_tmp("b.txt", "dog\nrocket\n", 11);
    run_result files = run_cmd("%s classify -m %s --tsv -l bird --labels %s --labels %s %s", A, fixture("tiny-a"), a,
                               b, fixture("images/cat.jpg"));
    run_result each = run_cmd("%s classify -m %s --tsv -l bird -l cat -l dog -l rocket %s", A, fixture("tiny-a"),
                              fixture("images/cat.jpg"));
    CHECK_MSG(files.status == 0, "%s", files.err);
    CHECK_INT(count_lines(files.out), 5);
    CHECK_STR(files.out, each.out);
    run_free(&files);
    run_free(&each);
}

/* IMAGE LABEL...: a label that is an image or a directory was most likely meant as an image. */
TEST(cli_label_naming_an_image_is_said)
{
    const char *m = fixture("tiny-a"), *img = fixture("images/cat.jpg"), *bmp = fixture("images/rocket.bmp");
    run_result r = run_cmd("%s classify -m %s %s %s cat", A, m, img, bmp);
    CHECK_INT(r.status, 0);
    CHECK_INT(count_lines(r.out), 2);
    char want[1024];
    snprintf(want, sizeof want, "align: warning: the label '%s' is an image or a directory, and only the first "
             "operand is read as one: to classify several, give the labels with -l\n", bmp);
    CHECK_STR(r.err, want);
    run_free(&r);
    /* a shell glob's worth of images is one line */
    r = run_cmd("%s classify -m %s %s %s %s cat", A, m, img, bmp, fixture("images"));
    snprintf(want, sizeof want, "align: warning: 2 labels are images or directories ('%s' the first), and only the "
             "first operand is read as one: to classify several, give the labels with -l\n", bmp);
    CHECK_STR(r.err, want);
    run_free(&r);
    /* -q is quiet; a label that only looks like a file name is no file, and not said */
    r = run_cmd("%s classify -q -m %s %s %s cat; %s classify -m %s %s notthere.jpg cat", A, m, img, bmp, A, m, img);
    CHECK_INT(r.err_len, 0);
    run_free(&r);
}

TEST(cli_top_k_keeps_the_best)
{
    run_result all = run_cmd("%s classify -m %s --jsonl %s cat dog bird rocket", A, fixture("tiny-a"), fixture("images/cat.jpg"));
    run_result top = run_cmd("%s classify -m %s --jsonl -k 2 %s cat dog bird rocket", A, fixture("tiny-a"), fixture("images/cat.jpg"));
    cJSON *a = cJSON_Parse(all.out), *t = cJSON_Parse(top.out);
    const cJSON *ra = a ? get(a, "results") : NULL, *rt = t ? get(t, "results") : NULL;
    CHECK_INT(cJSON_GetArraySize(ra), 4);
    CHECK_INT(cJSON_GetArraySize(rt), 2);
    for (int i = 0; i < 2; i++)
        CHECK_STR(get(cJSON_GetArrayItem(rt, i), "label")->valuestring, get(cJSON_GetArrayItem(ra, i), "label")->valuestring);
    cJSON_Delete(a);
    cJSON_Delete(t);
    run_free(&all);
    run_free(&top);
}

/* Templates: the label is shown bare; the embedding is the template's. An ensemble is the
 * normalised mean of the templates' normalised embeddings (checked through `align embed`). */
TEST(cli_templates_and_ensembles)
{
    const char *m = fixture("tiny-b"), *img = fixture("images/astronaut.png");
    run_result t1 = run_cmd("%s classify -m %s --jsonl -t 'a photo of a {}.' %s cat dog", A, m, img);
    run_result ref = run_cmd("%s classify -m %s --jsonl %s 'a photo of a cat.' 'a photo of a dog.'", A, m, img);
    cJSON *a = cJSON_Parse(t1.out), *b = cJSON_Parse(ref.out);
    CHECK(a && b);
    if (a && b) {
        CHECK(!isnan(score_of(get(a, "results"), "cat", "logit")));
        CHECK(fabs(score_of(get(a, "results"), "cat", "logit") - score_of(get(b, "results"), "a photo of a cat.", "logit")) < 1e-6);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    run_free(&t1);
    run_free(&ref);
    /* ensemble of two templates against embeddings computed separately */
    run_result ens = run_cmd("%s classify -m %s --jsonl -t 'a photo of a {}.' -t 'a drawing of a {}.' %s cat dog", A, m, img);
    run_result te = run_cmd("%s embed -m %s --text 'a photo of a cat.' 'a drawing of a cat.'", A, m);
    run_result ie = run_cmd("%s embed -m %s %s", A, m, img);
    run_result info = run_cmd("%s info -m %s --json", A, m);
    cJSON *e = cJSON_Parse(ens.out), *im = cJSON_Parse(ie.out), *inf = cJSON_Parse(info.out);
    char *l2 = strchr(te.out, '\n');
    cJSON *t_a = cJSON_Parse(te.out), *t_b = l2 ? cJSON_Parse(l2 + 1) : NULL;
    CHECK(e && im && inf && t_a && t_b);
    if (e && im && inf && t_a && t_b) {
        double mean[16], norm = 0, dot = 0;
        for (int d = 0; d < 16; d++) {
            mean[d] = (cJSON_GetArrayItem(get(t_a, "embedding"), d)->valuedouble +
                       cJSON_GetArrayItem(get(t_b, "embedding"), d)->valuedouble) / 2;
            norm += mean[d] * mean[d];
        }
        for (int d = 0; d < 16; d++) dot += mean[d] / sqrt(norm) * cJSON_GetArrayItem(get(im, "embedding"), d)->valuedouble;
        double want = dot / get(inf, "temperature")->valuedouble;
        CHECK_MSG(fabs(score_of(get(e, "results"), "cat", "logit") - want) < 1e-4, "ensemble logit %.6g, expected %.6g",
                  score_of(get(e, "results"), "cat", "logit"), want);
    }
    cJSON_Delete(e);
    cJSON_Delete(im);
    cJSON_Delete(inf);
    cJSON_Delete(t_a);
    cJSON_Delete(t_b);
    run_free(&ens);
    run_free(&te);
    run_free(&ie);
    run_free(&info);
}

/* ---- output formats --------------------------------------------------------------------------- */

TEST(cli_every_format_parses_back)
{
    const char *m = fixture("tiny-a"), *imgs = fixture("images/cat.jpg");
    char two[1024];
    snprintf(two, sizeof two, "%s %s", imgs, fixture("images/rocket.bmp"));
    run_result j = run_cmd("%s classify -m %s --json -l cat -l dog %s", A, m, two);
    cJSON *arr = cJSON_Parse(j.out);
    CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 2);
    cJSON_Delete(arr);
    run_free(&j);
    run_result t = run_cmd("%s classify -m %s --format tsv -l cat -l dog %s", A, m, two);
    CHECK_MSG(t.status == 0, "%s", t.err);
    CHECK(strncmp(t.out, "image\tlabel\tscore\tlogit\n", 24) == 0);
    CHECK_INT(count_lines(t.out), 5);
    char *row = strchr(t.out, '\n') + 1;
    CHECK_CONTAINS(row, "cat.jpg\t");
    char *tab3 = strrchr(strtok(row, "\n"), '\t');
    CHECK(tab3 && strtof(tab3 + 1, NULL) != 0);
    run_free(&t);
    /* text: one image gives only its lines, probability first */
    run_result one = run_cmd("%s classify -m %s %s cat dog", A, m, imgs);
    CHECK_INT(count_lines(one.out), 2);
    CHECK(strchr(one.out, '%') != NULL && strstr(one.out, "cat") > strchr(one.out, '%'));
    run_free(&one);
    /* several images: each path, then its lines */
    run_result many = run_cmd("%s classify -m %s -l cat -l dog %s", A, m, two);
    CHECK_CONTAINS(many.out, "cat.jpg\n");
    CHECK_CONTAINS(many.out, "rocket.bmp\n");
    CHECK_INT(count_lines(many.out), 7);
    run_free(&many);
}

/* Floats are printed in the shortest form that reads back as the same float32: never more than
 * 9 significant digits, and one digit fewer would read back as another float. */
TEST(cli_floats_read_back_exactly)
{
    run_result r = run_cmd("%s embed -m %s --text cat", A, fixture("tiny-a"));
    char *p = strstr(r.out, "\"embedding\":[");
    CHECK(p != NULL);
    int n = 0;
    for (char *tok = p ? strtok(p + 13, ",]") : NULL; tok && *tok != '}'; tok = strtok(NULL, ",]"), n++) {
        char *end;
        float v = strtof(tok, &end);
        CHECK_MSG(*end == 0, "not a number: %s", tok);
        /* significant digits: from the first non-zero digit to the last one (leading zeros of
         * 0.00321 are not digits of the value) */
        int sig = 0, seen = 0, run = 0;
        for (const char *c = tok; *c && *c != 'e'; c++) {
            if (*c < '0' || *c > '9') continue;
            if (*c != '0') seen = 1, sig += run + 1, run = 0;
            else if (seen) run++;
        }
        /* every float32 reads back from 9 significant digits (FLT_DECIMAL_DIG) */
        CHECK_MSG(sig <= 9, "%s is longer than needed", tok);
        char shorter[400];
        if (sig > 1) {
            snprintf(shorter, sizeof shorter, "%.*g", sig - 1, (double)v);
            CHECK_MSG(strtof(shorter, NULL) != v, "%s: %s would do", tok, shorter);
        }
    }
    CHECK_INT(n, 40);
    run_free(&r);
}

/* ---- failures --------------------------------------------------------------------------------- */

TEST(cli_one_corrupt_image_does_not_stop_the_batch)
{
    const char *bad = write_tmp("broken.jpg", "\xff\xd8\xff\xe0 not really a jpeg", 22);
    run_result r = run_cmd("%s classify -m %s --jsonl -l cat -l dog %s %s %s", A, fixture("tiny-a"),
                           fixture("images/cat.jpg"), bad, fixture("images/rocket.bmp"));
    CHECK_INT(r.status, 2);
    CHECK_INT(count_lines(r.out), 3);
    char *l1 = strchr(r.out, '\n'), *l2 = l1 ? strchr(l1 + 1, '\n') : NULL;
    CHECK(l1 && l2);
    if (l1 && l2) {
        *l2 = 0;
        cJSON *o = cJSON_Parse(l1 + 1);
        CHECK(o && cJSON_GetObjectItem(o, "error") && strstr(get(o, "image")->valuestring, "broken.jpg"));
        cJSON_Delete(o);
    }
    CHECK_CONTAINS(r.err, "align: ");
    CHECK_CONTAINS(r.err, "broken.jpg: ");
    CHECK_INT(count_lines(r.err), 1);
    run_free(&r);
    /* json stays one valid document */
    r = run_cmd("%s classify -m %s --json -l cat %s %s", A, fixture("tiny-a"), bad, fixture("images/cat.jpg"));
    CHECK_INT(r.status, 2);
    cJSON *arr = cJSON_Parse(r.out);
    CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 2);
    cJSON_Delete(arr);
    run_free(&r);
}

static void expect_usage_error(const char *args, const char *needle)
{
    run_result r = run_cmd("%s %s", A, args);
    CHECK_MSG(r.status == 1, "align %s: exit %d", args, r.status);
    CHECK_MSG(r.out_len == 0, "align %s printed to stdout: %s", args, r.out);
    CHECK_CONTAINS(r.err, needle);
    CHECK_MSG(count_lines(r.err) == 1, "align %s: %s", args, r.err);
    run_free(&r);
}

/* -f is --format on every command that writes one, as search had it first. */
TEST(cli_short_f_is_format_everywhere)
{
    const char *m = fixture("tiny-a"), *img = fixture("images/cat.jpg");
    static const char *const runs[][2] = {{"classify -l cat -l dog", "tsv"}, {"embed", "json"},
                                          {"tokenize", "json"}, {"info", "json"}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const char *operand = strncmp(runs[i][0], "tokenize", 8) == 0 ? "cat" : strcmp(runs[i][0], "info") ? img : "";
        run_result shrt = run_cmd("%s %s -m %s -f %s %s", A, runs[i][0], m, runs[i][1], operand);
        run_result lng = run_cmd("%s %s -m %s --format %s %s", A, runs[i][0], m, runs[i][1], operand);
        CHECK_MSG(shrt.status == 0 && lng.status == 0, "%s: %s", runs[i][0], shrt.err);
        CHECK_MSG(shrt.out_len > 0 && shrt.out_len == lng.out_len && memcmp(shrt.out, lng.out, lng.out_len) == 0,
                  "%s -f %s: %s", runs[i][0], runs[i][1], shrt.out);
        run_free(&shrt);
        run_free(&lng);
    }
    expect_usage_error("classify -f bogus x.jpg cat", "unknown format 'bogus' (text, json, jsonl or tsv)");
    expect_usage_error("tokenize -f tsv cat", "tokenize writes jsonl or json");
}

/* Hugging Face's load_image fetches an http(s) address; align says to download it, and a batch goes on. */
TEST(cli_url_is_told_to_download_it)
{
    const char *m = fixture("tiny-a"), *img = fixture("images/cat.jpg");
    run_result r = run_cmd("%s classify -m %s HTTPS://example.com/cat.jpg cat dog", A, m);
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: HTTPS://example.com/cat.jpg: a URL, and align reads only files: download it first "
                     "(curl -sLO URL)\n");
    run_free(&r);
    r = run_cmd("%s embed -m %s http://example.com/a.png %s", A, m, img);
    CHECK_INT(r.status, 2);
    CHECK_INT(count_lines(r.out), 2);
    CHECK_CONTAINS(r.err, "http://example.com/a.png: a URL, and align reads only files");
    run_free(&r);
}

/* On a terminal the progress line shares the screen with the results: it is cleared before each
 * batch's results, so none is written after it on its line. script(1) gives align a terminal. */
TEST(cli_progress_line_is_cleared_before_results_on_a_terminal)
{
    const char *dir = test_tmpdir();
    run_result r = run_cmd("mkdir -p %s/many && for i in 0 1 2 3 4 5 6 7 8 9; do cp %s %s/many/$i.jpg; done && "
                           "script -qec '%s classify -m %s -l cat -l dog --jsonl %s/many' /dev/null",
                           dir, fixture("images/cat.jpg"), dir, A, fixture("tiny-a"), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, " images/s, ");
    int results = 0;
    for (const char *p = strstr(r.out, "{\"image\""); p; p = strstr(p + 1, "{\"image\"")) {
        results++;
        CHECK_MSG(p[-1] == '\n' || (p - r.out >= 4 && memcmp(p - 4, "\r\033[K", 4) == 0), "result %d after: %.60s",
                  results, p - 60 > r.out ? p - 60 : r.out);
    }
    CHECK_INT(results, 10);
    run_free(&r);
    /* a JSON array's record waits on its line for the next one's comma: no progress line there */
    r = run_cmd("script -qec '%s classify -m %s -l cat -l dog --json %s/many' /dev/null | tr -d '\\r'", A,
                fixture("tiny-a"), dir);
    CHECK_MSG(r.status == 0 && !strstr(r.out, "images/s"), "%s", r.out);
    cJSON *arr = cJSON_Parse(r.out);
    CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 10);
    cJSON_Delete(arr);
    run_free(&r);
}

/* '-' on a terminal would wait for an image typed in: said at once instead. */
TEST(cli_image_from_a_terminal_is_refused)
{
    run_result r = run_cmd("script -qec '%s classify -m %s - cat dog' /dev/null < /dev/null", A, fixture("tiny-a"));
    CHECK_CONTAINS(r.out, "align: -: stdin is a terminal, not an image: pipe one in (cat photo.jpg | align ...)");
    CHECK_MSG(r.status == 1, "exit %d", r.status);
    run_free(&r);
}

/* Every input failing is nothing done: exit 1, not 2, and an -o FILE the user had is kept. */
TEST(cli_nothing_done_exits_1_and_keeps_the_output)
{
    const char *dir = test_tmpdir(), *m = fixture("tiny-a");
    static const char *const runs[] = {"classify -l a -l b", "classify -l a -l b --format tsv", "embed --format npy",
                                       "embed"};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        run_result r = run_cmd("echo precious > %s/keep.txt && %s %s -m %s -o %s/keep.txt %s/nope.jpg; echo $?; "
                               "cat %s/keep.txt", dir, A, runs[i], m, dir, dir, dir);
        CHECK_MSG(strcmp(r.out, "1\nprecious\n") == 0, "%s: %s", runs[i], r.out);
        CHECK_CONTAINS(r.err, "nope.jpg: No such file or directory");
        run_free(&r);
    }
    /* one of two failing is still a partial run, its output written */
    run_result r = run_cmd("%s classify -l a -l b --jsonl -m %s -o %s/two.jsonl %s/nope.jpg %s; echo $?; "
                           "wc -l < %s/two.jsonl", A, m, dir, dir, fixture("images/cat.jpg"), dir);
    CHECK_STR(r.out, "2\n2\n");
    run_free(&r);
    r = run_cmd("%s index -q --db %s/none.db -m %s %s/nope.jpg; echo $?; %s tokenize -m %s \"$(printf '\\377')\" "
                ">/dev/null; echo $?; %s tokenize -m %s \"$(printf '\\377')\" ok >/dev/null; echo $?",
                A, dir, m, dir, A, m, A, m);
    CHECK_STR(r.out, "1\n1\n2\n");
    run_free(&r);
}

/* -o naming a file the run reads (an image, through a link too, the labels, the list of images,
 * the index) would rename the results over it at the end: refused, the file kept. */
TEST(cli_output_that_is_an_input_is_refused)
{
    const char *dir = test_tmpdir(), *m = fixture("tiny-a");
    run_result r = run_cmd("D=%s && cp %s $D/in.jpg && ln -sf in.jpg $D/link.jpg && printf 'a\\nb\\n' > $D/labels.txt && "
                           "echo $D/in.jpg > $D/list.txt", dir, fixture("images/cat.jpg"));
    run_free(&r);
    static const struct {
        const char *args, *victim, *named;
    } runs[] = {
        {"classify -l a -l b -o $D/in.jpg $D/in.jpg", "in.jpg", "in.jpg)"},
        {"classify -l a -l b -o $D/link.jpg $D/in.jpg", "in.jpg", "link.jpg: is also an input of this run ("},
        {"classify --labels $D/labels.txt -o $D/labels.txt $D/in.jpg", "labels.txt", "labels.txt)"},
        {"classify -l a -l b --files-from $D/list.txt -o $D/list.txt", "list.txt", "list.txt)"},
        {"classify -l a -l b --db $D/in.jpg -o $D/in.jpg $D/in.jpg", "in.jpg", "in.jpg)"},
        {"embed -o $D/in.jpg $D/in.jpg", "in.jpg", "in.jpg)"},
        {"embed --resume -o $D/in.jpg $D/in.jpg", "in.jpg", "in.jpg)"},
        {"embed --files-from $D/list.txt -o $D/list.txt", "list.txt", "list.txt)"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        r = run_cmd("D=%s && sum=$(cksum < $D/%s) && %s %s -m %s; echo $?; [ \"$(cksum < $D/%s)\" = \"$sum\" ] && echo kept",
                    dir, runs[i].victim, A, runs[i].args, m, runs[i].victim);
        CHECK_MSG(strcmp(r.out, "1\nkept\n") == 0, "%s: %s", runs[i].args, r.out);
        CHECK_CONTAINS(r.err, runs[i].named);
        CHECK_CONTAINS(r.err, "write the output elsewhere");
        run_free(&r);
    }
    /* texts are no files: a text that happens to name the output is only a text */
    r = run_cmd("D=%s && %s embed --text -m %s -o $D/labels.txt $D/labels.txt; echo $?", dir, A, m);
    CHECK_STR(r.out, "0\n");
    run_free(&r);
}

/* Errors found by trying what users try: each names what is wrong, exits 1, and writes nothing. */
TEST(cli_errors_name_the_cause)
{
    const char *dir = test_tmpdir(), *m = fixture("tiny-a"), *cat = fixture("images/cat.jpg");
    static const struct {
        const char *args, *err;
    } runs[] = {
        /* the temporary file's directory is what fails, not the file named */
        {"classify -m $M -l a -l b -o $D/none/out.txt $C", "none/out.txt: cannot create a temporary file in its directory"},
        {"classify -m $M -l a -l b -o '' $C", "align: -o: an empty file name"},
        {"embed -m $M --resume -o '' $C", "align: -o: an empty file name"},
        {"embed -m $M $D/empty", "empty: no images in it"},
        {"classify -m $M -l a -l b $D/empty $D/empty2", "align: no images in the 2 directories given"},
        /* the labels and the image both from stdin: said before the image's bytes are read as labels */
        {"classify -m $M --labels - - < $C", "align: stdin ('-') is given more than once"},
        {"info -m $M/config.json", "config.json: not a directory; --model names the directory"},
    };
    run_result r = run_cmd("mkdir -p %s/empty %s/empty2", dir, dir);
    run_free(&r);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        r = run_cmd("D=%s C=%s M=%s && %s %s > $D/stdout.txt; echo $?; wc -c < $D/stdout.txt", dir, cat, m, A,
                    runs[i].args);
        CHECK_MSG(strcmp(r.out, "1\n0\n") == 0, "%s: %s", runs[i].args, r.out);
        CHECK_CONTAINS(r.err, runs[i].err);
        CHECK_INT(count_lines(r.err), 1);
        run_free(&r);
    }
}

TEST(cli_usage_errors_exit_1_with_one_line)
{
    char buf[1024];
    expect_usage_error("frobnicate", "unknown command 'frobnicate'");
    expect_usage_error("classify", "no image and no labels");
    snprintf(buf, sizeof buf, "classify -m %s %s", fixture("tiny-a"), fixture("images/cat.jpg"));
    expect_usage_error(buf, "no labels to score");
    expect_usage_error("classify --top zero x.jpg cat", "--top takes a whole number");
    expect_usage_error("classify --bogus x.jpg cat", "unknown option '--bogus'");
    /* a bad format is answered with the command's own */
    expect_usage_error("classify --format bogus x.jpg cat", "unknown format 'bogus' (text, json, jsonl or tsv)");
    expect_usage_error("embed --format bogus x.jpg", "unknown format 'bogus' (jsonl, json or npy)");
    expect_usage_error("search --format bogus cat", "unknown format 'bogus' (text, json, jsonl, tsv or paths)");
    /* a short option is named by its letter, even inside a group or after an operand */
    expect_usage_error("classify x.jpg cat -dog", "unknown option '-d' (an operand that starts with '-' goes after '--')");
    expect_usage_error("search -zq cat", "unknown option '-z'");
    expect_usage_error("classify x.jpg cat '- 5 degrees'", "unknown option '- 5 degrees'");
    expect_usage_error("search -\xc3\xa9 x", "unknown option '-\xc3\xa9'");
    expect_usage_error("convert -zz m", "unknown option '-z'");
    expect_usage_error("classify -qk", "option '-k' needs a value");
    expect_usage_error("index --merge m.db --db x.db p.db", "--merge takes only -q and the indexes to merge, not --db");
    expect_usage_error("index --merge m.db -rq p.db", "--merge takes only -q and the indexes to merge, not -r");
    /* stdin can be read once */
    expect_usage_error("classify -l a -l b - -", "stdin ('-') is given more than once");
    expect_usage_error("classify --labels - -", "stdin ('-') is given more than once");
    expect_usage_error("embed --files-from - -", "stdin ('-') is given more than once");
    snprintf(buf, sizeof buf, "classify -m %s -l a -l b --files-from %s", fixture("tiny-a"), write_tmp("dashes.txt", "-\n-\n", 4));
    expect_usage_error(buf, "stdin ('-') is given more than once");
    snprintf(buf, sizeof buf, "classify -m %s --labels - --files-from %s", fixture("tiny-a"), write_tmp("dash.txt", "-\n", 2));
    expect_usage_error(buf, "stdin ('-') is given more than once");
    expect_usage_error("classify -t 'no hole' x.jpg cat", "has no {} for the label");
    expect_usage_error("classify --format yaml x.jpg cat", "unknown format 'yaml'");
    expect_usage_error("classify -m /nonexistent/model x.jpg cat", "/nonexistent/model: model directory not found");
    expect_usage_error("embed --format tsv x.jpg", "embed writes jsonl, json or npy");
    expect_usage_error("convert", "give one model directory");
    snprintf(buf, sizeof buf, "classify -m %s %s cat", fixture("images"), fixture("images/cat.jpg"));
    expect_usage_error(buf, "images: not a model directory (no config.json); --model names the directory");
    expect_usage_error("classify -m '' x.jpg cat", "--model is empty: it names the directory");
    /* a directory named by $ALIGN_MODEL says so: the user may have set it long ago */
    run_result r = run_cmd("ALIGN_MODEL=/nonexistent/model %s classify x.jpg cat", A);
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: /nonexistent/model (from $ALIGN_MODEL): model directory not found; get the weights "
                     "with 'make weights' or pass --model DIR\n");
    run_free(&r);
    r = run_cmd("cd %s && ALIGN_MODEL= %s classify x.jpg cat", test_tmpdir(), A);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "no model found");
    CHECK_CONTAINS(r.err, "make weights");
    run_free(&r);
}

TEST(cli_closed_pipe_ends_quietly)
{
    if (test_skip_in_a_rerun()) return;
    char list[8192] = "";
    size_t k = 0;
    for (int i = 0; i < 40; i++) k += (size_t)snprintf(list + k, sizeof list - k, " %s", fixture("images/astronaut.png"));
    run_result r = run_cmd("%s classify -m %s -l a -l b --jsonl%s | head -1", A, fixture("tiny-a"), list);
    CHECK_INT(r.status, 0);
    CHECK_INT(count_lines(r.out), 1);
    CHECK_MSG(r.err_len == 0, "stderr: %s", r.err);
    run_free(&r);
}

TEST(cli_write_error_exits_1)
{
    run_result r = run_cmd("%s classify -m %s --jsonl %s cat dog > /dev/full", A, fixture("tiny-a"), fixture("images/cat.jpg"));
    CHECK_INT(r.status, 1);
    CHECK_STR(r.err, "align: stdout: write error: No space left on device\n");
    run_free(&r);
}

TEST(cli_help_and_version)
{
    run_result r = run_cmd("%s --version", A);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "align ");
    run_free(&r);
    static const char *const cmds[] = {"classify", "embed", "tokenize", "info", "convert"};
    for (int i = 0; i < 5; i++) {
        r = run_cmd("%s %s --help", A, cmds[i]);
        CHECK_INT(r.status, 0);
        CHECK_CONTAINS(r.out, "usage: align ");
        run_free(&r);
    }
}

TEST(cli_info_describes_the_model)
{
    run_result r = run_cmd("%s info -m %s --json", A, fixture("tiny-a"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    CHECK(o != NULL);
    if (o) {
        CHECK_INT(get(o, "projection_dim")->valueint, 40);
        CHECK(fabs(get(o, "temperature")->valuedouble - 0.03) < 1e-7);
        CHECK_INT(get(get(o, "vision"), "blocks")->valueint, 10);
        CHECK_INT(get(get(o, "text"), "layers")->valueint, 2);
        CHECK(cJSON_IsString(get(get(o, "blas"), "core")));
        /* the identity indexes and label caches are kept under */
        align_error err;
        align_model *m = align_model_load(fixture("tiny-a"), &err);
        CHECK_MSG(m != NULL, "%s", err.message);
        if (m) CHECK_STR(cJSON_GetStringValue(get(o, "id")), align_model_id(m));
        align_model_free(m);
    }
    cJSON_Delete(o);
    run_free(&r);
}

/* align info names the ISA level the library chooses on this CPU (the test program runs on the same
 * CPU, under the same emulator if any) and the OpenBLAS kernel it runs on, after re-executing itself
 * for a better one. Under `make test EMULATE=...` the Makefile also names the emulated CPU's level and
 * kernel, so an emulator that let AVX-512 through, or a re-execution that escaped it, fails here. */
TEST(cli_info_names_this_cpus_level_and_kernel)
{
    const kernel_table *kt = NULL;
    align_error err;
    CHECK_MSG(kernel_table_choose(getenv("ALIGN_ISA"), "ALIGN_ISA", &kt, &err) == ALIGN_OK, "%s", err.message);
    const char *better = align_blas_better_core();
    const char *core = better ? better : align_blas_core();
    const char *want_isa = getenv("ALIGN_EXPECT_ISA"), *want_core = getenv("ALIGN_EXPECT_BLAS");
    run_result r = run_cmd("%s info -m %s --json", A, fixture("tiny-a"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    CHECK(o != NULL);
    if (o && kt) {
        const char *isa = cJSON_GetStringValue(get(o, "isa"));
        const char *loaded = cJSON_GetStringValue(get(get(o, "blas"), "core"));
        CHECK_STR(isa, kt->isa);
        CHECK_STR(loaded, core);
        if (want_isa) CHECK_STR(isa, want_isa);
        if (want_core) CHECK_STR(loaded, want_core);
    }
    cJSON_Delete(o);
    run_free(&r);
}

/* Run on one CPU of the machine's (taskset: an affinity mask, as a cpuset or Slurm's binding
 * gives), align's default thread count is 1, not the machine's cores. */
TEST(cli_threads_default_to_the_cpus_the_process_may_use)
{
    run_result r = run_cmd("taskset -c 0 %s info -m %s --json", A, fixture("tiny-a"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    CHECK(o && get(o, "threads")->valueint == 1);
    cJSON_Delete(o);
    run_free(&r);
}

/* ---- the image stream ------------------------------------------------------------------------- */

/* Twenty images, five of them broken, across three batches (the library's batch size is 8): every
 * image has its record, in input order, through classify and embed alike (embed reading the list
 * NUL-separated from stdin); each broken one is reported on stderr and the rest go on. Decoded by
 * one thread or by three, a batch's images are the same and so are its lines. */
TEST(cli_stream_keeps_input_order_across_batches)
{
    const char *dir = test_tmpdir(), *good[] = {"astronaut.png", "rocket.bmp", "cat.jpg"};
    static const int broken[] = {0, 7, 8, 15, 19};
    char list[8192] = "";
    size_t k = 0;
    for (int i = 0, b = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof name, "stream%02d.%s", i, i == broken[b] ? "png" : strchr(good[i % 3], '.') + 1);
        if (i == broken[b]) {
            write_tmp(name, "\x89PNG\r\n\x1a\n broken", 15);
            b++;
        } else {
            char src[64];
            snprintf(src, sizeof src, "images/%s", good[i % 3]);
            run_result cp = run_cmd("cp %s %s/%s", fixture(src), dir, name);
            run_free(&cp);
        }
        k += (size_t)snprintf(list + k, sizeof list - k, "%s/%s\n", dir, name);
    }
    const char *paths = write_tmp("stream.txt", list, k);
    run_result c = run_cmd("%s classify -m %s --jsonl -l cat -l rocket --files-from %s", A, fixture("tiny-a"), paths);
    run_result e = run_cmd("tr '\\n' '\\0' < %s | %s embed -m %s -0 --files-from -", paths, A, fixture("tiny-a"));
    for (int threads = 1; threads <= 3; threads += 2) {
        run_result t = run_cmd("%s embed -m %s --threads %d --files-from %s", A, fixture("tiny-a"), threads, paths);
        CHECK_INT(t.status, 2);
        CHECK_INT(count_lines(t.err), 5);
        CHECK_MSG(strcmp(t.out, e.out) == 0, "--threads %d:\n%s", threads, t.out);
        run_free(&t);
    }
    run_result *runs[] = {&c, &e};
    for (int r = 0; r < 2; r++) {
        CHECK_INT(runs[r]->status, 2);
        CHECK_INT(count_lines(runs[r]->out), 20);
        CHECK_INT(count_lines(runs[r]->err), 5);
        char *save, *line = strtok_r(runs[r]->out, "\n", &save);
        for (int i = 0, b = 0; i < 20 && line; i++, line = strtok_r(NULL, "\n", &save)) {
            cJSON *o = cJSON_Parse(line);
            char want[64];
            snprintf(want, sizeof want, "/stream%02d.", i);
            CHECK_MSG(o && strstr(get(o, "image")->valuestring, want), "line %d: %s", i, line);
            int failed = o && cJSON_GetObjectItem(o, "error") != NULL;
            CHECK_MSG(failed == (i == broken[b]), "line %d: %s", i, line);
            b += i == broken[b];
            cJSON_Delete(o);
        }
    }
    run_free(&c);
    run_free(&e);
}

/* ---- output ----------------------------------------------------------------------------------- */

/* U+2028 and U+2029 (and U+0085) are line breaks to readers that split on Unicode line breaks
 * (Python's str.splitlines): in a label or a file name they must not cut a JSON line. */
TEST(cli_json_escapes_unicode_line_breaks)
{
    const char *breaks[] = {"\xe2\x80\xa8", "\xe2\x80\xa9", "\xc2\x85"};
    const char *label = "a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\xc2\x85" "d";
    char path[512];
    snprintf(path, sizeof path, "%s/line\xe2\x80\xa8" "break.png", test_tmpdir());
    run_result cp = run_cmd("cp %s '%s'", fixture("images/astronaut.png"), path);
    run_free(&cp);
    run_result r[] = {run_cmd("%s classify -m %s --jsonl -l '%s' -l plain '%s'", A, fixture("tiny-a"), label, path),
                      run_cmd("%s embed -m %s '%s'", A, fixture("tiny-a"), path),
                      run_cmd("%s embed -m %s --text '%s'", A, fixture("tiny-a"), label),
                      run_cmd("%s tokenize -m %s '%s'", A, fixture("tiny-a"), label)};
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(r[i].status == 0, "%s", r[i].err);
        for (int b = 0; b < 3; b++) CHECK_MSG(!strstr(r[i].out, breaks[b]), "raw line break %d in %s", b, r[i].out);
        CHECK_INT(count_lines(r[i].out), 1);
        cJSON *o = cJSON_Parse(r[i].out);
        CHECK_MSG(o != NULL, "not JSON: %s", r[i].out);
        if (i < 2) CHECK_STR(o ? get(o, "image")->valuestring : NULL, path);
        if (i >= 2) CHECK_STR(o ? get(o, "text")->valuestring : NULL, label);
        if (i == 0) CHECK(o && !isnan(score_of(get(o, "results"), label, "score")));
        cJSON_Delete(o);
    }
    CHECK_CONTAINS(r[0].out, "\"label\":\"a\\u2028b\\u2029c\\u0085d\"");
    CHECK_CONTAINS(r[0].out, "line\\u2028break.png");
    for (int i = 0; i < 4; i++) run_free(&r[i]);
}

/* The names in a directory, one per line, sorted. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    run_result r = run_cmd("ls -A %s", dir);
    snprintf(out, cap, "%s", r.out);
    run_free(&r);
}

static void check_file(const char *path, const char *want)
{
    FILE *f = fopen(path, "rb");
    char got[256] = "";
    size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
    got[n] = 0;
    if (f) fclose(f);
    CHECK_STR(got, want);
}

/* embed -o writes a temporary file beside the output and renames it at the end: a run that fails
 * (here past a file size limit) or is killed leaves the old file as it was, and no temporary file. */
TEST(cli_output_file_is_replaced_whole_or_not_at_all)
{
    if (test_skip_in_a_rerun()) return;
    char dir[512], out[600], list[8192] = "", names[1024];
    snprintf(dir, sizeof dir, "%s/outdir", test_tmpdir());
    snprintf(out, sizeof out, "%s/e.jsonl", dir);
    run_result r = run_cmd("mkdir -p %s && printf 'old content\\n' > %s", dir, out);
    run_free(&r);
    for (size_t i = 0, k = 0; i < 20; i++) k += (size_t)snprintf(list + k, sizeof list - k, " %s", fixture("images/astronaut.png"));
    /* 20 records are some 10 KB; ulimit -f 2 allows 1 or 2 KB */
    r = run_cmd("ulimit -f 2 && %s embed -m %s -o %s%s", A, fixture("tiny-a"), out, list);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "e.jsonl: write error");
    run_free(&r);
    check_file(out, "old content\n");
    list_dir(dir, names, sizeof names);
    CHECK_STR(names, "e.jsonl\n");
    /* killed while it waits for an image on stdin, once its temporary file exists: by any signal
       but KILL (here TERM, and USR1, whose default ends a process too) */
    static const struct {
        const char *sig, *status;
    } kills[] = {{"TERM", "143\n"}, {"USR1", "138\n"}};
    for (int k = 0; k < 2; k++) {
        r = run_cmd("mkfifo %s/fifo && exec 3<>%s/fifo && (%s embed -m %s -o %s %s - <&3 & pid=$!; i=0; "
                    "while ! ls %s.partial-* >/dev/null 2>&1 && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; "
                    "kill -%s $pid; wait $pid; echo $?); rm %s/fifo",
                    dir, dir, A, fixture("tiny-a"), out, fixture("images/astronaut.png"), out, kills[k].sig, dir);
        CHECK_STR(r.out, kills[k].status);
        run_free(&r);
        check_file(out, "old content\n");
        list_dir(dir, names, sizeof names);
        CHECK_STR(names, "e.jsonl\n");
    }
    /* a run that works replaces it */
    r = run_cmd("%s embed -m %s -o %s %s", A, fixture("tiny-a"), out, fixture("images/astronaut.png"));
    CHECK_MSG(r.status == 0, "%s", r.err);
    run_free(&r);
    FILE *f = fopen(out, "rb");
    char head[16] = "";
    CHECK(f && fread(head, 1, 9, f) == 9 && strcmp(head, "{\"image\":") == 0);
    if (f) fclose(f);
    list_dir(dir, names, sizeof names);
    CHECK_STR(names, "e.jsonl\n");
    /* through a symbolic link: the file it names is replaced, the link stays */
    r = run_cmd("mkdir -p %s/real && echo old > %s/real/t.txt && ln -sf real/t.txt %s/link.txt && "
                "%s classify -q -m %s -l a -l b -o %s/link.txt %s && readlink %s/link.txt && grep -c %% %s/real/t.txt",
                dir, dir, dir, A, fixture("tiny-a"), dir, fixture("images/cat.jpg"), dir, dir);
    CHECK_STR(r.out, "real/t.txt\n2\n");
    run_free(&r);
    /* a link to a file not made yet (through a second link) makes that file, as the shell's >
       does; a loop of links is an error naming the link */
    r = run_cmd("m=$(realpath %s) i=$(realpath %s) && cd %s && ln -sf real/new.txt dangling && ln -sf dangling twice && "
                "ln -sf loop2 loop1 && ln -sf loop1 loop2 && %s classify -q -m $m -l a -l b -o twice $i && "
                "readlink twice dangling && grep -c %% real/new.txt; %s classify -q -m $m -l a -l b -o loop1 $i; echo $?",
                fixture("tiny-a"), fixture("images/cat.jpg"), dir, A, A);
    CHECK_STR(r.out, "dangling\nreal/new.txt\n2\n1\n");
    CHECK_STR(r.err, "align: loop1: Too many levels of symbolic links\n");
    run_free(&r);
    /* /dev/stdout on a pipe (a link to "pipe:[N]", which names no file) is written in place */
    r = run_cmd("%s classify -q -m %s -l a -l b -o /dev/stdout %s | wc -l", A, fixture("tiny-a"), fixture("images/cat.jpg"));
    CHECK_STR(r.out, "2\n");
    run_free(&r);
}

/* Every option a command accepts is in its --help. The candidates are every option named in any
 * command's help or in the README; each is tried on each command, and one that is not refused as
 * unknown must be listed. */
TEST(cli_help_lists_every_option)
{
    if (test_skip_in_a_rerun()) return;
    const char *script =
        "cd %s && for c in classify embed tokenize info convert index search; do "
        "  help=$(%s $c --help); "
        "  for o in $( (for d in classify embed tokenize info convert index search; do %s $d --help; done; cat %s/README.md) "
        "      | grep -oE -- '(^|[ `,(])(--[a-z][a-z0-9-]+|-[a-zA-Z0-9])\\b' | grep -oE -- '-.*' | sort -u); do "
        "    err=$(ALIGN_MODEL=/nonexistent %s $c $o </dev/null 2>&1 >/dev/null); "
        "    case $err in *\"unknown option\"*) continue;; esac; "
        "    printf '%%s\\n' \"$help\" | grep -qE -- \"(^|[ ,])$o([ ,]|$)\" || echo \"$c $o\"; "
        "  done; "
        "done";
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    run_result r = run_cmd(script, test_tmpdir(), A, A, cwd, A);
    CHECK_MSG(r.out_len == 0, "accepted but not in --help:\n%s", r.out);
    run_free(&r);
}

/* Whether peak RSS says nothing of align's own memory here (the test is then skipped). */
static int rss_unmeasurable(void)
{
    if (test_skip_under_emulation("its RSS is the emulator's")) return 1;
#ifdef UNDER_ASAN
    test_skip("under AddressSanitizer, whose quarantine keeps freed memory");
    return 1;
#endif
    return 0;
}

/* Peak RSS in KB of `align embed -q --threads 2 -m tiny-a DIR`, the command run directly, not by
 * a shell. Two threads decode two photos at once, whatever cores the machine has. */
static long embed_peak_kb(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(1);
        execl(A, A, "embed", "-q", "--threads", "2", "-m", fixture("tiny-a"), dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    CHECK(pid > 0 && wait4(pid, &status, 0, &ru) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "align embed %s: status %d", dir, status);
    return ru.ru_maxrss;
}

/* A JPEG is resized as its rows are decoded (fitted_load.c): a 9-megapixel photo, upright or turned
 * by its EXIF orientation, peaks within a few MB of a small one. Decoded whole, it took its 27 MB
 * (and turned, twice that). */
TEST(cli_jpegs_are_never_held_at_full_size)
{
    if (rss_unmeasurable()) return;
    enum { SIDE = 3000, SMALL = 300 };
    uint8_t *rgb = malloc((size_t)SIDE * SIDE * 3);
    for (size_t i = 0; i < (size_t)SIDE * SIDE * 3; i++) rgb[i] = (uint8_t)(i / 3 % SIDE * 255 / SIDE + i % 3 * 40);
    buf big = jpeg_file(SIDE, SIDE, rgb, 90), small = jpeg_file(SMALL, SMALL, rgb, 90);
    buf turned = jpeg_with_orientation(big.p, big.n, 6);
    free(rgb);
    const char *dirs[] = {"small", "big", "turned"};
    const buf *files[] = {&small, &big, &turned};
    long peak[3];
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.jpg", dirs[i]);
        const char *path = write_tmp(name, files[i]->p, files[i]->n);
        run_result r = run_cmd("cd %s && mkdir -p %s && ln -sf %s %s/p.jpg", test_tmpdir(), dirs[i], path, dirs[i]);
        CHECK_MSG(r.status == 0, "%s", r.err);
        run_free(&r);
        peak[i] = embed_peak_kb(tmp_path("%s", dirs[i]));
        free(files[i]->p);
    }
    test_note("peak RSS: a %d x %d JPEG %ld MB, %d x %d %ld MB, turned %ld MB", SMALL, SMALL, peak[0] / 1024, SIDE,
              SIDE, peak[1] / 1024, peak[2] / 1024);
    CHECK_MSG(peak[1] < peak[0] + 27 * 1024 / 2, "the 9-megapixel JPEG peaks at %ld KB, a small one at %ld KB",
              peak[1], peak[0]);
    CHECK_MSG(peak[2] < peak[0] + 27 * 1024 / 2, "the turned JPEG peaks at %ld KB, a small one at %ld KB", peak[2],
              peak[0]);
}

/* The command holds the images it decodes fitted to the processor's resize (README, Limits): 16
 * photos of 9 megapixels (27 MB of pixels each) cost about what the two decoding threads' photos
 * do; held whole, as before, they peaked 214 MB higher. */
TEST(cli_decoded_images_are_held_fitted)
{
    if (rss_unmeasurable()) return;
    buf ppm = ppm_file(3000);
    const char *photo = write_tmp("photo.ppm", ppm.p, ppm.n);
    free(ppm.p);
    run_result r = run_cmd("cd %s && mkdir -p one many && ln -sf %s one/p.ppm && for i in $(seq 10 25); do ln -sf %s "
                           "many/p$i.ppm; done", test_tmpdir(), photo, photo);
    CHECK_MSG(r.status == 0, "%s", r.err);
    run_free(&r);
    long one = embed_peak_kb(tmp_path("one")), many = embed_peak_kb(tmp_path("many"));
    test_note("peak RSS: one photo %ld MB, 16 photos %ld MB", one / 1024, many / 1024);
    CHECK_MSG(many < one + 3 * 27 * 1024, "16 photos peak at %ld KB, one at %ld KB", many, one);
}
