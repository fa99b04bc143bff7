/* front_parse.h - what the front (front.c) reads and writes as text: request heads, civetweb's
 * answer heads, its own refusals, listen addresses. No state, no I/O but fp_listen's socket. */
#ifndef MDO_FRONT_PARSE_H
#define MDO_FRONT_PARSE_H

#include <stddef.h>
#include "buf.h"

struct fp_req {
    int keep;       /* the client keeps the connection: HTTP/1.1 without "close" (1.0: never) */
    int is_head;    /* a HEAD request: its answer has no body */
    int expect;     /* Expect: 100-continue */
    int chunked;    /* a Transfer-Encoding */
    int has_len;    /* a Content-Length (clen) */
    long long clen; /* 0 without one */
    char path[512]; /* the target up to its query (cut at 511 bytes) */
};

/* Where the head in p ends (just past its blank line; CRLF or LF lines), 0 when not yet. */
size_t fp_head_end(const char *p, size_t n);
/* Parses the request head (len bytes, fp_head_end's) into rq and copies it into fwd, less
 * what is hop-by-hop (Connection, Keep-Alive, Expect), Content-Length and any X-Mdo-Front-*
 * (only the front sets those): the caller ends fwd. 0, or the status to answer (400). */
int fp_request(const char *head, size_t len, struct fp_req *rq, struct buf *fwd);
/* civetweb's answer head in ob (*len bytes so far, cap at most): 0 while it is not whole and
 * there is room for more. Else *left is its body's bytes not yet in ob (-1: up to civetweb's
 * close) and, when keep and its length is known, its Connection line is cut out (*len
 * shrinks): 1; 2 when the client's connection is to end with it. */
int fp_answer(char *ob, size_t *len, size_t cap, int keep, int is_head, long long *left);
/* A refusal, the front's or civetweb's (server.c): {"error":"why"} (no body when head), with
 * Connection: close; its length (cut to cap - 1). */
size_t fp_error(char *out, size_t cap, int status, const char *why, int head);
/* A listening, non-blocking socket for one listen address: "PORT" (every IPv4 address, as
 * civetweb had it), "ADDR:PORT", "HOST:PORT" (the first IPv4 address, else IPv6) or
 * "[V6]:PORT" (IPv6 only); -1 when it cannot be parsed or bound. */
int fp_listen(const char *spec, size_t len);

#endif
