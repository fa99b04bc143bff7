/* test_err.c - the error type: set, wrap, origin tags (first wins), why, names, exit codes */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "err.h"

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT, *none = NULL;
    char big[MDO_ERR_MSG + 100];

    CHECK_INT(err_from(&err, MDO_SRC_ETCD), 0); /* clear stays clear */
    CHECK_INT(err.origin, MDO_SRC_NONE);
    CHECK_INT(err_set(&err, MDO_ENET, "GET %s: %s", "http://h", "refused"), -MDO_ENET);
    CHECK_STR(err.msg, "GET http://h: refused");
    err_why(&err, "%s", "refused");
    CHECK_INT(err_from(&err, MDO_SRC_ETCD), -MDO_ENET);
    CHECK_INT(err_from(&err, MDO_SRC_DOCKER), -MDO_ENET); /* the first tag wins */
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_INT(err_wrap(&err, "etcd unreachable (at %s)", "h"), -MDO_ENET);
    CHECK_STR(err.msg, "etcd unreachable (at h): GET http://h: refused");
    CHECK_INT(err.origin, MDO_SRC_ETCD); /* wrapping keeps origin and why */
    CHECK_STR(err.why, "refused");
    err.http_status = 503;
    CHECK_INT(err_set(&err, MDO_EPROTO, "x"), -MDO_EPROTO); /* a new error starts clean */
    CHECK_INT(err.origin, MDO_SRC_NONE);
    CHECK_STR(err.why, "");
    CHECK_INT(err.http_status, 0);

    /* err_wrap with the message as an argument: no overlapping vsnprintf */
    err_set(&err, MDO_EFAIL, "inner");
    err_wrap(&err, "outer %s", "ctx");
    CHECK_STR(err.msg, "outer ctx: inner");
    err_clear(&err);
    CHECK_INT(err_wrap(&err, "ctx"), -MDO_EFAIL); /* wrapping nothing is a failure */
    CHECK_STR(err.msg, "ctx: ");

    /* long messages and whys are cut, never overflow */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, MDO_EFAIL, "%s", big);
    CHECK_INT(strlen(err.msg), MDO_ERR_MSG - 1);
    err_why(&err, "%s", big);
    CHECK_INT(strlen(err.why), MDO_ERR_WHY - 1);
    err_wrap(&err, "%s", "pre");
    CHECK_INT(strlen(err.msg), MDO_ERR_MSG - 1);
    CHECK(!strncmp(err.msg, "pre: xxx", 8));

    /* NULL err: the code still comes back */
    CHECK_INT(err_set(none, MDO_ENOTFOUND, "x"), -MDO_ENOTFOUND);
    CHECK_INT(err_wrap(none, "x"), -MDO_EFAIL);
    err_why(none, "x");
    err_clear(none);

    CHECK_STR(err_src_name(MDO_SRC_ETCD), "etcd");
    CHECK_STR(err_src_name(MDO_SRC_MARATHON), "marathon");
    CHECK_STR(err_src_name(MDO_SRC_HTTP), "http");
    CHECK_STR(err_src_name(MDO_SRC_NONE), "");
    CHECK_STR(err_src_name(99), "");
    CHECK_STR(err_src_name(-1), "");
    CHECK_STR(err_name(MDO_ENET), "unreachable");
    CHECK_STR(err_name(-MDO_ENET), "unreachable");
    CHECK_STR(err_name(MDO_ENOMEM), "out of memory");
    CHECK_STR(err_name(1000), "unknown");

    /* exit codes: 0, 2 for usage, 1 otherwise (stderr muted for these) */
    {
        int saved = dup(STDERR_FILENO);
        FILE *devnull = freopen("/dev/null", "w", stderr);
        int rc_ok, rc_usage, rc_fail;

        err_clear(&err);
        rc_ok = err_report("x", &err);
        err_set(&err, MDO_EUSAGE, "bad");
        rc_usage = err_report("x", &err);
        err_set(&err, MDO_ENET, "down");
        rc_fail = err_report("x", &err);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        (void)devnull;
        CHECK_INT(rc_ok, 0);
        CHECK_INT(rc_usage, 2);
        CHECK_INT(rc_fail, 1);
    }
    return check_done("test_err");
}
