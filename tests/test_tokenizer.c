/* Tests of the BertTokenizer port: the golden cases made with transformers 4.27, the options those
 * cases leave unexercised (on small vocabularies whose right answers follow from HF's rules), bad
 * input, tokenizer_config.json and bad vocabulary files. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer.h"

/* The fixture tokenizer: bert-base-uncased's vocabulary with align-base's config. */
static tokenizer *fixture_tokenizer(void)
{
    tokenizer_config cfg;
    align_error err = {0};
    CHECK_INT(tokenizer_config_read(fixture("tiny-a/tokenizer_config.json"), &cfg, &err), ALIGN_OK);
    tokenizer *tok = tokenizer_load(fixture("vocab.txt"), &cfg, &err);
    CHECK_MSG(tok, "tokenizer_load: %s", err.message);
    return tok;
}

/* Encodes text (len bytes) and compares with the n expected ids. */
static void check_ids(const tokenizer *tok, const char *text, size_t len, const int32_t *want, size_t n)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    align_error err = {0};
    align_status s = tokenizer_encode(tok, text, len, &ids, &n_ids, &err);
    CHECK_MSG(s == ALIGN_OK, "\"%s\": %s", text, err.message);
    int same = s == ALIGN_OK && n_ids == n;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        char got[512] = "", *p = got;
        for (size_t i = 0; i < n_ids && p < got + sizeof got - 16; i++) p += sprintf(p, " %d", ids[i]);
        CHECK_MSG(same, "\"%s\": got ids [%s ]", text, got);
    }
    free(ids);
}
#define CHECK_IDS(tok, text, ...)                                                                  \
    do {                                                                                           \
        static const int32_t want_[] = {__VA_ARGS__};                                              \
        check_ids(tok, text, sizeof(text) - 1, want_, sizeof want_ / sizeof want_[0]);            \
    } while (0)

TEST(tokenizer_fixture_vocab)
{
    tokenizer *tok = fixture_tokenizer();
    if (!tok) return;
    /* fixtures/README.md */
    CHECK_INT(tokenizer_vocab_size(tok), 30522);
    CHECK_STR(tokenizer_token(tok, 0), "[PAD]");
    CHECK_STR(tokenizer_token(tok, 100), "[UNK]");
    CHECK_STR(tokenizer_token(tok, 101), "[CLS]");
    CHECK_STR(tokenizer_token(tok, 102), "[SEP]");
    CHECK_STR(tokenizer_token(tok, 103), "[MASK]");
    CHECK(tokenizer_token(tok, -1) == NULL);
    CHECK(tokenizer_token(tok, 30522) == NULL);
    tokenizer_free(tok);
}

/* Every golden case: ids ([CLS] ... [SEP]) and the WordPiece strings between them. */
TEST(tokenizer_fixture_cases)
{
    cJSON *root = load_json(fixture("tokenizer_cases.json"));
    tokenizer *tok = fixture_tokenizer();
    if (!root || !tok) {
        cJSON_Delete(root);
        tokenizer_free(tok);
        return;
    }
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *c;
    int total = 0, ids_ok = 0, tokens_ok = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        const cJSON *want_ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
        const cJSON *want_tokens = cJSON_GetObjectItemCaseSensitive(c, "tokens");
        total++;
        int32_t *ids = NULL;
        size_t n = 0;
        align_error err = {0};
        if (tokenizer_encode(tok, text, strlen(text), &ids, &n, &err) != ALIGN_OK) {
            CHECK_MSG(0, "case %d \"%s\": %s", total - 1, text, err.message);
            continue;
        }
        int same = (int)n == cJSON_GetArraySize(want_ids);
        for (int i = 0; same && i < (int)n; i++) same = ids[i] == cJSON_GetArrayItem(want_ids, i)->valueint;
        ids_ok += same;
        CHECK_MSG(same, "case %d \"%s\": ids differ", total - 1, text);
        same = (int)n == cJSON_GetArraySize(want_tokens) + 2;
        for (int i = 0; same && i + 2 < (int)n; i++) {
            const char *got = tokenizer_token(tok, ids[i + 1]);
            same = got && strcmp(got, cJSON_GetArrayItem(want_tokens, i)->valuestring) == 0;
        }
        tokens_ok += same;
        CHECK_MSG(same, "case %d \"%s\": tokens differ", total - 1, text);
        free(ids);
    }
    test_note("%d of %d cases give the same ids, %d the same tokens", ids_ok, total, tokens_ok);
    CHECK(total >= 300);
    cJSON_Delete(root);
    tokenizer_free(tok);
}

