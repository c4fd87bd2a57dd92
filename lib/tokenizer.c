/* tokenizer.c: Hugging Face transformers 4.27's slow BertTokenizer, token for token.
 *
 * What HF does to a text, in order (PreTrainedTokenizer.tokenize, then BertTokenizer._tokenize):
 *   1. with do_lower_case, lower-cases each character outside the special tokens written in the
 *      text ("[MASK]" stays, "[mask]" is plain text);
 *   2. cuts those special tokens out whole;
 *   3. runs BasicTokenizer on each stretch between them: drops control characters, turns
 *      whitespace into spaces, spaces out CJK ideographs, splits on whitespace, lower-cases and
 *      strips the accents of each word, splits off punctuation;
 *   4. runs WordPiece on each word: greedy longest match first, "##" before continuations, and
 *      the whole word becomes [UNK] when some part has no match or it is over 100 characters;
 *   5. adds [CLS] and [SEP], never truncating.
 * Unicode properties come from utf8proc. The reference tokens were made with Python 3.11, whose
 * unicodedata is Unicode 14.0; where utf8proc's tables say otherwise, the code says why it
 * departs from them.
 */
#include "tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "error.h"
#include "fileio.h"
#include "jsonutil.h"
#include "utf8.h"

#define MAX_WORD_CHARS 100             /* WordpieceTokenizer.max_input_chars_per_word */
/* bert-base-uncased's vocab.txt is 30,522 lines in 226 KB. A line costs some 40 bytes beyond its
 * text (pointer, length, two hash slots), so an empty-line vocabulary of 1 GB would have taken
 * 40 GB: lines are capped like config.json's vocab_size, bytes at 64 per line. */
#define MAX_VOCAB_TOKENS (1 << 22)
#define MAX_VOCAB_BYTES (256u << 20)
#define MAX_CONFIG_BYTES (1u << 20)
#define N_SPECIAL 5
#define SPECIAL_CAP ((int)sizeof(((tokenizer_config *)0)->unk_token))

/* ---- Unicode ---------------------------------------------------------------------------------- */

/* Code points Unicode 15.0 assigned that 14.0 had not. Debian 12's utf8proc (2.8) has 15.0
 * tables, while the fixtures' Python knew these as unassigned (Cn), which BasicTokenizer drops
 * like any control character; so they stay unassigned here. Apart from these and U+0130 (see
 * push_lower), utf8proc 2.8 agrees with Python's unicodedata 14.0 on every code point's category,
 * lower case and decomposition. A utf8proc older than 2.7 (Unicode 13) would lack what 14.0
 * added; tokenizer_unicode_version in the tests checks for that. */
static const int32_t unicode15_added[][2] = {
    {0xCF3, 0xCF3},     {0xECE, 0xECE},     {0x10EFD, 0x10EFF}, {0x1123F, 0x11241},
    {0x11B00, 0x11B09}, {0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59},
    {0x1342F, 0x1342F}, {0x13439, 0x13455}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155},
    {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F},
    {0x1E4D0, 0x1E4F9}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F776}, {0x1F77B, 0x1F77F},
    {0x1F7D9, 0x1F7D9}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA88}, {0x1FAAD, 0x1FAAF},
    {0x1FABB, 0x1FABD}, {0x1FABF, 0x1FABF}, {0x1FACE, 0x1FACF}, {0x1FADA, 0x1FADB},
    {0x1FAE8, 0x1FAE8}, {0x1FAF7, 0x1FAF8}, {0x2B739, 0x2B739}, {0x31350, 0x323AF},
};

