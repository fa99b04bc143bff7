/* front_conn.h - the front's insides, shared by its loop (front.c) and a connection's life
 * (front_conn.c): nothing else includes it. */
#ifndef MDO_FRONT_CONN_H
#define MDO_FRONT_CONN_H

#include <pthread.h>
#include <stdint.h>
#include "buf.h"
#include "front.h"

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
    unsigned up_hup : 1;   /* civetweb's socket hung up: out of epoll (it would say so forever) */
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

/* Connection i (f->slot[i]) moved on as far as it goes without blocking; what epoll watches
 * set. It may be freed meanwhile. */
void conn_progress(struct front *f, int i);
/* Its deadline passed: idle ones close, slow requests get 408, civetweb's silence 504. */
void conn_expire(struct front *f, int i);
/* Registers a new connection's socket (watching nothing yet). 0, or -1. */
int conn_add(struct front *f, int i);
void conn_free(struct front *f, int i);
/* civetweb's socket of connection i hung up or failed: read out as the client takes it. */
void conn_up_hup(struct front *f, int i);

#endif