/* Each kind of malformed UTF-8 is refused, naming the problem and where it is. */
TEST(tokenizer_invalid_utf8)
{
    tokenizer *tok = fixture_tokenizer();
    if (!tok) return;
    static const struct {
        const char *text, *problem, *where;
    } bad[] = {
        {"ab\xC0\xAF", "overlong", "byte 2 "},
        {"\xE0\x80\xAF", "overlong", "byte 0 "},
        {"\xF0\x80\x80\xAF", "overlong", "byte 0 "},
        {"cat\x80", "continuation", "byte 3 "},
        {"\xBF" "cat", "continuation", "byte 0 "},
        {"a\xED\xA0\x80", "surrogate", "byte 1 "},
        {"\xED\xBF\xBF", "surrogate", "byte 0 "},
        {"cat\xE2\x82", "truncated", "byte 3 "},
        {"\xE2\x82" "cat", "truncated", "byte 0 "},
        {"\xF0\x9F\x98", "truncated", "byte 0 "},
        {"\xF4\x90\x80\x80", "U+10FFFF", "byte 0 "},
        {"\xFF", "never occurs", "byte 0 "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = (int32_t *)&ids;
        size_t n = 99;
        align_error err = {0};
        CHECK_INT(tokenizer_encode(tok, bad[i].text, strlen(bad[i].text), &ids, &n, &err), ALIGN_ERR_INPUT);
        CHECK_INT(err.code, ALIGN_ERR_INPUT);
        CHECK_CONTAINS(err.message, bad[i].problem);
        CHECK_CONTAINS(err.message, bad[i].where);
        CHECK(ids == NULL && n == 0);
    }
    /* well-formed, so text: U+FFFF (a noncharacter, category Cn) and NUL, both of which
     * _clean_text drops */
    CHECK_IDS(tok, "c\xEF\xBF\xBF" "at", 101, 4937, 102);
    CHECK_IDS(tok, "c\0at", 101, 4937, 102); /* "cat" = 4937 in the fixture cases */
    CHECK_IDS(tok, "", 101, 102);
    tokenizer_free(tok);
}

/* The fixtures came from Python's Unicode 14.0: a character added in 15.0 is unassigned there, so
 * _clean_text drops it; one added in 14.0 is a symbol (So) that makes its word [UNK]. */
TEST(tokenizer_unicode_version)
{
    tokenizer *tok = fixture_tokenizer();
    if (!tok) return;
    CHECK_IDS(tok, "cat\xF0\x9F\xAB\xA8", 101, 4937, 102);     /* U+1FAE8, Unicode 15.0 */
    CHECK_IDS(tok, "cat\xF0\xB1\x8D\x90s", 101, 8870, 102);    /* U+31350 (15.0): "cats" = 8870 */
    CHECK_IDS(tok, "cat\xF0\x9F\xAB\xA0", 101, 100, 102);      /* U+1FAE0, Unicode 14.0 */
    CHECK_IDS(tok, "cat \xF0\x9F\xAB\xA0", 101, 4937, 100, 102);
    tokenizer_free(tok);
}

/* A small vocabulary: id = line number. */
static const char small_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"   /* 0-4 */
    "Café\ncafé\nCafe\ncafe\n"               /* 5-8 */
    "a\n##a\nb\n##b\n,\n##,\n"               /* 9-14 */
    "中\n##文\n文\n"                          /* 15-17 */
    "Hello\ni\n##\xCC\x87\n"                 /* 18-20: ##U+0307 */
    "<mask>\n!\n";                           /* 21-22 */

static tokenizer *small_tokenizer(const tokenizer_config *cfg)
{
    align_error err = {0};
    tokenizer *tok = tokenizer_from_memory(small_vocab, sizeof small_vocab - 1, "small", cfg, &err);
    CHECK_MSG(tok, "tokenizer_from_memory: %s", err.message);
    return tok;
}

/* do_lower_case and strip_accents, in each combination HF distinguishes. */
TEST(tokenizer_case_and_accents)
{
    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    tokenizer *tok = small_tokenizer(&cfg); /* lower, strip (null follows lower) */
    if (!tok) return;
    CHECK_IDS(tok, "Café", 2, 8, 3);
    CHECK_IDS(tok, "\xC4\xB0", 2, 19, 3); /* U+0130 -> "i" + U+0307, the mark stripped */
    tokenizer_free(tok);

    cfg.strip_accents = 0; /* lower only */
    if (!(tok = small_tokenizer(&cfg))) return;
    CHECK_IDS(tok, "Café", 2, 6, 3);
    CHECK_IDS(tok, "\xC4\xB0", 2, 19, 20, 3); /* str.lower() gives two code points */
    tokenizer_free(tok);

    cfg.do_lower_case = 0; /* neither */
    cfg.strip_accents = -1;
    if (!(tok = small_tokenizer(&cfg))) return;
    CHECK_IDS(tok, "Café", 2, 5, 3);
    CHECK_IDS(tok, "Cafe\xCC\x81", 2, 1, 3); /* decomposed: not the vocabulary's composed form */
    tokenizer_free(tok);

    cfg.strip_accents = 1; /* strip only */
    if (!(tok = small_tokenizer(&cfg))) return;
    CHECK_IDS(tok, "Café", 2, 7, 3);
    CHECK_IDS(tok, "Cafe\xCC\x81", 2, 7, 3);
    tokenizer_free(tok);
}

TEST(tokenizer_wordpiece_rules)
{
    tokenizer *tok = small_tokenizer(NULL);
    if (!tok) return;
    CHECK_IDS(tok, "ab ba", 2, 9, 12, 11, 10, 3);
    CHECK_IDS(tok, "abc a", 2, 1, 9, 3);           /* no "##c": the whole word is [UNK] */
    CHECK_IDS(tok, "a,b", 2, 9, 13, 11, 3);        /* punctuation splits, never "##," */
    char word[102];
    memset(word, 'a', 101);
    word[101] = 0;
    int32_t want[102];
    want[0] = 2;
    want[1] = 9;
    for (int i = 2; i <= 100; i++) want[i] = 10;
    want[101] = 3;
    check_ids(tok, word, 100, want, 102); /* 100 characters: a ##a ... */
    static const int32_t unk[] = {2, 1, 3};
    check_ids(tok, word, 101, unk, 3); /* 101: over the limit */
    tokenizer_free(tok);
}

TEST(tokenizer_chinese_chars)
{
    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    tokenizer *tok = small_tokenizer(&cfg);
    if (!tok) return;
    CHECK_IDS(tok, "中文", 2, 15, 17, 3);
    tokenizer_free(tok);
    cfg.tokenize_chinese_chars = 0;
    if (!(tok = small_tokenizer(&cfg))) return;
    CHECK_IDS(tok, "中文", 2, 15, 16, 3);
    tokenizer_free(tok);
}

/* do_basic_tokenize false: WordPiece on str.split() words, with no cleaning, no punctuation split
 * and no lower-casing (BertTokenizer's do_lower_case lives on the BasicTokenizer it lacks). */
TEST(tokenizer_no_basic_tokenize)
{
    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    cfg.do_basic_tokenize = 0;
    tokenizer *tok = small_tokenizer(&cfg);
    if (!tok) return;
    CHECK_IDS(tok, "Hello, a", 2, 18, 14, 9, 3); /* "Hello" "##,": the comma stays in the word */
    CHECK_IDS(tok, "hello", 2, 1, 3);            /* not lower-cased into "Hello" */
    CHECK_IDS(tok, "a\xE2\x80\xA8" "b\x1c" "a", 2, 9, 11, 9, 3); /* U+2028 and U+001C split */
    CHECK_IDS(tok, "a\x07", 2, 1, 3);                       /* the control stays in the word */
    tokenizer_free(tok);
}

/* Special tokens written in the text stay whole, as spelled in the config: the lower-casing pass
 * runs first and skips them, then the added-tokens trie cuts them out. */
TEST(tokenizer_special_tokens)
{
    tokenizer *tok = small_tokenizer(NULL);
    if (!tok) return;
    CHECK_IDS(tok, "a[MASK]b", 2, 9, 4, 11, 3);
    CHECK_IDS(tok, "[CLS][SEP]", 2, 2, 3, 3);
    CHECK_IDS(tok, "[Mask]", 2, 1, 1, 1, 3); /* "[" "mask" "]": none in this vocabulary */
    tokenizer_free(tok);

    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    strcpy(cfg.mask_token, "<mask>");
    if (!(tok = small_tokenizer(&cfg))) return;
    CHECK_IDS(tok, "a <mask>!", 2, 9, 21, 22, 3);
    CHECK_IDS(tok, "<MASK>", 2, 21, 3); /* lower-cased into the special token, then cut out */
    tokenizer_free(tok);

    /* a special token missing from the vocabulary: HF would make an id past the vocabulary */
    static const char vocab[] = "[UNK]\n[CLS]\n[SEP]\na\n";
    align_error err = {0};
    tok = tokenizer_from_memory(vocab, sizeof vocab - 1, "v", NULL, &err);
    CHECK_MSG(tok, "%s", err.message);
    if (!tok) return;
    int32_t *ids;
    size_t n;
    CHECK_INT(tokenizer_encode(tok, "a [MASK]", 8, &ids, &n, &err), ALIGN_ERR_INPUT);
    CHECK_CONTAINS(err.message, "[MASK]");
    CHECK_IDS(tok, "a [mask]", 1, 3, 0, 0, 0, 2); /* [UNK] = 0 here */
    tokenizer_free(tok);
}

/* vocab.txt as Python reads it: universal newlines, the last of duplicate lines wins. */
TEST(tokenizer_vocab_lines)
{
    static const char vocab[] = "[UNK]\r\n[CLS]\r[SEP]\nx\ny\nx\nz";
    align_error err = {0};
    tokenizer *tok = tokenizer_from_memory(vocab, sizeof vocab - 1, "v", NULL, &err);
    CHECK_MSG(tok, "%s", err.message);
    if (!tok) return;
    CHECK_INT(tokenizer_vocab_size(tok), 7);
    CHECK_STR(tokenizer_token(tok, 0), "[UNK]");
    CHECK_STR(tokenizer_token(tok, 1), "[CLS]");
    CHECK_STR(tokenizer_token(tok, 6), "z");
    CHECK_IDS(tok, "x y z", 1, 5, 4, 6, 2);
    tokenizer_free(tok);
}

/* Many labels: every token of a large vocabulary is found under its own id. */
TEST(tokenizer_large_vocab)
{
    enum { N = 100000 };
    size_t cap = (size_t)N * 12 + 64, len = 0;
    char *vocab = malloc(cap);
    len += (size_t)sprintf(vocab, "[UNK]\n[CLS]\n[SEP]\n");
    for (int i = 0; i < N; i++) len += (size_t)sprintf(vocab + len, "w%dq\n", i);
    align_error err = {0};
    tokenizer *tok = tokenizer_from_memory(vocab, len, "big", NULL, &err);
    free(vocab);
    CHECK_MSG(tok, "%s", err.message);
    if (!tok) return;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        char word[32];
        int32_t *ids = NULL;
        size_t n = 0;
        sprintf(word, "w%dq", i);
        if (tokenizer_encode(tok, word, strlen(word), &ids, &n, &err) != ALIGN_OK || n != 3 ||
            ids[1] != 3 + i)
            bad++;
        free(ids);
    }
    CHECK_INT(bad, 0);
    tokenizer_free(tok);
}

