/* SHA-256 against the published test vectors (FIPS 180-4 examples, NIST's
 * one-million-'a' message), fed whole and in pieces of every size across a
 * block boundary. */
#include <string.h>

#include "models/sasrec/io/sha256.h"
#include "tests/support.h"

START_TEST(sha256_known_vectors) {
    ck_assert_str_eq(sha256_of("", 0).s, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_str_eq(sha256_of("abc", 3).s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: padding spills */
    ck_assert_str_eq(sha256_of(two, strlen(two)).s,
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                       "mnopqrstnopqrstu";
    ck_assert_str_eq(sha256_of(four, strlen(four)).s,
                     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}
END_TEST

START_TEST(sha256_million_a_in_uneven_pieces) {
    char a[1000];
    memset(a, 'a', sizeof a);
    Sha256 h = sha256_new();
    size_t left = 1000000, piece = 1;
    while (left) { /* pieces of 1, 2, ..., 999 bytes, so every offset within a block is crossed */
        size_t n = piece < left ? piece : left;
        sha256_update(&h, a, n);
        left -= n;
        piece = piece % 999 + 1;
    }
    ck_assert_str_eq(sha256_hex(&h).s, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(sha256_pieces_equal_whole) {
    unsigned char buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 300; n += 7) {
        Sha256Hex whole = sha256_of(buf, n);
        for (size_t cut = 0; cut <= n; cut += 13) {
            Sha256 h = sha256_new();
            sha256_update(&h, buf, cut);
            sha256_update(&h, buf + cut, n - cut);
            ck_assert_str_eq(sha256_hex(&h).s, whole.s);
        }
    }
    ck_assert_str_ne(sha256_of(buf, 64).s, sha256_of(buf, 65).s);
}
END_TEST

static Suite *sha256_suite(void) {
    Suite *s = suite_create("sha256");
    TCase *tc = tcase_create("sha256");
    tcase_add_test(tc, sha256_known_vectors);
    tcase_add_test(tc, sha256_million_a_in_uneven_pieces);
    tcase_add_test(tc, sha256_pieces_equal_whole);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(sha256_suite)
