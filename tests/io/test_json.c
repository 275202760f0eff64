/* The JSON parser against valid documents of every kind, a table of invalid
 * ones, truncations at every length, depth bombs, and the string writer. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "io/json.h"
#include "tests/support.h"

/* Parses a copy of exactly len bytes, so that ASan sees any read past the end. */
static JsonDoc *parse_n(const char *s, size_t len, const JsonLimits *lim, NnError *err) {
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    JsonDoc *d = json_parse(copy, len, lim, err);
    free(copy);
    return d;
}

static JsonDoc *parse_ok(const char *s) {
    NnError err = {0};
    JsonDoc *d = parse_n(s, strlen(s), NULL, &err);
    ck_assert_msg(d, "refused %s: %s", s, err.msg);
    return d;
}

START_TEST(json_scalars) {
    JsonDoc *d = parse_ok(" null ");
    ck_assert_int_eq(json_type(json_root(d)), JSON_NULL);
    json_free(d);
    int b = -1;
    d = parse_ok("true");
    ck_assert_int_eq(json_bool(json_root(d), &b), 0);
    ck_assert_int_eq(b, 1);
    json_free(d);
    d = parse_ok("\tfalse\r\n");
    ck_assert_int_eq(json_bool(json_root(d), &b), 0);
    ck_assert_int_eq(b, 0);
    json_free(d);
    d = parse_ok("\"\"");
    size_t n = 99;
    ck_assert_str_eq(json_string(json_root(d), &n), "");
    ck_assert_uint_eq(n, 0);
    json_free(d);
}
END_TEST

START_TEST(json_numbers) {
    static const struct {
        const char *text;
        int is_int;
        int64_t i;
        double d;
    } cases[] = {
        {"0", 1, 0, 0},
        {"-0", 1, 0, -0.0},
        {"7", 1, 7, 7},
        {"-12", 1, -12, -12},
        {"9223372036854775807", 1, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0},
        {"9223372036854775808", 0, 0, 9223372036854775808.0},   /* int64 overflow */
        {"-9223372036854775809", 0, 0, -9223372036854775809.0}, /* int64 overflow */
        {"123456789012345678901234567890", 0, 0, 1.2345678901234568e29},
        {"1.5", 0, 0, 1.5},
        {"-0.25", 0, 0, -0.25},
        {"1e3", 0, 0, 1000},
        {"1E+2", 0, 0, 100},
        {"2.5e-3", 0, 0, 0.0025},
        {"1e-400", 0, 0, 0}, /* underflows to zero: still a number */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        JsonDoc *d = parse_ok(cases[k].text);
        const Json *v = json_root(d);
        ck_assert_int_eq(json_type(v), JSON_NUMBER);
        ck_assert_str_eq(json_number_text(v), cases[k].text);
        int64_t i = 42;
        ck_assert_msg((json_int64(v, &i) == 0) == cases[k].is_int, "%s: int64 accessor", cases[k].text);
        if (cases[k].is_int) ck_assert_msg(i == cases[k].i, "%s read as %lld", cases[k].text, (long long)i);
        double x;
        ck_assert_int_eq(json_double(v, &x), 0);
        ck_assert_msg(x == cases[k].d, "%s read as %.17g", cases[k].text, x);
        json_free(d);
    }
    JsonDoc *d = parse_ok("1e400"); /* valid JSON, but no double holds it */
    double x;
    ck_assert_int_eq(json_double(json_root(d), &x), -1);
    json_free(d);
}
END_TEST

START_TEST(json_strings) {
    static const struct {
        const char *json;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\"plain\"", "plain", 5},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xC3\xA9\xE2\x82\xAC", 6},
        {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4}, /* surrogate pair: U+1F600 */
        {"\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF", 4}, /* U+10FFFF */
        {"\"a\\u0000b\"", "a\0b", 3},                  /* embedded NUL */
        {"\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80",
         15},                    /* raw UTF-8 */
        {"\"\x7F\"", "\x7F", 1}, /* DEL needs no escape */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        JsonDoc *d = parse_ok(cases[k].json);
        size_t n;
        const char *s = json_string(json_root(d), &n);
        ck_assert_msg(s && n == cases[k].len && memcmp(s, cases[k].bytes, n) == 0 && s[n] == '\0', "case %zu: %s", k,
                      cases[k].json);
        json_free(d);
    }
}
END_TEST

