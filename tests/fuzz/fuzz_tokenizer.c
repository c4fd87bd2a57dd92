/* fuzz_tokenizer: arbitrary bytes as a label, through tokenizer_encode with the real
 * bert-base-uncased vocabulary under tiny-a's tokenizer_config.json and under the settings that
 * switch each stage off. Valid UTF-8 must always encode to [CLS] ... [SEP] with ids inside the
 * vocabulary; invalid UTF-8 must fail with ALIGN_ERR_INPUT. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tokenizer.h"
#include "utf8.h"

#define N_TOK 5
static tokenizer *toks[N_TOK];
static int32_t cls_id, sep_id;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    size_t vlen, clen;
    char *vocab = fuzz_read_fixture("vocab.txt", &vlen);
    char *json = fuzz_read_fixture("tiny-a/tokenizer_config.json", &clen);
    tokenizer_config cfg[N_TOK];
    align_error err;
    if (tokenizer_config_parse(json, clen, "tokenizer_config.json", &cfg[0], &err)) abort();
    for (int i = 1; i < N_TOK; i++) cfg[i] = cfg[0];
    cfg[1].do_lower_case = 0;              /* cased */
    cfg[2].do_lower_case = 0, cfg[2].strip_accents = 1;
    cfg[3].tokenize_chinese_chars = 0;
    cfg[4].do_basic_tokenize = 0;          /* WordPiece on whitespace-split words only */
    for (int i = 0; i < N_TOK; i++)
        if (!(toks[i] = tokenizer_from_memory(vocab, vlen, "vocab.txt", &cfg[i], &err))) {
            fprintf(stderr, "fuzz: %s\n", err.message);
            abort();
        }
    free(vocab);
    free(json);
    cls_id = 101, sep_id = 102;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int valid = utf8_valid_prefix(data, size) == size;
    for (int t = 0; t < N_TOK; t++) {
        int32_t *ids = NULL;
        size_t n = 0;
        align_error err;
        align_status s = tokenizer_encode(toks[t], (const char *)data, size, &ids, &n, &err);
        if (!valid) {
            FUZZ_ASSERT(s == ALIGN_ERR_INPUT, "invalid UTF-8 gave status %d", (int)s);
            fuzz_check_error(s, &err, NULL);
            FUZZ_ASSERT(strstr(err.message, "invalid UTF-8") != NULL, "%s", err.message);
            FUZZ_ASSERT(ids == NULL && n == 0, "output left on failure");
            continue;
        }
        FUZZ_ASSERT(s == ALIGN_OK, "valid UTF-8 failed: %s", err.message);
        FUZZ_ASSERT(n >= 2 && ids[0] == cls_id && ids[n - 1] == sep_id, "not [CLS] ... [SEP]");
        int vocab = tokenizer_vocab_size(toks[t]);
        for (size_t i = 0; i < n; i++) FUZZ_ASSERT(ids[i] >= 0 && ids[i] < vocab, "id %d", (int)ids[i]);
        /* a character yields at most a few tokens: a runaway expansion would show here */
        FUZZ_ASSERT(n <= 2 + 4 * size, "%zu tokens from %zu bytes", n, size);
        free(ids);
    }
    return 0;
}
