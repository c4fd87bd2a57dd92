/* cpu_count.c: how many threads align runs by default.
 *
 * The machine's cores are often not the process's: a container or a batch job is given some of
 * them by an affinity mask (taskset, a cpuset: Docker's --cpuset-cpus, Slurm's task binding) or a
 * share of their time by a CFS quota (Docker's --cpus, a Kubernetes CPU limit). One thread per
 * core of a 64-core host, under a quota of 2 CPUs, would spend most of its time throttled, and the
 * thread pool's waiting threads would spin on cores they do not have. */
#include "cpu_count.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "align.h"

/* A small file's text ("" when it cannot be read). */
static void read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
}

/* q microseconds of CPU every p, in CPUs rounded up; 0 for no quota */
static int cpus(double q, double p)
{
    if (!(q > 0 && p > 0)) return 0;
    double n = ceil(q / p);
    return n < INT_MAX ? (int)n : 0;
}

/* the tighter of two quotas, 0 being none */
static int tighter(int a, int b)
{
    return a > 0 && (b == 0 || a < b) ? a : b;
}

/* dir/name's text, "" when the path is too long or the file cannot be read */
static void read_in(const char *dir, const char *name, char *buf, size_t size)
{
    char path[4096];
    buf[0] = '\0';
    if (snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path) read_text(path, buf, size);
}

/* The quota in dir: v2's cpu.max ("max 100000" or "200000 100000") or v1's pair of files. */
static int quota_in(const char *dir, int v2)
{
    char a[64], b[64];
    double q, p;
    if (v2) {
        read_in(dir, "cpu.max", a, sizeof a);
        return sscanf(a, "%lf %lf", &q, &p) == 2 ? cpus(q, p) : 0; /* "max ..." does not scan */
    }
    read_in(dir, "cpu.cfs_quota_us", a, sizeof a);
    read_in(dir, "cpu.cfs_period_us", b, sizeof b);
    return cpus(atof(a), atof(b)); /* -1: none */
}

/* The smallest quota in base + cgroup and every cgroup above it. */
static int smallest_quota(const char *base, const char *cgroup, size_t len, int v2)
{
    int least = 0;
    for (;;) {
        char dir[4096];
        if (snprintf(dir, sizeof dir, "%s%.*s", base, (int)len, cgroup) < (int)sizeof dir)
            least = tighter(quota_in(dir, v2), least);
        while (len > 0 && cgroup[len - 1] == '/') len--;
        if (len == 0) return least;
        while (len > 0 && cgroup[len - 1] != '/') len--;
    }
}

/* Whether the comma-separated list holds the controller "cpu". */
static int has_cpu(const char *list, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && list[j] != ',') j++;
        if (j - i == 3 && memcmp(list + i, "cpu", 3) == 0) return 1;
        i = j + 1;
    }
    return 0;
}

int cgroup_cpu_quota(const char *root, const char *self)
{
    int least = 0;
    /* lines "hierarchy:controllers:path"; v2's is "0::path" */
    for (const char *line = self; *line;) {
        const char *end = strchr(line, '\n'), *c1 = strchr(line, ':');
        if (!end) end = line + strlen(line);
        const char *c2 = c1 && c1 < end ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2) {
            int v2 = c2 == c1 + 1 && c1 - line == 1 && line[0] == '0';
            char base[4096];
            int fits = snprintf(base, sizeof base, v2 ? "%s" : "%s/cpu", root) < (int)sizeof base;
            if (fits && (v2 || has_cpu(c1 + 1, (size_t)(c2 - c1 - 1))))
                least = tighter(smallest_quota(base, c2 + 1, (size_t)(end - c2 - 1), v2), least);
        }
        line = *end ? end + 1 : end;
    }
    return least;
}

int align_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = CPU_COUNT(&set);
    char self[4096];
    read_text("/proc/self/cgroup", self, sizeof self);
    int quota = cgroup_cpu_quota("/sys/fs/cgroup", self);
    if (quota > 0 && quota < n) n = quota;
#endif
    return n > 0 ? (int)n : 1;
}
