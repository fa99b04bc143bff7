/* http.c - libcurl wrapper: one reused easy handle per thread, timeouts always set */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "clock.h"
#include "http.h"
#include "url.h"

static __thread CURL *thread_handle;

static CURL *handle(void)
{
    if (!thread_handle)
        thread_handle = curl_easy_init();
    else
        curl_easy_reset(thread_handle);
    return thread_handle;
}

void http_thread_cleanup(void)
{
    if (thread_handle)
        curl_easy_cleanup(thread_handle);
    thread_handle = NULL;
}

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;

    if (buf_add(b, p, size * n))
        return 0; /* over the cap: curl fails the transfer with a write error */
    return size * n;
}

/* Appends "name: value" to *hdr, built on the heap: no value is too long to be sent. */
static int add_header(struct curl_slist **hdr, const char *name, const char *value)
{
    struct buf line = BUF_INIT(0);
    struct curl_slist *l = NULL;

    if (!buf_addf(&line, "%s: %s", name, value))
        l = curl_slist_append(*hdr, line.ptr);
    buf_release(&line);
    if (!l)
        return -MDO_ENOMEM;
    *hdr = l;
    return 0;
}

/* Sets what every request shares; *hdr is the header list the caller frees (also on failure).
 * 0, or -MDO_ENOMEM: a header that cannot be built fails the request, never goes missing. */
