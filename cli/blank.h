/* blank.h: a text in which the text tower finds nothing, as an unset shell variable or a stray
 * no-break space leaves one. Refused as a label, a text to embed or a query term, rather than
 * scored as the embedding of [CLS] [SEP] alone. */
#ifndef ALIGN_CLI_BLANK_H
#define ALIGN_CLI_BLANK_H

#include "align.h"

/* Whether the model's tokenizer leaves no token of text: white space of any script, control and
 * format characters (U+200B, a byte order mark), or nothing at all. A text it cannot tokenize is
 * not blank: its own error comes when it is encoded. */
int text_tokenless(const align_model *m, const char *text);
/* Refuses the first blank of n texts as a usage error of command, naming it "WHAT i of n": before
 * the model loads (m NULL), white space alone; after, anything m's tokenizer leaves no token of.
 * -1 when one was refused, else 0. */
int refuse_blank(const align_model *m, char *const *texts, size_t n, const char *command, const char *what);

#endif
