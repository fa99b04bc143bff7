/* test_log.c - the logger: one key=value line per event, every value escaped (a peer's quotes and
 * newlines cannot forge a field or a line), quoted where it needs to be, levels */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "fixture.h"
#include "log.h"

/* What was written since fixture_capture(), without the "ts=... " part (checked separately). */
static const char *captured(int keep_ts)
{
    const char *got = fixture_captured(), *p;

    if (keep_ts || strncmp(got, "ts=", 3) || !(p = strchr(got, ' ')))
        return got;
    return p + 1;
}

#define LOGGED(want, ...)                                                                          \
    do {                                                                                           \
        fixture_capture();                                                                         \
        log_msg(__VA_ARGS__);                                                                      \
        CHECK_STR(captured(0), want);                                                              \
    } while (0)

int main(void)
{
    char big[3000];
    const char *line;

    LOGGED("level=warn mod=etcd msg=\"put failed\" key=/mdo/x err=timeout\n", LOG_WARN, "etcd",
           "put failed", "key=%s err=%s", "/mdo/x", "timeout");
    /* a peer's JSON error in a value: quoted and escaped, still one line and one field */
    LOGGED("level=error mod=etcd msg=\"txn\" err=\"POST u: {\\\"error\\\":\\\"a\\nb\\\"}\"\n",
           LOG_ERROR, "etcd", "txn", "err=%s", "POST u: {\"error\":\"a\nb\"}");
    /* already quoted by the format: escaped, no second quotes */
    LOGGED("level=info mod=m msg=\"x\" err=\"a\\\"b\\\\\"\n", LOG_INFO, "m", "x", "err=\"%s\"",
           "a\"b\\");
    /* msg is escaped too */
    LOGGED("level=info mod=m msg=\"say \\\"hi\\\"\\r\\n\"\n", LOG_INFO, "m", "say \"hi\"\r\n",
           NULL);
    /* control bytes and DEL */
    LOGGED("level=info mod=m msg=\"x\" v=\"a\\u0001b\\u007f\\t\"\n", LOG_INFO, "m", "x", "v=%s",
           "a\x01"
           "b\x7f\t");
    /* a value cannot forge a key: '=' and ' ' make it quoted */
    LOGGED("level=info mod=m msg=\"x\" service=\"web level=error\"\n", LOG_INFO, "m", "x",
           "service=%s", "web level=error");
    LOGGED("level=info mod=m msg=\"x\" empty=\"\" n=0\n", LOG_INFO, "m", "x", "empty=%s n=%d", "",
           0);
    /* numbers of every width the tree uses, precision, '*', %% (padding spaces mean quotes) */
    LOGGED("level=info mod=m msg=\"x\" a=-7 b=42 c=-9000000000 d=18446744073709551615 "
           "e=\"  1.50\" f=abc g=\"   12\" h=100% i=ff j=7\n",
           LOG_INFO, "m", "x", "a=%d b=%zu c=%lld d=%llu e=%6.2f f=%.3s g=%*d h=%d%% i=%lx j=%u",
           -7, (size_t)42, -9000000000LL, 18446744073709551615ULL, 1.5, "abcdef", 5, 12, 100, 255UL,
           7u);
    LOGGED("level=info mod=m msg=\"x\" type=ab len=3\n", LOG_INFO, "m", "x", "type=%.*s len=%zu", 2,
           "abc", (size_t)3);
    /* a value in free position: escaped, not quoted */
    LOGGED("level=warn mod=docker msg=\"x\" a b\\\"\n", LOG_WARN, "docker", "x", "%s", "a b\"");
    LOGGED("level=warn mod=docker msg=\"x\" \n", LOG_WARN, "docker", "x", "%s", "");

    /* a long value is cut, and says so */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fixture_capture();
    log_info("m", "x", "v=%s end=1", big);
    line = captured(0);
    CHECK_INT(strlen(line),
              strlen("level=info mod=m msg=\"x\" v=") + 1024 + 3 + strlen(" end=1\n"));
    CHECK_HAS(line, "xxx... end=1\n");

    /* the timestamp: RFC 3339, UTC */
    fixture_capture();
    log_info("m", "x", "%s", "");
    line = captured(1);
    CHECK(!strncmp(line, "ts=20", 5) && line[13] == 'T' && line[22] == 'Z' && line[23] == ' ');
    CHECK_INT(strlen(line) - strlen(strchr(line, ' ')), 23);

    /* levels */
    setenv("MDO_LOG", "error", 1);
    log_init();
    CHECK(!log_enabled(LOG_WARN));
    CHECK(log_enabled(LOG_ERROR));
    fixture_capture();
    log_warn("m", "hidden", "k=%d", 1);
    CHECK_STR(captured(0), "");
    setenv("MDO_LOG", "DEBUG", 1);
    log_init();
    CHECK(log_enabled(LOG_DEBUG));
    LOGGED("level=debug mod=m msg=\"shown\" k=1\n", LOG_DEBUG, "m", "shown", "k=%d", 1);
    return check_done("test_log");
}
