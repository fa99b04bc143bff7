/* test_config.c - the config loader on good files: every field and default, the seed's file,
 * layouts, the file it picks, what it normalises (etcd.prefix) and refuses (swarm), and the
 * helpers over a loaded service. Bad files: test_config_bad.c; ${VAR}: test_expand.c. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "fixture.h"
#include "buf.h"
#include "config.h"

/* Loads text from a temporary file; returns cfg_load's result, message in err. */
static int load_text(const char *text, size_t len, struct cfg **out, struct mdo_err *err)
{
    const char *path = fixture_path("t.yaml");

    fixture_write(path, text, len);
    return cfg_load(path, out, err);
}

static struct cfg *load_ok(const char *path)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;
    int ret = cfg_load(path, &cfg, &err);

    CHECK_INT(ret, 0);
    CHECK_STR(err.msg, "");
    CHECK(cfg != NULL);
    return cfg;
}

static void test_good(void)
{
    const struct cfg_service *s;
    struct cfg *c;

    setenv("MDO_TEST_ETCD_PASSWORD", "s3cret", 1);
    setenv("MDO_TEST_TOKEN", "abc", 1);
    setenv("MDO_TEST_HOME", "/home/mdo", 1);
    c = load_ok("config/good.yaml");
    if (!c)
        return;
    CHECK_STR(c->path, "config/good.yaml");
    CHECK_STR(c->environment, "prod");
    CHECK_INT(c->scheduler, CFG_SCHED_MARATHON);

    CHECK_INT(c->etcd.nendpoints, 2);
    CHECK_STR(c->etcd.endpoints[0], "https://10.0.0.5:2379");
    CHECK_STR(c->etcd.endpoints[1], "http://10.0.0.6:2379");
    CHECK_STR(c->etcd.username, "mdo");
    CHECK_STR(c->etcd.password, "s3cret");
    CHECK_STR(c->etcd.ca, "/etc/mdo/ca.pem");
    CHECK_STR(c->etcd.cert, "/etc/mdo/cert.pem");
    CHECK_STR(c->etcd.key, "/etc/mdo/key.pem");
    CHECK_STR(c->etcd.prefix, "/mdo-test");
    CHECK_STR(c->etcd.guest.username, "mdo-guest");
    CHECK_STR(c->etcd.guest.password, "abc-guest");

    CHECK_STR(c->marathon.url, "https://m.example:8443");
    CHECK_STR(c->marathon.username, "admin");
    CHECK_STR(c->marathon.password, "pa$word");
    CHECK_STR(c->marathon.token, "tok-abc");
    CHECK_STR(c->marathon.ca, "/etc/mdo/m-ca.pem");
    CHECK(c->marathon.insecure);
    CHECK_STR(c->marathon.api, "legacy");

    CHECK_STR(c->subscriber.listen, "0.0.0.0:5050");
    CHECK_STR(c->subscriber.public_url, "http://10.0.0.7:5050");
    CHECK_STR(c->subscriber.token, "sub-token");
    CHECK_INT(c->subscriber.resync, 30);
    CHECK_STR(c->subscriber.mode, "callback");
    CHECK_INT(c->subscriber.ncallback_allow, 3);
    CHECK_STR(c->subscriber.callback_allow[1], "fd00::/8");
    CHECK_STR(c->subscriber.callback_allow[2], "127.0.0.1");
    CHECK_INT(c->subscriber.callback_max_per_service, 16);
    CHECK_INT(c->subscriber.callback_max_per_owner, 8);

    CHECK_STR(c->docker.socket, "/run/docker.sock");
    CHECK_STR(c->docker.host_address, "172.17.0.1");
    CHECK_INT(c->docker.pull, CFG_PULL_ALWAYS);

    CHECK_INT(c->nservices, 3);
    CHECK_STR(c->services[0].name, "cassandra");
    CHECK_STR(c->services[1].name, "web");
    CHECK_STR(c->services[2].name, "worker");

    s = cfg_service(c, "cassandra");
    CHECK(s == &c->services[0]);
    if (s) {
        CHECK_STR(s->image, "example/cassandra:3");
        CHECK_INT(s->nports, 4);
        if (s->nports == 4) {
            CHECK_STR(s->ports[0].name, "storage");
            CHECK_INT(s->ports[0].port, 7000);
            CHECK_STR(s->ports[0].proto, "tcp");
            CHECK_INT(s->ports[0].host_port, 0);
            CHECK_STR(s->ports[1].name, "native");
            CHECK_INT(s->ports[1].port, 9042);
            CHECK_INT(s->ports[1].host_port, 19042);
            CHECK_STR(s->ports[2].name, "thrift");
            CHECK_INT(s->ports[2].port, 9160);
            CHECK_STR(s->ports[2].proto, "tcp");
            CHECK_STR(s->ports[3].name, "gossip");
            CHECK_INT(s->ports[3].port, 7001);
            CHECK_STR(s->ports[3].proto, "udp");
        }
        CHECK_INT(s->instances, 3);
        CHECK(s->cpus > 0.499 && s->cpus < 0.501);
        CHECK_INT(s->mem, 1024);
        CHECK_INT(s->nenv, 5);
        if (s->nenv == 5) {
            CHECK_STR(s->env[0].key, "MIN_NODES"); // file order
            CHECK_STR(s->env[4].key, "PRICE");
        }
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "MIN_NODES"), "2");
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "DEBUG"), "true");
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "EMPTY"), "");
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "HOME_DIR"), "/home/mdo");
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "PRICE"), "$5 and $HOME");
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "NOPE"), NULL);
        CHECK_INT(s->nlabels, 2);
        CHECK_STR(cfg_kv_get(s->labels, s->nlabels, "tier"), "db");
        CHECK_STR(cfg_kv_get(s->labels, s->nlabels, "team"), "data");
        CHECK_INT(s->nconstraints, 3);
        if (s->nconstraints == 3) {
            CHECK_STR(s->constraints[0].field, "hostname");
            CHECK_STR(s->constraints[0].op, "UNIQUE");
            CHECK_STR(s->constraints[0].value, NULL);
            CHECK_STR(s->constraints[1].op, "GROUP_BY");
            CHECK_STR(s->constraints[1].value, "3");
            CHECK_STR(s->constraints[2].field, "zone");
            CHECK_STR(s->constraints[2].op, "LIKE");
            CHECK_STR(s->constraints[2].value, "eu-.*");
        }
        CHECK(s->has_health);
        CHECK_STR(s->health.cmd, "nodetool status");
        CHECK_STR(s->health.http, NULL);
        CHECK_STR(s->health.port, NULL);
        CHECK_INT(s->health.interval, 20);
        CHECK_INT(s->health.timeout, 7);
        CHECK_INT(s->health.grace, 120);
        CHECK_INT(s->nargs, 3);
        if (s->nargs == 3) {
            CHECK_STR(s->args[0], "--seed");
            CHECK_STR(s->args[1], "");
            CHECK_STR(s->args[2], "42");
        }
        CHECK_INT(s->upgrade_pause, 30);
        CHECK_INT(s->nvolumes, 3);
        if (s->nvolumes == 3) {
            CHECK_STR(s->volumes[0].host, "/var/lib/cassandra");
            CHECK_STR(s->volumes[0].path, "/var/lib/cassandra");
            CHECK(!s->volumes[0].ro);
            CHECK_STR(s->volumes[1].path, "/etc/cassandra");
            CHECK(s->volumes[1].ro);
            CHECK_STR(s->volumes[2].host, "/srv/x");
            CHECK(!s->volumes[2].ro);
        }
    }

    s = cfg_service(c, "web");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->nports, 2); // ports-hard came first in the file
        if (s->nports == 2) {
            CHECK_STR(s->ports[0].name, "admin");
            CHECK_INT(s->ports[0].port, 8081);
            CHECK_INT(s->ports[0].host_port, 8081);
            CHECK_STR(s->ports[1].name, "http");
            CHECK_INT(s->ports[1].port, 80);
            CHECK_INT(s->ports[1].host_port, 0);
        }
        CHECK(s->has_health);
        CHECK_STR(s->health.cmd, NULL);
        CHECK_STR(s->health.http, "/health");
        CHECK_STR(s->health.port, "http");
        CHECK_INT(s->health.interval, 10);
        CHECK_INT(s->health.timeout, 5);
        CHECK_INT(s->health.grace, 60);
    }

    s = cfg_service(c, "worker"); // every default
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->image, "example/worker");
        CHECK_INT(s->nports, 0);
        CHECK_INT(s->instances, 1);
        CHECK(s->cpus > 0.299 && s->cpus < 0.301);
        CHECK_INT(s->mem, 512);
        CHECK_INT(s->nenv, 0);
        CHECK_INT(s->nlabels, 0);
        CHECK_INT(s->nconstraints, 0);
        CHECK(!s->has_health);
        CHECK_INT(s->nargs, 0);
        CHECK(s->args == NULL);
        CHECK_INT(s->upgrade_pause, 0);
    }
    CHECK(cfg_service(c, "nope") == NULL);
    cfg_free(c);
}

