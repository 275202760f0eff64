/* General matrix product: cache blocking, packing and threads around the
 * micro-kernels of tensor/gemm_kernel.c.
 *
 * Loops, for one block of C (rows m0..m1, columns n0..n1):
 *   for jc in steps of nc:             columns of C and B
 *     for pc in steps of kc:           K, in fixed steps
 *       B (kc, nc): packed into panels of nr columns (L2), or read in place
 *       for ir in steps of mr:         rows of C and A
 *         A (mr, kc): read in place, or packed (L1)
 *         for jr in steps of nr:       one tile: C (mr, nr) (+)= A B
 *
 * Determinism: every element of C is summed over k in increasing order within
 * each kc step (tensor/gemm_tile.h), and the kc steps are added to C in order.
 * kc depends on the kernel only, threads split C into chunks of whole tiles
 * (each tile is computed the same way in any chunk), so the result is
 * bit-identical for any thread count. */
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"
#include "base/parallel.h"


/* Scratch up to this size lives on the stack, so that small products
 * (attention heads, 64 x 64 weights) do not go through malloc. */
#define GEMM_STACK_REALS (32768 / (int)sizeof(real))

/* A (M, K) B (K, N) + beta C (or + bias) with its strides; see gemm() and gemm_bias() in tensor/kernels.h. */
typedef struct {
    const GemmKernel *kern;
    int64_t K;
    const real *A;
    int64_t a_rs, a_cs;
    const real *B;
    int64_t b_rs, b_cs;
    real beta;
    const real *bias; /* (N) or NULL: written into each tile of C just before the tile adds its first K step */
    real *C;
    int64_t ldc;
    const real *b_packed; /* NULL, or all of B packed once (pack_b_once) for the chunks of rows to share */
} Product;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* Reals of scratch one block needs: packed B (kc, nc rounded to nr) and a packed A panel (mr, kc). */
static int64_t scratch_reals(const Product *p, int64_t ncols) {
    const GemmKernel *kn = p->kern;
    int64_t kc = min64(kn->kc, p->K);
    return kc * round_up(min64(kn->nc, ncols), kn->nr) + kn->mr * kc;
}

/* Whether to read an operand panel in place rather than pack it: always when
 * it serves few tiles (packing would cost more than it saves), otherwise only
 * if its rows (or columns) are close in memory: A's mr rows read for every k
 * should not fight over L1 sets as rows 8 KiB apart do; B's kc rows should
 * fit in L2 without a long stride through pages. */
static int a_in_place(const GemmKernel *kn, int64_t nc, int64_t lead) {
    int64_t bytes = (lead < 0 ? -lead : lead) * (int64_t)sizeof(real);
    return nc <= 4 * kn->nr || bytes <= 1024;
}
static int b_in_place(const GemmKernel *kn, int64_t rows, int64_t kc, int64_t lead) {
    int64_t bytes = (lead < 0 ? -lead : lead) * (int64_t)sizeof(real);
    return rows <= 4 * kn->mr || bytes * kc <= (256 << 10);
}

/* Where the block (columns jc .. jc + nc, K step pc) of B starts in p->b_packed: the blocks of each nc
 * columns (whole tiles but the last) one after another, and in each its K steps in order, each kc by nc
 * rounded up to whole tiles, as pack_b lays them out. */
static int64_t packed_offset(const Product *p, int64_t jc, int64_t pc, int64_t nc) {
    return jc * p->K + pc * round_up(nc, p->kern->nr);
}

