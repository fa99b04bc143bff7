/* test_registry.c - record encoding, keys, the reconcile diff and the mass-removal hold */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "registry.h"
#include "strset.h"

static char l_zone[] = "zone", l_a[] = "a", l_tier[] = "tier", l_front[] = "front";
static struct cfg_kv web_labels[] = {{l_zone, l_a}, {l_tier, l_front}};

/* A record with ports of its own: http's external port is ext (0: 32768). The ports live in a
 * static pool, one pair per call, so changing one record's ports never changes another's. */
static struct reg_record rec(const char *svc, const char *ctr, int ext)
{
    static struct reg_port pool[32][2];
    static unsigned used;
    struct reg_port *ports = pool[used++ % 32];
    struct reg_record r = {0};

    ports[0] = (struct reg_port){(char *)"http", 8080, ext ? ext : 32768, "tcp"};
    ports[1] = (struct reg_port){(char *)"admin", 9090, 32769, "udp"};

    r.service = (char *)svc;
    r.container = (char *)ctr;
    r.environment = (char *)"prod";
    r.host = (char *)"172.17.0.1";
    r.address = (char *)"172.17.0.5";
    r.ports = ports;
    r.nports = 2;
    r.labels = web_labels;
    r.nlabels = 2;
    r.state = (char *)"running";
    r.started_at = (char *)"2026-11-25T08:00:00Z";
    r.app_version = (char *)"abc";
    r.backend = (char *)"docker";
    return r;
}

static void test_json(void)
{
    struct reg_record r = rec("web", "prod-web-1", 0), back;
    struct mdo_err err = MDO_ERR_INIT;
    char *s = reg_record_json(&r), *s2;

    /* the contract of DESIGN §5, labels sorted, ports in config order */
    CHECK_STR(s, "{\"service\":\"web\",\"container\":\"prod-web-1\",\"environment\":\"prod\","
                 "\"host\":\"172.17.0.1\",\"address\":\"172.17.0.5\",\"ports\":{\"http\":"
                 "{\"internal\":8080,\"external\":32768,\"protocol\":\"tcp\"},\"admin\":"
                 "{\"internal\":9090,\"external\":32769,\"protocol\":\"udp\"}},\"labels\":"
                 "{\"tier\":\"front\",\"zone\":\"a\"},\"state\":\"running\",\"started_at\":"
                 "\"2026-11-25T08:00:00Z\",\"app_version\":\"abc\",\"backend\":\"docker\"}");
    CHECK_INT(reg_record_parse(s, strlen(s), &back, &err), 0);
    s2 = reg_record_json(&back);
    CHECK_STR(s2, s); /* round trip: same bytes */
    CHECK_INT(reg_record_port(&back, "admin")->external, 32769);
    CHECK(reg_record_port(&back, "nope") == NULL);
    CHECK_STR(reg_record_label(&back, "tier"), "front");
    reg_record_release(&back);
    free(s);
    free(s2);
}

static void test_parse_bad(void)
{
    static const char *const bad[] = {"",
                                      "[]",
                                      "null",
                                      "{",
                                      "{\"service\":\"web\"}",
                                      "{\"service\":1,\"container\":\"c\",\"host\":\"h\"}",
                                      "{\"service\":\"s\",\"container\":\"c\",\"host\":\"h\","
                                      "\"ports\":{\"x\":5,\"y\":{\"internal\":\"z\"}},"
                                      "\"labels\":{\"a\":[1]}}"};
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record r;

    for (size_t i = 0; i < 6; i++)
        CHECK(reg_record_parse(bad[i], strlen(bad[i]), &r, &err) == -MDO_EPROTO);
    /* odd members are skipped, the record stays usable */
    CHECK_INT(reg_record_parse(bad[6], strlen(bad[6]), &r, &err), 0);
    CHECK_INT(r.nports, 1);
    CHECK_INT(r.ports[0].internal, 0);
    CHECK_INT(r.nlabels, 0);
    reg_record_release(&r);
}

static void test_keys(void)
{
    struct buf b = BUF_INIT(0);
    struct reg_record r = rec("web", "prod-web-1", 0);

    reg_key(&b, "/mdo", &r);
    CHECK_STR(b.ptr, "/mdo/prod/services/web/instances/prod-web-1");
    buf_reset(&b);
    reg_prefix(&b, "/mdo", "prod", NULL);
    CHECK_STR(b.ptr, "/mdo/prod/services/");
    buf_reset(&b);
    reg_spec_key(&b, "/x", "prod", "web");
    CHECK_STR(b.ptr, "/x/prod/specs/web");
    buf_reset(&b);
    CHECK_INT(reg_callbacks_prefix(&b, "/mdo", "prod", NULL), 0);
    CHECK_STR(b.ptr, "/mdo/prod/callbacks/");
    buf_reset(&b);
    CHECK_INT(reg_callbacks_prefix(&b, "/mdo", "prod", "web"), 0);
    CHECK_STR(b.ptr, "/mdo/prod/callbacks/web/");
    buf_reset(&b);
    CHECK_INT(reg_callback_key(&b, "/mdo", "prod", "web", "0123abcd"), 0);
    CHECK_STR(b.ptr, "/mdo/prod/callbacks/web/0123abcd");
    buf_reset(&b);
    CHECK_INT(reg_secret_key(&b, "/mdo", "prod", "0123abcd"), 0);
    CHECK_STR(b.ptr, "/mdo/prod/secrets/callbacks/0123abcd");
    buf_reset(&b);
    CHECK_INT(reg_leader_key(&b, "/mdo", "local"), 0);
    CHECK_STR(b.ptr, "/mdo/local/leader");
    buf_reset(&b);
    CHECK_INT(reg_leader_key(&b, "", "prod"), 0); /* prefix "/" normalises to "" */
    CHECK_STR(b.ptr, "/prod/leader");
    buf_release(&b);
}

