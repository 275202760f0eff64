/* --preset and --block as a user meets them: a preset is a set of flags that
 * any flag typed beside it overrides, before or after it; config.json records
 * the resolved settings and the preset's name; an unknown preset is refused
 * with the list; --help lists them. A LiGR model (--block ligr, --ff-mult)
 * trains, and eval, predict, serve and explain load it; a config.json that
 * does not match its checkpoint's blocks is refused, and a folder written
 * before --block loads as the SASRec block.
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh; every
 * test works in its own temporary folder (fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

static int run(const char *args) { return fixture_run("", args, out, sizeof out, errout, sizeof errout); }

#define RUN_OK(args) ck_assert_msg(run(args) == 0, "%s failed: %s", args, errout)

/* A small, fast run on the tiny data: every preset's sizes are overridden the same way. */
#define SMALL "--data {}/tiny.txt --epochs 1 --hidden 16 --max-len 8 --batch 16 --threads 1"

static void config_of(const char *run_dir, char *buf, size_t size) {
    slurp(fixture_path(run_dir), buf, size); /* fixture_path: fixture_dir/name */
}

/* config.json holds "key": value (value as written, e.g. "\"ligr\"" or "1"). */
static void expect_config(const char *cfg, const char *key, const char *value) {
    char want[128];
    snprintf(want, sizeof want, "\"%s\": %s,", key, value);
    ck_assert_msg(strstr(cfg, want), "config.json lacks %s:\n%s", want, cfg);
}

START_TEST(a_preset_is_overridden_by_any_flag_typed_before_or_after_it) {
    fixture_tiny_seq();
    static char before[8192], after[8192];
    RUN_OK("train " SMALL " --negatives 32 --patience 3 --preset frontier --out {}/a");
    RUN_OK("train --preset frontier " SMALL " --negatives 32 --patience 3 --out {}/b");
    config_of("a/config.json", before, sizeof before);
    config_of("b/config.json", after, sizeof after);
    ck_assert_msg(strcmp(before, after) == 0, "the order of the flags changed the run:\n%s\n%s", before, after);
    /* the preset's own settings, the typed ones over them, and its name */
    expect_config(after, "preset", "\"frontier\"");
    expect_config(after, "neg_scope", "\"sequence\"");
    expect_config(after, "ff_mult", "4");
    expect_config(after, "neg_dist", "\"mixed\"");
    expect_config(after, "block", "\"sasrec\"");
    expect_config(after, "loss", "\"sampled\"");
    expect_config(after, "eval", "\"full\"");
    expect_config(after, "negatives", "32");
    expect_config(after, "patience", "3");
    expect_config(after, "hidden", "16");
    expect_config(after, "epochs", "1");
    ck_assert_msg(strstr(out, "\"protocol\": \"full\""), "frontier did not rank fully: %s", out);
}
END_TEST

START_TEST(config_json_records_each_preset_and_s3rec_is_the_defaults) {
    fixture_tiny_seq();
    static char none[8192], s3rec[8192], ce[8192];
    RUN_OK("train " SMALL " --out {}/none");
    RUN_OK("train " SMALL " --preset s3rec --out {}/s3rec");
    RUN_OK("train " SMALL " --preset sasrec-ce --out {}/ce");
    config_of("none/config.json", none, sizeof none);
    config_of("s3rec/config.json", s3rec, sizeof s3rec);
    config_of("ce/config.json", ce, sizeof ce);
    expect_config(none, "preset", "null");
    expect_config(s3rec, "preset", "\"s3rec\"");
    expect_config(none, "block", "\"sasrec\"");
    expect_config(none, "ff_mult", "4");
    /* s3rec is the seed: the same settings and the same model as no preset */
    char *p = strstr(s3rec, "\"preset\": \"s3rec\"");
    memmove(p + strlen("\"preset\": null"), p + strlen("\"preset\": \"s3rec\""),
            strlen(p + strlen("\"preset\": \"s3rec\"")) + 1);
    memcpy(p, "\"preset\": null", strlen("\"preset\": null"));
    ck_assert_msg(strcmp(none, s3rec) == 0, "--preset s3rec is not the defaults:\n%s\n%s", none, s3rec);
    expect_config(ce, "preset", "\"sasrec-ce\"");
    expect_config(ce, "loss", "\"ce\"");
    expect_config(ce, "eval", "\"full\"");
    expect_config(ce, "block", "\"sasrec\"");
    expect_config(ce, "layers", "2");
}
END_TEST

