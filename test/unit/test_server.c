/* test_server.c - lib/server.c on a free loopback port: framing, HEAD without a body, 404, 413,
 * draining routes; method lists (405 + Allow), the bearer token, path tricks, 431, bodies that
 * are not UTF-8, loopback listen addresses */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "check.h"
#include "server.h"

static void route_hello(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    int *calls = ctx;

    (*calls)++;
    if (strcmp(req->method, "GET") && strcmp(req->method, "POST")) {
        resp->status = 405;
        buf_adds(&resp->body, "{\"error\":\"method not allowed\"}\n");
        return;
    }
    if (!strcmp(req->method, "POST")) {
        resp->status = 201;
        resp->content_type = "text/plain; charset=utf-8";
        buf_addf(&resp->body, "got %zu bytes: %s", req->body_len, req->body);
        return;
    }
    buf_adds(&resp->body, "{\"hello\":1}\n");
}

/* server_error: the message escaped by cJSON, the status kept, the body built so far replaced */
static void route_err(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx, (void)req;
    buf_adds(&resp->body, "half an answer");
    server_error(resp, 409, "a \"quoted\"\nmessage");
}

static void route_404(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx, (void)req;
    resp->status = 404;
    buf_adds(&resp->body, "{\"error\":\"no such resource\"}\n");
}

/* Sends req on a fresh connection and reads the whole answer (the server closes it: the
 * requests say "Connection: close"). Caller frees. NULL when the exchange fails. */
/* a SERVER_DRAIN_LARGE route: says whether the body was over the cap, and its length */
static void route_drain(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx;
    buf_addf(&resp->body, "too_large=%d len=%zu", req->too_large, req->body_len);
    resp->content_type = "text/plain";
}

static char *exchange(int port, const char *req, size_t len)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {5, 0};
    struct buf b = BUF_INIT(1u << 20);
    char chunk[4096];
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return NULL;
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) || write(fd, req, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&b, chunk, (size_t)n);
    close(fd);
    return buf_detach(&b);
}

static char *request(int port, const char *method, const char *path)
{
    char req[512];

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             method, path);
    return exchange(port, req, strlen(req));
}

/* The header block (up to the blank line) as its own string, and the body after it. */
static const char *split(char *answer, char **body)
{
    char *end = answer ? strstr(answer, "\r\n\r\n") : NULL;

    *body = NULL;
    if (!end)
        return "";
    end[2] = '\0';
    *body = end + 4;
    return answer;
}

static int has_header(const char *head, const char *line)
{
    char want[256];

    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    return strstr(head, want) != NULL;
}

