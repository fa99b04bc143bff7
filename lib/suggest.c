/* suggest.c - "did you mean" by optimal string alignment distance (see suggest.h) */
#include <stdint.h>
#include <string.h>
#include "suggest.h"

#define SUGGEST_MAX_LEN 32 // keys are short; longer words are never close to one

size_t suggest_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

void suggest_try(struct suggest *s, const char *candidate)
{
    size_t d = suggest_distance(s->word, candidate);

    if (d < s->dist && d < strlen(candidate)) {
        s->best = candidate;
        s->dist = d;
    }
}