static int added_after_unicode14(int32_t cp)
{
    size_t lo = 0, hi = sizeof unicode15_added / sizeof unicode15_added[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode15_added[mid][0]) hi = mid;
        else if (cp > unicode15_added[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static utf8proc_category_t category(int32_t cp)
{
    return added_after_unicode14(cp) ? UTF8PROC_CATEGORY_CN : utf8proc_category(cp);
}

/* HF's _is_control: every C* category (unassigned and private use too), but not \t \n \r. */
static int is_control(int32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r') return 0;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: return 1;
    default: return 0;
    }
}

/* HF's _is_whitespace: what _clean_text turns into a space. */
static int is_clean_space(int32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || category(cp) == UTF8PROC_CATEGORY_ZS;
}

/* Python's str.isspace(), which str.split() splits on: a wider set than the one above (it adds
 * \v \f, U+001C..U+001F, U+0085, U+2028 and U+2029). The set is fixed by the Unicode character
 * database (bidi classes WS, B, S and category Zs) and has not changed since Unicode 6.3. */
static int is_py_space(int32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* HF's _is_punctuation: all non-alphanumeric printable ASCII, and the P* categories. */
static int is_punct(int32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return 1;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return 1;
    default: return 0;
    }
}

/* HF's _is_chinese_char: the CJK ideograph blocks as HF lists them (not Hangul or kana). */
static int is_cjk(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Names what is wrong with the invalid UTF-8 sequence at s (n > 0 bytes left). */
static const char *utf8_problem(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    if (b >= 0x80 && b < 0xC0) return "continuation byte without a lead byte";
    if (b == 0xC0 || b == 0xC1) return "overlong encoding";
    if (b >= 0xF5) return "byte that never occurs in UTF-8";
    size_t need = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    for (size_t i = 1; i <= need; i++)
        if (i >= n || (s[i] & 0xC0) != 0x80) return "truncated sequence";
    if ((b == 0xE0 && s[1] < 0xA0) || (b == 0xF0 && s[1] < 0x90)) return "overlong encoding";
    if (b == 0xED && s[1] >= 0xA0) return "UTF-16 surrogate";
    if (b == 0xF4 && s[1] >= 0x90) return "code point above U+10FFFF";
    return "invalid sequence";
}

/* ---- growable arrays ---------------------------------------------------------------------------- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} vec32;

/* Room for extra more; afterwards a->v is never NULL, even for an empty text. */
static int vec_reserve(vec32 *a, size_t extra)
{
    if (a->v && a->cap - a->n >= extra) return 0;
    size_t cap = a->cap ? a->cap : 64;
    while (cap - a->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof(int32_t)) return -1;
        cap *= 2;
    }
    int32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
    return 0;
}

static int vec_push(vec32 *a, int32_t x)
{
    if (a->n == a->cap && vec_reserve(a, 1)) return -1;
    a->v[a->n++] = x;
    return 0;
}

/* Python's str.lower() of one character. utf8proc has only the one-to-one mappings; Python also
 * applies SpecialCasing.txt, whose only unconditional lower-case entry is U+0130 -> "i\u0307". */
static int push_lower(vec32 *a, int32_t cp)
{
    if (cp == 0x130) return vec_push(a, 'i') || vec_push(a, 0x307);
    return vec_push(a, utf8proc_tolower(cp));
}

/* ---- the vocabulary ------------------------------------------------------------------------------ */

typedef struct {
    uint32_t hash;
    int32_t id; /* -1: empty */
} slot;

typedef struct {
    int32_t cp[SPECIAL_CAP];
    size_t n;
    int32_t id; /* -1 when the vocabulary lacks it */
    const char *text, *key;
} special;

struct tokenizer {
    tokenizer_config cfg;
    int lower, strip_accents;
    char *strings;       /* the vocabulary file with each line ending in a NUL */
    char **token;        /* token[id], id = line number */
    uint32_t *token_len;
    uint32_t max_len;    /* of any token, in bytes: no longer piece can match */
    int32_t n_tokens;
    slot *slots;         /* open addressing, linear probing */
    size_t mask;
    special specials[N_SPECIAL];
    int32_t unk_id, cls_id, sep_id;
};

/* FNV-1a, continued from h so that "##" + piece hashes without building the string. */
static uint32_t hash_bytes(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t hash_piece(int continuation, const char *s, size_t n)
{
    return hash_bytes(hash_bytes(2166136261u, "##", continuation ? 2 : 0), s, n);
}

/* The id of s (after "##" when continuation), or -1. */
static int32_t vocab_find(const tokenizer *t, int continuation, const char *s, size_t n)
{
    size_t pre = continuation ? 2 : 0;
    uint32_t h = hash_piece(continuation, s, n);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const slot *sl = &t->slots[i];
        if (sl->id < 0) return -1;
        const char *tok = t->token[sl->id];
        if (sl->hash == h && t->token_len[sl->id] == pre + n && memcmp(tok, "##", pre) == 0 &&
            memcmp(tok + pre, s, n) == 0)
            return sl->id;
    }
}

/* HF reads vocab.txt into a dict, so a token listed twice maps to its last line. */
static void vocab_insert(tokenizer *t, int32_t id)
{
    uint32_t h = hash_piece(0, t->token[id], t->token_len[id]);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        slot *sl = &t->slots[i];
        if (sl->id < 0 || (sl->hash == h && t->token_len[sl->id] == t->token_len[id] &&
                           memcmp(t->token[sl->id], t->token[id], t->token_len[id]) == 0)) {
            sl->hash = h;
            sl->id = id;
            return;
        }
    }
}

/* Python reads the file in text mode, where "\n", "\r\n" and a lone "\r" all end a line. */
static size_t line_end(const char *s, size_t len, size_t i, size_t *next)
{
    while (i < len && s[i] != '\n' && s[i] != '\r') i++;
    *next = i + (i < len) + (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n');
    return i;
}

static align_status read_lines(tokenizer *t, const char *name, size_t len, align_error *err)
{
    char *s = t->strings;
    size_t count = 0, next;
    for (size_t i = 0; i < len; i = next) {
        line_end(s, len, i, &next);
        if (++count > MAX_VOCAB_TOKENS)
            return align_fail(err, ALIGN_ERR_LIMIT, "%s: more than %d tokens", name, MAX_VOCAB_TOKENS);
    }
    t->token = malloc(count * sizeof *t->token);
    t->token_len = malloc(count * sizeof *t->token_len);
    if (!t->token || !t->token_len) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", name);
    t->n_tokens = (int32_t)count;
    size_t id = 0;
    for (size_t i = 0; i < len; i = next, id++) {
        size_t end = line_end(s, len, i, &next);
        size_t bad = utf8_valid_prefix((const uint8_t *)s + i, end - i);
        if (bad < end - i)
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: line %zu: invalid UTF-8 (%s)", name, id + 1,
                              utf8_problem((const uint8_t *)s + i + bad, end - i - bad));
        s[end] = 0;
        t->token[id] = s + i;
        t->token_len[id] = (uint32_t)(end - i);
        if (t->token_len[id] > t->max_len) t->max_len = t->token_len[id];
    }
    return ALIGN_OK;
}

static align_status build_table(tokenizer *t, const char *name, align_error *err)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)t->n_tokens) cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < cap; i++) t->slots[i].id = -1;
    t->mask = cap - 1;
    for (int32_t id = 0; id < t->n_tokens; id++) vocab_insert(t, id);
    return ALIGN_OK;
}

