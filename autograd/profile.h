/* Profile: where one training step spends its time, op by op.
 *
 * Attach a Profile to a graph (graph_set_profile) and every op recorded in it,
 * and every node its backward pass runs, becomes an event: the time since the
 * previous event goes to the row of that op and phase (forward or backward),
 * with the op's FLOPs and bytes moved, computed from its shapes (one table,
 * profile_node_cost). Code between ops (building ids, the optimizer, a reset)
 * names its own rows with profile_mark; the time after the last event until
 * profile_stop goes to the row "outside ops". So the rows add up to the step.
 *
 *     Profile *p = profile_new();
 *     graph_set_profile(g, p);
 *     profile_start(p);
 *     ... forward, ag_backward, profile_mark(p, "adam", flops, bytes) after the optimizer ...
 *     profile_stop(p);
 *     graph_set_profile(g, NULL);
 *     profile_print(p, stdout);
 *
 * An op's forward time runs from the previous event to the op's recording
 * (ag_record), so code run just before an op without a mark counts to it.
 * Detached (no profile on the graph), an op costs one branch. FLOPs count the
 * arithmetic of the op's definition (a causal attention counts the visible
 * pairs only); bytes are each operand read or written once (the least traffic
 * the op needs), so GB/s is a lower bound of the traffic the machine saw. */
#ifndef NN_AUTOGRAD_PROFILE_H
#define NN_AUTOGRAD_PROFILE_H

#include <stdint.h>
#include <stdio.h>

#include "autograd/autograd.h"

typedef struct Profile Profile;

typedef enum {
    PROFILE_FORWARD,  /* an op's forward computation */
    PROFILE_BACKWARD, /* a node's backward function */
    PROFILE_OTHER,    /* a named stretch of code between ops (profile_mark), or outside ops */
} ProfilePhase;

/* What times the events. */
typedef enum {
    PROFILE_WALL,       /* wall time (the default) */
    PROFILE_THREAD_CPU, /* the calling thread's CPU time: what other programs on a busy machine do not inflate,
                         * but blind to work on other threads (use it with one thread: nn_set_threads(1)) */
} ProfileClock;

/* One row of the table: an op (or a mark) in one phase, summed over its calls. */
typedef struct {
    const char *name;   /* op name, or the mark's name */
    ProfilePhase phase; /* forward, backward or other */
    int64_t calls;      /* events summed into this row */
    double seconds;     /* time of those events */
    double flops;       /* floating-point operations (a multiply-add counts 2) */
    double bytes;       /* bytes read and written, each operand once */
} ProfileRow;

/* The FLOPs and bytes of one op in one phase. */
typedef struct {
    double flops, bytes;
} ProfileCost;

/* A new, empty profile. */
Profile *profile_new(void);
/* Frees p. NULL is allowed. */
void profile_free(Profile *p);
/* Times p's events with clock c from the next profile_start on. */
void profile_set_clock(Profile *p, ProfileClock c);
/* Starts timing a step (steps add up: the totals cover every start..stop). */
void profile_start(Profile *p);
/* Ends the step: the time since the last event goes to the row "outside ops". */
void profile_stop(Profile *p);
/* The time since the last event goes to row name (a string that outlives p), with its cost. NULL p: nothing. */
void profile_mark(Profile *p, const char *name, double flops, double bytes);
/* Seconds between start and stop, summed over the steps profiled. */
double profile_seconds(const Profile *p);
/* Number of rows, and row k of them (k < profile_num_rows), in the order first seen. */
int profile_num_rows(const Profile *p);
ProfileRow profile_row(const Profile *p, int k);
/* The row of name in phase, or one with calls 0 when there is none. */
ProfileRow profile_find(const Profile *p, const char *name, ProfilePhase phase);
/* The table: one line per row, longest first, with ms, share of the step, GFLOP, MB, GFLOP/s, GB/s, FLOP/byte. */
void profile_print(const Profile *p, FILE *f);
/* The same as an SVG bar chart (one bar per row, longest first, colour by phase) written to f. */
void profile_write_svg(const Profile *p, FILE *f);

/* The cost of node n (its op, inputs, output, and the integers the op left in n->i) in phase: the table every
 * row's FLOPs and bytes come from. Ops it does not know count one FLOP per output element. */
ProfileCost profile_node_cost(const Node *n, ProfilePhase phase);

/* Attaches p to g (NULL detaches): from now on g's ops and backward passes are events of p. */
void graph_set_profile(Graph *g, Profile *p);
/* The profile attached to g, or NULL. */
Profile *graph_profile(const Graph *g);

/* ---- hooks of the engine (autograd/engine.c) ---- */

/* An op recorded out from in[0..n_in) (node n, or NULL when it recorded none): ends its forward event. */
void profile_forward(Profile *p, const char *op, Tensor *out, int n_in, Tensor *const *in, Node *n);
/* g is being reset: the cost that waits on its last forward node is read now, before the node is released. */
void profile_flush(Profile *p);
/* A backward pass begins (1) or ends (0): ops run inside it are part of its nodes' events. */
void profile_backward_pass(Profile *p, int begin);
/* Node n's backward function ran: ends its backward event. */
void profile_backward(Profile *p, Node *n);

#endif
