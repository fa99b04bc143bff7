/* test_cbguest.c - what containers get to reach the subscriber and etcd (DESIGN §4, §10): the
 * /v1/callbacks token rule (cbauth), subscriber.guest_token and etcd.guest.cert/key in the
 * config, MDO_SUBSCRIBER_URL/TOKEN and MDO_ETCD_CERT/KEY in spec_env, the Docker mounts */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "fixture.h"
#include "cbauth.h"
#include "config.h"
#include "docker.h"
#include "json.h"
#include "spec.h"

static const char *find(char **env, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* The config of text (with a service web); NULL on failure, message in err. */
static struct cfg *load(const char *text, struct mdo_err *err)
{
    const char *path = fixture_path("t.yaml");
    char full[2048];
    struct cfg *c = NULL;

    snprintf(full, sizeof(full), "%sservices: {web: {image: example/web}}\n", text);
    fixture_write(path, full, strlen(full));
    err_clear(err);
    cfg_load(path, &c, err);
    return c;
}

static void test_roles(void)
{
    const char *tok = "admin-token", *g = "guest-token";

    /* no token configured: everyone is the operator (loopback listen) */
    CHECK_INT(cbauth_role(NULL, NULL, NULL), CBAUTH_ADMIN);
    CHECK_INT(cbauth_role("", NULL, "Bearer x"), CBAUTH_ADMIN);
    CHECK_INT(cbauth_role(tok, g, NULL), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Bearer admin-token"), CBAUTH_ADMIN);
    CHECK_INT(cbauth_role(tok, g, "bearer admin-token"), CBAUTH_ADMIN);
    CHECK_INT(cbauth_role(tok, g, "Bearer guest-token"), CBAUTH_GUEST);
    CHECK_INT(cbauth_role(tok, NULL, "Bearer guest-token"), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Bearer admin-toke"), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Bearer admin-token2"), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Bearer "), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Basic YWRtaW4tdG9rZW4="), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "admin-token"), CBAUTH_NONE);
    CHECK_INT(cbauth_role(tok, g, "Bearer  admin-token"), CBAUTH_NONE);
}

static void test_check(void)
{
    CHECK_INT(cbauth_check(CBAUTH_ADMIN, "GET", 0), 0);
    CHECK_INT(cbauth_check(CBAUTH_ADMIN, "POST", 0), 0);
    CHECK_INT(cbauth_check(CBAUTH_ADMIN, "DELETE", 1), 0);
    CHECK_INT(cbauth_check(CBAUTH_ADMIN, "PUT", 0), 0); // the route answers 405
    CHECK_INT(cbauth_check(CBAUTH_NONE, "POST", 0), 401);
    CHECK_INT(cbauth_check(CBAUTH_NONE, "GET", 0), 401);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "POST", 0), 0);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "DELETE", 1), 0);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "GET", 0), 403);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "GET", 1), 403);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "POST", 1), 403);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "DELETE", 0), 403);
    CHECK_INT(cbauth_check(CBAUTH_GUEST, "PUT", 0), 403);

    CHECK_INT(cbauth_check_env(CBAUTH_GUEST, NULL, "prod"), 0);
    CHECK_INT(cbauth_check_env(CBAUTH_GUEST, "prod", "prod"), 0);
    CHECK_INT(cbauth_check_env(CBAUTH_GUEST, "staging", "prod"), 403);
    CHECK_INT(cbauth_check_env(CBAUTH_GUEST, "", "prod"), 403);
    CHECK_INT(cbauth_check_env(CBAUTH_ADMIN, "staging", "prod"), 400);
    CHECK_INT(cbauth_check_env(CBAUTH_ADMIN, "prod", "prod"), 0);
}

