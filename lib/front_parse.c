/* front_parse.c - the front's text: request heads in, civetweb's answer heads, its refusals */
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "front_parse.h"

size_t fp_head_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\n' &&
            (p[i + 1] == '\n' || (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')))
            return i + (p[i + 1] == '\n' ? 2 : 3);
    return 0;
}

/* Whether the header line p (len, no line end) is named name (case-insensitive); *val is
 * its value then, past the blanks. */
static int is_hdr(const char *p, size_t len, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (len <= n || p[n] != ':' || strncasecmp(p, name, n))
        return 0;
    *val = p + n + 1;
    while (*val < p + len && (**val == ' ' || **val == '\t'))
        (*val)++;
    return 1;
}

/* Whether the comma-separated value v (to end) lists token (case-insensitive). */
static int has_token(const char *v, const char *end, const char *token)
{
    size_t n = strlen(token);

    while (v < end) {
        const char *e = memchr(v, ',', (size_t)(end - v));
        const char *t = e ? e : end;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - v) == n && !strncasecmp(v, token, n))
            return 1;
        v = e ? e + 1 : end;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
    }
    return 0;
}

/* The next line of [p, end): its length without the line end; *next past it. */
static size_t next_line(const char *p, const char *end, const char **next)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));

    if (!eol)
        eol = end - 1; /* not reached: the head ends with a blank line */
    *next = eol + 1;
    return (size_t)(eol - p) - (eol > p && eol[-1] == '\r');
}

