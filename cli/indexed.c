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

static void push_path(char *out, size_t *len, const char *path)
{
    for (const char *s = path; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        push_component(out, len, s, n);
        s += n + (e != NULL);
    }
}

char *index_key(const char *path)
{
    char *cwd = path[0] == '/' ? NULL : getcwd(NULL, 0);
    size_t cap = strlen(path) + (cwd ? strlen(cwd) : 0) + 3, len = 0;
    char *out = malloc(cap);
    if (out) {
        if (cwd) push_path(out, &len, cwd);
        push_path(out, &len, path);
        if (len == 0) out[len++] = '/';
        out[len] = 0;
    }
    free(cwd);
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
