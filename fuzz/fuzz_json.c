/* libFuzzer harness: json_parse on arbitrary bytes. When a document is
 * accepted, every value is visited through the accessors, and every string is
 * written back with json_write_string and parsed again: it must come back
 * byte for byte. Any crash, sanitizer report or abort is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void string_round_trip(const char *s, size_t n) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    NnError err;
    if (json_write_string(f, s, n, &err) != 0) abort(); /* parsed strings are valid UTF-8 */
    fclose(f);
    JsonDoc *d = json_parse(mem, len, NULL, &err);
    size_t n2;
    const char *s2 = d ? json_string(json_root(d), &n2) : NULL;
    if (!s2 || n2 != n || memcmp(s, s2, n) != 0) abort();
    json_free(d);
    free(mem);
}

static const Json **stack;
static size_t top, cap;

static void push(const Json *v) {
    if (top == cap) {
        cap = cap ? 2 * cap : 256;
        stack = realloc(stack, cap * sizeof *stack);
        if (!stack) abort();
    }
    stack[top++] = v;
}

/* Visits every value with an explicit stack. */
static void visit(const Json *root) {
    top = 0;
    push(root);
    while (top) {
        const Json *v = stack[--top];
        int64_t i;
        double d;
        int b;
        size_t n;
        switch (json_type(v)) {
        case JSON_NUMBER:
            json_int64(v, &i);
            json_double(v, &d);
            if (!json_number_text(v)) abort();
            break;
        case JSON_BOOL:
            if (json_bool(v, &b) != 0) abort();
            break;
        case JSON_STRING: {
            const char *s = json_string(v, &n);
            if (!s || s[n] != '\0' || utf8_valid_len(s, n) != n) abort();
            string_round_trip(s, n);
            break;
        }
        case JSON_ARRAY:
            for (size_t k = 0; k < json_count(v); k++) {
                if (!json_at(v, k)) abort();
                push(json_at(v, k));
            }
            if (json_at(v, json_count(v))) abort();
            break;
        case JSON_OBJECT:
            for (size_t k = 0; k < json_count(v); k++) {
                const char *key = json_key_at(v, k, &n);
                if (!key || utf8_valid_len(key, n) != n) abort();
                /* json_get finds the first member with this key; keys are unique */
                if (!memchr(key, 0, n) && json_get(v, key) != json_value_at(v, k)) abort();
                push(json_value_at(v, k));
            }
            break;
        case JSON_NULL: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NnError err;
    /* the first byte picks a small depth limit now and then, to reach its checks */
    JsonLimits lim = {.max_depth = size && data[0] == 'L' ? 3 : 0};
    JsonDoc *d = json_parse((const char *)data, size, &lim, &err);
    if (!d) {
        if (strncmp(err.msg, "JSON at byte ", 13) != 0) abort();
        return 0;
    }
    visit(json_root(d));
    json_free(d);
    return 0;
}
