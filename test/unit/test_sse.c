/* test_sse.c - the SSE parser on Marathon's wire format and on hostile input: every split point,
 * CRLF/LF/CR mixes, heartbeats, comments, multi-line data, frames over the cap, NUL and random
 * bytes */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "sse.h"

/* Events are collected as "type|data\n" lines (data's '\n' shown as '\\n', NUL as '\\0'). */
struct got {
    struct buf out;
    int stop_after; /* stop the parser after this many events (0 = never) */
    int n;
};

static int collect(void *ctx, const char *type, const char *data, size_t len)
{
    struct got *g = ctx;

    buf_adds(&g->out, type);
    buf_addc(&g->out, '|');
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n')
            buf_adds(&g->out, "\\n");
        else if (data[i] == '\0')
            buf_adds(&g->out, "\\0");
        else
            buf_addc(&g->out, data[i]);
    }
    buf_addc(&g->out, '\n');
    g->n++;
    return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

/* Parses in (len n) fed in chunks of at most `chunk` bytes (0: at once); returns what came out. */
static char *parse(const char *in, size_t n, size_t chunk, size_t cap, unsigned long *dropped)
{
    struct got g = {BUF_INIT(0), 0, 0};
    struct sse p;

    sse_init(&p, cap, collect, &g);
    if (!chunk)
        chunk = n ? n : 1;
    for (size_t i = 0; i < n; i += chunk)
        sse_feed(&p, in + i, n - i < chunk ? n - i : chunk);
    if (dropped)
        *dropped = p.dropped;
    sse_release(&p);
    return buf_detach(&g.out);
}

/* Every split into two reads, and byte by byte, gives the same events as one read. */
static void check_splits(const char *in, size_t n, const char *want)
{
    char *got = parse(in, n, 0, 0, NULL);
    int bad = 0;

    CHECK_STR(got, want);
    free(got);
    for (size_t cut = 0; cut <= n && !bad; cut++) {
        struct got g = {BUF_INIT(0), 0, 0};
        struct sse p;
        sse_init(&p, 0, collect, &g);
        sse_feed(&p, in, cut);
        sse_feed(&p, in + cut, n - cut);
        if (strcmp(buf_str(&g.out), want)) {
            fprintf(stderr, "split at %zu:\n", cut);
            CHECK_STR(buf_str(&g.out), want);
            bad = 1;
        }
        buf_release(&g.out);
        sse_release(&p);
    }
    if (!bad)
        check_passed++;
    got = parse(in, n, 1, 0, NULL);
    CHECK_STR(got, want);
    free(got);
}

#define SPLITS(lit, want) check_splits(lit, sizeof(lit) - 1, want)

