/* test_config.c - the config loader: every field and default, the seed's file, ${VAR}, every kind
 * of bad file with its exact message, hostile input, and no leaks on error paths */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "buf.h"
#include "config.h"

#if defined(__SANITIZE_ADDRESS__)
#define CFG_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFG_TEST_LSAN 1
#endif
#endif
#ifdef CFG_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

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

static char tmpdir[] = "/tmp/mdo-test-config-XXXXXX";

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Loads text from a temporary file; returns cfg_load's result, message in err. */
static int load_text(const char *text, size_t len, struct cfg **out, struct mdo_err *err)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/t.yaml", tmpdir);
    write_file(path, text, len);
    return cfg_load(path, out, err);
}

static void test_expand(void)
{
    static const char text[] = "etcd:\n"
                               "  host: ${MDO_TEST_HOST}\n"
                               "  port: 2379\n"
                               "services:\n"
                               "  web:\n"
                               "    image: ${MDO_TEST_REG}/web:${MDO_TEST_TAG}\n"
                               "    args: [\"$${MDO_TEST_TAG}\", \"a$b\", \"${MDO_TEST_EMPTY}\"]\n"
                               "    labels: {v: \"x${MDO_TEST_TAG}y\"}\n"
                               "    constraints: [[\"${MDO_TEST_FIELD}\", CLUSTER, a]]\n";
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;
    char want[PATH_MAX + 128];
    int ret;

    setenv("MDO_TEST_HOST", "::1", 1); // IPv6 needs brackets in a URL
    setenv("MDO_TEST_REG", "registry:5000", 1);
    setenv("MDO_TEST_TAG", "1.2", 1);
    setenv("MDO_TEST_EMPTY", "", 1); // set but empty is fine: only unset is an error
    setenv("MDO_TEST_FIELD", "rack", 1);
    ret = load_text(text, sizeof(text) - 1, &c, &err);
    CHECK_INT(ret, 0);
    CHECK_STR(err.msg, "");
    if (c) {
        const struct cfg_service *s = &c->services[0];

        CHECK_STR(c->etcd.endpoints[0], "http://[::1]:2379");
        CHECK_STR(s->image, "registry:5000/web:1.2");
        CHECK_INT(s->nargs, 3);
        if (s->nargs == 3) {
            CHECK_STR(s->args[0], "${MDO_TEST_TAG}");
            CHECK_STR(s->args[1], "a$b");
            CHECK_STR(s->args[2], "");
        }
        CHECK_STR(cfg_kv_get(s->labels, s->nlabels, "v"), "x1.2y");
        CHECK_INT(s->nconstraints, 1);
        if (s->nconstraints == 1)
            CHECK_STR(s->constraints[0].field, "rack");
    }
    cfg_free(c);

    unsetenv("MDO_TEST_TAG");
    c = NULL;
    ret = load_text(text, sizeof(text) - 1, &c, &err);
    CHECK_INT(ret, -MDO_ECONFIG);
    CHECK(c == NULL);
    snprintf(want, sizeof(want),
             "%s/t.yaml:6:12: services.web.image: environment variable 'MDO_TEST_TAG' is not set\n"
             "%s/t.yaml:8:17: services.web.labels.v: environment variable 'MDO_TEST_TAG' is not "
             "set",
             tmpdir, tmpdir);
    CHECK_STR(err.msg, want);
}

/* Pass 3 hands libcyaml each service's own text at its own line and column: a BOM, CRLF line
 * ends, multi-byte characters before and inside a service, and flow mappings over several lines
 * must not shift it (libyaml counts characters, the text is bytes). */
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
             tmpdir);
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

