/* server.c - civetweb wrapped: routes to handlers that fill a struct server_resp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <civetweb.h>
#include <cjson/cJSON.h>
#include "http.h"
#include "log.h"
#include "server.h"

struct route {
    server_fn fn;
    void *ctx;
    unsigned flags; /* SERVER_* */
    struct route *next;
};

struct server {
    struct mg_context *mg;
    int port;
    struct route *routes; /* owned; freed by server_stop */
};

/* Frames the response with civetweb's response API (status line, reason phrase and Date are
 * civetweb's); a HEAD request gets the headers GET would get and no body. */
static void send_resp(struct mg_connection *c, int head, int status, const char *type,
                      const char *body, size_t len)
{
    char clen[24];

    snprintf(clen, sizeof(clen), "%zu", len);
    if (mg_response_header_start(c, status < 100 || status > 999 ? 500 : status)) {
        log_warn("server", "cannot start the response", "status=%d", status);
        return;
    }
    mg_response_header_add(c, "Content-Type", type, -1);
    mg_response_header_add(c, "Content-Length", clen, -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_send(c);
    if (len && !head)
        mg_write(c, body, len);
}

int server_json(struct server_resp *resp, int status, const cJSON *o)
{
    char *out = o ? cJSON_PrintUnformatted(o) : NULL;

    buf_reset(&resp->body);
    resp->content_type = "application/json";
    if (!out || buf_adds(&resp->body, out) || buf_addc(&resp->body, '\n')) {
        free(out);
        buf_reset(&resp->body);
        resp->status = 500;
        return -MDO_ENOMEM; /* an empty 500: nothing else can be built */
    }
    free(out);
    resp->status = status;
    return 0;
}

void server_error(struct server_resp *resp, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    if (o && cJSON_AddStringToObject(o, "error", msg))
        server_json(resp, status, o);
    else
        server_json(resp, 500, NULL);
    cJSON_Delete(o);
}

static int dispatch(struct mg_connection *c, void *cbdata)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const struct route *r = cbdata;
    struct server_req req = {0};
    struct server_resp resp = {200, "application/json", BUF_INIT(64u << 20)};
    struct buf body = BUF_INIT(SERVER_BODY_CAP + 1);
    int head = !strcmp(ri->request_method, "HEAD");
    int too_large = ri->content_length > (long long)SERVER_BODY_CAP;
    char chunk[2048]; /* civetweb's worker threads have a small fixed stack */
    int n;

    while (!too_large && (n = mg_read(c, chunk, sizeof(chunk))) > 0)
        too_large = buf_add(&body, chunk, (size_t)n) != 0;
    if (too_large && (r->flags & SERVER_DRAIN_LARGE)) { /* read and drop the rest, bounded */
        long long drained = 0;
        while (drained < SERVER_DRAIN_MAX && (n = mg_read(c, chunk, sizeof(chunk))) > 0)
            drained += n;
        buf_release(&body);
    }
    req.method = head ? "GET" : ri->request_method; /* HEAD is GET without the body */
    req.head = head;
    req.path = ri->local_uri;
    req.query = ri->query_string;
    req.authorization = mg_get_header(c, "Authorization");
    req.body = buf_str(&body);
    req.body_len = body.len;
    req.too_large = too_large;
    if (too_large && !(r->flags & SERVER_DRAIN_LARGE))
        server_error(&resp, 413, "body too large"); /* before any handler runs */
    else
        r->fn(r->ctx, &req, &resp);
    send_resp(c, head, resp.status, resp.content_type, buf_str(&resp.body), resp.body.len);
    log_debug("server", "request", "method=%s path=%s status=%d reason=\"%s\"", ri->request_method,
              req.path, resp.status, mg_get_response_code_text(c, resp.status));
    buf_release(&resp.body);
    buf_release(&body);
    return resp.status;
}

static int log_cb(const struct mg_connection *c, const char *msg)
{
    (void)c;
    log_warn("server", "civetweb", "detail=\"%.300s\"", msg);
    return 1;
}

/* Handlers may make outbound requests: free the worker thread's curl handle as it ends. */
static void exit_thread(const struct mg_context *ctx, int type, void *ptr)
{
    (void)ctx, (void)type, (void)ptr;
    http_thread_cleanup();
}

int server_start(struct server **out, const char *listen, struct mdo_err *err)
{
    struct server *s = calloc(1, sizeof(*s));
    struct mg_callbacks cb = {0};
    struct mg_server_port ports[4];
    const char *opts[] = {"listening_ports", listen, "num_threads", "8", "request_timeout_ms",
                          "10000", "enable_keep_alive", "yes", "keep_alive_timeout_ms", "5000",
                          /* a keep-alive client (Marathon's callbacks) otherwise waits out its
                           * delayed ACK (40 ms) on every answer written in two pieces */
                          "tcp_nodelay", "1", NULL};
    int n;

    *out = NULL;
    if (!s)
        return err_set(err, MDO_ENOMEM, "out of memory");
    cb.log_message = log_cb;
    cb.exit_thread = exit_thread;
    s->mg = mg_start(&cb, s, opts);
    if (!s->mg) {
        free(s);
        return err_set(err, MDO_EFAIL,
                       "cannot listen on '%s' (in use, or not ADDR:PORT?): "
                       "choose another with --listen or subscriber.listen",
                       listen);
    }
    n = mg_get_server_ports(s->mg, 4, ports);
    s->port = n > 0 ? ports[0].port : 0;
    *out = s;
    return 0;
}

void server_route(struct server *s, const char *uri, server_fn fn, void *ctx)
{
    server_route_flags(s, uri, fn, ctx, 0);
}

void server_route_flags(struct server *s, const char *uri, server_fn fn, void *ctx, unsigned flags)
{
    struct route *r = calloc(1, sizeof(*r));

    if (!r)
        return;
    r->fn = fn;
    r->ctx = ctx;
    r->flags = flags;
    r->next = s->routes;
    s->routes = r;
    mg_set_request_handler(s->mg, uri, dispatch, r);
}

int server_port(const struct server *s)
{
    return s->port;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    mg_stop(s->mg);
    while (s->routes) {
        struct route *r = s->routes;
        s->routes = r->next;
        free(r);
    }
    free(s);
}
