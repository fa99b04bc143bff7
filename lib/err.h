/* err.h - one error type for lib/: a code plus a message, turned into text in one place.
 *
 * lib/ functions return 0 or -MDO_E* and fill the caller's struct mdo_err. They never print or
 * exit. cmd/ ends with `return err_report("launch", &err);`, guest/ with guest_report() (own exit
 * codes). Invariant: err->code == 0 means no error and msg is "".
 */
#ifndef MDO_ERR_H
#define MDO_ERR_H

enum mdo_ecode {
    MDO_OK = 0,
    MDO_EFAIL,     /* generic failure */
    MDO_EUSAGE,    /* bad command line */
    MDO_ECONFIG,   /* config file invalid */
    MDO_ENOTFOUND, /* no such service / key / container */
    MDO_ENET,      /* peer unreachable: connect, timeout, TLS */
    MDO_EHTTP,     /* peer answered with an unexpected status (see http_status) */
    MDO_ECONFLICT, /* guarded write lost a race (etcd mod_revision, HTTP 409) */
    MDO_EPROTO,    /* peer answered something we cannot parse */
    MDO_ETOOFEW,   /* fewer instances than asked for */
    MDO_ENOMEM,
};

#define MDO_ERR_MSG 8192

struct mdo_err {
    int code;
    long http_status; /* for MDO_EHTTP, else 0 */
    char msg[MDO_ERR_MSG];
};

#define MDO_ERR_INIT                                                                               \
    {                                                                                              \
        0, 0, ""                                                                                   \
    }

/* Sets err (if not NULL) and returns -code, so `return err_set(...)` reads naturally. */
int err_set(struct mdo_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in err with "<fmt>: " (adds context on the way up). Returns -code.
 */
int err_wrap(struct mdo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct mdo_err *err);
const char *err_name(int code);
/* Prints "mdo PROG: msg" to stderr when err is set; returns the command exit code (0, 1, 2). */
int err_report(const char *prog, const struct mdo_err *err);

#endif
