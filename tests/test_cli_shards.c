/* Beyond one machine, driven as a user drives it: --shard K/N (its shares checked against the spec:
 * FNV-1a of the path, scaled to N), sharded runs against one run, and --resume after kill -9.
 *
 * The sharded runs compare bit for bit on the full-size random model. On the tiny fixtures' small
 * products a batch's composition moves the last bits of an embedding, and a share's batches are not
 * one run's; at full size the products run the same per image whatever shares the batch. --resume
 * keeps the batches of an uninterrupted run (a killed run leaves whole batches), so it compares bit
 * for bit on the tiny model too. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* The tests run their commands in scratch directories: the binary and fixtures by absolute path.
 * Static rotation, as fixture(). */
static const char *absolute(const char *path)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    if (!realpath(path, b)) snprintf(b, sizeof bufs[0], "%s", path);
    return b;
}

#define A absolute(align_bin())

/* The shard of n a path belongs to, from cli/shard.h's definition: the top 32 bits of the 64-bit
 * FNV-1a hash of its bytes, times n, over 2^32. */
static unsigned spec_shard(const char *path, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return (unsigned)(((h >> 32) * n) >> 32);
}

/* The full-size random model, or NULL (skipped) under an emulator, where it is far too slow. */
static const char *full_size_model(void)
{
    const char *dir = getenv("ALIGN_RANDOM_MODEL");
    CHECK_MSG(dir != NULL, "ALIGN_RANDOM_MODEL is not set (make test sets it)");
    if (test_skip_under_emulation("the full-size passes run natively")) return NULL;
    return dir;
}

/* n copies of a small image as dir/imgNN.png. */
static void make_images(const char *dir, int first, int n)
{
    run_result r = run_cmd("mkdir -p %s && for i in $(seq %d %d); do cp %s %s/img$(printf %%03d $i).png; done", dir,
                           first, first + n - 1, fixture("images/odd_37x23.png"), dir);
    CHECK_MSG(r.status == 0, "%s", r.err);
    run_free(&r);
}

TEST(cli_shard_option_takes_k_of_n)
{
    static const char *const bad[] = {"1/1", "2/1", "0/0", "-1/2", "1", "1/", "/2", "a/b", "0/2x", "0 /2",
                                      "0/1000001", "00000001/2", "1/-2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r = run_cmd("%s classify -m %s -l cat --shard '%s' %s", A, absolute(fixture("tiny-a")), bad[i],
                               absolute(fixture("images/cat.jpg")));
        CHECK_MSG(r.status == 1, "--shard '%s': exit %d", bad[i], r.status);
        CHECK_CONTAINS(r.err, "--shard takes K/N");
        CHECK_MSG(strchr(r.err, '\n') == r.err + r.err_len - 1, "not one line: %s", r.err);
        run_free(&r);
    }
    static const char *const good[] = {"0/1", "0/2", "1/2", "999999/1000000"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        run_result r = run_cmd("%s embed -q -m %s --shard %s %s", A, absolute(fixture("tiny-a")), good[i], absolute(fixture("images/cat.jpg")));
        CHECK_MSG(r.status == 0, "--shard %s: %s", good[i], r.err);
        run_free(&r);
    }
    run_result r = run_cmd("%s embed -m %s --text --shard 0/2 cat", A, absolute(fixture("tiny-a")));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "--shard shares out images, not texts");
    run_free(&r);
}

/* Each shard's images, from embed's records: every one in the shard the spec gives, every image in
 * exactly one shard; *shard_of_first gets the shard of imgNNN.png for the first `known` images. */
