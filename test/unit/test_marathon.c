/* test_marathon.c - the Marathon backend's pure parts: the app definition (two named ports, a
 * fixed host port, http/cmd health checks, constraints, labels, the legacy shape), the "nothing
 * changed" comparison, --dry-run redaction, app ids, and Marathon tasks -> registry records
 * (fixture: marathon/app_tasks.json, in the shape of ref examples/app_tasks.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "json.h"
#include "marathon.h"
#include "spec.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct buf b = BUF_INIT(0);
    char chunk[4096];
    size_t n;

    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

/* compact JSON of a path like "container.portMappings.1" inside o */
static char *at(const cJSON *o, const char *path)
{
    char key[128];
    const char *p = path;

    while (o && *p) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, (int)strtol(key, NULL, 10))
                             : cJSON_GetObjectItemCaseSensitive(o, key);
        p += n + (p[n] == '.');
    }
    return o ? cJSON_PrintUnformatted(o) : strdup("(absent)");
}

#define CHECK_AT(o, path, want)                                                                    \
    do {                                                                                           \
        char *s_ = at(o, path);                                                                    \
        CHECK_STR(s_, want);                                                                       \
        free(s_);                                                                                  \
    } while (0)

static void test_app(void)
{
    struct cfg_port ports[] = {{"native", 9042, "tcp", 9042}, {"storage", 7000, "udp", 0}};
    struct cfg_kv env[] = {{"MIN_NODES", "2"}, {"DB_PASSWORD", "s3cret"}, {"MDO_SERVICE", "spoof"}};
    struct cfg_kv labels[] = {{"tier", "db"}};
    struct cfg_constraint cons[] = {{"hostname", "UNIQUE", NULL}, {"rack", "GROUP_BY", "2"}};
    char *args[] = {"sh", "-c", "exec cassandra -f"};
    char *eps[] = {"http://10.0.0.5:2379"};
    struct cfg_service svc = {0};
    struct cfg cfg = {0};
    cJSON *app, *legacy, *have;
    char *s;

    cfg.environment = "prod";
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 1;
    cfg.etcd.prefix = "/mdo";
    cfg.docker.pull = CFG_PULL_ALWAYS;
    svc.name = "cassandra";
    svc.image = "example/cassandra:3";
    svc.ports = ports;
    svc.nports = 2;
    svc.instances = 3;
    svc.cpus = 0.3;
    svc.mem = 1024;
    svc.env = env;
    svc.nenv = 3;
    svc.labels = labels;
    svc.nlabels = 1;
    svc.constraints = cons;
    svc.nconstraints = 2;
    svc.args = args;
    svc.nargs = 3;
    svc.has_health = true;
    svc.health = (struct cfg_health){NULL, "/health", "storage", 10, 5, 60};

    app = mar_app_json(&cfg, &svc, 0);
    CHECK(app != NULL);
    CHECK_AT(app, "id", "\"/prod/cassandra\"");
    CHECK_AT(app, "container.type", "\"DOCKER\"");
    CHECK_AT(app, "container.docker",
             "{\"image\":\"example/cassandra:3\",\"forcePullImage\":true}");
    CHECK_AT(app, "container.portMappings",
             "[{\"name\":\"native\",\"containerPort\":9042,\"hostPort\":9042,\"protocol\":\"tcp\"},"
             "{\"name\":\"storage\",\"containerPort\":7000,\"hostPort\":0,\"protocol\":\"udp\"}]");
    CHECK_AT(app, "networks", "[{\"mode\":\"container/bridge\"}]");
    CHECK_AT(app, "cpus", "0.3");
    CHECK_AT(app, "mem", "1024");
    CHECK_AT(app, "instances", "3");
    CHECK_AT(app, "args", "[\"sh\",\"-c\",\"exec cassandra -f\"]");
    CHECK_AT(app, "env.MIN_NODES", "\"2\"");
    CHECK_AT(app, "env.MDO_SERVICE", "\"cassandra\""); /* mdo's own wins over the user's */
    CHECK_AT(app, "env.MDO_ETCD", "\"http://10.0.0.5:2379\"");
    CHECK_AT(app, "env.MDO_PORT_NATIVE", "\"9042\"");
    CHECK_AT(app, "env.MDO_PORT_STORAGE", "\"7000\"");
    CHECK_AT(app, "env.MDO_CONTAINER_NAME", "(absent)"); /* Mesos gives MESOS_TASK_ID */
    CHECK_AT(app, "env.MDO_HOST_ADDRESS", "(absent)");   /* and HOST */
    CHECK_STR(json_str(cJSON_GetObjectItem(app, "labels"), "mdo.environment"), "prod");
    CHECK_STR(json_str(cJSON_GetObjectItem(app, "labels"), "mdo.service"), "cassandra");
    CHECK_INT(strlen(json_str(cJSON_GetObjectItem(app, "labels"), "mdo.app_version")), 12);
    CHECK_STR(json_str(cJSON_GetObjectItem(app, "labels"), "mdo.label.tier"), "db");
    CHECK_AT(app, "constraints", "[[\"hostname\",\"UNIQUE\"],[\"rack\",\"GROUP_BY\",\"2\"]]");
    CHECK_AT(
        app, "healthChecks",
        "[{\"protocol\":\"HTTP\",\"path\":\"/health\",\"portIndex\":1,\"gracePeriodSeconds\":60,"
        "\"intervalSeconds\":10,\"timeoutSeconds\":5,\"maxConsecutiveFailures\":3}]");
    /* a fixed host port: no over-capacity (old and new cannot share the port on one agent) */
    CHECK_AT(app, "upgradeStrategy", "{\"minimumHealthCapacity\":0.5,\"maximumOverCapacity\":0}");
    CHECK_AT(app, "cmd", "(absent)");

    /* --dry-run redacts secret-looking env values, nothing else */
    s = spec_redacted(app);
    CHECK(s && strstr(s, "<redacted>") && !strstr(s, "s3cret") && strstr(s, "exec cassandra -f"));
    free(s);

    /* the comparison: Marathon's stored copy has defaults and service ports added */
    have = cJSON_Duplicate(app, 1);
    cJSON_AddNumberToObject(have, "disk", 0);
    cJSON_AddStringToObject(have, "version", "2026-01-01T00:00:00.000Z");
    cJSON_AddNumberToObject(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(have, "container"), "portMappings"), 0),
        "servicePort", 10000);
    cJSON_AddBoolToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(have, "container"), "docker"),
                          "privileged", 0);
    cJSON_AddNumberToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(have, "healthChecks"), 0),
                            "delaySeconds", 15);
    cJSON_ReplaceItemInObject(have, "cpus", cJSON_CreateNumber(0.30000000000000004));
    CHECK_INT(mar_app_same(app, have), 1);
    cJSON_ReplaceItemInObject(have, "instances", cJSON_CreateNumber(5)); /* scaled by hand */
    CHECK_INT(mar_app_same(app, have), 0);
    cJSON_ReplaceItemInObject(have, "instances", cJSON_CreateNumber(3));
    cJSON_AddStringToObject(cJSON_GetObjectItem(have, "env"), "OLD", "x"); /* env is exact */
    CHECK_INT(mar_app_same(app, have), 0);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(have, "env"), "OLD");
    CHECK_INT(mar_app_same(app, have), 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(have, "labels"), "mdo.app_version",
                              cJSON_CreateString("000000000000"));
    CHECK_INT(mar_app_same(app, have), 0);
    CHECK_INT(mar_app_same(app, NULL), 0);
    cJSON_Delete(have);

    /* legacy (Marathon <= 1.4): docker.network BRIDGE + docker.portMappings, no networks */
    legacy = mar_app_json(&cfg, &svc, 1);
    CHECK_AT(legacy, "networks", "(absent)");
    CHECK_AT(legacy, "container.portMappings", "(absent)");
    CHECK_AT(legacy, "container.docker.network", "\"BRIDGE\"");
    CHECK_AT(legacy, "container.docker.portMappings.1",
             "{\"name\":\"storage\",\"containerPort\":7000,\"hostPort\":0,\"protocol\":\"udp\"}");
    CHECK_INT(mar_app_same(legacy, app), 0);
    cJSON_Delete(legacy);
    cJSON_Delete(app);

    /* a command check; upgrade.pause: one at a time; no args, no ports */
    svc.health = (struct cfg_health){"nodetool status", NULL, NULL, 10, 5, 60};
    svc.upgrade_pause = 30;
    svc.nargs = 0;
    svc.nports = 0;
    svc.nconstraints = 0;
    cfg.docker.pull = CFG_PULL_MISSING;
    app = mar_app_json(&cfg, &svc, 0);
    CHECK_AT(app, "healthChecks.0.protocol", "\"COMMAND\"");
    CHECK_AT(app, "healthChecks.0.command", "{\"value\":\"nodetool status\"}");
    CHECK_AT(app, "healthChecks.0.portIndex", "(absent)");
    CHECK_AT(app, "upgradeStrategy", "{\"minimumHealthCapacity\":1,\"maximumOverCapacity\":0}");
    CHECK_AT(app, "args", "(absent)");
    CHECK_AT(app, "constraints", "[]");
    CHECK_AT(app, "container.portMappings", "[]");
    CHECK_AT(app, "container.docker.forcePullImage", "false");
    cJSON_Delete(app);
    svc.has_health = false;
    svc.upgrade_pause = 0;
    app = mar_app_json(&cfg, &svc, 0);
    CHECK_AT(app, "healthChecks", "[]"); /* sent empty: a check removed from the config goes */
    CHECK_AT(app, "upgradeStrategy", "{\"minimumHealthCapacity\":0.5,\"maximumOverCapacity\":0.5}");
    cJSON_Delete(app);
}

