/* front.c - the front's thread: listening sockets, accept, shedding, deadlines, start and stop */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clock.h"
#include "front.h"
#include "front_conn.h"
#include "front_parse.h"
#include "log.h"
#include "server.h"

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
        if (conn_add(f, i))
            conn_free(f, i);
        else
            conn_progress(f, i);
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
            else if (evs[k].events & (EPOLLERR | EPOLLHUP))
                conn_up_hup(f, (int)i);
            else
                conn_progress(f, (int)i);
        }
        if (clock_now_ms() - scan >= 100) {
            scan = clock_now_ms();
            for (int i = 0; i < f->cap; i++)
                if (f->slot[i] && f->slot[i]->deadline <= scan)
                    conn_expire(f, i);
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
