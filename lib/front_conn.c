/* front_conn.c - one client connection's life at the front: head, body, civetweb, answer */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clock.h"
#include "front_conn.h"
#include "front_parse.h"
#include "log.h"
#include "server.h"

/* Registers (or changes) fd's interest, keyed by the conn's slot and generation. */
static void watch(struct front *f, struct conn *c, int i, int up, uint32_t want)
{
    uint32_t *have = up ? &c->ev_up : &c->ev_fd;
    struct epoll_event ev = {.events = want};

    if (*have == want)
        return;
    ev.data.u64 = (uint64_t)c->gen << 32 | (uint64_t)i << 1 | (uint64_t)up;
    if (epoll_ctl(f->ep, EPOLL_CTL_MOD, up ? c->up : c->fd, &ev))
        log_warn("front", "epoll_ctl failed", "errno=%d", errno);
    *have = want;
}

static int add_fd(struct front *f, struct conn *c, int i, int up)
{
    struct epoll_event ev = {.events = 0};

    ev.data.u64 = (uint64_t)c->gen << 32 | (uint64_t)i << 1 | (uint64_t)up;
    *(up ? &c->ev_up : &c->ev_fd) = 0;
    return epoll_ctl(f->ep, EPOLL_CTL_ADD, up ? c->up : c->fd, &ev);
}

static void close_up(struct conn *c)
{
    if (c->up >= 0)
        close(c->up); /* closing removes it from the epoll set */
    c->up = -1;
    c->ev_up = 0;
    c->up_hup = 0;
}

void conn_free(struct front *f, int i)
{
    struct conn *c = f->slot[i];

    close_up(c);
    close(c->fd);
    f->buffered -= c->reserved;
    buf_release(&c->in);
    buf_release(&c->req);
    free(c->ob);
    free(c);
    f->slot[i] = NULL;
    f->n--;
}

/* Our own answer; then the connection lingers (reads what the client still sends) and closes. */
static void answer(struct conn *c, int st, const char *why)
{
    close_up(c);
    if (!c->ob)
        c->ob = malloc(FRONT_OUT);
    if (!c->ob) {
        c->deadline = 0; /* closed at once */
        return;
    }
    c->ob_off = 0;
    c->ob_len = fp_error(c->ob, FRONT_OUT, st, why, c->is_head);
    log_debug("front", "refused", "status=%d reason=\"%s\"", st, why);
    c->state = C_LINGER;
    c->sent = 1;
    c->deadline = clock_deadline_ms(FRONT_LINGER_MS + 4000); /* writing it included */
}

/* Parses the head (c->in, head_len bytes) into c and builds c->req's head. 0, or the status
 * to answer. */
static int parse_head(struct front *f, struct conn *c, int *expect)
{
    struct fp_req rq;
    int st = fp_request(c->in.ptr, c->head_len, &rq, &c->req);

    if (st)
        return st;
    c->keep = rq.keep, c->is_head = rq.is_head, c->clen = rq.clen;
    *expect = rq.expect;
    if (rq.chunked)
        return rq.has_len ? 400 : 411; /* both: a smuggling attempt */
    if (c->clen > (long long)SERVER_BODY_CAP) {
        if (c->clen > SERVER_DRAIN_MAX || !f->drains || !f->drains(f->ctx, rq.path))
            return 413;
        c->state = C_DRAIN;
        c->drain = 1;
        buf_adds(&c->req, "Content-Length: 0\r\n" FRONT_DROPPED ": 1\r\n");
    } else if (rq.has_len) {
        buf_addf(&c->req, "Content-Length: %lld\r\n", c->clen);
    }
    return buf_adds(&c->req, "Connection: close\r\n\r\n") ? 503 : 0;
}

/* civetweb's answer head, once it is whole in ob: how the client's connection goes on. */
static void answer_head(struct conn *c)
{
    int r = fp_answer(c->ob, &c->ob_len, FRONT_OUT, c->keep, c->is_head, &c->resp_left);

    if (!r)
        return;
    c->resp_head = 1;
    c->resp_keep = c->keep = r == 1;
}

