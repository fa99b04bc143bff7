/* test_json.c - typed lookups over cJSON: absent, mistyped and out-of-range members get the
 * default (1e300 from a peer must not be cast: that is undefined behaviour) */
#include <stdlib.h>
#include "check.h"
#include "json.h"

int main(void)
{
    cJSON *o = cJSON_Parse("{\"s\":\"str\",\"n\":42,\"neg\":-7.9,\"big\":1e300,\"nbig\":-1e300,"
                           "\"edge\":9223372036854775808,\"max\":9223372036854774784,"
                           "\"i64\":\"9007199254740993\",\"bad\":\"12x\",\"empty\":\"\","
                           "\"huge\":\"99999999999999999999\",\"t\":true,\"f\":false,"
                           "\"null\":null,\"arr\":[1],\"obj\":{}}");
    char *p;

    CHECK(o != NULL);
    CHECK_STR(json_str(o, "s"), "str");
    CHECK_STR(json_str(o, "n"), NULL);
    CHECK_STR(json_str(o, "missing"), NULL);
    CHECK_STR(json_str(NULL, "s"), NULL);
    CHECK_STR(json_str(o, "S"), NULL); /* case-sensitive */

    CHECK_INT(json_int(o, "n", -1), 42);
    CHECK_INT(json_int(o, "neg", -1), -7); /* towards zero */
    CHECK_INT(json_int(o, "big", -1), -1);
    CHECK_INT(json_int(o, "nbig", -1), -1);
    CHECK_INT(json_int(o, "edge", -1), -1); /* 2^63 is one past the range */
    CHECK_INT(json_int(o, "max", -1), 9223372036854774784LL);
    CHECK_INT(json_int(o, "i64", -1), 9007199254740993LL); /* past 2^53: strings keep it exact */
    CHECK_INT(json_int(o, "bad", -1), -1);
    CHECK_INT(json_int(o, "empty", -1), -1);
    CHECK_INT(json_int(o, "huge", -1), -1);
    CHECK_INT(json_int(o, "t", -1), -1);
    CHECK_INT(json_int(o, "null", -1), -1);
    CHECK_INT(json_int(o, "missing", 5), 5);
    CHECK_INT(json_int(NULL, "n", 5), 5);

    CHECK_INT(json_bool(o, "t", -1), 1);
    CHECK_INT(json_bool(o, "f", -1), 0);
    CHECK_INT(json_bool(o, "n", -1), -1);
    CHECK_INT(json_bool(o, "missing", 1), 1);

    p = json_print(cJSON_GetObjectItemCaseSensitive(o, "arr"));
    CHECK_STR(p, "[1]");
    free(p);
    cJSON_Delete(o);

    /* NaN and infinities cannot come from JSON text, but a tree may be built in memory */
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "inf", 1.0 / 0.0);
    cJSON_AddNumberToObject(o, "nan", 0.0 / 0.0);
    CHECK_INT(json_int(o, "inf", 3), 3);
    CHECK_INT(json_int(o, "nan", 3), 3);
    cJSON_Delete(o);
    return check_done("test_json");
}
