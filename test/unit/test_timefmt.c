/* test_timefmt.c - RFC 3339: format (UTC, seconds) and parse (fractions, Z and offsets) */
#include "check.h"
#include "timefmt.h"

static long long parsed(const char *s)
{
    time_t t = 12345;

    return rfc3339_parse(s, &t) ? -1 : (long long)t;
}

int main(void)
{
    char out[RFC3339_LEN];
    time_t t = 1764579920; /* 2025-12-01T09:05:20Z */

    rfc3339_format(t, out);
    CHECK_STR(out, "2025-12-01T09:05:20Z");
    rfc3339_format(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00Z");
    CHECK_INT(strlen(out) + 1, RFC3339_LEN);

    CHECK_INT(parsed("2025-12-01T09:05:20Z"), 1764579920);
    CHECK_INT(parsed("2025-12-01T09:05:20z"), 1764579920);
    CHECK_INT(parsed("2025-12-01T09:05:20.123456789Z"), 1764579920); /* Docker */
    CHECK_INT(parsed("2025-12-01T09:05:20.123Z"), 1764579920);       /* Marathon */
    CHECK_INT(parsed("2025-12-01T10:05:20+01:00"), 1764579920);
    CHECK_INT(parsed("2025-12-01T04:35:20-04:30"), 1764579920);
    CHECK_INT(parsed("2025-12-01T10:05:20.5+01:00"), 1764579920);
    CHECK_INT(parsed("1970-01-01T00:00:00Z"), 0);
    rfc3339_format(t, out);
    CHECK_INT(parsed(out), 1764579920); /* round trip */

    CHECK_INT(parsed("2025-12-01T09:05:20"), -1); /* no zone */
    CHECK_INT(parsed("2025-12-01 09:05:20Z"), -1);
    CHECK_INT(parsed("2025-12-01T09:05:20.Z"), -1);
    CHECK_INT(parsed("2025-12-01T09:05:20+0100"), -1);
    CHECK_INT(parsed("2025-12-01T09:05:20Zjunk"), -1);
    CHECK_INT(parsed("2025-13-01T09:05:20Z"), -1);
    CHECK_INT(parsed(""), -1);
    CHECK_INT(parsed(NULL), -1);
    return check_done("test_timefmt");
}
