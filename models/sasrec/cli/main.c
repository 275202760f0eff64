/* sasrec: train, evaluate, recommend with and explain a SASRec model.
 *
 * Exit codes: 0 success; 1 a problem the data revealed (or a failed write
 * during the run); 2 a bad command line, a missing input file or an
 * unwritable output path, found before any work starts; 3 the training loss
 * became NaN or infinite. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/progress.h"
#include "models/sasrec/cli/commands.h"

static const char *USAGE = "usage: sasrec <command> [flags]\n"
                           "\n"
                           "commands:\n"
                           "  train     train a model (on --data, or on built-in synthetic data) and test it\n"
                           "  eval      evaluate a trained model on the test split of --data\n"
                           "  predict   write the top-K unseen items of every user of --data as CSV\n"
                           "  explain   print the data flow of one batch through the model, with shapes\n"
                           "  gen       write a synthetic data set of any size (seq format)\n"
                           "\n"
                           "Run 'sasrec <command> --help' for the flags of a command.";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        puts(USAGE);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    progress_enable(1); /* stderr only: stdout and its last JSON line stay as they are */
    if (strcmp(cmd, "train") == 0) return app_train(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0) return app_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "predict") == 0) return app_predict(argc - 2, argv + 2);
    if (strcmp(cmd, "explain") == 0) return app_explain(argc - 2, argv + 2);
    if (strcmp(cmd, "gen") == 0) return app_gen(argc - 2, argv + 2);
    fprintf(stderr, "sasrec: unknown command '%s' (commands: train, eval, predict, explain, gen)\n", cmd);
    return 2;
}