START_TEST(an_unknown_preset_is_refused_with_the_list_and_help_lists_them) {
    fixture_tiny_seq();
    ck_assert_int_eq(run("train --data {}/tiny.txt --preset fronteir --out {}/run"), 2);
    ck_assert_msg(strstr(errout, "--preset fronteir is not a preset: one of s3rec|sasrec-ce|frontier"), "%s", errout);
    ck_assert_int_eq(fixture_count_entries("run"), 0);
    ck_assert_int_eq(run("train --data {}/tiny.txt --out {}/run --preset"), 2);
    ck_assert_msg(strstr(errout, "--preset needs a value"), "%s", errout);
    /* a flag the preset sets is still checked when typed */
    ck_assert_int_eq(run("train --data {}/tiny.txt --preset frontier --negatives 0 --out {}/run"), 2);
    ck_assert_msg(strstr(errout, "--negatives 0 is out of range"), "%s", errout);
    RUN_OK("train --help");
    ck_assert_msg(strstr(out, "--preset S") && strstr(out, "s3rec|sasrec-ce|frontier") && strstr(out, "Presets") &&
                      strstr(out, "--negatives=768 --neg-scope=sequence --neg-dist=mixed"),
                  "%s", out);
    /* --help after a preset shows the preset's values as the defaults */
    RUN_OK("train --preset frontier --help");
    ck_assert_msg(strstr(out, "(default sequence)") && strstr(out, "(default mixed)"), "%s", out);
}
END_TEST

START_TEST(the_ligr_block_refuses_norm_pre) {
    fixture_tiny_seq();
    ck_assert_int_eq(run("train --data {}/tiny.txt --block ligr --norm pre --out {}/run"), 2);
    ck_assert_msg(strstr(errout, "--norm pre is for the sasrec block"), "%s", errout);
    ck_assert_int_eq(run("train --data {}/tiny.txt --block ligr --ff-mult 0 --out {}/run"), 2);
    ck_assert_msg(strstr(errout, "--ff-mult 0 is out of range"), "%s", errout);
    ck_assert_int_eq(fixture_count_entries("run"), 0);
}
END_TEST

START_TEST(eval_predict_serve_and_explain_load_a_ligr_model) {
    fixture_tiny_seq();
    RUN_OK("train " SMALL " --block ligr --ff-mult 3 --layers 2 --heads 2 --loss sampled --negatives 16 --out {}/run");
    char *last = strrchr(out, '{');
    ck_assert_msg(last && strstr(last, "\"HR@10\": "), "%s", out);
    static char trained[1024], evaluated[1024];
    snprintf(trained, sizeof trained, "%s", last);
    /* the checkpoint holds the LiGR block's tensors under their names */
    static char st[1 << 16]; /* the header: an 8-byte length, then the JSON naming every tensor */
    FILE *f = fopen(fixture_path("run/model.safetensors"), "rb");
    ck_assert(f != NULL);
    size_t got = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    ck_assert(got > 8);
    st[got] = '\0';
    const char *header = st + 8;
    const char *names[] = {"encoder.layers.1.attn_gate.weight", "encoder.layers.0.ffn_gate.bias",
                           "encoder.layers.0.ffn.gate.weight", "encoder.layers.1.ffn.down.weight"};
    for (int i = 0; i < 4; i++) ck_assert_msg(strstr(header, names[i]), "model.safetensors lacks %s", names[i]);
    ck_assert_msg(!strstr(header, "ffn.fc1"), "a LiGR checkpoint holds the SASRec block's ffn.fc1");
    /* eval reproduces train's test metrics */
    RUN_OK("eval --data {}/tiny.txt --model {}/run --threads 1");
    last = strrchr(out, '{');
    ck_assert(last != NULL);
    snprintf(evaluated, sizeof evaluated, "%s", last);
    const char *keys[] = {"\"HR@10\": ", "\"NDCG@10\": ", "\"MRR\": "};
    for (int i = 0; i < 3; i++) {
        double a = atof(strstr(trained, keys[i]) + strlen(keys[i])), b = atof(strstr(evaluated, keys[i]) + strlen(keys[i]));
        ck_assert_msg(a == b, "%s train %g, eval %g", keys[i], a, b);
    }
    RUN_OK("predict --data {}/tiny.txt --model {}/run --k 3 --out {}/pred.csv --threads 1");
    fixture_write_text(fixture_path("req.jsonl"), "{\"id\": \"a\", \"items\": [\"item-2\", \"item-5\"], \"k\": 2}\n");
    ck_assert_msg(fixture_run("", "serve --model {}/run --threads 1 <{}/req.jsonl", out, sizeof out, errout,
                              sizeof errout) == 0,
                  "serve failed: %s", errout);
    ck_assert_msg(strstr(out, "{\"id\": \"a\", \"items\": [\""), "%s", out);
    RUN_OK("explain --data {}/tiny.txt --block ligr --hidden 16 --heads 2 --max-len 8 --batch 4 --threads 1");
    ck_assert_msg(strstr(out, "LiGR blocks") && strstr(out, "encoder.layers.0: x + sigmoid(gate(x)) * attention"),
                  "%s", out);
}
END_TEST

