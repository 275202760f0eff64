/* safetensors, the format: bit-exact round trips, metadata and escaped names,
 * the reference library's files, loading into tensors, dtype decoding, size
 * limits, and the writer's refusals of programmer misuse. Hostile files are
 * in test_safetensors_hostile.c, atomic saves in test_atomic_file.c. */
#include <float.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>

#include "tests/io/st_support.h"

/* ---- round trips ---- */

START_TEST(st_round_trip_bit_exact) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "model.safetensors", path, sizeof path);

    static const uint32_t special[] = {
        0x7FC12345,             /* quiet NaN with a payload */
        0xFFC00001,             /* negative NaN with a payload */
        0x7F800001,             /* signalling NaN */
        0x80000000,             /* -0.0 */
        0x00000001,             /* smallest denormal */
        0x807FFFFF,             /* largest negative denormal */
        0x7F800000, 0xFF800000, /* +-inf */
        0x7F7FFFFF, 0x00800000, /* FLT_MAX, FLT_MIN */
        0x3F800000, 0xC0200000, /* 1, -2.5 */
    };
    Tensor *sp = tensor_zeros(NN_SHAPE(3, 4));
    for (int i = 0; i < 12; i++) sp->data[i] = real_of_bits(special[i]);
    Tensor *scalar = tensor_full(0, NULL, (real)3.25);
    Tensor *empty = tensor_zeros(NN_SHAPE(0, 3));
    Tensor *base = test_randn(1, NN_SHAPE(3, 5));
    Tensor transposed = tensor_transpose(base, 0, 1); /* non-contiguous: written in row-major order of the view */
    Tensor *row = test_randn(2, NN_SHAPE(1, 4));
    Tensor expanded = tensor_expand(row, NN_SHAPE(3, 4)); /* stride 0 */
    Tensor *big = test_randn(3, NN_SHAPE(17, 33, 2));
    const char *names[] = {"special", "scalar", "empty", "transposed", "expanded", "big"};
    const Tensor *ts[] = {sp, scalar, empty, &transposed, &expanded, big};
    NnError err;
    ck_assert_msg(safetensors_write(path, 6, names, ts, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);

    /* The data section begins at a multiple of 8, after a header padded with spaces. */
    size_t len;
    unsigned char *raw = read_all(path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | raw[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    size_t last = 8 + n - 1;
    while (raw[last] == ' ') last--;
    ck_assert_int_eq(raw[last], '}');
    free(raw);

    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 6);
    ck_assert_int_eq(safetensors_meta_count(st), 0);
    for (int i = 0; i < 6; i++) {
        /* header order is the order given */
        ck_assert_str_eq(safetensors_name(st, i), names[i]);
        ck_assert_int_eq(safetensors_find(st, names[i]), i);
        ck_assert_int_eq(safetensors_dtype(st, i), ST_F32);
        const int64_t *shape;
        int nd = safetensors_shape(st, i, &shape);
        ck_assert(shape_equal(nd, shape, ts[i]->ndim, ts[i]->shape));
        Tensor *want = tensor_clone(ts[i]);
        Tensor *got = tensor_full(nd, shape, (real)-7);
        ck_assert_msg(safetensors_load_into(st, names[i], got, &err) == 0, "%s", err.msg);
        int64_t k = 0;
        while (k < want->numel && bits_of(got->data[k]) == bits_of(want->data[k])) k++;
        ck_assert_msg(k == want->numel, "%s[%lld]: bits %08x, wrote %08x", names[i], (long long)k,
                      bits_of(got->data[k]), bits_of(want->data[k]));
        Tensor *alloc = safetensors_load(st, names[i], &err);
        ck_assert_msg(alloc, "%s", err.msg);
        ck_assert(memcmp(alloc->data, got->data, (size_t)got->numel * sizeof(real)) == 0);
        tensor_free(alloc);
        tensor_free(want);
        tensor_free(got);
    }
    ck_assert_int_eq(safetensors_find(st, "nope"), -1);
    safetensors_free(st);
    tensor_free(sp);
    tensor_free(scalar);
    tensor_free(empty);
    tensor_free(base);
    tensor_free(row);
    tensor_free(big);
    tmp_remove(&td);
}
END_TEST

START_TEST(st_metadata_and_escaped_names) {
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    tmp_path(&td, "m.safetensors", path, sizeof path);
    const char *names[] = {
        "a\"quote", "back\\slash", "tab\there",  "nl\nx", "\001ctl\037", "\xC3\xBCn\xC3\xAF\xC2\xA9 \xF0\x9F\x98\x80",
        "a/b.c[0]", " ",           "__metadata", "\x7F"};
    enum { N = sizeof names / sizeof names[0] };
    const Tensor *ts[N];
    Tensor *owned[N];
    for (int i = 0; i < N; i++) ts[i] = owned[i] = tensor_full(NN_SHAPE(i + 1), (real)i);
    const char *keys[] = {"format", "epoch", "note \"q\"", "", "\xE2\x82\xAC"};
    const char *values[] = {"pt", "3", "line1\nline2\t\\", "empty key", ""};
    NnError err;
    ck_assert_msg(safetensors_write(path, N, names, ts, 5, keys, values, &err) == 0, "%s", err.msg);
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), N);
    for (int i = 0; i < N; i++) {
        int k = safetensors_find(st, names[i]);
        ck_assert_int_eq(k, i);
        ck_assert_str_eq(safetensors_name(st, k), names[i]);
        Tensor *t = safetensors_load(st, names[i], &err);
        ck_assert_msg(t, "%s", err.msg);
        ck_assert_int_eq(t->numel, i + 1);
        ck_assert(t->data[i] == (real)i);
        tensor_free(t);
    }
    ck_assert_int_eq(safetensors_meta_count(st), 5);
    for (int i = 0; i < 5; i++) {
        const char *k, *v;
        safetensors_meta_at(st, i, &k, &v);
        ck_assert_str_eq(k, keys[i]);
        ck_assert_str_eq(v, values[i]);
        ck_assert_str_eq(safetensors_meta(st, keys[i]), values[i]);
    }
    ck_assert_ptr_null(safetensors_meta(st, "missing"));
    safetensors_free(st);

    /* No tensors at all, with and without metadata. */
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 1, keys, values, &err) == 0, "%s", err.msg);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 0);
    ck_assert_str_eq(safetensors_meta(st, "format"), "pt");
    safetensors_free(st);
    ck_assert_msg(safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 0);
    safetensors_free(st);

    /* A name that is not UTF-8 cannot go into a JSON header: refused, nothing written. */
    char bad_path[1024];
    tmp_path(&td, "bad.safetensors", bad_path, sizeof bad_path);
    const char *bad[] = {"ok", "bad\xFF"};
    ck_assert_int_eq(safetensors_write(bad_path, 2, bad, ts, 0, NULL, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.safetensors: tensor name 'bad\\xFF' is not valid UTF-8 (byte 3 is 0xFF)"), "%s",
                  err.msg);
    const char *bad_value[] = {"\xC0\x80"};
    ck_assert_int_eq(safetensors_write(bad_path, 1, names, ts, 1, keys, bad_value, &err), -1);
    ck_assert_msg(strstr(err.msg, "metadata value"), "%s", err.msg);
    ck_assert_int_eq(access(bad_path, F_OK), -1);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    test_free_all(N, owned);
    tmp_remove(&td);
}
END_TEST