int main(void)
{
    unsigned long dropped = 0;
    char *got;

    /* Marathon (Jetty): CRLF, one event per frame, heartbeat = lone CRLF in two flushes */
    SPLITS("event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\"}\r\n\r\n"
           "\r\n"
           "event: status_update_event\r\ndata: {\"taskStatus\":\"TASK_RUNNING\"}\r\n\r\n",
           "event_stream_attached|{\"remoteAddress\":\"127.0.0.1\"}\n"
           "status_update_event|{\"taskStatus\":\"TASK_RUNNING\"}\n");
    /* the docs' capture: bare LF */
    SPLITS("event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", "a|1\nb|2\n");
    /* bare CR, and a mix of all three */
    SPLITS("event: a\rdata: 1\r\revent: b\r\ndata: 2\n\r\n", "a|1\nb|2\n");
    /* several heartbeats and blank lines with no event open: nothing */
    SPLITS("\r\n\r\n\n\r\r\n", "");
    /* comments, with and without text; a comment inside a frame */
    SPLITS(":\r\n: hello\r\nevent: a\r\n:mid\r\ndata: x\r\n\r\n", "a|x\n");
    /* multi-line data joined with \n; empty data lines count */
    SPLITS("data: one\ndata: two\ndata\ndata:\ndata: three\n\n",
           "message|one\\ntwo\\n\\n\\nthree\n");
    /* no space after the colon; only one space is removed */
    SPLITS("event:x\ndata:  two spaces\n\n", "x| two spaces\n");
    /* id, retry and unknown fields ignored; field names are case-sensitive */
    SPLITS("id: 5\nretry: 10\nfoo: bar\nEvent: no\nDATA: no\nevent: e\ndata: d\n\n", "e|d\n");
    /* an event: without data dispatches nothing, and does not leak into the next frame */
    SPLITS("event: lonely\n\ndata: later\n\n", "message|later\n");
    /* the last event: field wins */
    SPLITS("event: a\nevent: b\ndata: 1\n\n", "b|1\n");
    /* a frame not terminated by a blank line is not dispatched (yet) */
    SPLITS("event: a\ndata: 1\n", "");
    /* colons in the value are kept; a line with no colon is a field with an empty value */
    SPLITS("data: a:b: c\ndata\n\n", "message|a:b: c\\n\n");
    /* a BOM at the very start is skipped, elsewhere it is data */
    SPLITS("\xEF\xBB\xBF"
           "data: x\n\ndata: \xEF\xBB\xBFy\n\n",
           "message|x\nmessage|\xEF\xBB\xBFy\n");
    /* NUL bytes inside data reach the callback with the right length */
    {
        static const char in[] = "data: a\0b\n\n";
        check_splits(in, sizeof(in) - 1, "message|a\\0b\n");
    }

    /* a frame over the cap is dropped whole, the next one comes through */
    {
        struct buf in = BUF_INIT(0);
        buf_adds(&in, "event: big\r\ndata: ");
        for (int i = 0; i < 200; i++)
            buf_adds(&in, "0123456789");
        buf_adds(&in, "\r\ndata: more\r\n\r\nevent: small\r\ndata: ok\r\n\r\n");
        for (size_t chunk = 0; chunk < 20; chunk += 7) {
            got = parse(in.ptr, in.len, chunk, 100, &dropped);
            CHECK_STR(got, "small|ok\n");
            CHECK_INT(dropped, 1);
            free(got);
        }
        /* data over the cap spread over many short lines */
        buf_reset(&in);
        for (int i = 0; i < 50; i++)
            buf_adds(&in, "data: 0123456789\n");
        buf_adds(&in, "\ndata: fine\n\n");
        got = parse(in.ptr, in.len, 3, 100, &dropped);
        CHECK_STR(got, "message|fine\n");
        CHECK_INT(dropped, 1);
        free(got);
        /* exactly at the cap is fine */
        got = parse("data: 0123456789\n\n", 18, 0, 10, &dropped);
        CHECK_STR(got, "message|0123456789\n");
        CHECK_INT(dropped, 0);
        free(got);
        /* an over-long comment or unknown field also drops its frame, not the stream */
        buf_reset(&in);
        buf_adds(&in, "event: x\n:");
        for (int i = 0; i < 30; i++)
            buf_adds(&in, "comment ");
        buf_adds(&in, "\ndata: lost\n\ndata: kept\n\n");
        got = parse(in.ptr, in.len, 5, 100, &dropped);
        CHECK_STR(got, "message|kept\n");
        free(got);
        buf_release(&in);
    }

    /* the callback's nonzero stops the parser and is returned */
    {
        struct got g = {BUF_INIT(0), 1, 0};
        struct sse p;
        static const char in[] = "data: 1\n\ndata: 2\n\n";
        sse_init(&p, 0, collect, &g);
        CHECK_INT(sse_feed(&p, in, sizeof(in) - 1), 7);
        CHECK_STR(buf_str(&g.out), "message|1\n");
        sse_release(&p);
        buf_release(&g.out);
    }

    /* random bytes (and random bytes with line ends) never crash, never overrun, and the parser
     * recovers: a clean frame after a blank line still comes through */
    {
        unsigned seed = 12345;
        for (int round = 0; round < 2000; round++) {
            char in[600];
            size_t n = 0, len;
            struct got g = {BUF_INIT(0), 0, 0};
            struct sse p;
            seed = seed * 1103515245u + 12345u;
            len = (seed >> 8) % 500;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                in[n++] = round & 1 ? "data: \r\n:ev"[(seed >> 16) % 11] : (char)(seed >> 16);
            }
            sse_init(&p, 64, collect, &g);
            for (size_t i = 0; i < n;) {
                size_t c;
                seed = seed * 1103515245u + 12345u;
                c = 1 + (seed >> 16) % 40;
                if (c > n - i)
                    c = n - i;
                sse_feed(&p, in + i, c);
                i += c;
            }
            sse_feed(&p, "\n\n\n", 3); /* ends whatever the noise left open */
            buf_reset(&g.out);
            sse_feed(&p, "event: end\ndata: ok\n\n", 21);
            if (strcmp(buf_str(&g.out), "end|ok\n")) {
                fprintf(stderr, "round %d\n", round);
                CHECK_STR(buf_str(&g.out), "end|ok\n");
                round = 2000;
            }
            sse_release(&p);
            buf_release(&g.out);
        }
        check_passed++;
    }
    return check_done("test_sse");
}
