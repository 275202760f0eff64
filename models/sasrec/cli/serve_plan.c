#include "models/sasrec/cli/serve_plan.h"

#include <math.h>
#include <string.h>

#include "base/memory.h"
#include "models/sasrec/cli/serve_batch.h"
#include "models/sasrec/item_scores.h"

/* Bytes per position and hidden unit (per layer and outside the layers) and per attention entry of a forward
 * pass without gradients in the graph's arena (its doubling blocks included), fitted to serve's measured peak
 * RSS at --batch 65536 (docs/sasrec.md, section 5), rounded up. */
#define PASS_LAYER_BYTES 84.0
#define PASS_OUTER_BYTES 16.0
#define PASS_ATTN_BYTES  4.0
/* The program, the stdio buffers and the thread stacks. */
#define BASE_BYTES (8.0 * 1048576)

/* The fewest bytes of request JSON a known id takes: its text, its quotes unless it is a plain number, and a
 * comma. */
static double id_bytes(const char *id) {
    size_t n = strlen(id);
    int number = n > 0;
    for (size_t i = 0; i < n; i++) number &= id[i] >= '0' && id[i] <= '9';
    return (double)n + (number ? 1 : 3);
}

/* The bytes an id takes in an answer: JSON-escaped, quoted, and ", " after it. */
static double answer_bytes(const char *id) {
    double n = 4;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        n += *p < 0x20 ? 6 : *p == '"' || *p == '\\' ? 2 : 1;
    return n;
}

ServePlan serve_plan(const SasrecConfig *mc, const Dataset *vocab, int batch, int64_t k, int64_t max_k,
                     int64_t max_request, double transport_bytes, double answers_held, const char *line_flag) {
    ServePlan p = {0};
    double H = (double)mc->hidden, layers = (double)mc->layers, heads = (double)mc->heads, f = sizeof(real);
    double N1 = (double)mc->n_items + 1, L = (double)mc->max_len;
    double n_params = (N1 + L) * H + layers * (12 * H * H + 13 * H) + 2 * H;
    double ids = 0, longest = 0, shortest = 1e300; /* bytes of the raw ids; the longest answered; the fewest */
    for (int64_t i = 1; i <= vocab->n_items; i++) {
        double len = (double)strlen(vocab->item_ids[i]), b = id_bytes(vocab->item_ids[i]);
        double out = answer_bytes(vocab->item_ids[i]);
        ids += len + 1 + 3 * sizeof(void *); /* the string, its pointer, its hash slots */
        if (out > longest) longest = out;
        if (b < shortest) shortest = b;
    }
    p.model = n_params * f + N1 * H * f + N1 * 8 + N1 * 4 + ids;
    /* A batch holds at most max_request bytes of requests: r requests of n known items each take at least
     * r x (12 + n x the shortest id) bytes ({"items":[]} and the ids), and the k member when it asks for more
     * than --k. The cost is linear in r for a given n, so its largest is at n = 1, at n = max_len, or with
     * requests of no item (answered by popularity, without the encoder): the plan takes the largest. */
    double bytes = (double)max_request, kmax = (double)(max_k < mc->n_items ? max_k : mc->n_items);
    double k_member = kmax > (double)k ? 6 + floor(log10(kmax)) : 0, worst = -1;
    for (int s = 0; s < 3; s++) {
        double n = s == 0 ? 0 : s == 1 ? 1 : L, r = bytes / (12 + k_member + n * shortest);
        if (r > batch) r = batch;
        double T = r * n, rows = n > 0 ? r : 0, cols = (double)item_scores_block((int64_t)(rows > 1 ? rows : 1));
        if (cols > N1) cols = N1;
        double enc = T * H * (layers * PASS_LAYER_BYTES + PASS_OUTER_BYTES) +
                     T * n * heads * layers * PASS_ATTN_BYTES + rows * L * 8.0 + T * 3 * 8.0;
        /* the requests' records; the batch's answers; recommend's (rows, k) answers and the block of scores */
        double rank = r * (double)(sizeof(ServeRequest) + sizeof(RecRequest) + sizeof(RecAnswer)) +
                      r * kmax * (f + 4) + rows * (kmax * (f + 4) + cols * f + 64.0);
        if (enc + rank > worst) {
            worst = enc + rank;
            p.encoder = enc;
            p.ranking = rank;
        }
    }
    /* the requests' ids (in the pool, then in recommend's exclusion lists) and their id strings */
    p.requests = bytes / shortest * 4 * 3 + bytes;
    p.parse = SERVE_PLAN_PARSE_BYTES * (double)max_request;
    /* the answers rendered before they are written: k ids and scores each */
    p.transport = transport_bytes + answers_held * (kmax * (longest + 19) + 200);
    p.total = BASE_BYTES + p.model + p.encoder + p.ranking + p.requests + p.parse + p.transport;
    p.dominant = "encoder pass";
    p.advice = "--batch";
    double top = p.encoder;
    if (p.ranking > top) {
        top = p.ranking;
        p.dominant = "ranking buffers";
        p.advice = "--batch or --max-k";
    }
    if (p.requests + p.parse > top) {
        top = p.requests + p.parse;
        p.dominant = "request parsing";
        p.advice = line_flag;
    }
    if (p.transport > top) {
        p.dominant = "transport buffers";
        p.advice = strcmp(line_flag, "--max-line") ? "--max-conns or --max-body" : "--max-line";
    }
    return p;
}

int serve_plan_check(const ServePlan *plan, NnError *err) {
    char what[128];
    int64_t avail = memory_available(what, sizeof what);
    if (avail < 0 || plan->total - plan->model <= (double)avail) return 0;
    double mib = 1048576.0;
    return nn_fail(err,
                   "these flags need about %.0f MiB beyond the model's %.0f MiB (encoder pass %.0f, ranking %.0f, "
                   "requests %.0f, parsing %.0f, transport %.0f), more than the %.0f MiB available (%s); most of it "
                   "is the %s: lower %s",
                   (plan->total - plan->model) / mib, plan->model / mib, plan->encoder / mib, plan->ranking / mib,
                   plan->requests / mib, plan->parse / mib, plan->transport / mib, (double)avail / mib, what,
                   plan->dominant, plan->advice);
}