/* Looks up the five special tokens the config names; [UNK], [CLS] and [SEP] must exist. */
static align_status find_specials(tokenizer *t, const char *name, align_error *err)
{
    const char *text[N_SPECIAL] = {t->cfg.unk_token, t->cfg.cls_token, t->cfg.sep_token,
                                   t->cfg.pad_token, t->cfg.mask_token};
    static const char *const keys[N_SPECIAL] = {"unk_token", "cls_token", "sep_token", "pad_token",
                                                "mask_token"};
    for (int k = 0; k < N_SPECIAL; k++) {
        special *sp = &t->specials[k];
        size_t len = strlen(text[k]);
        if (len == 0) return align_fail(err, ALIGN_ERR_CONFIG, "%s is empty", keys[k]);
        if (utf8_valid_prefix((const uint8_t *)text[k], len) != len)
            return align_fail(err, ALIGN_ERR_CONFIG, "%s is not valid UTF-8", keys[k]);
        for (size_t i = 0; i < len;) {
            utf8proc_int32_t cp;
            i += (size_t)utf8proc_iterate((const uint8_t *)text[k] + i, (utf8proc_ssize_t)(len - i), &cp);
            sp->cp[sp->n++] = cp;
        }
        sp->text = text[k];
        sp->key = keys[k];
        sp->id = vocab_find(t, 0, text[k], len);
        if (sp->id < 0 && k < 3) /* unk, cls, sep: every encoding needs them */
            return align_fail(err, ALIGN_ERR_FORMAT, "%s: no \"%s\" (the %s) in the vocabulary", name,
                              text[k], keys[k]);
    }
    t->unk_id = t->specials[0].id;
    t->cls_id = t->specials[1].id;
    t->sep_id = t->specials[2].id;
    return ALIGN_OK;
}

static align_status check_config(const tokenizer_config *cfg, align_error *err)
{
    const char *text[N_SPECIAL] = {cfg->unk_token, cfg->cls_token, cfg->sep_token, cfg->pad_token,
                                   cfg->mask_token};
    for (int k = 0; k < N_SPECIAL; k++)
        if (!memchr(text[k], 0, SPECIAL_CAP))
            return align_fail(err, ALIGN_ERR_ARG, "tokenizer config: special token not NUL-terminated");
    return ALIGN_OK;
}

