/* test_cbreg.c - callback registrations: ids, record parsing from key and value, keys */
#include <stdlib.h>
#include "cbreg.h"
#include "check.h"
#include "registry.h"

static void id_tests(void)
{
    char id1[CBREG_ID_LEN + 1], id2[CBREG_ID_LEN + 1];

    cbreg_id("web", "http://a/", "web-1", id1);
    cbreg_id("web", "http://a/", "web-1", id2);
    CHECK_STR(id1, id2); /* the same registration: the same key */
    CHECK_INT(strlen(id1), CBREG_ID_LEN);
    CHECK(strspn(id1, "0123456789abcdef") == CBREG_ID_LEN);
    cbreg_id("web", "http://a/", NULL, id2);
    CHECK(strcmp(id1, id2) != 0);
    cbreg_id("we", "bhttp://a/", "web-1", id2); /* fields do not run together */
    CHECK(strcmp(id1, id2) != 0);
}

static int parse(const char *rest, const char *json, struct cbreg *r)
{
    struct mdo_err err = MDO_ERR_INIT;

    return cbreg_parse(rest, json, strlen(json), r, &err);
}

static void parse_tests(void)
{
    struct cbreg r;

    CHECK_INT(parse("web/0123456789abcdef",
                    "{\"id\":\"x\",\"service\":\"other\",\"url\":\"http://h:8/cb?t=1\","
                    "\"secret_ref\":\"etcd:/mdo/prod/secrets/callbacks/0123456789abcdef\","
                    "\"created\":\"2026-12-01T09:05:20Z\",\"owner\":\"web-1\"}",
                    &r),
              0);
    CHECK_STR(r.service, "web"); /* the key says which, not the value */
    CHECK_STR(r.id, "0123456789abcdef");
    CHECK_STR(r.url, "http://h:8/cb?t=1");
    CHECK_STR(r.secret_ref, "etcd:/mdo/prod/secrets/callbacks/0123456789abcdef");
    CHECK_STR(r.owner, "web-1");
    CHECK_INT(r.created, 1796115920);
    cbreg_release(&r);
    CHECK(r.url == NULL);

    CHECK_INT(parse("web/ab", "{\"url\":\"https://h/\",\"secret_ref\":null,\"owner\":null}", &r),
              0);
    CHECK(r.secret_ref == NULL);
    CHECK(r.owner == NULL);
    CHECK_INT(r.created, 0);
    cbreg_release(&r);

    /* hostile keys and values: refused, never repaired */
    CHECK_INT(parse("we\"b/ab", "{\"url\":\"http://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("Web/ab", "{\"url\":\"http://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/a/b", "{\"url\":\"http://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/..", "{\"url\":\"http://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web", "{\"url\":\"http://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "{\"url\":\"ftp://h/\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "{\"url\":\"http://\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "{\"url\":\"http://h/a b\"}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "{\"url\":7}", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "not json", &r), -MDO_EPROTO);
    CHECK_INT(parse("web/ab", "", &r), -MDO_EPROTO);
}

static void key_tests(void)
{
    struct buf b = BUF_INIT(0);

    /* the keys cbreg uses, from a normalised prefix (registry.h) */
    CHECK_INT(reg_callback_key(&b, "/mdo", "prod", "web", "0123456789abcdef"), 0);
    CHECK_STR(buf_str(&b), "/mdo/prod/callbacks/web/0123456789abcdef");
    buf_reset(&b);
    CHECK_INT(reg_secret_key(&b, "/mdo", "prod", "0123456789abcdef"), 0);
    CHECK_STR(buf_str(&b), "/mdo/prod/secrets/callbacks/0123456789abcdef");
    buf_reset(&b);
    CHECK_INT(reg_callbacks_prefix(&b, "", "prod", NULL), 0);
    CHECK_STR(buf_str(&b), "/prod/callbacks/");
    buf_reset(&b);
    CHECK_INT(reg_callback_key(&b, "/mdo", "prod", "a/b", "x"), -MDO_EUSAGE);
    buf_release(&b);
}

int main(void)
{
    id_tests();
    parse_tests();
    key_tests();
    return check_done("test_cbreg");
}
