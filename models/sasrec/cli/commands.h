/* The subcommands of the sasrec program; each takes the arguments after its
 * name and returns the process exit code (see main.c). */
#ifndef NN_MODELS_SASREC_CLI_COMMANDS_H
#define NN_MODELS_SASREC_CLI_COMMANDS_H

/* sasrec train */
int app_train(int argc, char **argv);
/* sasrec eval */
int app_eval(int argc, char **argv);
/* sasrec compare */
int app_compare(int argc, char **argv);
/* sasrec predict */
int app_predict(int argc, char **argv);
/* sasrec explain */
int app_explain(int argc, char **argv);
/* sasrec serve */
int app_serve(int argc, char **argv);
/* sasrec gen */
int app_gen(int argc, char **argv);

#endif