/* C (m0..m1, n0..n1) of the product, in the calling thread, with scratch of scratch_reals(p, n1 - n0). */
static void gemm_block(const Product *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, real *scratch) {
    const GemmKernel *kn = p->kern;
    const int mr = kn->mr, nr = kn->nr;
    int64_t kc_max = min64(kn->kc, p->K);
    real *bpack = scratch, *apack = scratch + kc_max * round_up(min64(kn->nc, n1 - n0), nr);
    for (int64_t jc = n0; jc < n1; jc += kn->nc) {
        int64_t nc = min64(kn->nc, n1 - jc);
        int rows_in_place = p->a_cs == 1 && a_in_place(kn, nc, p->a_rs);
        int cols_in_place = p->a_rs == 1 && a_in_place(kn, nc, p->a_cs);
        for (int64_t pc = 0; pc < p->K; pc += kn->kc) {
            int64_t kc = min64(kn->kc, p->K - pc);
            int add = pc > 0 || p->beta != 0 || p->bias, put_bias = p->bias && pc == 0;
            /* B (kc, nc): panels of nr columns in place, or packed; a last panel of other
             * than nr/2 columns (which the half-width tiles read in place) always packed */
            const real *b = p->B + pc * p->b_rs + jc * p->b_cs;
            int64_t in_place = nc % nr == 0 || nc % nr == nr / 2 ? nc : nc / nr * nr;
            const real *panels = bpack;
            if (p->b_packed) {
                in_place = 0;
                panels = p->b_packed + packed_offset(p, jc, pc, nc);
            } else {
                if (!(p->b_cs == 1 && b_in_place(kn, m1 - m0, kc, p->b_rs))) in_place = 0;
                if (in_place < nc) kn->pack_b(kc, nc, in_place, b, p->b_rs, p->b_cs, bpack);
            }
            for (int64_t ir = m0; ir < m1; ir += mr) {
                int m = (int)min64(mr, m1 - ir);
                int r = (3 * m - 1) / mr, rows = (r + 1) * mr / 3; /* the smallest tile with m rows */
                const real *a = p->A + ir * p->a_rs + pc * p->a_cs;
                int layout = 0;
                int64_t a_rs = 1, a_cs = mr;
                if (m == rows && rows_in_place) {
                    layout = 1;
                    a_rs = p->a_rs;
                    a_cs = 1;
                } else if (m == rows && cols_in_place) {
                    a_cs = p->a_cs;
                } else {
                    kn->pack_a(kc, m, a, p->a_rs, p->a_cs, apack);
                    a = apack;
                }
                GemmTileFn *const *tile = kn->tiles[layout][r];
                real *c = p->C + ir * p->ldc + jc;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int n = (int)min64(nr, nc - jr);
                    if (put_bias) /* in cache when the tile reads it back: no pass over all of C */
                        for (int r = 0; r < m; r++) memcpy(c + r * p->ldc + jr, p->bias + jc + jr, (size_t)n * sizeof(real));
                    if (jr < in_place)
                        tile[n > nr / 2](kc, a, a_rs, a_cs, b + jr, p->b_rs, c + jr, p->ldc, m, n, add);
                    else
                        tile[n > nr / 2](kc, a, a_rs, a_cs, panels + jr * kc, nr, c + jr, p->ldc, m, n, add);
                }
            }
        }
    }
}

/* Products of at least this many multiply-adds go to the pool in chunks of
 * whole tiles of about GEMM_CHUNK_MACS each (about 20 us on one core). */
#define GEMM_CHUNK_MACS (1 << 20)
/* An operand of more than GEMM_REUSE_BYTES is reused by chunks of at least GEMM_REUSE_LINES rows (or columns) of
 * whole tiles: 48 flops for each of its bytes read. */
#define GEMM_REUSE_BYTES (2 << 20)
#define GEMM_REUSE_LINES 96
#define GEMM_ROW_CHUNKS_PER_THREAD 4

typedef struct {
    const Product *p;
    int64_t M, N;
    int split_rows;     /* chunks are blocks of rows of C (else of columns) */
    int64_t per;        /* rows or columns per chunk: whole tiles */
    real *scratch;      /* per worker, stride reals apart */
    int64_t stride;
} GemmLoop;

static void gemm_chunks(void *ctx, NnChunk c) {
    const GemmLoop *l = ctx;
    real *scratch = l->scratch + c.worker * l->stride;
    for (int64_t i = c.begin; i < c.end; i++) {
        int64_t lo = i * l->per, hi = min64(lo + l->per, l->split_rows ? l->M : l->N);
        if (l->split_rows)
            gemm_block(l->p, lo, hi, 0, l->N, scratch);
        else
            gemm_block(l->p, 0, l->M, lo, hi, scratch);
    }
}

/* Packing all of B: items are groups of PACK_PANELS panels of one (nc, kc) block, blocks in packed_offset's
 * order; a group's panels land where pack_b would put them packing the whole block. */
#define PACK_PANELS 4
typedef struct {
    const Product *p;
    int64_t N, steps, groups_full; /* K steps per column block; groups of a block of nc columns */
    real *out;
} PackLoop;

