/* fuzz_sse.c - lib/sse.c on any bytes, cut into reads of every size: each event's data is
 * NUL-terminated and within the cap, and the same bytes cut differently give the same events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "sse.h"

struct seen {
    unsigned long n;
    unsigned long long sum; /* a digest of types and data, in order */
    size_t cap;
};

static int on_event(void *ctx, const char *type, const char *data, size_t len)
{
    struct seen *s = ctx;

    if (!type || !data || data[len] != '\0' || len > s->cap || strlen(type) > s->cap)
        abort();
    s->n++;
    for (const char *p = type; *p; p++)
        s->sum = s->sum * 31 + (unsigned char)*p;
    for (size_t i = 0; i < len; i++)
        s->sum = s->sum * 131 + (unsigned char)data[i];
    return 0;
}

static void run(const uint8_t *data, size_t size, size_t cap, unsigned step, struct seen *s)
{
    struct sse p;
    size_t off = 0, n;
    unsigned k = 1;

    memset(s, 0, sizeof(*s));
    s->cap = cap;
    sse_init(&p, cap, on_event, s);
    while (off < size) {
        n = step ? (k++ * step) % 7 + 1 : size - off; /* reads of 1..7 bytes, or all at once */
        if (n > size - off)
            n = size - off;
        sse_feed(&p, (const char *)data + off, n);
        off += n;
    }
    if (p.events != s->n)
        abort();
    sse_release(&p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen whole, cut;
    size_t cap = size && (data[0] & 1) ? 16 : 1u << 20;

    run(data, size, cap, 0, &whole);
    run(data, size, cap, size ? data[size - 1] | 1u : 1u, &cut);
    if (whole.n != cut.n || whole.sum != cut.sum) {
        fprintf(stderr, "fuzz_sse: %lu events whole, %lu cut\n", whole.n, cut.n);
        abort();
    }
    return 0;
}