static const char *write_config(const char *json)
{
    return write_tmp("tokenizer_config.json", json, strlen(json));
}

TEST(tokenizer_config_defaults)
{
    tokenizer_config cfg;
    align_error err = {0};
    memset(&cfg, 0x55, sizeof cfg);
    CHECK_INT(tokenizer_config_read(fixture("no-such-dir/tokenizer_config.json"), &cfg, &err), ALIGN_OK);
    CHECK_INT(cfg.do_lower_case, 1);
    CHECK_INT(cfg.strip_accents, -1);
    CHECK_INT(cfg.tokenize_chinese_chars, 1);
    CHECK_INT(cfg.do_basic_tokenize, 1);
    CHECK_STR(cfg.unk_token, "[UNK]");
    CHECK_STR(cfg.cls_token, "[CLS]");
    CHECK_STR(cfg.sep_token, "[SEP]");
    CHECK_STR(cfg.pad_token, "[PAD]");
    CHECK_STR(cfg.mask_token, "[MASK]");

    CHECK_INT(tokenizer_config_read(write_config("{}"), &cfg, &err), ALIGN_OK);
    CHECK_INT(cfg.do_lower_case, 1);
    CHECK_INT(cfg.strip_accents, -1);
    CHECK_STR(cfg.mask_token, "[MASK]");

    CHECK_INT(tokenizer_config_read(fixture("align-base/tokenizer_config.json"), &cfg, &err), ALIGN_OK);
    CHECK_INT(cfg.do_lower_case, 1);
    CHECK_INT(cfg.strip_accents, -1);
    CHECK_INT(cfg.tokenize_chinese_chars, 1);
    CHECK_INT(cfg.do_basic_tokenize, 1);
    CHECK_STR(cfg.unk_token, "[UNK]");
    CHECK_STR(cfg.mask_token, "[MASK]");
}

