/* applet.h - what the guest applets share (private to guest/; guest.h is the public face).
 *
 * Every applet is `int guest_<name>(int argc, char **argv)` with argv[0] the applet name, and a
 * `guest_usage_<name>[]` --help text kept at the top of its file. It returns an exit code of
 * enum guest_exit; it prints results on stdout (one value per line) and "NAME: message" on
 * stderr, nothing else.
 */
#ifndef MDO_GUEST_APPLET_H
#define MDO_GUEST_APPLET_H

#include "buf.h"
#include "cli.h" /* --help, usage errors, numbers, options: as for the commands */
#include "err.h"
#include "etcd.h"
#include "http.h"
#include "registry.h"

/* DESIGN §7's exit codes (contract). */
enum guest_exit {
    GUEST_FOUND = 0,
    GUEST_NOT_FOUND = 1,
    GUEST_USAGE = 2,
    GUEST_UNREACHABLE = 3,
    GUEST_TOO_FEW = 4,
};

/* Sorted by name: guest_find() binary-searches the table built from this list. */
#define GUEST_APPLETS(X)                                                                           \
    X(get_container_host_address)                                                                  \
    X(get_container_internal_address)                                                              \
    X(get_container_name)                                                                          \
    X(get_environment_name)                                                                        \
    X(get_node_list)                                                                               \
    X(get_port)                                                                                    \
    X(get_service_name)                                                                            \
    X(get_specific_exposed_port)                                                                   \
    X(get_specific_host)                                                                           \
    X(get_specific_port)                                                                           \
    X(register_callback)                                                                           \
    X(watch)

#define X(n)                                                                                       \
    int guest_##n(int argc, char **argv);                                                          \
    extern const char guest_usage_##n[];
GUEST_APPLETS(X)
#undef X

/* Prints "NAME: msg" and usage's first line on stderr; returns GUEST_USAGE. */
int guest_usage_error(const char *name, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints "NAME: msg" on stderr when err is set; returns the exit code for err->code:
 * MDO_ENOTFOUND 1, MDO_EUSAGE 2, registry trouble (unreachable, HTTP error, unreadable answer,
 * no endpoint) 3, MDO_ETOOFEW 4, anything else 1. */
int guest_report(const char *name, const struct mdo_err *err);
/* getenv(name) if set and not empty, else getenv(fallback) likewise (fallback may be NULL),
 * else NULL. The seed's images set the fallbacks (SERVICE_NAME, ...). */
const char *guest_env(const char *name, const char *fallback);
/* Prints s and a newline on stdout; the caller's exit code becomes GUEST_FOUND. */
int guest_print(const char *s);

/* A service or container name from the command line: empty or with a '/' is a usage error
 * (-MDO_EUSAGE, "service name 'a/b' has a '/'"). Any other name that breaks names.h's rule
 * (name_ok for services, segment_ok for containers) was never registered: the lookups answer
 * "not found" for it without building a key. */
int guest_check_name(const char *what, const char *s, struct mdo_err *err);

/* The registry as the container sees it, from the environment mdo injects (DESIGN §4):
 * MDO_ETCD (else the seed's ETCD_HOST_ADDRESS "host:port"), MDO_ETCD_PREFIX (default /mdo,
 * normalised by reg_prefix_norm() so that "/mdo/" reads the keys the subscriber writes),
 * MDO_ENVIRONMENT (default "local", as the config's default). Owns its etcd client and prefix. */
struct guest_reg {
    struct etcd etcd;
    char *prefix;    /* normalised: ours */
    const char *env; /* from the environment or a literal: not owned */
    int open;
};

#define GUEST_REG_INIT                                                                             \
    {                                                                                              \
        .open = 0                                                                                  \
    }

int guest_reg_open(struct guest_reg *g, struct mdo_err *err);
void guest_reg_close(struct guest_reg *g);

/* The subscriber's API as the container sees it (DESIGN §4, §10): MDO_SUBSCRIBER_URL (its
 * base, e.g. http://172.17.0.1:5000) and MDO_SUBSCRIBER_TOKEN (subscriber.guest_token, sent as
 * "Authorization: Bearer"; unset: no header, for a subscriber without a token). Never etcd. */
struct guest_api {
    char *base;        /* MDO_SUBSCRIBER_URL without its trailing '/': ours */
    const char *token; /* from the environment, or NULL: not owned */
    int open;
};

#define GUEST_API_INIT                                                                             \
    {                                                                                              \
        .open = 0                                                                                  \
    }

/* -MDO_ECONFIG when MDO_SUBSCRIBER_URL is unset or not an http(s) URL. */
int guest_api_open(struct guest_api *a, struct mdo_err *err);
void guest_api_close(struct guest_api *a);
/* METHOD <base><path> with body (JSON, or NULL), with a timeout; the answer's body is in *resp
 * (caller releases, also on failure). 0 on a 2xx answer; else err says what the subscriber
 * answered, as guest_report() turns it into an exit code: unreachable or 5xx -MDO_ENET /
 * -MDO_EHTTP (3), 401/403 -MDO_ECONFIG naming MDO_SUBSCRIBER_TOKEN (3), 404 -MDO_ENOTFOUND (1),
 * another 4xx -MDO_EUSAGE with the subscriber's message (2). */
int guest_api_request(struct guest_api *a, const char *method, const char *path, const char *body,
                      struct http_resp *resp, struct mdo_err *err);

/* The record of service/container; -MDO_ENOTFOUND when there is none. Caller releases *out
 * with reg_record_release(). */
int guest_get(struct guest_reg *g, const char *service, const char *container,
              struct reg_record *out, struct mdo_err *err);

#endif
