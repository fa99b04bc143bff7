/* json.c - typed lookups over cJSON trees */
#include <errno.h>
#include <stdlib.h>
#include "json.h"

const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long json_int(const cJSON *o, const char *key, long long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    long long n;
    char *end;

    /* Range-check before the cast: converting a double outside long long's range (1e300 from a
     * peer, NaN) is undefined. 2^63 is exact as a double; the strict < keeps it out. */
    if (cJSON_IsNumber(v))
        return v->valuedouble >= -9223372036854775808.0 && v->valuedouble < 9223372036854775808.0
                   ? (long long)v->valuedouble
                   : def;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return def;
    errno = 0;
    n = strtoll(v->valuestring, &end, 10);
    return (errno || *end) ? def : n;
}

int json_bool(const cJSON *o, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

char *json_print(const cJSON *o)
{
    return cJSON_PrintUnformatted(o);
}