TEST(tokenizer_config_values)
{
    tokenizer_config cfg;
    align_error err = {0};
    const char *path = write_config(
        "{\"do_lower_case\": false, \"strip_accents\": true, \"tokenize_chinese_chars\": false,"
        " \"do_basic_tokenize\": false, \"unk_token\": \"<unk>\", \"cls_token\": \"<s>\","
        " \"sep_token\": \"</s>\", \"pad_token\": \"<pad>\", \"never_split\": null,"
        " \"mask_token\": {\"__type\": \"AddedToken\", \"content\": \"<mask>\", \"lstrip\": true}}");
    CHECK_INT(tokenizer_config_read(path, &cfg, &err), ALIGN_OK);
    CHECK_INT(cfg.do_lower_case, 0);
    CHECK_INT(cfg.strip_accents, 1);
    CHECK_INT(cfg.tokenize_chinese_chars, 0);
    CHECK_INT(cfg.do_basic_tokenize, 0);
    CHECK_STR(cfg.unk_token, "<unk>");
    CHECK_STR(cfg.cls_token, "<s>");
    CHECK_STR(cfg.sep_token, "</s>");
    CHECK_STR(cfg.pad_token, "<pad>");
    CHECK_STR(cfg.mask_token, "<mask>");
    CHECK_INT(tokenizer_config_read(write_config("{\"strip_accents\": false}"), &cfg, &err), ALIGN_OK);
    CHECK_INT(cfg.strip_accents, 0);
}