START_TEST(json_containers) {
    JsonDoc *d = parse_ok("{\"z\": [1, [], {}, \"x\", null, true], \"a\": {\"b\": {\"c\": -1}}, \"m\": 2.5}");
    const Json *r = json_root(d);
    ck_assert_int_eq(json_type(r), JSON_OBJECT);
    ck_assert_uint_eq(json_count(r), 3);
    /* document order is kept */
    ck_assert_str_eq(json_key_at(r, 0, NULL), "z");
    ck_assert_str_eq(json_key_at(r, 1, NULL), "a");
    ck_assert_str_eq(json_key_at(r, 2, NULL), "m");
    const Json *z = json_get(r, "z");
    ck_assert_ptr_eq(z, json_value_at(r, 0));
    ck_assert_uint_eq(json_count(z), 6);
    ck_assert_int_eq(json_type(json_at(z, 1)), JSON_ARRAY);
    ck_assert_uint_eq(json_count(json_at(z, 1)), 0);
    ck_assert_int_eq(json_type(json_at(z, 2)), JSON_OBJECT);
    ck_assert_str_eq(json_string(json_at(z, 3), NULL), "x");
    ck_assert_ptr_null(json_at(z, 6));
    int64_t c;
    ck_assert_int_eq(json_int64(json_get(json_get(json_get(r, "a"), "b"), "c"), &c), 0);
    ck_assert_int_eq(c, -1);
    /* the wrong type or a missing key answers NULL / -1 instead of aborting */
    ck_assert_ptr_null(json_get(r, "missing"));
    ck_assert_ptr_null(json_get(z, "z"));
    ck_assert_ptr_null(json_string(z, NULL));
    ck_assert_int_eq(json_int64(json_get(r, "m"), &c), -1);
    ck_assert_ptr_null(json_key_at(z, 0, NULL));
    ck_assert_int_eq(json_type(NULL), JSON_NULL);
    ck_assert_uint_eq(json_offset(json_get(r, "m")),
                      strlen("{\"z\": [1, [], {}, \"x\", null, true], \"a\": {\"b\": {\"c\": -1}}, \"m\": "));
    json_free(d);

    /* Many keys take the sorted duplicate check; all distinct here. */
    char buf[4096];
    size_t o = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 0; i < 100; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(buf + o, sizeof buf - o, "}");
    d = parse_ok(buf);
    ck_assert_uint_eq(json_count(json_root(d)), 100);
    ck_assert_int_eq(json_int64(json_get(json_root(d), "k77"), &c), 0);
    ck_assert_int_eq(c, 77);
    json_free(d);
}
END_TEST