static void test_routes(int port, int *calls)
{
    char *a, *body;
    const char *head;

    /* GET: status line, today's headers, the body */
    a = request(port, "GET", "/hello");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 200 OK\r\n", 17));
    CHECK(has_header(head, "Content-Type: application/json"));
    CHECK(has_header(head, "Content-Length: 12"));
    CHECK(has_header(head, "Cache-Control: no-store"));
    CHECK(has_header(head, "X-Content-Type-Options: nosniff"));
    CHECK_STR(body, "{\"hello\":1}\n");
    CHECK_INT(*calls, 1);
    free(a);

    /* HEAD: the handler runs as for GET, the same headers come, no body does */
    a = request(port, "HEAD", "/hello");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 200 OK\r\n", 17));
    CHECK(has_header(head, "Content-Length: 12"));
    CHECK(has_header(head, "Content-Type: application/json"));
    CHECK_STR(body, "");
    CHECK_INT(*calls, 2);
    free(a);

    /* a route's own 404 (the catch-all "/") */
    a = request(port, "GET", "/nope");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 404 Not Found\r\n", 24));
    CHECK(has_header(head, "Content-Length: 29"));
    CHECK_STR(body, "{\"error\":\"no such resource\"}\n");
    free(a);

    /* HEAD of a 404: status and length, no body */
    a = request(port, "HEAD", "/nope");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 404 Not Found\r\n", 24));
    CHECK_STR(body, "");
    free(a);

    a = request(port, "GET", "/err");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 409 Conflict\r\n", 23));
    CHECK(has_header(head, "Content-Type: application/json"));
    CHECK_STR(body, "{\"error\":\"a \\\"quoted\\\"\\nmessage\"}\n");
    free(a);

    /* a method the handler refuses */
    a = request(port, "DELETE", "/hello");
    head = split(a, &body);
    CHECK(!strncmp(head, "HTTP/1.1 405 Method Not Allowed\r\n", 33));
    CHECK_STR(body, "{\"error\":\"method not allowed\"}\n");
    free(a);

    /* POST: the body reaches the handler; its status and content type are sent */
    {
        const char req[] = "POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                           "Content-Length: 5\r\n\r\nabcde";
        a = exchange(port, req, sizeof(req) - 1);
        head = split(a, &body);
        CHECK(!strncmp(head, "HTTP/1.1 201 Created\r\n", 22));
        CHECK(has_header(head, "Content-Type: text/plain; charset=utf-8"));
        CHECK_STR(body, "got 5 bytes: abcde");
        free(a);
    }

    /* a body over the cap is refused before any handler runs */
    {
        char req[256];
        int before = *calls;
        snprintf(req, sizeof(req),
                 "POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Length: %u\r\n\r\n",
                 SERVER_BODY_CAP + 1);
        a = exchange(port, req, strlen(req));
        head = split(a, &body);
        CHECK(!strncmp(head, "HTTP/1.1 413 ", 13));
        CHECK_STR(body, "{\"error\":\"body too large\"}\n");
        CHECK_INT(*calls, before);
        free(a);
    }

    /* a route that drains: the whole 2 MiB body is read and dropped, the handler answers 200 */
    {
        size_t big = 2u << 20;
        struct buf req = BUF_INIT(0);
        buf_addf(&req,
                 "POST /drain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 big);
        for (size_t i = 0; i < big; i++)
            buf_addc(&req, 'x');
        a = exchange(port, req.ptr, req.len);
        head = split(a, &body);
        CHECK(!strncmp(head, "HTTP/1.1 200 ", 13));
        CHECK_STR(body, "too_large=1 len=0");
        free(a);
        buf_release(&req);
        a = request(port, "GET", "/drain"); /* a small one reaches it as usual */
        head = split(a, &body);
        CHECK_STR(body, "too_large=0 len=0");
        free(a);
    }
}

static char *request_h(int port, const char *method, const char *path, const char *extra)
{
    struct buf b = BUF_INIT(0);
    char *a;

    buf_addf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", method, path,
             extra);
    a = exchange(port, b.ptr, b.len);
    buf_release(&b);
    return a;
}

/* the status code of an answer, 0 when there is none */
static int status_of(const char *a)
{
    return a && !strncmp(a, "HTTP/1.1 ", 9) ? atoi(a + 9) : 0;
}

static int code(int port, const char *method, const char *path, const char *extra)
{
    char *a = request_h(port, method, path, extra);
    int st = status_of(a);

    free(a);
    return st;
}

static int post_code(int port, const char *path, const char *body, size_t len)
{
    struct buf b = BUF_INIT(0);
    char *a;
    int st;

    buf_addf(&b,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n",
             path, len);
    buf_add(&b, body, len);
    a = exchange(port, b.ptr, b.len);
    st = status_of(a);
    free(a);
    buf_release(&b);
    return st;
}

