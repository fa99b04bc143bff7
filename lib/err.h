/* err.h - one error type for lib/: a code, where it came from, the peer's reason, and a message
 * for people, turned into text in one place.
 *
 * lib/ functions return 0 or -MDO_E* and fill the caller's struct mdo_err. They never print or
 * exit. cmd/ ends with `return err_report("launch", &err);`, guest/ with guest_report() (own exit
 * codes). Invariant: err->code == 0 means no error, origin is MDO_SRC_NONE and msg, why are "".
 *
 * Deciding what failed is done on the fields (code, origin, http_status), never on msg's text:
 * each module that talks to a peer tags the errors it returns with err_from(err, MDO_SRC_x) at
 * its boundary (the first tag wins, so a wrapped error keeps its first origin), and may keep the
 * peer's own reason (Marathon's "message", curl's error text) in why with err_why().
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

/* Where an error came from: the peer (or the input) at fault. */
enum mdo_src {
    MDO_SRC_NONE = 0,
    MDO_SRC_ETCD,
    MDO_SRC_DOCKER,
    MDO_SRC_MARATHON,
    MDO_SRC_CALLBACK, /* a callback target */
    MDO_SRC_CONFIG,
    MDO_SRC_HTTP, /* an inbound HTTP client */
};

#define MDO_ERR_MSG 8192
#define MDO_ERR_WHY 512

struct mdo_err {
    int code;
    int origin;            /* enum mdo_src */
    long http_status;      /* for MDO_EHTTP, else 0 */
    char why[MDO_ERR_WHY]; /* the peer's own reason, or "" */
    char msg[MDO_ERR_MSG];
};

#define MDO_ERR_INIT                                                                               \
    {                                                                                              \
        0, 0, 0, "", ""                                                                            \
    }

/* Sets err (if not NULL) and returns -code, so `return err_set(...)` reads naturally. */
int err_set(struct mdo_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in err with "<fmt>: " (adds context on the way up). Returns -code.
 */
int err_wrap(struct mdo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tags err with its origin unless it has one already; returns -code (0 when err is clear). */
int err_from(struct mdo_err *err, enum mdo_src src);
/* ret, with err tagged err_from(err, src) when ret is not 0: a module's exits in one call. */
int err_tag(int ret, struct mdo_err *err, enum mdo_src src);
/* Keeps the peer's reason (printf-style) in err->why. */
void err_why(struct mdo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "etcd", "docker", "marathon", "callback", "config", "http" or "" for MDO_SRC_NONE. */
const char *err_src_name(int src);
void err_clear(struct mdo_err *err);
const char *err_name(int code);
/* Prints "mdo PROG: msg" to stderr when err is set; returns the command exit code (0, 1, 2). */
int err_report(const char *prog, const struct mdo_err *err);

#endif
