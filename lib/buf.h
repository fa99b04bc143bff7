/* buf.h - growable byte buffer with a cap (curl's dynbuf idea) for text built from network input.
 *
 * Invariants: ptr is NULL or NUL-terminated; len excludes the NUL; len < cap (cap 0 = unlimited).
 * The buffer owns ptr; buf_release() frees it and leaves an empty buffer with the same cap.
 * Adding past the cap fails with -MDO_ENOMEM and leaves the contents as they were.
 */
#ifndef MDO_BUF_H
#define MDO_BUF_H

#include <stddef.h>

struct buf {
    char *ptr;
    size_t len;
    size_t alloc;
    size_t cap;
};

#define BUF_INIT(c)                                                                                \
    {                                                                                              \
        NULL, 0, 0, (c)                                                                            \
    }

int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds s with JSON string escaping (no quotes added): '"', '\\' and control bytes (DEL too).
 * Kept for the logger (lib/log.c): JSON documents are built with cJSON. */
int buf_add_json_escaped(struct buf *b, const char *s);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
void buf_release(struct buf *b);
/* Returns ptr (caller frees; "" strdup'ed when empty) and leaves the buffer empty. NULL on ENOMEM.
 */
char *buf_detach(struct buf *b);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Returns "" when empty, never NULL. */
const char *buf_str(const struct buf *b);

#endif
