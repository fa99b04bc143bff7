/* test_spec.c - the environment mdo injects (DESIGN §4), loopback rewriting, version stability */
#include <stdlib.h>
#include <string.h>
#include "check.h"
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
    struct cfg_port ports[] = {{"native", 9042, "tcp", 0}, {"peer-x", 7000, "udp", 7000}};
    struct cfg_kv env[] = {{"MIN_NODES", "2"}, {"MDO_SERVICE", "spoofed"}};
    struct cfg_service svc = {0};
    char *eps[] = {"http://127.0.0.1:2379", "https://10.0.0.5:2379", "http://localhost:4001"};
    struct cfg cfg = {0};
    char **e, v1[13], v2[13], *g;

    svc.name = "cassandra";
    svc.image = "example/cassandra:3";
    svc.ports = ports;
    svc.nports = 2;
    svc.env = env;
    svc.nenv = 2;
    svc.instances = 3;
    svc.cpus = 0.5;
    svc.mem = 1024;
    cfg.environment = "prod";
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 3;
    cfg.etcd.prefix = "/mdo";

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
    spec_env_free(e);

    CHECK_INT(spec_version(&cfg, &svc, v1), 0);
    CHECK_INT(strlen(v1), 12);
    svc.instances = 5; /* scaling is not a new version */
    spec_version(&cfg, &svc, v2);
    CHECK_STR(v2, v1);
    svc.image = "example/cassandra:4"; /* a new image is */
    spec_version(&cfg, &svc, v2);
    CHECK(strcmp(v1, v2) != 0);

    CHECK(spec_env_secret("DB_PASSWORD"));
    CHECK(spec_env_secret("api_token"));
    CHECK(!spec_env_secret("MIN_NODES"));
    return check_done("test_spec");
}