static void test_seed(void)
{
    const struct cfg_service *s;
    struct cfg *c = load_ok("../../examples/seed-config.yaml");

    if (!c)
        return;
    // top-level defaults
    CHECK_STR(c->environment, "local");
    CHECK_INT(c->scheduler, CFG_SCHED_DOCKER);
    CHECK_INT(c->etcd.nendpoints, 1);
    CHECK_STR(c->etcd.endpoints[0], "http://127.0.0.1:4001");
    CHECK_STR(c->etcd.prefix, "/mdo");
    CHECK_STR(c->etcd.password, NULL);
    CHECK_STR(c->marathon.url, "http://127.0.0.1:8080");
    CHECK_STR(c->marathon.api, "v2");
    CHECK(!c->marathon.insecure);
    CHECK_STR(c->subscriber.listen, "127.0.0.1:5000");
    CHECK_STR(c->subscriber.mode, "events");
    CHECK_INT(c->subscriber.resync, 60);
    CHECK_INT(c->subscriber.ncallback_allow, 0);
    CHECK_INT(c->subscriber.callback_max_per_service, 16);
    CHECK_INT(c->subscriber.callback_max_per_owner, 64);
    CHECK_STR(c->subscriber.public_url, NULL);
    CHECK_STR(c->docker.socket, "/var/run/docker.sock");
    CHECK_STR(c->docker.host_address, "auto");
    CHECK_INT(c->docker.pull, CFG_PULL_MISSING);

    CHECK_INT(c->nservices, 6);
    s = cfg_service(c, "rails");
    if (s) {
        CHECK_STR(s->image, "localhost:5000/rails");
        CHECK_INT(s->nports, 1);
        CHECK_STR(s->ports[0].name, "noname");
        CHECK_INT(s->ports[0].port, 3000);
    }
    s = cfg_service(c, "zookeeper");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->nports, 4);
        CHECK(s->cpus > 0.099 && s->cpus < 0.101);
    }
    s = cfg_service(c, "cassandra");
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->image, "localhost:5000/cassandra-processor-s");
        CHECK_INT(s->instances, 2);
        CHECK_INT(s->nports, 3);
        if (s->nports == 3) {
            CHECK_STR(s->ports[0].name, "storage");
            CHECK_INT(s->ports[0].port, 7000);
            CHECK_INT(s->ports[0].host_port, 7000);
            CHECK_STR(s->ports[1].name, "native");
            CHECK_INT(s->ports[1].port, 9042);
            CHECK_INT(s->ports[1].host_port, 9042);
            CHECK_STR(s->ports[2].name, "thrift");
            CHECK_INT(s->ports[2].host_port, 9160);
        }
        CHECK_STR(cfg_kv_get(s->env, s->nenv, "MIN_NODES"), "2");
    }
    s = cfg_service(c, "processor");
    CHECK(s && !strcmp(cfg_kv_get(s->env, s->nenv, "configuration"), "spout"));
    s = cfg_service(c, "ingestor");
    CHECK(s && s->cpus > 0.149 && s->cpus < 0.151);
    cfg_free(c);
}

