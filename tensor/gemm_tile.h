/* The gemm micro-kernel, written once and compiled once per instruction set.
 *
 * Not a normal header: tensor/gemm_kernel.c includes it several times, each
 * time under a different `#pragma GCC target` and with these macros set:
 *   TILE_BYTES    bytes in one vector register (64, 32, 16)
 *   TILE_MR       rows of C in a tile, a multiple of 3
 *   TILE_NV       vectors per tile row, even: a tile is TILE_MR x TILE_NV*lanes
 * and the full names of what it defines, so that each is a real name that
 * grep, ctags and a profile agree on (gemm_tile_avx512, gemm_pack_b_avx2):
 *   TILE_VEC        the vector type
 *   TILE_BODY       the tile, always inlined into the named tiles that
 *                   gemm_kernel.c writes out (gemm_tile_r3_c2_rows_avx512, ...:
 *                   1/3, 2/3 and all of TILE_MR rows by half or all of the
 *                   columns, so that the short last row and column of tiles do
 *                   not pay for a whole tile)
 *   TILE_PACK_A, TILE_PACK_B  lay operands out as the tiles read them
 *   TILE_TRANSPOSE  pack_b's register transpose
 *   TILE_TRANSPOSE_COPY  a whole matrix transposed through it
 * It undefines them all at its end, ready for the next instruction set.
 *
 * A tile keeps rows x nv accumulators in registers. For each k it loads one
 * row of B (nv vectors), broadcasts `rows` values of A and does rows x nv
 * multiply-adds, which the compiler contracts to FMA (-ffp-contract=fast)
 * where the target has it. Every element of C is summed over k in increasing
 * order from zero, then stored or added to C, so its value does not depend
 * on which tile, thread or edge computed it. */

#define TILE_LANES (TILE_BYTES / (int)sizeof(real))
#define TILE_NR    (TILE_NV * TILE_LANES)

typedef real TILE_VEC __attribute__((vector_size(TILE_BYTES)));

/* C (m, n) (+)= A (rows, kc) B (kc, nv*lanes), m <= rows, n <= nv*lanes, with
 * A(r, k) = A[r*a_rs + k*a_cs] readable for all `rows` rows and B(k, j) =
 * B[k*b_rs + j] readable for all nv*lanes columns (edge tiles come from
 * zero-padded packed panels, so nothing past the operands is read). Always
 * inlined into the functions below, where rows, nv and one stride of A are
 * constants. */
static inline __attribute__((always_inline)) void TILE_BODY(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs,
                                                         const real *B, int64_t b_rs, real *C, int64_t ldc, int m,
                                                         int n, int add, const int rows, const int nv) {
    typedef TILE_VEC vec;
    vec acc[TILE_MR][TILE_NV];
#pragma GCC unroll 32
    for (int r = 0; r < rows; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[r][v] = (vec){0};
        /* C's rows are written after the k loop: fetch them now so that the stores do not wait on memory */
        if (r < m) {
            __builtin_prefetch(C + r * ldc, 1);
            __builtin_prefetch(C + r * ldc + n - 1, 1);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        vec b[TILE_NV];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) memcpy(&b[v], B + k * b_rs + v * TILE_LANES, sizeof(vec));
#pragma GCC unroll 32
        for (int r = 0; r < rows; r++) {
            real a = A[r * a_rs + k * a_cs];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) acc[r][v] += a * b[v];
        }
    }
    /* Rows past m and columns past n were computed from zero padding but are
     * not written; a vector that straddles n is written element by element. */
#pragma GCC unroll 32
    for (int r = 0; r < rows; r++) {
        if (r >= m) break;
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            real *c = C + r * ldc + v * TILE_LANES;
            int cols = n - v * TILE_LANES;
            if (cols >= TILE_LANES) {
                vec out = acc[r][v];
                if (add) {
                    vec old;
                    memcpy(&old, c, sizeof old);
                    out = old + out;
                }
                memcpy(c, &out, sizeof out);
            } else {
                vec out = acc[r][v];
                real part[TILE_LANES];
                memcpy(part, &out, sizeof part);
                for (int j = 0; j < cols; j++) c[j] = add ? c[j] + part[j] : part[j];
            }
        }
    }
}