START_TEST(a_config_json_that_does_not_match_the_blocks_is_refused) {
    fixture_tiny_seq();
    RUN_OK("train " SMALL " --block ligr --ff-mult 2 --layers 1 --out {}/run");
    fixture_set_config("run", "ff_mult", "3");
    ck_assert_int_eq(run("eval --data {}/tiny.txt --model {}/run"), 1);
    ck_assert_msg(strstr(errout, "block ligr, ff_mult 3) expects tensor 'encoder.layers.0.ffn.gate.weight' of shape "
                                 "(48, 16)"),
                  "%s", errout);
    fixture_set_config("run", "ff_mult", "2");
    fixture_set_config("run", "block", "\"sasrec\"");
    ck_assert_int_eq(run("eval --data {}/tiny.txt --model {}/run"), 1);
    ck_assert_msg(strstr(errout, "has no such tensor") && strstr(errout, "encoder.layers.0.ffn.fc1.weight"), "%s",
                  errout);
    fixture_set_config("run", "block", "\"gru\"");
    ck_assert_int_eq(run("eval --data {}/tiny.txt --model {}/run"), 1);
    ck_assert_msg(strstr(errout, "\"block\" must be one of sasrec|ligr"), "%s", errout);
    /* a folder written before --block (no "block", "ff_mult" or "preset") is the SASRec block 4 H wide */
    RUN_OK("train " SMALL " --out {}/old");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sed -i '/\"block\"\\|\"ff_mult\"\\|\"preset\"/d' %s", fixture_path("old/config.json"));
    ck_assert(system(cmd) == 0);
    static char cfg[8192];
    slurp(fixture_path("old/config.json"), cfg, sizeof cfg);
    ck_assert(!strstr(cfg, "\"block\"") && !strstr(cfg, "\"ff_mult\""));
    RUN_OK("eval --data {}/tiny.txt --model {}/old");
}
END_TEST

static Suite *presets_suite(void) {
    Suite *s = suite_create("presets");
    TCase *tc = fixture_tcase("presets");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, a_preset_is_overridden_by_any_flag_typed_before_or_after_it);
    tcase_add_test(tc, config_json_records_each_preset_and_s3rec_is_the_defaults);
    tcase_add_test(tc, an_unknown_preset_is_refused_with_the_list_and_help_lists_them);
    tcase_add_test(tc, the_ligr_block_refuses_norm_pre);
    tcase_add_test(tc, eval_predict_serve_and_explain_load_a_ligr_model);
    tcase_add_test(tc, a_config_json_that_does_not_match_the_blocks_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(presets_suite)