/* Layouts that must not shift a line or column or lose a value: a BOM, CRLF line ends,
 * multi-byte characters before and inside a service (libyaml counts characters, the text is
 * bytes), and flow mappings over several lines. */
static void test_layout(void)
{
    static const char text[] = "\xef\xbb\xbf# caf\xc3\xa9 \xe2\x82\xac\r\n"
                               "services:\r\n"
                               "  \"web\":  # \xc3\xa9\xc3\xa9\r\n"
                               "    image: \"caf\xc3\xa9\"\r\n"
                               "    args:\r\n"
                               "      - |\r\n"
                               "        line1\r\n"
                               "        line2\r\n"
                               "  db: {image: x, ports: {a: 1},\r\n"
                               "   instances: 2}\r\n"
                               "  \xc3\xa9t\xc3\xa9: {image: y}\r\n";
    static const char flow[] = "{services: {web: {image: x, cpus: 1.5}, db: {image: \"y\"}}}";
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;
    char want[PATH_MAX + 200];

    // the last service's name is wrong: checked first, then the same text with it fixed
    CHECK_INT(load_text(text, sizeof(text) - 1, &c, &err), -MDO_ECONFIG);
    snprintf(want, sizeof(want),
             "%s/t.yaml:11:3: services.\xc3\xa9t\xc3\xa9: expected a service name of lowercase "
             "letters, digits and '-' (not first or last), got '\xc3\xa9t\xc3\xa9'",
             fixture_tmpdir());
    CHECK_STR(err.msg, want);
    {
        char fixed[sizeof(text)];

        memcpy(fixed, text, sizeof(text));
        memcpy(strstr(fixed, "\xc3\xa9t\xc3\xa9:"), "etxyz", 5);
        CHECK_INT(load_text(fixed, sizeof(text) - 1, &c, &err), 0);
    }
    if (c) {
        CHECK_INT(c->nservices, 3);
        CHECK_STR(c->services[0].image, "caf\xc3\xa9");
        CHECK_INT(c->services[0].nargs, 1);
        if (c->services[0].nargs)
            CHECK_STR(c->services[0].args[0], "line1\nline2\n");
        CHECK_INT(c->services[1].instances, 2);
        CHECK_INT(c->services[1].nports, 1);
        CHECK_STR(c->services[2].name, "etxyz");
        CHECK_STR(c->services[2].image, "y");
    }
    cfg_free(c);
    c = NULL;
    CHECK_INT(load_text(flow, sizeof(flow) - 1, &c, &err), 0);
    if (c) {
        CHECK(c->services[0].cpus > 1.49 && c->services[0].cpus < 1.51);
        CHECK_STR(c->services[1].image, "y");
    }
    cfg_free(c);
}

