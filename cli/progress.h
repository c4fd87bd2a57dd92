/* progress.h: a progress line on stderr for long runs (done/total, images per second, time
 * left), shown only on a terminal and without -q. */
#ifndef ALIGN_CLI_PROGRESS_H
#define ALIGN_CLI_PROGRESS_H

#include <stddef.h>

typedef struct {
    int enabled;
    int shares_screen; /* stdout is a terminal too: results must not land after the line */
    size_t total, done;
    double start;
} progress;

void progress_init(progress *p, size_t total, int quiet);
void progress_step(progress *p);
/* Draws the line again, once results written to the same terminal have cleared it. */
void progress_show(progress *p);
/* Clears the line, before a message or at the end. */
void progress_end(progress *p);

#endif
