/* The profile of a step (autograd/profile.h): its rows add up to the step, a
 * product's FLOPs are exact, the chart is well-formed XML, and a graph with no
 * profile attached reports nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/profile.h"
#include "tests/support.h"

/* A small step: a product, GELU, layer norm, a loss, its backward, and two marks. */
static void small_step(Graph *g, Tensor *a, Tensor *b) {
    Profile *p = graph_profile(g);
    profile_mark(p, "before", 0, 0);
    Tensor *y = ag_layer_norm(g, ag_gelu(g, ag_matmul(g, a, b)), NULL, NULL, (real)1e-5);
    ag_backward(g, ag_sum(g, ag_mul(g, y, y), 0, NULL, 0));
    profile_mark(p, "a<b & \"c\"", 10, 20); /* a name XML must escape */
    graph_reset(g);
}

START_TEST(the_rows_add_up_to_the_step) {
    Tensor *a = test_param(test_randn(1, NN_SHAPE(3, 4, 5))), *b = test_param(test_randn(2, NN_SHAPE(5, 6)));
    Graph *g = graph_new();
    Profile *p = profile_new();
    graph_set_profile(g, p);
    for (int step = 0; step < 3; step++) {
        profile_start(p);
        small_step(g, a, b);
        profile_stop(p);
    }
    double sum = 0;
    int64_t calls = 0;
    for (int k = 0; k < profile_num_rows(p); k++) {
        sum += profile_row(p, k).seconds;
        calls += profile_row(p, k).calls;
    }
    ck_assert_msg(fabs(sum - profile_seconds(p)) <= 1e-9 + 1e-9 * profile_seconds(p), "rows %.9f, step %.9f", sum,
                  profile_seconds(p));
    ck_assert(profile_seconds(p) > 0 && calls > 0);
    ck_assert_int_eq(profile_find(p, "matmul", PROFILE_FORWARD).calls, 3);
    ck_assert_int_eq(profile_find(p, "matmul", PROFILE_BACKWARD).calls, 3);
    ck_assert_int_eq(profile_find(p, "layer_norm", PROFILE_BACKWARD).calls, 3);
    ck_assert_int_eq(profile_find(p, "before", PROFILE_OTHER).calls, 3);
    ck_assert_int_eq(profile_find(p, "outside ops", PROFILE_OTHER).calls, 3);
    ck_assert_double_eq(profile_find(p, "a<b & \"c\"", PROFILE_OTHER).flops, 30);
    graph_free(g);
    profile_free(p);
    test_free_all(2, (Tensor *[]){a, b});
}
END_TEST

START_TEST(a_products_flops_are_exact) {
    Tensor *a = test_param(test_randn(1, NN_SHAPE(3, 4, 5))), *b = test_param(test_randn(2, NN_SHAPE(5, 6)));
    Tensor *c = test_randn(3, NN_SHAPE(5, 6)); /* needs no gradient */
    Tensor *x = test_param(test_randn(4, NN_SHAPE(7, 5))), *w = test_param(test_randn(5, NN_SHAPE(3, 5)));
    Tensor *bias = test_param(test_randn(6, NN_SHAPE(3)));
    Graph *g = graph_new();
    Profile *p = profile_new();
    graph_set_profile(g, p);
    profile_start(p);
    ag_backward(g, ag_sum(g, ag_matmul(g, a, b), 0, NULL, 0));
    profile_stop(p);
    ck_assert_double_eq(profile_find(p, "matmul", PROFILE_FORWARD).flops, 2 * 3 * 4 * 5 * 6);
    ck_assert_double_eq(profile_find(p, "matmul", PROFILE_BACKWARD).flops, 2 * (2 * 3 * 4 * 5 * 6));
    ck_assert_double_eq(profile_find(p, "matmul", PROFILE_FORWARD).bytes, (60 + 30 + 72) * sizeof(real));
    profile_free(p);
    p = profile_new(); /* only a needs its gradient: one product backward */
    graph_set_profile(g, p);
    profile_start(p);
    ag_backward(g, ag_sum(g, ag_matmul(g, a, c), 0, NULL, 0));
    ag_backward(g, ag_sum(g, ag_linear(g, x, w, bias), 0, NULL, 0));
    profile_stop(p);
    ck_assert_double_eq(profile_find(p, "matmul", PROFILE_BACKWARD).flops, 2 * 3 * 4 * 5 * 6);
    ck_assert_double_eq(profile_find(p, "linear", PROFILE_FORWARD).flops, 2 * 7 * 3 * 5 + 7 * 3);
    ck_assert_double_eq(profile_find(p, "linear", PROFILE_BACKWARD).flops, 2 * (2 * 7 * 3 * 5) + 7 * 3);
    graph_free(g);
    profile_free(p);
    test_free_all(6, (Tensor *[]){a, b, c, x, w, bias});
}
END_TEST

