/* Profile of a step: events, the cost table, the printed table and the SVG chart. */
#include "autograd/profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/op.h"
#include "base/clock.h"
#include "base/memory.h"
#include "base/error.h"

struct Profile {
    ProfileRow *rows; /* (cap) first n used, in the order first seen */
    int n, cap;
    double last;       /* clock_seconds() of the previous event */
    double started;    /* of profile_start; < 0 when stopped */
    double seconds;    /* summed over start..stop */
    ProfileClock clock; /* what times the events */
    int in_backward;   /* a backward pass is running: its ops belong to its nodes */
    const Node *pending; /* a forward node whose cost waits for the op to fill n->i (the next event) */
    int pending_row;
};

Profile *profile_new(void) {
    Profile *p = nn_calloc(1, sizeof *p);
    p->started = -1;
    return p;
}

void profile_free(Profile *p) {
    if (!p) return;
    free(p->rows);
    free(p);
}

void profile_set_clock(Profile *p, ProfileClock c) { p->clock = c; }

/* Now, on p's clock. */
static double now_seconds(const Profile *p) {
    if (p->clock == PROFILE_WALL) return clock_seconds();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int row_index(Profile *p, const char *name, ProfilePhase phase) {
    for (int k = 0; k < p->n; k++)
        if (p->rows[k].phase == phase && (p->rows[k].name == name || strcmp(p->rows[k].name, name) == 0)) return k;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 32;
        p->rows = nn_realloc(p->rows, (size_t)p->cap * sizeof *p->rows);
    }
    p->rows[p->n] = (ProfileRow){.name = name, .phase = phase};
    return p->n++;
}

static void add_cost(ProfileRow *r, ProfileCost c) {
    r->flops += c.flops;
    r->bytes += c.bytes;
}

void profile_flush(Profile *p) {
    if (p->pending) add_cost(&p->rows[p->pending_row], profile_node_cost(p->pending, PROFILE_FORWARD));
    p->pending = NULL;
}

/* Closes the event since p->last into row (name, phase): one call, its time, its cost. Returns the row. */
static int event(Profile *p, const char *name, ProfilePhase phase, ProfileCost c) {
    double now = now_seconds(p);
    profile_flush(p);
    int k = row_index(p, name, phase);
    ProfileRow *r = &p->rows[k];
    r->calls++;
    r->seconds += now - p->last;
    add_cost(r, c);
    p->last = now;
    return k;
}

void profile_start(Profile *p) {
    NN_CHECK(p->started < 0, "profile_start", "a step is already being profiled; call profile_stop first");
    p->started = p->last = now_seconds(p);
}

void profile_stop(Profile *p) {
    NN_CHECK(p->started >= 0, "profile_stop", "no step is being profiled; call profile_start first");
    event(p, "outside ops", PROFILE_OTHER, (ProfileCost){0, 0});
    p->seconds += p->last - p->started;
    p->started = -1;
}

void profile_mark(Profile *p, const char *name, double flops, double bytes) {
    if (p && p->started >= 0) event(p, name, PROFILE_OTHER, (ProfileCost){flops, bytes});
}

void profile_forward(Profile *p, const char *op, Tensor *out, int n_in, Tensor *const *in, Node *n) {
    if (p->in_backward || p->started < 0) return;
    if (n) { /* the op fills n->i after recording: its cost is read at the next event */
        int k = event(p, op, PROFILE_FORWARD, (ProfileCost){0, 0});
        p->pending = n;
        p->pending_row = k;
        return;
    }
    Node tmp = {.op = op, .out = out, .n_in = n_in, .in = (Tensor **)in};
    event(p, op, PROFILE_FORWARD, profile_node_cost(&tmp, PROFILE_FORWARD));
}

void profile_backward_pass(Profile *p, int begin) {
    if (p->started < 0) return;
    if (begin) event(p, "backward: ordering the graph", PROFILE_OTHER, (ProfileCost){0, 0});
    p->in_backward = begin;
}

void profile_backward(Profile *p, Node *n) {
    if (p->started >= 0) event(p, n->op, PROFILE_BACKWARD, profile_node_cost(n, PROFILE_BACKWARD));
}

double profile_seconds(const Profile *p) { return p->seconds; }
int profile_num_rows(const Profile *p) { return p->n; }