static void check_shares(const char *dir, int images, unsigned n, int known, unsigned *shard_of)
{
    int *seen = calloc((size_t)images, sizeof *seen);
    for (unsigned k = 0; k < n && seen; k++) {
        run_result r = run_cmd("%s embed -q -m %s --shard %u/%u %s", A, absolute(fixture("tiny-a")), k, n, dir);
        CHECK_MSG(r.status == 0, "shard %u/%u: %s", k, n, r.err);
        char *save = NULL;
        for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *img = cJSON_GetObjectItem(o, "image");
            const char *path = cJSON_GetStringValue(img), *name = path ? strrchr(path, '/') : NULL;
            int i = name ? atoi(name + 4) : -1;
            CHECK_MSG(i >= 0 && i < images, "%s", line);
            if (i >= 0 && i < images) {
                seen[i]++;
                CHECK_MSG(spec_shard(path, n) == k, "%s in shard %u of %u, the spec says %u", path, k, n, spec_shard(path, n));
                if (i < known && shard_of[i] != ~0u) CHECK_MSG(shard_of[i] == k, "%s moved from shard %u to %u", path, shard_of[i], k);
                if (i < known) shard_of[i] = k;
            }
            cJSON_Delete(o);
        }
        run_free(&r);
    }
    for (int i = 0; seen && i < images; i++) CHECK_MSG(seen[i] == 1, "img%03d.png in %d shards", i, seen[i]);
    free(seen);
}

TEST(cli_shards_cover_every_input_once_and_stay_put_as_files_are_added)
{
    if (test_skip_in_a_rerun()) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/shares", test_tmpdir());
    make_images(dir, 0, 30);
    unsigned shard_of[30];
    memset(shard_of, 0xff, sizeof shard_of);
    check_shares(dir, 30, 4, 30, shard_of);
    make_images(dir, 30, 12);
    check_shares(dir, 42, 4, 30, shard_of);
    /* more shards than images: some are empty, and succeed with nothing to do */
    check_shares(dir, 42, 64, 0, NULL);
}

/* The sorted records of `align CMD` over the fixture images in n shards, against one run. */
static void shards_equal_one_run(const char *cmd, unsigned n)
{
    const char *model = full_size_model();
    if (!model) return;
    char shards[512], one[512];
    snprintf(shards, sizeof shards, "%s/%.8s-shards.txt", test_tmpdir(), cmd);
    snprintf(one, sizeof one, "%s/%.8s-one.txt", test_tmpdir(), cmd);
    run_result r = run_cmd("for k in $(seq 0 %u); do %s %s -q -m %s --shard $k/%u %s || exit 1; done | sort > %s && "
                           "%s %s -q -m %s %s | sort > %s && wc -l < %s && cmp %s %s",
                           n - 1, A, cmd, model, n, fixture("images"), shards, A, cmd, model, fixture("images"), one,
                           one, shards, one);
    CHECK_MSG(r.status == 0, "%s shards differ from one run: %s%s", cmd, r.out, r.err);
    CHECK_MSG(atoi(r.out) >= 9, "%s: %s lines", cmd, r.out);
    run_free(&r);
}

TEST(cli_classify_shards_concatenated_equal_one_run) { shards_equal_one_run("classify --jsonl -l cat -l rocket -l dog", 3); }
TEST(cli_embed_shards_concatenated_equal_one_run) { shards_equal_one_run("embed", 4); }

/* A --resume run over 40 images and one on stdin before the image before_stdin (40: after the
 * last), and the file an uninterrupted run writes (ref.EXT), to compare the interrupted run's,
 * carried on, with. */
typedef struct {
    char dir[512], list[8192], img[4096], m[4096];
} resume_case;

static void resume_case_start(resume_case *c, const char *name, const char *args, const char *ext, int before_stdin)
{
    snprintf(c->dir, sizeof c->dir, "%s/%s%s", test_tmpdir(), name, ext);
    make_images(c->dir, 0, 40);
    c->list[0] = 0;
    for (int i = 0, k = 0; i <= 40; i++) {
        if (i == before_stdin) k += snprintf(c->list + k, sizeof c->list - (size_t)k, " -");
        if (i < 40) k += snprintf(c->list + k, sizeof c->list - (size_t)k, " %s/img%03d.png", c->dir, i);
    }
    snprintf(c->img, sizeof c->img, "%s", absolute(fixture("images/cat.jpg")));
    snprintf(c->m, sizeof c->m, "%s", absolute(fixture("tiny-a")));
    run_result r = run_cmd("%s %s -q -m %s -o %s/ref.%s %s < %s", A, args, c->m, c->dir, ext, c->list, c->img);
    CHECK_MSG(r.status == 0, "%s", r.err);
    run_free(&r);
}

