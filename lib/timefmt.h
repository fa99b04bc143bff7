/* timefmt.h - RFC 3339 timestamps (UTC, "2026-12-01T09:05:20Z"), formatted and parsed once.
 *
 * Parsing accepts what Docker, Marathon and mdo write: optional fractional seconds and a "Z" or
 * "+hh:mm"/"-hh:mm" offset; the result is seconds since the epoch (fractions dropped).
 */
#ifndef MDO_TIMEFMT_H
#define MDO_TIMEFMT_H

#include <time.h>

#define RFC3339_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" and the NUL */

/* Formats t (UTC) into out. */
void rfc3339_format(time_t t, char out[RFC3339_LEN]);
/* 0 and *t, or -1 when s is not an RFC 3339 date-time. */
int rfc3339_parse(const char *s, time_t *t);

#endif