/* More problems than err->msg holds: whole lines only, then a count of the rest. */
static void test_many_problems(void)
{
    struct buf text = BUF_INIT(0), want = BUF_INIT(0);
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;
    const char *last;
    size_t lines = 0;

    buf_adds(&text, "services:\n");
    for (int i = 0; i < 400; i++)
        buf_addf(&text, "  s%d:\n    image: x\n    instances: -1\n", i);
    CHECK_INT(load_text(text.ptr, text.len, &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    CHECK(strlen(err.msg) < sizeof(err.msg) - 1);
    buf_addf(&want,
             "%s/t.yaml:4:16: services.s0.instances: expected an integer 0..1000, got '-1'\n",
             tmpdir);
    CHECK(!strncmp(err.msg, want.ptr, want.len));
    for (const char *p = err.msg; *p; p++)
        lines += *p == '\n';
    last = strrchr(err.msg, '\n');
    buf_reset(&want);
    buf_addf(&want, "\n%s/t.yaml: %zu more problems not shown", tmpdir, 400 - lines);
    CHECK_STR(last, want.ptr);
    buf_release(&text);
    buf_release(&want);
}

struct bad {
    const char *file;
    const char *want;
};

/* Each bad file with the exact message, problems one per line in file order. */
static const struct bad bad[] = {
    {"bad-syntax.yaml", "5:5: YAML syntax error: did not find expected ',' or ']'"},
    {"bad-utf8.yaml", "3:15: YAML syntax error: incomplete UTF-8 octet sequence"},
    {"bad-type.yaml", "1:7: etcd: expected a mapping, got '4001'\n"
                      "#5:11: services.web.args: expected a list of strings, got '--verbose'"},
    {"bad-unknown-key.yaml", "3:5: services.web.imgae: unknown key (did you mean 'image'?)\n"
                             "#4:5: services.web.cpu: unknown key (did you mean 'cpus'?)"},
    {"bad-unknown-top.yaml", "1:1: scheduller: unknown key (did you mean 'scheduler'?)\n"
                             "#2:1: registry: unknown key"},
    {"bad-missing-image.yaml", "3:5: services.web: missing required key 'image'"},
    {"bad-negative-instances.yaml",
     "4:16: services.web.instances: expected an integer 0..1000, got '-1'"},
    {"bad-huge-instances.yaml",
     "4:16: services.web.instances: expected an integer 0..1000, got '99999999999'"},
    {"bad-port-range.yaml",
     "5:13: services.web.ports.http: expected a port 1..65535, optionally with /tcp or /udp, "
     "got '70000'\n"
     "#6:14: services.web.ports.admin: expected a port 1..65535, optionally with /tcp or /udp, "
     "got '0'"},
    {"bad-port-proto.yaml",
     "4:18: services.dns.ports.dns: expected a port 1..65535, optionally with /tcp or /udp, got "
     "'53/sctp'\n"
     "#4:32: services.dns.ports.web: expected a port 1..65535, optionally with /tcp or /udp, got "
     "'80/http'"},
    {"bad-port-name.yaml",
     "6:7: services.web.ports.Admin_Port: expected a port name: a lowercase letter, then "
     "lowercase letters, digits and '-' (not last), got 'Admin_Port'\n"
     "#8:7: services.web.ports-hard.http: port name already used in services.web\n"
     "#11:7: services.web.host_ports.admin: already fixed by services.web.ports-hard"},
    {"bad-port-digit.yaml",
     "5:7: services.web.ports.9p: expected a port name: a lowercase letter, then lowercase "
     "letters, digits and '-' (not last), got '9p'"},
    {"bad-host-ports.yaml",
     "8:7: services.web.host_ports.admin: no port named 'admin' in services.web.ports"},
    {"bad-scheduler.yaml", "1:12: scheduler: expected docker, marathon or swarm, got 'kubernetes'"},
    {"bad-scheduler-marathon.yaml",
     "1:12: scheduler: marathon needs marathon.url or marathon.host"},
    {"bad-pull.yaml", "3:9: docker.pull: expected missing, always or never, got 'sometimes'"},
    {"bad-unset-var.yaml",
     "3:13: etcd.password: environment variable 'MDO_TEST_UNSET_PASSWORD' is not set\n"
     "#6:12: services.web.image: environment variable 'MDO_TEST_UNSET_REGISTRY' is not set"},
    {"bad-var-syntax.yaml",
     "3:12: services.web.image: expected ${NAME} after '$' (write $$ for a '$')"},
    {"bad-service-name.yaml",
     "2:3: services.Web_1: expected a service name of lowercase letters, digits and '-' (not "
     "first or last), got 'Web_1'\n"
     "#4:3: services.-api: expected a service name of lowercase letters, digits and '-' (not "
     "first or last), got '-api'"},
    {"bad-service-value.yaml", "2:8: services.web: expected a mapping, got 'example/web'\n"
                               "#3:6: services.db: expected a mapping, got nothing"},
    {"bad-duplicate-key.yaml", "5:5: services.web.image: duplicate key (first at line 3)\n"
                               "#6:3: services.web: duplicate key (first at line 2)"},
    {"bad-empty-services.yaml", "2:11: services: expected at least one service"},
    {"bad-no-services.yaml", "2:1: missing required key 'services'"},
    {"bad-empty.yaml", "1:1: missing required key 'services'"},
    {"bad-top-list.yaml", "1:1: expected a mapping at the top level, got a list"},
    {"bad-constraints.yaml",
     "4:19: services.web.constraints[0]: expected [field, OPERATOR] or [field, OPERATOR, value], "
     "got 'hostname'\n"
     "#4:29: services.web.constraints[1]: expected [field, OPERATOR] or [field, OPERATOR, value], "
     "got 'UNIQUE'\n"
     "#8:20: services.db.constraints[0][1]: expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, "
     "MAX_PER or IS, got 'unique'\n"
     "#9:9: services.db.constraints[1]: expected [field, OPERATOR] or [field, OPERATOR, value], "
     "got a list of 1\n"
     "#10:9: services.db.constraints[2]: operator UNIQUE takes no value\n"
     "#11:9: services.db.constraints[3]: operator LIKE needs a value\n"
     "#12:25: services.db.constraints[4][2]: expected a string, got a mapping"},
    {"bad-health-both.yaml", "6:7: services.web.health: expected either 'cmd' or 'http', not both\n"
                             "#10:13: services.db.health: expected 'cmd' or 'http'"},
    {"bad-health-port.yaml",
     "5:20: services.web.health.http: expected a path starting with '/', got 'health'\n"
     "#5:34: services.web.health.port: no port named 'admin' in services.web.ports\n"
     "#8:20: services.worker.health.http: needs a port, and the service has none\n"
     "#11:33: services.db.health.port: only used with 'http'\n"
     "#11:48: services.db.health.timeout: expected an integer 1..86400, got '0'"},
    {"bad-cpus.yaml",
     "4:11: services.web.cpus: expected a number greater than 0 and at most 1024, got '0'\n"
     "#7:11: services.db.cpus: expected a number greater than 0 and at most 1024, got '-0.5'\n"
     "#10:11: services.batch.cpus: expected a number greater than 0 and at most 1024, got "
     "'lots'"},
    {"bad-seed-form.yaml",
     "3:14: etcd.endpoints: expected either host/port or endpoints, not both\n"
     "#6:8: marathon.url: expected either host/port or url, not both"},
    {"bad-secret.yaml", "3:13: marathon.password: expected a string, got a list\n"
                        "#5:10: subscriber.token: expected a string\n"
                        "#7:3: docker.password: unknown key"},
    {"bad-alias.yaml", "5:12: YAML aliases are not supported, write the value out"},
    {"bad-two-docs.yaml", "4:1: expected one YAML document, found a second"},
    {"bad-deep.yaml", "4:72: expected at most 64 levels of nesting"},
    {"bad-multi.yaml",
     "1:14: environment: expected a name of lowercase letters, digits and '-' (not first or "
     "last), got 'Prod'\n"
     "#3:8: marathon.url: expected an http:// or https:// URL, got 'ftp://marathon:8080'\n"
     "#4:13: marathon.insecure: expected true or false, got 'maybe'\n"
     "#6:11: subscriber.listen: expected ADDRESS:PORT, got 'localhost'\n"
     "#7:11: subscriber.resync: expected an integer 1..86400, got '0'\n"
     "#11:16: services.web.instances: expected an integer 0..1000, got '010'\n"
     "#12:10: services.web.mem: expected an integer 32..1048576, got '3x'\n"
     "#14:7: services.web.environment.1BAD: expected a variable name of letters, digits and "
     "'_', got '1BAD'\n"
     "#15:11: services.web.environment.OK: expected a string or number, got a list\n"
     "#16:13: services.web.labels: expected a mapping of names to values, got 'tier'\n"
     "#18:12: services.db.image: expected an image name, got 'two words'\n"
     "#19:22: services.db.upgrade.pause: expected an integer 0..86400, got '-5'\n"
     "#19:26: services.db.upgrade.wait: unknown key"},
};

/* The table writes each line's "config/FILE:" prefix as '#' (and none on the first line). */
static void expand_want(const char *file, const char *want, struct buf *out)
{
    buf_reset(out);
    buf_addf(out, "config/%s:", file);
    for (const char *p = want; *p; p++) {
        if (*p == '#')
            buf_addf(out, "config/%s:", file);
        else
            buf_addc(out, *p);
    }
}

static void test_bad(void)
{
    struct buf want = BUF_INIT(0);
    unsigned n = 0;

    unsetenv("MDO_TEST_UNSET_PASSWORD");
    unsetenv("MDO_TEST_UNSET_REGISTRY");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mdo_err err = MDO_ERR_INIT;
        struct cfg *c = (struct cfg *)&err; // must come back NULL
        char path[256];
        int ret;

        snprintf(path, sizeof(path), "config/%s", bad[i].file);
        ret = cfg_load(path, &c, &err);
        expand_want(bad[i].file, bad[i].want, &want);
        CHECK_INT(ret, -MDO_ECONFIG);
        CHECK_INT(err.code, MDO_ECONFIG);
        CHECK(c == NULL);
        CHECK_STR(err.msg, buf_str(&want));
        CHECK(!strstr(err.msg, "hunter2")); // secrets never in messages
        n++;
    }
    CHECK(n >= 20);
    buf_release(&want);
}

static void test_unreadable(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;
    char want[PATH_MAX + 64];

    CHECK_INT(cfg_load("config/no-such-file.yaml", &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    CHECK_INT(err.code, MDO_ECONFIG);
    CHECK_STR(err.msg, "cannot read config/no-such-file.yaml: No such file or directory");

    err_clear(&err);
    CHECK_INT(cfg_load("config", &c, &err), -MDO_ECONFIG);
    CHECK_STR(err.msg, "cannot read config: Is a directory");

    err_clear(&err);
    snprintf(want, sizeof(want), "%s/t.yaml", tmpdir);
    write_file(want, "services: {a: {image: b}}\n", 26);
    if (geteuid() != 0) { // root reads anything
        chmod(want, 0);
        CHECK_INT(cfg_load(want, &c, &err), -MDO_ECONFIG);
        snprintf(want, sizeof(want), "cannot read %s/t.yaml: Permission denied", tmpdir);
        CHECK_STR(err.msg, want);
    }
}

/* -c FILE, else $MDO_CONFIG, else ./mdo.yaml, else ./config.yaml (DESIGN §2). */
static void test_default_path(void)
{
    char cwd[PATH_MAX], dir[PATH_MAX + 8];

    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(dir, sizeof(dir), "%s/d", tmpdir);
    CHECK_INT(mkdir(dir, 0700), 0);
    CHECK_INT(chdir(dir), 0);

    setenv("MDO_CONFIG", "/etc/mdo/env.yaml", 1);
    CHECK_STR(cfg_default_path("given.yaml"), "given.yaml");
    CHECK_STR(cfg_default_path(NULL), "/etc/mdo/env.yaml");
    setenv("MDO_CONFIG", "", 1);                   // empty counts as unset
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml"); // nothing there: the name for the error
    unsetenv("MDO_CONFIG");
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml");
    write_file("config.yaml", "x", 1);
    CHECK_STR(cfg_default_path(NULL), "config.yaml");
    write_file("mdo.yaml", "x", 1);
    CHECK_STR(cfg_default_path(NULL), "mdo.yaml");
    setenv("MDO_CONFIG", "/etc/mdo/env.yaml", 1);
    CHECK_STR(cfg_default_path(NULL), "/etc/mdo/env.yaml");
    unsetenv("MDO_CONFIG");

    unlink("mdo.yaml");
    unlink("config.yaml");
    CHECK_INT(chdir(cwd), 0);
    rmdir(dir);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;

    if (!f)
        return NULL;
    n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    if (n >= 0 && !fseek(f, 0, SEEK_SET)) {
        p = malloc((size_t)n + 1);
        if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
            free(p);
            p = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return p;
}

/* Hostile input: every cut of the good file, and random damage to it. The loader must answer
 * ok or ECONFIG with a message, never crash or leak (ASan and valgrind runs check the latter). */
static void test_hostile(void)
{
    static const char junk[] = "\0\t\n\r :-[]{}#&*!|>'\"%@`,?$\xff\xc3";
    size_t len = 0, bad_answers = 0;
    char *good = slurp("config/good.yaml", &len), *t;
    unsigned seed = 12345;

    CHECK(good != NULL);
    if (!good)
        return;
    t = malloc(len);
    for (size_t cut = 0; t && cut <= len; cut += 3) {
        struct mdo_err err = MDO_ERR_INIT;
        struct cfg *c = NULL;
        int ret = load_text(good, cut, &c, &err);

        if (!(ret == 0 && c) && !(ret == -MDO_ECONFIG && !c && err.msg[0]))
            bad_answers++;
        cfg_free(c);
    }
    for (int round = 0; t && round < 300; round++) {
        struct mdo_err err = MDO_ERR_INIT;
        struct cfg *c = NULL;
        int ret;

        memcpy(t, good, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245 + 12345;
            t[(seed >> 8) % len] = junk[(seed >> 20) % (sizeof(junk) - 1)];
        }
        ret = load_text(t, len, &c, &err);
        if (!(ret == 0 && c) && !(ret == -MDO_ECONFIG && !c && err.msg[0]))
            bad_answers++;
        cfg_free(c);
    }
    CHECK_INT(bad_answers, 0);
    free(t);
    free(good);
}

/* Under ASan, ask LeakSanitizer now, after every error path above ran through libyaml and
 * libcyaml, so a leak fails this check by name rather than only at exit. */
static void test_no_leaks(void)
{
#ifdef CFG_TEST_LSAN
    CHECK_INT(__lsan_do_recoverable_leak_check(), 0);
#endif
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_good();
    test_seed();
    test_expand();
    test_layout();
    test_many_problems();
    test_bad();
    test_unreadable();
    test_default_path();
    test_hostile();
    test_no_leaks();
    {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/t.yaml", tmpdir);
        unlink(path);
        rmdir(tmpdir);
    }
    return check_done("test_config");
}
