/* front.c - one epoll thread: accepts, reads whole requests, hands them to civetweb, relays */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "front.h"
#include "front_parse.h"
#include "log.h"
#include "server.h"

#define FRONT_OUT       (64u << 10) /* an answer in transit: civetweb is read no further ahead */
#define FRONT_LINGER_MS 1000        /* after our last answer: what the client still sends */
#define NLISTEN         4

enum { C_HEAD, C_BODY, C_DRAIN, C_UP, C_LINGER };

struct conn {
    int fd, up;        /* the client's socket; civetweb's (-1: none) */
    int state;         /* C_* */
    uint32_t gen;      /* the epoll registrations' generation: stale events are told apart */
    int64_t deadline;  /* of the phase */
    int64_t since;     /* waiting for a request since (< 0: -since, idle after an answer) */
    struct buf in;     /* the client's bytes: head then body */
    size_t head_len;   /* 0 until the head is whole */
    long long clen;    /* its body's length */
    long long dropped; /* C_DRAIN: body bytes read and dropped */
    size_t reserved;   /* of the budget (FRONT_BUFFERED) */
    struct buf req;    /* for civetweb; req_off of it written */
    size_t req_off;
    char *ob; /* toward the client: ob_off..ob_len left to write */
    size_t ob_len, ob_off;
    long long resp_left; /* body bytes of civetweb's answer still to come; -1 unknown */
    unsigned keep : 1, is_head : 1, drain : 1, resp_head : 1, resp_keep : 1, sent : 1, shut : 1;
    uint32_t ev_fd, ev_up; /* the epoll interests registered */
};

struct front {
    int lfd[NLISTEN], nl, port, upstream, ep, wake;
    int max_conns, cap, n; /* max_conns: set by front_max_conns (atomic) */
    struct conn **slot;    /* cap of them; NULL: free */
    size_t buffered;
    uint32_t gen;
    front_drains_fn drains;
    void *ctx;
    pthread_t th;
};

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
}

static void conn_free(struct front *f, int i)
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
        if (!end && c->in.len > SERVER_HEADER_CAP) {
            answer(c, 431, "request headers too large");
            return;
        }
        if (!end)
            return;
        if (end > SERVER_HEADER_CAP) {
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
    if (!c->keep || !c->resp_keep || c->resp_left) {
        c->state = C_LINGER;
        c->deadline = clock_deadline_ms(FRONT_LINGER_MS);
        return;
    }
    buf_consume(&c->in, used < c->in.len ? used : c->in.len);
    if (!c->in.len)
        buf_release(&c->in);
    f->buffered -= c->reserved;
    c->reserved = 0;
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

/* Moves connection i on as far as it goes without blocking, then sets what epoll watches. */
static void progress(struct front *f, int i)
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
    if (c->up >= 0)
        watch(f, c, i, 1, c->req_off < c->req.len ? EPOLLOUT : c->ob_len < FRONT_OUT ? EPOLLIN : 0);
}

/* A deadline passed: idle connections close, slow requests get 408, civetweb's silence 504. */
static void expire(struct front *f, int i)
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
    progress(f, i);
}

/* Full: the connection waiting longest for a request is closed. 0 when none waits. */
static int shed_idlest(struct front *f)
{
    int best = -1;

    for (int i = 0; i < f->cap; i++)
        if (f->slot[i] && f->slot[i]->state == C_HEAD &&
            (best < 0 || llabs(f->slot[i]->since) < llabs(f->slot[best]->since)))
            best = i;
    if (best < 0)
        return 0;
    log_debug("front", "connections at the cap: the one idle longest is closed", "open=%d", f->n);
    conn_free(f, best);
    return 1;
}

static void accept_all(struct front *f, int lfd)
{
    for (int k = 0; k < 64; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1, i;
        int max = __atomic_load_n(&f->max_conns, __ATOMIC_RELAXED);
        struct conn *c;
        if (fd < 0)
            return;
        if (max <= 0 || max > f->cap)
            max = f->cap;
        if (f->n >= max && !shed_idlest(f)) {
            close(fd); /* every one is busy with a request: this one waits its turn elsewhere */
            continue;
        }
        for (i = 0; i < f->cap && f->slot[i]; i++)
            ;
        c = i < f->cap ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd, c->up = -1, c->state = C_HEAD;
        c->gen = ++f->gen ? f->gen : ++f->gen; /* 0 marks the listeners' events */
        c->since = clock_now_ms();
        c->deadline = clock_deadline_ms(FRONT_HEAD_MS);
        c->in = (struct buf)BUF_INIT(SERVER_HEADER_CAP + SERVER_BODY_CAP + 2);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        f->slot[i] = c;
        f->n++;
        if (add_fd(f, c, i, 0))
            conn_free(f, i);
        else
            progress(f, i);
    }
}

