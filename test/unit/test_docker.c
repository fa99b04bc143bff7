/* test_docker.c - the docker backend's pure parts: instance names, the filters query, the
 * create body (mdo's labels, mdo.ports as JSON, env without duplicates, health check port), the
 * record of an inspected container (a good one, names and labels from outside that are refused,
 * the old mdo.ports form), and reading a pull's failure */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "check.h"

/* fixture strings: the code under test never writes through these pointers */
#define LIT(s) ((char *)(s))
#include "docker.h"
#include "json.h"

/* An inspect answer of a running container; %s: the mdo.service label, the container name, the
 * mdo.ports label (already JSON-escaped). */
static const char inspect_fmt[] =
    "{\"Id\":\"0123456789abcdef\",\"Name\":\"/%s\","
    "\"State\":{\"Running\":true,\"Restarting\":false,\"StartedAt\":"
    "\"2026-12-01T09:05:20.123456789Z\",\"Health\":{\"Status\":\"healthy\"}},"
    "\"Config\":{\"Labels\":{\"mdo.environment\":\"prod\",\"mdo.service\":\"%s\","
    "\"mdo.app_version\":\"0123456789ab\",\"mdo.ports\":\"%s\",\"mdo.label.tier\":\"db\","
    "\"other\":\"x\"}},"
    "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.5\",\"Ports\":{\"9042/tcp\":[{\"HostIp\":"
    "\"172.17.0.1\",\"HostPort\":\"32768\"}],\"7000/udp\":null}}}";

#define PORTS_JSON                                                                                 \
    "[{\\\"name\\\":\\\"native\\\",\\\"port\\\":9042,\\\"protocol\\\":\\\"tcp\\\"},"               \
    "{\\\"name\\\":\\\"peer\\\",\\\"port\\\":7000,\\\"protocol\\\":\\\"udp\\\"}]"

static int record_of(const char *name, const char *service, const char *ports,
                     struct reg_record *rec, struct mdo_err *err)
{
    struct buf b = BUF_INIT(0);
    cJSON *in;
    int ret;

    buf_addf(&b, inspect_fmt, name, service, ports);
    in = cJSON_Parse(buf_str(&b));
    if (!in) {
        fprintf(stderr, "fixture is not JSON: %s\n", buf_str(&b));
        exit(2);
    }
    ret = dkr_record("prod", "172.17.0.1", in, rec, err);
    cJSON_Delete(in);
    buf_release(&b);
    return ret;
}

