/* Index keys and the stamps that say a stored row is still the file's. */
#include "indexed.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

/* Appends the component [s, s + n) to the absolute path out (of length *len), or for ".." drops
 * its last component. */
static void push_component(char *out, size_t *len, const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.')) return;
    if (n == 2 && s[0] == '.' && s[1] == '.') {
        while (*len > 0 && out[*len - 1] != '/') (*len)--;
        if (*len > 0) (*len)--;
        return;
    }
    out[(*len)++] = '/';
    memcpy(out + *len, s, n);
    *len += n;
}

/* The component of path at *at (up to the next '/'), its length in *n; *at moves past it. */
static const char *next_component(const char **at, size_t *n)
{
    const char *s = *at, *e = strchr(s, '/');
    *n = e ? (size_t)(e - s) : strlen(s);
    *at = s + *n + (e != NULL);
    return s;
}

static void push_path(char *out, size_t *len, const char *path)
{
    for (const char *at = path; *at;) {
        size_t n;
        const char *s = next_component(&at, &n);
        push_component(out, len, s, n);
    }
}

/* The length of path's prefix up to the end of its last ".." component; 0 when it has none. */
static size_t last_dotdot_end(const char *path)
{
    size_t end = 0;
    for (const char *at = path; *at;) {
        size_t n;
        const char *s = next_component(&at, &n);
        if (n == 2 && s[0] == '.' && s[1] == '.') end = (size_t)(s - path) + 2;
    }
    return end;
}

/* The kernel takes ".." after a symbolic link to the link's target's parent, not to the directory
 * that holds the link, so the part of path up to its last ".." is resolved as the kernel resolves
 * it; the rest keeps the names the user gave (a link to a photo stays its own row). */
char *index_key(const char *path)
{
    size_t physical = last_dotdot_end(path);
    char *prefix = physical ? strndup(path, physical) : NULL;
    char *root = prefix ? realpath(prefix, NULL) : NULL; /* what the rest of path is under */
    const char *rest = root ? path + physical : path;
    if (!root && path[0] != '/') root = getcwd(NULL, 0);
    size_t cap = strlen(path) + (root ? strlen(root) : 0) + 3, len = 0;
    char *out = malloc(cap);
    if (out) {
        if (root) push_path(out, &len, root);
        push_path(out, &len, rest);
        if (len == 0) out[len++] = '/';
        out[len] = 0;
    }
    free(prefix);
    free(root);
    return out;
}

int file_stamp(const char *path, int64_t *size, int64_t *mtime_ns)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    *size = (int64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

int index_current(align_index *ix, const char *key, int64_t size, int64_t mtime_ns, float *embedding)
{
    int64_t s, m;
    int found;
    align_error err;
    if (align_index_lookup(ix, key, &s, &m, embedding, &found, &err)) {
        error_msg("%s", err.message);
        return -1;
    }
    return found && s == size && m == mtime_ns;
}

int index_plan_make(align_index *ix, char *const *images, size_t n, index_plan *p)
{
    *p = (index_plan){0};
    p->paths = malloc(sizeof *p->paths * (n + 1));
    p->keys = calloc(n + 1, sizeof *p->keys);
    p->sizes = calloc(n + 1, sizeof *p->sizes);
    p->mtimes = calloc(n + 1, sizeof *p->mtimes);
    p->stored = calloc(n + 1, sizeof *p->stored);
    if (!p->paths || !p->keys || !p->sizes || !p->mtimes || !p->stored) return error_msg("out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = p->count;
        /* a path that is not a regular file goes on, to fail in the stream with its own message */
        if (file_stamp(images[i], &p->sizes[k], &p->mtimes[k]) == 0 && strcmp(images[i], "-") != 0) {
            char *key = index_key(images[i]);
            if (!key) return error_msg("out of memory"), -1;
            int current = index_current(ix, key, p->sizes[k], p->mtimes[k], NULL);
            if (current < 0) return free(key), -1;
            if (current) {
                p->stored[i] = key;
                p->unchanged++;
                continue;
            }
            p->keys[k] = key;
        }
        p->paths[p->count++] = images[i];
    }
    return 0;
}

void index_plan_free(index_plan *p, size_t inputs)
{
    for (size_t i = 0; p->keys && i < p->count; i++) free(p->keys[i]);
    for (size_t i = 0; p->stored && i < inputs; i++) free(p->stored[i]);
    free(p->paths);
    free(p->keys);
    free(p->sizes);
    free(p->mtimes);
    free(p->stored);
}

long index_plan_add(align_index *ix, const index_plan *p, size_t at, const stream_image *b, size_t k)
{
    align_index_row *rows = malloc(sizeof *rows * (k + 1));
    if (!rows) return error_msg("out of memory"), -1;
    int n = 0;
    for (size_t i = 0; i < k; i++)
        if (b[i].embedding && p->keys[at + i])
            rows[n++] = (align_index_row){p->keys[at + i], p->sizes[at + i], p->mtimes[at + i], b[i].embedding};
    align_error err;
    align_status s = align_index_add(ix, rows, n, &err);
    free(rows);
    if (s) return error_msg("%s", err.message), -1;
    return n;
}
