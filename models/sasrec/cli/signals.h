/* SIGINT and SIGTERM in the sasrec program.
 *
 * signals_start blocks both signals in every thread (it runs first in main,
 * before any other thread exists, and threads inherit the mask) and starts
 * one thread that waits for them with sigwait, so no code runs in a signal
 * handler. What a signal does:
 *  - train: the first one sets the stop flag (TrainConfig.stop: the run stops
 *    after its current step, removes its staging folder and leaves --out as
 *    it was) and prints one line; a second one exits at once.
 *  - serve: likewise graceful; the requests in hand are answered first.
 *  - the other commands, which replace no folder: the first one exits at once.
 * Exiting at once removes this process's temporary files (io/tempfiles.h),
 * waiting for a model folder swap in progress to end, prints one line and
 * exits with 128 + the signal: 130 for SIGINT, 143 for SIGTERM. */
#ifndef NN_MODELS_SASREC_CLI_SIGNALS_H
#define NN_MODELS_SASREC_CLI_SIGNALS_H

#include <stdatomic.h>

/* Blocks SIGINT and SIGTERM in the calling thread and the threads it starts from now on (MPI's, which
 * dist_init starts before signals_start can run); 0, or -1 if they could not be blocked. */
int signals_block(void);
/* Blocks SIGINT and SIGTERM and starts the waiting thread; cmd names the command in messages, and graceful
 * (train) makes the first signal a request to stop. */
void signals_start(const char *cmd, int graceful);
/* Ends the waiting thread (joined, so that nothing of it is left at exit); signals from then on stay pending
 * until the program exits. Called once the command has returned. */
void signals_end(void);
/* The flag the first signal sets to its number (graceful mode); 0 until then. */
const atomic_int *signals_stop_flag(void);
/* The exit code for a run stopped by the flag's signal: 128 + its number. */
int signals_exit_code(void);
/* "SIGINT" or "SIGTERM" for the flag's signal. */
const char *signals_name(void);

#endif