tokenizer *tokenizer_from_memory(const char *vocab, size_t len, const char *name,
                                 const tokenizer_config *cfg, align_error *err)
{
    tokenizer_config def;
    if (!name) name = "vocabulary";
    if (!cfg) {
        tokenizer_config_default(&def);
        cfg = &def;
    }
    if (!vocab && len) {
        align_fail(err, ALIGN_ERR_ARG, "%s: no data", name);
        return NULL;
    }
    if (check_config(cfg, err)) return NULL;
    if (len == 0) {
        align_fail(err, ALIGN_ERR_FORMAT, "%s: empty vocabulary", name);
        return NULL;
    }
    if (len > MAX_VOCAB_BYTES) {
        align_fail(err, ALIGN_ERR_LIMIT, "%s: vocabulary over %u bytes", name, MAX_VOCAB_BYTES);
        return NULL;
    }
    const char *nul = memchr(vocab, 0, len);
    if (nul) {
        align_fail(err, ALIGN_ERR_FORMAT, "%s: NUL byte at offset %zu", name, (size_t)(nul - vocab));
        return NULL;
    }
    tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->strings = malloc(len + 1))) {
        free(t);
        align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    memcpy(t->strings, vocab, len);
    t->strings[len] = 0;
    t->cfg = *cfg;
    /* BertTokenizer's do_lower_case reads its BasicTokenizer's, so without one the lower-casing
     * pass in PreTrainedTokenizer.tokenize finds no such attribute and is skipped as well. */
    t->lower = cfg->do_lower_case && cfg->do_basic_tokenize;
    /* strip_accents None follows do_lower_case; true or false overrides it */
    t->strip_accents = cfg->strip_accents < 0 ? cfg->do_lower_case != 0 : cfg->strip_accents != 0;
    if (read_lines(t, name, len, err) || build_table(t, name, err) || find_specials(t, name, err)) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

tokenizer *tokenizer_load(const char *vocab_path, const tokenizer_config *cfg, align_error *err)
{
    char *data;
    size_t len;
    if (file_read_all(vocab_path, MAX_VOCAB_BYTES, &data, &len, err)) return NULL;
    tokenizer *t = tokenizer_from_memory(data, len, vocab_path, cfg, err);
    free(data);
    return t;
}

void tokenizer_free(tokenizer *tok)
{
    if (!tok) return;
    free(tok->strings);
    free(tok->token);
    free(tok->token_len);
    free(tok->slots);
    free(tok);
}

const char *tokenizer_token(const tokenizer *tok, int32_t id)
{
    return tok && id >= 0 && id < tok->n_tokens ? tok->token[id] : NULL;
}

int tokenizer_vocab_size(const tokenizer *tok)
{
    return tok ? tok->n_tokens : 0;
}

/* ---- encoding ------------------------------------------------------------------------------------ */

/* One call's state: the output and scratch space, so the tokenizer itself stays read-only. */
typedef struct {
    const tokenizer *tok;
    align_error *err;
    vec32 ids;
    vec32 clean; /* a stretch of text after _clean_text and CJK spacing */
    vec32 lower; /* a word lower-cased */
    vec32 nfd;   /* a word decomposed, accents dropped */
    char *utf8;  /* a word as UTF-8, with the byte offset of each character in offs */
    size_t *offs;
    size_t utf8_cap;
} encoder;

static align_status nomem(encoder *e)
{
    return align_fail(e->err, ALIGN_ERR_NOMEM, "out of memory");
}

static align_status emit(encoder *e, int32_t id)
{
    return vec_push(&e->ids, id) ? nomem(e) : ALIGN_OK;
}

static align_status to_utf8(encoder *e, const int32_t *cp, size_t n)
{
    if (n > (SIZE_MAX - 1) / 4 / sizeof(size_t)) return nomem(e);
    if (4 * n > e->utf8_cap) {
        size_t cap = 4 * n < 256 ? 256 : 4 * n;
        char *u = realloc(e->utf8, cap);
        if (u) e->utf8 = u;
        size_t *o = realloc(e->offs, (cap / 4 + 1) * sizeof *o);
        if (o) e->offs = o;
        if (!u || !o) return nomem(e);
        e->utf8_cap = cap;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        e->offs[i] = k;
        k += (size_t)utf8proc_encode_char(cp[i], (utf8proc_uint8_t *)e->utf8 + k);
    }
    e->offs[n] = k;
    return ALIGN_OK;
}

/* WordpieceTokenizer on one word. */
static align_status wordpiece(encoder *e, const int32_t *cp, size_t n)
{
    const tokenizer *t = e->tok;
    if (n > MAX_WORD_CHARS) return emit(e, t->unk_id);
    align_status s = to_utf8(e, cp, n);
    if (s) return s;
    size_t mark = e->ids.n;
    for (size_t start = 0, end; start < n; start = end) {
        int32_t id = -1;
        size_t pre = start > 0 ? 2 : 0;
        for (end = n; end > start; end--) {
            size_t bytes = e->offs[end] - e->offs[start];
            if (pre + bytes > t->max_len) continue;
            id = vocab_find(t, start > 0, e->utf8 + e->offs[start], bytes);
            if (id >= 0) break;
        }
        if (id < 0) {
            e->ids.n = mark;
            return emit(e, t->unk_id);
        }
        if ((s = emit(e, id))) return s;
    }
    return ALIGN_OK;
}

/* NFD, then without the nonspacing marks (Mn), into e->nfd. utf8proc normalises UTF-8, so the
 * word goes through it as bytes; it reorders combining marks as NFD requires. */
static align_status strip_accents(encoder *e, const int32_t *cp, size_t n)
{
    align_status s = to_utf8(e, cp, n);
    if (s) return s;
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)e->utf8;
    utf8proc_ssize_t len = (utf8proc_ssize_t)e->offs[n], got;
    e->nfd.n = 0;
    while ((got = utf8proc_decompose(u, len, e->nfd.v, (utf8proc_ssize_t)e->nfd.cap,
                                     UTF8PROC_STABLE | UTF8PROC_DECOMPOSE)) > (utf8proc_ssize_t)e->nfd.cap)
        if (vec_reserve(&e->nfd, (size_t)got)) return nomem(e);
    if (got < 0) return align_fail(e->err, ALIGN_ERR_INPUT, "cannot normalise: %s", utf8proc_errmsg(got));
    size_t k = 0;
    for (size_t i = 0; i < (size_t)got; i++)
        if (category(e->nfd.v[i]) != UTF8PROC_CATEGORY_MN) e->nfd.v[k++] = e->nfd.v[i];
    e->nfd.n = k;
    return ALIGN_OK;
}

