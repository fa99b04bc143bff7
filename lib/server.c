/* server.c - civetweb behind the front (front.c): routes to handlers that fill a server_resp */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <civetweb.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "clock.h"
#include "front.h"
#include "front_parse.h"
#include "http.h"
#include "log.h"
#include "redact.h"
#include "server.h"

struct route {
    server_fn fn;
    void *ctx;
    unsigned flags;   /* SERVER_* */
    char allow[64];   /* "GET, HEAD" as the Allow header says it; "" = any method */
    char uri[64];     /* as registered: what a SERVER_SECRET_PATH route's log line shows */
    struct server *s; /* its server: the token */
    struct route *next;
};

struct server {
    struct mg_context *mg; /* on 127.0.0.1, an ephemeral port: only the front talks to it */
    struct front *front;   /* the public listener */
    int port;              /* the front's */
    int inner;             /* civetweb's */
    int stopped;           /* mg_stop has returned (atomic): poke() ends */
    pthread_mutex_t lock;  /* routes: added by the caller, read by the front's thread */
    struct route *routes;  /* owned; freed by server_stop */
    const char *token;     /* SERVER_AUTH routes want it (borrowed), or NULL */
};

/* Whether a equals b, in time that depends on neither, not even their lengths (hashed first). */
static int same_secret(const char *a, const char *b)
{
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    unsigned int na = 0, nb = 0;

    if (!EVP_Digest(a, strlen(a), da, &na, EVP_sha256(), NULL) ||
        !EVP_Digest(b, strlen(b), db, &nb, EVP_sha256(), NULL) || na != nb)
        return 0;
    return !CRYPTO_memcmp(da, db, na);
}

int server_bearer_ok(const char *authorization, const char *token)
{
    /* RFC 6750: the scheme is case-insensitive; one space before the token */
    if (!token || !*token || !authorization || strncasecmp(authorization, "Bearer ", 7) ||
        !authorization[7])
        return 0;
    return same_secret(authorization + 7, token);
}

/* One ADDR:PORT of civetweb's listening_ports: loopback ("127.x.y.z:P", "[::1]:P",
 * "localhost:P"); a bare port listens on every interface. */
static int one_loopback(const char *p, size_t len)
{
    char host[64];
    const char *colon = NULL;
    struct in_addr a4;

    for (size_t i = 0; i < len; i++)
        if (p[i] == ':')
            colon = p + i;
    if (!colon || (size_t)(colon - p) >= sizeof(host))
        return 0;
    if (p[0] == '[') { /* [v6]:port */
        if (colon < p + 2 || colon[-1] != ']')
            return 0;
        memcpy(host, p + 1, (size_t)(colon - p - 2));
        host[colon - p - 2] = '\0';
        return !strcmp(host, "::1");
    }
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    if (!strcmp(host, "localhost"))
        return 1;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

int server_listen_loopback(const char *listen)
{
    const char *p = listen;

    if (!p || !*p)
        return 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (!one_loopback(p, len))
            return 0;
        p += len + (p[len] == ',');
    }
    return 1;
}

void server_require_token(struct server *s, const char *token)
{
    s->token = token && *token ? token : NULL;
}

/* method is one of the comma-separated list allow ("GET" lets HEAD in too) */
static int method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);

    if (!*allow)
        return 1;
    for (const char *p = allow; *p;) {
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, method, n))
            return 1;
        p += len;
        p += strspn(p, ", ");
    }
    return 0;
}

/* A request path mdo answers: printable ASCII, no "//", no dot segment (civetweb's cleaned
 * local_uri differs from the raw one then), no escape. 0, or the status to answer: 400, 404. */
