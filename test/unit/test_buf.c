/* test_buf.c - the capped buffer: growth, the cap (all or nothing), detach, consume, escaping */
#include <stdlib.h>
#include "check.h"
#include "buf.h"
#include "err.h"

int main(void)
{
    struct buf b = BUF_INIT(0), c = BUF_INIT(8); /* room for 7 bytes */
    int fails = 0;
    char *p;

    CHECK_STR(buf_str(&b), "");
    CHECK_INT(buf_adds(&b, "ab"), 0);
    CHECK_INT(buf_addc(&b, 'c'), 0);
    CHECK_INT(buf_add(&b, "d\0e", 3), 0);
    CHECK_INT(b.len, 6);
    CHECK(!memcmp(b.ptr, "abcd\0e", 7)); /* NUL-terminated past len */
    CHECK_INT(buf_addf(&b, "%d-%s", 42, "x"), 0);
    CHECK_INT(b.len, 10);
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(buf_str(&b), "");
    for (int i = 0; i < 1000; i++) /* growth across many doublings: one check, not 1000 */
        fails += buf_addf(&b, "%03d", i) != 0;
    CHECK_INT(fails, 0);
    CHECK_INT(b.len, 3000);
    CHECK(!strncmp(b.ptr + 2997, "999", 3));

    /* the cap: an add that does not fit fails and changes nothing */
    CHECK_INT(buf_adds(&c, "1234567"), 0);
    CHECK_INT(buf_addc(&c, '8'), -MDO_ENOMEM);
    CHECK_INT(buf_addf(&c, "%s", "x"), -MDO_ENOMEM);
    CHECK_INT(buf_add_json_escaped(&c, ""), 0);
    CHECK_STR(buf_str(&c), "1234567");
    CHECK_INT(c.len, 7);
    CHECK(c.alloc <= c.cap);
    buf_consume(&c, 3);
    CHECK_STR(buf_str(&c), "4567");
    CHECK_INT(buf_adds(&c, "890"), 0);
    CHECK_STR(buf_str(&c), "4567890");
    buf_consume(&c, 100);
    CHECK_STR(buf_str(&c), "");
    CHECK_INT(c.len, 0);

    /* detach: the caller owns it, the buffer is empty; an empty buffer gives "" */
    p = buf_detach(&b);
    CHECK(p && strlen(p) == 3000);
    CHECK(b.ptr == NULL && b.len == 0);
    free(p);
    p = buf_detach(&b);
    CHECK_STR(p, "");
    free(p);

    /* JSON string escaping (the logger's) */
    CHECK_INT(buf_add_json_escaped(&b, "a\"b\\c\nd\te\rf\x01g\x1f\x7fh\xc3\xa9"), 0);
    CHECK_STR(buf_str(&b), "a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001f\\u007fh\xc3\xa9");
    buf_release(&b);
    CHECK(b.ptr == NULL && b.len == 0 && b.alloc == 0);
    buf_release(&b); /* twice is fine */
    buf_release(&c);
    CHECK_INT(c.cap, 8); /* release keeps the cap */
    return check_done("test_buf");
}