static void test_records(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record r;
    char *j;

    CHECK_INT(record_of("prod-cassandra-1", "cassandra", PORTS_JSON, &r, &err), 0);
    j = reg_record_json(&r);
    CHECK_STR(j, "{\"service\":\"cassandra\",\"container\":\"prod-cassandra-1\",\"environment\":"
                 "\"prod\",\"host\":\"172.17.0.1\",\"address\":\"172.17.0.5\",\"ports\":{"
                 "\"native\":{\"internal\":9042,\"external\":32768,\"protocol\":\"tcp\"},"
                 "\"peer\":{\"internal\":7000,\"external\":0,\"protocol\":\"udp\"}},\"labels\":{"
                 "\"tier\":\"db\"},\"state\":\"healthy\",\"started_at\":"
                 "\"2026-12-01T09:05:20.123456789Z\",\"app_version\":\"0123456789ab\","
                 "\"backend\":\"docker\"}");
    free(j);
    reg_record_release(&r);

    /* containers created before mdo.ports became JSON: the old form, read as strictly */
    CHECK_INT(record_of("prod-cassandra-1", "cassandra", "native:9042/tcp,peer:7000/udp", &r, &err),
              0);
    CHECK_INT(r.nports, 2);
    CHECK_STR(r.nports == 2 ? r.ports[1].name : NULL, "peer");
    CHECK_INT(r.nports == 2 ? r.ports[0].external : -1, 32768);
    reg_record_release(&r);

    /* names from outside that would make a bad key: refused, nothing filled */
    CHECK_INT(record_of("prod-a-1", "a/b", PORTS_JSON, &r, &err), -MDO_EPROTO);
    CHECK(strstr(err.msg, "mdo.service") != NULL);
    CHECK(r.service == NULL);
    err_clear(&err);
    CHECK_INT(record_of("prod-web-1", "Web", PORTS_JSON, &r, &err), -MDO_EPROTO);
    err_clear(&err);
    CHECK_INT(record_of("..", "web", PORTS_JSON, &r, &err), -MDO_EPROTO);
    CHECK(strstr(err.msg, "container name") != NULL);
    err_clear(&err);

    /* a bad mdo.ports label: refused, not garbage ports */
    CHECK_INT(record_of("prod-web-1", "web",
                        "[{\\\"name\\\":\\\"x\\\",\\\"port\\\":70000,"
                        "\\\"protocol\\\":\\\"tcp\\\"}]",
                        &r, &err),
              -MDO_EPROTO);
    CHECK(strstr(err.msg, "mdo.ports") != NULL);
    CHECK(r.ports == NULL);
    err_clear(&err);
    CHECK_INT(record_of("prod-web-1", "web", "[{\\\"name\\\":\\\"x\\\"", &r, &err), -MDO_EPROTO);
    err_clear(&err);
    CHECK_INT(record_of("prod-web-1", "web", "web:http/tcp", &r, &err), -MDO_EPROTO);
    err_clear(&err);
    CHECK_INT(record_of("prod-web-1", "web", "web:80/sctp", &r, &err), -MDO_EPROTO);
    err_clear(&err);
    CHECK_INT(record_of("prod-web-1", "web",
                        "[{\\\"name\\\":\\\"x\\\",\\\"port\\\":80,"
                        "\\\"protocol\\\":\\\"udp\\\"}]",
                        &r, &err),
              0);
    CHECK_INT(r.nports, 1);
    reg_record_release(&r);
    CHECK_INT(record_of("prod-web-1", "web", "", &r, &err), 0); /* no ports at all */
    CHECK_INT(r.nports, 0);
    reg_record_release(&r);

    /* not running, or another environment's: nothing to register */
    {
        cJSON *in = cJSON_Parse("{\"Name\":\"/prod-web-1\",\"State\":{\"Running\":false},"
                                "\"Config\":{\"Labels\":{\"mdo.environment\":\"prod\","
                                "\"mdo.service\":\"web\"}}}");
        CHECK_INT(dkr_record("prod", "h", in, &r, &err), 1);
        CHECK_INT(dkr_record("staging", "h", in, &r, &err), 1);
        cJSON_Delete(in);
    }
}

static void test_names_filters(void)
{
    struct buf b = BUF_INIT(0);
    char *dec;
    int n;

    dkr_instance_name(&b, "prod", "web", 3);
    CHECK_STR(b.ptr, "prod-web-3");
    CHECK_INT(dkr_name_index("prod-web-3", "prod", "web"), 3);
    CHECK_INT(dkr_name_index("prod-web-3-old-0123456789ab", "prod", "web"), 0);
    CHECK_INT(dkr_name_index("prod-webx-3", "prod", "web"), 0);
    CHECK_INT(dkr_name_index("staging-web-3", "prod", "web"), 0);

    buf_reset(&b);
    CHECK_INT(dkr_filters(&b, "container", "prod", NULL), 0);
    dec = curl_easy_unescape(NULL, b.ptr, (int)b.len, &n);
    CHECK_STR(dec, "{\"type\":[\"container\"],\"label\":[\"mdo.environment=prod\"]}");
    curl_free(dec);
    CHECK(strchr(b.ptr, '"') == NULL && strchr(b.ptr, '{') == NULL); /* escaped for a query */
    buf_reset(&b);
    CHECK_INT(dkr_filters(&b, NULL, "prod", "we\"b"), 0); /* quotes stay inside the string */
    dec = curl_easy_unescape(NULL, b.ptr, (int)b.len, &n);
    CHECK_STR(dec, "{\"label\":[\"mdo.environment=prod\",\"mdo.service=we\\\"b\"]}");
    curl_free(dec);
    buf_release(&b);
}

