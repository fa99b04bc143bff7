/* test_expand.c - ${VAR} expansion (expand.c) on its own, through the config loader, and the list
 * of values it put in (cfg->secrets) that later code redacts */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "fixture.h"
#include "config.h"
#include "expand.h"

/* Loads text from a temporary file; returns cfg_load's result, message in err. */
static int load_text(const char *text, size_t len, struct cfg **out, struct mdo_err *err)
{
    const char *path = fixture_path("t.yaml");

    fixture_write(path, text, len);
    return cfg_load(path, out, err);
}

/* expand_vars(s) as a string ("ERR <name>" / "ERR syntax at <offset>" on error), and the values
 * it recorded in vals. */
static const char *run(const char *s, char ***vals, unsigned *n)
{
    static char got[256];
    struct expand_bad bad = {NULL, 99};
    char *out = (char *)got; // must come back NULL on error
    int ret = expand_vars(s, &out, &bad, vals, n);

    if (ret == -MDO_ECONFIG && !out && bad.namelen)
        snprintf(got, sizeof(got), "ERR %.*s", (int)bad.namelen, bad.at + 2);
    else if (ret == -MDO_ECONFIG && !out && bad.at)
        snprintf(got, sizeof(got), "ERR syntax at %d", (int)(bad.at - s));
    else if (ret || !out)
        snprintf(got, sizeof(got), "ERR %d", ret);
    else
        snprintf(got, sizeof(got), "%s", out);
    if (!ret)
        free(out);
    return got;
}

static void test_syntax(void)
{
    char **vals = NULL;
    unsigned n = 0;

    setenv("MDO_T_A", "alpha", 1);
    setenv("MDO_T_EMPTY", "", 1);
    unsetenv("MDO_T_UNSET");
    CHECK_STR(run("plain", NULL, NULL), "plain");
    CHECK_STR(run("", NULL, NULL), "");
    CHECK_STR(run("${MDO_T_A}", NULL, NULL), "alpha");
    CHECK_STR(run("x${MDO_T_A}y${MDO_T_A}", NULL, NULL), "xalphayalpha");
    CHECK_STR(run("$$", NULL, NULL), "$");
    CHECK_STR(run("$${MDO_T_A}", NULL, NULL), "${MDO_T_A}");
    CHECK_STR(run("a$b $ $5", NULL, NULL), "a$b $ $5"); // a lone '$' stays
    CHECK_STR(run("end$", NULL, NULL), "end$");
    CHECK_STR(run("[${MDO_T_EMPTY}]", NULL, NULL), "[]"); // set but empty is fine
    CHECK_STR(run("x${MDO_T_UNSET}", NULL, NULL), "ERR MDO_T_UNSET");
    CHECK_STR(run("ab${}", NULL, NULL), "ERR syntax at 2");
    CHECK_STR(run("${1A}", NULL, NULL), "ERR syntax at 0");
    CHECK_STR(run("${MDO_T_A", NULL, NULL), "ERR syntax at 0");
    CHECK_STR(run("${MDO-T}", NULL, NULL), "ERR syntax at 0");
    {
        char big[200];

        memset(big, 'A', sizeof(big));
        memcpy(big, "${", 2);
        memcpy(big + sizeof(big) - 2, "}", 2); // a 196-byte name: longer than any we take
        CHECK_STR(run(big, NULL, NULL), "ERR syntax at 0");
    }
    CHECK_INT(n, 0);
    CHECK(vals == NULL);
}

/* The list: each distinct non-empty value once, in first-use order; literals are not in it. */
static void test_vals(void)
{
    char **vals = NULL;
    unsigned n = 0;

    setenv("MDO_T_A", "alpha", 1);
    setenv("MDO_T_B", "beta", 1);
    setenv("MDO_T_C", "alpha", 1); // another variable, the same value
    setenv("MDO_T_EMPTY", "", 1);
    CHECK_STR(run("${MDO_T_B}-${MDO_T_A}", &vals, &n), "beta-alpha");
    CHECK_STR(run("literal alpha, $$ and ${MDO_T_EMPTY}", &vals, &n), "literal alpha, $ and ");
    CHECK_STR(run("${MDO_T_A}${MDO_T_C}${MDO_T_B}", &vals, &n), "alphaalphabeta");
    CHECK_STR(run("${MDO_T_B}${MDO_T_UNSET}", &vals, &n), "ERR MDO_T_UNSET");
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(vals[0], "beta");
        CHECK_STR(vals[1], "alpha");
    }
    expand_vals_free(vals, n);
    expand_vals_free(NULL, 0);
}

static void test_load_expand(void)
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
             fixture_tmpdir(), fixture_tmpdir());
    CHECK_STR(err.msg, want);
}

/* cfg->secrets: what ${VAR} put anywhere in the config, and nothing written literally. */
static void test_secrets(void)
{
    static const char text[] = "etcd:\n"
                               "  endpoints: [\"http://${MDO_T_HOST}:2379\"]\n"
                               "  password: ${MDO_T_PW}\n"
                               "marathon: {url: \"http://m:8080\", token: literal-token}\n"
                               "services:\n"
                               "  web:\n"
                               "    image: x\n"
                               "    environment: {DB: \"${MDO_T_PW}\", K: \"k-${MDO_T_KEY}\"}\n"
                               "    args: [\"--e=${MDO_T_EMPTY}\"]\n";
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c = NULL;

    setenv("MDO_T_HOST", "etcd.local", 1);
    setenv("MDO_T_PW", "hunter2", 1);
    setenv("MDO_T_KEY", "k3y", 1);
    setenv("MDO_T_EMPTY", "", 1);
    CHECK_INT(load_text(text, sizeof(text) - 1, &c, &err), 0);
    CHECK_STR(err.msg, "");
    if (c) {
        CHECK_STR(c->etcd.password, "hunter2");
        CHECK_STR(cfg_kv_get(c->services[0].env, c->services[0].nenv, "K"), "k-k3y");
        CHECK_INT(c->nsecrets, 3);
        if (c->nsecrets == 3) {
            CHECK_STR(c->secrets[0], "etcd.local");
            CHECK_STR(c->secrets[1], "hunter2");
            CHECK_STR(c->secrets[2], "k3y");
        }
    }
    cfg_free(c);

    // a file without ${VAR}: no list at all
    c = NULL;
    CHECK_INT(load_text("services: {a: {image: b}}\n", 26, &c, &err), 0);
    if (c) {
        CHECK_INT(c->nsecrets, 0);
        CHECK(c->secrets == NULL);
    }
    cfg_free(c);
}

int main(void)
{
    test_syntax();
    test_vals();
    test_load_expand();
    test_secrets();
    unlink(fixture_path("t.yaml"));
    rmdir(fixture_tmpdir());
    return check_done("test_expand");
}
