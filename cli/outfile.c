/* Output files written whole or not at all. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "signals.h"

/* The permissions the output gets: those of the file it replaces, else what creating it would give. */
static mode_t output_mode(const struct stat *old, int exists)
{
    if (exists) return old->st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int check_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    /* a closed pipe whose SIGPIPE was deferred ends the run as quietly as SIGPIPE would have */
    if (signals_caught() == SIGPIPE) return -1;
    error_msg("stdout: write error: %s", strerror(errno ? errno : EIO));
    return -1;
}

/* The text of the link at path, taken from the link's directory. */
static char *link_text(const char *path)
{
    char text[PATH_MAX], *joined = NULL;
    ssize_t n = readlink(path, text, sizeof text - 1);
    if (n < 0) return NULL;
    text[n] = 0;
    const char *slash = strrchr(path, '/');
    if (text[0] == '/' || !slash) return strdup(text);
    return asprintf(&joined, "%.*s/%s", (int)(slash - path), path, text) < 0 ? NULL : joined;
}

char *output_target(const char *path)
{
    char *at = strdup(path);
    struct stat link, named;
    for (int hops = 0; at && lstat(at, &link) == 0 && S_ISLNK(link.st_mode); hops++) {
        if (stat(at, &named) == 0) { /* it names something: that, or (/dev/stdout on a pipe) itself */
            char *real = realpath(at, NULL);
            if (!real) return at;
            free(at);
            return real;
        }
        int e = hops == 40 ? ELOOP : errno;
        if (e != ENOENT) {
            free(at);
            errno = e;
            return NULL;
        }
        char *next = link_text(at);
        free(at);
        at = next;
    }
    return at;
}

int output_spares_inputs(const char *output, const char *const *inputs, size_t n)
{
    if (!output || strcmp(output, "-") == 0) return 0;
    char *target = output_target(output);
    struct stat out, in;
    int exists = target && stat(target, &out) == 0 && S_ISREG(out.st_mode);
    free(target);
    for (size_t i = 0; exists && i < n; i++) {
        if (!inputs[i] || strcmp(inputs[i], "-") == 0 || stat(inputs[i], &in) != 0) continue;
        if (in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
            error_msg("%s: is also an input of this run (%s); write the output elsewhere", output, inputs[i]);
            return -1;
        }
    }
    return 0;
}

int outfile_open(outfile *o, const char *path)
{
    *o = (outfile){stdout, NULL, NULL, NULL};
    if (!path || strcmp(path, "-") == 0) return 0;
    o->path = path;
    if (!*path) {
        error_msg("-o: an empty file name");
        return -1;
    }
    if (!(o->target = output_target(path))) {
        error_msg("%s: %s", path, strerror(errno));
        return -1;
    }
    path = o->target;
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        if (!(o->f = fopen(path, "wb"))) error_msg("%s: %s", path, strerror(errno));
        return o->f ? 0 : -1;
    }
    size_t len = strlen(path) + sizeof ".partial-XXXXXX";
    int fd = -1;
    if ((o->tmp = malloc(len))) {
        snprintf(o->tmp, len, "%s.partial-XXXXXX", path);
        fd = mkstemp(o->tmp);
    }
    FILE *f = NULL;
    if (fd < 0 && o->tmp) {
        /* the file may be writable where its directory is not: the directory is what failed */
        error_msg("%s: cannot create a temporary file in its directory: %s", path, strerror(errno));
    } else if (fd < 0 || fchmod(fd, output_mode(&st, exists)) != 0 || !(f = fdopen(fd, "wb"))) {
        error_msg("%s: %s", path, o->tmp ? strerror(errno) : "out of memory");
    }
    if (!f) {
        if (fd >= 0) close(fd), unlink(o->tmp);
        free(o->tmp);
        free(o->target);
        o->tmp = o->target = NULL;
        return -1;
    }
    o->f = f;
    /* an interrupted run (Ctrl-C, kill) removes it instead of leaving it beside the output */
    signals_remove_on_death(o->tmp);
    return 0;
}

int outfile_close(outfile *o, int keep)
{
    if (!o->path) return check_stdout();
    int failed = fflush(o->f) != 0 || ferror(o->f);
    int err = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !failed) failed = 1, err = errno;
    if (failed) error_msg("%s: write error: %s", o->path, strerror(err));
    if (o->tmp && keep && !failed && rename(o->tmp, o->target ? o->target : o->path) != 0) {
        error_msg("%s: %s", o->path, strerror(errno));
        failed = 1;
    }
    if (o->tmp && (failed || !keep)) unlink(o->tmp);
    if (o->tmp) signals_remove_on_death(NULL);
    free(o->tmp);
    free(o->target);
    *o = (outfile){0};
    return failed ? -1 : 0;
}