/* -c FILE, else $MDO_CONFIG, else ./mdo.yaml, else ./config.yaml (DESIGN §2). */
static void test_default_path(void)
{
    char cwd[PATH_MAX], dir[PATH_MAX + 8];

    if (!getcwd(cwd, sizeof(cwd)))
        fixture_fail("getcwd", ".");
    snprintf(dir, sizeof(dir), "%s/d", fixture_tmpdir());
    if (mkdir(dir, 0700) || chdir(dir))
        fixture_fail("cannot make and enter", dir);

    setenv("MDO_CONFIG", "/etc/mdo/env.yaml", 1);
    CHECK_STR(cfg_default_path("given.yaml"), "given.yaml");
    CHECK_STR(cfg_default_path(NULL), "/etc/mdo/env.yaml");
    setenv("MDO_CONFIG", "", 1);                   // empty counts as unset
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml"); // nothing there: the name for the error
    unsetenv("MDO_CONFIG");
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml");
    fixture_write("config.yaml", "x", 1);
    CHECK_STR(cfg_default_path(NULL), "config.yaml");
    fixture_write("mdo.yaml", "x", 1);
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml");
    setenv("MDO_CONFIG", "/etc/mdo/env.yaml", 1);
    CHECK_STR(cfg_default_path(NULL), "/etc/mdo/env.yaml");
    unsetenv("MDO_CONFIG");

    unlink("mdo.yaml");
    unlink("config.yaml");
    if (chdir(cwd))
        fixture_fail("cannot go back to", cwd);
    rmdir(dir);
}

