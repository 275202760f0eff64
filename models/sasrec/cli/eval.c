/* sasrec eval */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/cli/retrain.h"
#include "models/sasrec/eval.h"

static const char *USAGE = "usage: sasrec eval --model DIR [--data PATH] [flags]\n"
                           "Evaluates a trained model on the test split (each user's last item) of --data, which must\n"
                           "be the data the model was trained on (without it: the built-in synthetic data, for a model\n"
                           "trained on it; any other model asks for --data). The last line of stdout is a JSON object.";

int app_eval(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("eval", USAGE, argc, argv, &c, config_eval_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model_dir) {
        fprintf(stderr, "sasrec eval: --model DIR is required (a folder written by sasrec train)\n");
        return 2;
    }
    if (app_check_model_dir("eval", c.model_dir, &err) || (c.data && app_check_input("eval", "--data", c.data, &err)) ||
        (c.sample_file && app_check_input("eval", "--sample-file", c.sample_file, &err))) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    double started = clock_seconds();
    LoadedModel lm;
    Dataset ds = {0};
    TimeSplit ts = {0};
    SampleSet samples = {0};
    int code = 1;
    if (app_load_model(&c, &lm, &err)) return app_fail("eval", &err, APP_EXIT_DATA);
    app_note_legacy("eval", &c, &lm);
    if (app_check_data_for_model("eval", &c, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        app_free_model(&lm);
        return APP_EXIT_USAGE;
    }
    if (c.split == SPLIT_KIND_TIME) { /* the model's split, from its config.json: ds holds the test rows */
        if (app_eval_time_split(&c, &lm.vocab, &ts, &err)) goto fail;
        ds = ts.test;
        memset(&ts.test, 0, sizeof ts.test);
    } else {
        if (app_load_data(&c, &lm.vocab, DATASET_MIN_INTERACTIONS, &ds, &err)) goto fail;
        char summary[512];
        dataset_summary(&ds, summary, sizeof summary);
        printf("data: %s\n", summary);
    }
    if (app_plan(PLAN_EVAL, &c, &lm.model.cfg, &ds, &err)) {
        code = APP_EXIT_USAGE;
        goto fail;
    }
    if (c.eval.protocol == PROTOCOL_SAMPLE && app_samples(&c, &ds, &samples, &err)) goto fail;
    c.eval.samples = &samples;
    Metrics m = eval_model(&lm.model, &ds, SPLIT_TEST, &c.eval);
    if (m.nonfinite) { /* NaN compares false: such scores would rank as hits */
        nn_fail(&err, "the model gives NaN or infinite scores for %lld of %lld users; its metrics would mean "
                      "nothing (retrain it)", (long long)m.nonfinite, (long long)m.users);
        goto fail;
    }
    printf("{");
    metrics_write_json(&m, stdout);
    printf(", \"protocol\": \"%s\", \"users\": %lld, \"seconds\": %.2f}\n", metrics_protocol_name(m.protocol),
           (long long)m.users, clock_seconds() - started);
    code = 0;
    goto done;
fail:
    code = app_fail("eval", &err, code);
done:
    sample_free(&samples);
    dataset_free(&ds);
    timesplit_free(&ts);
    app_free_model(&lm);
    return code;
}