/* The special token at cp[i..n), or -1. The longest when several match (HF's trie), else the
 * shortest (the first in HF's sorted alternation, see lower_outside_specials). */
static int special_at(const tokenizer *t, const int32_t *cp, size_t n, size_t i, int longest)
{
    int best = -1;
    for (int k = 0; k < N_SPECIAL; k++) {
        const special *sp = &t->specials[k];
        if (sp->n > n - i || memcmp(sp->cp, cp + i, sp->n * sizeof *cp) != 0) continue;
        if (best < 0 || (longest ? sp->n > t->specials[best].n : sp->n < t->specials[best].n)) best = k;
    }
    return best;
}

/* BasicTokenizer keeps a word that is a special token whole: no lower-casing, no splitting. */
static int is_special_word(const tokenizer *t, const int32_t *cp, size_t n)
{
    int k = special_at(t, cp, n, 0, 1);
    return k >= 0 && t->specials[k].n == n;
}

/* One whitespace-separated word of BasicTokenizer: lower-case, strip accents, split off each
 * punctuation character, WordPiece the parts. */
static align_status basic_word(encoder *e, const int32_t *cp, size_t n)
{
    const tokenizer *t = e->tok;
    if (is_special_word(t, cp, n)) return wordpiece(e, cp, n);
    align_status s;
    if (t->lower) {
        e->lower.n = 0;
        for (size_t i = 0; i < n; i++)
            if (push_lower(&e->lower, cp[i])) return nomem(e);
        cp = e->lower.v;
        n = e->lower.n;
    }
    if (t->strip_accents) {
        if ((s = strip_accents(e, cp, n))) return s;
        cp = e->nfd.v;
        n = e->nfd.n;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_punct(cp[i])) continue;
        if (i > start && (s = wordpiece(e, cp + start, i - start))) return s;
        if ((s = wordpiece(e, cp + i, 1))) return s;
        start = i + 1;
    }
    return n > start ? wordpiece(e, cp + start, n - start) : ALIGN_OK;
}

