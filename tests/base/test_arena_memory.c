/* What an arena holds resident: a step larger than the ones before it, which
 * outgrows the block they left, must not keep that block's unused tail
 * resident beside its new block (the sampled losses' peak memory, issue 22,
 * case 4: an extra (T x K) matrix). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "tests/support.h"

/* Resident bytes of this process (/proc/self/statm), or -1. */
static double resident(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, rss;
    int ok = f && fscanf(f, "%llu %llu", &size, &rss) == 2;
    if (f) fclose(f);
    return ok ? (double)rss * (double)sysconf(_SC_PAGESIZE) : -1;
}

#define MIB ((size_t)1 << 20)

START_TEST(an_outgrown_block_gives_back_its_unused_tail) {
    if (resident() < 0 || test_quick()) return; /* no /proc, or under valgrind: nothing to measure */
    Arena *a = arena_new(64 * MIB);
    memset(arena_alloc(a, 64 * MIB - 64), 1, 64 * MIB - 64); /* a first step fills the block: resident */
    arena_reset(a);                                           /* one block: kept, with its pages */
    double before = resident();
    memset(arena_alloc(a, 8 * MIB), 2, 8 * MIB);   /* a larger step: 8 MiB in the old block ... */
    memset(arena_alloc(a, 60 * MIB), 3, 60 * MIB); /* ... then 60 MiB that do not fit: a new block */
    double grown = (resident() - before) / (double)MIB;
    arena_free(a);
    /* the new block's 60 MiB less the old block's 56 unused: a few MiB, not 60 */
    ck_assert_msg(grown < 30, "the step grew the resident set by %.0f MiB: the old block's unused 56 MiB stayed", grown);
}
END_TEST

static Suite *arena_suite(void) {
    Suite *s = suite_create("arena_memory");
    TCase *tc = tcase_create("arena_memory");
    tcase_add_test(tc, an_outgrown_block_gives_back_its_unused_tail);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(arena_suite)