/* The rerun with --resume completes out.EXT as ref.EXT, byte for byte, and leaves no partial file. */
static void resume_case_finishes(const resume_case *c, const char *args, const char *ext)
{
    run_result r = run_cmd("cd %s && %s %s -q -m %s -o out.%s --resume %s < %s && cmp ref.%s out.%s && ls", c->dir, A, args,
                           c->m, ext, c->list, c->img, ext, ext);
    CHECK_MSG(r.status == 0, "resumed run differs: %s%s", r.out, r.err);
    CHECK_MSG(!strstr(r.out, ".partial"), "left behind: %s", r.out);
    run_free(&r);
}

/* kill -9 while the run waits for an image on stdin, once two batches are written; --resume then
 * gives the file an uninterrupted run gives, byte for byte, and leaves no partial file. */
static void resume_after_kill(const char *args, const char *ext, int before_stdin, int lines_before)
{
    if (test_skip_in_a_rerun()) return;
    resume_case c;
    resume_case_start(&c, "resume", args, ext, before_stdin);
    run_result r = run_cmd("cd %s && mkfifo fifo && exec 3<>fifo && (%s %s -q -m %s -o out.%s --resume %s <&3 & pid=$!; i=0; "
                "while [ \"$(cat out.%s.partial 2>/dev/null | wc -l)\" -lt %d ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
                "sleep 0.2; kill -9 $pid; wait $pid; echo $?); rm fifo; wc -l < out.%s.partial",
                c.dir, A, args, c.m, ext, c.list, ext, lines_before, ext);
    CHECK_MSG(strncmp(r.out, "137\n", 4) == 0, "killed: %s %s", r.out, r.err);
    int kept = atoi(strchr(r.out, '\n') ? strchr(r.out, '\n') + 1 : "0");
    CHECK_MSG(kept == lines_before, "%d lines before the kill, not %d: %s", kept, lines_before, r.err);
    run_free(&r);
    resume_case_finishes(&c, args, ext);
    /* a rerun of a finished file does nothing and changes nothing */
    resume_case_finishes(&c, args, ext);
}

/* the image on stdin is the 21st: batches of 8 ([0, 8) and [8, 16)) are done before it */
TEST(cli_embed_resume_after_kill_9_equals_an_uninterrupted_run) { resume_after_kill("embed", "jsonl", 20, 16); }
TEST(cli_classify_tsv_resume_after_kill_9_equals_an_uninterrupted_run)
{
    resume_after_kill("classify --format tsv -l cat -l rocket -l dog", "tsv", 27, 1 + 24 * 3);
}

/* SIGTERM (or Ctrl-C) ends a --resume run between batches: the batch in hand is finished and kept,
 * the process says what to do next and ends by the signal, and the rerun completes the file.
 * The image on stdin, held back until the signal has come, holds the run inside a batch. */