static void test_ids(void)
{
    char out[64];
    struct buf b = BUF_INIT(0);

    mar_app_id(&b, "prod", "web");
    CHECK_STR(b.ptr, "/prod/web");
    buf_release(&b);
    CHECK_STR(mar_service_of("prod", "/prod/web", out, sizeof(out)), "web");
    CHECK(mar_service_of("prod", "/production/web", out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", "/prod/a/b", out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", "/prod/", out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", "/prod", out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", "prod/web", out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", NULL, out, sizeof(out)) == NULL);
    CHECK(mar_service_of("prod", "/prod/a-very-long-name", out, 8) == NULL);
}

static void test_records(void)
{
    char *text = slurp("marathon/app_tasks.json");
    cJSON *doc = text ? cJSON_Parse(text) : NULL, *app, *task;
    struct reg_record r[16];
    unsigned n = 0;
    char *j;

    CHECK(doc != NULL);
    cJSON_ArrayForEach(app, cJSON_GetObjectItem(doc, "apps"))
    {
        cJSON_ArrayForEach(task, cJSON_GetObjectItem(app, "tasks"))
        {
            int ret = mar_task_record("prod", NULL, app, task, &r[n]);
            CHECK(ret == 0 || ret == 1);
            if (!ret && n < 15)
                n++;
        }
    }
    /* 3 running cassandra tasks + the legacy one; staging, killing, unlabelled and another
     * environment's are not registered */
    CHECK_INT(n, 4);
    if (n != 4)
        goto out;
    j = reg_record_json(&r[0]);
    CHECK_STR(
        j, "{\"service\":\"cassandra\",\"container\":\"prod_cassandra.instance-564bd685-4c30-11e5-"
           "98c1-be5b2935a987._app.1\",\"environment\":\"prod\",\"host\":\"srv7.example.com\","
           "\"address\":\"172.17.0.5\",\"ports\":{\"native\":{\"internal\":9042,\"external\":"
           "9042,\"protocol\":\"tcp\"},\"storage\":{\"internal\":7000,\"external\":31756,"
           "\"protocol\":\"udp\"},\"echo\":{\"internal\":31757,\"external\":31757,\"protocol\":"
           "\"tcp\"}},\"labels\":{\"tier\":\"db\",\"zone\":\"a\"},\"state\":\"healthy\","
           "\"started_at\":\"2015-08-26T20:23:44.678Z\",\"app_version\":\"0123456789ab\","
           "\"backend\":\"marathon\"}");
    free(j);
    CHECK_STR(r[1].state, "unhealthy");
    CHECK(r[1].address == NULL);
    CHECK_STR(r[2].state, "running"); /* checks, but no result yet */
    CHECK_INT(r[2].nports, 3);
    CHECK_INT(r[2].ports[2].external, 0); /* fewer task ports than mappings */
    CHECK(r[2].started_at == NULL);
    CHECK_STR(r[3].service, "legacy"); /* docker.portMappings of the 1.4 shape */
    CHECK_STR(r[3].ports[0].name, "http");
    CHECK_INT(r[3].ports[0].internal, 8080);
    CHECK_INT(r[3].ports[0].external, 31900);
    CHECK_STR(r[3].ports[0].proto, "tcp");
    CHECK_STR(r[3].state, "running"); /* no health checks */
    CHECK_STR(r[3].app_version, "");
out:
    for (unsigned i = 0; i < n; i++)
        reg_record_release(&r[i]);
    cJSON_Delete(doc);
    free(text);
}

/* F8: an app's labels do not choose the service on their own; names are checked */
static void test_refused(void)
{
    static const char fmt[] =
        "{\"id\":\"%s\",\"labels\":{\"mdo.environment\":\"prod\",\"mdo.service\":\"%s\"},"
        "\"tasks\":[{\"id\":\"%s\",\"host\":\"srv1\",\"state\":\"TASK_RUNNING\"}]}";
    static const struct {
        const char *id, *service, *task;
        int want;
    } cases[] = {
        {"/prod/web", "web", "prod_web.1", 0},
        {"/team-x/evil", "web", "team-x_evil.1", 2}, /* another group claiming prod's web */
        {"/prod/evil", "web", "prod_evil.1", 2},     /* label and id disagree */
        {"/prod/a/web", "web", "prod_a_web.1", 2},   /* a deeper group */
        {"/prod/Web", "Web", "prod_Web.1", 2},       /* not a service name */
        {"/prod/web", "web", "..", 2},               /* a task id that is no key segment */
        {"/prod/web", "web", "a/b", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT(0);
        struct reg_record r;
        cJSON *app;
        int ret;
        buf_addf(&b, fmt, cases[i].id, cases[i].service, cases[i].task);
        app = cJSON_Parse(buf_str(&b));
        if (!app) {
            fprintf(stderr, "fixture is not JSON: %s\n", buf_str(&b));
            exit(2);
        }
        ret = mar_task_record("prod", NULL, app,
                              cJSON_GetArrayItem(cJSON_GetObjectItem(app, "tasks"), 0), &r);
        if (ret != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, buf_str(&b));
        CHECK_INT(ret, cases[i].want);
        if (!ret)
            reg_record_release(&r);
        cJSON_Delete(app);
        buf_release(&b);
    }
}

/* A refused app is said once, not on every listing pass; its tasks are never records. */
static void test_refused_once(void)
{
    cJSON *app = cJSON_Parse("{\"id\":\"/team-x/evil\",\"labels\":{\"mdo.environment\":"
                             "\"prod\",\"mdo.service\":\"web\"},\"tasks\":[{\"id\":\"t.1\","
                             "\"host\":\"srv1\",\"state\":\"TASK_RUNNING\"}]}");
    const cJSON *task = cJSON_GetArrayItem(cJSON_GetObjectItem(app, "tasks"), 0);
    struct mar_sched m;
    struct cfg cfg = {0};
    struct reg_record r;
    char line[512];
    FILE *log = tmpfile();
    int saved = dup(2), lines = 0;

    if (!app || !log || saved < 0) {
        fprintf(stderr, "fixture setup failed\n");
        exit(2);
    }
    memset(&m, 0, sizeof(m));
    cfg.environment = "prod";
    m.cfg = &cfg;
    pthread_mutex_init(&m.lock, NULL);
    fflush(stderr);
    dup2(fileno(log), 2);
    for (int pass = 0; pass < 3; pass++)
        CHECK_INT(mar_record(&m, app, task, &r), 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(log);
    while (fgets(line, sizeof(line), log))
        lines += strstr(line, "app skipped") && strstr(line, "/team-x/evil") ? 1 : 0;
    CHECK_INT(lines, 1);
    fclose(log);
    strset_release(&m.refused);
    pthread_mutex_destroy(&m.lock);
    cJSON_Delete(app);
}

static void test_paths(void)
{
    struct buf b = BUF_INIT(0);

    mar_app_path(&b, "prod", "web");
    CHECK_STR(b.ptr, "/v2/apps/prod/web");
    buf_reset(&b);
    mar_app_path(&b, "prod", "a/../b?x"); /* one segment each, whatever they hold */
    CHECK_STR(b.ptr, "/v2/apps/prod/a%2F..%2Fb%3Fx");
    buf_release(&b);
}

int main(void)
{
    test_refused();
    test_paths();
    test_refused_once();
    test_app();
    test_ids();
    test_records();
    return check_done("test_marathon");
}