TEST(tokenizer_config_errors)
{
    static const struct {
        const char *json, *key;
        align_status code;
    } bad[] = {
        {"{\"do_lower_case\": \"yes\"}", "do_lower_case", ALIGN_ERR_CONFIG},
        {"{\"strip_accents\": 1}", "strip_accents", ALIGN_ERR_CONFIG},
        {"{\"tokenize_chinese_chars\": []}", "tokenize_chinese_chars", ALIGN_ERR_CONFIG},
        {"{\"do_basic_tokenize\": 0}", "do_basic_tokenize", ALIGN_ERR_CONFIG},
        {"{\"unk_token\": 5}", "unk_token", ALIGN_ERR_CONFIG},
        {"{\"cls_token\": true}", "cls_token", ALIGN_ERR_CONFIG},
        {"{\"mask_token\": {\"lstrip\": true}}", "mask_token", ALIGN_ERR_CONFIG},
        {"{\"sep_token\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
         "sep_token", ALIGN_ERR_CONFIG},
        {"{\"never_split\": [\"[X]\"]}", "never_split", ALIGN_ERR_CONFIG},
        {"{\"additional_special_tokens\": [\"[X]\"]}", "additional_special_tokens", ALIGN_ERR_CONFIG},
        {"{\"do_lower_case\": tru", "tokenizer_config.json", ALIGN_ERR_FORMAT},
        {"[true]", "tokenizer_config.json", ALIGN_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tokenizer_config cfg;
        align_error err = {0};
        CHECK_INT(tokenizer_config_read(write_config(bad[i].json), &cfg, &err), bad[i].code);
        CHECK_CONTAINS(err.message, bad[i].key);
    }
}

/* Writes a vocabulary file and checks that loading it fails with a message naming the file and
 * containing what. */
static void check_bad_vocab(const char *data, size_t len, align_status code, const char *what)
{
    const char *path = write_tmp("vocab.txt", data, len);
    align_error err = {0};
    tokenizer *tok = tokenizer_load(path, NULL, &err);
    CHECK_MSG(!tok, "loaded a bad vocabulary (%s)", what);
    tokenizer_free(tok);
    CHECK_INT(err.code, code);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, what);
}

