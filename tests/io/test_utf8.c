/* The one UTF-8 decoder (against the Unicode standard's table 3-7), the
 * encoder, and the quoting of bytes for messages. */
#include <string.h>

#include "io/utf8.h"
#include "tests/support.h"

static size_t seq(const char *bytes, size_t n) { return utf8_seq_len((const unsigned char *)bytes, n); }

START_TEST(utf8_seq_len_follows_table_3_7) {
    ck_assert_uint_eq(seq("A", 1), 1);
    ck_assert_uint_eq(seq("\x7F", 1), 1);
    ck_assert_uint_eq(seq("\x80", 1), 0);             /* a lone continuation byte */
    ck_assert_uint_eq(seq("\xC1\xBF", 2), 0);         /* overlong two-byte form */
    ck_assert_uint_eq(seq("\xC2\x80", 2), 2);         /* U+0080 */
    ck_assert_uint_eq(seq("\xDF\xBF", 2), 2);         /* U+07FF */
    ck_assert_uint_eq(seq("\xE0\x9F\xBF", 3), 0);     /* overlong three-byte form */
    ck_assert_uint_eq(seq("\xE0\xA0\x80", 3), 3);     /* U+0800 */
    ck_assert_uint_eq(seq("\xED\x9F\xBF", 3), 3);     /* U+D7FF */
    ck_assert_uint_eq(seq("\xED\xA0\x80", 3), 0);     /* U+D800, a surrogate */
    ck_assert_uint_eq(seq("\xEE\x80\x80", 3), 3);     /* U+E000 */
    ck_assert_uint_eq(seq("\xF0\x8F\xBF\xBF", 4), 0); /* overlong four-byte form */
    ck_assert_uint_eq(seq("\xF0\x90\x80\x80", 4), 4); /* U+10000 */
    ck_assert_uint_eq(seq("\xF4\x8F\xBF\xBF", 4), 4); /* U+10FFFF */
    ck_assert_uint_eq(seq("\xF4\x90\x80\x80", 4), 0); /* past U+10FFFF */
    ck_assert_uint_eq(seq("\xF5\x80\x80\x80", 4), 0);
    ck_assert_uint_eq(seq("\xE2\x82\xAC", 2), 0); /* cut short by the end of the input */
    ck_assert_uint_eq(seq("\xE2\x28\xAC", 3), 0); /* a second byte that does not continue */
    ck_assert_uint_eq(seq("\xE2\x82\x28", 3), 0); /* a third byte that does not continue */
    ck_assert_uint_eq(utf8_valid_len("ab\xC3", 3), 2);
    ck_assert_uint_eq(utf8_valid_len("a\xE2\x82\xAC"
                                     "b\xFF"
                                     "c",
                                     7),
                      5);
}
END_TEST

START_TEST(utf8_encode_gives_what_the_decoder_accepts) {
    static const struct {
        unsigned cp;
        const char *bytes;
    } cases[] = {{0x41, "A"},
                 {0x7F, "\x7F"},
                 {0x80, "\xC2\x80"},
                 {0x7FF, "\xDF\xBF"},
                 {0x800, "\xE0\xA0\x80"},
                 {0x20AC, "\xE2\x82\xAC"},
                 {0xD7FF, "\xED\x9F\xBF"},
                 {0xE000, "\xEE\x80\x80"},
                 {0xFFFF, "\xEF\xBF\xBF"},
                 {0x10000, "\xF0\x90\x80\x80"},
                 {0x1F600, "\xF0\x9F\x98\x80"},
                 {0x10FFFF, "\xF4\x8F\xBF\xBF"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[4];
        size_t n = utf8_encode(cases[i].cp, out);
        ck_assert_uint_eq(n, strlen(cases[i].bytes));
        ck_assert_msg(memcmp(out, cases[i].bytes, n) == 0, "U+%04X", cases[i].cp);
        ck_assert_uint_eq(utf8_seq_len(out, n), n);
    }
}
END_TEST

START_TEST(utf8_quote_is_printable_and_cut_between_characters) {
    ck_assert_str_eq(utf8_quote("ab\ncd", 5, 15).s, "ab\\x0Acd");
    ck_assert_str_eq(utf8_quote("0123456789abcdefghij", 20, 15).s, "0123456789ab...");
    ck_assert_str_eq(utf8_quote("\x7F\xFFz\xC3\xA9", 5, 60).s, "\\x7F\\xFFz\xC3\xA9"); /* DEL, a bad byte, é */
    /* a multi-byte character is kept whole or dropped whole */
    const char *e = "0123456789\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";
    ck_assert_str_eq(utf8_quote(e, strlen(e), 15).s, "0123456789...");
    Utf8Quote q = utf8_quote(e, strlen(e), 16);
    ck_assert_str_eq(q.s, "0123456789\xE2\x82\xAC...");
    ck_assert_uint_eq(utf8_valid_len(q.s, strlen(q.s)), strlen(q.s));
    /* the width is clamped to [4, UTF8_QUOTE_MAX] */
    char big[400];
    memset(big, 'x', sizeof big);
    ck_assert_uint_eq(strlen(utf8_quote(big, sizeof big, 1000).s), UTF8_QUOTE_MAX);
    ck_assert_str_eq(utf8_quote(big, sizeof big, 0).s, "x...");
    /* two quotes in one expression have their own storage */
    char both[2 * UTF8_QUOTE_MAX + 2];
    snprintf(both, sizeof both, "%s %s", utf8_quote("one", 3, 60).s, utf8_quote("two", 3, 60).s);
    ck_assert_str_eq(both, "one two");
}
END_TEST

static Suite *utf8_suite(void) {
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, utf8_seq_len_follows_table_3_7);
    tcase_add_test(tc, utf8_encode_gives_what_the_decoder_accepts);
    tcase_add_test(tc, utf8_quote_is_printable_and_cut_between_characters);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(utf8_suite)
