/* resume.h: --resume, for classify and embed writing records to a file (-o FILE, jsonl or tsv).
 *
 * The records accumulate in FILE.partial, a batch at a time: each batch is written in one go and
 * synced before the next is encoded. When the run completes, FILE.partial is renamed over FILE. A
 * rerun with --resume (after kill -9, a crash, a Slurm preemption, or with files added) starts
 * from FILE.partial, else from FILE: its whole records are kept, a record cut short is dropped,
 * and every input that has a record (an embedding, scores, or in JSON Lines an error) is skipped;
 * the rest are done and appended. So no finished record is lost and none is written twice. The
 * records a killed run leaves are whole batches, so the rerun encodes the batches an uninterrupted
 * run would have, and its output is the same, byte for byte.
 *
 * A record's key is its image path as written in the record: the JSON string literal after
 * {"image": in JSON Lines, the first field in TSV. In TSV an image's rows are a group of as many
 * rows as the run keeps results (failed images have none, and are tried again). A record must
 * hold what this run's would (record_shape.h). */
#ifndef ALIGN_CLI_RESUME_H
#define ALIGN_CLI_RESUME_H

#include <stdio.h>
#include <sys/types.h>

#include "record_shape.h"
#include "records.h"
#include "strlist.h"

typedef struct {
    char *path, *partial;
    int fd;             /* FILE.partial, locked against a second writer */
    int bare;           /* FILE.partial was empty when opened and no record went in since: a run
                           that stops short removes it, as it holds nothing FILE does not */
    out_format format;
    strlist done;       /* keys of the records already written, sorted */
    size_t done_failed; /* how many of them are error records */
    FILE *batch;        /* the records of the batch being written */
    char *buf;
    size_t len;
} resume;

/* Opens path's FILE.partial to carry on (format FMT_JSONL or FMT_TSV; tsv_header: the TSV header
 * row, written when the file is new; shape: what each of this run's records holds). 0, or -1
 * after reporting why not (a file that is not records this run would write, another align
 * writing it, an I/O error). */
int resume_open(resume *r, const char *path, out_format format, const char *tsv_header, const record_shape *shape);
/* Drops from paths (in place, keeping the order) the inputs that already have a record, an input
 * given n times as many times as it has records; -1 when out of memory (reported). */
int resume_skip_done(resume *r, strlist *paths);
/* Where the next batch's records go; NULL when out of memory (reported). */
FILE *resume_batch(resume *r);
/* Appends the batch's records to the file and syncs it; -1 after reporting a write error. */
int resume_flush(resume *r);
/* Renames FILE.partial over FILE when complete is set and nothing failed, else leaves it for the
 * next rerun (removes it when this run added no record to it); frees everything. 0, or -1 after
 * reporting an error. */
int resume_close(resume *r, int complete);

/* The parsing half of resume_open: reads the earlier output in f (name: what errors call it) and
 * appends the keys of its whole records to keys, counting its error records in *failed; *valid
 * gets the length of the text they take (the header's included), after which anything is cut off.
 * 0, or -1 after reporting one error line. */
int resume_scan(FILE *f, const char *name, out_format format, const char *tsv_header, const record_shape *shape,
                strlist *keys, size_t *failed, off_t *valid);
/* The exit status of a resumed run: its own inputs, total of them, of which `failed` failed, and
 * the records carried on, as one uninterrupted run over them all would end (report.h). Error
 * records carried on are reported in one line: they count, and this run printed none of them. */
int resume_status(const resume *r, size_t failed, size_t total);

#endif
