/* safetensors, hostile files: every truncation and every bit flip of a valid
 * file, a table of malformed headers, header length checks and read errors.
 * Each is refused with a message or parses into something that loads; none
 * crashes or reads past the end (ASan). */
#include <math.h>

#include "tests/io/st_support.h"

/* ---- hostile input ---- */

/* A valid file of more than 300 bytes written by our writer. */
static unsigned char *sample_file(const TmpDir *td, size_t *len) {
    char path[1024];
    tmp_path(td, "sample.safetensors", path, sizeof path);
    Tensor *a = test_randn(10, NN_SHAPE(2, 3)), *b = test_randn(11, NN_SHAPE(4)), *c = tensor_full(0, NULL, 1);
    Tensor *d = test_randn(12, NN_SHAPE(2, 2, 2, 2));
    const char *names[] = {"encoder.weight", "encoder.bias", "step", "block.0.attn"};
    const Tensor *ts[] = {a, b, c, d};
    const char *k[] = {"format", "epoch"}, *v[] = {"pt", "3"};
    NnError err;
    ck_assert_msg(safetensors_write(path, 4, names, ts, 2, k, v, &err) == 0, "%s", err.msg);
    tensor_free(a);
    tensor_free(b);
    tensor_free(c);
    tensor_free(d);
    unsigned char *buf = read_all(path, len);
    ck_assert_uint_ge(*len, 300);
    return buf;
}

START_TEST(st_truncated_at_every_length) {
    TmpDir td;
    tmp_make(&td);
    size_t len;
    unsigned char *file = sample_file(&td, &len);
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    load_all(st);
    safetensors_free(st);
    for (size_t cut = 0; cut < len; cut++) {
        err.msg[0] = '\0';
        st = parse_n(file, cut, &err);
        ck_assert_msg(!st, "a file cut to %zu of %zu bytes was accepted", cut, len);
        ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strlen(err.msg) > 30, "cut %zu: '%s'", cut,
                      err.msg);
    }
    /* Through the file reader too: the message names the path. */
    char path[1024];
    tmp_path(&td, "cut.safetensors", path, sizeof path);
    size_t cuts[] = {0, 5, 8, 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(path, file, cuts[i]);
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg, path) == err.msg, "%s", err.msg);
    }
    free(file);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_every_bit_flip) {
    TmpDir td;
    tmp_make(&td);
    size_t len;
    unsigned char *file = sample_file(&td, &len);
    unsigned char *buf = malloc(len);
    int accepted = 0, refused = 0;
    for (size_t i = 0; i < 300; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, file, len);
            buf[i] ^= (unsigned char)(1u << bit);
            NnError err = {0};
            SafeTensors *st = parse_n(buf, len, &err);
            if (st) {
                accepted++;
                load_all(st);
                safetensors_free(st);
            } else {
                refused++;
                ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strlen(err.msg) > 30,
                              "byte %zu bit %d: '%s'", i, bit, err.msg);
            }
        }
    /* Flips inside names, metadata values and padding keep a valid file. */
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(refused, 0);
    free(buf);
    free(file);
    tmp_remove(&td);
}
END_TEST

#define F32_2 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"

