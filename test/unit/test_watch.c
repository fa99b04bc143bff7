/* test_watch.c - pure parts of the watch client: gateway answer parsing, membership diffs,
 * debounce */
#include <stdlib.h>
#include "check.h"
#include "watch.h"

static void parse_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct watch_resp r;
    const char *created = "{\"result\":{\"header\":{\"revision\":\"6\"},\"created\":true}}";
    /* a PUT has no "type" (the enum's zero value); keys and values are base64 */
    const char *events =
        "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":["
        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2EvazE=\",\"mod_revision\":\"7\"}},"
        "{\"kv\":{\"key\":\"L2Evazk=\",\"create_revision\":\"8\",\"mod_revision\":\"8\","
        "\"version\":\"1\",\"value\":\"eA==\"}}]}}";
    const char *compacted =
        "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"5\"}}";
    const char *progress = "{\"result\":{\"header\":{\"revision\":\"12\"}}}";

    CHECK_INT(watch_resp_parse(created, strlen(created), &r, &err), 0);
    CHECK_INT(r.created, 1);
    CHECK_INT(r.header_revision, 6);
    CHECK_INT(r.n, 0);
    CHECK_INT(r.progress, 0);
    watch_resp_release(&r);

    CHECK_INT(watch_resp_parse(events, strlen(events), &r, &err), 0);
    CHECK_INT(r.n, 2);
    CHECK_INT(r.ev[0].del, 1);
    CHECK_STR(r.ev[0].key, "/a/k1");
    CHECK_STR(r.ev[0].value, "");
    CHECK_INT(r.ev[0].mod_revision, 7);
    CHECK_INT(r.ev[1].del, 0);
    CHECK_STR(r.ev[1].key, "/a/k9");
    CHECK_STR(r.ev[1].value, "x");
    CHECK_INT(r.ev[1].len, 1);
    CHECK_INT(r.ev[1].mod_revision, 8);
    watch_resp_release(&r);

    CHECK_INT(watch_resp_parse(compacted, strlen(compacted), &r, &err), 0);
    CHECK_INT(r.canceled, 1);
    CHECK_INT(r.compact_revision, 5);
    watch_resp_release(&r);

    CHECK_INT(watch_resp_parse(progress, strlen(progress), &r, &err), 0);
    CHECK_INT(r.progress, 1);
    CHECK_INT(r.header_revision, 12);
    watch_resp_release(&r);

    CHECK_INT(
        watch_resp_parse("{\"error\":{\"grpc_code\":16,\"message\":\"no auth\"}}", 47, &r, &err),
        0);
    CHECK_INT(r.canceled, 1);
    CHECK_STR(r.error, "no auth");
    watch_resp_release(&r);

    /* hostile input */
    CHECK_INT(watch_resp_parse("nope", 4, &r, &err), -MDO_EPROTO);
    CHECK_INT(watch_resp_parse("[1]", 3, &r, &err), -MDO_EPROTO);
    CHECK_INT(watch_resp_parse("{}", 2, &r, &err), -MDO_EPROTO);
    {
        const char *bad = "{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!!\"}}]}}";
        CHECK_INT(watch_resp_parse(bad, strlen(bad), &r, &err), -MDO_EPROTO);
        bad = "{\"result\":{\"events\":[{\"kv\":{}}]}}";
        CHECK_INT(watch_resp_parse(bad, strlen(bad), &r, &err), -MDO_EPROTO);
        bad = "{\"result\":{\"events\":[{\"type\":\"EXPLODE\",\"kv\":{\"key\":\"YQ==\"}}]}}";
        CHECK_INT(watch_resp_parse(bad, strlen(bad), &r, &err), -MDO_EPROTO);
        bad = "{\"result\":{\"events\":[\"x\", 1, null]}}";
        CHECK_INT(watch_resp_parse(bad, strlen(bad), &r, &err), -MDO_EPROTO);
    }
    /* every prefix of a good answer: an error or a parse, never a crash */
    for (size_t i = 0; i < strlen(events); i++) {
        if (!watch_resp_parse(events, i, &r, &err))
            watch_resp_release(&r);
    }
}

