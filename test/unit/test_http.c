/* test_http.c - the outbound HTTP layer against a tiny loopback server in a thread: what is sent
 * (a 4 KiB bearer token, basic auth, headers, body), errors (curl's reason in why, no URL
 * credentials in any message) and streams (data, stop, the idle rule) */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include "check.h"
#include "fixture.h"
#include "clock.h"
#include "http.h"

/* One listening socket; each connection gets `answer`, then is held open for hold_ms (a
 * stream that goes silent) or closed. The last request seen is in req. */
struct server {
    int fd;
    unsigned port;
    pthread_t thread;
    volatile int stop;
    const char *answer;
    int hold_ms;
    pthread_mutex_t lock;
    char req[16384];
    int nreq;
};

static void serve_one(struct server *s, int c)
{
    char buf[16384];
    size_t n = 0;
    char *end = NULL;
    long body = 0;

    while (n < sizeof(buf) - 1) { /* headers, then Content-Length bytes of body */
        ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            body = cl && cl < end ? strtol(cl + 17, NULL, 10) : 0;
        }
        if (end && (size_t)(end + 4 - buf) + (size_t)body <= n)
            break;
    }
    buf[n] = '\0';
    pthread_mutex_lock(&s->lock);
    memcpy(s->req, buf, n + 1);
    s->nreq++;
    pthread_mutex_unlock(&s->lock);
    if (write(c, s->answer, strlen(s->answer)) < 0)
        return;
    /* hold: until the client goes away, the test ends or hold_ms pass */
    for (int64_t until = clock_deadline_ms(s->hold_ms); !s->stop && clock_left_ms(until);) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 20) > 0 && read(c, buf, sizeof(buf)) <= 0)
            break;
    }
}

static void *serve(void *arg)
{
    struct server *s = arg;

    while (!s->stop) {
        struct pollfd p = {s->fd, POLLIN, 0};
        int c;

        if (poll(&p, 1, 50) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(s, c);
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s, const char *answer, int hold_ms)
{
    int port;

    memset(s, 0, sizeof(*s));
    s->answer = answer;
    s->hold_ms = hold_ms;
    pthread_mutex_init(&s->lock, NULL);
    s->fd = fixture_loopback(8, &port);
    s->port = (unsigned)port;
    if (pthread_create(&s->thread, NULL, serve, s))
        fixture_fail("a thread for the test server", "");
}

static void server_stop(struct server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

/* The value of header name in the last request, or NULL (static buffer). */
static const char *header(struct server *s, const char *name)
{
    static char v[8192];
    char key[64], *p, *e;

    snprintf(key, sizeof(key), "\r\n%s: ", name);
    pthread_mutex_lock(&s->lock);
    p = strcasestr(s->req, key);
    e = p ? strstr(p + strlen(key), "\r\n") : NULL;
    if (p && e && (size_t)(e - p) < sizeof(v) + strlen(key)) {
        p += strlen(key);
        memcpy(v, p, (size_t)(e - p));
        v[e - p] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    return p && e ? v : NULL;
}

static const char ok_answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                                "hello";

static void test_requests(void)
{
    struct server s;
    struct http_resp r = HTTP_RESP_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct http_conn c = {0};
    const char *extra[] = {"X-Mdo: yes", NULL};
    char url[128], token[4097], want[4200];

    server_start(&s, ok_answer, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v2/apps?x=1", s.port);

    /* a 4 KiB bearer token is sent whole (it was silently dropped past ~1000 bytes) */
    memset(token, 'T', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    token[100] = '.'; /* JWT-like */
    c.token = token;
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(buf_str(&r.body), "hello");
    snprintf(want, sizeof(want), "Bearer %s", token);
    CHECK_STR(header(&s, "Authorization"), want);
    CHECK(!strncmp(s.req, "GET /v2/apps?x=1 HTTP/1.1\r\n", 27));

    /* the token wins over basic credentials */
    c.user = "admin";
    c.password = "pw";
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), 0);
    CHECK_STR(header(&s, "Authorization"), want);

    /* basic */
    c.token = NULL;
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), 0);
    CHECK_STR(header(&s, "Authorization"), "Basic YWRtaW46cHc="); /* admin:pw */

    /* etcd's raw token, as long as it is */
    c.user = c.password = NULL;
    c.auth_header = token;
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), 0);
    CHECK_STR(header(&s, "Authorization"), token);

    /* a body, its type, a custom method and header */
    c.auth_header = NULL;
    c.headers = extra;
    CHECK_INT(http_request(&c, "PUT", url, "{\"a\":1}", 7, "application/json", &r, &err), 0);
    CHECK(!strncmp(s.req, "PUT /v2/apps?x=1 HTTP/1.1\r\n", 27));
    CHECK_STR(header(&s, "Content-Type"), "application/json");
    CHECK_STR(header(&s, "X-Mdo"), "yes");
    CHECK_STR(header(&s, "Expect"), NULL);
    CHECK_HAS(s.req, "\r\n\r\n{\"a\":1}");
    CHECK_HAS(header(&s, "User-Agent"), "mdo/");
    CHECK_INT(s.nreq, 5);

    http_resp_release(&r);
    server_stop(&s);
}