static void test_face(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct server *srv = NULL;
    int calls = 0, port;
    char *a, *body;
    const char *head;

    if (server_start(&srv, "127.0.0.1:0", &err)) {
        CHECK(0);
        return;
    }
    port = server_port(srv);
    server_route_methods(srv, "/", NULL, route_404, NULL, SERVER_AUTH);
    server_route_methods(srv, "/open", "GET", route_hello, &calls, 0);
    server_route_methods(srv, "/hello", "GET, POST", route_hello, &calls, SERVER_AUTH);

    /* a method the route does not list: 405 with Allow, before the handler */
    a = request(port, "DELETE", "/open");
    head = split(a, &body);
    CHECK_INT(status_of(a), 405);
    CHECK(has_header(head, "Allow: GET, HEAD"));
    CHECK_STR(body, "{\"error\":\"method not allowed\"}\n");
    CHECK_INT(calls, 0);
    free(a);
    CHECK_INT(code(port, "PUT", "/hello", ""), 405);
    a = request(port, "OPTIONS", "/hello");
    head = split(a, &body);
    CHECK(has_header(head, "Allow: GET, POST, HEAD"));
    free(a);
    {
        int st = code(port, "BREW", "/open", ""); /* civetweb refuses a method it does not know */
        CHECK(st == 405 || st == 400);
    }
    CHECK_INT(calls, 0);
    CHECK_INT(code(port, "HEAD", "/open", ""), 200);
    CHECK_INT(code(port, "GET", "/open", ""), 200);
    CHECK_INT(calls, 2);

    /* no token set: SERVER_AUTH routes are open */
    CHECK_INT(code(port, "GET", "/hello", ""), 200);
    server_require_token(srv, "s3cret");
    a = request(port, "GET", "/hello");
    head = split(a, &body);
    CHECK_INT(status_of(a), 401);
    CHECK(has_header(head, "WWW-Authenticate: Bearer"));
    free(a);
    CHECK_INT(code(port, "GET", "/hello", "Authorization: Bearer s3cre\r\n"), 401);
    CHECK_INT(code(port, "GET", "/hello", "Authorization: Bearer s3cret2\r\n"), 401);
    CHECK_INT(code(port, "GET", "/hello", "Authorization: Basic s3cret\r\n"), 401);
    CHECK_INT(code(port, "GET", "/hello", "Authorization: Bearer s3cret\r\n"), 200);
    CHECK_INT(code(port, "GET", "/nope", ""), 401); /* the catch-all too */
    CHECK_INT(code(port, "GET", "/open", ""), 200); /* not SERVER_AUTH: open */
    server_require_token(srv, NULL);

    /* path tricks: never a handler's 200, never a 500 */
    CHECK_INT(code(port, "GET", "/open/../hello", ""), 404);
    CHECK_INT(code(port, "GET", "/x/../open", ""), 404);
    CHECK_INT(code(port, "GET", "/%2e%2e/open", ""), 404);
    CHECK_INT(code(port, "GET", "/open/%2e%2e/x", ""), 404);
    CHECK_INT(code(port, "GET", "//open", ""), 404);
    CHECK_INT(code(port, "GET", "/open//", ""), 404);
    CHECK_INT(code(port, "GET", "/open/./x", ""), 404);
    CHECK_INT(code(port, "GET", "/open%00x", ""), 404);
    {
        const char req[] = "GET /op\x01en HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        const char nul[] = "GET /op\0en HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        const char hi[] = "GET /op\xc3\xa9n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        int st;
        a = exchange(port, req, sizeof(req) - 1);
        st = status_of(a);
        CHECK(st == 400 || st == 404);
        free(a);
        a = exchange(port, nul, sizeof(nul) - 1);
        st = status_of(a);
        CHECK(st == 400 || st == 404 || st == 0); /* civetweb may just close it */
        free(a);
        a = exchange(port, hi, sizeof(hi) - 1);
        st = status_of(a);
        CHECK(st == 400 || st == 404);
        free(a);
    }

    /* headers: up to the cap answered, over it 431, however far over (the front reads no
     * further than the cap) */
    {
        struct buf h = BUF_INIT(0);
        int st;
        buf_adds(&h, "X-Big: ");
        for (int i = 0; i < 8000; i++)
            buf_addc(&h, 'a');
        buf_adds(&h, "\r\n");
        CHECK_INT(code(port, "GET", "/open", h.ptr), 200);
        buf_adds(&h, "X-Big2: ");
        for (int i = 0; i < 9000; i++)
            buf_addc(&h, 'b');
        buf_adds(&h, "\r\n");
        CHECK_INT(code(port, "GET", "/open", h.ptr), 431);
        buf_adds(&h, "X-Big3: ");
        for (int i = 0; i < 30000; i++)
            buf_addc(&h, 'c');
        buf_adds(&h, "\r\n");
        CHECK_INT(code(port, "GET", "/open", h.ptr), 431);
        buf_adds(&h, "X-Big4: ");
        for (int i = 0; i < 40000; i++)
            buf_addc(&h, 'd');
        buf_adds(&h, "\r\n");
        st = code(port, "GET", "/open", h.ptr);
        CHECK_INT(st, 431);
        buf_release(&h);
    }

    /* bodies: UTF-8 text reaches the handler, anything else is 400 */
    calls = 0;
    CHECK_INT(post_code(port, "/hello", "{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", 17),
              201);
    CHECK_INT(post_code(port, "/hello", "{\"a\":\"\xc3\"}", 9), 400);
    CHECK_INT(post_code(port, "/hello", "\xff\xfe{}", 4), 400);
    CHECK_INT(post_code(port, "/hello", "\xc0\xaf", 2), 400);         /* overlong '/' */
    CHECK_INT(post_code(port, "/hello", "\xed\xa0\x80", 3), 400);     /* a surrogate */
    CHECK_INT(post_code(port, "/hello", "\xf4\x90\x80\x80", 4), 400); /* over U+10FFFF */
    CHECK_INT(post_code(port, "/hello", "{}\0{}", 5), 400);
    CHECK_INT(calls, 1);
    server_stop(srv);
}

