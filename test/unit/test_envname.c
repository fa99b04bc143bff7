/* test_envname.c - env key spelling shared by the launch side and the guest applets */
#include "check.h"
#include "buf.h"
#include "envname.h"
#include "err.h"

static const char *mangle(struct buf *b, const char *prefix, const char *name)
{
    buf_reset(b);
    return envname(b, prefix, name) ? NULL : buf_str(b);
}

int main(void)
{
    struct buf b = BUF_INIT(0);
    struct buf small = BUF_INIT(12); /* room for 11 bytes */

    CHECK_STR(mangle(&b, "MDO_PORT_", "peer-x"), "MDO_PORT_PEER_X");
    CHECK_STR(mangle(&b, "MDO_PORT_", "native"), "MDO_PORT_NATIVE");
    CHECK_STR(mangle(&b, "MDO_PORT_", "Http2.alt port"), "MDO_PORT_HTTP2_ALT_PORT");
    CHECK_STR(mangle(&b, "MDO_PORT_", "ALREADY_UP_9"), "MDO_PORT_ALREADY_UP_9");
    CHECK_STR(mangle(&b, "", "a/b:c=d"), "A_B_C_D");
    CHECK_STR(mangle(&b, "X_", ""), "X_");
    CHECK_STR(mangle(&b, "", ""), "");
    /* the prefix is taken as given, not mangled */
    CHECK_STR(mangle(&b, "mdo-", "x"), "mdo-X");
    /* UTF-8 bytes are not alphanumeric in any locale we rely on: one '_' per byte */
    CHECK_STR(mangle(&b, "P_", "caf\xc3\xa9"), "P_CAF__");
    /* bytes with the high bit set must not be sign-extended into letters */
    CHECK_STR(mangle(&b, "", "\xe1\xc1\xff"), "___");

    /* appends: two calls build one key */
    buf_reset(&b);
    CHECK_INT(envname(&b, "MDO_", "port"), 0);
    CHECK_INT(envname(&b, "_", "web-1"), 0);
    CHECK_STR(buf_str(&b), "MDO_PORT_WEB_1");

    /* over the cap: fails and leaves the buffer as it was */
    CHECK_INT(envname(&small, "AB_", "cd"), 0);
    CHECK_STR(buf_str(&small), "AB_CD");
    CHECK_INT(envname(&small, "_", "toolongname"), -MDO_ENOMEM);
    CHECK_STR(buf_str(&small), "AB_CD");
    CHECK_INT(small.len, 5);

    buf_release(&b);
    buf_release(&small);
    return check_done("test_envname");
}