static void test_errors(void)
{
    static const char unavailable[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 26\r\n"
                                      "Connection: close\r\n\r\n{\"message\":\"leader\nlost\"}\n";
    struct server s;
    struct http_resp r = HTTP_RESP_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct http_conn c = {0};
    char url[128];
    unsigned dead;

    server_start(&s, unavailable, 0);
    snprintf(url, sizeof(url), "http://admin:s3cret@127.0.0.1:%u/v2/apps", s.port);
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(header(&s, "Authorization"), "Basic YWRtaW46czNjcmV0"); /* from the URL */
    CHECK_INT(http_check(&r, 200, 299, "GET", url, &err), -MDO_EHTTP);
    CHECK_INT(err.code, MDO_EHTTP);
    CHECK_INT(err.http_status, 503);
    CHECK_INT(err.origin, MDO_SRC_NONE); /* the caller knows the peer */
    CHECK_LACKS(err.msg, "s3cret");
    CHECK_LACKS(err.msg, "admin");
    CHECK_HAS(err.msg, "GET http://127.0.0.1:");
    CHECK_HAS(err.msg, "/v2/apps: HTTP 503: {\"message\":\"leader lost\"}");
    CHECK_STR(err.why, "{\"message\":\"leader lost\"}");
    CHECK_INT(http_check(&r, 500, 503, "GET", url, &err), 0);

    /* a non-2xx stream names the URL without credentials too (the SSE error path) */
    err_clear(&err);
    CHECK_INT(http_stream(&c, "GET", url, NULL, "text/event-stream", NULL, NULL, NULL, 0, &err),
              -MDO_EHTTP);
    CHECK_INT(err.http_status, 503);
    CHECK_LACKS(err.msg, "s3cret");
    CHECK_HAS(err.msg, "HTTP 503");
    server_stop(&s);

    /* transport: curl's reason in why, credentials nowhere */
    dead = s.port; /* closed now */
    snprintf(url, sizeof(url), "http://admin:s3cret@127.0.0.1:%u/x?y=1", dead);
    err_clear(&err);
    CHECK_INT(http_request(&c, "GET", url, NULL, 0, NULL, &r, &err), -MDO_ENET);
    CHECK_INT(err.origin, MDO_SRC_NONE);
    CHECK(err.why[0] != '\0');
    CHECK_HAS(err.msg, err.why);
    CHECK_HAS(err.msg, "/x: "); /* no ?query: a callback target's token lives there */
    CHECK_LACKS(err.msg, "y=1");
    CHECK_LACKS(err.msg, "s3cret");
    CHECK_LACKS(err.why, "s3cret");
    err_clear(&err);
    CHECK_INT(http_stream(&c, "GET", url, NULL, NULL, NULL, NULL, NULL, 0, &err), -MDO_ENET);
    CHECK(err.why[0] != '\0');
    CHECK_LACKS(err.msg, "s3cret");
    http_resp_release(&r);
}

struct chunks {
    struct buf got;
    int stop_after; /* stop (return 1) once this many bytes came; 0 = never */
};

static int on_data(void *ctx, const char *p, size_t n)
{
    struct chunks *k = ctx;

    buf_add(&k->got, p, n);
    return k->stop_after && k->got.len >= (size_t)k->stop_after;
}

static void test_stream(void)
{
    static const char stream[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 "Connection: close\r\n\r\ndata: one\n\n";
    struct server s;
    struct mdo_err err = MDO_ERR_INIT;
    struct http_conn c = {0};
    struct chunks k = {BUF_INIT(0), 0};
    volatile int stop = 0;
    char url[128];
    int64_t t0, ms;

    server_start(&s, stream, 3000); /* then silent for 3 s */
    snprintf(url, sizeof(url), "http://u:s3cret@127.0.0.1:%u/v2/events", s.port);

    /* the idle rule: nothing for 1 s fails the stream, well before the peer closes it */
    t0 = clock_now_ms();
    CHECK_INT(http_stream(&c, "GET", url, NULL, "text/event-stream", on_data, &k, &stop, 1, &err),
              -MDO_ENET);
    ms = clock_now_ms() - t0;
    printf("# figure: idle stream failed after %lld ms (idle_s 1)\n", (long long)ms);
    CHECK(ms >= 1000 && ms < 2900);
    CHECK_STR(buf_str(&k.got), "data: one\n\n");
    CHECK_HAS(err.msg, "nothing for 1s");
    CHECK_LACKS(err.msg, "s3cret");
    CHECK_STR(header(&s, "Accept"), "text/event-stream");

    /* on_data stops it: 0 */
    buf_reset(&k.got);
    k.stop_after = 1;
    CHECK_INT(http_stream(&c, "GET", url, NULL, NULL, on_data, &k, &stop, 0, &err), 0);
    CHECK_STR(buf_str(&k.got), "data: one\n\n");

    /* *stop stops it: 0 */
    k.stop_after = 0;
    stop = 1;
    CHECK_INT(http_stream(&c, "GET", url, NULL, NULL, on_data, &k, &stop, 0, &err), 0);
    stop = 0;

    /* a POST stream (etcd's watch) sends its body as JSON */
    k.stop_after = 1;
    CHECK_INT(http_stream(&c, "POST", url, "{\"w\":1}", NULL, on_data, &k, &stop, 0, &err), 0);
    CHECK_STR(header(&s, "Content-Type"), "application/json");
    CHECK_HAS(s.req, "\r\n\r\n{\"w\":1}");
    buf_release(&k.got);
    server_stop(&s);
}

static void test_escape(void)
{
    struct buf b = BUF_INIT(0);

    CHECK_INT(http_escape(&b, "a b&c=d/é"), 0);
    CHECK_STR(buf_str(&b), "a%20b%26c%3Dd%2F%C3%A9");
    buf_release(&b);
}

int main(void)
{
    test_requests();
    test_errors();
    test_stream();
    test_escape();
    http_thread_cleanup();
    return check_done("test_http");
}