/* A whole request: to civetweb. */
static void to_upstream(struct front *f, struct conn *c, int i)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->upstream)};
    int one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!c->drain && c->clen && buf_add(&c->req, c->in.ptr + c->head_len, (size_t)c->clen)) {
        answer(c, 503, "out of memory");
        return;
    }
    c->ob = c->ob ? c->ob : malloc(FRONT_OUT);
    c->up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (!c->ob || c->up < 0) {
        answer(c, 503, "out of resources");
        return;
    }
    setsockopt(c->up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if ((connect(c->up, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) ||
        add_fd(f, c, i, 1)) {
        answer(c, 502, "the server is not answering");
        return;
    }
    c->state = C_UP;
    c->req_off = c->ob_len = c->ob_off = 0;
    c->resp_head = c->resp_keep = c->sent = 0;
    c->deadline = clock_deadline_ms(FRONT_ANSWER_MS);
}

/* What is in c->in now moves the request on: a whole head parsed, a whole body sent on. */
static void take_input(struct front *f, struct conn *c, int i)
{
    if (c->state == C_HEAD && !c->head_len) {
        size_t skip = strspn(buf_str(&c->in), "\r\n"), end;
        int expect = 0, st;
        if (skip)
            buf_consume(&c->in, skip);
        end = fp_head_end(buf_str(&c->in), c->in.len);
        if (!end && c->in.len <= SERVER_HEADER_CAP)
            return;
        if (!end || end > SERVER_HEADER_CAP) {
            answer(c, 431, "request headers too large");
            return;
        }
        c->head_len = end;
        if ((st = parse_head(f, c, &expect))) {
            answer(c, st,
                   st == 413   ? "body too large"
                   : st == 411 ? "chunked request bodies are not accepted: send Content-Length"
                   : st == 503 ? "out of memory"
                               : "bad request");
            return;
        }
        if (c->state != C_DRAIN && c->clen) {
            if (f->buffered + (size_t)c->clen > FRONT_BUFFERED) {
                answer(c, 503, "too many request bodies in flight");
                return;
            }
            f->buffered += c->reserved = (size_t)c->clen;
            c->state = C_BODY;
        }
        if (c->drain) { /* the body bytes read with the head are the first dropped */
            c->dropped = (long long)(c->in.len - end);
            c->in.len = end;
            c->in.ptr[end] = '\0';
        }
        if (c->state != C_HEAD)
            c->deadline = clock_deadline_ms(c->state == C_DRAIN ? SERVER_DRAIN_MS : SERVER_BODY_MS);
        if (expect && c->clen && c->state != C_HEAD && c->dropped < c->clen) {
            c->ob = c->ob ? c->ob : malloc(FRONT_OUT);
            if (c->ob) /* curl sends Expect: 100-continue for bodies over 1 KiB */
                c->ob_off = 0,
                c->ob_len = (size_t)snprintf(c->ob, FRONT_OUT, "HTTP/1.1 100 Continue\r\n\r\n");
        }
    }
    if ((c->state == C_HEAD && c->head_len) ||
        (c->state == C_BODY && c->in.len >= c->head_len + (size_t)c->clen) ||
        (c->state == C_DRAIN && c->dropped >= c->clen))
        to_upstream(f, c, i);
}

/* After an answer went out whole: the next request on a kept-alive connection, or the end. */
static void next_request(struct front *f, struct conn *c, int i)
{
    size_t used = c->head_len + (c->drain ? 0 : (size_t)c->clen);

    close_up(c);
    f->buffered -= c->reserved;
    c->reserved = 0;
    if (!c->keep || !c->resp_keep || c->resp_left) {
        c->state = C_LINGER;
        c->deadline = clock_deadline_ms(FRONT_LINGER_MS);
        return;
    }
    buf_consume(&c->in, used < c->in.len ? used : c->in.len);
    if (!c->in.len)
        buf_release(&c->in);
    buf_release(&c->req);
    free(c->ob);
    c->ob = NULL;
    c->head_len = 0, c->dropped = 0, c->clen = 0, c->drain = 0, c->is_head = 0;
    c->state = C_HEAD;
    c->since = c->in.len ? clock_now_ms() : -clock_now_ms(); /* < 0: idle between requests */
    c->deadline = clock_deadline_ms(c->in.len ? FRONT_HEAD_MS : FRONT_IDLE_MS);
    take_input(f, c, i);
}

/* Reads what the client sent, as far as this phase wants it. 0, or -1 when c was freed. */
static int read_client(struct front *f, struct conn *c, int i)
{
    char chunk[16384];

    while (c->state != C_UP) {
        size_t want = sizeof(chunk), left;
        ssize_t n;
        if (c->state == C_HEAD) /* a head over the cap is known with one byte past it */
            left = SERVER_HEADER_CAP + 1 -
                   (c->in.len < SERVER_HEADER_CAP ? c->in.len : SERVER_HEADER_CAP);
        else if (c->state == C_BODY)
            left = c->head_len + (size_t)c->clen - c->in.len;
        else if (c->state == C_DRAIN)
            left = (size_t)(c->clen - c->dropped);
        else
            left = sizeof(chunk);
        want = left < want ? left : want;
        if (!want)
            return 0;
        n = recv(c->fd, chunk, want, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) { /* gone: nothing more can be answered */
            conn_free(f, i);
            return -1;
        }
        if (c->state == C_LINGER)
            continue;
        if (c->state == C_HEAD && !c->in.len && c->since < 0) /* kept alive: a new request */
            c->since = -c->since, c->deadline = clock_deadline_ms(FRONT_HEAD_MS);
        if (c->state == C_DRAIN)
            c->dropped += n;
        else if (buf_add(&c->in, chunk, (size_t)n))
            answer(c, 503, "out of memory");
        if (c->state != C_LINGER)
            take_input(f, c, i);
    }
    return 0;
}

/* civetweb's side: the request written, its answer read into ob while there is room. */
static void upstream_io(struct conn *c)
{
    while (c->up >= 0 && c->req_off < c->req.len) {
        ssize_t n = send(c->up, c->req.ptr + c->req_off, c->req.len - c->req_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            answer(c, 502, "the server is not answering");
            return;
        }
        c->req_off += (size_t)n;
    }
    while (c->up >= 0 && c->ob_len < FRONT_OUT) {
        ssize_t n = recv(c->up, c->ob + c->ob_len, FRONT_OUT - c->ob_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n > 0) {
            c->ob_len += (size_t)n;
            if (!c->resp_head)
                answer_head(c);
            else if (c->resp_left >= 0 && (c->resp_left -= n) < 0)
                c->keep = 0; /* more than it said: this connection ends with it */
            continue;
        }
        close_up(c); /* its end (we asked for Connection: close) */
        if (!c->resp_head && !c->ob_len)
            answer(c, 502, "the server closed without answering");
        else if (!c->resp_head)
            c->resp_head = 1, c->keep = 0;
    }
}

/* Writes what ob holds for the client. 0, or -1 when c was freed. */
static int write_client(struct front *f, struct conn *c, int i)
{
    while (c->ob_off < c->ob_len && (c->state != C_UP || c->resp_head)) {
        ssize_t n = send(c->fd, c->ob + c->ob_off, c->ob_len - c->ob_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) {
            conn_free(f, i);
            return -1;
        }
        c->ob_off += (size_t)n;
        c->sent |= c->state == C_UP;
    }
    if (c->ob_off == c->ob_len)
        c->ob_off = c->ob_len = 0;
    return 0;
}

void conn_progress(struct front *f, int i)
{
    struct conn *c = f->slot[i];
    uint32_t ev = 0;

    for (int round = 0; round < 8; round++) {
        int state = c->state;
        size_t ob = c->ob_len + c->ob_off, rq = c->req_off;
        if (read_client(f, c, i) || write_client(f, c, i))
            return;
        if (c->state == C_UP)
            upstream_io(c);
        if (write_client(f, c, i))
            return;
        if (c->state == C_UP && c->resp_head && !c->ob_len &&
            (c->up < 0 || (c->resp_keep && !c->resp_left)))
            next_request(f, c, i);
        if (c->state == C_LINGER && !c->ob_len && !c->shut) {
            shutdown(c->fd, SHUT_WR); /* the answer is out: the client reads it, then EOF */
            c->shut = 1;
        }
        if (!c->deadline) {
            conn_free(f, i);
            return;
        }
        if (state == c->state && ob == c->ob_len + c->ob_off && rq == c->req_off)
            break;
    }
    if (c->state != C_UP)
        ev |= EPOLLIN;
    if (c->ob_len && (c->state != C_UP || c->resp_head))
        ev |= EPOLLOUT;
    watch(f, c, i, 0, ev);
    if (c->up >= 0 && !c->up_hup)
        watch(f, c, i, 1, c->req_off < c->req.len ? EPOLLOUT : c->ob_len < FRONT_OUT ? EPOLLIN : 0);
}

void conn_expire(struct front *f, int i)
{
    struct conn *c = f->slot[i];

    if (c->state == C_LINGER || (c->state == C_HEAD && !c->in.len) ||
        (c->state == C_UP && c->sent)) {
        conn_free(f, i);
        return;
    }
    if (c->state == C_UP)
        answer(c, 504, "the server did not answer in time");
    else
        answer(c, 408,
               c->state == C_HEAD ? "the request came too slowly"
                                  : "the request body came too slowly");
    conn_progress(f, i);
}

void conn_up_hup(struct front *f, int i)
{
    struct conn *c = f->slot[i];
    struct pollfd p = {.fd = c->up};

    /* (the event may be an earlier socket's of this connection: this one is asked) */
    if (c->up >= 0 && !c->up_hup && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) &&
        !epoll_ctl(f->ep, EPOLL_CTL_DEL, c->up, NULL))
        c->up_hup = 1; /* what it sent is read in turn as the client's writes make room */
    conn_progress(f, i);
}

int conn_add(struct front *f, int i)
{
    return add_fd(f, f->slot[i], i, 0);
}
