/* parallel.h: a small thread pool for every parallel loop (the products, each thread running a
 * single-threaded OpenBLAS on its part; depthwise convolution, attention, resizing). Between jobs a
 * worker stays awake for up to 0.2 ms (pausing, then yielding the CPU) before it sleeps on a
 * condition variable (parallel.c says why); OpenBLAS keeps no threads of its own beside them
 * (model.c sets it to one). */
#ifndef ALIGN_PARALLEL_H
#define ALIGN_PARALLEL_H

typedef struct thread_pool thread_pool;

/* A pool of `threads` threads counting the caller; NULL means run serially (threads <= 1, or
 * threads could not be started), which every function here accepts. */
thread_pool *pool_create(int threads);
void pool_free(thread_pool *pool);
int pool_threads(const thread_pool *pool);

/* Calls fn(arg, task) for task in [0, n_tasks) across the pool and returns when all are done. */
void pool_run(thread_pool *pool, int n_tasks, void (*fn)(void *arg, int task), void *arg);

/* Splits [0, n) into `parts` nearly equal ranges; range i is [*begin, *end). */
void split_range(long n, int parts, int i, long *begin, long *end);

#endif