static void resume_after_term(const char *args, const char *ext, int before_stdin, int lines_before, int lines_after)
{
    if (test_skip_in_a_rerun()) return;
    resume_case c;
    resume_case_start(&c, "term", args, ext, before_stdin);
    run_result r = run_cmd("cd %s && mkfifo fifo && (%s %s -q -m %s -o out.%s --resume %s < fifo & pid=$!; exec 3>fifo; i=0; "
                "while [ \"$(cat out.%s.partial 2>/dev/null | wc -l)\" -lt %d ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
                "sleep 0.2; kill -TERM $pid; sleep 0.2; cat %s >&3; exec 3>&-; wait $pid; echo $?); rm fifo; "
                "wc -l < out.%s.partial",
                c.dir, A, args, c.m, ext, c.list, ext, lines_before, c.img, ext);
    CHECK_MSG(strncmp(r.out, "143\n", 4) == 0, "terminated: %s %s", r.out, r.err);
    int kept = atoi(strchr(r.out, '\n') ? strchr(r.out, '\n') + 1 : "0");
    CHECK_MSG(kept == lines_after, "%d lines after the signal, not %d: %s", kept, lines_after, r.err);
    char want[1024]; /* the shell's "Terminated" may follow */
    snprintf(want, sizeof want, "align: out.%s: interrupted: the records so far are in out.%s.partial; run it again "
             "with --resume to carry on\n", ext, ext);
    CHECK_MSG(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
    run_free(&r);
    resume_case_finishes(&c, args, ext);
}

/* the image on stdin is the 21st: [0, 16) are written before it, [16, 24) once it comes */
TEST(cli_embed_resume_after_sigterm_keeps_the_batch_in_hand) { resume_after_term("embed", "jsonl", 20, 16, 24); }

/* A signal that comes during the last batch stops nothing: the file is finished and published (the
 * process still ends by the signal, as the user asked). */
TEST(cli_resume_sigterm_in_the_last_batch_finishes_the_file)
{
    if (test_skip_in_a_rerun()) return;
    resume_case c;
    resume_case_start(&c, "lastterm", "embed", "jsonl", 40); /* the last batch: the image on stdin alone */
    run_result r = run_cmd("cd %s && mkfifo fifo && (%s embed -q -m %s -o out.jsonl --resume %s < fifo & pid=$!; "
                           "exec 3>fifo; i=0; while [ \"$(cat out.jsonl.partial 2>/dev/null | wc -l)\" -lt 40 ] && "
                           "[ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; sleep 0.2; kill -TERM $pid; sleep 0.2; "
                           "cat %s >&3; exec 3>&-; wait $pid; echo $?) 2>/dev/null; rm fifo; cmp ref.jsonl out.jsonl && ls",
                           c.dir, A, c.m, c.list, c.img);
    CHECK_MSG(strncmp(r.out, "143\n", 4) == 0 && !strstr(r.out, ".partial"), "%s %s", r.out, r.err);
    CHECK_MSG(r.status == 0, "the file differs from an uninterrupted run's: %s", r.err);
    CHECK_MSG(r.err_len == 0, "%s", r.err);
    run_free(&r);
}
TEST(cli_classify_tsv_resume_after_sigterm_keeps_the_batch_in_hand)
{
    resume_after_term("classify --format tsv -l cat -l rocket -l dog", "tsv", 20, 1 + 16 * 3, 1 + 24 * 3);
}

/* A record cut short by the kill is dropped, and the records before it kept: the rerun writes
 * only what is missing. */
TEST(cli_resume_drops_a_cut_record_and_keeps_the_rest)
{
    const char *d = test_tmpdir();
    char dir[512], m[4096];
    snprintf(m, sizeof m, "%s", absolute(fixture("tiny-a")));
    snprintf(dir, sizeof dir, "%s/cut", d);
    make_images(dir, 0, 3);
    run_result r = run_cmd("cd %s && %s embed -q -m %s -o ref.jsonl img*.png && head -c -20 ref.jsonl > out.jsonl.partial && "
                           "%s embed -m %s -o out.jsonl --resume img*.png && cmp ref.jsonl out.jsonl",
                           dir, A, m, A, m);
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    run_free(&r);
    /* a whole classify TSV: its last image's rows cut to one of two */
    r = run_cmd("cd %s && %s classify -q -m %s --format tsv -l a -l b -o ref.tsv img*.png && head -n 6 ref.tsv > out.tsv && "
                "%s classify -q -m %s --format tsv -l a -l b -o out.tsv --resume img*.png && cmp ref.tsv out.tsv",
                dir, A, m, A, m);
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    run_free(&r);
}

TEST(cli_resume_refuses_what_it_cannot_carry_on)
{
    if (test_skip_in_a_rerun()) return;
    char dir[512], img[4096], m[4096];
    snprintf(img, sizeof img, "%s", absolute(fixture("images/cat.jpg")));
    snprintf(m, sizeof m, "%s", absolute(fixture("tiny-a")));
    snprintf(dir, sizeof dir, "%s/refuse", test_tmpdir());
    static const char *const usage[] = {"embed --resume", "embed --resume -o -", "embed --resume --format json -o x",
                                        "classify -l a --resume -o x", "classify -l a --json --resume -o x"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        run_result r = run_cmd("mkdir -p %s && cd %s && %s %s -m %s %s", dir, dir, A, usage[i], m, img);
        CHECK_MSG(r.status == 1 && strstr(r.err, "--resume carries on"), "%s: %d %s", usage[i], r.status, r.err);
        run_free(&r);
    }
    /* a file that is not this command's records: one line, the file as it was, and no FILE.partial
       left beside it */
    run_result r = run_cmd("cd %s && printf 'notes\\n' > notes.jsonl && %s embed -m %s -o notes.jsonl --resume %s; "
                           "echo $?; cat notes.jsonl; ls notes.jsonl*",
                           dir, A, m, img);
    CHECK_STR(r.out, "1\nnotes\nnotes.jsonl\n");
    CHECK_CONTAINS(r.err, "notes.jsonl:1: not a record");
    CHECK_MSG(strchr(r.err, '\n') == r.err + r.err_len - 1, "not one line: %s", r.err);
    run_free(&r);
    /* classify TSV with other labels: its rows per image differ */
    r = run_cmd("cd %s && %s classify -q -m %s --format tsv -l a -l b -o c.tsv %s %s && "
                "%s classify -m %s --format tsv -l a -l b -l c -o c.tsv --resume %s",
                dir, A, m, img, absolute(fixture("images/rocket.bmp")), A, m, img);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "c.tsv:4: not a record");
    run_free(&r);
    /* the same rows per image, but the best of three labels where the file has all three */
    r = run_cmd("cd %s && %s classify -q -m %s --format tsv -l a -l b -l c -o k.tsv %s && "
                "%s classify -m %s --format tsv -k 1 -l a -l b -l c -o k.tsv --resume %s",
                dir, A, m, img, A, m, img);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "k.tsv:3: not a record");
    run_free(&r);
    /* JSON Lines of other labels, of fewer results, or of the other command */
    static const struct {
        const char *first, *then;
    } others[] = {
        {"classify --jsonl -l c -l d", "classify --jsonl -l x -l y -l z"},
        {"classify --jsonl -l c -l d", "classify --jsonl -l c -l e"},
        {"classify --jsonl -l c -l d", "classify --jsonl -k 1 -l c -l d"},
        {"classify --jsonl -l c -l d", "embed"},
        {"embed", "classify --jsonl -l c -l d"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        r = run_cmd("cd %s && rm -f o.jsonl && %s %s -q -m %s -o o.jsonl %s && cp o.jsonl before && "
                    "%s %s -m %s -o o.jsonl --resume %s %s; echo $?; cmp o.jsonl before && echo same",
                    dir, A, others[i].first, m, img, A, others[i].then, m, img, absolute(fixture("images/rocket.bmp")));
        CHECK_MSG(strstr(r.out, "1\nsame") && strstr(r.err, "o.jsonl:1: not a record"), "%s, then %s: %s %s",
                  others[i].first, others[i].then, r.out, r.err);
        run_free(&r);
    }
    /* a new TSV file whose every image fails: exit 1, and neither the file nor FILE.partial made */
    r = run_cmd("cd %s && %s classify -q -m %s --format tsv -l a -l b -o none.tsv --resume missing.jpg; echo $?; "
                "ls none.tsv*",
                dir, A, m);
    CHECK_STR(r.out, "1\n");
    run_free(&r);
    /* JSON Lines whose every image fails, for embed and classify alike: exit 1 and FILE.partial
       kept (its error record carried on), then 1 again on the rerun, which has nothing left to do,
       and 2 once an image that works is added, as one run over both would end */
    static const char *const cmds[] = {"embed", "classify --jsonl -l a -l b"};
    for (int i = 0; i < 2; i++) {
        r = run_cmd("cd %s && rm -f j.jsonl* && printf junk > junk.jpg && for run in 1 2; do "
                    "%s %s -q -m %s -o j.jsonl --resume junk.jpg 2>/dev/null; echo $?; ls j.jsonl*; done; "
                    "%s %s -q -m %s -o j.jsonl --resume junk.jpg %s 2>/dev/null; echo $?; ls j.jsonl*; wc -l < j.jsonl",
                    dir, A, cmds[i], m, A, cmds[i], m, img);
        CHECK_MSG(strcmp(r.out, "1\nj.jsonl.partial\n1\nj.jsonl.partial\n2\nj.jsonl\n2\n") == 0, "%s: %s", cmds[i], r.out);
        run_free(&r);
        /* the rerun with nothing left to do still says why it ends with 1 */
        r = run_cmd("cd %s && rm -f j.jsonl* && %s %s -q -m %s -o j.jsonl --resume junk.jpg 2>/dev/null; "
                    "%s %s -q -m %s -o j.jsonl --resume junk.jpg",
                    dir, A, cmds[i], m, A, cmds[i], m);
        CHECK_INT(r.status, 1);
        CHECK_STR(r.err, "align: j.jsonl: 1 error record from an earlier run carried on, not retried\n");
        run_free(&r);
    }
    /* names that are not UTF-8 are written apart (as Python's surrogateescape reads them), so one
     * is not taken for the other */
    r = run_cmd("cd %s && cp %s \"$(printf 'caf\\351.jpg')\" && cp %s \"$(printf 'caf\\350.jpg')\" && "
                "%s embed -q -m %s -o names.jsonl --resume \"$(printf 'caf\\351.jpg')\" && "
                "%s embed -q -m %s -o names.jsonl --resume \"$(printf 'caf\\351.jpg')\" \"$(printf 'caf\\350.jpg')\"; "
                "echo $?; cut -c1-24 names.jsonl",
                dir, img, absolute(fixture("images/rocket.bmp")), A, m, A, m);
    CHECK_STR(r.out, "0\n{\"image\":\"caf\\udce9.jpg\"\n{\"image\":\"caf\\udce8.jpg\"\n");
    run_free(&r);
    /* an image given twice has two records: a cut after the first is carried on to both */
    char rocket[4096];
    snprintf(rocket, sizeof rocket, "%s", absolute(fixture("images/rocket.bmp")));
    r = run_cmd("cd %s && %s classify -q --jsonl -m %s -l cat -l dog -o full.jsonl %s %s %s && head -1 full.jsonl > "
                "cut.jsonl && %s classify -q --jsonl -m %s -l cat -l dog -o cut.jsonl --resume %s %s %s; echo $?; "
                "cmp cut.jsonl full.jsonl && echo same",
                dir, A, m, img, rocket, img, A, m, img, rocket, img);
    CHECK_STR(r.out, "0\nsame\n");
    run_free(&r);
    /* a label given twice is in every record twice, in JSON Lines and TSV */
    for (int tsv = 0; tsv < 2; tsv++) {
        r = run_cmd("cd %s && rm -f twice && %s classify -q %s -m %s -l cat -l dog -l cat -o twice %s && "
                    "%s classify -q %s -m %s -l cat -l dog -l cat -o twice --resume %s %s; echo $?",
                    dir, A, tsv ? "--format tsv" : "--jsonl", m, img, A, tsv ? "--format tsv" : "--jsonl", m, img, rocket);
        CHECK_MSG(strcmp(r.out, "0\n") == 0, "%s: %s %s", tsv ? "tsv" : "jsonl", r.out, r.err);
        run_free(&r);
    }
    /* through a symbolic link: the file it names is carried on, the link kept */
    r = run_cmd("cd %s && mkdir -p real && rm -f real/t lnk && %s classify -q --jsonl -m %s -l a -l b -o real/t %s && "
                "ln -s real/t lnk && %s classify -q --jsonl -m %s -l a -l b -o lnk --resume %s %s; echo $?; "
                "readlink lnk; wc -l < real/t",
                dir, A, m, img, A, m, img, rocket);
    CHECK_MSG(strcmp(r.out, "0\nreal/t\n2\n") == 0, "%s %s", r.out, r.err);
    run_free(&r);
    /* a link to a file not made yet: the run makes that file, and the link stays */
    r = run_cmd("cd %s && ln -sf real/new dangling && %s classify -q --jsonl -m %s -l a -l b -o dangling --resume %s; "
                "echo $?; readlink dangling; wc -l < real/new",
                dir, A, m, img);
    CHECK_MSG(strcmp(r.out, "0\nreal/new\n1\n") == 0, "%s %s", r.out, r.err);
    run_free(&r);
    /* and the same labels in another order carry on */
    r = run_cmd("cd %s && rm -f o.jsonl && %s classify --jsonl -q -m %s -l c -l d -o o.jsonl %s && "
                "%s classify --jsonl -q -m %s -l d -l c -o o.jsonl --resume %s %s; echo $?; wc -l < o.jsonl",
                dir, A, m, img, A, m, img, absolute(fixture("images/rocket.bmp")));
    CHECK_CONTAINS(r.out, "0\n2\n");
    run_free(&r);
    /* a second writer of the same partial file waits for nothing: it says the file is busy */
    r = run_cmd("cd %s && flock busy.jsonl.partial sleep 5 & sleep 0.5; cd %s && %s embed -m %s -o busy.jsonl --resume %s; "
                "echo $?; kill %%1",
                dir, dir, A, m, img);
    CHECK_CONTAINS(r.out, "1\n");
    CHECK_CONTAINS(r.err, "busy.jsonl.partial: busy");
    run_free(&r);
}

