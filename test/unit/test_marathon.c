/* test_marathon.c - the Marathon backend's pure parts: the app definition (two named ports, a
 * fixed host port, http/cmd health checks, constraints, labels, the legacy shape), the "nothing
 * changed" comparison, --dry-run redaction, app ids, and Marathon tasks -> registry records
 * (fixture: marathon/app_tasks.json, in the shape of ref examples/app_tasks.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "check.h"
#include "config.h"
#include "fixture.h"
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
    CHECK_AT(app, "container.volumes", "(absent)"); /* none configured: none sent */
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

/* Issue 12: what old Marathons list (no state before 1.1.2, no labels before 0.8, no port names
 * before 0.16), probes failed in the grace period, 1.4-1.7 instance ids, upgrade.pause. */
static cJSON *parse(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    if (!o) {
        fprintf(stderr, "fixture is not JSON: %s\n", s);
        exit(2);
    }
    return o;
}

static int one_record(const struct cfg_service *conf, const char *app_s, struct reg_record *r)
{
    cJSON *app = parse(app_s);
    int ret = mar_task_record("prod", conf, app,
                              cJSON_GetArrayItem(cJSON_GetObjectItem(app, "tasks"), 0), r);
    cJSON_Delete(app);
    return ret;
}

static void test_old_versions(void)
{
    struct cfg_port ports[] = {{"native", 9042, "tcp", 0}, {"storage", 7000, "udp", 0}};
    struct cfg_service conf = {0};
    struct reg_record r;
    cJSON *want, *have;
    struct cfg_constraint uniq[] = {{"hostname", "UNIQUE", NULL}};
    struct cfg cfg = {0};

    conf.name = "db";
    conf.ports = ports;
    conf.nports = 2;
    /* 0.7: no labels, no state, no names; identity from the env mdo sends */
    CHECK_INT(one_record(&conf,
                         "{\"id\":\"/prod/db\",\"env\":{\"MDO_ENVIRONMENT\":\"prod\","
                         "\"MDO_SERVICE\":\"db\",\"MDO_APP_VERSION\":\"0123456789ab\"},"
                         "\"container\":{\"docker\":{\"portMappings\":[{\"containerPort\":9042},"
                         "{\"containerPort\":7000,\"protocol\":\"udp\"}]}},\"tasks\":[{\"id\":"
                         "\"prod_db.1\",\"host\":\"h\",\"ports\":[31001,31002],\"startedAt\":"
                         "\"2015-08-26T20:23:44.678Z\"}]}",
                         &r),
              0);
    CHECK_STR(r.service, "db");
    CHECK_STR(r.app_version, "0123456789ab");
    CHECK_STR(r.ports[0].name, "native"); /* the config's names, by index */
    CHECK_INT(r.ports[0].external, 31001);
    CHECK_STR(r.ports[1].name, "storage");
    CHECK_STR(r.ports[1].proto, "udp");
    reg_record_release(&r);
    /* without the config's service: port<i> */
    CHECK_INT(one_record(NULL,
                         "{\"id\":\"/prod/db\",\"labels\":{\"mdo.environment\":\"prod\","
                         "\"mdo.service\":\"db\"},\"container\":{\"docker\":{\"portMappings\":"
                         "[{\"containerPort\":9042}]}},\"tasks\":[{\"id\":\"prod_db.1\",\"host\":"
                         "\"h\",\"ports\":[31001],\"startedAt\":\"2015-08-26T20:23:44.678Z\"}]}",
                         &r),
              0);
    CHECK_STR(r.ports[0].name, "port0");
    reg_record_release(&r);
    /* no state and no startedAt: staged, not running */
    CHECK_INT(one_record(&conf,
                         "{\"id\":\"/prod/db\",\"labels\":{\"mdo.environment\":\"prod\","
                         "\"mdo.service\":\"db\"},\"tasks\":[{\"id\":\"prod_db.1\",\"host\":"
                         "\"h\",\"startedAt\":null}]}",
                         &r),
              1);
    /* no labels and no mdo env: not mdo's */
    CHECK_INT(one_record(&conf,
                         "{\"id\":\"/prod/db\",\"tasks\":[{\"id\":\"prod_db.1\",\"host\":"
                         "\"h\",\"startedAt\":\"2015-08-26T20:23:44.678Z\"}]}",
                         &r),
              1);
    /* labels present (0.8+) but not mdo's: the env does not count then */
    CHECK_INT(one_record(&conf,
                         "{\"id\":\"/prod/db\",\"labels\":{},\"env\":{\"MDO_ENVIRONMENT\":"
                         "\"prod\",\"MDO_SERVICE\":\"db\"},\"tasks\":[{\"id\":\"prod_db.1\","
                         "\"host\":\"h\",\"state\":\"TASK_RUNNING\"}]}",
                         &r),
              1);
    /* a probe failed within the grace period (alive false, nothing counted): running */
    static const char grace[] =
        "{\"id\":\"/prod/db\",\"labels\":{\"mdo.environment\":\"prod\",\"mdo.service\":"
        "\"db\"},\"healthChecks\":[{\"protocol\":\"HTTP\"}],\"tasks\":[{\"id\":\"prod_db.1\","
        "\"host\":\"h\",\"state\":\"TASK_RUNNING\",\"healthCheckResults\":[{\"alive\":false,"
        "\"consecutiveFailures\":%d,\"firstSuccess\":null,\"lastFailure\":%s}]}]}";
    char doc[1024];
    snprintf(doc, sizeof(doc), grace, 0, "null");
    CHECK_INT(one_record(&conf, doc, &r), 0);
    CHECK_STR(r.state, "running");
    reg_record_release(&r);
    snprintf(doc, sizeof(doc), grace, 1, "\"2015-08-26T20:23:44.678Z\"");
    CHECK_INT(one_record(&conf, doc, &r), 0);
    CHECK_STR(r.state, "unhealthy");
    reg_record_release(&r);

    /* instance ids of each era name their tasks */
    CHECK_INT(mar_task_of("prod_db.5f1c", "prod_db.5f1c"), 1);
    CHECK_INT(mar_task_of("prod_db.5f1c", "prod_db.marathon-5f1c"), 1); /* 1.4-1.7 */
    CHECK_INT(mar_task_of("prod_db.5f1d", "prod_db.marathon-5f1c"), 0);
    CHECK_INT(mar_task_of("prod_dc.5f1c", "prod_db.marathon-5f1c"), 0);
    CHECK_INT(mar_task_of("prod_db.instance-5f1c._app.1", "prod_db.instance-5f1c"), 1); /* 1.8+ */
    CHECK_INT(mar_task_of("prod_db.instance-5f1cd._app.1", "prod_db.instance-5f1c"), 0);

    /* a stored app without labels (0.7) or port names (before 0.16) is still "the same" */
    cfg.environment = "prod";
    conf.image = "example/db:1";
    conf.instances = 2;
    conf.cpus = 0.5;
    conf.mem = 64;
    want = mar_app_json(&cfg, &conf, 1);
    CHECK(want != NULL);
    CHECK_AT(want, "args", "[]"); /* legacy: a PUT merges, so no args must clear old ones */
    CHECK_STR(json_str(cJSON_GetObjectItem(want, "env"), "MDO_APP_VERSION"),
              json_str(cJSON_GetObjectItem(want, "labels"), "mdo.app_version"));
    CHECK_INT((int)strlen(json_str(cJSON_GetObjectItem(want, "env"), "MDO_APP_VERSION")), 12);
    have = cJSON_Duplicate(want, 1);
    cJSON_DeleteItemFromObject(have, "labels");
    cJSON_DeleteItemFromObject(have, "args");
    {
        cJSON *m;
        cJSON_ArrayForEach(
            m, cJSON_GetObjectItem(
                   cJSON_GetObjectItem(cJSON_GetObjectItem(have, "container"), "docker"),
                   "portMappings")) cJSON_DeleteItemFromObject(m, "name");
    }
    CHECK_INT(mar_app_same(want, have), 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(have, "env"), "MDO_APP_VERSION",
                              cJSON_CreateString("000000000000"));
    CHECK_INT(mar_app_same(want, have), 0); /* the version still tells a change */
    cJSON_Delete(have);
    cJSON_Delete(want);

    /* upgrade.pause: with a fixed host port or UNIQUE, ceil(n x min) is n-1 (kill first) */
    conf.upgrade_pause = 5;
    CHECK(mar_min_health(&conf) == 1.0); /* room for one extra: Marathon starts it first */
    ports[0].host_port = 9042;
    for (unsigned n = 1; n <= 1000; n++) {
        double r_ = (conf.instances = n, mar_min_health(&conf)) * n;
        unsigned c = (unsigned)r_ + ((double)(unsigned)r_ < r_);
        if (c != n - 1) {
            fprintf(stderr, "n=%u: ceil(n x %g) = %u\n", n, mar_min_health(&conf), c);
            CHECK_INT(c, n - 1);
            break;
        }
    }
    CHECK_INT(conf.instances, 1000);
    conf.instances = 1;
    CHECK(mar_min_health(&conf) == 0.0);
    ports[0].host_port = 0;
    conf.instances = 3;
    conf.constraints = uniq;
    conf.nconstraints = 1;
    CHECK(mar_min_health(&conf) > 0.66 && mar_min_health(&conf) < 0.6667); /* UNIQUE: same */
    conf.upgrade_pause = 0;
    CHECK(mar_min_health(&conf) == 0.5);
}

