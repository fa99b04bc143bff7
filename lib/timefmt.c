/* timefmt.c - RFC 3339 format and parse (libc's strftime/strptime/timegm, in one place) */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "timefmt.h"

void rfc3339_format(time_t t, char out[RFC3339_LEN])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(out, RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, RFC3339_LEN, "1970-01-01T00:00:00Z");
}

int rfc3339_parse(const char *s, time_t *t)
{
    struct tm tm;
    const char *p;
    long off = 0;

    memset(&tm, 0, sizeof(tm));
    if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return -1;
    if (*p == '.') { /* fractions: Docker writes nanoseconds, Marathon milliseconds */
        if (!isdigit((unsigned char)*++p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5])) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
        if (*p == '+')
            off = -off;
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *t = timegm(&tm) + off;
    return 0;
}