/* a key read back: "<service>/instances/<container>", or not an instance's key */
static void test_key_split(void)
{
    static const char *const not_keys[] = {
        "web", "web/instances/", "/instances/c-1", "web/instance/c", "web/other/c-1", ""};
    const char *c = NULL;
    size_t n = 0;

    CHECK_INT(reg_key_split("web/instances/prod-web-1", &n, &c), 0);
    CHECK_INT((long)n, 3);
    CHECK_STR(c, "prod-web-1");
    CHECK_INT(reg_key_split("a/instances/x/y", &n, &c), 0); /* the caller judges the rest */
    CHECK_STR(c, "x/y");
    for (size_t i = 0; i < sizeof(not_keys) / sizeof(*not_keys); i++)
        CHECK_INT(reg_key_split(not_keys[i], &n, &c), -1);
}

/* a name breaking names.h's rule is refused, and never reaches the key */
static void test_keys_refused(void)
{
    static const char *const bad_names[] = {"a/b", "..", "", "Web", "-a", "a b"};
    static const char *const bad_segments[] = {"a/b", "..", "", ".hidden", "x\ny"};
    struct buf b = BUF_INIT(0);

    for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
        const char *n = bad_names[i];
        struct reg_record r = rec(n, "c-1", 0);

        CHECK_INT(reg_prefix(&b, "/mdo", n, NULL), -MDO_EUSAGE);
        CHECK_INT(b.len, 0); /* a bad env adds nothing */
        CHECK_INT(reg_prefix(&b, "/mdo", "prod", n), -MDO_EUSAGE);
        CHECK(!*n || !strstr(b.ptr ? b.ptr : "", n));
        buf_reset(&b);
        CHECK_INT(reg_key(&b, "/mdo", &r), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_spec_key(&b, "/mdo", "prod", n), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_callbacks_prefix(&b, "/mdo", "prod", n), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_callback_key(&b, "/mdo", "prod", n, "id1"), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_secret_key(&b, "/mdo", n, "id1"), -MDO_EUSAGE);
        CHECK_INT(b.len, 0);
        CHECK_INT(reg_leader_key(&b, "/mdo", n), -MDO_EUSAGE);
        CHECK_INT(b.len, 0);
    }
    for (size_t i = 0; i < sizeof(bad_segments) / sizeof(*bad_segments); i++) {
        const char *id = bad_segments[i];
        struct reg_record r = rec("web", id, 0);

        CHECK_INT(reg_key(&b, "/mdo", &r), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_callback_key(&b, "/mdo", "prod", "web", id), -MDO_EUSAGE);
        buf_reset(&b);
        CHECK_INT(reg_secret_key(&b, "/mdo", "prod", id), -MDO_EUSAGE);
        buf_reset(&b);
    }
    /* a record's service from a scheduler label (F8): refused, so it never becomes a key the
     * listing cannot read back */
    {
        struct reg_record r = rec("a/b", "prod-a-1", 0);
        CHECK_INT(reg_key(&b, "/mdo", &r), -MDO_EUSAGE);
    }
    buf_release(&b);
}

static void test_prefix_norm(void)
{
    static const char *const cases[][2] = {
        {"/mdo", "/mdo"}, {"/mdo/", "/mdo"}, {"/a//b/", "/a/b"}, {"//a///b//", "/a/b"},
        {"/", ""},        {"//", ""},        {"/a/b", "/a/b"},
    };
    char *out;

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        CHECK_INT(reg_prefix_norm(cases[i][0], &out), 0);
        CHECK_STR(out, cases[i][1]);
        free(out);
    }
    CHECK_INT(reg_prefix_norm("mdo", &out), -MDO_EUSAGE);
    CHECK(out == NULL);
    CHECK_INT(reg_prefix_norm("", &out), -MDO_EUSAGE);
    CHECK_INT(reg_prefix_norm(NULL, &out), -MDO_EUSAGE);
    /* a normalised prefix makes keys without "//" */
    {
        struct buf b = BUF_INIT(0);
        CHECK_INT(reg_prefix_norm("/mdo/", &out), 0);
        CHECK_INT(reg_prefix(&b, out, "prod", "web"), 0);
        CHECK_STR(b.ptr, "/mdo/prod/services/web/instances/");
        free(out);
        buf_release(&b);
    }
}