ProfileRow profile_row(const Profile *p, int k) {
    NN_CHECK(k >= 0 && k < p->n, "profile_row", "row %d of a profile of %d rows", k, p->n);
    return p->rows[k];
}

ProfileRow profile_find(const Profile *p, const char *name, ProfilePhase phase) {
    for (int k = 0; k < p->n; k++)
        if (p->rows[k].phase == phase && strcmp(p->rows[k].name, name) == 0) return p->rows[k];
    return (ProfileRow){.name = name, .phase = phase};
}

/* ---- the cost table ---- */

static double numel(const Tensor *t) { return t ? (double)t->numel : 0; }
static int needs(const Node *n, int k) { return k < n->n_in && n->in[k] && n->in[k]->requires_grad; }

/* Bytes of every input and the output, once each. */
static double operand_bytes(const Node *n) {
    double e = numel(n->out);
    for (int k = 0; k < n->n_in; k++) e += numel(n->in[k]);
    return e * (double)sizeof(real);
}

/* Backward of an elementwise-like op: dy and each input read, each needed gradient written. */
static double grad_bytes(const Node *n) {
    double e = numel(n->out);
    for (int k = 0; k < n->n_in; k++) e += numel(n->in[k]) * (1 + needs(n, k));
    return e * (double)sizeof(real);
}

/* a (..., M, K) @ b (..., K, N): 2 M N K per batch; backward the same product per input needing a gradient. */
static ProfileCost matmul_cost(const Node *n, ProfilePhase ph) {
    const Tensor *a = n->in[0], *y = n->out;
    double K = (double)a->shape[a->ndim - 1], f = 2 * numel(y) * K;
    if (ph == PROFILE_FORWARD) return (ProfileCost){f, operand_bytes(n)};
    double s = (double)sizeof(real), fl = 0, by = 0;
    if (needs(n, 0)) fl += f, by += (numel(y) + numel(n->in[1]) + numel(a)) * s;
    if (needs(n, 1)) fl += f, by += (numel(a) + numel(y) + numel(n->in[1])) * s;
    return (ProfileCost){fl, by};
}

/* x (rows, in) @ w (out, in)^T + bias: 2 rows in out (+ rows out for the bias). */
static ProfileCost linear_cost(const Node *n, ProfilePhase ph) {
    double f = 2 * numel(n->out) * (double)n->in[1]->shape[1], bias = n->in[2] ? numel(n->out) : 0;
    if (ph == PROFILE_FORWARD) return (ProfileCost){f + bias, operand_bytes(n)};
    double s = (double)sizeof(real), x = numel(n->in[0]), w = numel(n->in[1]), y = numel(n->out), fl = 0, by = 0;
    if (needs(n, 0)) fl += f, by += (y + w + x) * s;
    if (needs(n, 1)) fl += f, by += (y + x + w) * s;
    if (needs(n, 2)) fl += bias, by += (y + numel(n->in[2])) * s;
    return (ProfileCost){fl, by};
}

/* n->i[0] visible (query, key) pairs per head, n->i[1] heads (set by ag_attention), q k v y (rows, H):
 * scores and the weighted sum 2 pairs H each, softmax about 5 per pair and head; backward twice the products. */
static ProfileCost attention_cost(const Node *n, ProfilePhase ph) {
    double pairs = (double)n->i[0], heads = (double)(n->i[1] ? n->i[1] : 1), H = (double)n->out->shape[1];
    double probs = pairs * heads, s = (double)sizeof(real);
    if (ph == PROFILE_FORWARD) return (ProfileCost){4 * pairs * H + 5 * probs, operand_bytes(n) + probs * s};
    return (ProfileCost){8 * pairs * H + 4 * probs, (grad_bytes(n) + probs * s)};
}

/* ag_linear_cross_entropy: x (N, H), w (C, H): logits 2 N H C and a softmax; backward recomputes the logits,
 * then dx and dw, 2 N H C each. */
static ProfileCost linear_ce_cost(const Node *n, ProfilePhase ph) {
    double N = (double)n->in[0]->shape[0], H = (double)n->in[0]->shape[1], C = (double)n->in[1]->shape[0];
    double f = 2 * N * H * C, sm = 4 * N * C;
    if (ph == PROFILE_FORWARD) return (ProfileCost){f + sm, operand_bytes(n)};
    return (ProfileCost){f * (1 + needs(n, 0) + needs(n, 1)) + sm, grad_bytes(n)};
}