/* Packs A (m, kc), m <= TILE_MR, into out (kc, TILE_MR): out[k*TILE_MR + r] =
 * A(r, k), zero for r >= m. */
static void TILE_PACK_A(int64_t kc, int m, const real *A, int64_t a_rs, int64_t a_cs, real *out) {
    for (int64_t k = 0; k < kc; k++, out += TILE_MR) {
        const real *a = A + k * a_cs;
        int r = 0;
        if (a_rs == 1)
            for (; r < m; r++) out[r] = a[r];
        else
            for (; r < m; r++) out[r] = a[r * a_rs];
        for (; r < TILE_MR; r++) out[r] = 0;
    }
}

#ifndef __clang__ /* clang has no __builtin_shuffle; pack_b then moves elements one by one */
#ifndef GEMM_LANE_INT /* once for every instruction set: an integer of a real's size, for lane indices and masks */
#define GEMM_LANE_INT
#ifdef NN_DOUBLE
typedef int64_t gemm_lane_int;
#else
typedef int32_t gemm_lane_int;
#endif
#endif
/* Transposes the TILE_LANES x TILE_LANES block whose rows are x[0..]: in
 * log2(lanes) stages, each swapping the off-diagonal s x s blocks of every
 * 2s x 2s block (element (i, l) with bit s clear in i and set in l trades
 * places with (i + s, l - s)). */
static inline __attribute__((always_inline)) void TILE_TRANSPOSE(TILE_VEC *x) {
    typedef TILE_VEC vec;
    typedef gemm_lane_int index __attribute__((vector_size(TILE_BYTES)));
    static const gemm_lane_int lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    index iota;
    memcpy(&iota, lanes, sizeof iota);
#pragma GCC unroll 8
    for (int s = 1; s < TILE_LANES; s *= 2) {
        /* lane l of the new rows i and i+s, as indices into (x[i], x[i+s]) */
        index swap = (iota & s) != 0; /* -1 where bit s is set */
        index lo = iota + (swap & (TILE_LANES - s)), hi = iota + s + (swap & (TILE_LANES - s));
#pragma GCC unroll 16
        for (int i = 0; i < TILE_LANES; i++) {
            if (i & s) continue;
            vec a = x[i], b = x[i + s];
            x[i] = __builtin_shuffle(a, b, lo);
            x[i + s] = __builtin_shuffle(a, b, hi);
        }
    }
}

/* Lanes [cols, lanes) of the TILE_LANES vectors x set to +0 (a bit mask: a
 * product by 0 would keep NaN and give -0). */
static inline __attribute__((always_inline)) void TILE_KEEP_LANES(TILE_VEC *x, int cols) {
    typedef gemm_lane_int index __attribute__((vector_size(TILE_BYTES)));
    index keep;
    for (int l = 0; l < TILE_LANES; l++) keep[l] = l < cols ? -1 : 0;
#pragma GCC unroll 16
    for (int i = 0; i < TILE_LANES; i++) x[i] = (TILE_VEC)((index)x[i] & keep);
}

#endif

/* Packs B (kc, nc) into panels of TILE_NR columns, each (kc, TILE_NR)
 * row-major and zero-padded past nc: panel p starts at out + p*kc*TILE_NR.
 * Panels before `from` (a multiple of TILE_NR) are skipped. A transposed B
 * (b_rs == 1, the usual x w^T and q k^T) is moved in square blocks through
 * registers: element by element it would cost as much as a small product. */