static int path_status(const struct mg_request_info *ri)
{
    const char *raw = ri->local_uri_raw ? ri->local_uri_raw : "";

    for (const unsigned char *p = (const unsigned char *)raw; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 400;
    if (!ri->local_uri || strcmp(raw, ri->local_uri) || strstr(raw, "//") || strstr(raw, "/./") ||
        strchr(raw, '%'))
        return 404; /* no mdo name holds a '%': an escape is a trick ("%2e%2e", "%00") */
    return 0;
}

/* Valid UTF-8 with no NUL (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) */
static int utf8_ok(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], need, min, cp;
        if (!c)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            need = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            need = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            need = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        if (n - i <= need)
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Frames the response with civetweb's response API (status line, reason phrase and Date are
 * civetweb's); a HEAD request gets the headers GET would get and no body. */
static void send_resp(struct mg_connection *c, int head, int status, const char *type,
                      const char *allow, const char *body, size_t len)
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
    if (allow && *allow)
        mg_response_header_add(c, "Allow", allow, -1);
    if (status == 401)
        mg_response_header_add(c, "WWW-Authenticate", "Bearer", -1);
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

/* Answers before any handler runs: 0 to run it, else the status (the error in resp). */
static int refuse(struct mg_connection *c, const struct route *r, const struct server_req *req,
                  struct server_resp *resp)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    int st = path_status(ri);

    if (st)
        server_error(resp, st, st == 400 ? "bad request path" : "no such resource");
    else if ((r->flags & SERVER_AUTH) && r->s->token &&
             !server_bearer_ok(req->authorization, r->s->token))
        server_error(resp, st = 401, "a bearer token is required (subscriber.token)");
    else if (!method_allowed(r->allow, ri->request_method))
        server_error(resp, st = 405, "method not allowed");
    else if (req->too_large && !(r->flags & SERVER_DRAIN_LARGE))
        server_error(resp, st = 413, "body too large");
    else if (!req->too_large && !utf8_ok((const unsigned char *)req->body, req->body_len))
        server_error(resp, st = 400, "the body is not UTF-8 text");
    return st;
}

static int dispatch(struct mg_connection *c, void *cbdata)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const struct route *r = cbdata;
    struct server_req req = {0};
    struct server_resp resp = {200, "application/json", BUF_INIT(64u << 20)};
    struct buf body = BUF_INIT(SERVER_BODY_CAP + 1);
    int head = !strcmp(ri->request_method, "HEAD");
    /* the front read the whole body before civetweb saw the request (or dropped it: then the
     * head says so and Content-Length is 0), so these reads do not wait on the client */
    int too_large =
        ri->content_length > (long long)SERVER_BODY_CAP || mg_get_header(c, FRONT_DROPPED) != NULL;
    char chunk[2048]; /* civetweb's worker threads have a small fixed stack */
    int n, refused;

    while (!too_large && (n = mg_read(c, chunk, sizeof(chunk))) > 0)
        too_large = buf_add(&body, chunk, (size_t)n) != 0;
    if (too_large)
        buf_release(&body);
    req.method = head ? "GET" : ri->request_method; /* HEAD is GET without the body */
    req.head = head;
    req.path = ri->local_uri;
    req.query = ri->query_string;
    req.authorization = mg_get_header(c, "Authorization");
    req.body = buf_str(&body);
    req.body_len = body.len;
    req.too_large = too_large;
    refused = refuse(c, r, &req, &resp);
    if (!refused)
        r->fn(r->ctx, &req, &resp);
    redact_inplace(&resp.body); /* the last line of defence: no answer carries a secret */
    send_resp(c, head, resp.status, resp.content_type, resp.status == 405 ? r->allow : NULL,
              buf_str(&resp.body), resp.body.len);
    log_debug(
        "server", "request", "method=%s path=%s%s status=%d reason=\"%s\"", ri->request_method,
        refused == 400                    ? "?"
        : (r->flags & SERVER_SECRET_PATH) ? r->uri
                                          : req.path,
        (r->flags & SERVER_SECRET_PATH) && strlen(req.path) > strlen(r->uri) ? "/<secret>" : "",
        resp.status, mg_get_response_code_text(c, resp.status));
    buf_release(&resp.body);
    buf_release(&body);
    return resp.status;
}

/* civetweb's own refusals (a request it cannot parse, a head over max_request_size, a method
 * it does not know) in mdo's JSON shape; a head too large is 431 (civetweb says 400 or 413). */
/* civetweb's own refusals (only a local client on its loopback port meets them: the front
 * checks requests first), written as the front writes its own. */