static void pack_groups(void *ctx, NnChunk c) {
    const PackLoop *l = ctx;
    const Product *p = l->p;
    const GemmKernel *kn = p->kern;
    int64_t width = PACK_PANELS * kn->nr, per_block = l->steps * l->groups_full;
    for (int64_t i = c.begin; i < c.end; i++) {
        int64_t jc = i / per_block * kn->nc, rest = i % per_block, nc = min64(kn->nc, l->N - jc);
        int64_t groups = (nc + width - 1) / width, pc = rest / groups * kn->kc, g = rest % groups;
        if (rest >= l->steps * groups) continue; /* the last column block has fewer groups */
        int64_t c0 = g * width, kc = min64(kn->kc, p->K - pc);
        kn->pack_b(kc, min64(width, nc - c0), 0, p->B + pc * p->b_rs + (jc + c0) * p->b_cs, p->b_rs, p->b_cs,
                   l->out + packed_offset(p, jc, pc, nc) + c0 * kc);
    }
}

/* Packs all of p's B (K, N) into out, block by block (packed_offset), on the pool's threads: what p->b_packed
 * is read as. */
static void pack_b_once(const Product *p, real *out, int64_t N) {
    const GemmKernel *kn = p->kern;
    int64_t width = PACK_PANELS * kn->nr, steps = (p->K + kn->kc - 1) / kn->kc;
    int64_t groups_full = (min64(kn->nc, N) + width - 1) / width, blocks = (N + kn->nc - 1) / kn->nc;
    PackLoop l = {p, N, steps, groups_full, out};
    nn_parallel_for(blocks * steps * groups_full, 2 * kn->kc * width, pack_groups, &l);
}

