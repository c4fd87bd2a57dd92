/* eps.c: Encapsulated PostScript as Pillow 9.4's EpsImagePlugin reads it, then exif_transpose and
 * convert("RGB"). Pillow does not interpret PostScript: it reads the DSC comments at the head of
 * the file for the bounding box (or an %ImageData size), then has Ghostscript's `gs` render the
 * whole file to a PPM at the size the box gives, 72 dpi scaled to it. align parses the same header
 * the same way and runs the same `gs` command on a copy of the file, so the pixels are Ghostscript's,
 * as Pillow's are; where `gs` is not installed the file is refused, as Pillow cannot load it then.
 *
 * The header is read a line at a time, a line ending at CR or LF, and one more CR or LF after it
 * swallowed (so an empty line after a line is no line, and a second one ends the header). Pillow
 * gives the file up to its next plugins (tga_or_refuse) where it raises SyntaxError (a line over
 * 255 bytes, a %ImageData mode it has no name for, a size below 1) and refuses it where it raises
 * anything else (a first line that is no comment, no usable bounding box, an %ImageData field that
 * is no integer, Ghostscript failing). */
#include "image_decode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "error.h"
#include "fileio.h"
#include "image_limits.h"
#include "pyint.h"

extern char **environ;

/* A render that takes longer is stopped and the file refused: Pillow would wait for ever on a
 * PostScript loop, and a batch must go on. */
#define EPS_RENDER_SECONDS 60

#define EPS_MAX_LINE 255

typedef struct {
    double size[2];      /* the image's size as Pillow has it after _open (its first guess 1 x 1) */
    int have_tile;       /* a bounding box of four numbers was read: Ghostscript renders with it */
    double box[4];       /* that box: llx lly urx ury, each int(float(field)) */
    int box_fields;      /* the fields of the last box that parsed (-1: none): Pillow needs one */
    int exif_text;       /* a %%exif: comment with a value, which exif_transpose fails on */
} eps_header;

typedef enum { EPS_READ, EPS_GIVE_UP, EPS_REFUSE } eps_verdict;

/* Pillow's PSFile: a line ends at CR or LF, and the byte after the ending is swallowed when it is
 * CR or LF too, else it starts the next line. */
typedef struct {
    const uint8_t *p;
    size_t n, pos;
    int pending;
} ps_file;

static size_t ps_readline(ps_file *f, const uint8_t **line)
{
    size_t start = f->pending ? f->pos - 1 : f->pos;
    f->pending = 0;
    while (f->pos < f->n && f->p[f->pos] != '\r' && f->p[f->pos] != '\n') f->pos++;
    size_t len = f->pos - start;
    if (f->pos < f->n) f->pos++;
    if (f->pos < f->n) {
        uint8_t c = f->p[f->pos++];
        f->pending = c != '\r' && c != '\n';
    }
    *line = f->p + start;
    return len;
}

/* Python's \w for a latin-1 character, as Pillow's str patterns see the header */
static int py_word(uint8_t c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    if ((c >= '0' && c <= '9') || c == '_') return 1;
    if (c < 0xaa) return 0;
    return c == 0xaa || c == 0xb2 || c == 0xb3 || c == 0xb5 || c == 0xb9 || c == 0xba ||
           (c >= 0xbc && c <= 0xbe) || (c >= 0xc0 && c != 0xd7 && c != 0xf7);
}

