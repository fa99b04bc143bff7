/* check.h - the unit tests' few assertions: print got/expected on failure, count, exit 1 if any
 * failed */
#ifndef MDO_CHECK_H
#define MDO_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed, check_passed, check_skipped;

/* A check that cannot run here (no etcd binary, ...): says so and is counted as skipped. */
#define CHECK_SKIP(why)                                                                            \
    do {                                                                                           \
        check_skipped++;                                                                           \
        printf("skipped: %s:%d: %s\n", __FILE__, __LINE__, (why));                                 \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);                     \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if ((g_ && w_ && !strcmp(g_, w_)) || (!g_ && !w_)) {                                       \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s\n  got:      %s\n  expected: %s\n", __FILE__, __LINE__,     \
                    #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                 \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ == w_) {                                                                            \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s\n  got:      %lld\n  expected: %lld\n", __FILE__, __LINE__, \
                    #got, g_, w_);                                                                 \
        }                                                                                          \
    } while (0)

/* CHECK_HAS(s, part): part occurs in s; CHECK_LACKS(s, part): it does not (a secret, ...). */
#define CHECK_SUBSTR_(got, part, want)                                                             \
    do {                                                                                           \
        const char *g_ = (got), *p_ = (part);                                                      \
        if (g_ && (strstr(g_, p_) != NULL) == (want)) {                                            \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s\n  got:      %s\n  expected %s: %s\n", __FILE__, __LINE__,  \
                    #got, g_ ? g_ : "(null)", (want) ? "to hold" : "not to hold", p_);             \
        }                                                                                          \
    } while (0)
#define CHECK_HAS(got, part)   CHECK_SUBSTR_(got, part, 1)
#define CHECK_LACKS(got, part) CHECK_SUBSTR_(got, part, 0)

static inline int check_done(const char *name)
{
    if (check_skipped)
        printf("%s: %d passed, %d failed, %d skipped\n", name, check_passed, check_failed,
               check_skipped);
    else
        printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
