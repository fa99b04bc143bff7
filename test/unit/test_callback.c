/* test_callback.c - pure parts of the callbacks: HMAC signature, ids, delivery body */
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "callback.h"
#include "check.h"

int main(void)
{
    char hex[65], id1[CALLBACKS_ID_LEN + 1], id2[CALLBACKS_ID_LEN + 1];
    struct reg_port ports[] = {{"http", 8080, 31000, "tcp"}};
    struct reg_record recs[2] = {{0}};
    struct watch_diff d = WATCH_DIFF_INIT;
    cJSON *o;
    char *body;

    /* RFC 4231 test case 2 */
    CHECK_INT(callbacks_sign("Jefe", "what do ya want for nothing?", 28, hex), 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(callbacks_sign("s3cret", "", 0, hex), 0);
    CHECK_INT(strlen(hex), 64);

    callbacks_id("web", "http://a/", "web-1", id1);
    callbacks_id("web", "http://a/", "web-1", id2);
    CHECK_STR(id1, id2); /* the same registration: the same key */
    CHECK_INT(strlen(id1), CALLBACKS_ID_LEN);
    callbacks_id("web", "http://a/", NULL, id2);
    CHECK(strcmp(id1, id2) != 0);
    callbacks_id("we", "bhttp://a/", "web-1", id2); /* fields do not run together */
    CHECK(strcmp(id1, id2) != 0);

    for (int i = 0; i < 2; i++) {
        recs[i].service = "web";
        recs[i].environment = "prod";
        recs[i].host = "10.0.0.1";
        recs[i].ports = ports;
        recs[i].nports = 1;
        recs[i].state = "running";
        recs[i].started_at = "2026-01-01T00:00:00Z";
        recs[i].app_version = "v1";
        recs[i].backend = "docker";
    }
    recs[0].container = "web-1";
    recs[1].container = "web-\"2";
    buf_adds(&d.names_added, "web-\"2");
    buf_adds(&d.names_removed, "web-3 web-4");
    body = callbacks_body("prod", "web", 42, recs, 2, &d);
    o = cJSON_Parse(body);
    CHECK(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "environment")->valuestring, "prod");
    CHECK_STR(cJSON_GetObjectItem(o, "service")->valuestring, "web");
    CHECK_INT(cJSON_GetObjectItem(o, "revision")->valuedouble, 42);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "instances")), 2);
    CHECK_STR(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "instances"), 1), "container")
            ->valuestring,
        "web-\"2");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "added"), 0)->valuestring, "web-\"2");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "removed")), 2);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "removed"), 1)->valuestring, "web-4");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "changed")), 0);
    cJSON_Delete(o);
    free(body);
    watch_diff_release(&d);

    d = (struct watch_diff)WATCH_DIFF_INIT;
    body = callbacks_body("e", "s", 1, NULL, 0, &d);
    CHECK_STR(body, "{\"environment\":\"e\",\"service\":\"s\",\"revision\":1,\"instances\":[],"
                    "\"added\":[],\"removed\":[],\"changed\":[]}");
    free(body);
    return check_done("test_callback");
}
