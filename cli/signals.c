/* Signals that end the process, caught only to tidy up before it ends. */
#include "signals.h"

#include <signal.h>
#include <stddef.h>
#include <unistd.h>

/* Every signal whose default ends the process without a core (SIGXFSZ is ignored: main.c), and
 * SIGQUIT. */
static const int watched[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,   SIGPIPE, SIGALRM,
                              SIGUSR1, SIGUSR2, SIGXCPU, SIGVTALRM, SIGPROF};

/* What the handler reads: set by the main thread, read by whichever thread takes the signal. */
static const char *volatile pending_tmp;
static volatile sig_atomic_t deferring, caught;

/* Async-signal-safe: it notes the signal, or unlinks and re-raises it, nothing else. */
static void on_signal(int sig)
{
    if (deferring && !caught) {
        caught = sig;
        return;
    }
    const char *tmp = pending_tmp;
    if (tmp) unlink(tmp);
    signal(sig, SIG_DFL);
    raise(sig); /* blocked until the handler returns, then delivered with the default action */
}

/* Once for the process: with nothing to remove and nothing deferred, the handler does what the
 * default would, so it can stay. */
static void install(void)
{
    static int installed;
    if (installed) return;
    installed = 1;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++) {
        struct sigaction old;
        if (sigaction(watched[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(watched[i], &sa, NULL);
    }
}

void signals_remove_on_death(const char *tmp)
{
    pending_tmp = tmp;
    if (tmp) install();
}

void signals_defer(void)
{
    install();
    deferring = 1;
}

int signals_caught(void)
{
    return caught;
}

void signals_rethrow(void)
{
    int sig = caught;
    if (!sig) return;
    signal(sig, SIG_DFL);
    raise(sig);
}