static void *run(void *arg)
{
    struct front *f = arg;
    struct epoll_event evs[64];
    int64_t scan = 0;

    for (;;) {
        int n = epoll_wait(f->ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            uint32_t gen = (uint32_t)(d >> 32), i = (uint32_t)d >> 1;
            if (!gen && d == NLISTEN)
                goto out;
            if (!gen) {
                accept_all(f, f->lfd[d]);
                continue;
            }
            if (i >= (uint32_t)f->cap || !f->slot[i] || f->slot[i]->gen != gen)
                continue; /* a connection closed earlier in this batch */
            if (!(d & 1) && (evs[k].events & (EPOLLERR | EPOLLHUP)))
                conn_free(f, (int)i); /* the client is gone */
            else
                progress(f, (int)i);
        }
        if (clock_now_ms() - scan >= 100) {
            scan = clock_now_ms();
            for (int i = 0; i < f->cap; i++)
                if (f->slot[i] && f->slot[i]->deadline <= scan)
                    expire(f, i);
        }
    }
out:
    for (int i = 0; i < f->cap; i++)
        if (f->slot[i])
            conn_free(f, i);
    return NULL;
}

/* A connection is a descriptor, a request in flight three (ours to civetweb and its end): the
 * soft limit is raised towards the hard one (never lowered); the cap fits what is left. */
static int conn_cap(void)
{
    struct rlimit rl;
    rlim_t want = 8192;

    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            log_warn("front", "cannot raise the descriptor limit", "soft=%llu",
                     (unsigned long long)rl.rlim_cur);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
        return FRONT_CONNS;
    return rl.rlim_cur < 256 + 3 * 64              ? 64
           : (rl.rlim_cur - 256) / 3 > FRONT_CONNS ? FRONT_CONNS
                                                   : (int)((rl.rlim_cur - 256) / 3);
}

int front_start(struct front **out, const char *listen, int upstream, front_drains_fn drains,
                void *ctx, struct mdo_err *err)
{
    struct front *f = calloc(1, sizeof(*f));
    struct sockaddr_storage a;
    socklen_t alen = sizeof(a);
    const char *p = listen;
    int ok = !!f;

    *out = NULL;
    if (!f)
        return err_set(err, MDO_ENOMEM, "out of memory");
    f->ep = f->wake = -1;
    f->upstream = upstream, f->drains = drains, f->ctx = ctx;
    f->cap = conn_cap();
    f->slot = calloc((size_t)f->cap, sizeof(*f->slot));
    ok = f->slot && p && *p;
    while (ok && *p) {
        size_t len = strcspn(p, ",");
        int fd = f->nl < NLISTEN ? fp_listen(p, len) : -1;
        ok = fd >= 0;
        if (ok)
            f->lfd[f->nl++] = fd;
        p += len + (p[len] == ',');
    }
    if (ok && !getsockname(f->lfd[0], (struct sockaddr *)&a, &alen))
        f->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                                : ((struct sockaddr_in *)&a)->sin_port);
    ok = ok && (f->ep = epoll_create1(EPOLL_CLOEXEC)) >= 0 &&
         (f->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0;
    for (int k = 0; ok && k <= f->nl; k++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = k < f->nl ? (uint64_t)k : NLISTEN};
        ok = !epoll_ctl(f->ep, EPOLL_CTL_ADD, k < f->nl ? f->lfd[k] : f->wake, &ev);
    }
    if (ok && !pthread_create(&f->th, NULL, run, f)) {
        *out = f;
        return 0;
    }
    for (int k = 0; k < f->nl; k++)
        close(f->lfd[k]);
    if (f->ep >= 0)
        close(f->ep);
    if (f->wake >= 0)
        close(f->wake);
    free(f->slot);
    free(f);
    return err_set(err, MDO_EFAIL, "cannot listen on '%s'", listen ? listen : "");
}

int front_port(const struct front *f)
{
    return f->port;
}

void front_max_conns(struct front *f, int max_conns)
{
    __atomic_store_n(&f->max_conns, max_conns, __ATOMIC_RELAXED);
}

void front_stop(struct front *f)
{
    uint64_t one = 1;

    if (!f)
        return;
    if (write(f->wake, &one, sizeof(one)) != sizeof(one))
        log_warn("front", "cannot wake the front's thread", "errno=%d", errno);
    pthread_join(f->th, NULL);
    for (int k = 0; k < f->nl; k++)
        close(f->lfd[k]);
    close(f->ep);
    close(f->wake);
    free(f->slot);
    free(f);
}