static int http_error_cb(struct mg_connection *c, int status, const char *msg)
{
    char out[512];
    size_t n;

    if (msg && (strstr(msg, "too large") || strstr(msg, "Too Large") || strstr(msg, "too long")))
        status = 431;
    log_debug("server", "refused by civetweb", "status=%d detail=\"%.100s\"", status,
              msg ? msg : "");
    n = fp_error(out, sizeof(out), status,
                 status == 431   ? "request headers too large"
                 : status == 408 ? "the request came too slowly"
                                 : "bad request",
                 0);
    mg_write(c, out, n);
    return 0;
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

/* The front's question for a body over SERVER_BODY_CAP: does a draining route take path?
 * (civetweb's matching: the uri itself, or what follows it after a '/'.) */
static int drains(void *ctx, const char *path)
{
    struct server *s = ctx;
    int yes = 0;

    pthread_mutex_lock(&s->lock);
    for (const struct route *r = s->routes; r && !yes; r = r->next) {
        size_t n = strlen(r->uri);
        yes = (r->flags & SERVER_DRAIN_LARGE) && !strncmp(path, r->uri, n) &&
              (!path[n] || path[n] == '/' || (n && r->uri[n - 1] == '/'));
    }
    pthread_mutex_unlock(&s->lock);
    return yes;
}

int server_start(struct server **out, const char *listen, struct mdo_err *err)
{
    struct server *s = calloc(1, sizeof(*s));
    struct mg_callbacks cb = {0};
    struct mg_server_port ports[4];
    /* The front (front.c) owns the public socket and every client connection; civetweb gets
     * only whole requests, on loopback, one per connection (Connection: close), and its
     * workers (SERVER_THREADS) only run handlers: idle and slow clients never hold one. Beyond
     * the workers, requests wait in civetweb's queue, then in the kernel's backlog. URLs are
     * not decoded: a name is a plain segment, "%2e%2e" or "%00" is no name (404). */
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", SERVER_THREADS,
                          "request_timeout_ms", "10000", "enable_keep_alive", "no",
                          /* a graceful close (no RST that could cut its answer short) */
                          "linger_timeout_ms", "500", "connection_queue", "256", "listen_backlog",
                          "1024", "max_request_size", "65536", "decode_url", "no",
                          /* its answer comes in two writes: no delayed ACK between them */
                          "tcp_nodelay", "1", NULL};
    int n;

    *out = NULL;
    if (!s)
        return err_set(err, MDO_ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    cb.log_message = log_cb;
    cb.http_error = http_error_cb;
    cb.exit_thread = exit_thread;
    s->mg = mg_start(&cb, s, opts);
    n = s->mg ? mg_get_server_ports(s->mg, 4, ports) : 0;
    if (n <= 0 || front_start(&s->front, listen, ports[0].port, drains, s, err)) {
        if (s->mg)
            mg_stop(s->mg);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return err_set(err, MDO_EFAIL,
                       "cannot listen on '%s' (in use, or not ADDR:PORT?): "
                       "choose another with --listen or subscriber.listen",
                       listen);
    }
    s->port = front_port(s->front);
    s->inner = ports[0].port;
    *out = s;
    return 0;
}

void server_max_conns(struct server *s, int max_conns)
{
    front_max_conns(s->front, max_conns);
}

void server_route(struct server *s, const char *uri, server_fn fn, void *ctx)
{
    server_route_methods(s, uri, NULL, fn, ctx, 0);
}

void server_route_flags(struct server *s, const char *uri, server_fn fn, void *ctx, unsigned flags)
{
    server_route_methods(s, uri, NULL, fn, ctx, flags);
}

void server_route_methods(struct server *s, const char *uri, const char *methods, server_fn fn,
                          void *ctx, unsigned flags)
{
    struct route *r = calloc(1, sizeof(*r));

    if (!r)
        return;
    if (methods) /* a GET route answers HEAD too: the Allow header says so */
        snprintf(r->allow, sizeof(r->allow), "%s%s", methods,
                 method_allowed(methods, "GET") && !method_allowed(methods, "HEAD") ? ", HEAD"
                                                                                    : "");
    snprintf(r->uri, sizeof(r->uri), "%s", uri);
    r->s = s;
    r->fn = fn;
    r->ctx = ctx;
    r->flags = flags;
    pthread_mutex_lock(&s->lock);
    r->next = s->routes;
    s->routes = r;
    pthread_mutex_unlock(&s->lock);
    mg_set_request_handler(s->mg, uri, dispatch, r);
}

int server_port(const struct server *s)
{
    return s->port;
}

/* civetweb's master thread polls its socket in 2 s steps (SOCKET_TIMEOUT_QUANTUM) and sees
 * mg_stop's flag only between them: a connection every 20 ms wakes it. */
static void *poke(void *arg)
{
    struct server *s = arg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->inner)};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (!__atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)))
            log_debug("server", "cannot wake civetweb", "errno=%d", errno);
        if (fd >= 0)
            close(fd);
        clock_nap_ms(20, &s->stopped);
    }
    return NULL;
}

void server_stop(struct server *s)
{
    pthread_t th;
    int poking;

    if (!s)
        return;
    front_stop(s->front); /* no new request reaches civetweb; then its handlers finish */
    poking = !pthread_create(&th, NULL, poke, s);
    mg_stop(s->mg);
    __atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
    if (poking)
        pthread_join(th, NULL);
    while (s->routes) {
        struct route *r = s->routes;
        s->routes = r->next;
        free(r);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
