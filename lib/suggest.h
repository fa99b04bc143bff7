/* suggest.h - "did you mean": the known word closest to a misspelt one, by edit distance.
 *
 * Offer every candidate to one struct suggest; best is then the closest one at most
 * SUGGEST_MAX_EDITS edits away and closer than the candidate is long (so "ab" never suggests
 * "xy"), the first on a tie, or NULL. Nothing is copied: best points at a candidate.
 */
#ifndef MDO_SUGGEST_H
#define MDO_SUGGEST_H

#include <stddef.h>

#define SUGGEST_MAX_EDITS 2

struct suggest {
    const char *word; /* the misspelt word */
    const char *best; /* closest candidate so far, or NULL */
    size_t dist;      /* its distance (SUGGEST_MAX_EDITS + 1 while best is NULL) */
};

#define SUGGEST_INIT(w)                                                                            \
    {                                                                                              \
        (w), NULL, SUGGEST_MAX_EDITS + 1                                                           \
    }

/* Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours count one edit each. SIZE_MAX when either word is longer than 32 bytes. */
size_t suggest_distance(const char *a, const char *b);
/* Offers candidate: it becomes s->best when it is closer than what s has. */
void suggest_try(struct suggest *s, const char *candidate);

#endif
