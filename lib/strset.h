/* strset.h - a set of strings: a sorted array, looked up by binary search.
 *
 * Replaces sets encoded as "a\nb\n" text searched with strstr (quadratic, and wrong for names
 * holding the separator). The set owns copies of its strings; strset_release() frees them and
 * leaves an empty set. Not thread-safe: its owner locks if it shares it.
 */
#ifndef MDO_STRSET_H
#define MDO_STRSET_H

#include <stddef.h>

struct strset {
    char **v; /* sorted by strcmp, no duplicates */
    size_t n, alloc;
};

#define STRSET_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Adds a copy of s (nothing when present). 0, or -MDO_ENOMEM. */
int strset_add(struct strset *s, const char *str);
/* Removes str; 1 when it was there. */
int strset_del(struct strset *s, const char *str);
int strset_has(const struct strset *s, const char *str);
/* 1 when every member of sub is in s (an empty sub is in every set). */
int strset_contains_all(const struct strset *s, const struct strset *sub);
/* Moves b's members into a (a's old members freed): a becomes b, b empty. */
void strset_swap(struct strset *a, struct strset *b);
/* Deep copy of src into dst (dst released first). 0, or -MDO_ENOMEM (dst empty). */
int strset_copy(struct strset *dst, const struct strset *src);
void strset_clear(struct strset *s); /* empty, keeps nothing */
void strset_release(struct strset *s);

#endif
