/* test_redact.c - the secrets list: what goes in (a loaded config's ${VAR} values, R_SECRET keys,
 * URL passwords; not short values, not the environment's name), longest first, in strings,
 * buffers, fixed arrays and JSON trees, and the places that apply it: the logger, err_report,
 * --dry-run bodies and labels read back from a scheduler */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "fixture.h"
#include "log.h"
#include "redact.h"
#include "registry.h"
#include "spec.h"

static char got[4096];

/* p copied to got and freed ("(null)" for NULL) */
static const char *s(char *p)
{
    snprintf(got, sizeof(got), "%s", p ? p : "(null)");
    free(p);
    return got;
}

static const char config[] = "environment: ${RT_ENV}\n"
                             "etcd:\n"
                             "  endpoints: ['http://root:${RT_EPW}@127.0.0.1:2379']\n"
                             "  username: root\n"
                             "  password: literal-etcd-pw\n"
                             "subscriber: {token: literal-sub-token}\n"
                             "services:\n"
                             "  web:\n"
                             "    image: busybox\n"
                             "    args: ['--pass', '${RT_PW}', '${RT_SHORT}']\n"
                             "    environment: {DB_PASS: 'x${RT_PW}y', COLOR: '${RT_SHORT}'}\n"
                             "    labels: {tier: 'db-${RT_PW}'}\n";

static void basics(void)
{
    struct buf b = BUF_INIT(0);
    char fixed[16];
    cJSON *j;

    redact_reset();
    CHECK_STR(s(redact_dup("nothing listed: hunter2")), "nothing listed: hunter2");
    CHECK_INT(redact_add("abc"), 0); /* under REDACT_MIN: not listed */
    CHECK_INT(redact_add(""), 0);
    CHECK_INT(redact_add(NULL), 0);
    CHECK_STR(s(redact_dup("abc abc")), "abc abc");
    CHECK_INT(redact_add("hunter2"), 0);
    CHECK_INT(redact_add("hunter2"), 0); /* twice: once */
    CHECK_STR(s(redact_dup("pw=hunter2, again hunter2hunter2.")),
              "pw=<redacted>, again <redacted><redacted>.");
    CHECK_STR(s(redact_dup("hunter")), "hunter");
    CHECK_STR(s(redact_dup("")), "");
    CHECK(redact_dup(NULL) == NULL);

    /* longest first: a secret holding another leaves nothing of itself */
    CHECK_INT(redact_add("hunter2-long"), 0);
    CHECK_STR(s(redact_dup("a hunter2-long b")), "a <redacted> b");
    CHECK_INT(redact_add("xhunter"), 0);
    CHECK_STR(s(redact_dup("xhunter2")), "<redacted>2"); /* the one starting first wins */

    /* the JSON-escaped form too: text printed before it reached us */
    CHECK_INT(redact_add("q\"uo\\te"), 0);
    CHECK_STR(s(redact_dup("raw q\"uo\\te json q\\\"uo\\\\te")), "raw <redacted> json <redacted>");

    CHECK_INT(redact_buf(&b, "hunter2 and hunter2-long"), 2);
    CHECK_STR(buf_str(&b), "<redacted> and <redacted>");
    buf_reset(&b);
    CHECK_INT(redact_buf(&b, "clean"), 0);
    CHECK_STR(buf_str(&b), "clean");
    buf_reset(&b);
    buf_adds(&b, "in hunter2 place");
    CHECK_INT(redact_inplace(&b), 1);
    CHECK_STR(buf_str(&b), "in <redacted> place");
    buf_release(&b);

    /* a fixed array: the longer result is cut, never overflows */
    snprintf(fixed, sizeof(fixed), "%s", "e: hunter2 end");
    CHECK_INT(redact_fixed(fixed, sizeof(fixed)), 1);
    CHECK_STR(fixed, "e: <redacted> e");
    snprintf(fixed, sizeof(fixed), "%s", "plain");
    CHECK_INT(redact_fixed(fixed, sizeof(fixed)), 0);
    CHECK_STR(fixed, "plain");

    /* JSON trees: string values at any depth; numbers and keys as they are */
    j = cJSON_Parse("{\"args\":[\"--pw\",\"hunter2\"],\"hunter2\":1,\"n\":{\"x\":\"a-hunter2-b\"},"
                    "\"k\":7}");
    CHECK_INT(redact_json(j), 2);
    CHECK_STR(s(cJSON_PrintUnformatted(j)), "{\"args\":[\"--pw\",\"<redacted>\"],\"hunter2\":1,"
                                            "\"n\":{\"x\":\"a-<redacted>-b\"},\"k\":7}");
    cJSON_Delete(j);
    j = cJSON_CreateString("hunter2");
    CHECK_INT(redact_json(j), 1);
    CHECK_STR(j->valuestring, REDACTED);
    cJSON_Delete(j);
    CHECK_INT(redact_json(NULL), 0);

    redact_reset();
    CHECK_STR(s(redact_dup("hunter2")), "hunter2");
}

