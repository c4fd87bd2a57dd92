/* tokenizer.h: Hugging Face's BertTokenizer (BasicTokenizer + WordPiece), exactly. */
#ifndef ALIGN_TOKENIZER_H
#define ALIGN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "align.h"

/* What tokenizer_config.json says; absent keys take BertTokenizer's defaults. */
typedef struct {
    int do_lower_case;          /* default 1 */
    int strip_accents;          /* -1 (null: follow do_lower_case), 0 or 1 */
    int tokenize_chinese_chars; /* default 1 */
    int do_basic_tokenize;      /* default 1 */
    char unk_token[64], cls_token[64], sep_token[64], pad_token[64], mask_token[64];
} tokenizer_config;

void tokenizer_config_default(tokenizer_config *cfg);
/* Reads tokenizer_config.json; a missing file gives the defaults. */
align_status tokenizer_config_read(const char *path, tokenizer_config *cfg, align_error *err);
/* The same from JSON text in memory (len bytes); name is what messages call it. */
align_status tokenizer_config_parse(const char *json, size_t len, const char *name, tokenizer_config *cfg,
                                    align_error *err);

typedef struct tokenizer tokenizer;

/* vocab.txt: one token a line, id = line number from 0. */
tokenizer *tokenizer_load(const char *vocab_path, const tokenizer_config *cfg, align_error *err);
tokenizer *tokenizer_from_memory(const char *vocab, size_t len, const char *name,
                                 const tokenizer_config *cfg, align_error *err);
void tokenizer_free(tokenizer *tok);

/* [CLS] wordpieces [SEP] of text (len bytes of UTF-8), not truncated. *ids is malloc'ed.
 * Invalid UTF-8 is ALIGN_ERR_INPUT. */
align_status tokenizer_encode(const tokenizer *tok, const char *text, size_t len, int32_t **ids,
                              size_t *n_ids, align_error *err);
const char *tokenizer_token(const tokenizer *tok, int32_t id);
int tokenizer_vocab_size(const tokenizer *tok);

#endif