static void test_diff(void)
{
    struct reg_record want[3], have[3];
    struct reg_change *c;
    unsigned n;

    want[0] = rec("db", "d-1", 0);
    want[1] = rec("web", "w-1", 0);
    want[2] = rec("web", "w-3", 0);
    have[0] = rec("web", "w-1", 0); /* equal: no change */
    have[1] = rec("web", "w-2", 0);
    have[2] = rec("web", "w-3", 0);
    have[0].mod_revision = 7;
    have[1].mod_revision = 8;
    have[2].mod_revision = 9;
    have[2].state = (char *)"healthy"; /* differs: rewritten, guarded by its revision */
    CHECK_INT(reg_diff(want, 3, have, 3, &c, &n), 0);
    CHECK_INT(n, 3);
    CHECK(c[0].type == REG_PUT && !strcmp(c[0].rec->container, "d-1") && c[0].guard == 0);
    CHECK(c[1].type == REG_DEL && !strcmp(c[1].rec->container, "w-2") && c[1].guard == 8);
    CHECK(c[2].type == REG_PUT && !strcmp(c[2].rec->container, "w-3") && c[2].guard == 9);
    free(c);
    CHECK_INT(reg_diff(want, 0, have, 0, &c, &n), 0);
    CHECK_INT(n, 0);
    free(c);
    /* only a port differs: rewritten too */
    want[1] = rec("web", "w-1", 40000);
    CHECK_INT(reg_diff(want, 3, have, 3, &c, &n), 0);
    CHECK_INT(n, 4);
    CHECK(c[1].type == REG_PUT && !strcmp(c[1].rec->container, "w-1") && c[1].guard == 7);
    CHECK_INT(c[1].rec->ports[0].external, 40000);
    CHECK_INT(have[0].ports[0].external, 32768); /* the records' ports are their own */
    free(c);
    /* the same port again: equal */
    have[0] = rec("web", "w-1", 40000);
    have[0].mod_revision = 7;
    CHECK_INT(reg_diff(want, 3, have, 3, &c, &n), 0);
    CHECK_INT(n, 3);
    CHECK(c[1].type == REG_DEL && !strcmp(c[1].rec->container, "w-2"));
    free(c);
}

static void test_hold(void)
{
    struct reg_record have[4];
    struct reg_change c[4];
    struct strset none = STRSET_INIT, held = STRSET_INIT, prev = STRSET_INIT;
    unsigned n;

    have[0] = rec("db", "d-1", 0);
    have[1] = rec("web", "w-1", 0);
    have[2] = rec("web", "w-2", 0);
    have[3] = rec("web", "w-3", 0);
    /* an empty listing: every instance would go */
    for (int i = 0; i < 4; i++)
        c[i] = (struct reg_change){REG_DEL, &have[i], 1};
    n = 4;
    CHECK_INT(reg_hold_mass_removals(c, &n, have, 4, &none, &held), 3);
    CHECK_INT(n, 1); /* db's single instance: one removal is not "most of a service at once" */
    CHECK_STR(c[0].rec->container, "d-1");
    CHECK_INT(held.n, 3);
    CHECK_STR(held.n == 3 ? held.v[0] : NULL, "web/w-1");
    CHECK_STR(held.n == 3 ? held.v[2] : NULL, "web/w-3");
    /* a second listing that agrees only in part: still held */
    strset_add(&prev, "web/w-1");
    strset_add(&prev, "web/w-2");
    for (int i = 0; i < 4; i++)
        c[i] = (struct reg_change){REG_DEL, &have[i], 1};
    n = 4;
    CHECK_INT(reg_hold_mass_removals(c, &n, have, 4, &prev, &held), 3);
    CHECK_INT(n, 1);
    /* the second listing agrees: applied */
    strset_copy(&prev, &held);
    for (int i = 0; i < 4; i++)
        c[i] = (struct reg_change){REG_DEL, &have[i], 1};
    n = 4;
    CHECK_INT(reg_hold_mass_removals(c, &n, have, 4, &prev, &held), 0);
    CHECK_INT(n, 4);
    CHECK_INT(held.n, 0);
    /* one removal out of three is normal churn */
    c[0] = (struct reg_change){REG_DEL, &have[2], 1};
    n = 1;
    CHECK_INT(reg_hold_mass_removals(c, &n, have, 4, &none, &held), 0);
    CHECK_INT(n, 1);
    strset_release(&held);
    strset_release(&prev);
}

int main(void)
{
    test_json();
    test_parse_bad();
    test_keys();
    test_keys_refused();
    test_key_split();
    test_prefix_norm();
    test_diff();
    test_hold();
    return check_done("test_registry");
}
