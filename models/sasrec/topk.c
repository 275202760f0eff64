#include "models/sasrec/topk.h"

#include <stdlib.h>

#include "base/error.h"

/* A min-heap of (score, index) by "worse first": the root is the entry that
 * leaves first when a better one arrives. */
static int worse(real sa, int64_t ia, real sb, int64_t ib) { return sa < sb || (sa == sb && ia > ib); }

static void swap(real *hs, int64_t *hi, int64_t a, int64_t b) {
    real ts = hs[a];
    hs[a] = hs[b];
    hs[b] = ts;
    int64_t ti = hi[a];
    hi[a] = hi[b];
    hi[b] = ti;
}

static void sift_down(real *hs, int64_t *hi, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(hs[l], hi[l], hs[m], hi[m])) m = l;
        if (r < n && worse(hs[r], hi[r], hs[m], hi[m])) m = r;
        if (m == i) return;
        swap(hs, hi, i, m);
        i = m;
    }
}

int64_t topk_select(const real *scores, const unsigned char *skip, int64_t n, int64_t k, int64_t *out) {
    if (k <= 0 || n <= 1) return 0;
    if (k > n) k = n;
    real *hs = nn_malloc((size_t)k * sizeof *hs); /* heap scores */
    int64_t *hi = out;                            /* heap indices live in out */
    int64_t size = 0;
    for (int64_t i = 1; i < n; i++) {
        if (skip && skip[i]) continue;
        real s = scores[i];
        if (s != s) continue; /* NaN never ranks */
        if (size < k) {
            /* sift up */
            int64_t c = size++;
            hs[c] = s;
            hi[c] = i;
            while (c > 0) {
                int64_t p = (c - 1) / 2;
                if (!worse(hs[c], hi[c], hs[p], hi[p])) break;
                swap(hs, hi, c, p);
                c = p;
            }
        } else if (worse(hs[0], hi[0], s, i)) {
            hs[0] = s;
            hi[0] = i;
            sift_down(hs, hi, size, 0);
        }
    }
    /* Pop worst-first into the back: out ends best first. */
    for (int64_t end = size - 1; end > 0; end--) {
        swap(hs, hi, 0, end);
        sift_down(hs, hi, end, 0);
    }
    free(hs);
    return size;
}
