/* jsonutil.h: typed reads of optional keys from Hugging Face's JSON config files. Each getter
 * leaves *out at the default when the key is absent (or null), and fails naming "file: key" when
 * the value has the wrong type or lies outside [lo, hi]. */
#ifndef ALIGN_JSONUTIL_H
#define ALIGN_JSONUTIL_H

#include <cJSON.h>

#include "align.h"

/* cJSON makes one node of about 80 bytes for every value, and a value can take 2 bytes of text
 * ("0,"): an upper bound on the values in text (one per container and separator outside strings),
 * cheap to take before parsing, keeps a hostile file from costing 40 times its size. */
size_t json_value_bound(const char *text, size_t len);
/* The config files' bound: their real ones hold a few hundred values (an id2label of 21,000
 * classes, 42,000). */
#define JSON_MAX_VALUES (1 << 18)

/* Parses text as a JSON object (at most JSON_MAX_VALUES values); the error names file. */
align_status json_parse_object(const char *text, size_t len, const char *file, cJSON **out,
                               align_error *err);
/* Reads and parses a JSON object file (at most max_size bytes). */
align_status json_read_object(const char *path, size_t max_size, cJSON **out, align_error *err);

align_status json_int(const cJSON *obj, const char *key, const char *ctx, long lo, long hi, int *out,
                      align_error *err);
align_status json_double(const cJSON *obj, const char *key, const char *ctx, double lo, double hi,
                         double *out, align_error *err);
align_status json_bool(const cJSON *obj, const char *key, const char *ctx, int *out, align_error *err);
/* Copies a string value into buf (cap bytes, NUL-terminated; too long is an error). */
align_status json_string(const cJSON *obj, const char *key, const char *ctx, char *buf, size_t cap,
                         align_error *err);
/* An array of at most max integers in [lo, hi]; *n gets the count. */
align_status json_int_array(const cJSON *obj, const char *key, const char *ctx, long lo, long hi,
                            int *out, int max, int *n, align_error *err);
align_status json_double_array(const cJSON *obj, const char *key, const char *ctx, double lo,
                               double hi, double *out, int max, int *n, align_error *err);

#endif
