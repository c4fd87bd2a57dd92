/* report.h: how the align command ends and complains: exit statuses and one-line messages on
 * stderr. */
#ifndef ALIGN_CLI_REPORT_H
#define ALIGN_CLI_REPORT_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* Exit statuses: EXIT_SUCCESS (0) when everything was done; EXIT_FAILURE (1) for a usage error,
 * a missing or broken model, a write error, or when nothing could be done; EXIT_PARTIAL when some
 * inputs failed (each reported) and the rest were done. */
#define EXIT_PARTIAL 2

/* The status of a run whose inputs, total of them, all went through and `failed` of them failed
 * (each reported): every one failing is nothing done. */
static inline int exit_status(size_t failed, size_t total)
{
    return !failed ? EXIT_SUCCESS : failed < total ? EXIT_PARTIAL : EXIT_FAILURE;
}

/* A name or a label for a person to read (the text format, a message): its control bytes (a line
 * break, an escape sequence, a tab, C1's) and the bytes of no UTF-8 character as \xHH, so that it
 * keeps to its line, cannot drive a terminal and shows what the file holds. */
void put_text(FILE *f, const char *s);
/* One line on stderr: "align: " + message, what went wrong or, unless -q, what was done. A file
 * name's line breaks show as spaces, the rest as put_text shows it. */
void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: the message, then a hint to run `align COMMAND --help` (`align --help` when
 * command is NULL); returns EXIT_FAILURE. */
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* When a run has no images: names the directories that held none (any operands were directories,
 * since a file is kept as given), else a usage error. Returns -1. */
int report_no_images(const char *command, char **operands, int n);

#endif