/* ---- the sharded index -------------------------------------------------------------------------- */

/* Every row of an index, in path order, folded into a count and a FNV-1a hash of paths, stamps
 * and embedding bytes. */
typedef struct {
    long rows;
    uint64_t hash;
    int dim;
} index_digest;

static int digest_rows(void *user, const align_index_row *rows, int n)
{
    index_digest *d = user;
    for (int i = 0; i < n; i++) {
        const unsigned char *parts[] = {(const unsigned char *)rows[i].path, (const unsigned char *)&rows[i].size,
                                        (const unsigned char *)&rows[i].mtime_ns,
                                        (const unsigned char *)rows[i].embedding};
        size_t lens[] = {strlen(rows[i].path) + 1, sizeof rows[i].size, sizeof rows[i].mtime_ns,
                         sizeof(float) * (size_t)d->dim};
        for (int p = 0; p < 4; p++)
            for (size_t b = 0; b < lens[p]; b++) d->hash = (d->hash ^ parts[p][b]) * 0x100000001b3ull;
        d->rows++;
    }
    return 0;
}

static index_digest digest_index(const char *path)
{
    index_digest d = {0, 0xcbf29ce484222325ull, 640};
    align_error err;
    align_index *ix = align_index_open(path, NULL, 0, ALIGN_INDEX_READ, &err);
    CHECK_MSG(ix != NULL, "%s", err.message);
    if (!ix) return d;
    CHECK_MSG(align_index_scan(ix, digest_rows, &d, &err) == ALIGN_OK, "%s", err.message);
    align_index_close(ix);
    return d;
}

