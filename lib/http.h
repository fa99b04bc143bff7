/* http.h - the one outbound HTTP layer (the sole libcurl user): etcd, Docker's unix socket,
 * Marathon, callbacks. Every call has a connect timeout and a total (or idle) timeout.
 *
 * A struct http_conn describes a peer (socket, credentials, TLS, timeouts); it holds borrowed
 * pointers only. A struct http_resp owns its body; http_resp_release() frees it.
 * Each thread reuses one curl handle for requests (connection reuse): call
 * http_thread_cleanup() before a thread exits. A stream has a handle of its own, so its data
 * callback may make requests.
 */
#ifndef MDO_HTTP_H
#define MDO_HTTP_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

struct http_conn {
    const char *unix_socket;     /* Docker: URL host is then ignored */
    const char *user, *password; /* basic auth, or NULL */
    const char *token;           /* bearer token (CURLAUTH_BEARER; wins over user), or NULL */
    const char *auth_header;     /* raw Authorization value (etcd's token), or NULL */
    const char *ca, *cert, *key; /* TLS files, or NULL */
    const char *const *headers;  /* extra "Name: value" lines, NULL-terminated, or NULL */
    int insecure;                /* skip TLS verification */
    long connect_timeout_ms;     /* 0 = 3000 */
    long timeout_ms;             /* whole request; 0 = 10000 */
    /* A CURLOPT_CONNECT_TO entry ("::ADDRESS:PORT": every connection goes there, whatever the
     * URL's host resolves to; cbpolicy.h makes it), or NULL. With it no proxy is used. */
    const char *connect_to;
};

struct http_resp {
    long status;
    struct buf body; /* capped at HTTP_BODY_CAP */
};

#define HTTP_BODY_CAP (64u << 20)
#define HTTP_RESP_INIT                                                                             \
    {                                                                                              \
        0, BUF_INIT(HTTP_BODY_CAP)                                                                 \
    }

/* Messages name a URL as url_shown(url, 0) (lib/url.h): never its user:password. This layer
 * does not tag an origin (err_from): its caller knows which peer it talked to. */

/* Sends one request. A transport failure is -MDO_ENET naming the URL and curl's reason, which
 * is also in err->why; any HTTP status is success here (callers judge it, e.g. with
 * http_check()). body may be NULL. */
int http_request(const struct http_conn *c, const char *method, const char *url, const char *body,
                 size_t body_len, const char *content_type, struct http_resp *resp,
                 struct mdo_err *err);
/* -MDO_EHTTP "METHOD URL: HTTP <status>: <body excerpt>" unless status is in [lo, hi]; the
 * excerpt is also in err->why and the status in err->http_status. */
int http_check(const struct http_resp *resp, long lo, long hi, const char *method, const char *url,
               struct mdo_err *err);
void http_resp_release(struct http_resp *resp);

/* Streams a long-lived GET (events, SSE, watch). on_data gets each chunk as it arrives; returning
 * nonzero stops the stream. *stop, checked about every 200 ms, stops it too. idle_s > 0 fails the
 * stream (-MDO_ENET "idle") when nothing arrives for that long (on the monotonic clock). A non-2xx
 * status is -MDO_EHTTP. method is "GET" or "POST" (etcd's watch is a POST with a body). Returns 0
 * when the peer closed the stream or it was stopped. */
typedef int (*http_data_fn)(void *ctx, const char *p, size_t n);
int http_stream(const struct http_conn *c, const char *method, const char *url, const char *body,
                const char *accept, http_data_fn on_data, void *ctx, const volatile int *stop,
                long idle_s, struct mdo_err *err);

/* As http_stream, and on_open(ctx, status) is called once, from the transfer, when the peer's
 * response headers have all arrived with a 2xx status (before any data): the moment the peer
 * has answered, which a stream that sends nothing until its first event (Docker's /events)
 * shows no other way. on_open may be NULL. */
typedef void (*http_open_fn)(void *ctx, long status);
int http_stream_open(const struct http_conn *c, const char *method, const char *url,
                     const char *body, const char *accept, http_open_fn on_open,
                     http_data_fn on_data, void *ctx, const volatile int *stop, long idle_s,
                     struct mdo_err *err);

/* Appends s percent-encoded for a query string. */
int http_escape(struct buf *b, const char *s);
void http_thread_cleanup(void);

#endif
