/* test_leader_key.c - the leader key (reg_leader_key) and its value (cJSON), without an etcd */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "check.h"
#include "leader.h"

static void test_value(void)
{
    /* a host name with a quote and a backslash stays one JSON string */
    char *v = leader_value("h\"o\\st", 42, "127.0.0.1:5000");
    cJSON *o = v ? cJSON_Parse(v) : NULL;

    CHECK(o != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), "h\"o\\st:42");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "listen")), "127.0.0.1:5000");
    CHECK_INT(cJSON_GetArraySize(o), 2);
    cJSON_Delete(o);
    free(v);

    v = leader_value("web-1", 7, "[::1]:0");
    CHECK_STR(v, "{\"id\":\"web-1:7\",\"listen\":\"[::1]:0\"}");
    free(v);
}

static void test_key(void)
{
    struct leader l;

    CHECK_INT(leader_init(&l, NULL, "/mdo", "prod", "{}", 10), 0);
    CHECK_STR(l.key, "/mdo/prod/leader");
    CHECK_STR(l.value, "{}");
    CHECK_INT(l.ttl, 10);
    leader_release(&l);

    CHECK_INT(leader_init(&l, NULL, "", "local", "{}", 1), 0);
    CHECK_STR(l.key, "/local/leader");
    CHECK_INT(l.ttl, 2); /* at least 2 s: ticks come every ttl/3 */
    leader_release(&l);

    /* an environment that breaks the name rule makes no key */
    CHECK_INT(leader_init(&l, NULL, "/mdo", "../x", "{}", 10), -MDO_EUSAGE);
    CHECK(l.key == NULL);
    leader_release(&l);
}

int main(void)
{
    test_value();
    test_key();
    return check_done("test_leader_key");
}
