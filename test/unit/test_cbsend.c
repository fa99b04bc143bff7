/* test_cbsend.c - the pure parts of callback delivery: HMAC signature, the POST body (and
 * reg_record_cjson, which the body embeds) */
#include <stdio.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "cbsend.h"
#include "check.h"
#include "json.h"

static void sign_tests(void)
{
    char hex[65];

    /* RFC 4231 test case 2 */
    CHECK_INT(cbsend_sign("Jefe", "what do ya want for nothing?", 28, hex), 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(cbsend_sign("s3cret", "", 0, hex), 0);
    CHECK_INT(strlen(hex), 64);
    /* RFC 4231 test case 1: a 20-byte key of 0x0b */
    CHECK_INT(cbsend_sign("\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
                          "\x0b\x0b",
                          "Hi There", 8, hex),
              0);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static struct reg_record web(const char *container)
{
    struct reg_record r = {0};

    r.service = strdup("web");
    r.container = strdup(container);
    r.environment = strdup("prod");
    r.host = strdup("10.0.0.1");
    r.ports = calloc(1, sizeof(*r.ports));
    r.nports = 1;
    r.ports[0].name = strdup("http");
    r.ports[0].internal = 8080;
    r.ports[0].external = 31000;
    snprintf(r.ports[0].proto, sizeof(r.ports[0].proto), "tcp");
    r.labels = calloc(2, sizeof(*r.labels));
    r.nlabels = 2;
    r.labels[0].key = strdup("zone"); /* out of order: the JSON sorts them */
    r.labels[0].value = strdup("b");
    r.labels[1].key = strdup("rack");
    r.labels[1].value = strdup("r\"1");
    r.state = strdup("running");
    r.started_at = strdup("2026-01-01T00:00:00Z");
    r.app_version = strdup("v1");
    r.backend = strdup("docker");
    return r;
}

static void cjson_tests(void)
{
    struct reg_record r = web("web-1");
    cJSON *o = reg_record_cjson(&r);
    char *printed = json_print(o), *json = reg_record_json(&r);

    CHECK(o != NULL);
    CHECK_STR(printed, json); /* one encoding: reg_record_json prints this tree */
    CHECK_STR(json, "{\"service\":\"web\",\"container\":\"web-1\",\"environment\":\"prod\","
                    "\"host\":\"10.0.0.1\",\"ports\":{\"http\":{\"internal\":8080,"
                    "\"external\":31000,\"protocol\":\"tcp\"}},\"labels\":{\"rack\":\"r\\\"1\","
                    "\"zone\":\"b\"},\"state\":\"running\",\"started_at\":"
                    "\"2026-01-01T00:00:00Z\",\"app_version\":\"v1\",\"backend\":\"docker\"}");
    CHECK_STR(json_str(o, "container"), "web-1");
    cJSON_Delete(o);
    free(printed);
    free(json);
    reg_record_release(&r);
}

static void body_tests(void)
{
    struct reg_record recs[2] = {web("web-1"), web("web-\"2")};
    const char *added[] = {"web-\"2"}, *removed[] = {"web-3", "web-4"};
    struct reg_members_diff d = REG_MEMBERS_DIFF_INIT;
    cJSON *o, *inst;
    char *body;

    d.count = 2;
    d.added = 1;
    d.names_added = added;
    d.removed = 2;
    d.names_removed = removed;
    body = cbsend_body("prod", "web", 42, recs, 2, &d);
    o = cJSON_Parse(body);
    CHECK(o != NULL);
    CHECK_STR(json_str(o, "environment"), "prod");
    CHECK_STR(json_str(o, "service"), "web");
    CHECK_INT(json_int(o, "revision", 0), 42);
    inst = cJSON_GetObjectItem(o, "instances");
    CHECK_INT(cJSON_GetArraySize(inst), 2);
    CHECK_STR(json_str(cJSON_GetArrayItem(inst, 1), "container"), "web-\"2");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "added"), 0)->valuestring, "web-\"2");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "removed")), 2);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "removed"), 1)->valuestring, "web-4");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "changed")), 0);
    cJSON_Delete(o);
    free(body);

    /* the bytes of today's body: keys in this order, no spaces, records as reg_record_json */
    d.added = 0;
    d.removed = 1;
    body = cbsend_body("e", "s", 1, recs, 1, &d);
    {
        char *rec = reg_record_json(&recs[0]), want[2048];
        snprintf(want, sizeof(want),
                 "{\"environment\":\"e\",\"service\":\"s\",\"revision\":1,\"instances\":[%s],"
                 "\"added\":[],\"removed\":[\"web-3\"],\"changed\":[]}",
                 rec);
        CHECK_STR(body, want);
        free(rec);
    }
    free(body);

    d = (struct reg_members_diff)REG_MEMBERS_DIFF_INIT;
    body = cbsend_body("e", "s", 1, NULL, 0, &d);
    CHECK_STR(body, "{\"environment\":\"e\",\"service\":\"s\",\"revision\":1,\"instances\":[],"
                    "\"added\":[],\"removed\":[],\"changed\":[]}");
    free(body);
    /* etcd revisions past 2^31 stay integers */
    body = cbsend_body("e", "s", 5000000000LL, NULL, 0, &d);
    CHECK(body && strstr(body, "\"revision\":5000000000,"));
    free(body);
    reg_record_release(&recs[0]);
    reg_record_release(&recs[1]);
}

int main(void)
{
    sign_tests();
    cjson_tests();
    body_tests();
    return check_done("test_cbsend");
}