static void test_config(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c;

    c = load("subscriber: {token: a-token, guest_token: g-token}\n", &err);
    CHECK(c != NULL);
    CHECK_STR(c ? c->subscriber.guest_token : NULL, "g-token");
    cfg_free(c);
    c = load("subscriber: {guest_token: g-token}\n", &err);
    CHECK(c == NULL);
    CHECK_HAS(err.msg, "1:27: subscriber.guest_token: needs subscriber.token");
    CHECK_LACKS(err.msg, "g-token");
    setenv("CBG_TOKEN", "same-secret", 1);
    c = load("subscriber: {token: \"${CBG_TOKEN}\", guest_token: same-secret}\n", &err);
    CHECK(c == NULL);
    CHECK_HAS(err.msg, "subscriber.guest_token: must differ from subscriber.token");
    CHECK_LACKS(err.msg, "same-secret");
    c = load("subscriber: {guest_token: [x]}\n", &err);
    CHECK(c == NULL);
    CHECK_LACKS(err.msg, "needs subscriber.token"); // one problem, the type's
    c = load("etcd: {guest: {username: g, password: p, cert: /c.pem, key: /c.key}}\n", &err);
    CHECK(c != NULL);
    CHECK_STR(c ? c->etcd.guest.cert : NULL, "/c.pem");
    CHECK_STR(c ? c->etcd.guest.key : NULL, "/c.key");
    cfg_free(c);
    c = load("etcd: {guest: {cert: /c.pem}}\n", &err);
    CHECK(c == NULL);
    CHECK_HAS(err.msg, "etcd.guest: expected both cert and key, or neither");
    c = load("etcd: {guest: {kye: /c.key}}\n", &err);
    CHECK(c == NULL);
    CHECK_HAS(err.msg, "did you mean 'key'?");
}

static void test_url(void)
{
    static const struct {
        const char *yaml, *host_address, *want;
    } cases[] = {
        {"", "172.17.0.1", NULL}, // default listen 127.0.0.1:5000
        {"subscriber: {listen: \"localhost:5000\"}\n", "172.17.0.1", NULL},
        {"subscriber: {listen: \"[::1]:5000\"}\n", "172.17.0.1", NULL},
        {"subscriber: {listen: \"0.0.0.0:5001\"}\n", "172.17.0.1", "http://172.17.0.1:5001"},
        {"subscriber: {listen: \"[::]:5001\"}\n", "172.17.0.1", "http://172.17.0.1:5001"},
        {"subscriber: {listen: \"172.17.0.1:5002\"}\n", "172.17.0.1", "http://172.17.0.1:5002"},
        {"subscriber: {listen: \"10.0.0.7:5003\"}\n", "172.17.0.1", "http://10.0.0.7:5003"},
        {"subscriber: {listen: \"0.0.0.0:5001\"}\n", NULL, NULL}, // Marathon: public_url only
        {"subscriber: {public_url: \"https://mdo.example:8443/x\"}\n", NULL,
         "https://mdo.example:8443/x"},
        {"subscriber: {public_url: \"http://10.0.0.7:5000\"}\n", "172.17.0.1",
         "http://10.0.0.7:5000"},
    };
    struct mdo_err err = MDO_ERR_INIT;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg *c = load(cases[i].yaml, &err);
        char *u = c ? spec_subscriber_url(c, cases[i].host_address) : NULL;
        CHECK(c != NULL);
        CHECK_STR(u, cases[i].want);
        free(u);
        cfg_free(c);
    }
    /* the launch warning: only when containers are meant to call (guest_token) and cannot */
    {
        struct cfg *c = load("subscriber: {token: t, guest_token: g}\n", &err);
        CHECK_HAS(c ? spec_subscriber_unreachable(c, 1) : NULL, "loopback");
        CHECK_HAS(c ? spec_subscriber_unreachable(c, 0) : NULL, "public_url");
        cfg_free(c);
        c = load("subscriber: {token: t, guest_token: g, listen: \"0.0.0.0:1\"}\n", &err);
        CHECK(c && !spec_subscriber_unreachable(c, 1));
        CHECK_HAS(c ? spec_subscriber_unreachable(c, 0) : NULL, "public_url");
        cfg_free(c);
        c = load("subscriber: {token: t, guest_token: g, public_url: \"http://h:1\"}\n", &err);
        CHECK(c && !spec_subscriber_unreachable(c, 0) && !spec_subscriber_unreachable(c, 1));
        cfg_free(c);
        c = load("", &err);
        CHECK(c && !spec_subscriber_unreachable(c, 1) && !spec_subscriber_unreachable(c, 0));
        cfg_free(c);
    }
}

