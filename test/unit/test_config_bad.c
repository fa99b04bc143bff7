/* test_config_bad.c - the config loader on bad input: every bad file's exact message, more
 * problems than a message holds, unreadable files, hostile input, and no leaks on error paths */
#include <dirent.h>
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

/* Loads text from a temporary file; returns cfg_load's result, message in err. */
static int load_text(const char *text, size_t len, struct cfg **out, struct mdo_err *err)
{
    const char *path = fixture_path("t.yaml");

    fixture_write(path, text, len);
    return cfg_load(path, out, err);
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
             fixture_tmpdir());
    CHECK(!strncmp(err.msg, want.ptr, want.len));
    for (const char *p = err.msg; *p; p++)
        lines += *p == '\n';
    last = strrchr(err.msg, '\n');
    buf_reset(&want);
    buf_addf(&want, "\n%s/t.yaml: %zu more problems not shown", fixture_tmpdir(), 400 - lines);
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
    {"bad-callback-allow.yaml",
     "2:55: subscriber.callback_allow[3]: expected a CIDR (10.0.0.0/8, 127.0.0.1, fd00::/8), got "
     "'10.0.0.1/8'\n"
     "#2:67: subscriber.callback_allow[4]: expected a CIDR (10.0.0.0/8, 127.0.0.1, fd00::/8), got "
     "'localhost'\n"
     "#2:78: subscriber.callback_allow[5]: expected a CIDR (10.0.0.0/8, 127.0.0.1, fd00::/8), got "
     "'::/129'\n"
     "#3:29: subscriber.callback_max_per_service: expected an integer 1..100000, got '0'\n"
     "#4:27: subscriber.callback_max_per_owner: expected an integer 1..100000, got 'many'"},
    {"bad-env-shadow.yaml",
     "5:7: services.web.environment.MDO_ETCD: 'MDO_ETCD' is set by mdo in every container "
     "(MDO_*, SERVICE_NAME, ETCD_HOST_ADDRESS): choose another name\n"
     "#6:7: services.web.environment.SERVICE_NAME: 'SERVICE_NAME' is set by mdo in every "
     "container (MDO_*, SERVICE_NAME, ETCD_HOST_ADDRESS): choose another name\n"
     "#7:7: services.web.environment.ETCD_HOST_ADDRESS: 'ETCD_HOST_ADDRESS' is set by mdo in "
     "every container (MDO_*, SERVICE_NAME, ETCD_HOST_ADDRESS): choose another name\n"
     "#8:7: services.web.environment.MDO_: 'MDO_' is set by mdo in every container (MDO_*, "
     "SERVICE_NAME, ETCD_HOST_ADDRESS): choose another name"},
    {"bad-volumes.yaml",
     "5:9: services.web.volumes[0]: expected \"HOST:PATH\" or \"HOST:PATH:ro\" with absolute "
     "paths (no '.' or '..' segments), got '/data'\n"
     "#6:9: services.web.volumes[1]: expected \"HOST:PATH\" or \"HOST:PATH:ro\" with absolute "
     "paths (no '.' or '..' segments), got 'relative:/data'\n"
     "#7:9: services.web.volumes[2]: expected \"HOST:PATH\" or \"HOST:PATH:ro\" with absolute "
     "paths (no '.' or '..' segments), got '/a/../b:/data'\n"
     "#8:9: services.web.volumes[3]: expected the mode 'ro' or 'rw' after the second ':', got "
     "'/a:/data:rx'\n"
     "#9:9: services.web.volumes[4]: expected the mode 'ro' or 'rw' after the second ':', got "
     "'/a:/b:c'\n"
     "#10:9: services.web.volumes[5]: expected \"HOST:PATH[:ro]\", got a mapping\n"
     "#12:9: services.web.volumes[7]: /data is mounted twice in this service\n"
     "#15:14: services.db.volumes: expected a list of \"HOST:PATH[:ro]\" strings, got "
     "'/data:/data'"},
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
    }
    buf_release(&want);
}

/* Every config/bad-*.yaml has its row above (a new bad file without an expected message would
 * otherwise never be loaded). */
static void test_bad_all_listed(void)
{
    DIR *d = opendir("config");
    struct dirent *e;
    unsigned files = 0, listed = 0;

    if (!d)
        fixture_fail("cannot open", "config");
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "bad-", 4) || !strstr(e->d_name, ".yaml"))
            continue;
        files++;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if (!strcmp(bad[i].file, e->d_name))
                listed++;
    }
    closedir(d);
    CHECK_INT(listed, files);
    CHECK_INT(files, sizeof(bad) / sizeof(bad[0]));
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

    // open() fails for root too: a path through a file
    err_clear(&err);
    fixture_write(fixture_path("t.yaml"), "services: {a: {image: b}}\n", 26);
    snprintf(want, sizeof(want), "%s/t.yaml/x", fixture_tmpdir());
    CHECK_INT(cfg_load(want, &c, &err), -MDO_ECONFIG);
    CHECK(c == NULL);
    snprintf(want, sizeof(want), "cannot read %s/t.yaml/x: Not a directory", fixture_tmpdir());
    CHECK_STR(err.msg, want);

    err_clear(&err);
    if (geteuid() == 0) {
        CHECK_SKIP("a file without read permission: root reads it anyway");
        return;
    }
    chmod(fixture_path("t.yaml"), 0);
    CHECK_INT(cfg_load(fixture_path("t.yaml"), &c, &err), -MDO_ECONFIG);
    snprintf(want, sizeof(want), "cannot read %s/t.yaml: Permission denied", fixture_tmpdir());
    CHECK_STR(err.msg, want);
    chmod(fixture_path("t.yaml"), 0600);
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

    if (!good)
        fixture_fail("cannot read", "config/good.yaml");
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
    test_many_problems();
    test_bad();
    test_bad_all_listed();
    test_unreadable();
    test_hostile();
    test_no_leaks();
    unlink(fixture_path("t.yaml"));
    rmdir(fixture_tmpdir());
    return check_done("test_config_bad");
}
