/* Integer ids from an arange: the positions a position embedding reads, which
 * ag_arange (real values) cannot give. No gradient. */
#include "autograd/ops.h"
#include "base/error.h"

const int64_t *ag_arange_ids(Graph *g, int64_t start, int64_t end, int64_t step, int64_t *count) {
    NN_CHECK(step != 0 && count, "arange_ids", "needs a nonzero step and a count to fill, got step %lld, count %p",
             (long long)step, (void *)count);
    /* (end - start) may overflow: compare first, then count in unsigned arithmetic */
    uint64_t span = step > 0 ? (end > start ? (uint64_t)end - (uint64_t)start : 0)
                             : (start > end ? (uint64_t)start - (uint64_t)end : 0);
    uint64_t by = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
    uint64_t n = span / by + (span % by != 0);
    NN_CHECK(n <= (uint64_t)1 << 40, "arange_ids", "[%lld, %lld) by %lld gives %llu ids: too many", (long long)start,
             (long long)end, (long long)step, (unsigned long long)n);
    int64_t *ids = arena_alloc(graph_arena(g), (size_t)(n ? n : 1) * sizeof *ids);
    for (uint64_t i = 0; i < n; i++) ids[i] = (int64_t)((uint64_t)start + i * (uint64_t)step);
    *count = (int64_t)n;
    return ids;
}

const int64_t *ag_position_ids(Graph *g, int64_t rows, int64_t length) {
    NN_CHECK(rows >= 0 && length >= 0 && (length == 0 || rows <= INT64_MAX / length), "position_ids",
             "rows %lld and length %lld: expected non-negative sizes whose product fits", (long long)rows,
             (long long)length);
    int64_t *ids = arena_alloc(graph_arena(g), (size_t)(rows * length > 0 ? rows * length : 1) * sizeof *ids);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < length; t++) ids[r * length + t] = t;
    return ids;
}
