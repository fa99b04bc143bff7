/* sse.h - incremental parser of Server-Sent Events (text/event-stream), as Marathon's /v2/events
 * sends them (Jetty's EventSourceServlet: CRLF line ends, a lone CRLF as heartbeat).
 *
 * Bytes go in as they arrive, cut anywhere; complete events come out through a callback.
 * Follows the WHATWG rules that matter here: lines end in CRLF, LF or CR (a CRLF cut between two
 * reads is still one line end); "field: value" with one optional space after the colon; lines
 * starting with ':' are comments; several data: lines are joined with '\n'; an empty line
 * dispatches the event, and one with no data: line open dispatches nothing (heartbeats); id:,
 * retry: and unknown fields are ignored; a UTF-8 BOM at the very start is skipped.
 *
 * A frame whose data (or any one line) is larger than the cap given to sse_init() is dropped whole,
 * up to its blank line, and counted in `dropped`: the stream goes on with the next frame.
 * Invariant: a struct sse owns its buffers; sse_release() frees them (the struct can be reused
 * after sse_init()).
 */
#ifndef MDO_SSE_H
#define MDO_SSE_H

#include <stddef.h>
#include "buf.h"

/* One event: type is "message" when the frame had no event: field; data is NUL-terminated but
 * may hold NUL bytes itself, len is its length. Nonzero stops sse_feed() (which returns it). */
typedef int (*sse_event_fn)(void *ctx, const char *type, const char *data, size_t len);

struct sse {
    struct buf line, type, data;
    int has_data;   /* a data: line since the last dispatch */
    int after_cr;   /* the last byte was CR: an LF right after it ends nothing */
    int started;    /* past the first line (the BOM check) */
    int line_over;  /* the current line went over the cap: skipped to its end */
    int frame_over; /* the current frame went over the cap: dropped at its blank line */
    unsigned long events, dropped;
    sse_event_fn fn;
    void *ctx;
};

/* cap: most bytes one frame's data (or event type) may hold; a line may have 32 more for its
 * field name (0 = 1 MiB). */
void sse_init(struct sse *p, size_t cap, sse_event_fn fn, void *ctx);
/* Feeds n bytes; returns 0, or the callback's nonzero value (the rest of s is not parsed). */
int sse_feed(struct sse *p, const char *s, size_t n);
void sse_release(struct sse *p);

#endif