static const struct {
    const char *header;
    size_t data_len;
    const char *msg;
} MALFORMED[] = {
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[4,12]}}", 12,
     "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap"},
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[0,8]}}", 8, "overlap"},
    {"{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[12,20]}}", 20,
     "4 bytes of the data section belong to no tensor: a gap between 'a' (ends at 8) and 'b' (begins at 12)"},
    {"{\"a\":" F32_2 "[4,12]}}", 12, "the first tensor 'a' begins at 4, not 0"},
    {"{\"a\":" F32_2 "[0,8]}}", 12, "the data section is 12 bytes, but the tensors end at 8"},
    {"{}", 4, "the data section is 4 bytes, but the tensors end at 0"},
    {"{\"a\":" F32_2 "[0,8]}}", 4, "tensor 'a': data_offsets [0, 8] go past the end of the data section (4 bytes"},
    {"{\"a\":" F32_2 "[8,16]}}", 8, "go past the end"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': data_offsets [0, 8] hold 8 bytes, but shape [2, 3] of F32 needs 24"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "shape [] of F64 needs 8"},
    {"{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a': unknown dtype 'F8' (known: BOOL"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'f32'"},
    {"{\"a\":{\"dtype\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is 1, expected a string"},
    {"{\"a\":" F32_2 "[0,8]},\"a\":" F32_2 "[8,16]}}", 16, "duplicate key \"a\""},
    {"{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ value of key 'epoch' is 3, expected a string"},
    {"{\"__metadata__\":{\"a\":\"x\",\"b\":null}}", 0, "value of key 'b' is a JSON null"},
    {"{\"__metadata__\":\"x\"}", 0, "__metadata__ is a JSON string, expected an object of string values"},
    {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "contains a NUL character"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, "tensor 'a': missing key 'data_offsets'"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing key 'dtype'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unexpected key 'extra'"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\\u0000\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "unexpected key 'dtype\\x00'"},
    {"{\"a\":5}", 0, "tensor 'a': entry is 5, expected an object"},
    {"{\"a\":[]}", 0, "entry is a JSON array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
     "shape element 0 is -2, expected a non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape element 0 is 2.0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "shape element 0 is 1e0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape element 0 is a JSON string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape is a JSON string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     "shape [4294967296, 4294967296] of F32 is larger than 2^63 bytes"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775807,9223372036854775807],\"data_offsets\":[0,0]}}", 0,
     "larger than 2^63 bytes"},
    {"{\"a\":" F32_2 "[0]}}", 8, "data_offsets must be two non-negative integers"},
    {"{\"a\":" F32_2 "[0,8,8]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[-8,0]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[0,99999999999999999999]}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "{\"b\":0,\"e\":8}}}", 8, "data_offsets must be two"},
    {"{\"a\":" F32_2 "[8,0]}}", 8, "tensor 'a': data_offsets [8, 0] end before they begin"},
    {"{\"\":" F32_2 "[0,8]}}", 8, "a tensor has an empty name"},
    {"{\"a\\u0000b\":" F32_2 "[0,8]}}", 8, "tensor 'a\\x00b': the name contains a NUL character"},
    {"{\"a\":" F32_2 "[0,8]}", 8,
     "header: JSON at byte 53: expected ',' or '}' after an object member, found end of input"},
    {"{\"a\":" F32_2 "[0,8]}},", 8, "header: JSON at byte 54: expected the end of input"},
    {"{\"a\\xff\":1}", 0, "header: JSON at byte 3: invalid escape"},
    {" {}", 0, "the header must be a JSON object beginning with '{', found byte 0x20"},
    {"[]", 0, "beginning with '{', found byte 0x5B"},
    {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}", 0, "nesting deeper than 8 levels"},
    {"", 0, "the header is empty"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
     "1,"
     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
     1, "shape has 65 dims, at most 64 are supported"},
};

START_TEST(st_malformed_headers) {
    for (size_t k = 0; k < sizeof MALFORMED / sizeof MALFORMED[0]; k++) {
        size_t len;
        unsigned char *file = make_file(MALFORMED[k].header, NULL, MALFORMED[k].data_len, &len);
        NnError err = {0};
        SafeTensors *st = parse_n(file, len, &err);
        ck_assert_msg(!st, "case %zu accepted: %s", k, MALFORMED[k].header);
        ck_assert_msg(strncmp(err.msg, "safetensors data: ", 18) == 0 && strstr(err.msg, MALFORMED[k].msg),
                      "case %zu: message \"%s\" lacks \"%s\"", k, err.msg, MALFORMED[k].msg);
        free(file);
    }
}
END_TEST

START_TEST(st_header_length_checks) {
    NnError err;
    ck_assert_ptr_null(parse_n((const unsigned char *)"\x02\0\0\0", 4, &err));
    ck_assert_msg(strstr(err.msg, "safetensors data: 4 bytes, too short for a safetensors file"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_parse(NULL, 0, &err));
    ck_assert_msg(strstr(err.msg, "0 bytes, too short"), "%s", err.msg);

    size_t len;
    unsigned char *file = make_file("{}", NULL, 0, &len);
    file[0] = 0xE8, file[1] = 0x03; /* N = 1000 in a 10-byte file */
    ck_assert_ptr_null(parse_n(file, len, &err));
    ck_assert_msg(strstr(err.msg, "header length 1000 is more than the 2 bytes that follow it"), "%s", err.msg);
    memset(file, 0xFF, 8); /* N = 2^64 - 1: no overflow in the check */
    ck_assert_ptr_null(parse_n(file, len, &err));
    ck_assert_msg(strstr(err.msg, "header length 18446744073709551615 is more than"), "%s", err.msg);
    free(file);

    /* A valid header padded with spaces, and an N that stops inside the padding. */
    file = make_file("{\"a\":" F32_2 "[0,8]}}      ", NULL, 8, &len);
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    safetensors_free(st);
    free(file);
}
END_TEST

START_TEST(st_read_errors) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    NnError err;
    tmp_path(&td, "missing.safetensors", path, sizeof path);
    ck_assert_ptr_null(safetensors_read(path, &err));
    ck_assert_msg(strstr(err.msg, "missing.safetensors: cannot open: No such file or directory"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_read(td.dir, &err));
    ck_assert_msg(strstr(err.msg, "not a regular file") || strstr(err.msg, "cannot open"), "%s", err.msg);
    /* A large file of another kind is refused from its first 8 bytes. */
    tmp_path(&td, "text.safetensors", path, sizeof path);
    write_all(path, "hello world, not a tensor file", 30);
    ck_assert_ptr_null(safetensors_read(path, &err));
    ck_assert_msg(strstr(err.msg, "text.safetensors: header length") && strstr(err.msg, "is more than"), "%s", err.msg);
    /* Saving into a folder that does not exist names the path and the OS error. */
    tmp_path(&td, "no/such/dir/x.safetensors", path, sizeof path);
    ck_assert_int_eq(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "x.safetensors: cannot create a temporary file beside it") &&
                      strstr(err.msg, "No such file or directory"),
                  "%s", err.msg);
    tmp_remove(&td);
}
END_TEST

static Suite *safetensors_hostile_suite(void) {
    Suite *s = suite_create("safetensors_hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_test(tc, st_truncated_at_every_length);
    tcase_add_test(tc, st_every_bit_flip);
    tcase_add_test(tc, st_malformed_headers);
    tcase_add_test(tc, st_header_length_checks);
    tcase_add_test(tc, st_read_errors);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(safetensors_hostile_suite)
