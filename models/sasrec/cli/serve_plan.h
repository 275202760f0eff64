/* The memory plan of sasrec serve: before its buffers are allocated, what
 * the service will hold at its peak, from its flags and the loaded model, so
 * that flags whose plan does not fit are refused at start (exit 2, with the
 * estimate and the flag to lower) and no request, however large, can make it
 * abort later (README "Exit codes"; docs/sasrec.md, sections 5 and 7).
 *
 * The parts: the model (weights, the item table's transpose, ids, counts);
 * one encoder pass over the positions a batch can hold (the model computes
 * only the known items of each request, at most max_len each, and a batch
 * holds at most --max-line bytes, each id taking at least its shortest
 * spelling); ranking them (a block of scores, each request's top-k and
 * answer, min(--max-k, items) each); the requests' ids and strings; parsing
 * the largest request JSON (about SERVE_PLAN_PARSE_BYTES per byte); and the
 * transport's buffers (the caller's figure). */
#ifndef NN_MODELS_SASREC_CLI_SERVE_PLAN_H
#define NN_MODELS_SASREC_CLI_SERVE_PLAN_H

#include "base/error.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/model.h"

/* Bytes held while parsing one byte of request JSON (the values' array, the document, its texts), measured on
 * the worst case (an array of one-digit numbers), rounded up. */
#define SERVE_PLAN_PARSE_BYTES 64.0

typedef struct {
    double model;     /* bytes: the loaded model (already resident when the plan is made) */
    double encoder;   /* one encoder pass of the batch */
    double ranking;   /* scores, top-k heaps and answers of the batch */
    double requests;  /* the batch's ids, id strings and request records */
    double parse;     /* parsing the largest request */
    double transport; /* the transport's buffers */
    double total;     /* the sum */
    const char *dominant, *advice; /* the largest part after the model, and the flags that shrink it */
} ServePlan;

/* The plan for model mc (n_items set) with the ids of vocab, passes of batch requests, answers of k items
 * unless a request asks for up to max_k, requests of at most max_request bytes of JSON, transport_bytes of
 * the transport's buffers and answers_held answers rendered and not yet written at once (line_flag names the
 * flag of max_request in advice: "--max-line" or "--max-body"). */
ServePlan serve_plan(const SasrecConfig *mc, const Dataset *vocab, int batch, int64_t k, int64_t max_k,
                     int64_t max_request, double transport_bytes, double answers_held, const char *line_flag);
/* 0 if what the plan has yet to allocate (all but the model) fits the memory available (or that is unknown);
 * else -1 and a message naming the estimate, its parts, the memory available and the flag to lower. */
int serve_plan_check(const ServePlan *plan, NnError *err);

#endif
