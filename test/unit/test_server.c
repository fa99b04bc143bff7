/* test_server.c - lib/server.c on a free loopback port: framing, HEAD without a body, 404, 413,
 * draining routes */
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
