/* test_watch.c - pure parts of the watch client: gateway answer parsing, debounce; and the
 * membership diff the watch applet runs on (registry.h's reg_member_equal, reg_members_diff) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* An owned record: container, host, one port "p" published on ext, one label (or none). */
static struct reg_record mk(const char *container, const char *host, int ext, const char *label)
{
    struct reg_record r = {0};

    r.service = strdup("db");
    r.container = strdup(container);
    r.host = strdup(host);
    r.state = strdup("running");
    r.ports = calloc(1, sizeof(*r.ports));
    r.nports = 1;
    r.ports[0].name = strdup("p");
    r.ports[0].internal = 7000;
    r.ports[0].external = ext;
    snprintf(r.ports[0].proto, sizeof(r.ports[0].proto), "tcp");
    if (label) {
        r.labels = calloc(1, sizeof(*r.labels));
        r.nlabels = 1;
        r.labels[0].key = strdup("rack");
        r.labels[0].value = strdup(label);
    }
    return r;
}

/* "a b": the names as the watch applet joins them for MDO_ADDED and its kin */
static const char *joined(const char *const *v, unsigned n)
{
    static char out[256];
    size_t at = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s", i ? " " : "", v[i]);
    return out;
}

static void equal_tests(void)
{
    struct reg_record a = mk("db-1", "10.0.0.1", 31000, "r1"),
                      b = mk("db-1", "10.0.0.1", 31000, "r1");

    CHECK_INT(reg_member_equal(&a, &b), 1);
    free(b.state); /* a health flip is not a membership change */
    b.state = strdup("unhealthy");
    free(b.started_at);
    b.started_at = strdup("2026-12-01T00:00:00Z");
    CHECK_INT(reg_member_equal(&a, &b), 1);
    b.ports[0].external = 31001; /* a new host port is */
    CHECK_INT(reg_member_equal(&a, &b), 0);
    b.ports[0].external = 31000;
    snprintf(b.ports[0].proto, sizeof(b.ports[0].proto), "udp");
    CHECK_INT(reg_member_equal(&a, &b), 0);
    snprintf(b.ports[0].proto, sizeof(b.ports[0].proto), "tcp");
    free(b.labels[0].value);
    b.labels[0].value = strdup("r2");
    CHECK_INT(reg_member_equal(&a, &b), 0);
    reg_record_release(&b);
    b = mk("db-1", "10.0.0.2", 31000, "r1"); /* moved */
    CHECK_INT(reg_member_equal(&a, &b), 0);
    reg_record_release(&b);
    b = mk("db-1", "10.0.0.1", 31000, NULL);
    CHECK_INT(reg_member_equal(&a, &b), 0);
    reg_record_release(&a);
    reg_record_release(&b);
}

static void diff_tests(void)
{
    struct reg_members_diff d = REG_MEMBERS_DIFF_INIT;
    struct reg_record old[3], cur[4], one[1], two[2];

    old[0] = mk("a", "h", 1, NULL);
    old[1] = mk("b", "h", 2, NULL);
    old[2] = mk("c", "h", 3, NULL);
    cur[0] = mk("a", "h", 1, NULL);
    cur[1] = mk("b", "h", 9, NULL);
    cur[2] = mk("d", "h", 4, NULL);
    cur[3] = mk("e", "h", 5, NULL);

    CHECK_INT(reg_members_diff(old, 3, cur, 4, &d), 1);
    CHECK_INT(d.count, 4);
    CHECK_INT(d.added, 2);
    CHECK_INT(d.removed, 1);
    CHECK_INT(d.changed, 1);
    CHECK_STR(joined(d.names_added, d.added), "d e");
    CHECK_STR(joined(d.names_removed, d.removed), "c");
    CHECK_STR(joined(d.names_changed, d.changed), "b");
    reg_members_diff_release(&d);
    CHECK(d.names_added == NULL);

    CHECK_INT(reg_members_diff(old, 3, old, 3, &d), 0);
    CHECK_INT(d.count, 3);
    CHECK_INT(d.added + d.removed + d.changed, 0);
    reg_members_diff_release(&d);

    CHECK_INT(reg_members_diff(NULL, 0, old, 3, &d), 1);
    CHECK_INT(d.added, 3);
    CHECK_STR(joined(d.names_added, d.added), "a b c");
    reg_members_diff_release(&d);

    CHECK_INT(reg_members_diff(old, 3, NULL, 0, &d), 1);
    CHECK_INT(d.removed, 3);
    CHECK_INT(d.count, 0);
    CHECK_STR(joined(d.names_removed, d.removed), "a b c");
    reg_members_diff_release(&d);

    CHECK_INT(reg_members_diff(NULL, 0, NULL, 0, &d), 0);
    CHECK_INT(d.count, 0);
    reg_members_diff_release(&d);

    /* a name that is a prefix of another: "a" < "a-2", compared by name */
    one[0] = mk("a", "x", 1, NULL);
    two[0] = mk("a", "x", 1, NULL);
    two[1] = mk("a-2", "x", 1, NULL);
    CHECK_INT(reg_members_diff(one, 1, two, 2, &d), 1);
    CHECK_INT(d.added, 1);
    CHECK_INT(d.removed, 0);
    CHECK_INT(d.changed, 0);
    CHECK_STR(joined(d.names_added, d.added), "a-2");
    reg_members_diff_release(&d);

    /* names holding the old text encoding's separators are names like any other */
    reg_record_release(&two[1]);
    two[1] = mk("a\tb,c d", "x", 1, NULL);
    CHECK_INT(reg_members_diff(one, 1, two, 2, &d), 1);
    CHECK_INT(d.added, 1);
    CHECK_STR(d.names_added[0], "a\tb,c d");
    reg_members_diff_release(&d);

    for (int i = 0; i < 3; i++)
        reg_record_release(&old[i]);
    for (int i = 0; i < 4; i++)
        reg_record_release(&cur[i]);
    reg_record_release(&one[0]);
    reg_record_release(&two[0]);
    reg_record_release(&two[1]);
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
    equal_tests();
    diff_tests();
    settle_tests();
    return check_done("test_watch");
}