/* Python's str.split(): fn on each run of non-whitespace. */
static align_status for_each_word(encoder *e, const int32_t *cp, size_t n,
                                  align_status (*fn)(encoder *, const int32_t *, size_t))
{
    size_t i = 0;
    while (i < n) {
        while (i < n && is_py_space(cp[i])) i++;
        size_t start = i;
        while (i < n && !is_py_space(cp[i])) i++;
        if (i > start) {
            align_status s = fn(e, cp + start, i - start);
            if (s) return s;
        }
    }
    return ALIGN_OK;
}

/* BertTokenizer._tokenize on the text between two special tokens. */
static align_status tokenize_stretch(encoder *e, const int32_t *cp, size_t n)
{
    const tokenizer *t = e->tok;
    if (!t->cfg.do_basic_tokenize) return for_each_word(e, cp, n, wordpiece);
    e->clean.n = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        int r;
        if (is_clean_space(c)) r = vec_push(&e->clean, ' ');
        else if (t->cfg.tokenize_chinese_chars && is_cjk(c))
            r = vec_push(&e->clean, ' ') || vec_push(&e->clean, c) || vec_push(&e->clean, ' ');
        else r = vec_push(&e->clean, c);
        if (r) return nomem(e);
    }
    return for_each_word(e, e->clean.v, e->clean.n, basic_word);
}

/* PreTrainedTokenizer.tokenize lower-cases with the regex "(special|...)|(.+?)" before anything
 * else. ".+?" takes one character at a time, so str.lower() never sees a word and never applies
 * its final-sigma rule ("ΟΔΟΣ" gives "οδοσ"); "." skips "\n", which lower() would keep anyway.
 * The alternation takes the first special token that matches, and HF lists them sorted, so when
 * one is a prefix of another the shorter wins here. */
static align_status lower_outside_specials(encoder *e, const vec32 *in, vec32 *out)
{
    const tokenizer *t = e->tok;
    if (vec_reserve(out, in->n)) return nomem(e);
    for (size_t i = 0; i < in->n;) {
        int k = special_at(t, in->v, in->n, i, 0);
        if (k < 0) {
            if (push_lower(out, in->v[i++])) return nomem(e);
            continue;
        }
        for (size_t j = 0; j < t->specials[k].n; j++)
            if (vec_push(out, in->v[i++])) return nomem(e);
    }
    return ALIGN_OK;
}

/* Cuts out the special tokens written in the text (HF's added-tokens trie: leftmost, then
 * longest) and tokenizes the stretches between them. */
static align_status split_specials(encoder *e, const vec32 *text)
{
    const tokenizer *t = e->tok;
    size_t start = 0;
    align_status s;
    for (size_t i = 0; i < text->n;) {
        int k = special_at(t, text->v, text->n, i, 1);
        if (k < 0) {
            i++;
            continue;
        }
        const special *sp = &t->specials[k];
        /* HF would give it a new id past the vocabulary, which no embedding table has */
        if (sp->id < 0)
            return align_fail(e->err, ALIGN_ERR_INPUT, "contains \"%s\" (the %s), which is not in the vocabulary",
                              sp->text, sp->key);
        if ((s = tokenize_stretch(e, text->v + start, i - start)) || (s = emit(e, sp->id))) return s;
        i += sp->n;
        start = i;
    }
    return tokenize_stretch(e, text->v + start, text->n - start);
}

static align_status decode(encoder *e, const char *text, size_t len, vec32 *out)
{
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    if (vec_reserve(out, len)) return nomem(e);
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return align_fail(e->err, ALIGN_ERR_INPUT, "invalid UTF-8 at byte %zu (0x%02X): %s", i, s[i],
                              utf8_problem(s + i, len - i));
        out->v[out->n++] = cp;
        i += (size_t)k;
    }
    return ALIGN_OK;
}