/* etcd.prefix is normalised once, in the loader: every key builder gets the same prefix. */
static void test_prefix(void)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {"/mdo/", "/mdo"},
        {"/a//b/", "/a/b"},
        {"/mdo", "/mdo"},
        {"\"/x///\"", "/x"},
    };
    struct mdo_err err = MDO_ERR_INIT;
    struct buf text = BUF_INIT(0);
    struct cfg *c = NULL;
    char want[PATH_MAX + 128];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_reset(&text);
        buf_addf(&text, "etcd: {prefix: %s}\nservices: {a: {image: b}}\n", t[i].in);
        CHECK_INT(load_text(text.ptr, text.len, &c, &err), 0);
        CHECK_STR(c ? c->etcd.prefix : NULL, t[i].want);
        cfg_free(c);
        c = NULL;
    }
    // without a leading '/' it is still an error at its place
    buf_reset(&text);
    buf_adds(&text, "etcd:\n  prefix: mdo/\nservices: {a: {image: b}}\n");
    CHECK_INT(load_text(text.ptr, text.len, &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    snprintf(
        want, sizeof(want),
        "%s/t.yaml:2:11: etcd.prefix: expected a key prefix starting with '/' (not '/' alone), "
        "got 'mdo/'",
        fixture_tmpdir());
    CHECK_STR(err.msg, want);
    // "/" alone would name no prefix at all: refused too
    buf_reset(&text);
    buf_adds(&text, "etcd:\n  prefix: //\nservices: {a: {image: b}}\n");
    CHECK_INT(load_text(text.ptr, text.len, &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    buf_release(&text);
}

/* scheduler: swarm is a word of DESIGN §3 with no backend yet: refused when the file is loaded. */
static void test_swarm(void)
{
    static const char text[] = "environment: prod\nscheduler: swarm\nservices: {a: {image: b}}\n";
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;
    char want[PATH_MAX + 128];

    CHECK_INT(load_text(text, sizeof(text) - 1, &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    CHECK_INT(err.code, MDO_ECONFIG);
    snprintf(want, sizeof(want),
             "%s/t.yaml:2:12: scheduler: swarm is not built yet: use docker or marathon",
             fixture_tmpdir());
    CHECK_STR(err.msg, want);
}

/* cfg_health_port() and cfg_service_fixed_ports(), which both backends use. */
static void test_service_helpers(void)
{
    static const char text[] =
        "services:\n"
        "  named: {image: x, ports: {a: 1, b: 2}, health: {http: /, port: b}}\n"
        "  first: {image: x, ports: {a: 1, b: 2}, health: {http: /}}\n"
        "  none: {image: x}\n"
        "  hard: {image: x, ports: {a: 1}, ports-hard: {b: 2}}\n"
        "  host: {image: x, ports: {a: 1, b: 2}, host_ports: {b: 8002}}\n";
    struct mdo_err err = MDO_ERR_INIT;
    const struct cfg_service *s;
    struct cfg *c = NULL;

    CHECK_INT(load_text(text, sizeof(text) - 1, &c, &err), 0);
    CHECK_STR(err.msg, "");
    if (!c)
        return;
    s = cfg_service(c, "named");
    CHECK(cfg_health_port(s) == &s->ports[1]);
    CHECK(!cfg_service_fixed_ports(s));
    s = cfg_service(c, "first");
    CHECK(cfg_health_port(s) == &s->ports[0]);
    s = cfg_service(c, "none");
    CHECK(cfg_health_port(s) == NULL);
    CHECK(!cfg_service_fixed_ports(s));
    s = cfg_service(c, "hard");
    CHECK(cfg_service_fixed_ports(s) && cfg_service_fixed_ports(s)->host_port);
    s = cfg_service(c, "host");
    CHECK(cfg_service_fixed_ports(s));
    CHECK(cfg_health_port(NULL) == NULL);
    CHECK(!cfg_service_fixed_ports(NULL));
    cfg_free(c);
}

int main(void)
{
    test_good();
    test_seed();
    test_layout();
    test_default_path();
    test_prefix();
    test_swarm();
    test_service_helpers();
    unlink(fixture_path("t.yaml"));
    rmdir(fixture_tmpdir());
    return check_done("test_config");
}
