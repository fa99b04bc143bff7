/* buf.c - growable capped byte buffer */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "err.h"

static int buf_grow(struct buf *b, size_t extra)
{
    size_t want = b->len + extra + 1, n;
    char *p;

    if (want < b->len || (b->cap && want > b->cap))
        return -MDO_ENOMEM;
    if (want <= b->alloc)
        return 0;
    n = b->alloc ? b->alloc : 64;
    while (n < want)
        n *= 2;
    if (b->cap && n > b->cap)
        n = b->cap;
    p = realloc(b->ptr, n);
    if (!p)
        return -MDO_ENOMEM;
    b->ptr = p;
    b->alloc = n;
    return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    int ret = buf_grow(b, n);

    if (ret)
        return ret;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, ret;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -MDO_EFAIL;
    ret = buf_grow(b, (size_t)n);
    if (ret)
        return ret;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_add_json_escaped(struct buf *b, const char *s)
{
    int ret = 0;

    for (; *s && !ret; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ret = buf_add(b, e, 2);
        } else if (c == '\n') {
            ret = buf_adds(b, "\\n");
        } else if (c == '\t') {
            ret = buf_adds(b, "\\t");
        } else if (c == '\r') {
            ret = buf_adds(b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            ret = buf_addf(b, "\\u%04x", c);
        } else {
            ret = buf_addc(b, (char)c);
        }
    }
    return ret;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void buf_release(struct buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->alloc = 0;
}

char *buf_detach(struct buf *b)
{
    char *p = b->ptr;

    if (!p)
        p = strdup("");
    b->ptr = NULL;
    b->len = b->alloc = 0;
    return p;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n + 1);
    b->len -= n;
}

const char *buf_str(const struct buf *b)
{
    return b->ptr ? b->ptr : "";
}