/* cfg_load lists what the config's secrets are, and only those */
static void from_config(void)
{
    const char *path = fixture_path("cfg.yaml"), *logged;
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;

    fixture_write(path, config, sizeof(config) - 1);
    setenv("RT_ENV", "staging", 1);
    setenv("RT_EPW", "etcd%40pw", 1);
    setenv("RT_PW", "Zq7-secret-Value", 1);
    setenv("RT_SHORT", "red", 1);
    redact_reset();
    CHECK_INT(cfg_load(path, &cfg, &err), 0);
    CHECK_STR(err.msg, "");
    CHECK_STR(s(redact_dup("Zq7-secret-Value")), REDACTED);               /* ${VAR} */
    CHECK_STR(s(redact_dup("x:literal-etcd-pw")), "x:" REDACTED);         /* R_SECRET */
    CHECK_STR(s(redact_dup("literal-sub-token")), REDACTED);              /* R_SECRET */
    CHECK_STR(s(redact_dup("etcd%40pw etcd@pw")), REDACTED " " REDACTED); /* URL, both */
    CHECK_STR(s(redact_dup("red and staging")), "red and staging");       /* short; env */

    if (cfg) {
        const struct cfg_service *svc = cfg_service(cfg, "web");
        cJSON *body = cJSON_CreateObject(), *env = cJSON_AddObjectToObject(body, "env");
        cJSON *labels = cJSON_CreateObject();
        struct reg_record rec = {0};
        char *out;

        /* --dry-run: args, env values whatever their names, the name-based rule kept */
        cJSON_AddItemToObject(body, "args",
                              cJSON_CreateStringArray((const char *const *)svc->args, 3));
        cJSON_AddStringToObject(env, "DB_PASS", "xZq7-secret-Valuey");
        cJSON_AddStringToObject(env, "API_TOKEN", "not-from-a-var");
        cJSON_AddStringToObject(env, "COLOR", "red");
        out = spec_redacted(body);
        CHECK_LACKS(out, "Zq7-secret-Value");
        CHECK_LACKS(out, "not-from-a-var");
        CHECK_HAS(out, "\"x<redacted>y\"");
        CHECK_HAS(out, "\"red\"");
        free(out);
        cJSON_Delete(body);

        /* labels read back from a scheduler: the record holds none */
        cJSON_AddStringToObject(labels, SPEC_LABEL "tier", "db-Zq7-secret-Value");
        CHECK_INT(spec_record_labels(&rec, labels), 0);
        CHECK_INT(rec.nlabels, 1);
        CHECK_STR(rec.nlabels ? rec.labels[0].value : NULL, "db-" REDACTED);
        reg_record_release(&rec);
        cJSON_Delete(labels);
    }

    /* the logger and err_report */
    fixture_capture();
    log_warn("test", "msg Zq7-secret-Value", "err=\"%s\" n=%d v=%s", "peer said Zq7-secret-Value",
             3, "literal-sub-token");
    err_set(&err, MDO_EFAIL, "marathon: 422 {\"args\":[\"Zq7-secret-Value\"]}");
    CHECK_INT(err_report("test", &err), 1);
    logged = fixture_captured();
    CHECK_LACKS(logged, "Zq7-secret");
    CHECK_LACKS(logged, "literal-sub-token");
    CHECK_HAS(logged, "msg=\"msg <redacted>\" err=\"peer said <redacted>\" n=3 v=<redacted>");
    CHECK_HAS(logged, "mdo test: marathon: 422 {\"args\":[\"<redacted>\"]}\n");

    cfg_free(cfg);
    unlink(path);
    redact_reset();
}

/* a config error quotes what was written, not what ${VAR} put in */
static void config_errors(void)
{
    const char *path = fixture_path("bad.yaml");
    static const char bad[] = "services:\n  web:\n    image: busybox\n"
                              "    health: {http: '${RT_BADPATH}', port: p}\n"
                              "    ports: {p: 80}\n";
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;

    fixture_write(path, bad, sizeof(bad) - 1);
    setenv("RT_BADPATH", "no-slash-Zq7-secret", 1);
    CHECK(cfg_load(path, &cfg, &err) != 0);
    CHECK_LACKS(err.msg, "Zq7-secret");
    CHECK_HAS(err.msg, "${RT_BADPATH}");
    cfg_free(cfg);
    unlink(path);
}

int main(void)
{
    basics();
    from_config();
    config_errors();
    rmdir(fixture_tmpdir());
    return check_done("test_redact");
}