static void TILE_PACK_B(int64_t kc, int64_t nc, int64_t from, const real *B, int64_t b_rs, int64_t b_cs,
                              real *out) {
    for (int64_t j0 = from; j0 < nc; j0 += TILE_NR) {
        int n = nc - j0 < TILE_NR ? (int)(nc - j0) : TILE_NR;
        int width = n <= TILE_NR / 2 ? TILE_NR / 2 : TILE_NR; /* the columns its tile reads: the rest stay unwritten */
        const real *b = B + j0 * b_cs;
        real *o = out + j0 * kc;
        int64_t k = 0;
#ifndef __clang__
        if (b_rs == 1 && b_cs != 1) {
            int blocks = (n + TILE_LANES - 1) / TILE_LANES; /* blocks of columns, the last one maybe short */
            for (; k + TILE_LANES <= kc; k += TILE_LANES) {
                for (int q = 0; q < blocks; q++) {
                    int cols = n - q * TILE_LANES; /* a short block reads its last column again, then zeroes past it */
                    TILE_VEC x[TILE_LANES];
                    const real *bq = b + q * TILE_LANES * b_cs + k;
                    if (cols >= TILE_LANES) {
#pragma GCC unroll 16
                        for (int l = 0; l < TILE_LANES; l++) memcpy(&x[l], bq + l * b_cs, sizeof x[l]);
                        TILE_TRANSPOSE(x);
                    } else {
                        for (int l = 0; l < TILE_LANES; l++) memcpy(&x[l], bq + (l < cols ? l : cols - 1) * b_cs, sizeof x[l]);
                        TILE_TRANSPOSE(x);
                        TILE_KEEP_LANES(x, cols);
                    }
#pragma GCC unroll 16
                    for (int l = 0; l < TILE_LANES; l++)
                        memcpy(o + (k + l) * TILE_NR + q * TILE_LANES, &x[l], sizeof x[l]);
                }
                for (int q = blocks; q < width / TILE_LANES; q++)
                    for (int l = 0; l < TILE_LANES; l++)
                        memcpy(o + (k + l) * TILE_NR + q * TILE_LANES, &(TILE_VEC){0}, sizeof(TILE_VEC));
            }
        }
#endif
        for (; k < kc; k++) {
            const real *bk = b + k * b_rs;
            real *ok = o + k * TILE_NR;
            int j = 0;
            if (b_cs == 1 && n == TILE_NR) {
                memcpy(ok, bk, sizeof(real) * TILE_NR);
                continue;
            }
            if (b_cs == 1)
                for (; j < n; j++) ok[j] = bk[j];
            else
                for (; j < n; j++) ok[j] = bk[j * b_cs];
            for (; j < width; j++) ok[j] = 0;
        }
    }
}

/* dst (cols, rows) = src (rows, cols) transposed: dst[c*ldd + r] = src[r*lds + c], in square blocks
 * through registers where whole blocks fit. */
static void TILE_TRANSPOSE_COPY(int64_t rows, int64_t cols, const real *src, int64_t lds, real *dst, int64_t ldd) {
    int64_t r0 = 0;
#ifndef __clang__
    for (; r0 + TILE_LANES <= rows; r0 += TILE_LANES) {
        int64_t c0 = 0;
        for (; c0 + TILE_LANES <= cols; c0 += TILE_LANES) {
            TILE_VEC x[TILE_LANES];
#pragma GCC unroll 16
            for (int l = 0; l < TILE_LANES; l++) memcpy(&x[l], src + (r0 + l) * lds + c0, sizeof x[l]);
            TILE_TRANSPOSE(x);
#pragma GCC unroll 16
            for (int l = 0; l < TILE_LANES; l++) memcpy(dst + (c0 + l) * ldd + r0, &x[l], sizeof x[l]);
        }
        for (; c0 < cols; c0++)
            for (int l = 0; l < TILE_LANES; l++) dst[c0 * ldd + r0 + l] = src[(r0 + l) * lds + c0];
    }
#endif
    for (; r0 < rows; r0++)
        for (int64_t c = 0; c < cols; c++) dst[c * ldd + r0] = src[r0 * lds + c];
}

#undef TILE_LANES
#undef TILE_NR
#undef TILE_VEC
#undef TILE_BODY
#undef TILE_PACK_A
#undef TILE_PACK_B
#undef TILE_TRANSPOSE
#undef TILE_TRANSPOSE_COPY
#undef TILE_KEEP_LANES
#undef TILE_BYTES
#undef TILE_MR
#undef TILE_NV