/* validate: marathon.api as a Marathon version refuses what that Marathon cannot do */
static void test_api_floors(void)
{
    static const struct {
        const char *api, *mode, *labels, *want; /* want: a part of the message, or NULL: ok */
    } cases[] = {
        {"1.10", "events", "", NULL},
        {"1.4", "callback", "", NULL},
        {"0.8", "callback", "    labels: {tier: db}\n", NULL},
        {"0.9", "events", "", NULL},
        {"legacy", "callback", "", NULL},
        {"1.5", "callback", "", "no http callbacks (removed in 1.5)"},
        {"0.8", "events", "", "needs /v2/events, which Marathon 0.8 lacks (from 0.9)"},
        {"0.7", "callback", "    labels: {tier: db}\n", "keeps no app labels (from 0.8)"},
        {"0.6", "callback", "", "mdo needs 0.7 or later"},
        {"1.x", "events", "", "v2, legacy, or the Marathon version"},
        {"1.", "events", "", "v2, legacy, or the Marathon version"},
        {"1.4.2.1", "events", "", "v2, legacy, or the Marathon version"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf t = BUF_INIT(0);
        struct mdo_err err = MDO_ERR_INIT;
        struct cfg *c = NULL;
        const char *path = fixture_path("floors.yaml");
        int ret;

        buf_addf(&t,
                 "environment: prod\nscheduler: marathon\nmarathon:\n  url: http://m:8080\n"
                 "  api: \"%s\"\nsubscriber:\n  mode: %s\n  public_url: http://s:5000\n"
                 "services:\n  db:\n    image: x/db:1\n%s",
                 cases[i].api, cases[i].mode, cases[i].labels);
        fixture_write(path, t.ptr, t.len);
        ret = cfg_load(path, &c, &err);
        if (cases[i].want ? !ret || !strstr(err.msg, cases[i].want) : ret != 0)
            fprintf(stderr, "case %zu (api %s): %s\n", i, cases[i].api, err.msg);
        CHECK(cases[i].want ? ret != 0 && strstr(err.msg, cases[i].want) != NULL : ret == 0);
        cfg_free(c);
        buf_release(&t);
    }
}

/* A server that answers one request with `answer` (a whole HTTP response). */
struct one {
    int fd;
    const char *answer;
    pthread_t th;
};

static void *one_serve(void *arg)
{
    struct one *o = arg;
    char req[4096];
    int c = accept(o->fd, NULL, NULL);

    if (c >= 0) {
        ssize_t n = recv(c, req, sizeof(req), 0); /* a GET without a body: one read is enough */
        (void)n;
        if (send(c, o->answer, strlen(o->answer), 0) < 0)
            perror("send");
        close(c);
    }
    return NULL;
}

static unsigned one_start(struct one *o, const char *answer)
{
    int port;

    o->answer = answer;
    o->fd = fixture_loopback(1, &port);
    if (pthread_create(&o->th, NULL, one_serve, o))
        fixture_fail("a thread for the fixture server", "");
    return (unsigned)port;
}

static void one_stop(struct one *o)
{
    pthread_join(o->th, NULL);
    close(o->fd);
}

/* GET /v2/leader -> the leader's base URL, marathon.url's scheme and credentials kept */
static void test_leader_url(void)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Connection: close\r\n\r\n"
                             "{\"leader\":\"10.0.0.7:8081\"}";
    static const char none[] = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                               "Connection: close\r\n\r\n"
                               "{\"message\":\"There is no leader\"}";
    static const char bad[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Connection: close\r\n\r\n"
                              "{\"leader\":\"evil/x@y:80#zz\"}";
    const char *answers[] = {ok, none, bad};
    for (int i = 0; i < 3; i++) {
        struct one o;
        struct cfg cfg = {0};
        struct sched *s = NULL;
        struct mdo_err err = MDO_ERR_INIT;
        struct buf url = BUF_INIT(0), out = BUF_INIT(0);
        int ret;

        buf_addf(&url, "http://mdo:pw@127.0.0.1:%u/", one_start(&o, answers[i]));
        cfg.environment = "prod";
        cfg.path = "t.yaml";
        cfg.marathon.url = url.ptr;
        if (sched_marathon.open(&s, &cfg, &err)) {
            fprintf(stderr, "open: %s\n", err.msg);
            exit(2);
        }
        ret = mar_leader_url(mar_of(s), &out, &err);
        if (i == 0) {
            CHECK_INT(ret, 0);
            CHECK_STR(buf_str(&out), "http://mdo:pw@10.0.0.7:8081");
        } else {
            CHECK(ret < 0);
            CHECK(strstr(err.msg, i == 1 ? "There is no leader" : "no leader host:port") != NULL);
        }
        sched_marathon.close(s);
        one_stop(&o);
        buf_release(&url);
        buf_release(&out);
    }
}

static void test_app_volumes(void)
{
    struct cfg_volume vols[] = {{"/srv/data", "/data", false}, {"/etc/x", "/etc/x", true}};
    char *eps[] = {"http://10.0.0.5:2379"};
    struct cfg_service svc = {0};
    struct cfg cfg = {0};
    cJSON *app;

    cfg.environment = "prod";
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 1;
    cfg.etcd.prefix = "/mdo";
    svc.name = "db";
    svc.image = "example/db";
    svc.instances = 1;
    svc.volumes = vols;
    svc.nvolumes = 2;
    app = mar_app_json(&cfg, &svc, 0);
    CHECK_AT(app, "container.volumes",
             "[{\"containerPath\":\"/data\",\"hostPath\":\"/srv/data\",\"mode\":\"RW\"},"
             "{\"containerPath\":\"/etc/x\",\"hostPath\":\"/etc/x\",\"mode\":\"RO\"}]");
    cJSON_Delete(app);
}

int main(void)
{
    test_app_volumes();
    test_leader_url();
    test_api_floors();
    test_old_versions();
    test_refused();
    test_paths();
    test_refused_once();
    test_app();
    test_ids();
    test_records();
    return check_done("test_marathon");
}