/* Python's str.split() whitespace among latin-1 characters */
static int py_str_space(uint8_t c) { return py_space(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0; }

/* The next whitespace-separated field of s[*i..len), or 0 when there is none. */
static size_t next_field(const uint8_t *s, size_t len, size_t *i, const uint8_t **field)
{
    while (*i < len && py_str_space(s[*i])) ++*i;
    *field = s + *i;
    size_t start = *i;
    while (*i < len && !py_str_space(s[*i])) ++*i;
    return *i - start;
}

/* %%BoundingBox: each field int(float(f)); a field float() refuses, or inf or nan, leaves
 * everything as it was; fewer than four fields replace the box Pillow checks for, not the one
 * it renders with. */
static void read_box(eps_header *h, const uint8_t *v, size_t len)
{
    double box[4];
    int fields = 0;
    size_t i = 0, k;
    const uint8_t *f;
    while ((k = next_field(v, len, &i, &f))) {
        double x;
        if (!py_float(f, k, &x) || !isfinite(x)) return;
        if (fields < 4) box[fields] = trunc(x) + 0.0; /* + 0.0: int() has no -0 */
        fields++;
    }
    h->box_fields = fields;
    if (fields < 4) return;
    memcpy(h->box, box, sizeof box);
    h->size[0] = box[2] - box[0];
    h->size[1] = box[3] - box[1];
    h->have_tile = 1;
}

/* One header line that starts with "%%" and holds a colon: "%%key: value". */
static void read_comment(eps_header *h, const uint8_t *s, size_t len, const uint8_t *colon)
{
    const uint8_t *key = s + 2, *v = colon + 1, *end = s + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    size_t klen = (size_t)(colon - key);
    if (klen == 11 && !memcmp(key, "BoundingBox", 11)) read_box(h, v, (size_t)(end - v));
    if (klen == 4 && !memcmp(key, "exif", 4)) h->exif_text = v < end;
}

/* %ImageData: width height bits mode ...: EPS_READ with the size, or where Pillow stops looking
 * (*stop), or its verdict. */
static eps_verdict read_image_data(eps_header *h, const uint8_t *s, size_t len, int *stop, const char **why)
{
    const uint8_t *f[4];
    size_t k[4], i = 11;
    for (int j = 0; j < 4; j++)
        if (!(k[j] = next_field(s, len, &i, &f[j]))) return *why = "an %ImageData comment of fewer than four fields", EPS_REFUSE;
    long long v[4];
    if (!py_int(f[2], k[2], 10, &v[2], NULL)) return *why = "an %ImageData bit depth that is no integer", EPS_REFUSE;
    if (v[2] == 8) {
        if (!py_int(f[3], k[3], 10, &v[3], NULL)) return *stop = 1, EPS_READ;
        if (v[3] < 1 || v[3] > 4) return *why = "an %ImageData mode Pillow has no name for", EPS_GIVE_UP;
    } else if (v[2] != 1) {
        return *stop = 1, EPS_READ;
    }
    for (int j = 0; j < 2; j++) {
        if (!py_int(f[j], k[j], 10, &v[j], NULL)) return *why = "an %ImageData size that is no integer", EPS_REFUSE;
        h->size[j] = (double)v[j];
    }
    return EPS_READ;
}

/* Pillow's EpsImageFile._open over the lines from offset on. */
static eps_verdict eps_read_header(const uint8_t *p, size_t n, size_t offset, eps_header *h, const char **why)
{
    ps_file f = {p, n, offset < n ? offset : n, 0};
    const uint8_t *s;
    size_t len = ps_readline(&f, &s);
    while (len) {
        if (len > EPS_MAX_LINE) return *why = "a header line longer than 255 bytes", EPS_GIVE_UP;
        const uint8_t *colon = len > 2 ? memchr(s + 2, ':', len - 2) : NULL;
        if (len >= 2 && s[0] == '%' && s[1] == '%' && colon) {
            read_comment(h, s, len, colon);
        } else if (len >= 2 && s[0] == '%' && (s[1] == '%' || s[1] == '!' || py_word(s[1])) && !colon) {
            if (len - 2 == 11 && !memcmp(s + 2, "EndComments", 11)) break;
            if (len - 2 == 4 && !memcmp(s + 2, "exif", 4)) h->exif_text = 0;
        } else if (s[0] != '%') {
            return *why = "a bad EPS header (its first line is no comment)", EPS_REFUSE;
        }
        len = ps_readline(&f, &s);
        if (len && s[0] != '%') break;
    }
    while (len && s[0] == '%') {
        if (len > EPS_MAX_LINE) return *why = "a header line longer than 255 bytes", EPS_GIVE_UP;
        if (len >= 11 && !memcmp(s, "%ImageData:", 11)) {
            int stop = 0;
            eps_verdict v = read_image_data(h, s, len, &stop, why);
            if (v != EPS_READ || !stop) return v;
            break;
        }
        len = ps_readline(&f, &s);
    }
    if (h->box_fields <= 0) return *why = "no EPS bounding box", EPS_REFUSE;
    return EPS_READ;
}

/* mkstemp in $TMPDIR (else /tmp), as Python's tempfile does; the path is malloc'ed. -1 with errno
 * when no file is made, -2 when out of memory. */
static int temp_file(char **path)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    size_t len = strlen(dir) + sizeof "/align-eps-XXXXXX";
    if (!(*path = malloc(len))) return -2;
    snprintf(*path, len, "%s/align-eps-XXXXXX", dir);
    int fd = mkstemp(*path);
    if (fd < 0) free(*path), *path = NULL;
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* gs's -sOutputFile takes % as a page-number template: %% is a plain one. */
static char *output_arg(const char *path)
{
    size_t len = strlen(path), k = sizeof "-sOutputFile=" - 1;
    char *arg = malloc(k + 2 * len + 1);
    if (!arg) return NULL;
    memcpy(arg, "-sOutputFile=", k);
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '%') arg[k++] = '%';
        arg[k++] = path[i];
    }
    arg[k] = '\0';
    return arg;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits for child pid: 0 when it ended (*status), 1 when it ran past the limit and was killed,
 * -1 with errno when it is lost. Its end is seen within 1 ms for the first 0.2 s, within 10 ms
 * after. */
