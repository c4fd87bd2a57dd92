/* The thread pool (parallel.h): each task of each job runs once, pool_run returns only after the
 * last, and the tasks of one job run side by side, whether the workers were spinning or asleep. */
#include <stdatomic.h>

#include "parallel.h"
#include "test.h"

typedef struct {
    atomic_int runs[16];
    atomic_int started;
    int n, sleep_task; /* tasks; the one that takes 1 ms, or -1 */
} job;

static void count_task(void *arg, int task)
{
    job *j = arg;
    if (task == j->sleep_task) sleep_ms(1);
    atomic_fetch_add(&j->runs[task], 1);
}

TEST(pool_runs_each_task_once_and_returns_after_the_last)
{
    for (int threads = 2; threads <= 4; threads++) {
        thread_pool *pool = pool_create(threads);
        CHECK_INT(pool_threads(pool), threads);
        int bad = 0;
        for (int r = 0; r < 20000 && !bad; r++) {
            job j = {.n = 1 + r % 16, .sleep_task = -1};
            for (int t = 0; t < 16; t++) atomic_init(&j.runs[t], 0);
            /* now and then the workers fall asleep first (they stay awake 0.2 ms), or a task keeps the
             * caller waiting past its own spin */
            if (r % 2000 == 1) sleep_ms(1);
            if (r % 2000 == 2) j.sleep_task = j.n - 1;
            pool_run(pool, j.n, count_task, &j);
            for (int t = 0; t < 16 && !bad; t++)
                if (atomic_load(&j.runs[t]) != (t < j.n)) {
                    bad = 1;
                    CHECK_MSG(0, "%d threads, job %d of %d tasks: task %d ran %d times", threads, r, j.n, t,
                              atomic_load(&j.runs[t]));
                }
        }
        pool_free(pool);
    }
}

/* Each task waits (up to 10 s) until every task of the job has started: it passes only if the
 * pool runs them at the same time. */
static void barrier_task(void *arg, int task)
{
    job *j = arg;
    atomic_fetch_add(&j->started, 1);
    for (int i = 0; i < 10000 && atomic_load(&j->started) < j->n; i++) sleep_ms(1);
    atomic_fetch_add(&j->runs[task], 1);
}

TEST(pool_runs_a_jobs_tasks_side_by_side)
{
    thread_pool *pool = pool_create(3);
    for (int r = 0; r < 3; r++) {
        if (r == 2) sleep_ms(5); /* the workers asleep */
        job j = {.n = 3};
        atomic_init(&j.started, 0);
        for (int t = 0; t < 16; t++) atomic_init(&j.runs[t], 0);
        pool_run(pool, 3, barrier_task, &j);
        CHECK_INT(atomic_load(&j.started), 3);
        for (int t = 0; t < 3; t++) CHECK_INT(atomic_load(&j.runs[t]), 1);
    }
    pool_free(pool);
}
