/* The progress line. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void progress_init(progress *p, size_t total, int quiet)
{
    p->enabled = !quiet && total > 1 && isatty(STDERR_FILENO);
    p->shares_screen = isatty(STDOUT_FILENO);
    p->total = total;
    p->done = 0;
    p->start = now_seconds();
}

void progress_step(progress *p)
{
    p->done++;
    progress_show(p);
}

void progress_show(progress *p)
{
    if (!p->enabled || !p->done) return;
    double elapsed = now_seconds() - p->start, rate = elapsed > 0 ? p->done / elapsed : 0;
    long left = rate > 0 ? (long)((p->total - p->done) / rate + 0.5) : 0;
    fprintf(stderr, "\r\033[K%zu/%zu images, %.1f images/s, %ld:%02ld left", p->done, p->total, rate, left / 60,
            left % 60);
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->enabled) fputs("\r\033[K", stderr);
}