static void line_tests(void)
{
    struct reg_port ports[] = {{"peer", 7000, 31000, "tcp"}, {"client", 9042, 31001, "udp"}};
    struct cfg_kv labels[] = {{"rack", "r1"}};
    struct reg_record r = {0};
    struct buf b = BUF_INIT(0);

    r.container = "db-1";
    r.host = "10.0.0.1";
    r.ports = ports;
    r.nports = 2;
    r.labels = labels;
    r.nlabels = 1;
    r.state = "healthy";
    CHECK_INT(watch_member_line(&b, &r), 0);
    CHECK_STR(b.ptr, "db-1\t10.0.0.1\tpeer=31000/7000/tcp,client=31001/9042/udp\track=r1\n");
    buf_reset(&b);
    r.state = "unhealthy"; /* not part of the line */
    r.container = "a\tb\nc";
    r.nports = 0;
    r.nlabels = 0;
    CHECK_INT(watch_member_line(&b, &r), 0);
    CHECK_STR(b.ptr, "a?b?c\t10.0.0.1\t\t\n");
    buf_release(&b);
}

static void diff_tests(void)
{
    struct watch_diff d = WATCH_DIFF_INIT;
    const char *old = "a\th\tp=1\t\nb\th\tp=2\t\nc\th\tp=3\t\n";
    const char *cur = "a\th\tp=1\t\nb\th\tp=9\t\nd\th\tp=4\t\ne\th\tp=5\t\n";

    CHECK_INT(watch_members_diff(old, cur, &d), 1);
    CHECK_INT(d.count, 4);
    CHECK_INT(d.added, 2);
    CHECK_INT(d.removed, 1);
    CHECK_INT(d.changed, 1);
    CHECK_STR(buf_str(&d.names_added), "d e");
    CHECK_STR(buf_str(&d.names_removed), "c");
    CHECK_STR(buf_str(&d.names_changed), "b");
    watch_diff_release(&d);

    d = (struct watch_diff)WATCH_DIFF_INIT;
    CHECK_INT(watch_members_diff(old, old, &d), 0);
    CHECK_INT(d.count, 3);
    watch_diff_release(&d);

    d = (struct watch_diff)WATCH_DIFF_INIT;
    CHECK_INT(watch_members_diff(NULL, old, &d), 1);
    CHECK_INT(d.added, 3);
    CHECK_STR(buf_str(&d.names_added), "a b c");
    watch_diff_release(&d);

    d = (struct watch_diff)WATCH_DIFF_INIT;
    CHECK_INT(watch_members_diff(old, "", &d), 1);
    CHECK_INT(d.removed, 3);
    CHECK_INT(d.count, 0);
    watch_diff_release(&d);

    /* a name that is a prefix of another: "a" < "a-2", compared by name, not by line */
    d = (struct watch_diff)WATCH_DIFF_INIT;
    CHECK_INT(watch_members_diff("a\tx\t\t\n", "a\tx\t\t\na-2\tx\t\t\n", &d), 1);
    CHECK_INT(d.added, 1);
    CHECK_INT(d.removed, 0);
    CHECK_STR(buf_str(&d.names_added), "a-2");
    watch_diff_release(&d);
}

static void settle_tests(void)
{
    /* quiet for 500 ms after the last event, or 5000 ms after the first */
    CHECK_INT(watch_settle_left(1000, 1000, 1000, 500, 5000), 500);
    CHECK_INT(watch_settle_left(1000, 1200, 1300, 500, 5000), 400);
    CHECK_INT(watch_settle_left(1000, 1200, 1700, 500, 5000), 0);
    CHECK(watch_settle_left(1000, 1200, 1800, 500, 5000) < 0);
    /* a steady trickle: settled by the cap */
    CHECK_INT(watch_settle_left(1000, 5900, 5950, 500, 5000), 50);
    CHECK(watch_settle_left(1000, 6000, 6001, 500, 5000) < 0);
}

int main(void)
{
    parse_tests();
    line_tests();
    diff_tests();
    settle_tests();
    return check_done("test_watch");
}