static void test_loopback(void)
{
    CHECK_INT(server_listen_loopback("127.0.0.1:5000"), 1);
    CHECK_INT(server_listen_loopback("127.1.2.3:0"), 1);
    CHECK_INT(server_listen_loopback("localhost:5000"), 1);
    CHECK_INT(server_listen_loopback("[::1]:5000"), 1);
    CHECK_INT(server_listen_loopback("127.0.0.1:5000,[::1]:5000"), 1);
    CHECK_INT(server_listen_loopback("0.0.0.0:5000"), 0);
    CHECK_INT(server_listen_loopback("5000"), 0);
    CHECK_INT(server_listen_loopback("10.0.0.5:5000"), 0);
    CHECK_INT(server_listen_loopback("[::]:5000"), 0);
    CHECK_INT(server_listen_loopback("128.0.0.1:5000"), 0);
    CHECK_INT(server_listen_loopback("127.0.0.1:5000,0.0.0.0:5001"), 0);
    CHECK_INT(server_listen_loopback(""), 0);
    CHECK_INT(server_listen_loopback(NULL), 0);
    CHECK_INT(server_bearer_ok("Bearer abc", "abc"), 1);
    CHECK_INT(server_bearer_ok("Bearer abcd", "abc"), 0);
    CHECK_INT(server_bearer_ok("Bearer ab", "abc"), 0);
    CHECK_INT(server_bearer_ok("bearer abc", "abc"),
              1); /* RFC 7235: the scheme is case-insensitive */
    CHECK_INT(server_bearer_ok(NULL, "abc"), 0);
    CHECK_INT(server_bearer_ok("Bearer ", ""), 0);
    CHECK_INT(server_bearer_ok("Bearer abc", NULL), 0);
}

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct server *srv = NULL;
    int calls = 0;

    if (server_start(&srv, "127.0.0.1:0", &err)) {
        fprintf(stderr, "test_server: cannot start the server: %s\n", err.msg);
        return 1;
    }
    CHECK(server_port(srv) > 0);
    server_route(srv, "/", route_404, NULL);
    server_route(srv, "/hello", route_hello, &calls);
    server_route(srv, "/err", route_err, NULL);
    server_route_flags(srv, "/drain", route_drain, NULL, SERVER_DRAIN_LARGE);
    test_routes(server_port(srv), &calls);
    server_stop(srv);
    test_face();
    test_loopback();

    /* a port in use is an error that names the address */
    {
        struct server *a = NULL, *b = NULL;
        char listen[32];
        if (!server_start(&a, "127.0.0.1:0", &err)) {
            snprintf(listen, sizeof(listen), "127.0.0.1:%d", server_port(a));
            CHECK(server_start(&b, listen, &err) != 0);
            CHECK(b == NULL);
            CHECK(strstr(err.msg, listen) != NULL);
            server_stop(a);
        } else {
            CHECK(0);
        }
    }
    return check_done("test_server");
}