/* ---- interop with files written by the reference library ---- */

START_TEST(st_reference_files) {
    const char *env = getenv("NN_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/safetensors", env && *env ? env : "../shared/data");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("test_safetensors: SKIPPED st_reference_files: %s not found (set NN_SHARED_DATA to the shared data "
               "folder)\n",
               dir);
        return;
    }
    char path[1100];
    NnError err;
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    SafeTensors *st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 1);
    ck_assert_str_eq(safetensors_name(st, 0), "f");
    ck_assert_int_eq(safetensors_dtype(st, 0), ST_F32);
    ck_assert_str_eq(safetensors_meta(st, "test"), "a");
    real v[6];
    Tensor t = tensor_wrap(v, NN_SHAPE(6));
    ck_assert_msg(safetensors_load_into(st, "f", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 6; i++) ck_assert(v[i] == (real)(i - 3));
    safetensors_free(st);

    /* overall.safetensors holds -3..2 in nine dtypes; the unsigned ones hold the
     * two's-complement bytes of -3, -2, -1 (e.g. 253, 254, 255 as U8). */
    snprintf(path, sizeof path, "%s/overall.safetensors", dir);
    st = safetensors_read(path, &err);
    ck_assert_msg(st, "%s", err.msg);
    ck_assert_int_eq(safetensors_count(st), 9);
    ck_assert_str_eq(safetensors_meta(st, "test"), "a");
    static const struct {
        const char *name;
        StDtype dtype;
        double neg[3]; /* what -3, -2, -1 became */
    } cases[] = {
        {"B", ST_U8, {253, 254, 255}},
        {"H", ST_U16, {65533, 65534, 65535}},
        {"I", ST_U32, {4294967293.0, 4294967294.0, 4294967295.0}},
        {"b", ST_I8, {-3, -2, -1}},
        {"h", ST_I16, {-3, -2, -1}},
        {"i", ST_I32, {-3, -2, -1}},
        {"e", ST_F16, {-3, -2, -1}},
        {"f", ST_F32, {-3, -2, -1}},
        {"d", ST_F64, {-3, -2, -1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int k = safetensors_find(st, cases[c].name);
        ck_assert_msg(k >= 0, "no tensor %s", cases[c].name);
        ck_assert_int_eq(safetensors_dtype(st, k), cases[c].dtype);
        const int64_t *shape;
        ck_assert_int_eq(safetensors_shape(st, k, &shape), 1);
        ck_assert_int_eq(shape[0], 6);
        for (int i = 0; i < 6; i++) v[i] = -99;
        ck_assert_msg(safetensors_load_into(st, cases[c].name, &t, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 6; i++) {
            real want = i < 3 ? (real)cases[c].neg[i] : (real)(i - 3);
            ck_assert_msg(v[i] == want, "%s[%d] = %.9g, expected %.9g", cases[c].name, i, (double)v[i], (double)want);
        }
    }
    /* The U8 bytes themselves, independently of the conversion. */
    size_t nb;
    const unsigned char *u8 = safetensors_raw(st, safetensors_find(st, "B"), &nb);
    ck_assert_uint_eq(nb, 6);
    ck_assert(memcmp(u8, "\xFD\xFE\xFF\x00\x01\x02", 6) == 0);
    load_all(st);
    safetensors_free(st);
}
END_TEST

START_TEST(st_load_into_checks) {
    size_t len;
    unsigned char *file =
        make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", NULL, 24, &len);
    for (int i = 0; i < 6; i++) {
        float f = (float)i;
        memcpy(file + len - 24 + 4 * i, &f, 4);
    }
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    Tensor *wrong = tensor_zeros(NN_SHAPE(3, 2));
    ck_assert_int_eq(safetensors_load_into(st, "a", wrong, &err), -1);
    ck_assert_msg(
        strstr(err.msg, "safetensors data: tensor 'a' has shape [2, 3], but the destination has shape [3, 2]"), "%s",
        err.msg);
    Tensor *flat = tensor_zeros(NN_SHAPE(6));
    ck_assert_int_eq(safetensors_load_into(st, "a", flat, &err), -1);
    ck_assert_int_eq(safetensors_load_into(st, "b", flat, &err), -1);
    ck_assert_msg(strstr(err.msg, "no tensor named 'b' (the file holds 1 tensors)"), "%s", err.msg);
    ck_assert_ptr_null(safetensors_load(st, "b", &err));
    /* A non-contiguous destination receives the values in its own row-major order. */
    Tensor view = tensor_transpose(wrong, 0, 1); /* shape (2, 3) */
    ck_assert_msg(safetensors_load_into(st, "a", &view, &err) == 0, "%s", err.msg);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) ck_assert(wrong->data[c * 2 + r] == (real)(r * 3 + c));
    tensor_free(wrong);
    tensor_free(flat);
    safetensors_free(st);
    free(file);
}
END_TEST

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

START_TEST(st_dtype_decoding) {
    const char *header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[0,20]},"
                         "\"bf\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[20,32]},"
                         "\"bo\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[32,36]},"
                         "\"i64\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[36,60]},"
                         "\"u64\":{\"dtype\":\"U64\",\"shape\":[2],\"data_offsets\":[60,76]},"
                         "\"f64\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[76,100]}}";
    unsigned char data[100] = {0};
    static const uint16_t h[10] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0x7E01};
    static const uint32_t h_want[10] = {0x00000000, 0x80000000, 0x33800000, 0x387FC000, 0x38800000,
                                        0x3F800000, 0x477FE000, 0x7F800000, 0xFF800000, 0x7FC02000};
    for (int i = 0; i < 10; i++) put16(data + 2 * i, h[i]);
    static const uint16_t bf[6] = {0x3F80, 0x0001, 0x7F80, 0xFF81, 0x8000, 0xC2F7};
    for (int i = 0; i < 6; i++) put16(data + 20 + 2 * i, bf[i]);
    memcpy(data + 32, "\x00\x01\x02\xFF", 4);
    put64(data + 36, (uint64_t)INT64_MIN);
    put64(data + 44, (uint64_t)-1);
    put64(data + 52, (uint64_t)INT64_MAX);
    put64(data + 60, UINT64_MAX);
    put64(data + 68, 5);
    double f64[3] = {0.1, -1e300, 3.0};
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        put64(data + 76 + 8 * i, u);
    }
    size_t len;
    unsigned char *file = make_file(header, data, sizeof data, &len);
    NnError err;
    SafeTensors *st = parse_n(file, len, &err);
    ck_assert_msg(st, "%s", err.msg);
    real v[10];
    Tensor t = tensor_wrap(v, NN_SHAPE(10));
    ck_assert_msg(safetensors_load_into(st, "h", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(bits_of(v[i]) == h_want[i], "F16 %04x gave %08x, expected %08x", h[i], bits_of(v[i]), h_want[i]);
    t = tensor_wrap(v, NN_SHAPE(6));
    ck_assert_msg(safetensors_load_into(st, "bf", &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 6; i++) ck_assert_uint_eq(bits_of(v[i]), (uint32_t)bf[i] << 16);
    t = tensor_wrap(v, NN_SHAPE(4));
    ck_assert_msg(safetensors_load_into(st, "bo", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == 0 && v[1] == 1 && v[2] == 1 && v[3] == 1);
    t = tensor_wrap(v, NN_SHAPE(3));
    ck_assert_msg(safetensors_load_into(st, "i64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)INT64_MIN && v[1] == -1 && v[2] == (real)INT64_MAX);
    t = tensor_wrap(v, NN_SHAPE(2));
    ck_assert_msg(safetensors_load_into(st, "u64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)UINT64_MAX && v[1] == 5);
    t = tensor_wrap(v, NN_SHAPE(3));
    ck_assert_msg(safetensors_load_into(st, "f64", &t, &err) == 0, "%s", err.msg);
    ck_assert(v[0] == (real)0.1 && v[1] == (real)-1e300 && v[2] == 3);
    ck_assert_str_eq(st_dtype_name(safetensors_dtype(st, 1)), "BF16");
    ck_assert_int_eq(st_dtype_size(ST_BF16), 2);
    safetensors_free(st);
    free(file);
}
END_TEST

START_TEST(st_size_limits) {
    /* Sparse files: the limits are checked from the file size and the first 8
     * bytes, before anything large is read or allocated. */
    TmpDir td;
    tmp_make(&td);
    char path[1024];
    NnError err;
    tmp_path(&td, "big_header.safetensors", path, sizeof path);
    unsigned char len8[8];
    put64(len8, SAFETENSORS_MAX_HEADER + 1);
    write_all(path, len8, 8);
    if (truncate(path, (off_t)SAFETENSORS_MAX_HEADER + 64) == 0) {
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg, "big_header.safetensors: header length 104857601 is more than the limit of "
                                      "104857600 bytes"),
                      "%s", err.msg);
    } else {
        printf("test_safetensors: SKIPPED header limit: cannot make a sparse file: %s\n", strerror(errno));
    }
    tmp_path(&td, "huge.safetensors", path, sizeof path);
    write_all(path, "", 0);
    if (truncate(path, (off_t)SAFETENSORS_MAX_FILE + 1) == 0) {
        ck_assert_ptr_null(safetensors_read(path, &err));
        ck_assert_msg(strstr(err.msg,
                             "huge.safetensors: 17179869185 bytes, more than the 17179869184 bytes this reader "
                             "loads into memory"),
                      "%s", err.msg);
    } else {
        printf("test_safetensors: SKIPPED file size limit: cannot make a sparse file: %s\n", strerror(errno));
    }
    tmp_remove(&td);
}
END_TEST

/* ---- programmer misuse aborts (only run when Check forks) ---- */

START_TEST(st_write_duplicate_names_aborts) {
    Tensor *a = tensor_zeros(NN_SHAPE(1));
    const char *names[] = {"w", "b", "w"};
    const Tensor *ts[] = {a, a, a};
    safetensors_write("/tmp/never_written.safetensors", 3, names, ts, 0, NULL, NULL, NULL);
}
END_TEST

START_TEST(st_write_empty_name_aborts) {
    Tensor *a = tensor_zeros(NN_SHAPE(1));
    const char *names[] = {""};
    const Tensor *ts[] = {a};
    safetensors_write("/tmp/never_written.safetensors", 1, names, ts, 0, NULL, NULL, NULL);
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, st_round_trip_bit_exact);
    tcase_add_test(tc, st_metadata_and_escaped_names);
    tcase_add_test(tc, st_reference_files);
    tcase_add_test(tc, st_load_into_checks);
    tcase_add_test(tc, st_dtype_decoding);
    tcase_add_test(tc, st_size_limits);
    suite_add_tcase(s, tc);

    if (test_forking()) {
        TCase *tm = tcase_create("misuse");
        tcase_add_test_raise_signal(tm, st_write_duplicate_names_aborts, SIGABRT);
        tcase_add_test_raise_signal(tm, st_write_empty_name_aborts, SIGABRT);
        suite_add_tcase(s, tm);
    }
    return s;
}

TEST_MAIN(safetensors_suite)