align_status tokenizer_encode(const tokenizer *tok, const char *text, size_t len, int32_t **ids,
                              size_t *n_ids, align_error *err)
{
    if (!tok || (!text && len) || !ids || !n_ids)
        return align_fail(err, ALIGN_ERR_ARG, "tokenizer_encode: invalid argument");
    *ids = NULL;
    *n_ids = 0;
    encoder e = {.tok = tok, .err = err};
    vec32 in = {0}, lowered = {0};
    align_status s = decode(&e, text, len, &in);
    if (!s && tok->lower) s = lower_outside_specials(&e, &in, &lowered);
    if (!s) s = emit(&e, tok->cls_id);
    if (!s) s = split_specials(&e, tok->lower ? &lowered : &in);
    if (!s) s = emit(&e, tok->sep_id);
    free(in.v);
    free(lowered.v);
    free(e.clean.v);
    free(e.lower.v);
    free(e.nfd.v);
    free(e.utf8);
    free(e.offs);
    if (s) {
        free(e.ids.v);
        return s;
    }
    *ids = e.ids.v;
    *n_ids = e.ids.n;
    return ALIGN_OK;
}

/* ---- tokenizer_config.json ----------------------------------------------------------------------- */

void tokenizer_config_default(tokenizer_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->do_lower_case = 1;
    cfg->strip_accents = -1;
    cfg->tokenize_chinese_chars = 1;
    cfg->do_basic_tokenize = 1;
    strcpy(cfg->unk_token, "[UNK]");
    strcpy(cfg->cls_token, "[CLS]");
    strcpy(cfg->sep_token, "[SEP]");
    strcpy(cfg->pad_token, "[PAD]");
    strcpy(cfg->mask_token, "[MASK]");
}

/* A special token is a string, or as save_pretrained may write it, an AddedToken object whose
 * "content" is the string (its strip flags only trim whitespace BasicTokenizer drops anyway). */
static align_status special_token(const cJSON *obj, const char *key, const char *path, char *buf,
                                  align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsObject(v)) return json_string(obj, key, path, buf, SPECIAL_CAP, err);
    char ctx[1024];
    snprintf(ctx, sizeof ctx, "%s: %s", path, key);
    if (!cJSON_GetObjectItemCaseSensitive(v, "content"))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: no \"content\"", ctx);
    return json_string(v, "content", ctx, buf, SPECIAL_CAP, err);
}

/* Token lists this tokenizer cannot honour: refusing them beats splitting what HF keeps whole. */
static align_status unsupported_list(const cJSON *obj, const char *key, const char *path, align_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return ALIGN_OK;
    if (!cJSON_IsArray(v)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected an array", path, key);
    if (cJSON_GetArraySize(v) > 0) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: not supported", path, key);
    return ALIGN_OK;
}

static align_status parse_config(const cJSON *j, const char *path, tokenizer_config *cfg, align_error *err)
{
    align_status s;
    if ((s = json_bool(j, "do_lower_case", path, &cfg->do_lower_case, err)) ||
        (s = json_bool(j, "strip_accents", path, &cfg->strip_accents, err)) ||
        (s = json_bool(j, "tokenize_chinese_chars", path, &cfg->tokenize_chinese_chars, err)) ||
        (s = json_bool(j, "do_basic_tokenize", path, &cfg->do_basic_tokenize, err)) ||
        (s = special_token(j, "unk_token", path, cfg->unk_token, err)) ||
        (s = special_token(j, "cls_token", path, cfg->cls_token, err)) ||
        (s = special_token(j, "sep_token", path, cfg->sep_token, err)) ||
        (s = special_token(j, "pad_token", path, cfg->pad_token, err)) ||
        (s = special_token(j, "mask_token", path, cfg->mask_token, err)) ||
        (s = unsupported_list(j, "never_split", path, err)) ||
        (s = unsupported_list(j, "additional_special_tokens", path, err)))
        return s;
    return ALIGN_OK;
}

align_status tokenizer_config_parse(const char *json, size_t len, const char *name, tokenizer_config *cfg,
                                    align_error *err)
{
    tokenizer_config_default(cfg);
    cJSON *j;
    align_status s = json_parse_object(json, len, name, &j, err);
    if (s) return s;
    tokenizer_config parsed = *cfg;
    s = parse_config(j, name, &parsed, err);
    cJSON_Delete(j);
    if (!s) *cfg = parsed;
    return s;
}

align_status tokenizer_config_read(const char *path, tokenizer_config *cfg, align_error *err)
{
    tokenizer_config_default(cfg);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return ALIGN_OK;
    char *text;
    size_t len;
    align_status s = file_read_all(path, MAX_CONFIG_BYTES, &text, &len, err);
    if (s) return s;
    s = tokenizer_config_parse(text, len, path, cfg, err);
    free(text);
    return s;
}