/* ag_sampled_rows: x (R, H), n->i: K candidates, counted rows, groups, whether the forward kept the backward's
 * factors. Forward: the logits 2 R K H (and, kept, x's gradient's product 2 R K H), each group's K rows of w
 * read; backward: w's gradient 2 R K H, its K rows per group read and written (recomputed: the logits and x's
 * gradient again, the rows read again). */
static ProfileCost sampled_rows_cost(const Node *n, ProfilePhase ph) {
    double R = (double)n->i[1], H = (double)n->in[0]->shape[1], K = (double)n->i[0], G = (double)n->i[2];
    double f = 2 * R * K * H, s = (double)sizeof(real), panels = G * K * H * s;
    int kept = n->i[3] != 0;
    if (ph == PROFILE_FORWARD)
        return (ProfileCost){f * (1 + kept) + 4 * R * K, operand_bytes(n) + panels + kept * R * K * s};
    return (ProfileCost){f * (needs(n, 1) + (kept ? 0 : 1 + needs(n, 0))) + 2 * R * K,
                         grad_bytes(n) + 2 * panels + (kept ? R * K * s : panels)};
}

/* FLOPs per output element of the elementwise and row-wise ops, forward and backward. */
static const struct {
    const char *op;
    double fwd, bwd;
} PER_ELEMENT[] = {
    {"add", 1, 1},        {"sub", 1, 1},          {"mul", 1, 2},     {"div", 1, 3},         {"neg", 1, 1},
    {"add_scalar", 1, 0}, {"mul_scalar", 1, 1},   {"exp", 1, 1},     {"log", 1, 1},         {"sqrt", 1, 2},
    {"tanh", 1, 3},       {"sigmoid", 4, 3},      {"relu", 1, 1},    {"gelu", 20, 25},      {"dropout", 1, 1},
    {"layer_norm", 8, 12}, {"softmax", 5, 4},     {"log_softmax", 5, 3}, {"sum", 1, 0},     {"mean", 1, 1},
    {"bce_with_logits", 8, 6}, {"cross_entropy", 4, 3}, {"sampled_softmax", 4, 3}, {"gbce", 8, 6}, {"row_dot", 2, 2},
};

/* Ops that copy data, and views, which move none (a copying reshape of a strided input is counted as none). */
static const char *const MOVES[] = {"embedding", "index_select", "gather", "concat", "stack", "contiguous", "where"};
static const char *const VIEWS[] = {"reshape", "narrow", "permute", "select", "expand"};

static int listed(const char *op, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (strcmp(op, names[k]) == 0) return 1;
    return 0;
}

ProfileCost profile_node_cost(const Node *n, ProfilePhase phase) {
    const char *op = n->op;
    if (strcmp(op, "matmul") == 0) return matmul_cost(n, phase);
    if (strcmp(op, "linear") == 0) return linear_cost(n, phase);
    if (strcmp(op, "attention") == 0) return attention_cost(n, phase);
    if (strcmp(op, "linear_cross_entropy") == 0) return linear_ce_cost(n, phase);
    if (strcmp(op, "sampled_rows") == 0) return sampled_rows_cost(n, phase);
    int fwd = phase == PROFILE_FORWARD;
    double e = numel(n->out), s = (double)sizeof(real);
    for (size_t k = 0; k < sizeof PER_ELEMENT / sizeof *PER_ELEMENT; k++)
        if (strcmp(op, PER_ELEMENT[k].op) == 0) {
            /* a loss is a scalar: its work is over the input */
            double m = numel(n->in[0]) > e ? numel(n->in[0]) : e;
            return (ProfileCost){m * (fwd ? PER_ELEMENT[k].fwd : PER_ELEMENT[k].bwd),
                                 fwd ? operand_bytes(n) : grad_bytes(n)};
        }
    if (listed(op, VIEWS, sizeof VIEWS / sizeof *VIEWS)) /* the consumer adds into the base's gradient */
        return (ProfileCost){0, 0};
    if (listed(op, MOVES, sizeof MOVES / sizeof *MOVES)) /* backward: dy read, the gradient read and written */
        return fwd ? (ProfileCost){0, 2 * e * s} : (ProfileCost){e, 3 * e * s};
    return (ProfileCost){e, fwd ? operand_bytes(n) : grad_bytes(n)};
}

