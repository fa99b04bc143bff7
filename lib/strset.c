/* strset.c - a sorted array of owned strings with binary search */
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "strset.h"

/* Index of str, or where it would go (*found says which). */
static size_t find(const struct strset *s, const char *str, int *found)
{
    size_t lo = 0, hi = s->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid], str);
        if (!c) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int strset_add(struct strset *s, const char *str)
{
    int found;
    size_t at = find(s, str, &found);
    char *copy;

    if (found)
        return 0;
    if (s->n == s->alloc) {
        size_t na = s->alloc ? s->alloc * 2 : 8;
        char **nv = realloc(s->v, na * sizeof(*nv));
        if (!nv)
            return -MDO_ENOMEM;
        s->v = nv;
        s->alloc = na;
    }
    if (!(copy = strdup(str)))
        return -MDO_ENOMEM;
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
    s->v[at] = copy;
    s->n++;
    return 0;
}

int strset_del(struct strset *s, const char *str)
{
    int found;
    size_t at = find(s, str, &found);

    if (!found)
        return 0;
    free(s->v[at]);
    memmove(s->v + at, s->v + at + 1, (s->n - at - 1) * sizeof(*s->v));
    s->n--;
    return 1;
}

int strset_has(const struct strset *s, const char *str)
{
    int found;

    find(s, str, &found);
    return found;
}

int strset_contains_all(const struct strset *s, const struct strset *sub)
{
    for (size_t i = 0; i < sub->n; i++)
        if (!strset_has(s, sub->v[i]))
            return 0;
    return 1;
}

void strset_swap(struct strset *a, struct strset *b)
{
    strset_release(a);
    *a = *b;
    b->v = NULL;
    b->n = b->alloc = 0;
}

int strset_copy(struct strset *dst, const struct strset *src)
{
    strset_release(dst);
    if (!src->n)
        return 0;
    if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
        return -MDO_ENOMEM;
    dst->alloc = src->n;
    for (; dst->n < src->n; dst->n++)
        if (!(dst->v[dst->n] = strdup(src->v[dst->n]))) {
            strset_release(dst);
            return -MDO_ENOMEM;
        }
    return 0;
}

void strset_clear(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

void strset_release(struct strset *s)
{
    strset_clear(s);
    free(s->v);
    s->v = NULL;
    s->alloc = 0;
}
