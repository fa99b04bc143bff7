/* fuzz_front.c - the front's text (lib/front_parse.c) on any bytes: the end of a head is found
 * inside it; a head passed on keeps its request line and carries nothing only the front may
 * say (Content-Length, Connection, Expect, Keep-Alive, X-Mdo-Front-*), no header with blanks
 * before its colon and no control byte; an answer head is only ever shortened. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "buf.h"
#include "front_parse.h"
#include "fuzz.h"

static void check_forwarded(const struct buf *fwd, const char *head)
{
    const char *p = fwd->ptr, *end = fwd->ptr + fwd->len, *eol;
    static const char *const ours[] = {"content-length", "connection", "expect", "keep-alive"};
    int first = 1;

    for (; p < end; p = eol + 2) {
        size_t n, name;
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            abort(); /* every line ends with CRLF */
        n = (size_t)(eol - p);
        for (size_t i = 0; i < n; i++)
            if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
                abort();
        if (first) { /* the request line as it came */
            if (strncmp(p, head, n) || (head[n] != '\r' && head[n] != '\n'))
                abort();
            first = 0;
            continue;
        }
        name = strcspn(p, ":");
        if (name >= n || strcspn(p, " \t") < name)
            abort();
        for (size_t k = 0; k < sizeof(ours) / sizeof(*ours); k++)
            if (name == strlen(ours[k]) && !strncasecmp(p, ours[k], name))
                abort();
        if (n >= 12 && !strncasecmp(p, "x-mdo-front-", 12))
            abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t end = fp_head_end(p, size);
    struct fp_req rq;
    struct buf fwd = BUF_INIT(1u << 20);
    char *ob;
    size_t len, cap;
    long long left = 0;
    int r;

    if (end > size)
        abort();
    if (end) {
        if (p[end - 1] != '\n' || (p[end - 2] != '\n' && memcmp(p + end - 3, "\n\r\n", 3)))
            abort();
        r = fp_request(p, end, &rq, &fwd);
        if (r && r != 400)
            abort();
        if (!r) {
            check_forwarded(&fwd, p);
            if (strlen(rq.path) > 511 || rq.clen < 0 || (!rq.has_len && rq.clen))
                abort();
        }
    }
    buf_release(&fwd);
    /* the same bytes as civetweb's answer, in a buffer of their size and room for a little more */
    cap = size + (size ? data[0] % 16 : 0);
    ob = malloc(cap ? cap : 1);
    if (!ob)
        return 0;
    for (int keep = 0; keep < 2; keep++) {
        len = size;
        memcpy(ob, data, size);
        r = fp_answer(ob, &len, cap, keep, size && (data[size - 1] & 1), &left);
        if (len > size || r < 0 || r > 2 || (r && left < -1))
            abort();
    }
    free(ob);
    return 0;
}