/* ---- the table and the chart ---- */

static const char *const PHASE_NAMES[] = {"forward", "backward", "other"};

/* The rows' indices, longest first (ties: first seen first), in a new array. */
static int *by_time(const Profile *p) {
    int *order = nn_malloc((size_t)(p->n ? p->n : 1) * sizeof *order);
    for (int k = 0; k < p->n; k++) order[k] = k;
    for (int k = 1; k < p->n; k++) /* insertion sort: a few dozen rows, stable */
        for (int j = k; j > 0 && p->rows[order[j]].seconds > p->rows[order[j - 1]].seconds; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    return order;
}

static double rate(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }

void profile_print(const Profile *p, FILE *f) {
    double total = p->seconds, phase[3] = {0, 0, 0}, flops = 0;
    for (int k = 0; k < p->n; k++) {
        phase[p->rows[k].phase] += p->rows[k].seconds;
        flops += p->rows[k].flops;
    }
    fprintf(f, "step: %.3f ms (forward %.3f, backward %.3f, other %.3f), %.3f GFLOP, %.1f GFLOP/s\n", total * 1e3,
            phase[0] * 1e3, phase[1] * 1e3, phase[2] * 1e3, flops * 1e-9, rate(flops, total) * 1e-9);
    fprintf(f, "%-30s %-8s %6s %9s %6s %9s %9s %8s %7s %7s\n", "op", "phase", "calls", "ms", "share", "GFLOP", "MB",
            "GFLOP/s", "GB/s", "FLOP/B");
    int *order = by_time(p);
    for (int j = 0; j < p->n; j++) {
        const ProfileRow *r = &p->rows[order[j]];
        fprintf(f, "%-30s %-8s %6lld %9.3f %5.1f%% %9.4f %9.2f %8.1f %7.2f %7.2f\n", r->name, PHASE_NAMES[r->phase],
                (long long)r->calls, r->seconds * 1e3, total > 0 ? 100 * r->seconds / total : 0, r->flops * 1e-9,
                r->bytes * 1e-6, rate(r->flops, r->seconds) * 1e-9, rate(r->bytes, r->seconds) * 1e-9,
                r->bytes > 0 ? r->flops / r->bytes : 0);
    }
    free(order);
}

#define SVG_BAR   18  /* height of one bar */
#define SVG_LABEL 230 /* width of the names' column */
#define SVG_PLOT  420 /* width of the longest bar */

/* s with the characters XML reserves escaped (op and mark names are the caller's strings). */
static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

void profile_write_svg(const Profile *p, FILE *f) {
    static const char *const colour[] = {"#1f77b4", "#ff7f0e", "#7f7f7f"};
    int *order = by_time(p), width = SVG_LABEL + SVG_PLOT + 170, height = 50 + SVG_BAR * p->n;
    double longest = p->n ? p->rows[order[0]].seconds : 0, total = p->seconds;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\" text-anchor=\"middle\">one training step: %.3f ms "
            "(forward blue, backward orange, other grey)</text>\n", width / 2, total * 1e3);
    for (int j = 0; j < p->n; j++) {
        const ProfileRow *r = &p->rows[order[j]];
        int y = 32 + SVG_BAR * j;
        double w = longest > 0 ? r->seconds / longest * SVG_PLOT : 0;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", SVG_LABEL - 6, y + 12);
        svg_text(f, r->name);
        fprintf(f, " (%s)</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>",
                PHASE_NAMES[r->phase], SVG_LABEL, y + 2, w, SVG_BAR - 4, colour[r->phase]);
        svg_text(f, r->name);
        fprintf(f, ": %.3f GFLOP, %.2f MB</title></rect>\n", r->flops * 1e-9, r->bytes * 1e-6);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.3f ms, %.1f%%</text>\n", SVG_LABEL + w + 6, y + 12, r->seconds * 1e3,
                total > 0 ? 100 * r->seconds / total : 0);
    }
    fprintf(f, "</svg>\n");
    free(order);
}
