/* Every rank of an MPI job reads the same inputs (sasrec train under mpirun).
 *
 * Each rank reads --data and --sample-file itself; a stale or shuffled copy on
 * one node would otherwise train a worse model without a word, hang the job
 * (a rank with more users takes more steps) or crash it (another item count
 * gives other table shapes). Before any work every rank hashes its inputs and
 * settings, the digests are gathered on every rank (base/dist.h), and any
 * difference ends the job with exit 1, naming the ranks and files that
 * differ, before --out is touched.
 *
 * The digests: SHA-256 of the bytes of --data (or "the built-in synthetic
 * data") and of --sample-file, and of the command line with the flags that
 * may differ between ranks left out (--data and --sample-file, compared by
 * content; --out, which only rank 0 writes; --threads and --force). */
#ifndef NN_MODELS_SASREC_CLI_RANK_INPUTS_H
#define NN_MODELS_SASREC_CLI_RANK_INPUTS_H

#include "models/sasrec/cli/config.h"

/* 0 when every rank has the same inputs and settings (always in a job of one process); else -1 on every
 * rank, with the same message naming the ranks that differ from rank 0, their files and what to do. Every
 * rank must call it at the same point: it gathers from all. args (n of them) are train's flags as given. */
int rank_inputs_check(const RunConfig *c, int n, char **args, NnError *err);

#endif
