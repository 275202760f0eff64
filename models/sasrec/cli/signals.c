#include "models/sasrec/cli/signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/tempfiles.h"

static atomic_int stop_signal;
static const char *command = "";
static int graceful_mode;

static const char *name_of(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

static void say(const char *line) {
    fputs(line, stderr);
    fflush(stderr);
}

static pthread_t waiter;
static int waiting;       /* the waiting thread runs */
static atomic_int ending; /* signals_end: the next signal the thread sees is its wake-up */

static void *wait_for_signals(void *arg) {
    sigset_t *set = arg;
    char line[256];
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0) continue;
        if (atomic_load(&ending)) return NULL; /* the command is over: nothing left to stop or remove */
        if (graceful_mode && !atomic_load(&stop_signal)) {
            atomic_store(&stop_signal, sig);
            snprintf(line, sizeof line, "sasrec %s: %s: %s (again to stop at once)\n", command, name_of(sig),
                     strcmp(command, "serve") == 0 ? "answering the requests in hand, then stopping"
                                                   : "stopping after the current step");
            say(line);
            continue;
        }
        int removed = tempfiles_remove_all(); /* waits for a swap in progress: the folder is never half-swapped */
        snprintf(line, sizeof line, "sasrec %s: %s: stopped at once; %d temporary file%s removed\n",
                 command, name_of(sig), removed, removed == 1 ? "" : "s");
        say(line);
        _exit(128 + sig);
    }
    return NULL;
}

static sigset_t set; /* SIGINT and SIGTERM */

int signals_block(void) {
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

void signals_start(const char *cmd, int graceful) {
    command = cmd;
    graceful_mode = graceful;
    if (signals_block()) return;
    waiting = pthread_create(&waiter, NULL, wait_for_signals, &set) == 0;
    if (!waiting) pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* no thread to wait: the default action, as before */
}

void signals_end(void) {
    if (!waiting) return;
    /* the command has returned, its outputs complete or removed: the thread is woken to return, and a signal
     * that arrives from now on stays pending, blocked, until the exit */
    atomic_store(&ending, 1);
    if (pthread_kill(waiter, SIGTERM) == 0) pthread_join(waiter, NULL);
    waiting = 0;
}

const atomic_int *signals_stop_flag(void) { return &stop_signal; }

int signals_exit_code(void) { return 128 + atomic_load(&stop_signal); }

const char *signals_name(void) { return name_of(atomic_load(&stop_signal)); }