static int wait_at_most(pid_t pid, int seconds, int *status)
{
    double start = seconds_now(), waited = 0;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return -1;
        if (waited >= seconds) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
            return 1;
        }
        struct timespec t = {0, waited < 0.2 ? 1000000L : 10000000L};
        nanosleep(&t, NULL);
        waited = seconds_now() - start;
    }
}

/* Starts argv with no input and its output discarded, no signal blocked: posix_spawnp's error. */
static int spawn_quietly(char *const argv[], pid_t *pid)
{
    posix_spawn_file_actions_t io;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&io);
    posix_spawn_file_actions_addopen(&io, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&io, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&io, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_init(&attr);
    /* caught signals are the default again after exec; an ignored SIGPIPE or SIGXFSZ (the align
     * command ignores SIGXFSZ) is made so too, as Python's subprocess does; other ignored ones stay
     * ignored (nohup's SIGHUP) */
    sigset_t none, reset;
    sigemptyset(&none);
    sigemptyset(&reset);
    sigaddset(&reset, SIGPIPE);
    sigaddset(&reset, SIGXFSZ);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &reset);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int e = posix_spawnp(pid, argv[0], &io, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&io);
    posix_spawnattr_destroy(&attr);
    return e;
}

/* Runs gs's argv quietly for at most EPS_RENDER_SECONDS: 0 when it exits with 0, else a message
 * in why (of size why_size). */
static int run_gs(char *const argv[], char *why, size_t why_size)
{
    static const char missing[] = "Pillow renders EPS with Ghostscript, and gs is not installed";
    pid_t pid;
    int e = spawn_quietly(argv, &pid);
    if (e == ENOENT) return snprintf(why, why_size, "%s", missing), -1;
    if (e) return snprintf(why, why_size, "cannot run gs (%s)", strerror(e)), -1;
    int status = 0, w = wait_at_most(pid, EPS_RENDER_SECONDS, &status);
    if (w < 0) return snprintf(why, why_size, "lost gs (%s)", strerror(errno)), -1;
    if (w > 0) return snprintf(why, why_size, "Ghostscript took more than %d s to render it (stopped)", EPS_RENDER_SECONDS), -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    /* where the exec fails in the child (an emulator's spawn does), its status is the shell's 127 */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return snprintf(why, why_size, "%s", missing), -1;
    if (WIFEXITED(status)) snprintf(why, why_size, "Ghostscript cannot render it (gs exited with status %d)", WEXITSTATUS(status));
    else snprintf(why, why_size, "Ghostscript cannot render it (gs ended by signal %d)", WTERMSIG(status));
    return -1;
}

/* Pillow's Ghostscript(): gs -q -gWxH -rXxY -dBATCH -dNOPAUSE -dSAFER -sDEVICE=ppmraw
 * -sOutputFile=OUT -c "-llx -lly translate" -f IN -c showpage, then the PPM it wrote, read as
 * Pillow reads it. */
