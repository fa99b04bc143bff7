/* front.h - the public HTTP listener in front of civetweb (lib/server.c is its one user).
 *
 * One thread with epoll owns the listening sockets and every client connection. It reads each
 * request whole (head, then its Content-Length body) against whole-request deadlines, and only
 * then connects to civetweb on loopback, writes the request there (with "Connection: close")
 * and relays the answer back. An idle or slow client costs a socket and a small struct, never
 * a thread: civetweb's workers only ever see complete requests.
 *
 * What the front answers itself (JSON {"error":...}, then it closes): a head that is not
 * HTTP/1.x 400; a head over SERVER_HEADER_CAP 431; a body over SERVER_BODY_CAP 413 (unless
 * drains() says the path drains: then up to SERVER_DRAIN_MAX bytes are read and dropped and
 * civetweb gets the head with "Content-Length: 0" and FRONT_DROPPED); a chunked body 411; a
 * head not whole within FRONT_HEAD_MS, a body not within SERVER_BODY_MS (SERVER_DRAIN_MS for a
 * drain) 408; over the memory budget 503; civetweb not answering 502/504. Keep-alive clients
 * are kept (FRONT_IDLE_MS between requests) when the answer has a Content-Length. With
 * max_conns connections open, a new one sheds the one idle longest.
 */
#ifndef MDO_FRONT_H
#define MDO_FRONT_H

#include "err.h"

#define FRONT_HEAD_MS   5000  /* a request head, from accept (or its first byte when kept alive) */
#define FRONT_IDLE_MS   3000  /* a kept-alive connection waiting for its next request */
#define FRONT_ANSWER_MS 60000 /* civetweb's answer, relayed whole */
#define FRONT_CONNS     2000  /* client connections open at once (lowered to fit RLIMIT_NOFILE) */
#define FRONT_BUFFERED  (64u << 20) /* request bodies held at once, all connections together */
#define FRONT_DROPPED   "X-Mdo-Front-Dropped" /* set (only) by the front: the body was dropped */

struct front;

/* drains(ctx, path): 1 when a body over SERVER_BODY_CAP to path is to be drained, not 413;
 * called on the front's thread. */
typedef int (*front_drains_fn)(void *ctx, const char *path);

/* listen: "PORT", "ADDR:PORT", "HOST:PORT" or "[V6]:PORT", comma-separated for several;
 * upstream: civetweb's loopback port. -MDO_EFAIL when a socket cannot be bound. */
int front_start(struct front **f, const char *listen, int upstream, front_drains_fn drains,
                void *ctx, struct mdo_err *err);
int front_port(const struct front *f);                /* the first listening socket's port */
void front_max_conns(struct front *f, int max_conns); /* any time; 0: FRONT_CONNS */
/* Closes the listening sockets and every connection (requests in flight are cut off), joins
 * the thread. Takes NULL. */
void front_stop(struct front *f);

#endif
