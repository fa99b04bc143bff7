/* test_front.c - lib/front.c through a real server_start on loopback: whole requests, keep-alive,
 * 100-continue, a trickled head cut at its deadline, the caps (431, 413, 411), shedding at the
 * connection cap, the bodies' memory budget (503), civetweb gone or closing unanswered (502),
 * a stop with connections open */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "check.h"
#include "fixture.h"
#include "clock.h"
#include "front.h"
#include "server.h"

/* Echoes the method, the body's length and whether it was dropped; ?big answers 200 KiB. */
static void route_echo(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    int *calls = ctx;

    (*calls)++;
    resp->content_type = "text/plain";
    if (req->query && !strcmp(req->query, "big")) {
        for (int i = 0; i < 200 * 1024; i++)
            buf_addc(&resp->body, (char)('a' + i % 26));
        return;
    }
    buf_addf(&resp->body, "%s len=%zu too_large=%d", req->method, req->body_len, req->too_large);
}

static int dial(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    struct timeval tv = {8, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

static int say(int fd, const char *s)
{
    size_t n = strlen(s);

    return write(fd, s, n) == (ssize_t)n ? 0 : -1;
}

/* One answer from fd (framed by its Content-Length; none for a HEAD): the status (+1000 when
 * it says Connection: close), its body in b. 0: none. */
static int answer_to(int fd, struct buf *b, int head)
{
    char c, *end, *cl;
    long len = 0;
    int st;

    buf_reset(b);
    while (!(b->len >= 4 && !strcmp(b->ptr + b->len - 4, "\r\n\r\n")))
        if (read(fd, &c, 1) != 1 || buf_addc(b, c))
            return 0;
    st = strncmp(b->ptr, "HTTP/1.1 ", 9) ? 0 : (int)strtol(b->ptr + 9, NULL, 10);
    cl = strstr(b->ptr, "Content-Length: ");
    if (cl)
        len = strtol(cl + 16, &end, 10);
    if (strstr(b->ptr, "\r\nConnection: close\r\n"))
        st += 1000; /* the caller learns the connection is ending */
    buf_reset(b);
    while (!head && len-- > 0)
        if (read(fd, &c, 1) != 1 || buf_addc(b, c))
            return 0;
    return st;
}

static int answer(int fd, struct buf *b)
{
    return answer_to(fd, b, 0);
}

/* req on a connection of its own: its answer's status as answer() gives it (body in b), -1 when
 * req could not be sent. */
static int exchange(int port, const char *req, struct buf *b)
{
    int fd = dial(port), st = fd >= 0 && !say(fd, req) ? answer(fd, b) : -1;

    if (fd >= 0)
        close(fd);
    return st;
}

/* 1 when the peer closed fd within ms (what it sent before is read and dropped), else 0. */
static int closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t deadline = clock_deadline_ms(ms);
    char c[4096];

    do {
        if (poll(&p, 1, (int)clock_left_ms(deadline)) <= 0)
            return 0;
        if (recv(fd, c, sizeof(c), MSG_DONTWAIT) <= 0)
            return 1;
    } while (clock_left_ms(deadline) > 0);
    return 0;
}

static void test_requests(int port, int *calls)
{
    struct buf b = BUF_INIT(0);
    int fd = dial(port);

    /* one kept-alive connection: GET, POST, then both pipelined in one write */
    CHECK(!say(fd, "GET /e HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "GET len=0 too_large=0");
    CHECK(!say(fd, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "POST len=3 too_large=0");
    CHECK(!say(fd, "GET /e HTTP/1.1\r\nHost: x\r\n\r\nPOST /e HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 2\r\n\r\nhi"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "POST len=2 too_large=0");
    /* an answer larger than the front's buffer, then the connection still serves */
    CHECK(!say(fd, "GET /e?big HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_INT((int)b.len, 200 * 1024);
    CHECK(b.len == 200 * 1024 && b.ptr[b.len - 1] == (char)('a' + (200 * 1024 - 1) % 26));
    /* HEAD: headers, no body, and the connection goes on */
    CHECK(!say(fd, "HEAD /e HTTP/1.1\r\nHost: x\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_INT(answer_to(fd, &b, 1), 200);
    CHECK_STR(buf_str(&b), "");
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "GET len=0 too_large=0");
    CHECK_INT(*calls, 7);
    /* Connection: close is answered and closed */
    CHECK(!say(fd, "GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    CHECK_INT(answer(fd, &b), 1200);
    CHECK(closed_within(fd, 2000));
    close(fd);

    /* HTTP/1.0: answered, then closed */
    fd = dial(port);
    CHECK(!say(fd, "GET /e HTTP/1.0\r\n\r\n"));
    CHECK(closed_within(fd, 2000)); /* (its answer is read by closed_within's recv) */
    close(fd);

    /* Expect: 100-continue: "100 Continue" first, then the body is sent and answered */
    fd = dial(port);
    CHECK(!say(fd, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   "Content-Length: 4\r\n\r\n"));
    CHECK_INT(answer(fd, &b), 100);
    CHECK(!say(fd, "wxyz"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "POST len=4 too_large=0");
    /* a client cannot say its body was dropped: only the front sets that header */
    CHECK(!say(fd, "POST /e HTTP/1.1\r\nHost: x\r\n" FRONT_DROPPED ": 1\r\n"
                   "Content-Length: 1\r\n\r\nq"));
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "POST len=1 too_large=0");
    close(fd);
    buf_release(&b);
}

static void test_refusals(int port, int *calls)
{
    static const struct {
        const char *req;
        int st; /* as answer() gives it: all are closed */
    } refused[] = {
        /* chunked bodies: 411; with a Content-Length too: 400 (smuggling) */
        {"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", 1411},
        {"POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 1400},
        {"POST /e HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1400},
        /* blanks before a colon (a Content-Length the front would not see, civetweb would) */
        {"POST /e HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 1400},
        {"POST /e HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n", 1400},
        /* not HTTP */
        {"\x16\x03\x01\x02\x01\r\n\r\n", 1400},
    };
    struct buf b = BUF_INIT(0), big = BUF_INIT(0);
    int fd, before = *calls;
    char head[160];

    /* a head over SERVER_HEADER_CAP: 431 */
    buf_adds(&big, "GET /e HTTP/1.1\r\nX-Big: ");
    while (big.len < SERVER_HEADER_CAP + 100)
        buf_addc(&big, 'a');
    buf_adds(&big, "\r\n\r\n");
    CHECK_INT(exchange(port, big.ptr, &b), 1431);
    CHECK_STR(buf_str(&b), "{\"error\":\"request headers too large\"}\n");
    /* a body over SERVER_BODY_CAP: 413 at once, without waiting for it (nor a 100) */
    snprintf(head, sizeof(head),
             "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %u\r\n\r\n",
             SERVER_BODY_CAP + 1);
    CHECK_INT(exchange(port, head, &b), 1413);
    CHECK_STR(buf_str(&b), "{\"error\":\"body too large\"}\n");
    /* ... unless the route drains: read and dropped, the handler told (100-continue first) */
    snprintf(head, sizeof(head),
             "POST /d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %u\r\n\r\n",
             SERVER_BODY_CAP + 1);
    fd = dial(port);
    CHECK(!say(fd, head));
    CHECK_INT(answer(fd, &b), 100);
    buf_reset(&big);
    while (big.len < SERVER_BODY_CAP + 1)
        buf_addc(&big, 'z');
    CHECK(write(fd, big.ptr, big.len) == (ssize_t)big.len);
    CHECK_INT(answer(fd, &b), 200);
    CHECK_STR(buf_str(&b), "POST len=0 too_large=1");
    close(fd);
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
        CHECK_INT(exchange(port, refused[i].req, &b), refused[i].st);
    CHECK_INT(*calls, before + 1); /* only the drained one reached a handler */
    buf_release(&b);
    buf_release(&big);
}

/* A head trickled a byte each 100 ms is cut at FRONT_HEAD_MS (408, closed) while a whole request
 * on another connection is answered meanwhile. */
static void test_trickle(int port)
{
    const char *req = "GET /e HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct buf b = BUF_INIT(0);
    int fd = dial(port), other, st = 0, answered_meanwhile = 0;
    int64_t t0 = clock_now_ms(), ms;

    for (int i = 0; clock_now_ms() - t0 < FRONT_HEAD_MS + 2000; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            st = answer(fd, &b);
            break;
        }
        if (send(fd, i < (int)strlen(req) ? req + i : "a", 1, MSG_NOSIGNAL) != 1)
            break;
        if (i == 20) {
            other = dial(port);
            answered_meanwhile =
                !say(other, "GET /e HTTP/1.1\r\nHost: x\r\n\r\n") && answer(other, &b) == 200;
            close(other);
        }
    }
    ms = clock_now_ms() - t0;
    printf("# figure: a trickled head was answered %d after %lld ms\n", st, (long long)ms);
    CHECK_INT(st, 1408);
    CHECK(ms >= FRONT_HEAD_MS - 200 && ms <= FRONT_HEAD_MS + 1000);
    CHECK(closed_within(fd, 3000));
    CHECK(answered_meanwhile);
    close(fd);
    buf_release(&b);
}

/* req sent on a new connection to port; everything answered until it closes, into b. */
static void ask(int port, const char *req, struct buf *b)
{
    int fd = dial(port);
    char c[4096];
    ssize_t n;

    buf_reset(b);
    if (fd >= 0 && !say(fd, req))
        while ((n = read(fd, c, sizeof(c))) > 0)
            buf_add(b, c, (size_t)n);
    if (fd >= 0)
        close(fd);
}

/* Bodies declared by heads the front holds are reserved against FRONT_BUFFERED: one more is
 * 503 until a holder goes. */
static void test_budget(int port)
{
    enum { HOLDERS = FRONT_BUFFERED / SERVER_BODY_CAP };
    struct buf b = BUF_INIT(0);
    char head[160];
    int fds[HOLDERS], st = 0, sent = 0;
    int64_t deadline;

    snprintf(head, sizeof(head), "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: %u\r\n\r\n",
             SERVER_BODY_CAP);
    for (int i = 0; i < HOLDERS; i++) {
        fds[i] = dial(port);
        sent += !say(fds[i], head);
    }
    CHECK_INT(sent, HOLDERS);
    clock_nap_ms(200, NULL);
    CHECK_INT(exchange(port, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nq", &b),
              1503);
    CHECK_STR(buf_str(&b), "{\"error\":\"too many request bodies in flight\"}\n");
    close(fds[0]); /* its reservation is given back */
    deadline = clock_deadline_ms(3000);
    while (st != 200 && clock_left_ms(deadline) > 0) {
        st = exchange(port, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nq", &b);
        if (st != 200)
            clock_nap_ms(50, NULL);
    }
    CHECK_INT(st, 200);
    CHECK_STR(buf_str(&b), "POST len=1 too_large=0");
    for (int i = 1; i < HOLDERS; i++)
        close(fds[i]);
    buf_release(&b);
}

/* A peer on the listening socket arg that reads two requests and closes each unanswered. */
static void *closes_unanswered(void *arg)
{
    int lfd = (int)(long)arg;
    char c[4096];

    for (int i = 0; i < 2; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            break;
        if (read(fd, c, sizeof(c)) < 0)
            c[0] = 0;
        close(fd);
    }
    return NULL;
}

/* civetweb's port closed, or a peer there that reads the request and closes: 502, said whole. */
static void test_upstream(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct buf b = BUF_INIT(0);
    struct front *f = NULL;
    int lfd, port, peer;
    pthread_t th;

    CHECK_INT(front_start(&f, "127.0.0.1:0", fixture_free_port(), NULL, NULL, &err), 0);
    if (f) {
        ask(front_port(f), "GET /e HTTP/1.1\r\nHost: x\r\n\r\n", &b);
        CHECK_HAS(buf_str(&b), "HTTP/1.1 502 Bad Gateway\r\n");
        CHECK_HAS(buf_str(&b), "\r\nConnection: close\r\n");
        CHECK_HAS(buf_str(&b), "{\"error\":\"the server is not answering\"}\n");
        front_stop(f);
    }

    lfd = fixture_loopback(8, &port);
    peer = !pthread_create(&th, NULL, closes_unanswered, (void *)(long)lfd);
    CHECK(peer);
    f = NULL;
    CHECK_INT(front_start(&f, "127.0.0.1:0", port, NULL, NULL, &err), 0);
    if (f) {
        ask(front_port(f), "GET /e HTTP/1.1\r\nHost: x\r\n\r\n", &b);
        CHECK_HAS(buf_str(&b), "HTTP/1.1 502 Bad Gateway\r\n");
        CHECK_HAS(buf_str(&b), "{\"error\":\"the server closed without answering\"}\n");
        /* HEAD: the same head, no body */
        ask(front_port(f), "HEAD /e HTTP/1.1\r\nHost: x\r\n\r\n", &b);
        CHECK_HAS(buf_str(&b), "HTTP/1.1 502 Bad Gateway\r\n");
        CHECK(b.len >= 4 && !strcmp(b.ptr + b.len - 4, "\r\n\r\n"));
        front_stop(f);
    }
    shutdown(lfd, SHUT_RDWR); /* wakes the peer's accept if a request did not come */
    if (peer)
        pthread_join(th, NULL);
    close(lfd);
    buf_release(&b);
}

/* At the cap, a new connection sheds the one idle longest; the others stay. */
static void test_cap(struct server *srv, int port)
{
    struct buf b = BUF_INIT(0);
    int fds[8], open_after = 0;

    server_max_conns(srv, 8);
    for (int i = 0; i < 8; i++) {
        fds[i] = dial(port);
        clock_nap_ms(20, NULL); /* each idle since a different moment */
    }
    CHECK_INT(exchange(port, "GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &b), 1200);
    CHECK(closed_within(fds[0], 1000));
    for (int i = 1; i < 8; i++)
        open_after += !closed_within(fds[i], i == 1 ? 300 : 0);
    CHECK_INT(open_after, 7);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    server_max_conns(srv, 0);
    buf_release(&b);
}

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct server *srv = NULL;
    int calls = 0, port, fds[50];
    int64_t t0;

    if (server_start(&srv, "127.0.0.1:0", &err)) {
        fprintf(stderr, "test_front: cannot start the server: %s\n", err.msg);
        return 1;
    }
    port = server_port(srv);
    server_route(srv, "/e", route_echo, &calls);
    server_route_flags(srv, "/d", route_echo, &calls, SERVER_DRAIN_LARGE);
    test_requests(port, &calls);
    test_refusals(port, &calls);
    test_cap(srv, port);
    test_budget(port);
    test_trickle(port);
    test_upstream();

    /* the stop with 50 connections open (idle, mid-head, mid-body) returns quickly */
    for (int i = 0; i < 50; i++) {
        fds[i] = dial(port);
        if (i % 3 == 1)
            say(fds[i], "GET /e HTTP/1.1\r\nHos");
        if (i % 3 == 2)
            say(fds[i], "POST /e HTTP/1.1\r\nContent-Length: 100\r\n\r\nab");
    }
    clock_nap_ms(100, NULL);
    t0 = clock_now_ms();
    server_stop(srv);
    printf("# figure: server_stop with 50 connections open: %lld ms\n",
           (long long)(clock_now_ms() - t0));
    CHECK(clock_now_ms() - t0 < 1500);
    CHECK(closed_within(fds[0], 0) && closed_within(fds[1], 0) && closed_within(fds[2], 0));
    for (int i = 0; i < 50; i++)
        close(fds[i]);

    /* the listen forms: a bare port, ADDR:PORT, [::1]:PORT, localhost; a bad one is refused */
    {
        const char *ok[] = {"0", "127.0.0.1:0", "localhost:0", "127.0.0.1:0,127.0.0.2:0"};
        for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
            int r = server_start(&srv, ok[i], &err);
            CHECK_INT(r, 0);
            if (!r) {
                CHECK(server_port(srv) > 0);
                server_stop(srv);
            }
        }
        if (!server_start(&srv, "[::1]:0", &err)) /* where IPv6 is there */
            server_stop(srv);
        CHECK(server_start(&srv, "127.0.0.1:x", &err) != 0);
        CHECK(strstr(err.msg, "cannot listen on '127.0.0.1:x'") != NULL);
    }
    return check_done("test_front");
}