static int setup(CURL *h, const struct http_conn *c, const char *method, const char *url,
                 const char *body, size_t body_len, const char *content_type, const char *accept,
                 char *errbuf, struct curl_slist **hdr, struct curl_slist **pin)
{
    int ret = 0;

    *hdr = NULL;
    *pin = NULL;
    if (c->connect_to) { /* pinned: to that address only, never through a proxy */
        if (!(*pin = curl_slist_append(NULL, c->connect_to)))
            return -MDO_ENOMEM;
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, *pin);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     c->connect_timeout_ms ? c->connect_timeout_ms : 3000L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mdo/" MDO_VERSION);
    if (c->unix_socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
    /* A token wins over basic credentials, as the Authorization header it replaces did. curl
     * sends the bearer token whatever its length (a JWT may be kilobytes). */
    if (c->token) {
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, c->token);
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    } else if (c->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    }
    if (c->ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    if (c->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
    if (c->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->auth_header)
        ret = add_header(hdr, "Authorization", c->auth_header);
    if (!ret && content_type)
        ret = add_header(hdr, "Content-Type", content_type);
    if (!ret && accept)
        ret = add_header(hdr, "Accept", accept);
    for (const char *const *x = c->headers; !ret && x && *x; x++) {
        struct curl_slist *l = curl_slist_append(*hdr, *x);
        if (l)
            *hdr = l;
        else
            ret = -MDO_ENOMEM;
    }
    if (!ret) { /* no 100-continue round trip */
        struct curl_slist *l = curl_slist_append(*hdr, "Expect:");
        if (l)
            *hdr = l;
        else
            ret = -MDO_ENOMEM;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdr);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, body ? "POST" : "GET"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    return ret;
}

/* Messages name the URL without user:password, ?query and #fragment (lib/url.h: a callback
 * target or a proxy may carry a token there); curl's own reason is also kept in
 * err->why. Which peer failed is for the caller to tag (err_from): this layer is neutral. */
static int transport_error(struct mdo_err *err, CURLcode rc, const char *method, const char *url,
                           const struct http_conn *c, const char *errbuf)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    char *shown = url_shown(url, URL_NO_QUERY);
    const char *u = shown ? shown : "<url>";

    if (c->unix_socket)
        err_set(err, MDO_ENET, "%s %s (socket %s): %s", method, u, c->unix_socket, why);
    else
        err_set(err, MDO_ENET, "%s %s: %s", method, u, why);
    err_why(err, "%s", why);
    free(shown);
    return -MDO_ENET;
}

int http_request(const struct http_conn *c, const char *method, const char *url, const char *body,
                 size_t body_len, const char *content_type, struct http_resp *resp,
                 struct mdo_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr, *pin;
    CURL *h = handle();
    CURLcode rc;

    if (!h)
        return err_set(err, MDO_ENOMEM, "cannot start curl");
    buf_reset(&resp->body);
    resp->status = 0;
    if (setup(h, c, method, url, body, body_len, content_type, NULL, errbuf, &hdr, &pin)) {
        curl_slist_free_all(hdr);
        curl_slist_free_all(pin);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms ? c->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
    rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    curl_slist_free_all(pin);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
    if (rc != CURLE_OK)
        return transport_error(err, rc, method, url, c, errbuf);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

int http_check(const struct http_resp *resp, long lo, long hi, const char *method, const char *url,
               struct mdo_err *err)
{
    char excerpt[201], *shown;
    size_t n = resp->body.len < 200 ? resp->body.len : 200;

    if (resp->status >= lo && resp->status <= hi)
        return 0;
    memcpy(excerpt, buf_str(&resp->body), n);
    excerpt[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (excerpt[i] == '\n' || excerpt[i] == '\r')
            excerpt[i] = ' ';
    while (n && excerpt[n - 1] == ' ')
        excerpt[--n] = '\0';
    shown = url_shown(url, URL_NO_QUERY);
    err_set(err, MDO_EHTTP, "%s %s: HTTP %ld%s%s", method, shown ? shown : "<url>", resp->status,
            n ? ": " : "", excerpt);
    free(shown);
    err_why(err, "%s", excerpt); /* the body's start; a module may put the peer's reason here */
    if (err)
        err->http_status = resp->status;
    return -MDO_EHTTP;
}

void http_resp_release(struct http_resp *resp)
{
    buf_release(&resp->body);
}

struct stream {
    CURL *h;
    http_data_fn fn;
    void *ctx;
    const volatile int *stop;
    long status;
    int stopped;
    int idle; /* nothing arrived for idle_s */
    long idle_s;
    http_open_fn on_open; /* or NULL */
    int opened;           /* on_open was called */
    int64_t last;         /* clock_now_ms() when the last bytes arrived (or the stream started) */
    struct buf errbody;   /* body of a non-2xx answer, for the message */
};

/* The blank line that ends a final (non-1xx) response's headers: the peer has answered. */
static size_t stream_header(char *p, size_t size, size_t n, void *ctx)
{
    struct stream *s = ctx;
    long status = 0;

    if (s->on_open && !s->opened && size * n <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status <= 299) {
            s->opened = 1;
            s->on_open(s->ctx, status);
        }
    }
    return size * n;
}

static size_t stream_write(char *p, size_t size, size_t n, void *ctx)
{
    struct stream *s = ctx;

    if (!s->status)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    s->last = clock_now_ms();
    if (s->status < 200 || s->status > 299) {
        buf_add(&s->errbody, p, size * n); /* capped; a failure just truncates */
        return size * n;
    }
    if ((s->stop && *s->stop) || s->fn(s->ctx, p, size * n)) {
        s->stopped = 1;
        return 0;
    }
    return size * n;
}

static int stream_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct stream *s = ctx;

    (void)a, (void)b, (void)c, (void)d;
    if (s->stop && *s->stop) {
        s->stopped = 1;
        return 1;
    }
    /* Silence, not slowness: a heartbeat of two bytes every 10 s keeps a stream alive, which
     * curl's low-speed limit (bytes per second over a window) would not allow. */
    if (s->idle_s > 0 && clock_now_ms() - s->last > s->idle_s * 1000) {
        s->idle = 1;
        return 1;
    }
    return 0;
}

/* curl_easy_perform, but *stop is looked at every STREAM_STOP_MS: on a quiet stream curl
 * calls the progress callback only about once a second, and a stopping daemon gives its event
 * thread less than that. Without a multi handle it falls back to curl_easy_perform. */
#define STREAM_STOP_MS 100
static CURLcode perform_stoppable(struct stream *s)
{
    CURLM *m = curl_multi_init();
    CURLcode rc = CURLE_OK;
    CURLMsg *msg;
    int running = 1, left;

    if (!m || curl_multi_add_handle(m, s->h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return curl_easy_perform(s->h);
    }
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = CURLE_OUT_OF_MEMORY; /* curl's multi layer failed: no other cause to give */
            break;
        }
        if (!running)
            break;
        if (s->stop && *s->stop) {
            s->stopped = 1;
            break;
        }
        if (curl_multi_poll(m, NULL, 0, STREAM_STOP_MS, NULL) != CURLM_OK) {
            rc = CURLE_OUT_OF_MEMORY;
            break;
        }
    }
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->h)
            rc = msg->data.result;
    curl_multi_remove_handle(m, s->h);
    curl_multi_cleanup(m);
    return rc;
}

