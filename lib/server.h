/* server.h - the one inbound HTTP server (the sole civetweb user).
 *
 * Handlers never see civetweb: they get a parsed request and fill a response whose body the
 * server owns and frees after sending. Clients talk to the front (front.h), which hands civetweb
 * only whole requests; handlers run on civetweb's SERVER_THREADS worker threads: whatever they
 * share must be locked by its owner. A request body over SERVER_BODY_CAP is answered 413 before
 * any handler runs. A HEAD request reaches the handler as "GET" with head set; the server sends
 * the headers GET would get (Content-Length included) and no body.
 */
#ifndef MDO_SERVER_H
#define MDO_SERVER_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

#define SERVER_BODY_CAP   (1u << 20)
#define SERVER_HEADER_CAP (16u << 10) /* request line + headers over it: 431 */
#define SERVER_THREADS    "32"        /* civetweb workers: handlers running at once (server.c) */
#define SERVER_BODY_MS    10000       /* a body not read whole within: 408, connection closed */
#define SERVER_DRAIN_MS   60000       /* the same for a SERVER_DRAIN_LARGE route's drain */

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

/* listen: "ADDR:PORT" (PORT 0 = any free port: see server_port()); the forms front.h lists. */
int server_start(struct server **s, const char *listen, struct mdo_err *err);
/* At most max_conns client connections open (0: FRONT_CONNS); a new one sheds the idlest. */
void server_max_conns(struct server *s, int max_conns);
/* uri as civetweb matches it: "/health" exactly, "/v1/services" also matches "/v1/services/x". */
void server_route(struct server *s, const char *uri, server_fn fn, void *ctx);
/* SERVER_DRAIN_LARGE: a body over SERVER_BODY_CAP (up to SERVER_DRAIN_MAX) is read and dropped
 * and the handler runs with req->too_large set, instead of a 413 (Marathon's http callbacks
 * back off after a non-2xx answer, and its deployment events can be that large). */
enum { SERVER_DRAIN_LARGE = 1, SERVER_AUTH = 2, SERVER_SECRET_PATH = 4 };
#define SERVER_DRAIN_MAX (256ll << 20)
void server_route_flags(struct server *s, const char *uri, server_fn fn, void *ctx, unsigned flags);
/* methods: the route's methods, "GET" or "GET, POST" (a GET route also answers HEAD); any other
 * is answered 405 with an Allow header before the handler runs (NULL: the handler decides).
 * SERVER_SECRET_PATH: what follows the route's uri is a secret: the log shows "/<secret>".
 * SERVER_AUTH: the route wants "Authorization: Bearer <token>" (401 without it) once
 * server_require_token() has set a token. Before any handler also: a path with control bytes
 * or non-ASCII is 400; with "//", a dot segment or "%00" 404; headers over SERVER_HEADER_CAP
 * 431; a body that is not UTF-8 (or holds a NUL) 400. */
void server_route_methods(struct server *s, const char *uri, const char *methods, server_fn fn,
                          void *ctx, unsigned flags);
/* token (borrowed, outlives s) for the SERVER_AUTH routes; NULL or "": none wanted. */
void server_require_token(struct server *s, const char *token);
/* 1 when authorization is "Bearer <token>" (constant-time compare); 0 when not, or no token. */
int server_bearer_ok(const char *authorization, const char *token);
/* 1 when every address of listen ("ADDR:PORT[,...]", as front.h takes it) is loopback
 * (127.0.0.0/8, [::1], localhost); a bare port is every interface: 0. */
int server_listen_loopback(const char *listen);
int server_port(const struct server *s);
void server_stop(struct server *s);

/* JSON answers, built with cJSON (never by hand). server_json: status and o printed compactly
 * with a final newline (o stays the caller's); 0, or -MDO_ENOMEM after answering 500.
 * server_error: status and {"error":"<msg>"}. Both replace whatever the body held. */
struct cJSON;
int server_json(struct server_resp *resp, int status, const struct cJSON *o);
void server_error(struct server_resp *resp, int status, const char *msg);

#endif
