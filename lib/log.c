/* log.c - key=value lines on stderr, one write(2) each so threads do not interleave */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

static enum log_level level = LOG_INFO;

void log_init(void)
{
    const char *s = getenv("MDO_LOG");
    static const char *const names[] = {"error", "warn", "info", "debug"};

    if (!s)
        return;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i]))
            level = (enum log_level)i;
}

int log_enabled(enum log_level lvl)
{
    return lvl <= level;
}

void log_msg(enum log_level lvl, const char *mod, const char *msg, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[2048], ts[32];
    struct tm tm;
    time_t now = time(NULL);
    va_list ap;
    int n;

    if (lvl > level)
        return;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(line, sizeof(line), "ts=%s level=%s mod=%s msg=\"%s\"", ts, names[lvl], mod, msg);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    if (fmt && *fmt && (size_t)n < sizeof(line) - 3) {
        int m;
        line[n++] = ' ';
        va_start(ap, fmt);
        m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
        if ((size_t)n >= sizeof(line) - 1)
            n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