/* The README's recipe: four shards through GNU parallel, merged, equal one process's index: the
 * same rows and the same embedding bytes. */
TEST(cli_index_sharded_through_gnu_parallel_equals_one_process)
{
    run_result r = run_cmd("command -v parallel");
    int have = r.status == 0;
    run_free(&r);
    if (!have) {
        test_skip("GNU parallel is not installed (.ci/run installs it)");
        return;
    }
    const char *model = full_size_model();
    if (!model) return;
    char dir[512], one[600], merged[600];
    snprintf(dir, sizeof dir, "%s/parallel", test_tmpdir());
    snprintf(one, sizeof one, "%s/one.db", dir);
    snprintf(merged, sizeof merged, "%s/merged.db", dir);
    r = run_cmd("mkdir -p %s && parallel --will-cite --halt now,fail=1 %s index -q -m %s --shard {}/4 --db %s/shard-{}.db %s "
                "::: 0 1 2 3 && %s index --merge %s %s/shard-*.db && %s index -q -m %s --db %s %s",
                dir, A, model, dir, fixture("images"), A, merged, dir, A, model, one, fixture("images"));
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    run_free(&r);
    index_digest a = digest_index(one), b = digest_index(merged);
    CHECK_MSG(a.rows >= 9, "%ld rows", a.rows);
    CHECK_INT(b.rows, a.rows);
    CHECK_MSG(a.hash == b.hash, "the merged index differs from one process's");
    /* each shard holds the images the spec gives it */
    for (unsigned k = 0; k < 4; k++) {
        char shard[700];
        snprintf(shard, sizeof shard, "%s/shard-%u.db", dir, k);
        r = run_cmd("ls %s/*.* | grep -v json", fixture("images"));
        long want = 0;
        char *save = NULL;
        for (char *p = strtok_r(r.out, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) want += spec_shard(p, 4) == k;
        run_free(&r);
        CHECK_INT(digest_index(shard).rows, want);
    }
}