static void test_env(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *c =
        load("etcd:\n"
             "  endpoints: [\"https://127.0.0.1:2379\"]\n"
             "  username: sub\n"
             "  password: sub-pw\n"
             "  ca: /etc/ca.pem\n"
             "  cert: /etc/sub.pem\n"
             "  key: /etc/sub.key\n"
             "  guest: {username: g, password: g-pw, cert: /etc/g.pem, key: /etc/g.key}\n"
             "subscriber: {listen: \"0.0.0.0:5000\", token: admin-tok, "
             "guest_token: guest-tok}\n",
             &err);
    const struct cfg_service *svc = c ? cfg_service(c, "web") : NULL;
    char **e = svc ? spec_env(c, svc, "172.17.0.1", "local-web-1") : NULL, *s;
    cJSON *body, *mounts;

    CHECK(e != NULL);
    CHECK_STR(find(e, "MDO_SUBSCRIBER_URL"), "http://172.17.0.1:5000");
    CHECK_STR(find(e, "MDO_SUBSCRIBER_TOKEN"), "guest-tok");
    CHECK_STR(find(e, "MDO_ETCD_CERT"), SPEC_ETCD_CERT);
    CHECK_STR(find(e, "MDO_ETCD_KEY"), SPEC_ETCD_KEY);
    CHECK_STR(find(e, "MDO_ETCD_CA"), SPEC_ETCD_CA);
    for (size_t i = 0; e && e[i]; i++) {
        CHECK_LACKS(e[i], "admin-tok");
        CHECK_LACKS(e[i], "sub-pw");
        CHECK_LACKS(e[i], "/etc/sub.");
    }
    spec_env_free(e);
    /* Marathon: no host_address, so no URL without public_url; the token still goes */
    e = svc ? spec_env(c, svc, NULL, NULL) : NULL;
    CHECK(e && !find(e, "MDO_SUBSCRIBER_URL"));
    CHECK_STR(find(e, "MDO_SUBSCRIBER_TOKEN"), "guest-tok");
    CHECK_STR(find(e, "MDO_ETCD_CERT"), SPEC_ETCD_CERT);
    spec_env_free(e);

    /* Docker: the CA, the guest's certificate and key, each read-only */
    body = svc ? dkr_create_body(c, svc, "172.17.0.1", "local-web-1", "0123456789ab") : NULL;
    mounts = cJSON_GetObjectItem(cJSON_GetObjectItem(body, "HostConfig"), "Mounts");
    CHECK_INT(cJSON_GetArraySize(mounts), 3);
    CHECK_STR(json_str(cJSON_GetArrayItem(mounts, 1), "Source"), "/etc/g.pem");
    CHECK_STR(json_str(cJSON_GetArrayItem(mounts, 1), "Target"), SPEC_ETCD_CERT);
    CHECK_STR(json_str(cJSON_GetArrayItem(mounts, 2), "Source"), "/etc/g.key");
    CHECK_STR(json_str(cJSON_GetArrayItem(mounts, 2), "Target"), SPEC_ETCD_KEY);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(mounts, 2), "ReadOnly")));
    /* --dry-run: the guest token is redacted */
    s = body ? spec_redacted(body) : NULL;
    CHECK_LACKS(s, "guest-tok");
    CHECK_HAS(s, "MDO_SUBSCRIBER_TOKEN=<redacted>");
    free(s);
    cJSON_Delete(body);
    cfg_free(c);

    /* plain http etcd: no certificate goes in, and no guest_token, no MDO_SUBSCRIBER_TOKEN */
    c = load("etcd: {guest: {cert: /etc/g.pem, key: /etc/g.key}}\n"
             "subscriber: {listen: \"172.17.0.1:5000\"}\n",
             &err);
    svc = c ? cfg_service(c, "web") : NULL;
    e = svc ? spec_env(c, svc, "172.17.0.1", "local-web-1") : NULL;
    CHECK(e && !find(e, "MDO_ETCD_CERT") && !find(e, "MDO_ETCD_KEY"));
    CHECK(e && !find(e, "MDO_SUBSCRIBER_TOKEN"));
    CHECK_STR(find(e, "MDO_SUBSCRIBER_URL"), "http://172.17.0.1:5000");
    spec_env_free(e);
    body = svc ? dkr_create_body(c, svc, "172.17.0.1", "local-web-1", "0123456789ab") : NULL;
    CHECK(body && !cJSON_GetObjectItem(cJSON_GetObjectItem(body, "HostConfig"), "Mounts"));
    cJSON_Delete(body);
    cfg_free(c);
}

int main(void)
{
    test_roles();
    test_check();
    test_config();
    test_url();
    test_env();
    unlink(fixture_path("t.yaml"));
    rmdir(fixture_tmpdir());
    return check_done("test_cbguest");
}
