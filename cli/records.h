/* records.h: what align prints for each input, as JSON (one array), JSON Lines or TSV. One
 * writer for every command, so that every record is escaped and its floats printed alike. */
#ifndef ALIGN_CLI_RECORDS_H
#define ALIGN_CLI_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { FMT_TEXT, FMT_JSON, FMT_JSONL, FMT_TSV, FMT_NPY } out_format;

/* The shortest decimal that reads back as the same float32 ("null" for NaN and infinities). */
void format_float(char *buf, size_t cap, float v);
/* A JSON string literal of s: control characters and the line breaks outside ASCII (U+0085,
 * U+2028, U+2029: readers that split on Unicode line breaks would cut a JSON line there) as \u
 * escapes, and a byte that is not UTF-8 (a file name's) as the lone surrogate U+DC80-U+DCFF that
 * Python's surrogateescape makes of it, so that no two names are written alike. */
void put_json_string(FILE *f, const char *s);

/* Records in a stream: JSON puts them in one array ("[]" when there are none), JSON Lines one to
 * a line, TSV one row per record_tsv_row under a header. Inside a JSON record, values go in with
 * a key, or with key NULL inside an array, and nest up to RECORD_MAX_DEPTH. */
#define RECORD_MAX_DEPTH 8

typedef struct {
    FILE *f;
    out_format format;
    size_t records; /* begun so far */
    int depth;      /* open arrays and objects, the record itself included */
    unsigned char has_items[RECORD_MAX_DEPTH];
    char closer[RECORD_MAX_DEPTH];
} record_writer;

/* tsv_header: the header row (tab-separated column names) for TSV; NULL when the file has it
 * already (--resume). */
void records_start(record_writer *w, FILE *f, out_format format, const char *tsv_header);
/* Closes the JSON array. */
void records_finish(record_writer *w);
/* Whether records in format, written to the terminal f, leave its cursor inside a line between
 * batches (a JSON array's record waits for the comma the next one brings): a progress line on
 * that terminal would then be drawn over a record. */
int records_leave_line_open(FILE *f, out_format format);

void record_begin(record_writer *w);
void record_end(record_writer *w);
void record_string(record_writer *w, const char *key, const char *value);
void record_float(record_writer *w, const char *key, float value);
void record_floats(record_writer *w, const char *key, const float *values, size_t n);
void record_ints(record_writer *w, const char *key, const int32_t *values, size_t n);
/* An array ('[') or object ('{') whose values follow, until record_close. */
void record_open(record_writer *w, const char *key, char bracket);
void record_close(record_writer *w);

/* One TSV row: tabs, newlines and backslashes in a field are written \t, \n and \\. */
void record_tsv_row(record_writer *w, const char *const *fields, int n);

/* s as a record holds it: a TSV field, or (JSON, JSON Lines) a string literal without its quotes;
 * malloc'ed, NULL when out of memory. */
char *record_key(const char *s, out_format format);

#endif