#define BAD_VOCAB(text, code, what) check_bad_vocab(text, sizeof(text) - 1, code, what)

TEST(tokenizer_bad_vocab)
{
    BAD_VOCAB("", ALIGN_ERR_FORMAT, "empty");
    BAD_VOCAB("[UNK]\n[CLS]\n[SE\0P]\n", ALIGN_ERR_FORMAT, "NUL");
    BAD_VOCAB("[CLS]\n[SEP]\na\n", ALIGN_ERR_FORMAT, "[UNK]");
    BAD_VOCAB("[UNK]\n[SEP]\na\n", ALIGN_ERR_FORMAT, "[CLS]");
    BAD_VOCAB("[UNK]\n[CLS]\na\n", ALIGN_ERR_FORMAT, "[SEP]");
    BAD_VOCAB("[unk]\n[cls]\n[sep]\n", ALIGN_ERR_FORMAT, "[UNK]");
    BAD_VOCAB("[UNK]\n[CLS]\n[SEP]\nb\xE9t\n", ALIGN_ERR_FORMAT, "line 4");

    align_error err = {0};
    CHECK(!tokenizer_load(fixture("no-such-file.txt"), NULL, &err));
    CHECK_INT(err.code, ALIGN_ERR_IO);
    CHECK_CONTAINS(err.message, "no-such-file.txt");

    /* the config names other tokens than the file has */
    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    strcpy(cfg.unk_token, "<unk>");
    CHECK(!tokenizer_load(fixture("vocab.txt"), &cfg, &err));
    CHECK_CONTAINS(err.message, "vocab.txt");
    CHECK_CONTAINS(err.message, "<unk>");
    strcpy(cfg.unk_token, "");
    CHECK(!tokenizer_load(fixture("vocab.txt"), &cfg, &err));
    CHECK_INT(err.code, ALIGN_ERR_CONFIG);
    CHECK_CONTAINS(err.message, "unk_token");
}
