#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>

struct thread_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t *workers;
    int n_workers;
    /* the current job */
    void (*fn)(void *, int);
    void *arg;
    int n_tasks, next_task, running;
    unsigned generation;
    int stop;
};

/* Takes tasks until none are left; called with the lock held, returns with it held. */
static void drain(thread_pool *p)
{
    while (p->next_task < p->n_tasks) {
        int task = p->next_task++;
        p->running++;
        pthread_mutex_unlock(&p->lock);
        p->fn(p->arg, task);
        pthread_mutex_lock(&p->lock);
        p->running--;
    }
    if (p->running == 0) pthread_cond_broadcast(&p->done);
}

static void *worker(void *arg)
{
    thread_pool *p = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        drain(p);
    }
    pthread_mutex_unlock(&p->lock);
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
    p->stop = 1;
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
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    p->next_task = 0;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    drain(p);
    while (p->running > 0 || p->next_task < p->n_tasks) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void split_range(long n, int parts, int i, long *begin, long *end)
{
    long base = n / parts, extra = n % parts;
    *begin = i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra);
}
