/* expand.h - ${VAR} in config strings, replaced from the environment (DESIGN §3: how secrets get
 * into the config), and the list of every value that came in that way, so it can be redacted.
 *
 * Syntax: ${NAME} ([A-Za-z_][A-Za-z0-9_]*, under 128 bytes) is replaced by the environment
 * variable NAME: unset is an error, set but empty gives "". "$$" is a literal "$"; a "$" not
 * followed by "{" or "$" is kept as is, so most passwords need no escaping.
 */
#ifndef MDO_EXPAND_H
#define MDO_EXPAND_H

#include <stddef.h>
#include "err.h"

/* What one expansion found wrong: at points at the offending "$" of s; namelen is the length of
 * the unset variable's name (at + 2), or 0 when the syntax is wrong. */
struct expand_bad {
    const char *at;
    size_t namelen;
};

/* Expands s into *out (the caller frees it). Each non-empty value taken from the environment is
 * appended to the list (*vals, *nvals) unless it is there already: the list's array and strings
 * are the list owner's, freed with expand_vals_free(); vals may be NULL (nothing recorded).
 * Returns 0, -MDO_ENOMEM, or -MDO_ECONFIG with *bad filled (and *out NULL). */
int expand_vars(const char *s, char **out, struct expand_bad *bad, char ***vals, unsigned *nvals);
/* Wipes each value (explicit_bzero: they are likely secrets), frees them and the array. */
void expand_vals_free(char **vals, unsigned n);

#endif