int fp_request(const char *head, size_t len, struct fp_req *rq, struct buf *fwd)
{
    const char *end = head + len, *p, *sp1, *sp2, *v;
    size_t line = next_line(head, end, &p), n;

    memset(rq, 0, sizeof(*rq));
    sp1 = memchr(head, ' ', line);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(head + line - sp1 - 1)) : NULL;
    if (!sp1 || sp1 == head || !sp2 || sp2 == sp1 + 1 || head + line - sp2 != 9 ||
        strncmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1'))
        return 400;
    for (const char *q = head; q < head + line; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            return 400; /* no control byte, no non-ASCII in the request line (server.c: 400) */
    rq->keep = sp2[8] == '1';
    rq->is_head = sp1 - head == 4 && !strncmp(head, "HEAD", 4);
    n = strcspn(sp1 + 1, "? ");
    snprintf(rq->path, sizeof(rq->path), "%.*s", (int)(n < sizeof(rq->path) ? n : 511), sp1 + 1);
    buf_reset(fwd);
    buf_add(fwd, head, line);
    buf_adds(fwd, "\r\n");
    while (p < end && (line = next_line(p, end, &v))) {
        const char *l = p, *val, *colon;
        p = v;
        colon = memchr(l, ':', line);
        if (!colon || memchr(l, ' ', (size_t)(colon - l)) || memchr(l, '\t', (size_t)(colon - l)))
            return 400; /* no colon, or blanks before it, a folded line's too (RFC 9112 5.1:
                         * "Content-Length : 5" would pass here unread and be civetweb's) */
        for (const char *q = l; q < l + line; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return 400;
        if (is_hdr(l, line, "Content-Length", &val)) {
            char *e;
            long long cl;
            if (val == l + line || *val < '0' || *val > '9') /* strtoll would skip line ends */
                return 400;
            cl = strtoll(val, &e, 10);
            while (e < l + line && (*e == ' ' || *e == '\t'))
                e++;
            if (e != l + line || (rq->has_len && cl != rq->clen))
                return 400;
            rq->clen = cl, rq->has_len = 1;
            continue;
        }
        if (is_hdr(l, line, "Connection", &val)) {
            rq->keep &= !has_token(val, l + line, "close");
            continue;
        }
        if (is_hdr(l, line, "Expect", &val)) {
            rq->expect = has_token(val, l + line, "100-continue");
            continue;
        }
        rq->chunked |= is_hdr(l, line, "Transfer-Encoding", &val);
        if (is_hdr(l, line, "Keep-Alive", &val) ||
            (line >= 12 && !strncasecmp(l, "X-Mdo-Front-", 12)))
            continue; /* for us, or only we may set it (compared within the line: the head is
                       * not NUL-terminated; libFuzzer's strncasecmp hook read 12 bytes past it) */
        buf_add(fwd, l, line);
        buf_adds(fwd, "\r\n");
    }
    return 0;
}

/* The start of each header line of the answer head ob[0, end) in turn: first from NULL. */
static char *each_line(char *ob, size_t end, char *prev, size_t *len, char **next)
{
    char *p = prev ? *next : (char *)memchr(ob, '\n', end) + 1;

    if (p >= ob + end)
        return NULL;
    *len = next_line(p, ob + end, (const char **)next);
    return *len ? p : NULL;
}

int fp_answer(char *ob, size_t *len, size_t cap, int keep, int is_head, long long *left)
{
    size_t end = fp_head_end(ob, *len), n;
    char *p = NULL, *next = NULL;
    const char *v;
    long st;
    int has_len = 0;

    *left = -1;
    if (!end)
        return *len < cap ? 0 : 2; /* too long to look at: as it is, then close */
    st = 0;                        /* "HTTP/1.1 200": three digits (strtol would skip line ends) */
    for (size_t i = 9; i < 12 && end > 12 && ob[i] >= '0' && ob[i] <= '9'; i++)
        st = st * 10 + (ob[i] - '0');
    while ((p = each_line(ob, end, p, &n, &next)))
        if (is_hdr(p, n, "Content-Length", &v)) {
            char *e = (char *)v;
            long long cl = *v >= '0' && *v <= '9' ? strtoll(v, &e, 10) : -1;
            has_len = e != v && (*e == '\r' || *e == '\n');
            *left = has_len ? cl : -1; /* a length that is no number: up to the close */
        }
    if (is_head || st == 204 || st == 304 || (st >= 100 && st < 200))
        *left = 0, has_len = 1;
    keep = keep && has_len && *left >= 0;
    for (p = NULL; keep && (p = each_line(ob, end, p, &n, &next));) {
        if (is_hdr(p, n, "Connection", &v)) { /* civetweb's "close": not for this client */
            size_t cut = (size_t)(next - p);
            memmove(p, next, *len - (size_t)(next - ob));
            *len -= cut, end -= cut, next = p;
        }
    }
    if (*left >= 0 && *left < (long long)(*len - end)) /* more than it said: ends with it */
        *left = 0, keep = 0;
    else if (*left > 0)
        *left -= (long long)(*len - end);
    return keep ? 1 : 2;
}

static const char *reason(int st)
{
    static const struct {
        int st;
        const char *text;
    } texts[] = {{400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {408, "Request Timeout"},
                 {411, "Length Required"},
                 {413, "Payload Too Large"},
                 {414, "URI Too Long"},
                 {416, "Range Not Satisfiable"},
                 {431, "Request Header Fields Too Large"},
                 {500, "Internal Server Error"},
                 {501, "Not Implemented"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"},
                 {505, "HTTP Version Not Supported"}};

    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++)
        if (texts[i].st == st)
            return texts[i].text;
    return st < 500 ? "Client Error" : "Server Error"; /* RFC 9110 15: the phrase is advisory */
}

size_t fp_error(char *out, size_t cap, int st, const char *why, int head)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", why);
    int len = snprintf(out, cap,
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\nCache-Control: no-store\r\n"
                       "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s",
                       st, reason(st), n, head ? "" : body);

    return len < 0 ? 0 : (size_t)len < cap ? (size_t)len : cap - 1;
}

int fp_listen(const char *p, size_t len)
{
    char spec[300], *host = NULL, *port = spec, *rb;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int fd, one = 1, v6 = 0;

    if (len >= sizeof(spec))
        return -1;
    memcpy(spec, p, len);
    spec[len] = '\0';
    if (spec[0] == '[' && (rb = strchr(spec, ']')) && rb[1] == ':')
        *rb = '\0', host = spec + 1, port = rb + 2, v6 = 1;
    else if ((rb = strrchr(spec, ':')))
        *rb = '\0', host = spec, port = rb + 1;
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strtol(port, NULL, 10) > 65535)
        return -1;
    if (host && (!*host || !strcmp(host, "*")))
        host = NULL;
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    if (getaddrinfo(host, port, &hints, &ai)) {
        hints.ai_family = AF_UNSPEC;
        if (v6 || getaddrinfo(host, port, &hints, &ai))
            return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) /* "[::]:P" is IPv6 only, as civetweb has it */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (fd >= 0 && (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 4096))) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}
