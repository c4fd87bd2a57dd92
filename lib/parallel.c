#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* How long a thread with nothing to do waits awake before it sleeps on a condition variable.
 * Consecutive jobs of a tower are mostly tens to a few hundred microseconds apart, and waking a
 * sleeping thread costs about as much on a VM's vCPU (AMD EPYC, KVM: 900 futex calls an image at
 * batch 1; waiting 0.1 ms or more removed nearly all of them and 4-6% of both towers' time). After
 * its first YIELD_AFTER checks (a few microseconds of pauses) a waiting thread yields the CPU
 * between checks, so that align processes sharing the cores still run as fast as when it slept
 * at once (two 2-thread processes on 2 cores: 10% slower with pauses alone). */
#define SPIN_NS 200000
#define YIELD_AFTER 256

struct thread_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t *workers;
    int n_workers;
    /* the current job, written before its generation is published in `state` */
    void (*fn)(void *, int);
    void *arg;
    /* generation << 32 | tasks not yet taken: a task, the highest left, is taken by one
     * compare-and-swap that also checks the generation, and nothing else of the job is read before
     * it succeeds, so a worker late from the last job never takes (or half-reads) the next one */
    _Atomic uint64_t state;
    atomic_int unfinished;               /* tasks of the current job not yet done */
    atomic_int sleepers, caller_sleeping; /* who needs a condition variable's signal */
    atomic_int stop;
};

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A spinning thread's pause: frees the core's resources for its sibling hyperthread. */
static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static uint32_t generation(thread_pool *p)
{
    return (uint32_t)(atomic_load(&p->state) >> 32);
}

static int job_came(thread_pool *p, uint32_t seen)
{
    return generation(p) != seen || atomic_load(&p->stop);
}

static int job_done(thread_pool *p, uint32_t unused)
{
    (void)unused;
    return atomic_load(&p->unfinished) == 0;
}

/* Whether ready(p, arg) came true within SPIN_NS (the clock read every 32 checks). */
static int wait_awake(thread_pool *p, int (*ready)(thread_pool *, uint32_t), uint32_t arg)
{
    long long end = now_ns() + SPIN_NS;
    for (int i = 1; !ready(p, arg); i++) {
        if (i < YIELD_AFTER)
            relax();
        else
            sched_yield();
        if (i % 32 == 0 && now_ns() > end) return 0;
    }
    return 1;
}

/* Takes the tasks of generation gen until none are left. */
static void drain(thread_pool *p, uint32_t gen)
{
    for (;;) {
        uint64_t s = atomic_load(&p->state);
        if ((uint32_t)(s >> 32) != gen || (uint32_t)s == 0) return;
        if (!atomic_compare_exchange_weak(&p->state, &s, s - 1)) continue;
        p->fn(p->arg, (int)(uint32_t)s - 1);
        /* the caller either sees unfinished reach 0 or has said it sleeps (both sequentially
         * consistent), so the signal below is never missed */
        if (atomic_fetch_sub(&p->unfinished, 1) == 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static void *worker(void *arg)
{
    thread_pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        if (!wait_awake(p, job_came, seen)) {
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (!atomic_load(&p->stop) && generation(p) == seen) pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stop)) break;
        seen = generation(p);
        drain(p, seen);
    }
    return NULL;
}

thread_pool *pool_create(int threads)
{
    if (threads <= 1) return NULL;
    thread_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0) break;
        p->n_workers++;
    }
    if (p->n_workers == 0) {
        pool_free(p);
        return NULL;
    }
    return p;
}

void pool_free(thread_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int pool_threads(const thread_pool *p)
{
    return p ? p->n_workers + 1 : 1;
}

void pool_run(thread_pool *p, int n_tasks, void (*fn)(void *arg, int task), void *arg)
{
    if (!p || n_tasks <= 1) {
        for (int i = 0; i < n_tasks; i++) fn(arg, i);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->unfinished, n_tasks);
    uint32_t gen = generation(p) + 1;
    /* a worker either sees the new generation or has counted itself asleep: no lost wake-up. Each
     * side's write is a read-modify-write: C orders a sequentially consistent store before the
     * load after it, but an emulator that translates them as a release store and an acquire load
     * may not (a suite run under qemu-user, aarch64 on x86, hung with every thread asleep on a
     * futex, as such a lost wake-up leaves them) */
    atomic_exchange(&p->state, (uint64_t)gen << 32 | (uint32_t)n_tasks);
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    drain(p, gen);
    if (wait_awake(p, job_done, 0)) return;
    pthread_mutex_lock(&p->lock);
    atomic_exchange(&p->caller_sleeping, 1); /* not a store: see above */
    while (atomic_load(&p->unfinished) > 0) pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->lock);
}

void split_range(long n, int parts, int i, long *begin, long *end)
{
    long base = n / parts, extra = n % parts;
    *begin = i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra);
}
