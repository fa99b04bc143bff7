/* test_spec.c - the environment mdo injects (DESIGN §4), loopback rewriting, version stability */
#include <stdlib.h>
#include <string.h>
#include "check.h"

/* fixture strings: the code under test never writes through these pointers */
#define LIT(s) ((char *)(s))
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

int main(void)
{
    struct cfg_port ports[] = {{LIT("native"), 9042, "tcp", 0}, {LIT("peer-x"), 7000, "udp", 7000}};
    struct cfg_kv env[] = {{LIT("MIN_NODES"), LIT("2")}, {LIT("MDO_SERVICE"), LIT("spoofed")}};
    struct cfg_service svc = {0};
    char *eps[] = {LIT("http://127.0.0.1:2379"), LIT("https://10.0.0.5:2379"),
                   LIT("http://localhost:4001")};
    struct cfg cfg = {0};
    char **e, v1[13], v2[13], *g;

    svc.name = LIT("cassandra");
    svc.image = LIT("example/cassandra:3");
    svc.ports = ports;
    svc.nports = 2;
    svc.env = env;
    svc.nenv = 2;
    svc.instances = 3;
    svc.cpus = 0.5;
    svc.mem = 1024;
    cfg.environment = LIT("prod");
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 3;
    cfg.etcd.prefix = LIT("/mdo");

    g = spec_etcd_for_guests(&cfg, "172.17.0.1");
    CHECK_STR(g, "http://172.17.0.1:2379,https://10.0.0.5:2379,http://172.17.0.1:4001");
    free(g);
    g = spec_etcd_for_guests(&cfg, NULL);
    CHECK_STR(g, "http://127.0.0.1:2379,https://10.0.0.5:2379,http://localhost:4001");
    free(g);

    e = spec_env(&cfg, &svc, "172.17.0.1", "prod-cassandra-1");
    CHECK_STR(find(e, "MIN_NODES"), "2");
    CHECK_STR(find(e, "MDO_ENVIRONMENT"), "prod");
    CHECK_STR(find(e, "MDO_ETCD"),
              "http://172.17.0.1:2379,https://10.0.0.5:2379,http://172.17.0.1:4001");
    CHECK_STR(find(e, "MDO_ETCD_PREFIX"), "/mdo");
    CHECK_STR(find(e, "MDO_PORT_NATIVE"), "9042");
    CHECK_STR(find(e, "MDO_PORT_PEER_X"), "7000");
    CHECK_STR(find(e, "SERVICE_NAME"), "cassandra");
    CHECK_STR(find(e, "ETCD_HOST_ADDRESS"), "172.17.0.1:2379");
    CHECK_STR(find(e, "MDO_CONTAINER_NAME"), "prod-cassandra-1");
    CHECK_STR(find(e, "MDO_HOST_ADDRESS"), "172.17.0.1");
    {
        /* The user's MDO_SERVICE is dropped, not listed before mdo's: Docker keeps both of a
         * repeated name and getenv() returns the first, so only one entry shows mdo's value. */
        unsigned count = 0;
        for (size_t i = 0; e[i]; i++)
            count += !strncmp(e[i], "MDO_SERVICE=", 12);
        CHECK_INT(count, 1);
        CHECK_STR(find(e, "MDO_SERVICE"), "cassandra");
    }
    spec_env_free(e);
    e = spec_env(&cfg, &svc, NULL, NULL); /* Marathon: Mesos gives the name and host */
    CHECK(find(e, "MDO_CONTAINER_NAME") == NULL);
    CHECK(find(e, "MDO_HOST_ADDRESS") == NULL);
    /* no guest identity configured, no CA: none of the three */
    CHECK(find(e, "MDO_ETCD_USERNAME") == NULL);
    CHECK(find(e, "MDO_ETCD_PASSWORD") == NULL);
    CHECK(find(e, "MDO_ETCD_CA") == NULL);
    spec_env_free(e);

    /* the guest's credentials, never the subscriber's; the CA where an endpoint is https */
    cfg.etcd.username = LIT("mdo-sub");
    cfg.etcd.password = LIT("sub-s3cret");
    cfg.etcd.guest.username = LIT("mdo-guest");
    cfg.etcd.guest.password = LIT("guest-pw");
    cfg.etcd.ca = LIT("/etc/mdo/ca.pem");
    e = spec_env(&cfg, &svc, "172.17.0.1", "prod-cassandra-1");
    CHECK_STR(find(e, "MDO_ETCD_USERNAME"), "mdo-guest");
    CHECK_STR(find(e, "MDO_ETCD_PASSWORD"), "guest-pw");
    CHECK_STR(find(e, "MDO_ETCD_CA"), SPEC_ETCD_CA);
    for (size_t i = 0; e && e[i]; i++)
        if (strstr(e[i], "sub-s3cret") || strstr(e[i], "mdo-sub"))
            CHECK_STR(e[i], "(no subscriber credential)");
    spec_env_free(e);
    CHECK_STR(spec_etcd_ca(&cfg), "/etc/mdo/ca.pem");
    cfg.etcd.nendpoints = 1; /* http:// only: no CA for containers */
    CHECK(spec_etcd_ca(&cfg) == NULL);
    e = spec_env(&cfg, &svc, "172.17.0.1", NULL);
    CHECK(find(e, "MDO_ETCD_CA") == NULL);
    spec_env_free(e);
    cfg.etcd.nendpoints = 3;
    cfg.etcd.username = cfg.etcd.password = cfg.etcd.ca = NULL;
    cfg.etcd.guest.username = cfg.etcd.guest.password = NULL;

    CHECK_INT(spec_version(&cfg, &svc, v1), 0);
    CHECK_INT(strlen(v1), 12);
    svc.instances = 5; /* scaling is not a new version */
    spec_version(&cfg, &svc, v2);
    CHECK_STR(v2, v1);
    svc.image = LIT("example/cassandra:4"); /* a new image is */
    spec_version(&cfg, &svc, v2);
    CHECK(strcmp(v1, v2) != 0);
    {
        /* no volumes: no "volumes" key (older specs keep their version); a volume is a new one */
        struct cfg_volume vol = {LIT("/srv/data"), LIT("/data"), true};
        cJSON *j = spec_json(&cfg, &svc);
        char v3[13], *p;
        CHECK(cJSON_GetObjectItem(j, "volumes") == NULL);
        cJSON_Delete(j);
        svc.volumes = &vol;
        svc.nvolumes = 1;
        spec_version(&cfg, &svc, v3);
        CHECK(strcmp(v3, v2) != 0);
        j = spec_json(&cfg, &svc);
        p = json_print(cJSON_GetObjectItem(j, "volumes"));
        CHECK_STR(p, "[{\"host\":\"/srv/data\",\"path\":\"/data\",\"ro\":true}]");
        free(p);
        cJSON_Delete(j);
        svc.volumes = NULL;
        svc.nvolumes = 0;
    }

    /* IPv6 loopback is rewritten too; a non-loopback host and its path stay as written */
    {
        char *eps6[] = {LIT("http://[::1]:2379"), LIT("http://etcd.example:2379/base")};
        cfg.etcd.endpoints = eps6;
        cfg.etcd.nendpoints = 2;
        g = spec_etcd_for_guests(&cfg, "172.17.0.1");
        CHECK_STR(g, "http://172.17.0.1:2379,http://etcd.example:2379/base");
        free(g);
        e = spec_env(&cfg, &svc, "172.17.0.1", NULL);
        CHECK_STR(find(e, "ETCD_HOST_ADDRESS"), "172.17.0.1:2379");
        spec_env_free(e);
        e = spec_env(&cfg, &svc, NULL, NULL);
        CHECK_STR(find(e, "ETCD_HOST_ADDRESS"), "[::1]:2379");
        spec_env_free(e);
        cfg.etcd.endpoints = eps;
        cfg.etcd.nendpoints = 3;
    }

    /* one label set for both backends, read back the same way */
    {
        struct cfg_kv labels[] = {{LIT("tier"), LIT("db")}, {LIT("zone"), LIT("a")}};
        struct reg_record r = {0};
        cJSON *l;
        char *s;
        svc.labels = labels;
        svc.nlabels = 2;
        l = spec_labels(&cfg, &svc, "0123456789ab");
        s = json_print(l);
        CHECK_STR(s, "{\"mdo.environment\":\"prod\",\"mdo.service\":\"cassandra\","
                     "\"mdo.app_version\":\"0123456789ab\",\"mdo.label.tier\":\"db\","
                     "\"mdo.label.zone\":\"a\"}");
        free(s);
        cJSON_AddStringToObject(l, "HAPROXY_GROUP", "external");
        cJSON_AddNumberToObject(l, "mdo.label.n", 1); /* not a string: not a label */
        CHECK_INT(spec_record_labels(&r, l), 0);
        CHECK_INT(r.nlabels, 2);
        CHECK_STR(reg_record_label(&r, "tier"), "db");
        CHECK_STR(reg_record_label(&r, "zone"), "a");
        CHECK(reg_record_label(&r, "n") == NULL);
        reg_record_release(&r);
        cJSON_Delete(l);
        svc.labels = NULL;
        svc.nlabels = 0;
    }

    /* --dry-run: one redaction for Docker's Env list and Marathon's env object */
    {
        cJSON *b = cJSON_Parse("{\"Env\":[\"DB_PASSWORD=s3cret\",\"MIN_NODES=2\",\"TOKEN\"],"
                               "\"env\":{\"API_TOKEN\":\"t0ken\",\"MIN_NODES\":\"2\"}}");
        char *s = spec_redacted(b), *want;
        cJSON *w = cJSON_Parse("{\"Env\":[\"DB_PASSWORD=<redacted>\",\"MIN_NODES=2\","
                               "\"TOKEN=<redacted>\"],\"env\":{\"API_TOKEN\":\"<redacted>\","
                               "\"MIN_NODES\":\"2\"}}");
        want = cJSON_Print(w);
        CHECK_STR(s, want);
        free(s);
        free(want);
        cJSON_Delete(w);
        cJSON_Delete(b);
    }

    CHECK(spec_env_secret("DB_PASSWORD"));
    CHECK(spec_env_secret("api_token"));
    CHECK(!spec_env_secret("MIN_NODES"));
    return check_done("test_spec");
}