static align_status eps_render(const uint8_t *p, size_t n, const char *name, const eps_header *h, uint64_t max_pixels,
                               align_image *out, align_error *err)
{
    /* Python raises where the box's width overflows a float or is 0 */
    double dx = h->box[2] - h->box[0], dy = h->box[3] - h->box[1];
    if (!isfinite(dx) || !isfinite(dy) || dx == 0 || dy == 0)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: an EPS bounding box of no width or height", name);
    double rx = 72.0 * h->size[0] / dx, ry = 72.0 * h->size[1] / dy, tx = -h->box[0] + 0.0, ty = -h->box[1] + 0.0;
    /* %f of a double and %.0f of an integral one print every digit, as Python's % does */
    char geometry[64], why[160];
    snprintf(geometry, sizeof geometry, "-g%.0fx%.0f", h->size[0], h->size[1]);
    int rlen = snprintf(NULL, 0, "-r%fx%f", rx, ry) + 1, tlen = snprintf(NULL, 0, "%.0f %.0f translate", tx, ty) + 1;
    char *resolution = malloc((size_t)rlen), *translate = malloc((size_t)tlen), *in_path = NULL, *out_path = NULL;
    int in_fd = temp_file(&in_path), out_fd = temp_file(&out_path);
    char *out_arg = out_path ? output_arg(out_path) : NULL;
    align_status s = ALIGN_OK;
    if (!resolution || !translate || in_fd == -2 || out_fd == -2 || (out_path && !out_arg)) {
        s = align_fail(err, ALIGN_ERR_NOMEM, "%s: out of memory for Ghostscript's arguments", name);
    } else if (in_fd < 0 || out_fd < 0 || write_all(in_fd, p, n) < 0) {
        s = align_fail(err, ALIGN_ERR_IO, "%s: cannot write a temporary copy for Ghostscript (%s)", name, strerror(errno));
    } else {
        snprintf(resolution, (size_t)rlen, "-r%fx%f", rx, ry);
        snprintf(translate, (size_t)tlen, "%.0f %.0f translate", tx, ty);
        char *argv[] = {"gs",    "-q", geometry,  resolution, "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=ppmraw",
                        out_arg, "-c", translate, "-f",       in_path,   "-c",        "showpage", NULL};
        if (run_gs(argv, why, sizeof why)) s = align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
    }
    file_map map;
    if (!s && !(s = file_map_open(out_path, &map, err))) {
        if (map.size >= 2 && map.data[0] == 'P' && map.data[1] == '6')
            s = netpbm_decode(map.data, map.size, name, max_pixels, out, err);
        else
            s = align_fail(err, ALIGN_ERR_FORMAT, "%s: Ghostscript rendered no image", name);
        file_map_close(&map);
    }
    if (in_fd >= 0) close(in_fd), unlink(in_path);
    if (out_fd >= 0) close(out_fd), unlink(out_path);
    free(in_path), free(out_path), free(out_arg), free(resolution), free(translate);
    return s;
}

align_status eps_decode(const uint8_t *p, size_t n, const char *name, uint64_t max_pixels, align_image *out,
                        align_error *err)
{
    size_t offset = 0;
    if (p[0] != '%') { /* the DOS EPS header: where the PostScript starts */
        if (n < 12) return tga_or_refuse(p, n, name, max_pixels, out, err, "truncated DOS EPS header");
        offset = le32(p + 4);
    }
    eps_header h = {{1, 1}, 0, {0, 0, 0, 0}, -1, 0};
    const char *why = NULL;
    eps_verdict v = eps_read_header(p, n, offset, &h, &why);
    if (v == EPS_READ && (h.size[0] <= 0 || h.size[1] <= 0)) why = "EPS image of no pixels", v = EPS_GIVE_UP;
    if (v == EPS_GIVE_UP) return tga_or_refuse(p, n, name, max_pixels, out, err, why);
    if (v == EPS_REFUSE) return align_fail(err, ALIGN_ERR_FORMAT, "%s: %s", name, why);
    if (h.size[0] * h.size[1] > (double)max_pixels)
        return image_over_limit(name, (uint64_t)fmin(h.size[0], 1e18), (uint64_t)fmin(h.size[1], 1e18), max_pixels, err);
    if (h.exif_text)
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: an %%%%exif comment, which Pillow takes for EXIF data and fails on", name);
    if (!h.have_tile) return align_fail(err, ALIGN_ERR_FORMAT, "%s: no EPS bounding box of four numbers", name);
    return eps_render(p, n, name, &h, max_pixels, out, err);
}
