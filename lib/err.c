/* err.c - error codes to text, and the one place commands turn an error into an exit code */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "redact.h"

int err_set(struct mdo_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -code;
    err->code = code;
    err->origin = MDO_SRC_NONE;
    err->http_status = 0;
    err->why[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -code;
}

int err_wrap(struct mdo_err *err, const char *fmt, ...)
{
    char tail[MDO_ERR_MSG];
    va_list ap;
    int n;

    if (!err)
        return -MDO_EFAIL;
    memcpy(tail, err->msg, sizeof(tail));
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg) - 2)
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %.*s",
                 (int)(sizeof(err->msg) - (size_t)n - 3), tail);
    if (!err->code)
        err->code = MDO_EFAIL;
    return -err->code;
}

int err_from(struct mdo_err *err, enum mdo_src src)
{
    if (!err)
        return src ? -MDO_EFAIL : 0;
    if (!err->code)
        return 0;
    if (!err->origin)
        err->origin = src;
    return -err->code;
}

int err_tag(int ret, struct mdo_err *err, enum mdo_src src)
{
    if (ret)
        err_from(err, src);
    return ret;
}

void err_why(struct mdo_err *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->why, sizeof(err->why), fmt, ap);
    va_end(ap);
}

const char *err_src_name(int src)
{
    static const char *const names[] = {
        [MDO_SRC_NONE] = "",
        [MDO_SRC_ETCD] = "etcd",
        [MDO_SRC_DOCKER] = "docker",
        [MDO_SRC_MARATHON] = "marathon",
        [MDO_SRC_CALLBACK] = "callback",
        [MDO_SRC_CONFIG] = "config",
        [MDO_SRC_HTTP] = "http",
    };
    if (src < 0 || src >= (int)(sizeof(names) / sizeof(names[0])))
        return "";
    return names[src];
}

void err_clear(struct mdo_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->origin = MDO_SRC_NONE;
    err->http_status = 0;
    err->why[0] = '\0';
    err->msg[0] = '\0';
}

const char *err_name(int code)
{
    static const char *const names[] = {
        [MDO_OK] = "ok",           [MDO_EFAIL] = "failure",        [MDO_EUSAGE] = "usage",
        [MDO_ECONFIG] = "config",  [MDO_ENOTFOUND] = "not found",  [MDO_ENET] = "unreachable",
        [MDO_EHTTP] = "http",      [MDO_ECONFLICT] = "conflict",   [MDO_EPROTO] = "protocol",
        [MDO_ETOOFEW] = "too few", [MDO_ENOMEM] = "out of memory",
    };
    if (code < 0)
        code = -code;
    if (code >= (int)(sizeof(names) / sizeof(names[0])) || !names[code])
        return "unknown";
    return names[code];
}

int err_report(const char *prog, const struct mdo_err *err)
{
    if (!err->code)
        return 0;
    if (err->msg[0]) { /* a peer's message may quote what we sent it (redact.h) */
        char *shown = redact_dup(err->msg);
        fprintf(stderr, "mdo %s: %s\n", prog, shown ? shown : "(out of memory)");
        free(shown);
    }
    return err->code == MDO_EUSAGE ? 2 : 1;
}