/* The product p of M rows and N columns, K > 0, in chunks of whole tiles. */
static void gemm_product(const Product *p, int64_t M, int64_t N) {
    const GemmKernel *kern = p->kern;
    int64_t K = p->K;
    /* Chunks are blocks of whole tiles along the dimension with more tiles; how
     * many tiles a chunk takes depends on the shape, and for a few large chunks
     * on the threads too (evened out below), never the sums. */
    int64_t mt = (M + kern->mr - 1) / kern->mr, nt = (N + kern->nr - 1) / kern->nr;
    int split_rows = mt >= nt;
    int64_t tiles = split_rows ? mt : nt, step = split_rows ? kern->mr : kern->nr;
    int64_t tile_macs = step * (split_rows ? N : M) * K;
    int64_t per_chunk = tile_macs >= GEMM_CHUNK_MACS ? 1 : GEMM_CHUNK_MACS / tile_macs;
    /* A chunk reads the whole other operand (B when splitting rows, A when splitting columns) once per kc step;
     * when that operand is larger than L2, a chunk of one tile would stream it from memory for every mr rows
     * (2048^3 fell from 205 to 57-100 GFLOP/s on two threads), so such chunks take GEMM_REUSE_LINES of them. */
    int64_t other_bytes = K * (split_rows ? N : M) * (int64_t)sizeof(real), reuse = (GEMM_REUSE_LINES + step - 1) / step;
    if (other_bytes > GEMM_REUSE_BYTES && per_chunk < reuse) per_chunk = reuse;
    /* Rows of C past L2's worth of B are one chunk a thread, and each chunk packs B itself, a (kc, nc) block
     * at a time, into its own scratch (gemm_block), where the block stays in the core's L2 while all the
     * chunk's rows use it: as one thread runs the whole product, and as GotoBLAS splits it. Two threads
     * then run about as two single-threaded products side by side do (2048^3: 2 x 130 GFLOP/s). Shared
     * chunks of a B packed once (whole, or a block at a time by all threads between two loops) read it from
     * L3 or from the other core's cache: 3 rounds of 5-7 alternated runs on two threads, medians of runs,
     * 2048^3 209 / 183 / 163 -> 210 / 171 / 200 GFLOP/s, 1024^3 216 / 189 / 172 -> 213 / 185 / 192, 4096 x
     * 256 x 4096 136 / 177 -> 176 / 197 (OpenBLAS 228-236, 229-253, 181-215; a noisy machine).
     * A B past L2 read in place is streamed from L3 by every chunk of rows: at most GEMM_ROW_CHUNKS_PER_THREAD
     * of them a thread (4096 x 4096 x 256, 2 threads: 292-298 -> 300-304 GFLOP/s). */
    int b_must_pack = !(p->b_cs == 1 && b_in_place(kern, M, min64(kern->kc, K), p->b_rs));
    int big_b = other_bytes > GEMM_REUSE_BYTES && split_rows, own_b = big_b && b_must_pack;
    if (big_b) {
        int64_t most = (own_b ? 1 : GEMM_ROW_CHUNKS_PER_THREAD) * (int64_t)nn_threads();
        int64_t big = (tiles + most - 1) / most;
        if (per_chunk < big) per_chunk = big;
    }
    int64_t chunks = (tiles + per_chunk - 1) / per_chunk, chunk_work = per_chunk * tile_macs / NN_MACS_PER_WORK;
    int width = M * N * K < NN_PARALLEL_MIN_MACS ? 1 : nn_parallel_width(chunks, chunk_work);
    /* Few large chunks are evened out over the threads: 11 chunks of 16 tiles (1024^3) kept one thread
     * 6 chunks against 5; 12 of 15 split 6 and 6. A tile's sums do not depend on its chunk, so neither
     * do the bits. */
    if (width > 1 && chunks % width != 0 && chunks < 8 * width) {
        int64_t even = (chunks + width - 1) / width * width;
        per_chunk = (tiles + even - 1) / even;
        chunks = (tiles + per_chunk - 1) / per_chunk;
        chunk_work = per_chunk * tile_macs / NN_MACS_PER_WORK;
    }
    if (width == 1) {
        _Alignas(64) real stack[GEMM_STACK_REALS];
        int64_t need = scratch_reals(p, N);
        real *scratch = need <= GEMM_STACK_REALS ? stack : nn_aligned_alloc((size_t)need * sizeof(real));
        gemm_block(p, 0, M, 0, N, scratch);
        if (scratch != stack) free(scratch);
        return;
    }
    int64_t per = per_chunk * step; /* rows or columns per chunk */
    int64_t stride = round_up(scratch_reals(p, split_rows ? N : per), 64 / (int64_t)sizeof(real));
    /* Chunks of rows all read the whole of B: when they would each pack it (transposed, or rows far apart),
     * it is packed once here instead. A (1463, 64) x (64, 256)^T product, a Linear layer's forward in a
     * Beauty step, packed its B 25 times: 244 GFLOP/s on two threads against 294 for B read in place.
     * Whether B is read in place is judged for all M rows, as one thread's gemm_block judges it: the packing
     * is shared, so a chunk's few rows do not make it dear. Judged per chunk, 512^3 (chunks of 6 rows) read
     * its B rows 2 KiB apart in place: 114-169 GFLOP/s on two threads against 152-198 packed once (4
     * alternated runs). */
    int pack_once = split_rows && !own_b && b_must_pack;
    int64_t packed = pack_once ? K * round_up(N, kern->nr) : 0;
    real *scratch = nn_aligned_alloc((size_t)(stride * width + packed) * sizeof(real));
    Product shared = *p;
    if (pack_once) {
        pack_b_once(p, scratch + stride * width, N);
        shared.b_packed = scratch + stride * width;
    }
    GemmLoop l = {&shared, M, N, split_rows, per, scratch, stride};
    nn_parallel_for(chunks, chunk_work, gemm_chunks, &l);
    free(scratch);
}

void gemm_with(const GemmKernel *kern, int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs,
               const real *B, int64_t b_rs, int64_t b_cs, real beta, real *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (beta == 0)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(real));
        return;
    }
    gemm_product(&(Product){kern, K, A, a_rs, a_cs, B, b_rs, b_cs, beta, NULL, C, ldc, NULL}, M, N);
}

void gemm_bias(int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
               int64_t b_cs, const real *bias, real *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++) memcpy(C + i * ldc, bias, (size_t)N * sizeof(real));
        return;
    }
    gemm_product(&(Product){gemm_kernel_best(), K, A, a_rs, a_cs, B, b_rs, b_cs, 0, bias, C, ldc, NULL}, M, N);
}

void gemm(int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
          int64_t b_cs, real beta, real *C, int64_t ldc) {
    gemm_with(gemm_kernel_best(), M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc);
}
