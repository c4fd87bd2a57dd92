/* fuzz_vocab: arbitrary bytes as a vocab.txt (tokenizer_from_memory), then a few texts through
 * the tokenizer it makes. Every id it gives must name a token of that vocabulary. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tokenizer.h"

static const char *const texts[] = {
    "a photo of a cat", "[CLS] [MASK] [sep] x", "Héllo, Wörld! ΟΔΟΣ İstanbul", "中文字 and ﾊﾝｶｸ",
    "unaffable ##ing #hash", "", "\t\n\r  ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    align_error err;
    tokenizer_config cfg;
    tokenizer_config_default(&cfg);
    /* the first byte picks the settings, so both casing paths see hostile vocabularies */
    if (size) {
        cfg.do_lower_case = data[0] & 1;
        cfg.do_basic_tokenize = !(data[0] & 2);
        cfg.strip_accents = (data[0] & 4) ? 1 : -1;
    }
    tokenizer *t = tokenizer_from_memory((const char *)data, size, "vocab.txt", &cfg, &err);
    if (!t) {
        fuzz_check_error(err.code, &err, "vocab.txt");
        return 0;
    }
    int n_vocab = tokenizer_vocab_size(t);
    FUZZ_ASSERT(n_vocab >= 1, "empty vocabulary accepted");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids;
        size_t n;
        align_status s = tokenizer_encode(t, texts[i], strlen(texts[i]), &ids, &n, &err);
        if (s) {
            /* a vocabulary may lack a special token written in the text */
            FUZZ_ASSERT(s == ALIGN_ERR_INPUT, "status %d: %s", (int)s, err.message);
            fuzz_check_error(s, &err, NULL);
            continue;
        }
        for (size_t k = 0; k < n; k++) FUZZ_ASSERT(tokenizer_token(t, ids[k]) != NULL, "id %d", (int)ids[k]);
        free(ids);
    }
    tokenizer_free(t);
    return 0;
}
