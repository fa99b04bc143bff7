/* test_names.c - the two name rules: services/environments and key/path segments */
#include "check.h"
#include "names.h"

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    char n63[64], n64[65], s255[256], s256[257];

    CHECK(name_ok("web"));
    CHECK(name_ok("a"));
    CHECK(name_ok("0"));
    CHECK(name_ok("cassandra-2"));
    CHECK(name_ok("a-b-c"));
    CHECK(!name_ok(""));
    CHECK(!name_ok(NULL));
    CHECK(!name_ok("-a"));
    CHECK(!name_ok("a-"));
    CHECK(!name_ok("Web"));
    CHECK(!name_ok("a_b"));
    CHECK(!name_ok("a/b"));
    CHECK(!name_ok("a.b"));
    CHECK(!name_ok("a\"b"));
    CHECK(!name_ok("caf\xc3\xa9"));
    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';
    CHECK(name_ok(n63));
    CHECK(!name_ok(n64));

    CHECK(segment_ok("prod-web-1"));
    CHECK(segment_ok("web.1a2b_C-d"));
    CHECK(segment_ok("a.."));
    CHECK(!segment_ok("."));
    CHECK(!segment_ok(".."));
    CHECK(!segment_ok(".hidden"));
    CHECK(!segment_ok(""));
    CHECK(!segment_ok(NULL));
    CHECK(!segment_ok("a/b"));
    CHECK(!segment_ok("a b"));
    CHECK(!segment_ok("a%2F"));
    CHECK(!segment_ok("a\nb"));
    memset(s255, 'x', 255);
    s255[255] = '\0';
    memset(s256, 'x', 256);
    s256[256] = '\0';
    CHECK(segment_ok(s255));
    CHECK(!segment_ok(s256));

    CHECK_INT(name_check("service", "web", &err), 0);
    CHECK_INT(err.code, 0);
    CHECK_INT(name_check("service", "a'b\n", &err), -MDO_EUSAGE);
    CHECK_STR(err.msg, "service 'a?b?' is not a valid name (lowercase letters, digits and inner "
                       "'-', at most 63)");
    CHECK_INT(name_check("service", n64, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "aaaa' is not"); /* 64 bytes are shown whole */
    CHECK_INT(segment_check("id", s256, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "id 'xxxxxxxx");
    CHECK_HAS(err.msg, "xxxx...' is not"); /* longer ones are cut at 64 */
    CHECK_INT(strlen(err.msg) < 200, 1);
    CHECK_INT(segment_check("container", "..", &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "container '..' is not a valid name");
    CHECK_INT(segment_check("container", s255, &err), 0);
    CHECK_INT(name_check("service", NULL, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "service ''");
    return check_done("test_names");
}
