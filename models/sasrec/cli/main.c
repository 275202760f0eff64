/* sasrec: train, evaluate, recommend with and explain a SASRec model.
 *
 * Exit codes (README.md; APP_EXIT_* in common.h):
 *   0   success
 *   1   a problem the data revealed, a model folder whose files are broken or
 *       do not belong together, or a failed write during the run
 *   2   a bad command line, a missing input, an unusable or refused output
 *       path (a link, a folder that is not a model folder, a path inside any
 *       model folder or equal to an input: app_check_output), eval or predict
 *       without --data for a model not trained on the built-in data, or a
 *       model folder another sasrec train is writing, compare with two models
 *       whose item maps differ; found before any work starts
 *   3   train: the loss, or the validation scores, became NaN or infinite
 *       (--out left as it was; eval and predict refuse such a model with 1)
 *   4   not enough memory or disk space
 *   130 stopped by SIGINT, 143 by SIGTERM (signals.h; serve answers the requests in hand first)
 * Under mpirun (make MPI=1) a rank that fails ends the whole job with its
 * code (MPI_Abort): mpirun then exits non-zero.
 * Whatever the code, an output is either complete or left as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/progress.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/cli/signals.h"

static const char *USAGE = "usage: sasrec <command> [flags]\n"
                           "\n"
                           "commands:\n"
                           "  train     train a model (on --data, or on built-in synthetic data) and test it\n"
                           "  eval      evaluate a trained model on the test split of --data\n"
                           "  compare   the paired difference of two models' metrics on the same rows, with\n"
                           "            95% intervals and p-values\n"
                           "  predict   write the top-K unseen items of every user of --data as CSV\n"
                           "  serve     answer recommendation requests (JSON lines on stdin) from a loaded model\n"
                           "  explain   print the data flow of one batch through the model, with shapes\n"
                           "  gen       write a synthetic data set of any size (seq format)\n"
                           "\n"
                           "Run 'sasrec <command> --help' for the flags of a command.";

/* The end of the process: in an MPI job a failing rank takes the others with it (they may be waiting for
 * it), after its message is out; on success every rank leaves the job together. */
static int leave_job(const char *cmd, int code) {
    if (dist_size() > 1 && code != 0) {
        fprintf(stderr, "sasrec %s: rank %d of %d failed (exit %d); ending the job\n", cmd, dist_rank(), dist_size(),
                code);
        fflush(stderr);
        dist_abort(code);
    }
    dist_finalize();
    return code;
}

int main(int argc, char **argv) {
    signals_block();         /* before MPI's threads start: they inherit the mask (signals.h) */
    dist_init(&argc, &argv); /* a job of one process without MPI */
    if (dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 alone prints results */
        return leave_job("", APP_EXIT_RESOURCES);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        puts(USAGE);
        return leave_job("", argc < 2 ? 2 : 0);
    }
    const char *cmd = argv[1];
    int (*app)(int, char **) = strcmp(cmd, "train") == 0     ? app_train
                               : strcmp(cmd, "eval") == 0    ? app_eval
                               : strcmp(cmd, "compare") == 0 ? app_compare
                               : strcmp(cmd, "predict") == 0 ? app_predict
                               : strcmp(cmd, "serve") == 0   ? app_serve
                               : strcmp(cmd, "explain") == 0 ? app_explain
                               : strcmp(cmd, "gen") == 0     ? app_gen
                                                             : NULL;
    if (!app) {
        fprintf(stderr, "sasrec: unknown command '%s' (commands: train, eval, compare, predict, serve, explain, gen)\n", cmd);
        return leave_job(cmd, APP_EXIT_USAGE);
    }
    if (dist_size() > 1 && app != app_train) {
        if (dist_rank() == 0)
            fprintf(stderr, "sasrec %s: runs in one process; only sasrec train runs under mpirun (%d ranks here)\n",
                    cmd, dist_size());
        return leave_job(cmd, APP_EXIT_USAGE);
    }
    progress_enable(dist_rank() == 0); /* stderr only: stdout and its last JSON line stay as they are */
    /* before any other thread exists; in an MPI job a signal (mpirun ending the job) stops at once, removing
     * the staging folder: the other ranks could not finish a step without this one */
    signals_start(cmd, (app == app_train && dist_size() == 1) || app == app_serve);
    int code = app(argc - 2, argv + 2);
    signals_end();
    /* the results printed to stdout are an output too: a full disk there is not a success */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno ? errno : EIO;
        fprintf(stderr, "sasrec %s: writing to stdout failed: %s\n", cmd, strerror(e));
        if (code == 0) code = e == ENOSPC || e == EDQUOT || e == EFBIG ? APP_EXIT_RESOURCES : APP_EXIT_DATA;
    }
    return leave_job(cmd, code);
}
