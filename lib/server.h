/* server.h - the one inbound HTTP server (the sole civetweb user).
 *
 * Handlers never see civetweb: they get a parsed request and fill a response whose body the
 * server owns and frees after sending. Handlers run on civetweb's worker threads: whatever they
 * share must be locked by its owner. A request body over SERVER_BODY_CAP is answered 413 before
 * any handler runs. A HEAD request reaches the handler as "GET" with head set; the server sends
 * the headers GET would get (Content-Length included) and no body.
 */
#ifndef MDO_SERVER_H
#define MDO_SERVER_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

#define SERVER_BODY_CAP (1u << 20)

struct server;

struct server_req {
    const char *method, *path, *query; /* query may be NULL */
    int head;                          /* a HEAD request: method says "GET" */
    const char *authorization;         /* the header, or NULL */
    const char *body;                  /* NUL-terminated, may be "" */
    size_t body_len;
    int too_large; /* SERVER_DRAIN_LARGE routes only: the body was over the cap, read, dropped */
};

struct server_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    struct buf body;
};

typedef void (*server_fn)(void *ctx, const struct server_req *req, struct server_resp *resp);

/* listen: "ADDR:PORT" (PORT 0 = any free port: see server_port()). */
int server_start(struct server **s, const char *listen, struct mdo_err *err);
/* uri as civetweb matches it: "/health" exactly, "/v1/services" also matches "/v1/services/x". */
void server_route(struct server *s, const char *uri, server_fn fn, void *ctx);
/* SERVER_DRAIN_LARGE: a body over SERVER_BODY_CAP (up to SERVER_DRAIN_MAX) is read and dropped
 * and the handler runs with req->too_large set, instead of a 413 (Marathon's http callbacks
 * back off after a non-2xx answer, and its deployment events can be that large). */
enum { SERVER_DRAIN_LARGE = 1 };
#define SERVER_DRAIN_MAX (256ll << 20)
void server_route_flags(struct server *s, const char *uri, server_fn fn, void *ctx, unsigned flags);
int server_port(const struct server *s);
void server_stop(struct server *s);

/* JSON answers, built with cJSON (never by hand). server_json: status and o printed compactly
 * with a final newline (o stays the caller's); 0, or -MDO_ENOMEM after answering 500.
 * server_error: status and {"error":"<msg>"}. Both replace whatever the body held. */
struct cJSON;
int server_json(struct server_resp *resp, int status, const struct cJSON *o);
void server_error(struct server_resp *resp, int status, const char *msg);

#endif