/* Inputs that must be refused, with a word the message must contain. */
static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    const char *msg;
} INVALID[] = {
    {"", 0, "expected a value, found end of input"},
    {"   ", 0, "end of input"},
    {"[1,]", 0, "trailing comma"},
    {"{\"a\":1,}", 0, "trailing comma"},
    {"[1 2]", 0, "expected ',' or ']'"},
    {"{\"a\" 1}", 0, "expected ':'"},
    {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'"},
    {"{1:2}", 0, "string key"},
    {"{'a':1}", 0, "string key"},
    {"['a']", 0, "expected a value"},
    {"[", 0, "end of input"},
    {"[1", 0, "end of input"},
    {"{\"a\":", 0, "end of input"},
    {"]", 0, "expected a value"},
    {"01", 0, "leading zeros"},
    {"-01", 0, "leading zeros"},
    {"00", 0, "leading zeros"},
    {"-", 0, "a digit after '-'"},
    {"+1", 0, "expected a value"},
    {"1.", 0, "after the decimal point"},
    {".5", 0, "expected a value"},
    {"1e", 0, "exponent"},
    {"1e+", 0, "exponent"},
    {"0x10", 0, "end of input after"},
    {"NaN", 0, "expected a value"},
    {"Infinity", 0, "expected a value"},
    {"-Infinity", 0, "a digit after '-'"},
    {"tru", 0, "expected a value"},
    {"nul", 0, "expected a value"},
    {"True", 0, "expected a value"},
    {"truex", 0, "end of input after"},
    {"1 2", 0, "end of input after the top-level value"},
    {"{} {}", 0, "end of input after"},
    {"[] // c", 0, "end of input after"},
    {"/* c */ 1", 0, "expected a value"},
    {"\"abc", 0, "unterminated string"},
    {"\"abc\\", 0, "unterminated string"},
    {"\"a\\x\"", 0, "invalid escape '\\x'"},
    {"\"a\\'\"", 0, "invalid escape"},
    {"\"\\u12\"", 0, "four hex digits"},
    {"\"\\u12", 0, "four hex digits"},
    {"\"\\uZZZZ\"", 0, "four hex digits"},
    {"\"\\ud800\"", 0, "lone high surrogate"},
    {"\"\\ud800\\u0041\"", 0, "lone high surrogate"},
    {"\"\\ud800\\ud800\"", 0, "lone high surrogate"},
    {"\"\\udc00\"", 0, "lone low surrogate"},
    {"\"\\ude00\\ud83d\"", 0, "lone low surrogate"},
    {"\"a\tb\"", 0, "control character 0x09"},
    {"\"a\nb\"", 0, "control character 0x0A"},
    {"\"a\0b\"", 5, "control character 0x00"},
    {"\"\x80\"", 0, "invalid UTF-8"},
    {"\"\xC0\x80\"", 0, "invalid UTF-8"},         /* overlong NUL */
    {"\"\xC1\xBF\"", 0, "invalid UTF-8"},         /* overlong */
    {"\"\xE0\x80\x80\"", 0, "invalid UTF-8"},     /* overlong */
    {"\"\xED\xA0\x80\"", 0, "invalid UTF-8"},     /* encoded surrogate */
    {"\"\xF0\x80\x80\x80\"", 0, "invalid UTF-8"}, /* overlong */
    {"\"\xF4\x90\x80\x80\"", 0, "invalid UTF-8"}, /* past U+10FFFF */
    {"\"\xF5\x80\x80\x80\"", 0, "invalid UTF-8"},
    {"\"\xE2\x82\"", 0, "invalid UTF-8"}, /* truncated sequence */
    {"\"\xFF\"", 0, "invalid UTF-8"},
    {"\xEF\xBB\xBF{}", 0, "expected a value"}, /* a byte order mark */
    {"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\""},
    {"{\"a\\u0000\":1,\"a\\u0000\":2}", 0, "duplicate key"},
    {"[1]\0", 4, "end of input after"},
};

START_TEST(json_invalid_table) {
    for (size_t k = 0; k < sizeof INVALID / sizeof INVALID[0]; k++) {
        size_t len = INVALID[k].len ? INVALID[k].len : strlen(INVALID[k].text);
        NnError err = {0};
        JsonDoc *d = parse_n(INVALID[k].text, len, NULL, &err);
        ck_assert_msg(!d, "case %zu (%s) was accepted", k, INVALID[k].text);
        ck_assert_msg(strstr(err.msg, "JSON at byte ") && strstr(err.msg, INVALID[k].msg),
                      "case %zu (%s): message \"%s\" lacks \"%s\"", k, INVALID[k].text, err.msg, INVALID[k].msg);
    }
}
END_TEST

START_TEST(json_error_offsets) {
    NnError err;
    ck_assert_ptr_null(json_parse("[1, 2,, 3]", 10, NULL, &err));
    ck_assert_msg(strstr(err.msg, "at byte 6: expected a value"), "%s", err.msg);
    ck_assert_ptr_null(json_parse("{\"k\": [true, \"x\x01\"]}", 20, NULL, &err));
    ck_assert_msg(strstr(err.msg, "at byte 15: control character"), "%s", err.msg);
    const char *dup = "{\"ab\": 1, \"ab\": 2}";
    ck_assert_ptr_null(json_parse(dup, strlen(dup), NULL, &err));
    ck_assert_msg(strstr(err.msg, "at byte 10: duplicate key \"ab\" in an object (first at byte 1)"), "%s", err.msg);
}
END_TEST

START_TEST(json_depth_and_size_limits) {
    /* A depth bomb far past the limit: refused at the limit, in linear time. */
    size_t n = 1000000;
    char *bomb = malloc(2 * n);
    memset(bomb, '[', n);
    memset(bomb + n, ']', n);
    NnError err;
    ck_assert_ptr_null(json_parse(bomb, 2 * n, NULL, &err));
    ck_assert_msg(strstr(err.msg, "nesting deeper than 128 levels"), "%s", err.msg);
    /* Exactly at the limit is fine; one more is not. */
    JsonLimits lim = {.max_depth = 10};
    JsonDoc *d = json_parse(bomb + n - 10, 20, &lim, &err);
    ck_assert_msg(d, "%s", err.msg);
    json_free(d);
    ck_assert_ptr_null(json_parse(bomb + n - 11, 22, &lim, &err));
    ck_assert_msg(strstr(err.msg, "at byte 10: nesting deeper than 10 levels"), "%s", err.msg);
    /* Nested objects too. */
    char obj[64] = "";
    for (int i = 0; i < 11; i++) strcat(obj, "{\"a\":");
    ck_assert_ptr_null(json_parse(obj, strlen(obj), &lim, &err));
    ck_assert_msg(strstr(err.msg, "nesting deeper"), "%s", err.msg);
    free(bomb);
    /* The size limit is checked before anything is read. */
    lim = (JsonLimits){.max_bytes = 4};
    ck_assert_ptr_null(json_parse("[1,2]", 5, &lim, &err));
    ck_assert_msg(strstr(err.msg, "5 bytes, more than the limit of 4"), "%s", err.msg);
}
END_TEST

/* A document using every feature, for truncation and corruption runs. */
static const char FULL_DOC[] =
    "{\"name\": \"sasrec \\\"v1\\\"\", \"dims\": [2, 64, -3.5e-2, 0], \"ok\": true, \"no\": false, "
    "\"nil\": null, \"uni\": \"\\u00e9\\ud83d\\ude00\xE2\x82\xAC\", \"nest\": {\"a\": [[], {}]}}";

START_TEST(json_truncated_at_every_length) {
    size_t len = strlen(FULL_DOC);
    JsonDoc *full = parse_ok(FULL_DOC);
    json_free(full);
    for (size_t cut = 0; cut < len; cut++) {
        NnError err = {0};
        JsonDoc *d = parse_n(FULL_DOC, cut, NULL, &err);
        /* every proper prefix of an object is incomplete */
        ck_assert_msg(!d, "prefix of %zu bytes was accepted", cut);
        ck_assert_msg(strstr(err.msg, "JSON at byte "), "prefix %zu: %s", cut, err.msg);
    }
    /* prefixes of a number are numbers: an error or a correct parse */
    const char *num = "-12.5e+3";
    for (size_t cut = 0; cut <= strlen(num); cut++) {
        NnError err;
        JsonDoc *d = parse_n(num, cut, NULL, &err);
        if (d) {
            char want[16];
            memcpy(want, num, cut);
            want[cut] = '\0';
            ck_assert_str_eq(json_number_text(json_root(d)), want);
            json_free(d);
        }
    }
}
END_TEST

START_TEST(json_every_byte_flip) {
    /* Replace each byte by a few others: never a crash, always a parse or a message. */
    size_t len = strlen(FULL_DOC);
    char *buf = malloc(len);
    static const unsigned char subs[] = {0x00, '"', '\\', '{', '}', '[', ']', ',', ':', '0', 'e', 0x80, 0xFF, 0xC3};
    int accepted = 0;
    for (size_t i = 0; i < len; i++)
        for (size_t s = 0; s < sizeof subs; s++) {
            memcpy(buf, FULL_DOC, len);
            buf[i] = (char)subs[s];
            NnError err = {0};
            JsonDoc *d = json_parse(buf, len, NULL, &err);
            if (d) {
                accepted++;
                json_free(d);
            } else {
                ck_assert_msg(strstr(err.msg, "JSON at byte "), "%s", err.msg);
            }
        }
    ck_assert_int_gt(accepted, 0);
    free(buf);
}
END_TEST

static char *write_to_memory(const char *s, size_t len, size_t *out_len, int *rc) {
    char *mem = NULL;
    FILE *f = open_memstream(&mem, out_len);
    NnError err;
    *rc = json_write_string(f, s, len, &err);
    fclose(f);
    return mem;
}

START_TEST(json_write_string_round_trip) {
    /* Every byte 0x01..0x7F plus NUL and multi-byte UTF-8 comes back unchanged. */
    char in[200];
    size_t n = 0;
    for (int c = 0; c < 128; c++) in[n++] = (char)c;
    const char *utf8 = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF";
    memcpy(in + n, utf8, strlen(utf8));
    n += strlen(utf8);
    size_t olen;
    int rc;
    char *out = write_to_memory(in, n, &olen, &rc);
    ck_assert_int_eq(rc, 0);
    JsonDoc *d = parse_ok(out);
    size_t back_len;
    const char *back = json_string(json_root(d), &back_len);
    ck_assert_uint_eq(back_len, n);
    ck_assert(memcmp(back, in, n) == 0);
    json_free(d);
    free(out);

    out = write_to_memory("a\"b\\c\n\x01", 7, &olen, &rc);
    ck_assert_str_eq(out, "\"a\\\"b\\\\c\\n\\u0001\"");
    free(out);

    /* Invalid UTF-8 cannot be written as JSON. */
    NnError err;
    char *mem = NULL;
    FILE *f = open_memstream(&mem, &olen);
    ck_assert_int_eq(json_write_string(f, "ok\xFF", 3, &err), -1);
    ck_assert_msg(strstr(err.msg, "byte 2 (0xFF) is not valid UTF-8"), "%s", err.msg);
    ck_assert_int_eq(json_write_string(f, "\xED\xA0\x80", 3, &err), -1);
    fclose(f);
    free(mem);
}
END_TEST

START_TEST(json_double_ignores_locale) {
    /* strtod follows LC_NUMERIC; JSON's decimal point is '.' whatever the locale. */
    static const char *comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "nl_NL.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof comma_locales / sizeof comma_locales[0] && !set; i++)
        set = setlocale(LC_NUMERIC, comma_locales[i]);
    if (!set) {
        printf("test_json: SKIPPED json_double_ignores_locale: no locale with a decimal comma is installed\n");
        return;
    }
    JsonDoc *d = parse_ok("[1.5, -2.25e1]");
    double x;
    ck_assert_int_eq(json_double(json_at(json_root(d), 0), &x), 0);
    ck_assert(x == 1.5);
    ck_assert_int_eq(json_double(json_at(json_root(d), 1), &x), 0);
    ck_assert(x == -22.5);
    json_free(d);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

static Suite *json_suite(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, json_scalars);
    tcase_add_test(tc, json_numbers);
    tcase_add_test(tc, json_strings);
    tcase_add_test(tc, json_containers);
    tcase_add_test(tc, json_invalid_table);
    tcase_add_test(tc, json_error_offsets);
    tcase_add_test(tc, json_depth_and_size_limits);
    tcase_add_test(tc, json_truncated_at_every_length);
    tcase_add_test(tc, json_every_byte_flip);
    tcase_add_test(tc, json_write_string_round_trip);
    tcase_add_test(tc, json_double_ignores_locale);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(json_suite)