int http_stream(const struct http_conn *c, const char *method, const char *url, const char *body,
                const char *accept, http_data_fn on_data, void *ctx, const volatile int *stop,
                long idle_s, struct mdo_err *err)
{
    return http_stream_open(c, method, url, body, accept, NULL, on_data, ctx, stop, idle_s, err);
}

int http_stream_open(const struct http_conn *c, const char *method, const char *url,
                     const char *body, const char *accept, http_open_fn on_open,
                     http_data_fn on_data, void *ctx, const volatile int *stop, long idle_s,
                     struct mdo_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct stream s = {NULL, on_data,        ctx,           stop, 0, 0, 0, idle_s, on_open,
                       0,    clock_now_ms(), BUF_INIT(4096)};
    struct curl_slist *hdr, *pin;
    CURLcode rc;
    int ret = 0;

    /* A stream gets a handle of its own: its callback may make requests on this thread,
     * which use (and reset) the thread's shared handle. */
    s.h = curl_easy_init();
    if (!s.h)
        return err_set(err, MDO_ENOMEM, "cannot start curl");
    if (setup(s.h, c, method, url, body, body ? strlen(body) : 0, body ? "application/json" : NULL,
              accept, errbuf, &hdr, &pin)) {
        curl_slist_free_all(hdr);
        curl_slist_free_all(pin);
        curl_easy_cleanup(s.h);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
    if (on_open) {
        curl_easy_setopt(s.h, CURLOPT_HEADERFUNCTION, stream_header);
        curl_easy_setopt(s.h, CURLOPT_HEADERDATA, &s);
    }
    curl_easy_setopt(s.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s.h, CURLOPT_XFERINFOFUNCTION, stream_progress);
    curl_easy_setopt(s.h, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(s.h, CURLOPT_TCP_KEEPALIVE, 1L);
    rc = perform_stoppable(&s);
    curl_slist_free_all(hdr);
    if (!s.status)
        curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &s.status);
    if (s.stopped) {
        ret = 0;
    } else if (s.status && (s.status < 200 || s.status > 299)) {
        struct http_resp r = {s.status, s.errbody};
        ret = http_check(&r, 200, 299, method, url, err);
    } else if (s.idle) {
        char *shown = url_shown(url, URL_NO_QUERY);
        ret = err_set(err, MDO_ENET, "%s %s: nothing for %lds, reconnecting", method,
                      shown ? shown : "<url>", idle_s);
        free(shown);
    } else if (rc != CURLE_OK) {
        ret = transport_error(err, rc, method, url, c, errbuf);
    }
    buf_release(&s.errbody);
    curl_easy_cleanup(s.h);
    curl_slist_free_all(pin);
    return ret;
}

int http_escape(struct buf *b, const char *s)
{
    CURL *h = thread_handle ? thread_handle : (thread_handle = curl_easy_init());
    char *e = h ? curl_easy_escape(h, s, 0) : NULL;
    int ret;

    if (!e)
        return -MDO_ENOMEM;
    ret = buf_adds(b, e);
    curl_free(e);
    return ret;
}