START_TEST(attention_counts_the_visible_pairs) {
    /* two causal sequences of 2 and 3 rows: 1 + 2 + 1 + 2 + 3 = 9 pairs per head, H = 4, 2 heads */
    Tensor *q = test_param(test_randn(1, NN_SHAPE(5, 4))), *k = test_param(test_randn(2, NN_SHAPE(5, 4)));
    Tensor *v = test_param(test_randn(3, NN_SHAPE(5, 4)));
    Graph *g = graph_new();
    Profile *p = profile_new();
    graph_set_profile(g, p);
    profile_start(p);
    SeqLayout layout = {.n_seq = 2, .offsets = (int64_t[]){0, 2, 5}, .causal = 1};
    AttentionSpec spec = {.heads = 2, .mask = MASK_NEG_INF};
    ag_backward(g, ag_sum(g, ag_attention(g, q, k, v, &layout, &spec), 0, NULL, 0));
    profile_stop(p);
    ck_assert_double_eq(profile_find(p, "attention", PROFILE_FORWARD).flops, 4 * 9 * 4 + 5 * 9 * 2);
    ck_assert_double_eq(profile_find(p, "attention", PROFILE_BACKWARD).flops, 8 * 9 * 4 + 4 * 9 * 2);
    graph_free(g);
    profile_free(p);
    test_free_all(3, (Tensor *[]){q, k, v});
}
END_TEST

START_TEST(a_graph_without_a_profile_reports_nothing) {
    Tensor *a = test_param(test_randn(1, NN_SHAPE(3, 4, 5))), *b = test_param(test_randn(2, NN_SHAPE(5, 6)));
    Graph *g = graph_new();
    Profile *p = profile_new();
    graph_set_profile(g, p);
    profile_start(p);
    small_step(g, a, b);
    graph_set_profile(g, NULL);
    ck_assert(graph_profile(g) == NULL);
    int rows = profile_num_rows(p);
    ProfileRow before = profile_find(p, "matmul", PROFILE_FORWARD);
    small_step(g, a, b); /* detached: its ops and marks never reach p */
    ck_assert_int_eq(profile_num_rows(p), rows);
    ck_assert_int_eq(profile_find(p, "matmul", PROFILE_FORWARD).calls, before.calls);
    ck_assert_int_eq(profile_find(p, "matmul", PROFILE_BACKWARD).calls, 1);
    ck_assert_int_eq(profile_find(p, "before", PROFILE_OTHER).calls, 1);
    profile_stop(p);
    graph_free(g);
    profile_free(p);
    test_free_all(2, (Tensor *[]){a, b});
}
END_TEST

/* Whether s is well-formed XML with one root: tags nest and close, attributes are quoted, every & starts an
 * entity. Enough for what an SVG writer emits (no comments, CDATA or processing instructions). */
static int well_formed(const char *s) {
    const char *stack[64]; /* names of the open tags */
    size_t lens[64], depth = 0, roots = 0;
    while (*s) {
        if (*s == '&') {
            const char *ents[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"}, *hit = NULL;
            for (int k = 0; k < 5 && !hit; k++) hit = strncmp(s, ents[k], strlen(ents[k])) == 0 ? ents[k] : NULL;
            if (!hit) return 0;
            s += strlen(hit);
            continue;
        }
        if (*s != '<') { s++; continue; }
        int closing = s[1] == '/';
        const char *name = s + 1 + closing;
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_");
        if (len == 0) return 0;
        s = name + len;
        char quote = 0;
        for (; *s && (quote || *s != '>'); s++) {
            if (quote && *s == quote) quote = 0;
            else if (!quote && (*s == '"' || *s == '\'')) quote = *s;
            else if (*s == '<') return 0;
        }
        if (!*s) return 0;
        int self = s[-1] == '/';
        s++;
        if (closing) {
            if (depth == 0 || lens[depth - 1] != len || strncmp(stack[depth - 1], name, len) != 0) return 0;
            depth--;
        } else if (!self) {
            if (depth == 0) roots++;
            if (depth == 64) return 0;
            lens[depth] = len;
            stack[depth++] = name;
        } else if (depth == 0) {
            roots++;
        }
    }
    return depth == 0 && roots == 1;
}

START_TEST(the_chart_is_well_formed_svg) {
    ck_assert(well_formed("<svg a=\"1>\"><g><rect/></g>x &amp; y</svg>\n"));
    ck_assert(!well_formed("<svg><g></svg></g>"));
    ck_assert(!well_formed("<svg>a & b</svg>"));
    ck_assert(!well_formed("<svg><text>a<b</text></svg>"));
    Tensor *a = test_param(test_randn(1, NN_SHAPE(3, 4, 5))), *b = test_param(test_randn(2, NN_SHAPE(5, 6)));
    Graph *g = graph_new();
    Profile *p = profile_new();
    graph_set_profile(g, p);
    profile_start(p);
    small_step(g, a, b);
    profile_stop(p);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    profile_write_svg(p, f);
    fclose(f);
    ck_assert_msg(well_formed(buf), "not well-formed:\n%s", buf);
    ck_assert(strstr(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\"") == buf);
    ck_assert(strstr(buf, "a&lt;b &amp; &quot;c&quot;") != NULL);
    ck_assert(strstr(buf, ">matmul (backward)</text>") != NULL);
    free(buf);
    graph_free(g);
    profile_free(p);
    test_free_all(2, (Tensor *[]){a, b});
}
END_TEST

static Suite *profile_suite(void) {
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_test(tc, the_rows_add_up_to_the_step);
    tcase_add_test(tc, a_products_flops_are_exact);
    tcase_add_test(tc, attention_counts_the_visible_pairs);
    tcase_add_test(tc, a_graph_without_a_profile_reports_nothing);
    tcase_add_test(tc, the_chart_is_well_formed_svg);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(profile_suite)
