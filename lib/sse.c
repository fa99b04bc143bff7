/* sse.c - incremental Server-Sent Events parser (see sse.h for the rules it follows) */
#include <string.h>
#include "sse.h"

#define SSE_DEFAULT_CAP (1u << 20)

void sse_init(struct sse *p, size_t cap, sse_event_fn fn, void *ctx)
{
    if (!cap)
        cap = SSE_DEFAULT_CAP;
    memset(p, 0, sizeof(*p));
    /* a buf's cap counts the NUL too; a line also holds its field name ("data: "); data holds
     * the joining '\n's */
    p->line = (struct buf)BUF_INIT(cap + 33);
    p->type = (struct buf)BUF_INIT(cap + 1);
    p->data = (struct buf)BUF_INIT(cap + 2);
    p->fn = fn;
    p->ctx = ctx;
}

void sse_release(struct sse *p)
{
    buf_release(&p->line);
    buf_release(&p->type);
    buf_release(&p->data);
}

static void frame_reset(struct sse *p)
{
    buf_reset(&p->type);
    buf_reset(&p->data);
    p->has_data = 0;
    p->frame_over = 0;
}

static int field_is(const char *f, size_t n, const char *name)
{
    return n == strlen(name) && !memcmp(f, name, n);
}

/* One complete line (without its end) is in p->line. */
static int end_line(struct sse *p)
{
    const char *l = p->line.ptr ? p->line.ptr : "", *colon, *v;
    size_t n = p->line.len, fn, vn;
    int ret = 0;

    if (p->line_over) { /* its content is lost: the frame it belongs to cannot be trusted */
        p->line_over = 0;
        p->frame_over = 1;
        buf_reset(&p->line);
        return 0;
    }
    if (!p->started) {
        p->started = 1;
        if (n >= 3 && !memcmp(l, "\xEF\xBB\xBF", 3)) {
            l += 3;
            n -= 3;
        }
    }
    if (!n) { /* blank line: dispatch */
        if (p->frame_over)
            p->dropped++;
        else if (p->has_data) {
            if (p->data.len && p->data.ptr[p->data.len - 1] == '\n')
                p->data.ptr[--p->data.len] = '\0';
            p->events++;
            ret = p->fn(p->ctx, p->type.len ? p->type.ptr : "message",
                        p->data.ptr ? p->data.ptr : "", p->data.len);
        }
        frame_reset(p);
        buf_reset(&p->line);
        return ret;
    }
    if (l[0] == ':' || p->frame_over) { /* comment, or a frame being skipped */
        buf_reset(&p->line);
        return 0;
    }
    colon = memchr(l, ':', n);
    fn = colon ? (size_t)(colon - l) : n;
    v = colon ? colon + 1 : l + n;
    vn = colon ? n - fn - 1 : 0;
    if (vn && *v == ' ') {
        v++;
        vn--;
    }
    if (field_is(l, fn, "event")) {
        buf_reset(&p->type);
        if (buf_add(&p->type, v, vn))
            p->frame_over = 1;
    } else if (field_is(l, fn, "data")) {
        if (buf_add(&p->data, v, vn) || buf_addc(&p->data, '\n'))
            p->frame_over = 1;
        p->has_data = 1;
    } /* id, retry and unknown fields: ignored (Marathon sends no id: and cannot replay) */
    buf_reset(&p->line);
    return 0;
}

int sse_feed(struct sse *p, const char *s, size_t n)
{
    size_t i = 0;
    int ret;

    while (i < n) {
        char c = s[i];
        size_t j;

        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n') { /* the LF of a CRLF, maybe cut between two reads */
                i++;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            p->after_cr = c == '\r';
            i++;
            ret = end_line(p);
            if (ret)
                return ret;
            continue;
        }
        for (j = i; j < n && s[j] != '\r' && s[j] != '\n'; j++)
            ;
        if (!p->line_over && buf_add(&p->line, s + i, j - i)) {
            p->line_over = 1;
            buf_reset(&p->line);
        }
        i = j;
    }
    return 0;
}