static void test_create_body(void)
{
    struct cfg_port ports[] = {{LIT("native"), 9042, "tcp", 0}, {LIT("peer"), 7000, "udp", 7000}};
    struct cfg_kv env[] = {{LIT("MIN_NODES"), LIT("2")}, {LIT("MDO_SERVICE"), LIT("spoofed")}};
    struct cfg_kv labels[] = {{LIT("tier"), LIT("db")}};
    char *eps[] = {LIT("http://127.0.0.1:2379")};
    struct cfg_service svc = {0};
    struct cfg cfg = {0};
    const cJSON *e, *l;
    unsigned services = 0;
    cJSON *body, *p;
    char *s;

    svc.name = LIT("cassandra");
    svc.image = LIT("example/cassandra:3");
    svc.ports = ports;
    svc.nports = 2;
    svc.env = env;
    svc.nenv = 2;
    svc.labels = labels;
    svc.nlabels = 1;
    svc.instances = 1;
    svc.has_health = true;
    svc.health.http = LIT("/health");
    svc.health.port = LIT("peer");
    cfg.environment = LIT("prod");
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 1;
    cfg.etcd.prefix = LIT("/mdo");

    body = dkr_create_body(&cfg, &svc, "172.17.0.1", "prod-cassandra-1", "0123456789ab");
    CHECK(body != NULL);
    l = cJSON_GetObjectItem(body, "Labels");
    CHECK_STR(json_str(l, "mdo.environment"), "prod");
    CHECK_STR(json_str(l, "mdo.service"), "cassandra");
    CHECK_STR(json_str(l, "mdo.app_version"), "0123456789ab");
    CHECK_STR(json_str(l, "mdo.label.tier"), "db");
    CHECK_STR(json_str(l, "mdo.ports"), "[{\"name\":\"native\",\"port\":9042,\"protocol\":\"tcp\"},"
                                        "{\"name\":\"peer\",\"port\":7000,\"protocol\":\"udp\"}]");
    p = cJSON_Parse(json_str(l, "mdo.ports") ? json_str(l, "mdo.ports") : "");
    CHECK_INT(cJSON_GetArraySize(p), 2);
    cJSON_Delete(p);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(body, "Env"))
    {
        services += !strncmp(e->valuestring, "MDO_SERVICE=", 12);
        if (!strncmp(e->valuestring, "MDO_SERVICE=", 12))
            CHECK_STR(e->valuestring, "MDO_SERVICE=cassandra");
    }
    CHECK_INT(services, 1); /* the user's MDO_SERVICE is dropped: mdo's is the only one */
    s = json_print(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "Healthcheck"), "Test"));
    CHECK_STR(s, "[\"CMD-SHELL\",\"wget -q -O /dev/null http://127.0.0.1:7000/health || exit 1\"]");
    free(s);
    s = json_print(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "HostConfig"), "PortBindings"));
    CHECK_STR(s, "{\"9042/tcp\":[{\"HostIp\":\"172.17.0.1\",\"HostPort\":\"\"}],\"7000/udp\":[{"
                 "\"HostIp\":\"172.17.0.1\",\"HostPort\":\"7000\"}]}");
    free(s);
    cJSON_Delete(body);

    {
        struct cfg_volume vols[] = {{LIT("/srv/a b"), LIT("/data"), false},
                                    {LIT("/etc/x"), LIT("/etc/x"), true}};
        svc.volumes = vols;
        svc.nvolumes = 2;
        body = dkr_create_body(&cfg, &svc, "172.17.0.1", "prod-cassandra-1", "0123456789ab");
        s = json_print(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "HostConfig"), "Mounts"));
        CHECK_STR(s, "[{\"Type\":\"bind\",\"Source\":\"/srv/a b\",\"Target\":\"/data\","
                     "\"ReadOnly\":false},{\"Type\":\"bind\",\"Source\":\"/etc/x\",\"Target\":"
                     "\"/etc/x\",\"ReadOnly\":true}]");
        free(s);
        cJSON_Delete(body);
    }
}

static void test_pull(void)
{
    const char ok[] = "{\"status\":\"Pulling from library/busybox\"}\n{\"status\":\"Done\"}\n";
    const char bad[] = "{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"denied\"},"
                       "\"error\":\"pull access denied\"}\n";
    struct buf why = BUF_INIT(0);

    CHECK_INT(dkr_pull_failed(ok, sizeof(ok) - 1, &why), 0);
    CHECK_INT(dkr_pull_failed(bad, sizeof(bad) - 1, &why), 1);
    CHECK_STR(buf_str(&why), "pull access denied");
    CHECK_INT(dkr_pull_failed("{\"message\":\"no such image\"}", 27, &why), 1);
    CHECK_STR(buf_str(&why), "no such image");
    buf_release(&why);
}

int main(void)
{
    test_records();
    test_names_filters();
    test_create_body();
    test_pull();
    return check_done("test_docker");
}
