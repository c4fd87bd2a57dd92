/* cpu_count.h: the CPUs this process may use, which a thread count of 0 means
 * (align_cpu_count, align.h). */
#ifndef ALIGN_CPU_COUNT_H
#define ALIGN_CPU_COUNT_H

/* The CPU quota of the cgroups a process is in, in whole CPUs rounded up; 0 when none is set.
 * self is /proc/self/cgroup's text; root is where the cgroup file systems are mounted
 * (/sys/fs/cgroup): cgroup v2's cpu.max under root, v1's cpu.cfs_quota_us and cpu.cfs_period_us
 * under root/cpu, each read in the process's cgroup and every one above it (the smallest quota
 * holds), skipping those that are not there (inside a container only its own are). */
int cgroup_cpu_quota(const char *root, const char *self);

#endif
